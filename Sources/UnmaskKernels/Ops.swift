#if canImport(Glibc)
import Glibc
#endif

// The transformer's non-GEMM operations, forward direction. All work in place or into a
// caller-owned buffer; shapes are in the comments as (rows, cols), row-major.
// The backward passes live with training; these are what inference needs.

public enum Ops {
    /// RMSNorm: y = x / sqrt(mean(x²) + eps) · weight.   x, y: (rows, d); weight: (d)
    public static func rmsNorm(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, d: Int,
                               weight: UnsafePointer<Float>, eps: Float) {
        for r in 0..<rows {
            let xr = x + r * d, yr = y + r * d
            var ss: Float = 0
            for i in 0..<d { ss = ss.addingProduct(xr[i], xr[i]) }
            let inv = 1 / (ss / Float(d) + eps).squareRoot()
            for i in 0..<d { yr[i] = xr[i] * inv * weight[i] }
        }
    }

    /// LayerNorm: y = (x − mean) / sqrt(var + eps) · weight + bias.   x, y: (rows, d)
    public static func layerNorm(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, d: Int,
                                 weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, eps: Float) {
        for r in 0..<rows {
            let xr = x + r * d, yr = y + r * d
            var mean: Float = 0
            for i in 0..<d { mean += xr[i] }
            mean /= Float(d)
            var v: Float = 0
            for i in 0..<d { let c = xr[i] - mean; v = v.addingProduct(c, c) }
            let inv = 1 / (v / Float(d) + eps).squareRoot()
            for i in 0..<d { yr[i] = (xr[i] - mean) * inv * weight[i] + bias[i] }
        }
    }

    /// GELU, tanh approximation (as GPT-2): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). In place.
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        VectorMath.gelu(x, count: count)
    }

    /// SiLU: x·σ(x). In place.
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        VectorMath.silu(x, count: count)
    }

    /// Row-wise softmax over the first `valid` columns of a row; columns past `valid`
    /// become 0. Subtracts the row max first, so large logits cannot overflow. `scale`
    /// multiplies the logits first (attention's 1/√dh), saving a pass.
    public static func softmaxRow(_ x: UnsafeMutablePointer<Float>, valid: Int, count: Int, scale: Float = 1) {
        var mx = -Float.infinity
        for i in 0..<valid { mx = max(mx, x[i]) }
        let shift = mx * scale
        for i in 0..<valid { x[i] = x[i] * scale - shift }
        VectorMath.exp(x, count: valid)
        var sum: Float = 0
        for i in 0..<valid { sum += x[i] }
        let inv = 1 / sum
        for i in 0..<valid { x[i] *= inv }
        for i in valid..<count { x[i] = 0 }
    }

    /// Rotary position embedding tables for positions 0..<length and head size dh:
    /// pairs (i, i + dh/2) rotate by angle pos·θ^(−2i/dh) ("rotate half", GPT-NeoX layout).
    /// Returns (cos, sin), each (length, dh/2).
    public static func rotaryTables(length: Int, headDim dh: Int, theta: Double) -> (cos: [Float], sin: [Float]) {
        let half = dh / 2
        var c = [Float](repeating: 0, count: length * half), s = c
        for pos in 0..<length {
            for i in 0..<half {
                let angle = Double(pos) * pow(theta, -2.0 * Double(i) / Double(dh))
                c[pos * half + i] = Float(cos(angle))
                s[pos * half + i] = Float(sin(angle))
            }
        }
        return (c, s)
    }

    /// Applies rotary embedding in place to one head vector of size dh at position `pos`.
    @inline(__always)
    public static func rotate(_ v: UnsafeMutablePointer<Float>, headDim dh: Int, pos: Int,
                              cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        let half = dh / 2
        let c = cos + pos * half, s = sin + pos * half
        for i in 0..<half {
            let a = v[i], b = v[i + half]
            v[i] = a * c[i] - b * s[i]
            v[i + half] = b * c[i] + a * s[i]
        }
    }
}
