#if canImport(Glibc)
import Glibc
#endif
import UnmaskKernels
import UnmaskSupport

/// The naive forward pass in Double, kept as the algorithmic reference: plain loops, one
/// function per layer, no GEMM, no workspace, no packing, and nothing taken from Layers/
/// but the weights it reads (through the same `TensorSource`, so a Hugging Face folder's
/// renamed and (out, in)-stored weights read as they do for the engine). Tests compare the
/// engine's forward against it for every setting of `ModelConfig`, and training's gradient
/// check differentiates it numerically.
///
/// Returns the head's output for every position, (B·L, outputSize).
/// `branchFactors`, for training's dropout check: per block l, [2l] multiplies the
/// attention output and [2l+1] the MLP output, (B·L, d) each, before the residual add.
///
/// A config the reference does not implement is refused, never run as some other
/// function: a field of `ModelConfig.json` it does not know throws an error naming the
/// field, and every choice (norm, activation, positions, attention, head) is an
/// exhaustive switch, so a new case does not compile until the reference implements it.
public func referenceForward(config c: ModelConfig, source: TensorSource, ids: [Int], batch B: Int, length L: Int,
                             branchFactors: [[Double]]? = nil) throws -> [Double] {
    try c.validate()
    if let field = ReferenceForward.unimplementedField(of: c.json) {
        throw UnmaskError("reference forward: config field \(field) is not implemented "
                          + "(the reference would compute a different function from the engine's)")
    }
    let d = c.dModel, rows = B * L
    guard B >= 1, L >= 1, L <= c.contextLength, ids.count == rows, ids.allSatisfy({ $0 >= 0 && $0 < c.vocabSize }) else {
        throw UnmaskError("reference forward: \(ids.count) ids for a \(B)x\(L) batch (context \(c.contextLength), vocabulary \(c.vocabSize))")
    }
    if let f = branchFactors, f.count != 2 * c.nLayers || f.contains(where: { $0.count != rows * d }) {
        throw UnmaskError("reference forward: branchFactors needs \(2 * c.nLayers) lists of \(rows * d)")
    }
    let w = ReferenceForward.Reader(source: source)
    let R = ReferenceForward.self
    // Keys row i sees: 0 ..< seen(i).
    let seen: (Int) -> Int
    switch c.attention {
    case .causal: seen = { $0 + 1 }
    case .bidirectional: seen = { _ in L }
    case .blockCausal:
        let size = c.blockSize!
        seen = { ($0 / size + 1) * size }
    }

    let table = try w.tensor("embed.weight", [c.vocabSize, d])                                        // (V, d)
    let learned = c.positions == .learned ? try w.tensor("pos_embed.weight", [c.contextLength, d]) : nil  // (context, d)
    var x = R.embedding(ids: ids, table: table, positions: learned, length: L, d: d)                   // (B·L, d)

    for l in 0..<c.nLayers {
        let p = "layers.\(l)."
        // Attention branch: x ← x + attention(norm(x))·W_out (+ b_out)
        let h1 = R.norm(c.norm, x, rows: rows, d: d, weight: try w.vector(p + "attn_norm.weight", d),     // (B·L, d)
                        bias: c.norm == .layernorm ? try w.vector(p + "attn_norm.bias", d) : nil, eps: c.normEps)
        var qkv = R.linear(h1, rows: rows, weight: try w.matrix(p + "attn.qkv.weight", d, c.qkvWidth),    // (B·L, (H + 2·KV)·dh)
                           nIn: d, nOut: c.qkvWidth,
                           bias: c.linearBias || c.qkvBias ? try w.vector(p + "attn.qkv.bias", c.qkvWidth) : nil)
        if c.qkNorm {
            R.headNorms(&qkv, rows: rows, headDim: c.headDim, heads: c.nHeads, kvHeads: c.nKVHeads,
                        q: try w.vector(p + "attn.q_norm.weight", c.headDim), k: try w.vector(p + "attn.k_norm.weight", c.headDim),
                        eps: c.normEps)
        }
        switch c.positions {
        case .rotary: R.rotary(&qkv, rows: rows, length: L, headDim: c.headDim, heads: c.nHeads, kvHeads: c.nKVHeads, theta: c.ropeTheta)
        case .learned: break  // added to the embeddings
        }
        let att = R.attention(qkv, batch: B, length: L, headDim: c.headDim, heads: c.nHeads, kvHeads: c.nKVHeads,  // (B·L, H·dh)
                              seen: seen)
        let A = c.attentionWidth
        let o = R.linear(att, rows: rows, weight: try w.matrix(p + "attn.out.weight", A, d), nIn: A, nOut: d,      // (B·L, d)
                         bias: c.linearBias ? try w.vector(p + "attn.out.bias", d) : nil)
        R.addResidual(&x, o, factors: branchFactors?[2 * l])

        // MLP branch: x ← x + mlp(norm(x))
        let h2 = R.norm(c.norm, x, rows: rows, d: d, weight: try w.vector(p + "mlp_norm.weight", d),      // (B·L, d)
                        bias: c.norm == .layernorm ? try w.vector(p + "mlp_norm.bias", d) : nil, eps: c.normEps)
        let up = R.linear(h2, rows: rows, weight: try w.matrix(p + "mlp.up.weight", d, c.dFF), nIn: d, nOut: c.dFF,  // (B·L, d_ff)
                          bias: c.linearBias ? try w.vector(p + "mlp.up.bias", c.dFF) : nil)
        // The gate has no bias in any family (ModelConfig.tensorShapes).
        let gate = c.gatedMLP                                                                                     // (B·L, d_ff)
            ? R.linear(h2, rows: rows, weight: try w.matrix(p + "mlp.gate.weight", d, c.dFF), nIn: d, nOut: c.dFF, bias: nil) : nil
        let u = R.mlpHidden(c.activation, up: up, gate: gate)                                                 // (B·L, d_ff)
        let m = R.linear(u, rows: rows, weight: try w.matrix(p + "mlp.down.weight", c.dFF, d), nIn: c.dFF, nOut: d,  // (B·L, d)
                         bias: c.linearBias ? try w.vector(p + "mlp.down.bias", d) : nil)
        R.addResidual(&x, m, factors: branchFactors?[2 * l + 1])
    }

    let final = R.norm(c.norm, x, rows: rows, d: d, weight: try w.vector("final_norm.weight", d),       // (B·L, d)
                       bias: c.norm == .layernorm ? try w.vector("final_norm.bias", d) : nil, eps: c.normEps)
    // The hidden row each output reads: itself, or the one before it (shifted logits).
    let read = (0..<rows).map { R.predictingRow($0, length: L, shifted: c.shiftedLogits) }           // (B·L)
    switch c.head {
    case .binary:
        return R.head(final, rows: read, d: d, weight: try w.matrix("head.weight", d, 1), nOut: 1,      // (B·L, 1)
                      bias: try w.vector("head.bias", 1))
    case .tokens where c.tiedEmbeddings:
        return R.tiedHead(final, rows: read, d: d, table: table, vocab: c.vocabSize)                        // (B·L, V)
    case .tokens:
        return R.head(final, rows: read, d: d, weight: try w.matrix("head.weight", d, c.vocabSize),        // (B·L, V)
                      nOut: c.vocabSize, bias: c.headBias ? try w.vector("head.bias", c.vocabSize) : nil)
    }
}

/// The layers of `referenceForward`, each a plain loop in Double over row-major buffers.
enum ReferenceForward {
    /// Every field of `ModelConfig.json` that `referenceForward` implements (or that does
    /// not change the function it computes). A field missing here — one the engine gained
    /// later — makes the reference refuse the config by name.
    static let implementedFields: Set<String> = [
        "architecture", "weight_layout", "mask_token_id",                    // not part of the function
        "vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "context_length",  // shapes
        "norm", "norm_eps",                                                  // norm
        "positions", "rope_theta",                                           // embedding, rotary
        "n_kv_heads", "attention", "block_size", "head_dim",                 // attention
        "block_alignment",                                                   // generation only: the forward's blocks start at 0
        "qk_norm",                                                           // headNorms
        "linear_bias", "qkv_bias",                                           // linear
        "activation", "gated_mlp",                                           // mlpHidden
        "tied_embeddings", "head", "head_bias", "shifted_logits",            // head, tiedHead, predictingRow
    ]

    /// The first field of a config's JSON the reference does not implement, as
    /// `"name" (value)`, or nil.
    static func unimplementedField(of json: JSONValue) -> String? {
        for (key, value) in json.objectPairs ?? [] where !implementedFields.contains(key) {
            return "\"\(key)\" (\(value.serialized()))"
        }
        return nil
    }

    /// A model's tensors as Double, read through its `TensorSource`.
    struct Reader {
        let source: TensorSource

        /// A tensor of the given shape, flat.
        func tensor(_ name: String, _ shape: [Int]) throws -> [Double] {
            let p = try source.float32(name, shape: shape)
            return (0..<shape.reduce(1, *)).map { Double(p[$0]) }
        }

        /// A vector (n).
        func vector(_ name: String, _ n: Int) throws -> [Double] { try tensor(name, [n]) }

        /// The weight W of a linear map y = x·W, (nIn, nOut), however the source stores
        /// it: (in, out) as ours and GPT-2's are, or (out, in) as PyTorch's Linear, possibly
        /// in parts stacked along out (LLaDA's and Dream's q, k and v).
        func matrix(_ name: String, _ nIn: Int, _ nOut: Int) throws -> [Double] {
            var w = [Double](repeating: 0, count: nIn * nOut)   // (nIn, nOut)
            switch try source.weight(name, rows: nIn, cols: nOut) {
            case .inOut(let m):
                guard m.rows == nIn, m.cols == nOut else {
                    throw UnmaskError("reference forward: \(name) is stored \(m.rows)x\(m.cols), not \(nIn)x\(nOut)")
                }
                for i in 0..<nIn { for j in 0..<nOut { w[i * nOut + j] = Double(m.value(i, j)) } }
            case .outIn(let parts):
                guard parts.allSatisfy({ $0.cols == nIn }), parts.reduce(0, { $0 + $1.rows }) == nOut else {
                    throw UnmaskError("reference forward: the parts of \(name) do not stack to \(nOut)x\(nIn)")
                }
                var first = 0   // the output column where this part starts
                for part in parts {
                    for j in 0..<part.rows { for i in 0..<nIn { w[i * nOut + first + j] = Double(part.value(j, i)) } }
                    first += part.rows
                }
            }
            return w
        }
    }

    /// x (B·L, d) = E[ids[r]] (+ P[r mod L] with learned positions).
    /// table: (V, d); positions: (context, d).
    static func embedding(ids: [Int], table: [Double], positions: [Double]?, length L: Int, d: Int) -> [Double] {
        var x = [Double](repeating: 0, count: ids.count * d)   // (B·L, d)
        for r in 0..<ids.count {
            for i in 0..<d { x[r * d + i] = table[ids[r] * d + i] + (positions?[(r % L) * d + i] ?? 0) }
        }
        return x
    }

    /// y (rows, d), each row normalised:
    ///   RMSNorm:   y = x / √(mean(x²) + ε) · w
    ///   LayerNorm: y = (x − mean(x)) / √(var(x) + ε) · w + b
    static func norm(_ kind: ModelConfig.Norm, _ x: [Double], rows: Int, d: Int, weight: [Double], bias: [Double]?,
                     eps: Double) -> [Double] {
        var y = [Double](repeating: 0, count: rows * d)   // (rows, d)
        for r in 0..<rows {
            var mean = 0.0
            switch kind {
            case .rmsnorm: mean = 0
            case .layernorm:
                for i in 0..<d { mean += x[r * d + i] }
                mean /= Double(d)
            }
            var meanSquare = 0.0
            for i in 0..<d { meanSquare += (x[r * d + i] - mean) * (x[r * d + i] - mean) }
            meanSquare /= Double(d)
            let inv = 1 / (meanSquare + eps).squareRoot()
            for i in 0..<d { y[r * d + i] = (x[r * d + i] - mean) * inv * weight[i] + (bias?[i] ?? 0) }
        }
        return y
    }

    /// Query/key norms (Qwen3), in place on qkv (rows, (H + 2·KV)·dh): RMSNorm over each
    /// of the H query and KV key head vectors, with weights q (dh) and k (dh).
    static func headNorms(_ qkv: inout [Double], rows: Int, headDim dh: Int, heads H: Int, kvHeads KV: Int,
                          q: [Double], k: [Double], eps: Double) {
        let width = (H + 2 * KV) * dh
        for r in 0..<rows {
            for h in 0..<(H + KV) {
                let v = r * width + h * dh
                var meanSquare = 0.0
                for e in 0..<dh { meanSquare += qkv[v + e] * qkv[v + e] }
                let inv = 1 / (meanSquare / Double(dh) + eps).squareRoot()
                for e in 0..<dh { qkv[v + e] *= inv * (h < H ? q[e] : k[e]) }
            }
        }
    }

    /// y (rows, nOut) = x (rows, nIn) · W (nIn, nOut) (+ b (nOut)).
    static func linear(_ x: [Double], rows: Int, weight: [Double], nIn: Int, nOut: Int, bias: [Double]?) -> [Double] {
        var y = [Double](repeating: 0, count: rows * nOut)   // (rows, nOut)
        for r in 0..<rows {
            for j in 0..<nOut {
                var sum = bias?[j] ?? 0
                for k in 0..<nIn { sum += x[r * nIn + k] * weight[k * nOut + j] }
                y[r * nOut + j] = sum
            }
        }
        return y
    }

    /// Rotary positions, in place on qkv (B·L, (H + 2·KV)·dh): every query head and every
    /// key head of row r turns its pairs (i, i + dh/2) by the angle (r mod L)·θ^(−2i/dh)
    /// ("rotate half", GPT-NeoX's layout, which LLaMA, Qwen2 and MDLM use). Values stay.
    static func rotary(_ qkv: inout [Double], rows: Int, length L: Int, headDim dh: Int, heads H: Int, kvHeads KV: Int,
                       theta: Double) {
        let width = (H + 2 * KV) * dh, half = dh / 2
        for r in 0..<rows {
            let position = Double(r % L)
            // Query heads 0..<H, then key heads: H + 0..<KV (head vectors side by side).
            for head in 0..<(H + KV) {
                let v = r * width + head * dh
                for i in 0..<half {
                    let angle = position * pow(theta, -2 * Double(i) / Double(dh))
                    let a = qkv[v + i], b = qkv[v + i + half]
                    qkv[v + i] = a * cos(angle) - b * sin(angle)
                    qkv[v + i + half] = a * sin(angle) + b * cos(angle)
                }
            }
        }
    }

    /// Scaled dot-product attention. qkv (B·L, (H + 2·KV)·dh) holds per row the H query
    /// heads, then KV key heads, then KV value heads; query head h attends with key/value
    /// head h / (H / KV) (grouped-query attention; KV = H is multi-head). Row i of a
    /// sequence sees positions 0...i when causal, all L otherwise.
    /// Returns (B·L, H·dh), head h in columns h·dh..<(h + 1)·dh.
    static func attention(_ qkv: [Double], batch B: Int, length L: Int, headDim dh: Int, heads H: Int, kvHeads KV: Int,
                          seen: (Int) -> Int) -> [Double] {
        let width = (H + 2 * KV) * dh, queriesPerKV = H / KV
        var out = [Double](repeating: 0, count: B * L * H * dh)   // (B·L, H·dh)
        var weights = [Double](repeating: 0, count: L)             // (L) one query's softmax
        for b in 0..<B {
            for h in 0..<H {
                let kv = h / queriesPerKV
                let q = h * dh, k = (H + kv) * dh, v = (H + KV + kv) * dh   // column offsets in a qkv row
                for i in 0..<L {
                    let seen = min(L, seen(i))
                    var largest = -Double.infinity
                    for j in 0..<seen {
                        var dot = 0.0
                        for e in 0..<dh { dot += qkv[(b * L + i) * width + q + e] * qkv[(b * L + j) * width + k + e] }
                        weights[j] = dot / Double(dh).squareRoot()
                        largest = max(largest, weights[j])
                    }
                    var total = 0.0
                    for j in 0..<seen { weights[j] = exp(weights[j] - largest); total += weights[j] }
                    for e in 0..<dh {
                        var sum = 0.0
                        for j in 0..<seen { sum += weights[j] / total * qkv[(b * L + j) * width + v + e] }
                        out[(b * L + i) * H * dh + h * dh + e] = sum
                    }
                }
            }
        }
        return out
    }

    /// The activation, element-wise: GELU in its tanh form (GPT-2's "gelu_new"), or SiLU
    /// x·σ(x).
    static func activation(_ kind: ModelConfig.Activation, _ v: Double) -> Double {
        switch kind {
        case .gelu: return 0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))
        case .silu: return v / (1 + exp(-v))
        }
    }

    /// The MLP's hidden layer (rows, d_ff) from its up projection (rows, d_ff): act(up), or
    /// with a gate projection (rows, d_ff), act(gate) ⊙ up (SwiGLU when act is SiLU).
    static func mlpHidden(_ kind: ModelConfig.Activation, up: [Double], gate: [Double]?) -> [Double] {
        guard let gate else { return up.map { activation(kind, $0) } }
        return (0..<up.count).map { activation(kind, gate[$0]) * up[$0] }
    }

    /// x (rows, d) += branch (rows, d) (⊙ factors, training's dropout check).
    static func addResidual(_ x: inout [Double], _ branch: [Double], factors: [Double]?) {
        for i in 0..<x.count { x[i] += branch[i] * (factors?[i] ?? 1) }
    }

    /// The hidden row whose output is reported at flat row r: r, or with shifted logits
    /// (Dream: output i − 1 predicts token i) r − 1, except at a sequence's first
    /// position, which reads its own row.
    static func predictingRow(_ r: Int, length L: Int, shifted: Bool) -> Int {
        shifted && r % L != 0 ? r - 1 : r
    }

    /// out (rows.count, nOut): row j = x[rows[j]] · W (d, nOut) (+ b).  x: (·, d).
    static func head(_ x: [Double], rows: [Int], d: Int, weight: [Double], nOut: Int, bias: [Double]?) -> [Double] {
        var out = [Double](repeating: 0, count: rows.count * nOut)   // (rows.count, nOut)
        for (j, r) in rows.enumerated() {
            for o in 0..<nOut {
                var sum = bias?[o] ?? 0
                for i in 0..<d { sum += x[r * d + i] * weight[i * nOut + o] }
                out[j * nOut + o] = sum
            }
        }
        return out
    }

    /// The head tied to the embeddings: out (rows.count, V), row j = x[rows[j]] · Eᵀ, where
    /// E is the table (V, d).
    static func tiedHead(_ x: [Double], rows: [Int], d: Int, table: [Double], vocab V: Int) -> [Double] {
        var out = [Double](repeating: 0, count: rows.count * V)   // (rows.count, V)
        for (j, r) in rows.enumerated() {
            for t in 0..<V {
                var sum = 0.0
                for i in 0..<d { sum += x[r * d + i] * table[t * d + i] }
                out[j * V + t] = sum
            }
        }
        return out
    }
}
