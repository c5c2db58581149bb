#if canImport(Glibc)
import Glibc
#endif

/// Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as
/// 1, 2, 3", SC 2011): a counter-based generator. Output block n is a keyed bijection of
/// the counter n, so streams are split by key, not by advancing a state: stream
/// (seed, i) is independent of stream (seed, j) and of how many numbers any other
/// stream drew. Each sample in a batch gets its own stream, so results do not depend on
/// batch size, order or thread count.
///
/// Uniforms: float64 from 53 random bits, (k + 0.5)·2⁻⁵³ — strictly inside (0, 1), so
/// log(u) and log(−log u) are always finite. float32 from 24 bits, k·2⁻²⁴ for k in
/// [0, 2²⁴): exactly the grid of torch.rand in float32, which is what float32 sampling
/// code works with. (Not (k + 0.5)·2⁻²⁴: that needs 25 bits, and its top value would
/// round to 1.0.)
public struct Philox: Sendable {
    public let key: (UInt32, UInt32)
    private var counter: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    private var block: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    private var used = 4

    /// The generator for stream `stream` of `seed`. The stream number goes into the
    /// counter's high words, the seed into the key.
    public init(seed: UInt64, stream: UInt64 = 0) {
        key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        counter = (0, 0, UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32))
    }

    @inline(__always)
    static func mulhilo(_ a: UInt32, _ b: UInt32) -> (hi: UInt32, lo: UInt32) {
        let p = UInt64(a) * UInt64(b)
        return (UInt32(truncatingIfNeeded: p >> 32), UInt32(truncatingIfNeeded: p))
    }

    /// The 10-round Philox bijection of one counter value.
    static func philox(_ c: (UInt32, UInt32, UInt32, UInt32), _ k: (UInt32, UInt32)) -> (UInt32, UInt32, UInt32, UInt32) {
        var (c0, c1, c2, c3) = c
        var (k0, k1) = k
        for round in 0..<10 {
            if round > 0 {
                k0 &+= 0x9E37_79B9
                k1 &+= 0xBB67_AE85
            }
            let p0 = mulhilo(0xD251_1F53, c0), p1 = mulhilo(0xCD9E_8D57, c2)
            (c0, c1, c2, c3) = (p1.hi ^ c1 ^ k0, p1.lo, p0.hi ^ c3 ^ k1, p0.lo)
        }
        return (c0, c1, c2, c3)
    }

    public mutating func next32() -> UInt32 {
        if used == 4 {
            block = Philox.philox(counter, key)
            counter.0 &+= 1
            if counter.0 == 0 { counter.1 &+= 1 }
            used = 0
        }
        defer { used += 1 }
        switch used {
        case 0: return block.0
        case 1: return block.1
        case 2: return block.2
        default: return block.3
        }
    }

    public mutating func next64() -> UInt64 { UInt64(next32()) << 32 | UInt64(next32()) }

    /// Uniform in (0, 1) with 53 random bits.
    public mutating func uniform64() -> Double { (Double(next64() >> 11) + 0.5) * 0x1.0p-53 }

    /// Uniform in [0, 1) with 24 random bits, as a float32 sampler gets. May be 0.
    public mutating func uniform32() -> Float { Float(next32() >> 8) * 0x1.0p-24 }

    /// Uniform integer in 0..<n, without modulo bias (Lemire's method with rejection).
    public mutating func int(below n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        while true {
            let x = next64()
            let (hi, lo) = x.multipliedFullWidth(by: bound)
            if lo >= (0 &- bound) % bound { return Int(hi) }
        }
    }

    /// Standard Gumbel variate −log(−log u), in float64.
    public mutating func gumbel64() -> Double { -log(-log(uniform64())) }
}
