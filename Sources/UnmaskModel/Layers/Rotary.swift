#if canImport(Glibc)
import Glibc
#endif

/// Rotary position embedding (GPT-NeoX "rotate half" layout) and attention's 1/√dh,
/// applied to the queries and keys inside the fused qkv rows, forward and backward.
///
/// Pairs (i, i + dh/2) of every head rotate by the angle pos·θ^(−2i/dh). The queries are
/// also multiplied by the attention scale here, while the row is in registers: the score
/// matrix Q·Kᵀ then needs no extra pass. With learned positions only the scale applies.
struct RotaryLayer {
    let length: Int        // positions the tables cover
    let half: Int          // dh/2
    let cos: [Float]       // (context, dh/2)
    let sin: [Float]       // (context, dh/2)

    init(length: Int, headDim dh: Int, theta: Double) {
        self.length = length
        half = dh / 2
        var c = [Float](repeating: 0, count: length * half), s = c
        for pos in 0..<length {
            for i in 0..<half {
                let angle = Double(pos) * pow(theta, -2.0 * Double(i) / Double(dh))
                c[pos * half + i] = Float(Glibc.cos(angle))
                s[pos * half + i] = Float(Glibc.sin(angle))
            }
        }
        (cos, sin) = (c, s)
    }

    /// qkv (B·L, (heads + 2·kvHeads)·dh), in place: q ← R(pos)·q·scale for the `heads`
    /// query heads and k ← R(pos)·k for the `kvHeads` key heads, pos = offset + row mod L
    /// (offset: the first position of rows that continue a cached text).
    /// `rotary == nil` (learned positions): q ← q·scale only.
    static func forward(_ rotary: RotaryLayer?, qkv: UnsafeMutablePointer<Float>, rows: Int, length L: Int, offset: Int = 0,
                        headDim: Int, heads: Int, kvHeads: Int, scale: Float, threads: Int) {
        apply(rotary, qkv, rows: rows, length: L, offset: offset, headDim: headDim, heads: heads, kvHeads: kvHeads, scale: scale,
              inverse: false, threads: threads)
    }

    /// Gradient of `forward`, in place on dqkv (B·L, 3d) (the values are left alone): a
    /// rotation's transpose is the rotation by the opposite angle, and q's scale is
    /// multiplied in again.
    static func backward(_ rotary: RotaryLayer?, dqkv: UnsafeMutablePointer<Float>, rows: Int, length L: Int, headDim: Int,
                         heads: Int, kvHeads: Int, scale: Float, threads: Int) {
        apply(rotary, dqkv, rows: rows, length: L, offset: 0, headDim: headDim, heads: heads, kvHeads: kvHeads, scale: scale,
              inverse: true, threads: threads)
    }

    private static func apply(_ rotary: RotaryLayer?, _ qkv: UnsafeMutablePointer<Float>, rows: Int, length L: Int, offset: Int,
                              headDim dh: Int,
                              heads: Int, kvHeads: Int, scale: Float, inverse: Bool, threads: Int) {
        let d = heads * dh, ld = (heads + 2 * kvHeads) * dh
        guard let rotary else {
            Parallel.rows(rows, width: d, threads: threads) { range in
                for r in range { for i in 0..<d { qkv[r * ld + i] *= scale } }
            }
            return
        }
        let half = rotary.half
        rotary.cos.withUnsafeBufferPointer { cb in
        rotary.sin.withUnsafeBufferPointer { sb in
            let cosTable = cb.baseAddress!, sinTable = sb.baseAddress!
            Parallel.rows(rows, width: 2 * d, threads: threads) { range in
                for r in range {
                    let pos = offset + r % L
                    let c = cosTable + pos * half, s = sinTable + pos * half
                    for h in 0..<heads {        // queries, with the attention scale
                        rotate(qkv + r * ld + h * dh, half: half, cos: c, sin: s, factor: scale, inverse: inverse)
                    }
                    for h in 0..<kvHeads {      // keys
                        rotate(qkv + r * ld + d + h * dh, half: half, cos: c, sin: s, factor: 1, inverse: inverse)
                    }
                }
            }
        } }
    }

    /// One head vector: (a, b) = (v[i], v[i + half]) ← (a·c − b·s, b·c + a·s)·factor, or
    /// by −angle when `inverse`. 16 pairs at a time when dh/2 allows; the scalar loop does
    /// the same operations in the same order, so either gives the same floats.
    @inline(__always)
    static func rotate(_ v: UnsafeMutablePointer<Float>, half: Int, cos c: UnsafePointer<Float>, sin s: UnsafePointer<Float>,
                       factor: Float, inverse: Bool) {
        typealias V = SIMD16<Float>
        var i = 0
        if half % 16 == 0 {
            let raw = UnsafeMutableRawPointer(v)
            while i < half {
                let a = raw.loadUnaligned(fromByteOffset: i * 4, as: V.self)
                let b = raw.loadUnaligned(fromByteOffset: (i + half) * 4, as: V.self)
                let cv = UnsafeRawPointer(c + i).loadUnaligned(as: V.self)
                var sv = UnsafeRawPointer(s + i).loadUnaligned(as: V.self)
                if inverse { sv = -sv }
                raw.storeBytes(of: (a * cv - b * sv) * factor, toByteOffset: i * 4, as: V.self)
                raw.storeBytes(of: (b * cv + a * sv) * factor, toByteOffset: (i + half) * 4, as: V.self)
                i += 16
            }
            return
        }
        for i in 0..<half {
            let a = v[i], b = v[i + half], cv = c[i], sv = inverse ? -s[i] : s[i]
            v[i] = (a * cv - b * sv) * factor
            v[i + half] = (b * cv + a * sv) * factor
        }
    }
}
