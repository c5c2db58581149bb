import UnmaskSupport

/// Dream (Dream-org/Dream-v0-Base-7B): Qwen2 blocks run with attention over every
/// position as a masked-diffusion denoiser, its logits shifted so that output i − 1
/// predicts token i (position 0 reads output 0). Qwen2's parts map onto the engine:
/// RMSNorm, rotary with the config's θ (rotate-half), grouped-query attention with biases
/// on q, k and v, a SwiGLU MLP, an untied head. The mask id comes from config.json
/// (`mask_token_id`), never from the position of an id in the vocabulary.
///
/// PyTorch stores each linear map (out, in); the engine multiplies by (in, out), with q, k
/// and v side by side in one matrix. The weights are therefore rearranged into one F32
/// buffer in our layout (a copy: 4 bytes per parameter).
enum DreamFolding {
    static func open(directory: String, json: JSONValue, weights: ShardedSafetensors, path: String) throws -> HuggingFaceFolder {
        func int(_ key: String) throws -> Int {
            guard let v = json[key]?.intValue else { throw UnmaskError("\(path): missing or non-integer \"\(key)\"") }
            return v
        }
        guard let mask = json["mask_token_id"]?.intValue else {
            throw UnmaskError("\(path): a Dream config needs \"mask_token_id\"")
        }
        if let scaling = json["rope_scaling"], !scaling.isNull {
            throw UnmaskError("\(path): rope_scaling is not supported")
        }
        let ropeParameters = json["rope_parameters"]
        if let kind = ropeParameters?["rope_type"]?.stringValue, kind != "default" {
            throw UnmaskError("\(path): rope_type \(kind) is not supported")
        }
        let d = try int("hidden_size"), heads = try int("num_attention_heads"), vocab = try int("vocab_size")
        // The rotary tables are built for the whole context: long-context configs (Dream:
        // 131072) are capped at the engine's 65536 positions.
        let context = min(json["max_position_embeddings"]?.intValue ?? 4096, 1 << 16)
        var c = ModelConfig(vocabSize: vocab, dModel: d, nLayers: try int("num_hidden_layers"), nHeads: heads,
                            dFF: try int("intermediate_size"), contextLength: context, maskTokenId: mask)
        if let headDim = json["head_dim"]?.intValue, headDim != d / heads {
            throw UnmaskError("\(path): head_dim \(headDim) differs from hidden_size / num_attention_heads (\(d / heads)): not supported")
        }
        c.nKVHeads = json["num_key_value_heads"]?.intValue ?? heads
        c.norm = .rmsnorm
        c.normEps = json["rms_norm_eps"]?.doubleValue ?? 1e-6
        c.activation = .silu
        c.gatedMLP = true
        c.positions = .rotary
        c.ropeTheta = json["rope_theta"]?.doubleValue ?? ropeParameters?["rope_theta"]?.doubleValue ?? 10_000
        c.attention = .bidirectional
        c.head = .tokens
        c.shiftedLogits = true
        c.tiedEmbeddings = json["tie_word_embeddings"]?.boolValue ?? false
        let names = Set(weights.names)
        c.qkvBias = names.contains("model.layers.0.self_attn.q_proj.bias")
        try c.validate()

        let p = ParameterBuffer(config: c)
        var map: [(ours: String, theirs: String)] = []
        var read = Set<String>()
        func tensor(_ name: String, _ shape: [Int]) throws -> UnsafePointer<Float> {
            read.insert(name)
            guard let t = try weights.float32(name, shape: shape) else {
                throw UnmaskError("\(directory): tensor \(name) is missing (shape \(shape))")
            }
            return t
        }
        /// Copies `name` (stored as-is) into ours.
        func copy(_ ours: String, _ name: String, _ shape: [Int]) throws {
            try p.mutablePointer(ours).update(from: try tensor(name, shape), count: shape.reduce(1, *))
            map.append((ours, name))
        }
        /// Writes the transpose of PyTorch weights (out, in), side by side, into our (in, Σout).
        func transposed(_ ours: String, _ parts: [(name: String, out: Int)], nIn: Int) throws {
            let dst = try p.mutablePointer(ours)
            let width = parts.reduce(0) { $0 + $1.out }
            var column = 0
            for part in parts {
                let w = try tensor(part.name, [part.out, nIn])
                for o in 0..<part.out { for i in 0..<nIn { dst[i * width + column + o] = w[o * nIn + i] } }
                column += part.out
            }
            map.append((ours, parts.map { $0.name + "ᵀ" }.joined(separator: " | ")))
        }
        let dh = c.headDim, kv = c.nKVHeads * dh
        try copy("embed.weight", "model.embed_tokens.weight", [vocab, d])
        for l in 0..<c.nLayers {
            let hf = "model.layers.\(l).", ours = "layers.\(l)."
            try copy(ours + "attn_norm.weight", hf + "input_layernorm.weight", [d])
            try transposed(ours + "attn.qkv.weight", [(hf + "self_attn.q_proj.weight", heads * dh), (hf + "self_attn.k_proj.weight", kv),
                                                      (hf + "self_attn.v_proj.weight", kv)], nIn: d)
            if c.qkvBias {
                let dst = try p.mutablePointer(ours + "attn.qkv.bias")
                var offset = 0
                for (name, n) in [("q_proj", heads * dh), ("k_proj", kv), ("v_proj", kv)] {
                    (dst + offset).update(from: try tensor(hf + "self_attn.\(name).bias", [n]), count: n)
                    offset += n
                }
                map.append((ours + "attn.qkv.bias", hf + "self_attn.{q,k,v}_proj.bias"))
            }
            try transposed(ours + "attn.out.weight", [(hf + "self_attn.o_proj.weight", d)], nIn: heads * dh)
            try copy(ours + "mlp_norm.weight", hf + "post_attention_layernorm.weight", [d])
            try transposed(ours + "mlp.gate.weight", [(hf + "mlp.gate_proj.weight", c.dFF)], nIn: d)
            try transposed(ours + "mlp.up.weight", [(hf + "mlp.up_proj.weight", c.dFF)], nIn: d)
            try transposed(ours + "mlp.down.weight", [(hf + "mlp.down_proj.weight", d)], nIn: c.dFF)
        }
        try copy("final_norm.weight", "model.norm.weight", [d])
        if !c.tiedEmbeddings { try transposed("head.weight", [("lm_head.weight", vocab)], nIn: d) }
        for name in weights.names where !read.contains(name) && !(c.tiedEmbeddings && name == "lm_head.weight") {
            throw UnmaskError("\(directory): unexpected tensor \(name) for a Dream model with this config.json")
        }
        return HuggingFaceFolder(directory: directory, family: .dream, config: c, tensorMap: map, source: p)
    }
}
