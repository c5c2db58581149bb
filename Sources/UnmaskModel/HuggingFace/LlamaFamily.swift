import UnmaskSupport

/// The LLaMA-family bidirectional denoisers, LLaDA and Dream, on the one engine.
///
/// LLaDA (GSAI-ML/LLaDA-8B-Base): OLMo's code and names (`model.transformer.blocks.N.…`)
/// around LLaMA blocks — RMSNorm, rotary with the config's θ (rotate-half), attention over
/// every position, a SwiGLU MLP whose `ff_proj` is the gate and `up_proj` the linear half,
/// an untied head `ff_out`. Output i predicts token i. The mask id is the config's
/// `mask_token_id`, else LLaDA's fixed 126336 (`<|mdm_mask|>`, inside the vocabulary).
///
/// Dream (Dream-org/Dream-v0-Base-7B): Qwen2 blocks run with attention over every
/// position as a masked-diffusion denoiser, its logits shifted so that output i − 1
/// predicts token i (position 0 reads output 0). Qwen2's parts map onto the engine:
/// RMSNorm, rotary with the config's θ (rotate-half), grouped-query attention with biases
/// on q, k and v, a SwiGLU MLP, an untied head. The mask id comes from config.json
/// (`mask_token_id`), never from the position of an id in the vocabulary.
///
/// The weights are read where they lie, in their stored dtype (BF16 for the published
/// checkpoints): PyTorch's (out, in) linear weights are multiplied as they are stored, q,
/// k and v as three parts of one weight, and packed a panel at a time (`WeightStorage`).
enum LlamaFamily {
    /// LLaDA's mask id when its config names none: `<|mdm_mask|>`.
    static let lladaMaskId = 126_336

    static func openDream(_ config: HuggingFaceConfig, weights: ShardedSafetensors) throws -> HuggingFaceFolder {
        guard let mask = config.optionalInt("mask_token_id") else {
            throw config.error("a Dream config needs \"mask_token_id\"")
        }
        if config.isSet("rope_scaling") {
            throw config.error("rope_scaling is not supported")
        }
        let ropeParameters = config["rope_parameters"]
        if let kind = ropeParameters?["rope_type"]?.stringValue, kind != "default" {
            throw config.error("rope_type \(kind) is not supported")
        }
        let d = try config.int("hidden_size"), heads = try config.int("num_attention_heads"), vocab = try config.int("vocab_size")
        // The rotary tables are built for the whole context: long-context configs (Dream:
        // 131072) are capped at the engine's 65536 positions.
        let context = min(config.optionalInt("max_position_embeddings") ?? 4096, 1 << 16)
        var c = ModelConfig(vocabSize: vocab, dModel: d, nLayers: try config.int("num_hidden_layers"), nHeads: heads,
                            dFF: try config.int("intermediate_size"), contextLength: context, maskTokenId: mask)
        if let headDim = config.optionalInt("head_dim"), headDim != d / heads {
            throw config.error("head_dim \(headDim) differs from hidden_size / num_attention_heads (\(d / heads)): not supported")
        }
        bidirectionalLlama(&c, kvHeads: config.optionalInt("num_key_value_heads") ?? heads, eps: config.optionalDouble("rms_norm_eps") ?? 1e-6,
                           theta: config.optionalDouble("rope_theta") ?? ropeParameters?["rope_theta"]?.doubleValue ?? 10_000)
        c.shiftedLogits = true
        c.tiedEmbeddings = config.optionalBool("tie_word_embeddings") ?? false
        let names = Set(weights.names)
        c.qkvBias = names.contains("model.layers.0.self_attn.q_proj.bias")
        try c.validate()

        // (ours, mapping); every folder tensor must be used.
        var map: [(ours: String, mapping: TensorMapping)] = []
        map.append(("embed.weight", .same("model.embed_tokens.weight")))
        for l in 0..<c.nLayers {
            let hf = "model.layers.\(l).", ours = "layers.\(l)."
            let attn = hf + "self_attn."
            map.append((ours + "attn_norm.weight", .same(hf + "input_layernorm.weight")))
            map.append((ours + "attn.qkv.weight", .linear(["q_proj", "k_proj", "v_proj"].map { attn + $0 + ".weight" })))
            if c.qkvBias { map.append((ours + "attn.qkv.bias", .concatenated(["q_proj", "k_proj", "v_proj"].map { attn + $0 + ".bias" }))) }
            map.append((ours + "attn.out.weight", .linear([attn + "o_proj.weight"])))
            map.append((ours + "mlp_norm.weight", .same(hf + "post_attention_layernorm.weight")))
            map.append((ours + "mlp.gate.weight", .linear([hf + "mlp.gate_proj.weight"])))
            map.append((ours + "mlp.up.weight", .linear([hf + "mlp.up_proj.weight"])))
            map.append((ours + "mlp.down.weight", .linear([hf + "mlp.down_proj.weight"])))
        }
        map.append(("final_norm.weight", .same("model.norm.weight")))
        if !c.tiedEmbeddings { map.append(("head.weight", .linear(["lm_head.weight"]))) }
        return try folder(directory: config.directory, family: .dream, config: c, map: map, weights: weights,
                          unused: c.tiedEmbeddings ? ["lm_head.weight"] : [])
    }

    static func openLLaDA(_ config: HuggingFaceConfig, weights: ShardedSafetensors) throws -> HuggingFaceFolder {
        /// A setting LLaDA's code supports but this engine does not (none is used by the
        /// published checkpoints): refused by name rather than run wrong.
        func refuse(_ key: String, unless expected: JSONValue) throws {
            if let v = config[key], !v.isNull, v != expected {
                throw config.error("\(key) \(v.serialized()) is not supported (Unmask runs LLaDA with \(key) \(expected.serialized()))")
            }
        }
        try refuse("block_type", unless: .string("llama"))
        try refuse("layer_norm_type", unless: .string("rms"))
        try refuse("activation_type", unless: .string("silu"))
        try refuse("rope", unless: .bool(true))
        try refuse("alibi", unless: .bool(false))
        try refuse("include_bias", unless: .bool(false))
        try refuse("include_qkv_bias", unless: .bool(false))
        try refuse("attention_layer_norm", unless: .bool(false))
        try refuse("input_emb_norm", unless: .bool(false))
        try refuse("scale_logits", unless: .bool(false))
        try refuse("layer_norm_with_affine", unless: .bool(true))
        try refuse("multi_query_attention", unless: .bool(false))
        if config.isSet("clip_qkv") { throw config.error("clip_qkv is not supported") }
        if config.isSet("rope_scaling") { throw config.error("rope_scaling is not supported") }
        let d = try config.int("d_model"), heads = try config.int("n_heads")
        // The logits (and the embedding rows) number `embedding_size` when it is set: the
        // vocabulary padded for speed; the tokenizer may have fewer ids.
        let vocab = try config.optionalInt("embedding_size") ?? config.int("vocab_size")
        let hidden = config.optionalInt("mlp_hidden_size") ?? (config.optionalInt("mlp_ratio") ?? 4) * d
        let context = min(config.optionalInt("max_sequence_length") ?? 4096, 1 << 16)
        var c = ModelConfig(vocabSize: vocab, dModel: d, nLayers: try config.int("n_layers"), nHeads: heads, dFF: hidden,
                            contextLength: context, maskTokenId: config.optionalInt("mask_token_id") ?? lladaMaskId)
        bidirectionalLlama(&c, kvHeads: config.optionalInt("n_kv_heads") ?? heads, eps: config.optionalDouble("rms_norm_eps") ?? 1e-5,
                           theta: config.optionalDouble("rope_theta") ?? 10_000)
        c.tiedEmbeddings = config.optionalBool("weight_tying") ?? false
        do {
            try c.validate()
        } catch let e as UnmaskError {
            throw config.error(e.message)
        }
        var map: [(ours: String, mapping: TensorMapping)] = []
        let t = "model.transformer."
        map.append(("embed.weight", .same(t + "wte.weight")))
        for l in 0..<c.nLayers {
            let b = t + "blocks.\(l).", ours = "layers.\(l)."
            map.append((ours + "attn_norm.weight", .same(b + "attn_norm.weight")))
            map.append((ours + "attn.qkv.weight", .linear([b + "q_proj.weight", b + "k_proj.weight", b + "v_proj.weight"])))
            map.append((ours + "attn.out.weight", .linear([b + "attn_out.weight"])))
            map.append((ours + "mlp_norm.weight", .same(b + "ff_norm.weight")))
            map.append((ours + "mlp.gate.weight", .linear([b + "ff_proj.weight"])))
            map.append((ours + "mlp.up.weight", .linear([b + "up_proj.weight"])))
            map.append((ours + "mlp.down.weight", .linear([b + "ff_out.weight"])))
        }
        map.append(("final_norm.weight", .same(t + "ln_f.weight")))
        if !c.tiedEmbeddings { map.append(("head.weight", .linear([t + "ff_out.weight"]))) }
        return try folder(directory: config.directory, family: .llada, config: c, map: map, weights: weights, unused: [])
    }

    /// The LLaMA block both families share, run as a denoiser: RMSNorm, SwiGLU, rotary,
    /// attention over every position, a token head.
    static func bidirectionalLlama(_ c: inout ModelConfig, kvHeads: Int, eps: Double, theta: Double) {
        c.nKVHeads = kvHeads
        c.norm = .rmsnorm
        c.normEps = eps
        c.activation = .silu
        c.gatedMLP = true
        c.positions = .rotary
        c.ropeTheta = theta
        c.attention = .bidirectional
        c.head = .tokens
    }

    /// The folder with its tensor map, after checking that the map and the folder agree:
    /// every mapped tensor is there (shapes are checked when the model reads them) and every
    /// tensor there is mapped (or known to be unused).
    static func folder(directory: String, family: HuggingFaceFolder.Family, config: ModelConfig,
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
}
