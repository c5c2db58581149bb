import UnmaskKernels

/// RMSNorm and LayerNorm over rows of d, forward and backward.
///   RMSNorm:   y = x·r·w,            r = 1/√(mean(x²) + ε)
///   LayerNorm: y = (x − μ)·r·w + b,  r = 1/√(mean((x − μ)²) + ε)
/// One formula serves both: RMSNorm is LayerNorm with μ = 0 and no bias.
enum NormLayer {
    typealias V = SIMD16<Float>

    /// x, y: (rows, d). Saves r and μ per row into `rstd` and `mean` (rows) when given:
    /// the backward pass needs them, inference does not.
    static func forward(_ kind: ModelConfig.Norm, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int, d: Int,
                        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, eps: Float,
                        rstd: UnsafeMutablePointer<Float>? = nil, mean: UnsafeMutablePointer<Float>? = nil, threads: Int) {
        let centred = kind == .layernorm
        Parallel.rows(rows, width: d, threads: threads) { range in
            for r in range {
                let xr = x + r * d, yr = y + r * d
                let mu = centred ? rowSum(xr, d, minus: 0) / Float(d) : 0
                let inv = 1 / (rowSumSquares(xr, d, minus: mu) / Float(d) + eps).squareRoot()
                scaleRow(xr, yr, d, minus: mu, times: inv, weight: weight, bias: bias)
                rstd?[r] = inv
                mean?[r] = mu
            }
        }
    }

    /// Qwen3's query/key norms: RMSNorm over each head vector of the query and key parts of
    /// the fused qkv rows (R, (H + 2·KV)·dh), in place, with one weight vector (dh) for the
    /// queries and one for the keys; the values are left alone. Each head vector goes
    /// through the same `rowSumSquares`/`scaleRow` as a whole row of `forward`.
    static func headsForward(qkv: UnsafeMutablePointer<Float>, rows: Int, headDim dh: Int, heads: Int, kvHeads: Int,
                             qWeight: UnsafePointer<Float>, kWeight: UnsafePointer<Float>, eps: Float, threads: Int) {
        let ld = (heads + 2 * kvHeads) * dh
        Parallel.rows(rows, width: ld, threads: threads) { range in
            for r in range {
                for h in 0..<(heads + kvHeads) {
                    let v = qkv + r * ld + h * dh
                    let inv = 1 / (rowSumSquares(v, dh, minus: 0) / Float(dh) + eps).squareRoot()
                    scaleRow(v, v, dh, minus: 0, times: inv, weight: h < heads ? qWeight : kWeight, bias: nil)
                }
            }
        }
    }

    /// Rows per block of the weight gradient's partial sums. Fixed, not per thread: the
    /// blocks are added in block order afterwards, so the gradient is the same for any
    /// thread count (a per-thread partial would make it depend on the split).
    static let gradientBlockRows = 32

    /// Floats of scratch `backward` needs: two (blocks, d) tables of partial sums.
    static func scratchFloats(rows: Int, d: Int) -> Int { 2 * ((rows + gradientBlockRows - 1) / gradientBlockRows) * d }

    /// With x̂ = (x − μ)·r and g = dy·w:
    ///   RMSNorm:   dx = r·(g − x̂·mean(g·x̂))
    ///   LayerNorm: dx = r·(g − mean(g) − x̂·mean(g·x̂))
    ///   dw += Σ_rows dy·x̂,  db += Σ_rows dy
    /// dx (rows, d) is overwritten, or added to when `accumulate` (the residual stream's
    /// gradient collects both branches). dy, x: (rows, d); rstd, mean: (rows).
    static func backward(_ kind: ModelConfig.Norm, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                         rstd: UnsafePointer<Float>, mean: UnsafePointer<Float>, rows: Int, d: Int,
                         weight: UnsafePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
                         dx: UnsafeMutablePointer<Float>, accumulate: Bool, scratch: UnsafeMutablePointer<Float>, threads: Int) {
        let centred = kind == .layernorm
        let blockRows = gradientBlockRows
        let blocks = (rows + blockRows - 1) / blockRows
        let partialW = scratch, partialB = scratch + blocks * d   // (blocks, d) each
        partialW.update(repeating: 0, count: 2 * blocks * d)
        Parallel.rows(blocks, width: blockRows * d, threads: threads) { range in
            for block in range {
                let pw = partialW + block * d, pb = partialB + block * d
                for row in (block * blockRows)..<min(rows, (block + 1) * blockRows) {
                    let dyr = dy + row * d, xr = x + row * d, dxr = dx + row * d
                    let r = rstd[row], mu = mean[row]
                    var meanG: Float = 0, meanGX: Float = 0
                    for i in 0..<d {
                        let xhat = (xr[i] - mu) * r
                        let g = dyr[i] * weight[i]
                        meanG += g
                        meanGX += g * xhat
                        pw[i] += dyr[i] * xhat
                    }
                    if centred { for i in 0..<d { pb[i] += dyr[i] } }
                    meanG = centred ? meanG / Float(d) : 0
                    meanGX /= Float(d)
                    for i in 0..<d {
                        let xhat = (xr[i] - mu) * r
                        let v = r * (dyr[i] * weight[i] - meanG - xhat * meanGX)
                        dxr[i] = accumulate ? dxr[i] + v : v
                    }
                }
            }
        }
        for block in 0..<blocks {
            for i in 0..<d { dWeight[i] += partialW[block * d + i] }
            if let dBias { for i in 0..<d { dBias[i] += partialB[block * d + i] } }
        }
    }

    // Row helpers, 16 lanes at a time; the tail is padded with values that add nothing
    // (0, or μ before subtracting μ), so every element takes the same arithmetic.

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ i: Int, _ n: Int, pad: Float) -> V {
        if i + 16 <= n { return UnsafeRawPointer(p + i).loadUnaligned(as: V.self) }
        var v = V(repeating: pad)
        for j in 0..<(n - i) { v[j] = p[i + j] }
        return v
    }

    @inline(__always)
    static func rowSum(_ x: UnsafePointer<Float>, _ d: Int, minus mu: Float) -> Float {
        var acc = V()
        var i = 0
        while i < d { acc += load(x, i, d, pad: mu) - mu; i += 16 }
        return acc.sum()
    }

    @inline(__always)
    static func rowSumSquares(_ x: UnsafePointer<Float>, _ d: Int, minus mu: Float) -> Float {
        var acc = V()
        var i = 0
        while i < d { let c = load(x, i, d, pad: mu) - mu; acc = acc.addingProduct(c, c); i += 16 }
        return acc.sum()
    }

    /// y = (x − μ)·inv·w (+ b)
    @inline(__always)
    static func scaleRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ d: Int, minus mu: Float, times inv: Float,
                         weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?) {
        var i = 0
        while i < d {
            var v = (load(x, i, d, pad: 0) - mu) * inv * load(weight, i, d, pad: 0)
            if let bias { v += load(bias, i, d, pad: 0) }
            if i + 16 <= d {
                UnsafeMutableRawPointer(y + i).storeBytes(of: v, as: V.self)
            } else {
                for j in 0..<(d - i) { y[i + j] = v[j] }
            }
            i += 16
        }
    }
}
