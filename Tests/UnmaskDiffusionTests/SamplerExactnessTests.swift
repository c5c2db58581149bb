import XCTest
@testable import UnmaskDiffusion

/// Samplers against the enumerated truth: the exact toy denoiser holds the true
/// conditionals of a joint over 3^4 = 81 sequences, so an exact sampler must reproduce the
/// joint. 10^5 draws each, chi-square over the 81 cells, 5σ bound (see Statistics.swift).
final class SamplerExactnessTests: XCTestCase {
    static let toy = ExactToyDenoiser.random(tokens: 3, length: 4, seed: 2024)
    let draws = 100_000

    func histogram(_ spec: String, planner: CorruptionPlanner? = nil, seed: UInt64 = 1) throws -> (counts: [Int], nfe: [Int]) {
        let toy = SamplerExactnessTests.toy
        let sampler = try DiffusionSampler(spec, planner: planner)
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

    func assertExact(_ spec: String, planner: CorruptionPlanner? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let (counts, _) = try histogram(spec, planner: planner)
        let (chi2, dof) = chiSquare(counts: counts, probabilities: SamplerExactnessTests.toy.joint)
        print("\(spec): chi2 = \(chi2) on \(dof) dof (5-sigma bound \(fiveSigma(dof)))")
        XCTAssertLessThan(chi2, fiveSigma(dof), spec, file: file, line: line)
    }

    func testFirstHittingSamplerIsExact() throws { try assertExact("fhs") }
    func testUniformPlannerIsExact() throws { try assertExact("uniform") }
    func testAncestralWithManyStepsIsExact() throws { try assertExact("ancestral:steps=100000") }
    func testAncestralCosineScheduleIsExact() throws { try assertExact("ancestral:steps=100000:schedule=cosine") }
    func testInverseCDFDrawIsExact() throws { try assertExact("fhs:method=icdf") }

    /// DDPD with a planner that marks every committed token clean never revises, so it is
    /// FHS again and must be exact; this checks the loop's bookkeeping.
    func testDDPDWithANeverRevisingPlannerIsExact() throws {
        final class CleanPlanner: CorruptionPlanner {
            func corruptionProbabilities(sequences: [[Int]]) throws -> [[Double]] { sequences.map { $0.map { _ in 0 } } }
        }
        try assertExact("ddpd", planner: CleanPlanner())
    }

    /// The step-by-step float64 ancestral sampler (cache=off) is exact too, for large T;
    /// 5·10^3 draws here because each costs T network calls.
    func testStepwiseFloat64AncestralIsExact() throws {
        let toy = SamplerExactnessTests.toy
        let sampler = try DiffusionSampler("ancestral:steps=1000:cache=off")
        var counts = [Int](repeating: 0, count: toy.joint.count)
        for chunk in 0..<5 {
            let canvases = [[Int]](repeating: [Int](repeating: toy.maskId, count: 4), count: 1000)
            let r = try sampler.sample(canvases: canvases, denoiser: toy, seed: 5, firstStream: UInt64(chunk * 1000))
            for s in r.sequences { counts[toy.index(of: s)] += 1 }
        }
        // Finite-T bias: two positions unmask in the same step with probability ~L²/(2T),
        // drawn independently; at T=1000 that moves cells by well under 1%, below this
        // test's noise (5·10^3 draws: ~15% per cell).
        let (chi2, dof) = chiSquare(counts: counts, probabilities: toy.joint)
        print("ancestral:steps=1000:cache=off: chi2 = \(chi2) on \(dof) dof")
        XCTAssertLessThan(chi2, fiveSigma(dof))
    }

    /// Known inexactness: with T = 1 every position unmasks in the same step, each drawn
    /// from its own marginal independently, so the result is the product of the marginals —
    /// measurably not the joint. With T = 2 it is still clearly off.
    func testAncestralWithFewStepsIsNotExact() throws {
        let toy = SamplerExactnessTests.toy
        var marginals = [[Double]](repeating: [Double](repeating: 0, count: 3), count: 4)
        for (s, p) in toy.joint.enumerated() { for (i, x) in toy.sequence(index: s).enumerated() { marginals[i][x] += p } }
        let product = (0..<toy.joint.count).map { s in toy.sequence(index: s).enumerated().reduce(1.0) { $0 * marginals[$1.offset][$1.element] } }
        let (counts1, nfe1) = try histogram("ancestral:steps=1")
        let vsProduct = chiSquare(counts: counts1, probabilities: product)
        let vsJoint = chiSquare(counts: counts1, probabilities: toy.joint)
        print("ancestral:steps=1: chi2 vs product of marginals \(vsProduct.chi2), vs joint \(vsJoint.chi2)")
        XCTAssertLessThan(vsProduct.chi2, fiveSigma(vsProduct.dof))
        XCTAssertGreaterThan(vsJoint.chi2, 10 * fiveSigma(vsJoint.dof))
        XCTAssertTrue(nfe1.allSatisfy { $0 == 1 })
        let (counts2, _) = try histogram("ancestral:steps=2")
        let t2 = chiSquare(counts: counts2, probabilities: toy.joint)
        print("ancestral:steps=2: chi2 vs joint \(t2.chi2)")
        XCTAssertGreaterThan(t2.chi2, 3 * fiveSigma(t2.dof))
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
