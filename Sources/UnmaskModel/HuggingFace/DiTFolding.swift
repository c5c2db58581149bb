#if canImport(Glibc)
import Glibc
#endif
import UnmaskSupport

/// MDLM's DiT (github.com/kuleshov-group/mdlm, models/dit.py; the Hugging Face folder
/// kuleshov-group/mdlm-owt) on the one engine.
///
/// A DiT block modulates its norms and gates its branches by vectors computed from the
/// noise level σ through a timestep embedding, an MLP and per-block adaLN layers:
///     x ← x + gate_msa ⊙ attn(LN(x)·w₁·(1 + scale_msa) + shift_msa)·W_out
///     x ← x + gate_mlp ⊙ MLP(LN(x)·w₂·(1 + scale_mlp) + shift_mlp)
///     logits = (LN(x)·w_f·(1 + scale_f) + shift_f)·W_head + b_head
/// MDLM runs without time conditioning: it feeds σ = 0 to the embedding, whatever the
/// step (`time_conditioning: false`). Then every modulation vector is a constant, computed
/// here once, and folds into the weights Unmask already has: a LayerNorm with weight
/// w·(1 + scale) and bias shift, the gate multiplied into the columns of W_out and of the
/// MLP's output weight and bias. The folded model is an ordinary pre-norm transformer
/// (LayerNorm, rotary θ = 10⁴, GELU-tanh, biases, an untied head with a bias) — exactly
/// the reference's function at σ = 0, so every sampler that is exact for a time-agnostic
/// denoiser is exact for it. A time-conditioned DiT (SEDD, or MDLM trained with time
/// conditioning) needs σ from the sampler at every call and is refused.
///
/// The fold is computed in Double from the stored weights and kept in one F32 buffer in
/// our layout (a copy: 4 bytes per parameter).
///
/// BD3-LM (github.com/kuleshov-group/bd3lms, models/hf/modeling_bd3lm.py; the folders
/// kuleshov-group/bd3lm-owt-block_size4/8/16) is the same DiT with block-causal attention in
/// blocks of `block_size` (a noisy block sees itself and the clean blocks before it), which
/// is the engine's `block_causal` attention; its training layout x_t ⊕ x_0 is
/// `AttentionPattern.blockDiffusionTraining`. Its folders also hold the scalar buffers
/// `sampling_eps_min`/`sampling_eps_max` (the clipped mask-rate range of its training, not
/// part of the function: accepted and checked to be a range in [0, 1]), and with `adaln`
/// false its blocks have no modulation (scale 0, shift 0, gate 1).
enum DiTFolding {
    static func open(_ config: HuggingFaceConfig, weights: ShardedSafetensors,
                     family: HuggingFaceFolder.Family = .mdlm) throws -> HuggingFaceFolder {
        let directory = config.directory
        let name = family == .bd3lm ? "BD3-LM" : "MDLM"
        if config.optionalBool("time_conditioning") == true {
            throw config.error("a time-conditioned DiT (time_conditioning true) needs the noise level at every call; Unmask runs \(name)'s time-agnostic DiT only")
        }
        let adaln = family == .mdlm || config.optionalBool("adaln") != false
        let d = try config.int("hidden_dim"), vocab = try config.int("vocab_size")
        let cond = adaln ? try config.int("cond_dim") : 0
        // MDLM appends its mask token after the tokenizer's ids (mask_index = len(tokenizer));
        // a config that names the mask id wins.
        let mask = config.optionalInt("mask_token_id") ?? vocab - 1
        var c = ModelConfig(vocabSize: vocab, dModel: d, nLayers: try config.int("n_blocks"), nHeads: try config.int("n_heads"),
                            dFF: 4 * d, contextLength: try config.int("model_length"), maskTokenId: mask)
        c.norm = .layernorm
        c.normEps = 1e-5
        c.activation = .gelu
        c.positions = .rotary
        c.ropeTheta = 10_000
        c.attention = .bidirectional
        if family == .bd3lm {
            let size = try config.int("block_size")
            guard size >= 1, c.contextLength % size == 0 else {
                throw config.error("block_size \(size) must divide model_length \(c.contextLength) (BD3-LM's blocks tile the sequence)")
            }
            if config.optionalBool("cross_attn") == false {
                throw config.error("cross_attn false: this BD3-LM was not trained with its block-diffusion attention")
            }
            if config.optionalBool("causal") == true {
                throw config.error("causal true: a causal BD3-LM is not block diffusion")
            }
            c.attention = .blockCausal
            c.blockSize = size
        }
        c.head = .tokens
        c.tiedEmbeddings = false
        c.headBias = true
        c.linearBias = true
        try c.validate()

        let prefix = weights.names.contains("backbone.vocab_embed.embedding") ? "backbone." : ""
        // Every tensor read is remembered: whatever the folder holds beyond them is an error.
        var read: Set<String> = [prefix + "rotary_emb.inv_freq"]  // recomputed from θ, not read
        func t(_ name: String, _ shape: [Int]) throws -> [Double] {
            read.insert(prefix + name)
            return try weights.doubles(prefix + name, shape, directory: directory)
        }
        func silu(_ x: [Double]) -> [Double] { x.map { $0 / (1 + exp(-$0)) } }
        /// y = W·x + b for a PyTorch Linear stored (out, in).
        func linear(_ w: [Double], _ b: [Double], _ x: [Double]) -> [Double] {
            var y = b
            for o in 0..<b.count {
                var sum: Double = b[o]
                for i in 0..<x.count { sum += w[o * x.count + i] * x[i] }
                y[o] = sum
            }
            return y
        }

        // c = SiLU(MLP(timestep_embedding(σ = 0))): cos(0) = 1 in the first half, sin(0) = 0.
        var condition: [Double] = []
        if adaln {
            let frequencies = 256
            let tFreq = (0..<frequencies).map { $0 < frequencies / 2 ? 1.0 : 0.0 }
            let h = silu(linear(try t("sigma_map.mlp.0.weight", [cond, frequencies]), try t("sigma_map.mlp.0.bias", [cond]), tFreq))
            condition = silu(linear(try t("sigma_map.mlp.2.weight", [cond, cond]), try t("sigma_map.mlp.2.bias", [cond]), h))
        }
        /// A block's modulation at σ = 0, `parts` vectors of d: the adaLN layer's output, or
        /// without adaLN shift 0, scale 0 and gate 1.
        func modulation(_ prefix: String, parts: Int) throws -> [Double] {
            guard adaln else {
                return (0..<(parts * d)).map { i in parts == 6 && (i / d == 2 || i / d == 5) ? 1 : 0 }
            }
            return linear(try t(prefix + "adaLN_modulation.weight", [parts * d, cond]), try t(prefix + "adaLN_modulation.bias", [parts * d]),
                          condition)
        }
        if family == .bd3lm {
            // BD3-LM's training range of mask rates: scalars, kept out of the function.
            var range: [Double] = []
            for buffer in ["sampling_eps_min", "sampling_eps_max"] where weights.names.contains(prefix + buffer) || weights.names.contains(buffer) {
                let key = weights.names.contains(prefix + buffer) ? prefix + buffer : buffer
                read.insert(key)
                range += try weights.doubles(key, [], directory: directory)
            }
            if range.count == 2, !(0 <= range[0] && range[0] < range[1] && range[1] <= 1) {
                throw config.error("sampling_eps_min/max \(range) are not a range of mask rates in [0, 1]")
            }
        }

        let p = ParameterBuffer(config: c)
        var map: [(ours: String, theirs: String)] = []
        func put(_ name: String, _ values: [Double], _ from: String) throws {
            let dst = try p.mutablePointer(name)
            for (i, v) in values.enumerated() { dst[i] = Float(v) }
            map.append((name, from))
        }
        /// Wᵀ of a PyTorch Linear (out, in) in our (in, out) layout, column j times scale[j].
        func transposed(_ w: [Double], rows nOut: Int, cols nIn: Int, scale: [Double]? = nil) -> [Double] {
            var out = [Double](repeating: 0, count: nIn * nOut)
            for o in 0..<nOut { for i in 0..<nIn { out[i * nOut + o] = w[o * nIn + i] * (scale?[o] ?? 1) } }
            return out
        }
        try put("embed.weight", try t("vocab_embed.embedding", [vocab, d]), prefix + "vocab_embed.embedding")
        for l in 0..<c.nLayers {
            let b = "blocks.\(l).", ours = "layers.\(l)."
            let m = try modulation(b, parts: 6)
            let chunk = { (k: Int) in Array(m[(k * d)..<((k + 1) * d)]) }
            let (shiftA, scaleA, gateA, shiftM, scaleM, gateM) = (chunk(0), chunk(1), chunk(2), chunk(3), chunk(4), chunk(5))
            let w1 = try t(b + "norm1.weight", [d]), w2 = try t(b + "norm2.weight", [d])
            try put(ours + "attn_norm.weight", (0..<d).map { w1[$0] * (1 + scaleA[$0]) }, prefix + b + "norm1.weight · (1 + scale_msa)")
            try put(ours + "attn_norm.bias", shiftA, "shift_msa (" + prefix + b + "adaLN_modulation at σ = 0)")
            try put(ours + "attn.qkv.weight", transposed(try t(b + "attn_qkv.weight", [3 * d, d]), rows: 3 * d, cols: d), prefix + b + "attn_qkv.weightᵀ")
            try put(ours + "attn.qkv.bias", [Double](repeating: 0, count: 3 * d), "0 (none)")
            try put(ours + "attn.out.weight", transposed(try t(b + "attn_out.weight", [d, d]), rows: d, cols: d, scale: gateA),
                    prefix + b + "attn_out.weightᵀ · gate_msa")
            try put(ours + "attn.out.bias", [Double](repeating: 0, count: d), "0 (none)")
            try put(ours + "mlp_norm.weight", (0..<d).map { w2[$0] * (1 + scaleM[$0]) }, prefix + b + "norm2.weight · (1 + scale_mlp)")
            try put(ours + "mlp_norm.bias", shiftM, "shift_mlp")
            try put(ours + "mlp.up.weight", transposed(try t(b + "mlp.0.weight", [4 * d, d]), rows: 4 * d, cols: d), prefix + b + "mlp.0.weightᵀ")
            try put(ours + "mlp.up.bias", try t(b + "mlp.0.bias", [4 * d]), prefix + b + "mlp.0.bias")
            try put(ours + "mlp.down.weight", transposed(try t(b + "mlp.2.weight", [d, 4 * d]), rows: d, cols: 4 * d, scale: gateM),
                    prefix + b + "mlp.2.weightᵀ · gate_mlp")
            let downBias = try t(b + "mlp.2.bias", [d])
            try put(ours + "mlp.down.bias", (0..<d).map { downBias[$0] * gateM[$0] }, prefix + b + "mlp.2.bias · gate_mlp")
        }
        let o = "output_layer."
        let mf = try modulation(o, parts: 2)
        let wf = try t(o + "norm_final.weight", [d])
        try put("final_norm.weight", (0..<d).map { wf[$0] * (1 + mf[d + $0]) }, prefix + o + "norm_final.weight · (1 + scale)")
        try put("final_norm.bias", Array(mf[0..<d]), "shift (" + prefix + o + "adaLN_modulation at σ = 0)")
        try put("head.weight", transposed(try t(o + "linear.weight", [vocab, d]), rows: vocab, cols: d), prefix + o + "linear.weightᵀ")
        try put("head.bias", try t(o + "linear.bias", [vocab]), prefix + o + "linear.bias")

        for name in weights.names where !read.contains(name) {
            throw UnmaskError("\(directory): unexpected tensor \(name) for an \(family.rawValue) model with this config.json")
        }
        return HuggingFaceFolder(directory: directory, family: family, config: c, tensorMap: map, source: p)
    }
}
