import XCTest
@testable import UnmaskDiffusion

/// A temperature small enough that logit / T overflows used to turn every log-probability
/// into NaN, and every draw into id 0. The limit T → 0 is the argmax; these check it.
final class VanishingTemperatureTests: XCTestCase {
    // The best token (id 5) is neither the first nor the last, and some logits are negative
    // and one is zero, so that 0 · ∞ = NaN and ±∞ both occur at the smallest temperatures.
    let logits: [Float] = [-2.0, 0.0, 1.5, -0.5, 3.0, 3.25, 0.75, -7.0]

    func testTinyTemperaturesDrawTheArgmax() {
        for t in [1e-30, 1e-300, 1e-308, 1e-320, 5e-324] {
            for precision in SamplingPrecision.allCases {
                for method in CategoricalMethod.allCases where !(precision == .float32 && method == .icdf) {
                    let options = CategoricalOptions(temperature: t, precision: precision, method: method)
                    XCTAssertNoThrow(try options.validate())
                    let lp = logits.withUnsafeBufferPointer { Categorical.logProbabilities($0, options: options, forbidden: nil) }
                    XCTAssertFalse(lp.contains { $0.isNaN }, "T=\(t): NaN log-probabilities")
                    XCTAssertEqual(lp[5], 0, "T=\(t): the best token must hold all the mass")
                    var rng = Philox(seed: 3)
                    for _ in 0..<200 {
                        // Deterministic: with all mass on one token, every draw must be it.
                        XCTAssertEqual(Categorical.sample(logProbabilities: lp, options: options, rng: &rng), 5,
                                       "T=\(t) \(precision) \(method)")
                    }
                }
            }
        }
    }

    func testForbiddenBestTokenAndTies() {
        // The mask (here the best logit) stays excluded in the limit too: the runner-up wins.
        let options = CategoricalOptions(temperature: 1e-310)
        let lp = logits.withUnsafeBufferPointer { Categorical.logProbabilities($0, options: options, forbidden: 5) }
        XCTAssertEqual(lp[5], -.infinity)
        XCTAssertEqual(lp[4], 0)
        // Two equal best logits split the mass evenly (the limit of the softmax), exactly.
        let tied: [Float] = [1, 4, -2, 4]
        let lpTied = tied.withUnsafeBufferPointer { Categorical.logProbabilities($0, options: options, forbidden: nil) }
        XCTAssertEqual(lpTied[1], log(0.5), accuracy: 1e-15)
        XCTAssertEqual(lpTied[3], log(0.5), accuracy: 1e-15)
        XCTAssertEqual(lpTied[0], -.infinity)
    }

    func testOrdinaryTemperaturesUnchanged() {
        // The overflow-free path is only taken when needed: at T = 0.01 the values are those
        // of the plain formula, logit/T normalised (so earlier seeds give the same draws).
        let t = 0.01
        let options = CategoricalOptions(temperature: t)
        let lp = logits.withUnsafeBufferPointer { Categorical.logProbabilities($0, options: options, forbidden: nil) }
        let scaled = logits.map { Double($0) * (1 / t) }
        let top = scaled.max()!
        let logZ = top + log(scaled.reduce(0) { $0 + exp($1 - top) })
        for j in logits.indices { XCTAssertEqual(lp[j], scaled[j] - logZ) }
    }
}
