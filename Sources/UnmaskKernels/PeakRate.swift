import CPeakRate
import Dispatch
import UnmaskSupport

/// This machine's arithmetic peaks, measured (never a datasheet figure): register-resident
/// loops of 12 independent 512-bit chains (CPeakRate) of fp32 FMA and of BF16 dot products,
/// so `bench` can say what fraction of the peak a forward call reaches, and `--compute bf16`
/// runs only where BF16 is measured faster than fp32.
public enum PeakRate {
    /// Whether the fp32 loop can run here (AVX-512F).
    public static var available: Bool { unmask_peak_available() != 0 }
    /// Whether the BF16 loop can run here (AVX-512F + AVX512_BF16).
    public static var bf16Available: Bool { unmask_peak_bf16_available() != 0 }

    /// FLOP in one call of the fp32 loop: 12 chains × 16 lanes × 2 (multiply and add) per iteration.
    public static func flops(iterations: Int) -> Double { Double(iterations) * 12 * 16 * 2 }
    /// FLOP in one call of the BF16 loop: 12 chains × 16 lanes × 2 products × 2 per iteration.
    public static func bf16Flops(iterations: Int) -> Double { Double(iterations) * 12 * 16 * 4 }

    /// Runs the fp32 loop once (for tests): the sum of every lane, `iterations × step × 192`
    /// when that is exact in float.
    public static func runLoop(iterations: Int, step: Float) -> Double {
        unmask_peak_fma_f32(iterations, step)
    }

    /// Runs the BF16 loop once (for tests): `iterations × step × 192` when exact; `step` a
    /// BF16 value.
    public static func runBF16Loop(iterations: Int, step: Float) -> Double {
        unmask_peak_bf16_dot(iterations, step)
    }

    /// GFLOP/s of fp32 FMA on `threads` threads at once, each running the loop: the best of
    /// `rounds` runs of about 30 ms each (the first warms the clock up). nil without AVX-512F.
    public static func fp32FMA(threads: Int = 1, rounds: Int = 5) -> Double? {
        guard available, threads >= 1 else { return nil }
        return best(of: rounds, threads: threads, flops: flops(iterations: 16 << 20)) { _ = unmask_peak_fma_f32(16 << 20, 0) }
    }

    /// GFLOP/s of BF16 dot products (vdpbf16ps, 2 FLOP a product) on `threads` threads at
    /// once; nil without AVX512_BF16.
    public static func bf16Dot(threads: Int = 1, rounds: Int = 5) -> Double? {
        guard bf16Available, threads >= 1 else { return nil }
        return best(of: rounds, threads: threads, flops: bf16Flops(iterations: 16 << 20)) { _ = unmask_peak_bf16_dot(16 << 20, 0) }
    }

    private static func best(of rounds: Int, threads: Int, flops: Double, _ loop: @escaping @Sendable () -> Void) -> Double {
        var best = 0.0
        for _ in 0..<max(1, rounds) {
            let start = monotonicSeconds()
            DispatchQueue.concurrentPerform(iterations: threads) { _ in loop() }
            let seconds = monotonicSeconds() - start
            best = max(best, flops * Double(threads) / seconds / 1e9)
        }
        return best
    }
}
