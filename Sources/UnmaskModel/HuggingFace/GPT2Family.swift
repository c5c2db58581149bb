import UnmaskSupport

/// GPT-2 (`gpt2` … `gpt2-xl`, openai-community), as an evaluator on the one engine.
///
/// The blocks are the engine's own shape: pre-norm LayerNorm, learned positions, causal
/// attention, a GELU MLP (the tanh form, "gelu_new"), biases on every linear layer, the
/// head tied to the embedding. GPT-2's Conv1D weights are stored (in, out), as ours, so
/// every tensor is read in place under a new name. No mask token: an evaluator never sees
/// one.
enum GPT2Family {
    static func open(_ config: HuggingFaceConfig, weights: ShardedSafetensors) throws -> HuggingFaceFolder {
        let d = try config.int("n_embd")
        let inner = config.optionalInt("n_inner") ?? 4 * d  // null: 4·n_embd
        var c = ModelConfig(vocabSize: try config.int("vocab_size"), dModel: d, nLayers: try config.int("n_layer"),
                            nHeads: try config.int("n_head"), dFF: inner, contextLength: try config.int("n_positions"),
                            maskTokenId: ModelConfig.noMaskToken)
        c.norm = .layernorm
        c.normEps = config.optionalDouble("layer_norm_epsilon") ?? 1e-5
        c.positions = .learned
        c.attention = .causal
        c.head = .tokens
        c.linearBias = true
        c.activation = .gelu
        let activation = config.optionalString("activation_function") ?? "gelu_new"
        // GPT-2 uses GELU's tanh form ("gelu_new"); the erf form would differ by ~1e-3.
        guard ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"].contains(activation) else {
            throw config.error("activation_function \"\(activation)\" is not supported (Unmask's GELU is the tanh form, gelu_new)")
        }
        if config.optionalBool("scale_attn_by_inverse_layer_idx") == true {
            throw config.error("scale_attn_by_inverse_layer_idx is not supported")
        }
        if config.optionalBool("scale_attn_weights") == false {
            throw config.error("scale_attn_weights false is not supported (attention is scaled by 1/sqrt(head size))")
        }
        if config.optionalBool("tie_word_embeddings") == false {
            throw config.error("an untied GPT-2 head (tie_word_embeddings false) is not supported")
        }
        c.tiedEmbeddings = true
        try c.validate()

        // Files from GPT2LMHeadModel prefix every name with "transformer."; the original
        // checkpoints do not.
        let prefix = weights.names.contains("transformer.wte.weight") ? "transformer." : ""
        var map: [(ours: String, theirs: String)] = []
        func both(_ ours: String, _ theirs: String) {
            map.append((ours + ".weight", prefix + theirs + ".weight"))
            map.append((ours + ".bias", prefix + theirs + ".bias"))
        }
        map.append(("embed.weight", prefix + "wte.weight"))
        map.append(("pos_embed.weight", prefix + "wpe.weight"))
        for l in 0..<c.nLayers {
            both("layers.\(l).attn_norm", "h.\(l).ln_1")
            both("layers.\(l).attn.qkv", "h.\(l).attn.c_attn")     // Conv1D: stored (in, out), as ours
            both("layers.\(l).attn.out", "h.\(l).attn.c_proj")
            both("layers.\(l).mlp_norm", "h.\(l).ln_2")
            both("layers.\(l).mlp.up", "h.\(l).mlp.c_fc")
            both("layers.\(l).mlp.down", "h.\(l).mlp.c_proj")
        }
        both("final_norm", "ln_f")

        // A mapped tensor that is missing is reported when the model reads it, with the
        // shape the config needs; a tensor the map does not use is reported here.
        let mapped = Set(map.map(\.theirs))
        for name in weights.names where !mapped.contains(name) && !isUnused(name) {
            throw UnmaskError("\(config.directory): unexpected tensor \(name) for a gpt2 model with this config.json")
        }
        let source = try RenamedTensorSource(files: weights, mapping: Dictionary(uniqueKeysWithValues: map.map { ($0.ours, .same($0.theirs)) }),
                                             directory: config.directory)
        return HuggingFaceFolder(directory: config.directory, family: .gpt2, config: c, tensorMap: map, source: source)
    }

    /// Tensors a GPT-2 folder may hold that the model does not use: the attention-mask
    /// buffers older versions of transformers saved, and the head, a copy of the tied
    /// embedding.
    static func isUnused(_ name: String) -> Bool {
        name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias") || name == "lm_head.weight"
    }
}
