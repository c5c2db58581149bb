import UnmaskSupport

/// LLaDA (GSAI-ML/LLaDA-8B-Base and -Instruct), the bidirectional LLaMA-block denoiser:
/// OLMo's code and names (`model.transformer.blocks.N.…`) around LLaMA blocks — RMSNorm,
/// rotary with the config's θ (rotate-half), attention over every position, a SwiGLU MLP
/// whose `ff_proj` is the gate and `up_proj` the linear half, an untied head `ff_out`.
/// Output i predicts token i. The mask id is the config's `mask_token_id`, else LLaDA's
/// fixed 126336 (`<|mdm_mask|>`, inside the vocabulary).
///
/// The weights are read where they lie, in their stored dtype (BF16 for the published
/// checkpoints): PyTorch's (out, in) linear weights are multiplied as they are stored, q,
/// k and v as three parts of one weight, and packed a panel at a time (`WeightStorage`).
enum LLaDAFamily {
    /// LLaDA's mask id when its config names none: `<|mdm_mask|>`.
    static let lladaMaskId = 126_336

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
        return try HuggingFaceFolder.mapped(directory: config.directory, family: .llada, config: c, map: map, weights: weights, unused: [])
    }

    /// The LLaMA block LLaDA and the Qwen bodies share (QwenBody.swift), run as a denoiser:
    /// RMSNorm, SwiGLU, rotary, attention over every position, a token head; a family sets
    /// its own attention after.
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
}
