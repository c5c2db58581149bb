import UnmaskSupport

/// The Qwen2 / Qwen3 decoder body, written once for the families that store it under
/// Qwen's names (`model.layers.N.self_attn.q_proj` …): Dream (Qwen2), SDAR and TraDo
/// (Qwen3), Fast-dLLM v2 (Qwen2.5) and the Qwen3 A2D checkpoints. Each family's file says
/// which body it is, which attention the engine runs it with, where its mask id comes from
/// and whether its logits are shifted; this file reads the shape and maps the tensors.
///
/// The two bodies differ in the attention projections only:
/// - Qwen2 / Qwen2.5: biases on q, k and v (none on o), no query/key norms, head size
///   hidden / heads.
/// - Qwen3: no biases (`attention_bias` false), an RMSNorm over every query and key head
///   vector (`q_norm`, `k_norm`, weights of `head_dim`) between the projection and rotary,
///   and a `head_dim` that need not be hidden / heads (SDAR-4B: 2560 wide, 32 heads of
///   128).
/// Both: RMSNorm (`rms_norm_eps`), rotate-half rotary with the config's θ, grouped-query
/// attention, a SwiGLU MLP, a head tied to the embeddings or not (`tie_word_embeddings`).
enum QwenBody {
    enum Kind: String {
        case qwen2 = "Qwen2"
        case qwen3 = "Qwen3"
    }

    /// The body's ModelConfig (bidirectional attention; the family sets its own), after
    /// refusing by name every setting the engine does not implement. `family` names the
    /// family in messages.
    static func config(_ config: HuggingFaceConfig, weights: ShardedSafetensors, kind: Kind, maskId: Int,
                       family: String) throws -> ModelConfig {
        if config.isSet("rope_scaling") { throw config.error("rope_scaling is not supported") }
        let ropeParameters = config["rope_parameters"]
        if let type = ropeParameters?["rope_type"]?.stringValue, type != "default" {
            throw config.error("rope_type \(type) is not supported")
        }
        if config.optionalBool("use_sliding_window") == true {
            throw config.error("use_sliding_window true is not supported (Unmask attends over the whole window)")
        }
        if let types = config["layer_types"]?.arrayValue, let other = types.first(where: { $0.stringValue != "full_attention" }) {
            throw config.error("layer_types \(other.serialized()) is not supported (every layer must be full_attention)")
        }
        if let act = config.optionalString("hidden_act"), act != "silu" {
            throw config.error("hidden_act \"\(act)\" is not supported (a \(kind.rawValue) body uses silu)")
        }
        if kind == .qwen3, config.optionalBool("attention_bias") == true {
            throw config.error("attention_bias true is not supported (a \(kind.rawValue) body has no attention biases)")
        }
        let d = try config.int("hidden_size"), heads = try config.int("num_attention_heads")
        // The rotary tables are built for the whole context: long-context configs (Dream:
        // 131072, Qwen3: 40960) are capped at the engine's 65536 positions.
        let context = min(config.optionalInt("max_position_embeddings") ?? 32768, 1 << 16)
        var c = ModelConfig(vocabSize: try config.int("vocab_size"), dModel: d, nLayers: try config.int("num_hidden_layers"),
                            nHeads: heads, dFF: try config.int("intermediate_size"), contextLength: context, maskTokenId: maskId)
        if let headDim = config.optionalInt("head_dim"), headDim != d / heads || d % heads != 0 { c.explicitHeadDim = headDim }
        LLaDAFamily.bidirectionalLlama(&c, kvHeads: config.optionalInt("num_key_value_heads") ?? heads,
                                       eps: config.optionalDouble("rms_norm_eps") ?? 1e-6,
                                       theta: config.optionalDouble("rope_theta") ?? ropeParameters?["rope_theta"]?.doubleValue ?? 10_000)
        c.tiedEmbeddings = config.optionalBool("tie_word_embeddings") ?? false
        c.qkvBias = kind == .qwen2
        c.qkNorm = kind == .qwen3
        // A config that names one body over the other's tensors is refused here by what
        // its tensors are, before the tensor check names a single missing one.
        let names = Set(weights.names)
        let hasNorms = names.contains("model.layers.0.self_attn.q_norm.weight")
        let hasBiases = names.contains("model.layers.0.self_attn.q_proj.bias")
        if kind == .qwen3 && !hasNorms && hasBiases || kind == .qwen2 && hasNorms && !hasBiases {
            let theirs: Kind = kind == .qwen3 ? .qwen2 : .qwen3
            throw UnmaskError("\(config.directory): the tensors are a \(theirs.rawValue) body's (\(hasNorms ? "q_norm/k_norm, no q/k/v biases" : "q/k/v biases, no q_norm/k_norm")), but a \(family) config (model_type \(config.optionalString("model_type").map { "\"\($0)\"" } ?? "unset")) is a \(kind.rawValue) body")
        }
        return c
    }

    /// Our tensor names and theirs, for a body read by `config`.
    static func tensorMap(_ c: ModelConfig) -> [(ours: String, mapping: TensorMapping)] {
        var map: [(ours: String, mapping: TensorMapping)] = []
        map.append(("embed.weight", .same("model.embed_tokens.weight")))
        for l in 0..<c.nLayers {
            let hf = "model.layers.\(l).", ours = "layers.\(l)."
            let attn = hf + "self_attn."
            map.append((ours + "attn_norm.weight", .same(hf + "input_layernorm.weight")))
            map.append((ours + "attn.qkv.weight", .linear(["q_proj", "k_proj", "v_proj"].map { attn + $0 + ".weight" })))
            if c.qkvBias { map.append((ours + "attn.qkv.bias", .concatenated(["q_proj", "k_proj", "v_proj"].map { attn + $0 + ".bias" }))) }
            if c.qkNorm {
                map.append((ours + "attn.q_norm.weight", .same(attn + "q_norm.weight")))
                map.append((ours + "attn.k_norm.weight", .same(attn + "k_norm.weight")))
            }
            map.append((ours + "attn.out.weight", .linear([attn + "o_proj.weight"])))
            map.append((ours + "mlp_norm.weight", .same(hf + "post_attention_layernorm.weight")))
            map.append((ours + "mlp.gate.weight", .linear([hf + "mlp.gate_proj.weight"])))
            map.append((ours + "mlp.up.weight", .linear([hf + "mlp.up_proj.weight"])))
            map.append((ours + "mlp.down.weight", .linear([hf + "mlp.down_proj.weight"])))
        }
        map.append(("final_norm.weight", .same("model.norm.weight")))
        if !c.tiedEmbeddings { map.append(("head.weight", .linear(["lm_head.weight"]))) }
        return map
    }

    /// The folder: the body's tensors checked against the files. A tied head's
    /// `lm_head.weight`, when a folder stores it anyway, is not read.
    static func folder(_ config: HuggingFaceConfig, weights: ShardedSafetensors, family: HuggingFaceFolder.Family,
                       config c: ModelConfig) throws -> HuggingFaceFolder {
        do {
            try c.validate()
        } catch let e as UnmaskError {
            throw config.error(e.message)
        }
        return try HuggingFaceFolder.mapped(directory: config.directory, family: family, config: c, map: tensorMap(c),
                                            weights: weights, unused: c.tiedEmbeddings ? ["lm_head.weight"] : [])
    }

    /// The mask id: the config's `mask_token_id`, else the tokenizer's token `content` (the
    /// block families' configs mostly name none); a folder with neither is refused.
    static func maskId(_ config: HuggingFaceConfig, token content: String, family: String) throws -> Int {
        guard let mask = config.optionalInt("mask_token_id") ?? addedTokenId(content, directory: config.directory) else {
            throw config.error("a\(family.first.map { "aeiouAEIOU".contains($0) } == true ? "n" : "") \(family) folder needs its mask token \(content) in tokenizer_config.json or tokenizer.json (or \"mask_token_id\" in config.json)")
        }
        return mask
    }

    /// Makes the body block-causal in blocks of the config's `key` (else `defaultSize`), its
    /// context cut to whole blocks.
    static func blockCausal(_ c: inout ModelConfig, _ config: HuggingFaceConfig, key: String, defaultSize: Int) throws {
        let block = config.optionalInt(key) ?? defaultSize
        guard block >= 1 && block <= 1024 else { throw config.error("\(key) \(block) must be in 1...1024") }
        c.attention = .blockCausal
        c.blockSize = block
        c.contextLength = c.contextLength / block * block
        guard c.contextLength >= block else {
            throw config.error("max_position_embeddings \(c.contextLength) is shorter than one block of \(block)")
        }
    }

    /// The id of a special token named `content` in the folder's tokenizer files, for a
    /// family whose config names no mask id (Fast-dLLM v2's `|<MASK>|`):
    /// `tokenizer_config.json`'s `added_tokens_decoder`, else `tokenizer.json`'s
    /// `added_tokens`. Nil when neither names it.
    static func addedTokenId(_ content: String, directory: String) -> Int? {
        if let path = try? Files.insideFolder("tokenizer_config.json", of: directory), Files.exists(path),
           let json = try? JSON.parse(Files.read(path, limit: 16 << 20)),
           let decoder = json["added_tokens_decoder"]?.objectPairs {
            for (key, value) in decoder where value["content"]?.stringValue == content { if let id = Int(key) { return id } }
        }
        if let path = try? Files.insideFolder("tokenizer.json", of: directory), Files.exists(path),
           let json = try? JSON.parse(Files.read(path, limit: 64 << 20)), let added = json["added_tokens"]?.arrayValue {
            for token in added where token["content"]?.stringValue == content { return token["id"]?.intValue }
        }
        return nil
    }
}
