#if canImport(Glibc)
import Glibc
#endif

/// The naive forward pass in Double, kept as the algorithmic reference: plain loops over
/// the same math as Transformer.forward, no GEMM, no workspace, no packing. Tests compare
/// the fast forward against it, and training's gradient check differentiates it
/// numerically. Returns the head's output for every position, (B·L, outputSize).
/// `branchFactors`, for training's dropout check: per block l, [2l] multiplies the
/// attention output and [2l+1] the MLP output, (B·L, d) each, before the residual add.
public func referenceForward(config c: ModelConfig, source: TensorSource, ids: [Int], batch B: Int, length L: Int,
                             branchFactors: [[Double]]? = nil) throws -> [Double] {
    let d = c.dModel, H = c.nHeads, dh = c.headDim
    func t(_ name: String, _ shape: [Int]) throws -> [Double] {
        let p = try source.float32(name, shape: shape)
        return (0..<shape.reduce(1, *)).map { Double(p[$0]) }
    }
    func norm(_ x: [Double], _ prefix: String) throws -> [Double] {
        let w = try t("\(prefix).weight", [d])
        let b = c.norm == .layernorm ? try t("\(prefix).bias", [d]) : []
        var y = x
        for r in 0..<(x.count / d) {
            let row = Array(x[(r * d)..<((r + 1) * d)])
            if c.norm == .rmsnorm {
                let inv = 1 / (row.map { $0 * $0 }.reduce(0, +) / Double(d) + c.normEps).squareRoot()
                for i in 0..<d { y[r * d + i] = row[i] * inv * w[i] }
            } else {
                let mean = row.reduce(0, +) / Double(d)
                let v = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
                let inv = 1 / (v + c.normEps).squareRoot()
                for i in 0..<d { y[r * d + i] = (row[i] - mean) * inv * w[i] + b[i] }
            }
        }
        return y
    }
    func matmul(_ x: [Double], _ rows: Int, _ w: [Double], _ k: Int, _ n: Int) -> [Double] {
        var y = [Double](repeating: 0, count: rows * n)
        for r in 0..<rows { for j in 0..<n { var s = 0.0; for p in 0..<k { s += x[r * k + p] * w[p * n + j] }; y[r * n + j] = s } }
        return y
    }
    func rope(_ v: inout [Double], _ offset: Int, _ pos: Int) {
        let half = dh / 2
        for i in 0..<half {
            let angle = Double(pos) * pow(c.ropeTheta, -2.0 * Double(i) / Double(dh))
            let a = v[offset + i], b = v[offset + i + half]
            v[offset + i] = a * cos(angle) - b * sin(angle)
            v[offset + i + half] = b * cos(angle) + a * sin(angle)
        }
    }
    let rows = B * L
    /// y·W (+ b when the config has linear biases), W named `name`.weight, (nIn, nOut).
    func linear(_ y: [Double], _ name: String, _ nIn: Int, _ nOut: Int) throws -> [Double] {
        var out = matmul(y, rows, try t("\(name).weight", [nIn, nOut]), nIn, nOut)
        if c.linearBias {
            let b = try t("\(name).bias", [nOut])
            for r in 0..<rows { for j in 0..<nOut { out[r * nOut + j] += b[j] } }
        }
        return out
    }
    let embed = try t("embed.weight", [c.vocabSize, d])
    var x = [Double](repeating: 0, count: rows * d)
    let pos = c.positions == .learned ? try t("pos_embed.weight", [c.contextLength, d]) : []
    for r in 0..<rows { for i in 0..<d { x[r * d + i] = embed[ids[r] * d + i] + (pos.isEmpty ? 0 : pos[(r % L) * d + i]) } }
    for l in 0..<c.nLayers {
        let p = "layers.\(l)"
        var qkv = try linear(try norm(x, "\(p).attn_norm"), "\(p).attn.qkv", d, 3 * d)
        if c.positions == .rotary {
            for r in 0..<rows { for h in 0..<H { rope(&qkv, r * 3 * d + h * dh, r % L); rope(&qkv, r * 3 * d + d + h * dh, r % L) } }
        }
        var att = [Double](repeating: 0, count: rows * d)
        for b in 0..<B { for h in 0..<H { for i in 0..<L {
            let valid = c.attention == .causal ? i + 1 : L
            var s = (0..<valid).map { j -> Double in
                var dot = 0.0
                for e in 0..<dh { dot += qkv[(b * L + i) * 3 * d + h * dh + e] * qkv[(b * L + j) * 3 * d + d + h * dh + e] }
                return dot / Double(dh).squareRoot()
            }
            let mx = s.max()!
            s = s.map { exp($0 - mx) }
            let sum = s.reduce(0, +)
            for e in 0..<dh {
                var o = 0.0
                for j in 0..<valid { o += s[j] / sum * qkv[(b * L + j) * 3 * d + 2 * d + h * dh + e] }
                att[(b * L + i) * d + h * dh + e] = o
            }
        } } }
        let o = try linear(att, "\(p).attn.out", d, d)
        for i in 0..<x.count { x[i] += o[i] * (branchFactors?[2 * l][i] ?? 1) }
        var u = try linear(try norm(x, "\(p).mlp_norm"), "\(p).mlp.up", d, c.dFF)
        for i in 0..<u.count {
            let v = u[i]
            u[i] = c.activation == .gelu ? 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))) : v / (1 + exp(-v))
        }
        let dn = try linear(u, "\(p).mlp.down", c.dFF, d)
        for i in 0..<x.count { x[i] += dn[i] * (branchFactors?[2 * l + 1][i] ?? 1) }
    }
    x = try norm(x, "final_norm")
    switch c.head {
    case .binary:
        let w = try t("head.weight", [d, 1]), b = try t("head.bias", [1])
        return matmul(x, rows, w, d, 1).map { $0 + b[0] }
    case .tokens:
        if c.tiedEmbeddings {
            var y = [Double](repeating: 0, count: rows * c.vocabSize)
            for r in 0..<rows { for v in 0..<c.vocabSize { var s = 0.0; for i in 0..<d { s += x[r * d + i] * embed[v * d + i] }; y[r * c.vocabSize + v] = s } }
            return y
        }
        var y = matmul(x, rows, try t("head.weight", [d, c.vocabSize]), d, c.vocabSize)
        if c.headBias {
            let b = try t("head.bias", [c.vocabSize])
            for r in 0..<rows { for v in 0..<c.vocabSize { y[r * c.vocabSize + v] += b[v] } }
        }
        return y
    }
}
