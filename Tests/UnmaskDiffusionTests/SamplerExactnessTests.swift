import XCTest
import UnmaskTestSupport
@testable import UnmaskDiffusion

/// Samplers against the enumerated truth: the exact toy denoiser holds the true
/// conditionals of a joint over 3^4 = 81 sequences, so an exact sampler must reproduce the
/// joint. 10^5 draws each, Pearson chi-square over the 81 cells (each expects ≥ 5 draws,
/// so none is pooled: 80 dof, as printed), asserted below the chi-square quantile at false-alarm rate 1e-6
/// per assertion (155.08 at 80 dof; see Statistics.swift). The seeds are fixed, so each
/// test is in effect a regression check: 1e-6 is the chance that it would have been
/// wrongly written (a correct sampler whose fixed draws happen to fail), not a rate of
/// flaky failures. It is still a sharp test: the bound is 75 above the statistic's mean of
/// 80, and moving probability δ from one cell of mass p to another adds a noncentrality of
/// about 2·N·δ²/p, so at N = 10^5 moving 0.0025 between two typical cells (p ≈ 1/81, a
/// 20% error on each) already gives λ ≈ 100 and is caught 85% of the time; 0.004
/// (λ ≈ 260) is caught with near certainty.
final class SamplerExactnessTests: XCTestCase {
    static let toy = ExactToyDenoiser.random(tokens: 3, length: 4, seed: 2024)
    let draws = 100_000

    func histogram(_ spec: String, planner: CorruptionDetector? = nil, seed: UInt64 = 1) throws -> (counts: [Int], nfe: [Int]) {
        let toy = SamplerExactnessTests.toy
        let sampler = try DiffusionSampler(spec, corruptionDetector: planner)
        var counts = [Int](repeating: 0, count: toy.joint.count)
        var nfe: [Int] = []
        // Batches of 100: cached ancestral with a huge T makes one call per distinct step,
        // and each call walks the whole batch, so the cost grows with batch² here.
        let batch = 100
        for chunk in 0..<(draws / batch) {
            let canvases = [[Int]](repeating: [Int](repeating: toy.maskId, count: toy.length), count: batch)
            let r = try sampler.sample(canvases: canvases, denoiser: toy, seed: seed, firstStream: UInt64(chunk * batch))
            for s in r.sequences { counts[toy.index(of: s)] += 1 }
            nfe += r.nfe
        }
        return (counts, nfe)
    }

    func assertExact(_ spec: String, planner: CorruptionDetector? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let (counts, _) = try histogram(spec, planner: planner)
        assertChiSquareFits(counts: counts, probabilities: SamplerExactnessTests.toy.joint, spec, file: file, line: line)
    }

    func testFirstHittingSamplerIsExact() throws { try assertExact("fhs") }
    func testUniformPlannerIsExact() throws { try assertExact("uniform") }
    func testAncestralWithManyStepsIsExact() throws { try assertExact("ancestral:steps=100000") }
    func testAncestralCosineScheduleIsExact() throws { try assertExact("ancestral:steps=100000:schedule=cosine") }
    func testInverseCDFDrawIsExact() throws { try assertExact("fhs:method=icdf") }

    // The faster decoding rules that keep one token per call are exact for exact
    // conditionals (see `Run.plannerLoop`): LLaDA's block order with any planner, and
    // remasking (a token masked again without looking at its value leaves the rest
    // distributed as their joint marginal). Same test, same rate as above. The remask
    // rate is high (0.5, window 0.2–1) so that most samples revise at least once; the
    // row below checks that they do.
    func testBlockScheduleIsExact() throws { try assertExact("confidence:block=2") }
    func testRemaskingIsExact() throws { try assertExact("fhs:remask=0.5:remask_window=0.2-1") }
    func testRemaskingRevises() throws {
        let (_, nfe) = try histogram("fhs:remask=0.5:remask_window=0.2-1")
        // Without remasking every sample takes exactly 4 calls; with it, more on average.
        let mean = Double(nfe.reduce(0, +)) / Double(nfe.count)
        print("fhs with remask=0.5: mean NFE \(mean) (4 without)")
        XCTAssertGreaterThan(mean, 4.5)
    }

    /// Fast-dLLM's threshold draws several tokens per call independently, so it is not
    /// exact: at τ = 0.3 on this toy the histogram is far from the joint (the statistic is
    /// printed; it must exceed the same bound that the exact samplers stay under).
    func testThresholdIsNotExactButUsesFewerCalls() throws {
        let (counts, nfe) = try histogram("confidence:threshold=0.3")
        let (chi2, dof) = chiSquare(counts: counts, probabilities: SamplerExactnessTests.toy.joint)
        let bound = chiSquareQuantile(dof: dof, falseAlarmRate: chiSquareFalseAlarmRate)
        let mean = Double(nfe.reduce(0, +)) / Double(nfe.count)
        print("confidence:threshold=0.3: chi2 \(chi2) on \(dof) dof (exact bound \(bound)), mean NFE \(mean) (4 at one token per call)")
        XCTAssertGreaterThan(chi2, bound)
        XCTAssertLessThan(mean, 4)
    }

    /// Speculative verification keeps the law of one token per call while drafting several:
    /// exact at k = 2 and 4 (and k = 8, more than the 4 positions), in fewer calls per token.
    func testSpeculativeIsExactInFewerCalls() throws {
        for spec in ["speculative:k=2", "speculative:k=4", "speculative:k=8"] {
            let (counts, nfe) = try histogram(spec)
            assertChiSquareFits(counts: counts, probabilities: SamplerExactnessTests.toy.joint, spec)
            let mean = Double(nfe.reduce(0, +)) / Double(nfe.count)
            print("\(spec): mean network calls \(mean) for 4 tokens (fhs: 4)")
            XCTAssertLessThan(mean, 3.5, spec)
        }
    }

    /// The test has power: keeping every draft (drafts drawn independently from their
    /// marginals, no verification) is caught by the same bound.
    func testSpeculativeWithoutVerificationIsCaught() throws {
        let toy = SamplerExactnessTests.toy
        var counts = [Int](repeating: 0, count: toy.joint.count)
        for chunk in 0..<(draws / 100) {
            let run = SamplingRun(canvases: [[Int]](repeating: [Int](repeating: toy.maskId, count: toy.length), count: 100),
                                  denoiser: toy, seed: 1, firstStream: UInt64(chunk * 100), observer: nil)
            try run.speculative(drafts: 4, draw: CategoricalOptions(), acceptAlways: true)
            for s in run.seqs { counts[toy.index(of: s)] += 1 }
        }
        let (chi2, dof) = chiSquare(counts: counts, probabilities: toy.joint)
        let bound = chiSquareQuantile(dof: dof, falseAlarmRate: chiSquareFalseAlarmRate)
        print("speculative:k=4 with every draft kept: chi2 \(chi2) on \(dof) dof (exact bound \(bound))")
        XCTAssertGreaterThan(chi2, bound)
    }

    /// DDPD with a planner that marks every committed token clean never revises, so it is
    /// FHS again and must be exact; this checks the loop's bookkeeping.
    func testDDPDWithANeverRevisingPlannerIsExact() throws {
        final class NothingCorrupted: CorruptionDetector {
            func corruptionProbabilities(sequences: [[Int]]) throws -> [[Double]] { sequences.map { $0.map { _ in 0 } } }
        }
        try assertExact("ddpd", planner: NothingCorrupted())
    }

    /// The step-by-step float64 ancestral sampler (cache=off) is exact too, for large T;
    /// 5·10^3 draws here because each costs T network calls. Same rate as above (1e-6,
    /// fixed seed); cells expecting fewer than 5 draws are pooled, so the dof is below 80.
    /// (measured: 59 dof, bound 125.7). Finite-T bias: two of the L = 4 positions unmask in
    /// the same step (and are then drawn independently) with probability about
    /// C(4,2)/T = 0.006, which moves each cell by roughly 0.6% of the T = 1 deviation of the
    /// test below (whose χ²-distance to the joint is 17.3), a noncentrality of about
    /// 5·10^3 · 0.006² · 17.3 ≈ 3 — small next to the bound's 67 above the mean. What this
    /// still catches: moving 0.022 between two cells of mass 0.05 (a 45% error on each,
    /// λ = 2·5·10^3·0.022²/0.05 ≈ 100) fails it with probability 0.94.
    func testStepwiseFloat64AncestralIsExact() throws {
        let toy = SamplerExactnessTests.toy
        let sampler = try DiffusionSampler("ancestral:steps=1000:cache=off")
        var counts = [Int](repeating: 0, count: toy.joint.count)
        for chunk in 0..<5 {
            let canvases = [[Int]](repeating: [Int](repeating: toy.maskId, count: 4), count: 1000)
            let r = try sampler.sample(canvases: canvases, denoiser: toy, seed: 5, firstStream: UInt64(chunk * 1000))
            for s in r.sequences { counts[toy.index(of: s)] += 1 }
        }
        assertChiSquareFits(counts: counts, probabilities: toy.joint, "ancestral:steps=1000:cache=off")
    }

    /// p(x_i = v | the positions in `revealed` equal x's there), from the joint in Double.
    static func conditional(_ toy: ExactToyDenoiser, position i: Int, given x: [Int], revealed: [Int]) -> [Double] {
        var m = [Double](repeating: 0, count: toy.tokens)
        for (s, p) in toy.joint.enumerated() {
            let y = toy.sequence(index: s)
            if revealed.allSatisfy({ y[$0] == x[$0] }) { m[y[i]] += p }
        }
        let z = m.reduce(0, +)
        return m.map { $0 / z }
    }

    /// Known inexactness, with its exact law. With T = 1 every position unmasks in the same
    /// step, each drawn from its own marginal independently: the law is the product of the
    /// marginals. With T = 2 (linear schedule: each position's unmasking time is uniform, so
    /// it unmasks in the first step, t ∈ [1/2, 1), with probability 1/2, independently) the
    /// law is Σ_S 2^−L · Π_{i∈S} marginal_i(x_i) · Π_{i∉S} p(x_i | x_S) over the set S of
    /// positions that unmask first. Each run must fit its own law (goodness of fit, rate
    /// 1e-6 per assertion, fixed seeds as above) and be rejected as a sample of the joint.
    /// The rejection's power is computed, not hoped for: N draws from law q scored against
    /// the joint p have a Pearson statistic with mean dof + λ, λ = N·Σ(q − p)²/p, and
    /// standard deviation √(2(dof + 2λ)); the test first asserts that this mean clears the
    /// 1e-6 bound by at least 6 standard deviations, so the rejection holds for any seed
    /// (measured: λ ≈ 1.7·10^6 at T = 1 and ≈ 4.6·10^5 at T = 2, against a bound of 155).
    func testAncestralWithFewStepsIsNotExact() throws {
        let toy = SamplerExactnessTests.toy
        let L = toy.length
        let marginals = (0..<L).map { SamplerExactnessTests.conditional(toy, position: $0, given: [Int](repeating: 0, count: L), revealed: []) }
        let product = (0..<toy.joint.count).map { s in toy.sequence(index: s).enumerated().reduce(1.0) { $0 * marginals[$1.offset][$1.element] } }
        var twoStep = [Double](repeating: 0, count: toy.joint.count)
        for s in 0..<toy.joint.count {
            let x = toy.sequence(index: s)
            for subset in 0..<(1 << L) {
                let first = (0..<L).filter { subset >> $0 & 1 == 1 }
                var q = pow(0.5, Double(L))
                for i in 0..<L {
                    q *= first.contains(i) ? marginals[i][x[i]]
                                           : SamplerExactnessTests.conditional(toy, position: i, given: x, revealed: first)[x[i]]
                }
                twoStep[s] += q
            }
        }
        XCTAssertEqual(twoStep.reduce(0, +), 1, accuracy: 1e-12)
        for (name, law) in [("ancestral:steps=1", product), ("ancestral:steps=2", twoStep)] {
            let (counts, nfe) = try histogram(name)
            if name == "ancestral:steps=1" { XCTAssertTrue(nfe.allSatisfy { $0 == 1 }) }
            assertChiSquareFits(counts: counts, probabilities: law, "\(name) vs its own law")
            let vsJoint = chiSquare(counts: counts, probabilities: toy.joint)
            let bound = chiSquareQuantile(dof: vsJoint.dof, falseAlarmRate: chiSquareFalseAlarmRate)
            let lambda = chiSquareNoncentrality(draws: draws, actual: law, claimed: toy.joint)
            let sd = (2 * (Double(vsJoint.dof) + 2 * lambda)).squareRoot()
            print("\(name) vs joint: chi2 = \(vsJoint.chi2), expected \(Double(vsJoint.dof) + lambda) ± \(sd), bound \(bound)")
            XCTAssertGreaterThan(Double(vsJoint.dof) + lambda - 6 * sd, bound, "\(name): too little power to be a test")
            XCTAssertGreaterThan(vsJoint.chi2, bound, name)
        }
    }

    /// NFE: fhs makes exactly L calls per sample; cached ancestral at most min(T, L), and
    /// exactly one per step in which something unmasked (here checked against T = 3).
    func testNFE() throws {
        let (_, nfeFHS) = try histogram("fhs")
        XCTAssertTrue(nfeFHS.allSatisfy { $0 == 4 })
        let (_, nfeK2) = try histogram("fhs:k=3")
        XCTAssertTrue(nfeK2.allSatisfy { $0 == 2 })
        let (_, nfeA) = try histogram("ancestral:steps=3")
        XCTAssertTrue(nfeA.allSatisfy { $0 >= 1 && $0 <= 3 })
        XCTAssertTrue(nfeA.contains(1) && nfeA.contains(3))
        let (_, nfeBig) = try histogram("ancestral:steps=1000")
        XCTAssertTrue(nfeBig.allSatisfy { $0 >= 1 && $0 <= 4 })
        let (_, nfeOff) = try histogram("confidence")
        XCTAssertTrue(nfeOff.allSatisfy { $0 == 4 })
    }
}
