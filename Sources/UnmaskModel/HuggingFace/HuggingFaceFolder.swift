import UnmaskSupport

/// A Hugging Face model folder, as `huggingface-cli download NAME --local-dir DIR` leaves
/// it: `config.json` naming the family (`model_type`, or `architectures`), the weights in
/// `model.safetensors` or in shards listed by `model.safetensors.index.json`, and
/// `tokenizer.json`. Each supported family maps its config onto `ModelConfig` and its
/// tensor names onto ours (`tensorMap`), so the one engine runs it; the weights are read
/// in place from the files, in the layout the family stores them.
///
/// Supported: GPT-2 (`gpt2` … `gpt2-xl`) as an evaluator (`GPT2Family`); as denoisers MDLM's
/// DiT and BD3-LM's block-diffusion DiT (`DiTFolding`), LLaDA (`LLaDAFamily`), and the
/// Qwen-bodied families (`QwenBody`): Dream (`DreamFamily`) and the block-diffusion SDAR/TraDo
/// (`SDARFamily`), Fast-dLLM v2 (`FastDLLMv2Family`) and the Qwen3 A2D checkpoints
/// (`A2DQwen3Family`). Anything else is refused with a one-line error that names the family.
///
/// Around it: `HuggingFaceConfig` (config.json, parsed once), `ShardedSafetensors` (the
/// weight files), `RenamedTensorSource` (the weights under our names).
public struct HuggingFaceFolder {
    public enum Family: String, Sendable, CaseIterable {
        case gpt2
        /// MDLM's DiT (kuleshov-group/mdlm-owt), without time conditioning.
        case mdlm
        /// BD3-LM's block diffusion (kuleshov-group/bd3lm-owt-block_size4/8/16): the same DiT,
        /// block-causal attention.
        case bd3lm
        /// Dream (Qwen2 blocks, bidirectional, shifted logits).
        case dream
        /// LLaDA (OLMo names around LLaMA blocks, bidirectional).
        case llada
        /// SDAR and TraDo (Qwen3 blocks, block-causal from position 0).
        case sdar
        /// Fast-dLLM v2 (Qwen2.5 blocks, block-causal from position 0, shifted logits).
        case fastDLLMv2 = "fast_dllm_v2"
        /// The dLLM framework's Qwen3 A2D checkpoints (Qwen3 blocks, block-causal with blocks
        /// ending at the prompt's end).
        case a2dQwen3 = "a2d-qwen3"
    }

    public let directory: String
    public let family: Family
    public let config: ModelConfig
    /// (our name, the folder's name) for every tensor the model uses, in our order.
    public let tensorMap: [(ours: String, theirs: String)]
    /// The weights under our names.
    public let source: TensorSource

    /// Opens the folder whose config.json has been read: the family's loader maps the
    /// config and the tensor names, and checks the folder's tensors against them.
    public static func open(_ config: HuggingFaceConfig) throws -> HuggingFaceFolder {
        let family = try config.family()
        let weights = try ShardedSafetensors(directory: config.directory)
        switch family {
        case .gpt2: return try GPT2Family.open(config, weights: weights)
        case .mdlm, .bd3lm: return try DiTFolding.open(config, weights: weights, family: family)
        case .dream: return try DreamFamily.open(config, weights: weights)
        case .llada: return try LLaDAFamily.openLLaDA(config, weights: weights)
        case .sdar: return try SDARFamily.open(config, weights: weights)
        case .fastDLLMv2: return try FastDLLMv2Family.open(config, weights: weights)
        case .a2dQwen3: return try A2DQwen3Family.open(config, weights: weights)
        }
    }

    /// The folder with its tensor map, after checking that the map and the folder agree:
    /// every mapped tensor is there (shapes are checked when the model reads them) and every
    /// tensor there is mapped (or known to be unused).
    static func mapped(directory: String, family: Family, config: ModelConfig,
                       map: [(ours: String, mapping: TensorMapping)], weights: ShardedSafetensors,
                       unused: Set<String>) throws -> HuggingFaceFolder {
        var used = Set<String>()
        for (_, m) in map {
            switch m {
            case .same(let name): used.insert(name)
            case .linear(let names), .concatenated(let names): used.formUnion(names)
            }
        }
        let present = Set(weights.names)
        for name in used.sorted() where !present.contains(name) {
            throw UnmaskError("\(directory): tensor \(name) is missing (a \(family.rawValue) model with this config.json needs it)")
        }
        for name in weights.names where !used.contains(name) && !unused.contains(name) {
            throw UnmaskError("\(directory): unexpected tensor \(name) for a \(family.rawValue) model with this config.json")
        }
        let source = try RenamedTensorSource(files: weights, mapping: Dictionary(uniqueKeysWithValues: map.map { ($0.ours, $0.mapping) }),
                                             directory: directory)
        return HuggingFaceFolder(directory: directory, family: family, config: config,
                                 tensorMap: map.map { ($0.ours, $0.mapping.description) }, source: source)
    }

    public static func open(directory: String) throws -> HuggingFaceFolder {
        try open(HuggingFaceConfig(directory: directory))
    }

    /// True when `directory/config.json` is a Hugging Face config (it names a
    /// `model_type` or `architectures`) rather than one of ours.
    public static func isHuggingFace(directory: String) -> Bool {
        HuggingFaceConfig(ifHuggingFace: directory) != nil
    }

    /// The mask id a denoiser folder's config.json declares (`HuggingFaceConfig.declaredMaskId`),
    /// without reading the weights. Nil for an evaluator, or an unreadable config (`open`
    /// reports it).
    public static func declaredMaskId(directory: String) -> Int? {
        (try? HuggingFaceConfig(directory: directory))?.declaredMaskId
    }

    /// The end-of-text id a folder's config.json names (`eos_token_id`, a number), or nil.
    public static func declaredEndOfTextId(directory: String) -> Int? {
        (try? HuggingFaceConfig(directory: directory))?.declaredEndOfTextId
    }
}
