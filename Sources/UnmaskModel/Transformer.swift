#if canImport(Glibc)
import Glibc
#endif
import UnmaskKernels
import UnmaskSupport

/// The transformer: pre-norm blocks (norm → attention → residual, norm → MLP → residual),
/// a final norm and a head. One implementation runs all three roles:
///  * denoiser: bidirectional attention, token head (logits over the vocabulary);
///  * evaluator: causal attention, token head;
///  * planner: bidirectional attention, binary head (one logit per position: "corrupted?").
/// There is no time input: the absorbing-state denoiser is time-agnostic.
///
/// Weights are read in place from the source (the mmapped safetensors file) and packed
/// once for our GEMM at construction. `forward` reuses a workspace, so one instance must
/// not run two forwards at once; make one per thread if needed (they can share a source).
public final class Transformer {
    public let config: ModelConfig
    public var matmul: MatMul
    let source: TensorSource  // keeps the mapping (or buffer) alive

    struct Norm {
        let weight: UnsafePointer<Float>  // (d)
        let bias: UnsafePointer<Float>?   // (d), layer norm only
    }

    struct Layer {
        let attnNorm: Norm
        let qkv: Weight   // (d, 3d)
        let out: Weight   // (d, d)
        let mlpNorm: Norm
        let up: Weight    // (d, d_ff)
        let down: Weight  // (d_ff, d)
    }

    let embed: UnsafePointer<Float>        // (V, d)
    let posEmbed: UnsafePointer<Float>?    // (context, d), learned positions only
    let layers: [Layer]
    let finalNorm: Norm
    let head: Weight                       // (d, V) — Eᵀ when tied — or (d, 1) for the binary head
    let headBias: UnsafePointer<Float>?    // (1), binary head only
    let ropeCos: [Float], ropeSin: [Float] // (context, dh/2)

    public var outputSize: Int { config.head == .tokens ? config.vocabSize : 1 }

    public init(config: ModelConfig, source: TensorSource, matmul: MatMul = MatMul()) throws {
        try config.validate()
        self.config = config
        self.source = source
        self.matmul = matmul
        let d = config.dModel, c = config
        func tensor(_ name: String, _ shape: [Int]) throws -> UnsafePointer<Float> { try source.float32(name, shape: shape) }
        func norm(_ prefix: String) throws -> Norm {
            Norm(weight: try tensor("\(prefix).weight", [d]),
                 bias: c.norm == .layernorm ? try tensor("\(prefix).bias", [d]) : nil)
        }
        embed = try tensor("embed.weight", [c.vocabSize, d])
        posEmbed = c.positions == .learned ? try tensor("pos_embed.weight", [c.contextLength, d]) : nil
        var layers: [Layer] = []
        for l in 0..<c.nLayers {
            let p = "layers.\(l)"
            layers.append(Layer(
                attnNorm: try norm("\(p).attn_norm"),
                qkv: Weight(rows: d, cols: 3 * d, raw: try tensor("\(p).attn.qkv.weight", [d, 3 * d])),
                out: Weight(rows: d, cols: d, raw: try tensor("\(p).attn.out.weight", [d, d])),
                mlpNorm: try norm("\(p).mlp_norm"),
                up: Weight(rows: d, cols: c.dFF, raw: try tensor("\(p).mlp.up.weight", [d, c.dFF])),
                down: Weight(rows: c.dFF, cols: d, raw: try tensor("\(p).mlp.down.weight", [c.dFF, d]))))
        }
        self.layers = layers
        finalNorm = try norm("final_norm")
        switch c.head {
        case .tokens where c.tiedEmbeddings:
            head = Weight(rows: d, cols: c.vocabSize, raw: embed, transposed: true)
            headBias = nil
        case .tokens:
            head = Weight(rows: d, cols: c.vocabSize, raw: try tensor("head.weight", [d, c.vocabSize]))
            headBias = nil
        case .binary:
            head = Weight(rows: d, cols: 1, raw: try tensor("head.weight", [d, 1]))
            headBias = try tensor("head.bias", [1])
        }
        if c.positions == .rotary {
            (ropeCos, ropeSin) = Ops.rotaryTables(length: c.contextLength, headDim: c.headDim, theta: c.ropeTheta)
        } else {
            (ropeCos, ropeSin) = ([], [])
        }
    }

    /// Loads `config.json` and `model.safetensors` from a model directory, validating
    /// everything: shapes against the config, no missing or unexpected tensors, no NaN or
    /// infinite weights. Errors name the file and the problem.
    public static func load(directory: String, matmul: MatMul = MatMul()) throws -> Transformer {
        guard Files.isDirectory(directory) else {
            if Files.exists(directory) {
                throw UnmaskError("\(directory) is a file, not a directory; a model is a directory holding config.json and model.safetensors")
            }
            throw UnmaskError("model directory \(directory) does not exist")
        }
        guard Files.exists(directory + "/config.json") else {
            throw UnmaskError("\(directory) is not a model directory: it has no config.json")
        }
        let config = try ModelConfig.load(path: directory + "/config.json")
        let path = directory + "/model.safetensors"
        let file = try SafetensorsFile(path: path)
        let expected = config.tensorShapes
        for t in file.tensors where !expected.contains(where: { $0.name.utf8.elementsEqual(t.name.utf8) }) {
            throw UnmaskError("\(path): unexpected tensor \(t.name) (not in this config)")
        }
        for t in expected {
            let p = try file.float32(t.name, shape: t.shape)
            let n = t.shape.reduce(1, *)
            for i in 0..<n where !p[i].isFinite {
                throw UnmaskError("\(path): tensor \(t.name) holds a non-finite value (\(p[i])) at index \(i)")
            }
        }
        return try Transformer(config: config, source: file, matmul: matmul)
    }

    // MARK: Forward

    /// Workspace, grown on demand and reused across calls.
    var capacityRows = 0
    var x: [Float] = []       // (B·L, d)      residual stream
    var h: [Float] = []       // (B·L, d)      normed input of a sublayer
    var qkvBuf: [Float] = []  // (B·L, 3d)     queries | keys | values
    var attn: [Float] = []    // (B·L, d)      attention output, heads side by side
    var ff: [Float] = []      // (B·L, d_ff)   MLP hidden
    var scores: [Float] = []  // (L, L)        one head's attention matrix

    func reserve(rows: Int, length: Int) {
        let d = config.dModel
        if rows > capacityRows {
            x = [Float](repeating: 0, count: rows * d)
            h = x
            attn = x
            qkvBuf = [Float](repeating: 0, count: rows * 3 * d)
            ff = [Float](repeating: 0, count: rows * config.dFF)
            capacityRows = rows
        }
        // One (L, L) score buffer per thread (attention spreads heads over the threads).
        let scoreFloats = length * length * matmul.threads
        if scores.count < scoreFloats { scores = [Float](repeating: 0, count: scoreFloats) }
    }

    /// Runs the network on `ids` (batch, length), row-major, and returns the head's output
    /// at the requested flat positions (b·length + i), in that order: (positions.count,
    /// outputSize). `positions == nil` means every position. Only the requested rows go
    /// through the final norm and the head — the vocabulary projection is the largest
    /// matrix of a small model, and the first-hitting sampler needs one row per call.
    public func forward(ids: [Int], batch: Int, length: Int, positions: [Int]? = nil) throws -> [Float] {
        let c = config, d = c.dModel
        guard batch >= 1, length >= 1 else { throw UnmaskError("forward: empty batch") }
        guard length <= c.contextLength else {
            throw UnmaskError("sequence length \(length) exceeds the model's context of \(c.contextLength)")
        }
        guard ids.count == batch * length else { throw UnmaskError("forward: \(ids.count) ids for a \(batch)x\(length) batch") }
        for id in ids where id < 0 || id >= c.vocabSize {
            throw UnmaskError("token id \(id) is outside the model's vocabulary (0..<\(c.vocabSize))")
        }
        let rows = batch * length
        let wanted = positions ?? Array(0..<rows)
        for p in wanted where p < 0 || p >= rows { throw UnmaskError("forward: position \(p) outside 0..<\(rows)") }
        reserve(rows: rows, length: length)

        x.withUnsafeMutableBufferPointer { xb in
        h.withUnsafeMutableBufferPointer { hb in
        qkvBuf.withUnsafeMutableBufferPointer { qb in
        attn.withUnsafeMutableBufferPointer { ab in
        ff.withUnsafeMutableBufferPointer { fb in
        scores.withUnsafeMutableBufferPointer { sb in
            let X = xb.baseAddress!, H = hb.baseAddress!, QKV = qb.baseAddress!, A = ab.baseAddress!
            let F = fb.baseAddress!, S = sb.baseAddress!
            // Embedding (+ learned positions).
            for r in 0..<rows {
                (X + r * d).update(from: embed + ids[r] * d, count: d)
                if let pe = posEmbed {
                    let row = pe + (r % length) * d
                    for i in 0..<d { X[r * d + i] += row[i] }
                }
            }
            for layer in layers {
                applyNorm(layer.attnNorm, X, H, rows: rows)
                matmul.linear(m: rows, a: H, lda: d, weight: layer.qkv, c: QKV, ldc: 3 * d)
                attention(QKV, A, S, batch: batch, length: length)
                matmul.linear(m: rows, a: A, lda: d, weight: layer.out, c: X, ldc: d, accumulate: true)
                applyNorm(layer.mlpNorm, X, H, rows: rows)
                matmul.linear(m: rows, a: H, lda: d, weight: layer.up, c: F, ldc: c.dFF)
                switch c.activation {
                case .gelu: Ops.gelu(F, count: rows * c.dFF)
                case .silu: Ops.silu(F, count: rows * c.dFF)
                }
                matmul.linear(m: rows, a: F, lda: c.dFF, weight: layer.down, c: X, ldc: d, accumulate: true)
            }
            // Gather the requested rows, normalise them, project.
            for (j, p) in wanted.enumerated() { (A + j * d).update(from: X + p * d, count: d) }
            applyNorm(finalNorm, A, H, rows: wanted.count)
        } } } } } }

        var out = [Float](repeating: 0, count: wanted.count * outputSize)
        h.withUnsafeBufferPointer { hb in
            out.withUnsafeMutableBufferPointer { ob in
                matmul.linear(m: wanted.count, a: hb.baseAddress!, lda: d, weight: head, c: ob.baseAddress!, ldc: outputSize)
            }
        }
        if let b = headBias { for i in 0..<out.count { out[i] += b[0] } }
        return out
    }

    func applyNorm(_ n: Norm, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows: Int) {
        let eps = Float(config.normEps)
        switch config.norm {
        case .rmsnorm: Ops.rmsNorm(src, dst, rows: rows, d: config.dModel, weight: n.weight, eps: eps)
        case .layernorm: Ops.layerNorm(src, dst, rows: rows, d: config.dModel, weight: n.weight, bias: n.bias!, eps: eps)
        }
    }

    /// Multi-head attention for every sequence and head. qkv: (B·L, 3d) → out: (B·L, d).
    /// Rotary embedding is applied to queries and keys in place first.
    func attention(_ qkv: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>,
                   batch: Int, length L: Int) {
        let d = config.dModel, dh = config.headDim, ld = 3 * d
        let causal = config.attention == .causal
        if config.positions == .rotary {
            ropeCos.withUnsafeBufferPointer { cb in
                ropeSin.withUnsafeBufferPointer { sb in
                    for r in 0..<(batch * L) {
                        let pos = r % L
                        for hd in 0..<config.nHeads {
                            Ops.rotate(qkv + r * ld + hd * dh, headDim: dh, pos: pos, cos: cb.baseAddress!, sin: sb.baseAddress!)
                            Ops.rotate(qkv + r * ld + d + hd * dh, headDim: dh, pos: pos, cos: cb.baseAddress!, sin: sb.baseAddress!)
                        }
                    }
                }
            }
        }
        let scale = 1 / Float(dh).squareRoot()
        // One (sequence, head) pair: its products are a few MFLOP, too small to split well,
        // so with several threads the pairs are spread over them instead, each thread with
        // its own (L, L) score buffer and single-threaded products. Every pair is computed
        // the same way whatever the thread count: the results are bit-identical.
        func head(_ unit: Int, _ s: UnsafeMutablePointer<Float>, _ mm: MatMul) {
            let b = unit / config.nHeads, hd = unit % config.nHeads
            let base = qkv + b * L * ld
            let q = base + hd * dh, k = base + d + hd * dh, v = base + 2 * d + hd * dh
            // scores (L, L) = Q·Kᵀ
            mm.gemm(transB: true, m: L, n: L, k: dh, a: q, lda: ld, b: k, ldb: ld, c: s, ldc: L)
            for i in 0..<L {
                Ops.softmaxRow(s + i * L, valid: causal ? i + 1 : L, count: L, scale: scale)
            }
            // out (L, dh) = P·V, written into this head's columns
            mm.gemm(m: L, n: dh, k: L, a: s, lda: L, b: v, ldb: ld, c: out + b * L * d + hd * dh, ldc: d)
        }
        let units = batch * config.nHeads
        if min(matmul.threads, units) <= 1 {
            for unit in 0..<units { head(unit, s, matmul) }
            return
        }
        var single = matmul
        single.threads = 1
        if matmul.backend == .openblas { OpenBLAS.setThreads(1) }  // before the workers call it
        WorkerPool.shared.forEachRange(units, threads: matmul.threads) { part, range in
            for unit in range { head(unit, s + part * L * L, single) }
        }
    }
}
