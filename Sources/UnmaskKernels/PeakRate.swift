import CPeakRate
import Dispatch
import UnmaskSupport

/// The fp32 FMA peak of this machine, measured (never a datasheet figure): a
/// register-resident loop of 12 independent 512-bit FMA chains (CPeakRate), so `bench`
/// can say what fraction of the peak a forward call reaches.
public enum PeakRate {
    /// Whether the loop can run here (AVX-512F).
    public static var available: Bool { unmask_peak_available() != 0 }

    /// FLOP in one call of the loop: 12 chains × 16 lanes × 2 (multiply and add) per iteration.
    public static func flops(iterations: Int) -> Double { Double(iterations) * 12 * 16 * 2 }

    /// Runs the loop once (for tests): the sum of every lane, `iterations × step × 192`
    /// when that is exact in float.
    public static func runLoop(iterations: Int, step: Float) -> Double {
        unmask_peak_fma_f32(iterations, step)
    }

    /// GFLOP/s of fp32 FMA on `threads` threads at once, each running the loop: the best of
    /// `rounds` runs of about 30 ms each (the first warms the clock up). nil without AVX-512F.
    public static func fp32FMA(threads: Int = 1, rounds: Int = 5) -> Double? {
        guard available, threads >= 1 else { return nil }
        let iterations = 16 << 20  // 6 cycles an iteration at two FMAs a cycle: ~30 ms at 3 GHz
        var best = 0.0
        for _ in 0..<max(1, rounds) {
            let start = monotonicSeconds()
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                _ = unmask_peak_fma_f32(iterations, 0)
            }
            let seconds = monotonicSeconds() - start
            best = max(best, flops(iterations: iterations) * Double(threads) / seconds / 1e9)
        }
        return best
    }
}
