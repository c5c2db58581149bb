import XCTest
import UnmaskKernels

/// The peak loop is timed by `bench`, never here; this checks it does the arithmetic it is
/// timed for, so the FLOP count `bench` divides by is the work done.
final class PeakRateTests: XCTestCase {
    func testTheLoopDoesEveryFMAItCounts() throws {
        try XCTSkipUnless(PeakRate.available, "no AVX-512F on this CPU: bench prints no peak")
        // 1000 iterations of acc = acc · 1 + 0.5 in each of 12 × 16 lanes: 500 per lane,
        // exact in float, 96 000 in all. A loop that skipped a chain, a lane or an
        // iteration gives less; one the compiler folded away gives 0.
        XCTAssertEqual(PeakRate.runLoop(iterations: 1000, step: 0.5), 96_000)
        XCTAssertEqual(PeakRate.runLoop(iterations: 0, step: 0.5), 0)
        XCTAssertEqual(PeakRate.flops(iterations: 1000), 384_000)
    }
}

extension PeakRateTests {
    func testTheBF16LoopDoesEveryDotProductItCounts() throws {
        try XCTSkipUnless(PeakRate.bf16Available, "no AVX512_BF16 on this CPU: bench prints no BF16 peak")
        // Each instruction adds 0.5·1 + 0·1 to every lane: 1000 iterations, 12 × 16 lanes.
        XCTAssertEqual(PeakRate.runBF16Loop(iterations: 1000, step: 0.5), 96_000)
        XCTAssertEqual(PeakRate.runBF16Loop(iterations: 0, step: 0.5), 0)
        XCTAssertEqual(PeakRate.bf16Flops(iterations: 1000), 768_000)
    }
}
