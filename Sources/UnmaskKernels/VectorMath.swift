#if canImport(Glibc)
import Glibc
#endif
// Vectorised exp, and the activations built on it.
//
// Why: a forward pass calls exp/tanh for every MLP hidden unit and every attention score
// (~1.2 M calls per 128-token pass of the standard model); libm's scalar expf/tanhf cost
// more than all the matrix products together. This exp works on 16 lanes at a time.
//
// Method (Cody–Waite range reduction + polynomial): x = n·ln2 + r with n = round(x/ln2),
// |r| ≤ ln2/2; e^r by its degree-6 Taylor polynomial (truncation error < 2e-8 relative on
// that interval), then multiply by 2^n built directly in the exponent bits. Inputs are
// clamped to [−87, 88], so the result is always a finite normal float (e^−87 ≈ 1.6e−38).
// Maximum relative error against Double exp: ~2e-7 (tested).
//
// Every element goes through the same vector code — tails are padded into a vector, not
// handled by a scalar loop — so an element's result never depends on where it sits.

public enum VectorMath {
    public typealias V = SIMD16<Float>

    @inline(__always)
    public static func exp(_ x: V) -> V {
        let clamped = pointwiseMin(pointwiseMax(x, V(repeating: -87)), V(repeating: 88))
        // Round x/ln2 to an integer with the 1.5·2²³ trick: after the addition the float's
        // low mantissa bits hold round-to-nearest(x/ln2) in two's complement. (Swift's
        // generic SIMD rounding and float→int conversions go lane by lane; this is 2 ops.)
        let shifted = V(repeating: 12582912).addingProduct(clamped, V(repeating: 1.4426950408889634))
        let n = shifted - 12582912
        // ln2 split in two so n·ln2Hi is exact in float.
        var r = clamped.addingProduct(n, V(repeating: -0.693359375))
        r = r.addingProduct(n, V(repeating: 2.12194440e-4))
        var p = V(repeating: 1.0 / 720)
        p = V(repeating: 1.0 / 120).addingProduct(p, r)
        p = V(repeating: 1.0 / 24).addingProduct(p, r)
        p = V(repeating: 1.0 / 6).addingProduct(p, r)
        p = V(repeating: 0.5).addingProduct(p, r)
        p = V(repeating: 1).addingProduct(p, r)
        p = V(repeating: 1).addingProduct(p, r)
        let nInt = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let bits = (nInt &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: V.self)
    }

    /// Applies `f` to `count` floats in place, 16 at a time (the tail padded).
    @inline(__always)
    static func map(_ x: UnsafeMutablePointer<Float>, count: Int, _ f: (V) -> V) {
        let raw = UnsafeMutableRawPointer(x)
        var i = 0
        while i + 16 <= count {
            raw.storeBytes(of: f(raw.loadUnaligned(fromByteOffset: i * 4, as: V.self)), toByteOffset: i * 4, as: V.self)
            i += 16
        }
        if i < count {
            var tail = V()
            for j in 0..<(count - i) { tail[j] = x[i + j] }
            let y = f(tail)
            for j in 0..<(count - i) { x[i + j] = y[j] }
        }
    }

    /// exp in place.
    public static func exp(_ x: UnsafeMutablePointer<Float>, count: Int) {
        map(x, count: count) { exp($0) }
    }

    /// GELU, tanh form, in place: 0.5·x·(1 + tanh(u)) = x·σ(2u) = x / (1 + e^(−2u)),
    /// u = √(2/π)·(x + 0.044715·x³).
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        map(x, count: count) { v in
            let u = 0.7978845608028654 * v.addingProduct(0.044715 * v * v, v)
            return v / (1 + exp(-2 * u))
        }
    }

    /// SiLU in place: x·σ(x) = x / (1 + e^(−x)).
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        map(x, count: count) { v in v / (1 + exp(-v)) }
    }
}

extension VectorMath {
    /// du ← du · GELU′(x), tanh form: with u = c·(x + 0.044715x³) and t = tanh(u) =
    /// 1 − 2/(e^{2u} + 1): GELU′ = ½(1 + t) + ½x(1 − t²)·c·(1 + 3·0.044715x²).
    public static func geluBackward(_ du: UnsafeMutablePointer<Float>, pre: UnsafePointer<Float>, count: Int) {
        let c: Float = 0.7978845608028654
        zipMap(du, pre, count: count) { g, x in
            let x2: V = x * x
            let inner: V = x.addingProduct(x2 * 0.044715, x)
            let u: V = inner * c
            let e: V = exp(u * 2)
            let t: V = 1 - 2 / (e + 1)
            let slope: V = V(repeating: 1).addingProduct(x2, V(repeating: 3 * 0.044715))
            let left: V = (1 + t) * 0.5
            let right: V = x * (1 - t * t) * slope * (0.5 * c)
            return g * (left + right)
        }
    }

    /// du ← du · SiLU′(x) = du · σ(x)·(1 + x·(1 − σ(x))).
    public static func siluBackward(_ du: UnsafeMutablePointer<Float>, pre: UnsafePointer<Float>, count: Int) {
        zipMap(du, pre, count: count) { g, x in
            let s = 1 / (1 + exp(-x))
            return g * s * (1 + x * (1 - s))
        }
    }

    /// a[i] ← f(a[i], b[i]), 16 lanes at a time, the tail padded (so every element goes
    /// through the same vector code).
    @inline(__always)
    static func zipMap(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, count: Int, _ f: (V, V) -> V) {
        let ra = UnsafeMutableRawPointer(a), rb = UnsafeRawPointer(b)
        var i = 0
        while i + 16 <= count {
            let y = f(ra.loadUnaligned(fromByteOffset: i * 4, as: V.self), rb.loadUnaligned(fromByteOffset: i * 4, as: V.self))
            ra.storeBytes(of: y, toByteOffset: i * 4, as: V.self)
            i += 16
        }
        if i < count {
            var ta = V(), tb = V()
            for j in 0..<(count - i) { ta[j] = a[i + j]; tb[j] = b[i + j] }
            let y = f(ta, tb)
            for j in 0..<(count - i) { a[i + j] = y[j] }
        }
    }

    /// Softmax cross-entropy on one row of logits, in place: returns −log p(target) and
    /// leaves weight·(p − onehot(target)) in the row (the logits' gradient). `excluded`
    /// gets probability 0 (the mask token). The log-sum-exp is accumulated in Double.
    public static func softmaxCrossEntropy(_ row: UnsafeMutablePointer<Float>, count: Int, target: Int,
                                           excluded: Int?, weight: Float) -> Double {
        if let ex = excluded { row[ex] = -.infinity }
        var mx = -Float.infinity
        for v in 0..<count { mx = max(mx, row[v]) }
        let targetLogit = row[target]
        for v in 0..<count { row[v] -= mx }
        exp(row, count: count)  // e^−∞ clamps to ~1e-38: treated as 0 below
        if let ex = excluded { row[ex] = 0 }
        var sum = 0.0
        for v in 0..<count { sum += Double(row[v]) }
        let scale = weight / Float(sum)
        for v in 0..<count { row[v] *= scale }
        row[target] -= weight
        return log(sum) + Double(mx) - Double(targetLogit)
    }
}

extension VectorMath {
    /// Softmax over the first `valid` entries of a row, in place, after multiplying them
    /// by `scale`; entries past `valid` (masked by causal attention) become 0. The row max
    /// is subtracted first, so large logits cannot overflow.
    ///
    /// Performance: attention calls this for every score row (L rows of L per head, 24·L
    /// rows per forward of the standard model). Written scalar it was 6% of a forward;
    /// here max, shift-and-exp, sum and scale are each one pass of 16 lanes. The tail is
    /// padded (−∞ for the max, 0 for the sum), so every row sums in the same order —
    /// lane-wise partial sums, then the 16 lanes in a fixed order — whatever else runs.
    public static func softmaxRow(_ x: UnsafeMutablePointer<Float>, valid: Int, count: Int, scale: Float = 1) {
        // No lane of a loop-carried vector is ever written on its own: that made the
        // compiler keep the accumulators on the stack (store-forwarding stalls made this
        // 5% of a forward). Tails are loaded padded instead.
        var vmax = V(repeating: -.infinity)
        var i = 0
        while i < valid {
            let v = loadPadded(x + i, count: min(16, valid - i), pad: -.infinity)
            vmax.replace(with: v, where: v .> vmax)
            i += 16
        }
        let shift = vmax.max() * scale
        var vsum = V()
        i = 0
        while i < valid {
            let n = min(16, valid - i)
            // Padding lanes hold −∞: e^−∞ clamps to ~1e-38, so they are zeroed before the sum.
            var e = exp(loadPadded(x + i, count: n, pad: -.infinity) * scale - shift)
            if n < 16 { e.replace(with: 0, where: laneIndex .>= SIMD16<Int32>(repeating: Int32(n))) }
            vsum += e
            storePartial(e, to: x + i, count: n)
            i += 16
        }
        let inv = 1 / vsum.sum()
        i = 0
        while i < valid {
            let n = min(16, valid - i)
            storePartial(loadPadded(x + i, count: n, pad: 0) * inv, to: x + i, count: n)
            i += 16
        }
        if valid < count { (x + valid).update(repeating: 0, count: count - valid) }
    }

    static let laneIndex = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

    /// 16 floats from p, or the first `count` of them with `pad` after.
    @inline(__always)
    public static func loadPadded(_ p: UnsafePointer<Float>, count: Int, pad: Float) -> V {
        if count >= 16 { return UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        var v = V(repeating: pad)
        for j in 0..<count { v[j] = p[j] }
        return v
    }

    /// Stores the first `count` lanes of v (all 16 when count ≥ 16).
    @inline(__always)
    public static func storePartial(_ v: V, to p: UnsafeMutablePointer<Float>, count: Int) {
        if count >= 16 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self); return }
        for j in 0..<count { p[j] = v[j] }
    }
}
