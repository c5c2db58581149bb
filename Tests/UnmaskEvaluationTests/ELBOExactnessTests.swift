import XCTest
@testable import UnmaskEvaluation
import UnmaskDiffusion

/// `Evaluation.denoiserELBO` against an exact answer. With the true conditionals (the exact
/// toy denoiser), the continuous-time ELBO of a sequence x of length L,
///   ∫₀¹ (1/t) · E_{M ~ Bernoulli(t)^L} [ Σ_{i∈M} −log p(x_i | x outside M) ] dt,
/// equals the any-order NLL E_σ Σ_k −log p(x_σ(k) | x_σ(<k)) (a mask set of size m is
/// reached with weight ∫ t^(m−1)(1−t)^(L−m) dt = 1/(m·C(L,m))), and by the chain rule each
/// order gives exactly −log p(x). So on a stream made of whole sequences of the toy's
/// length — one sequence per window, since the function scores non-overlapping windows of
/// `maxLength` — the estimate (nats per token) has expectation exactly −Σ log p(x)/tokens.
/// (The clamp t ≥ 1e-4 replaces the integrand on [0, 1e-4) by its value at 1e-4; the
/// integrand is bounded and smooth there (it tends to Σ_i −log p(x_i | all others)), so
/// the bias is 1e-4 × its variation over [0, 1e-4], far below 1e-6 nats: negligible.)
final class ELBOExactnessTests: XCTestCase {
    static let toy = ExactToyDenoiser.random(tokens: 3, length: 4, seed: 2024)

    /// 16 sequences drawn from the toy's joint (fixed seed), concatenated: 64 tokens.
    static let sequences: [[Int]] = {
        var rng = Philox(seed: 99)
        return (0..<16).map { _ in
            let u = rng.uniform64()
            var cumulative = 0.0
            for (s, p) in toy.joint.enumerated() {
                cumulative += p
                if u < cumulative { return toy.sequence(index: s) }
            }
            return toy.sequence(index: toy.joint.count - 1)
        }
    }()
    static var stream: [Int] { sequences.flatMap { $0 } }

    /// −Σ log p(x) / tokens: the exact value the estimate must find.
    static var exactNatsPerToken: Double {
        sequences.reduce(0) { $0 - log(toy.joint[toy.index(of: $1)]) } / Double(stream.count)
    }

    /// Per-token expectation of the per-window value w(t)·Σ_{i∈M} nll_i / L over t ~ U(0, 1)
    /// and M ~ Bernoulli(t)^L, enumerated over the 2^L mask sets with the Beta integrals:
    /// w = 1/t gives ∫ t^(m−1)(1−t)^(L−m) dt = (m−1)!(L−m)!/L!, w = 1 gives
    /// ∫ t^m (1−t)^(L−m) dt = m!(L−m)!/(L+1)!. The nll come from the toy's own logits.
    static func enumeratedExpectation(weighted: Bool) throws -> Double {
        let toy = ELBOExactnessTests.toy, L = toy.length
        func factorial(_ k: Int) -> Double { (1...max(1, k)).reduce(1.0) { $0 * Double($1) } }
        var total = 0.0
        for x in sequences {
            for set in 1..<(1 << L) {
                let masked = (0..<L).filter { set >> $0 & 1 == 1 }
                let m = masked.count
                var ids = x
                for i in masked { ids[i] = toy.maskId }
                let logits = try toy.logits(sequences: [ids], positions: [masked])
                var nll = 0.0
                for (j, i) in masked.enumerated() { nll += Evaluation.nll(logits, row: j, vocab: toy.vocabSize, target: x[i], excluded: toy.maskId) }
                let beta = weighted ? factorial(m - 1) * factorial(L - m) / factorial(L)
                                    : factorial(m) * factorial(L - m) / factorial(L + 1)
                total += beta * nll / Double(L)
            }
        }
        return total / Double(sequences.count)
    }

    static let draws = 512, seed: UInt64 = 5

    /// The estimate must lie within 6 of its own (returned) standard errors of the exact
    /// value — in particular it is ≥ exact − 6 SE: the ELBO is an upper bound in expectation,
    /// tight here. 16 windows × 512 draws = 8192 per-(window, draw) values. Under normality
    /// with the returned SE this fails with probability 2·Φ(−6) = 2e-9, but the statistic is
    /// not quite normal: the values have a heavy right tail (weight 1/t at small t), so the
    /// returned SE runs low and the error in SE units is skewed to the left. Measured over
    /// 20 000 seeds at these settings (a scratch run, not kept): the estimate is unbiased
    /// (mean 0.90586 ± 0.00010 vs exact 0.90588), its spread is 0.0142 against a mean
    /// returned SE of 0.0124 (14% low), and z = error/SE fell below −3, −4, −4.5 in 0.51%,
    /// 0.035% and none of the runs (normal: 0.13%, 0.003%), above +3 once. A normal with
    /// the 14% larger spread fits these tails; it puts the rate at 6 SE near 1e-7 (5 SE
    /// would be ~1e-5, hence 6). The seed is fixed, so this is in effect a regression check
    /// with that rate as the chance it was wrongly written. Measured with seed 5: estimate
    /// 0.90967 ± 0.01256 against the exact 0.90588 (z = +0.30).
    func testELBOOfExactConditionalsIsTheTrueNLL() throws {
        let exact = ELBOExactnessTests.exactNatsPerToken
        let r = try Evaluation.denoiserELBO(denoiser: ELBOExactnessTests.toy, tokens: ELBOExactnessTests.stream,
                                            draws: ELBOExactnessTests.draws, seed: ELBOExactnessTests.seed)
        let z = (r.natsPerToken - exact) / r.standardError
        print("ELBO of the exact toy: estimate \(r.natsPerToken) ± \(r.standardError), exact −Σlog p/tokens \(exact) (z = \(z))")
        XCTAssertEqual(r.tokens, 64)
        XCTAssertGreaterThan(r.standardError, 0)
        XCTAssertGreaterThan(r.natsPerToken, exact - 6 * r.standardError)
        XCTAssertLessThan(r.natsPerToken, exact + 6 * r.standardError)
    }

    /// The identity the test above relies on, without sampling: enumerating every mask set
    /// with its exact Beta weight gives −log p(x) per sequence, to float32 rounding of the
    /// toy's logits.
    func testEnumeratedELBOEqualsTheTrueNLL() throws {
        XCTAssertEqual(try ELBOExactnessTests.enumeratedExpectation(weighted: true), ELBOExactnessTests.exactNatsPerToken, accuracy: 1e-5)
    }

    /// The test above can fail: had `denoiserELBO` dropped its 1/t weight, it would have
    /// returned the estimator with w(t) = 1 (its internal `weight:` variant, same random
    /// numbers), whose expectation (enumerated) is far below the true NLL. This checks that
    /// the unweighted estimate is where its enumerated expectation says, and that it lies
    /// more than 20 SE below the exact value — in the weighted estimate's SE, the one the
    /// test above uses, and in its own — far outside that test's 6 SE band.
    /// Measured (seed 5): exact 0.90588; weighted 0.90967 ± 0.01256 (z = +0.30); unweighted
    /// 0.49264 ± 0.00460 (enumerated expectation 0.49421): −32.9 weighted SE, −89.8 of its own.
    func testDroppingTheOneOverTWeightWouldBeCaught() throws {
        let exact = ELBOExactnessTests.exactNatsPerToken
        let stream = ELBOExactnessTests.stream, draws = ELBOExactnessTests.draws, seed = ELBOExactnessTests.seed
        let real = try Evaluation.denoiserELBO(denoiser: ELBOExactnessTests.toy, tokens: stream, draws: draws, seed: seed)
        let unweighted = try Evaluation.denoiserELBO(denoiser: ELBOExactnessTests.toy, tokens: stream, draws: draws, seed: seed,
                                                     weight: { _ in 1 })
        let expectedUnweighted = try ELBOExactnessTests.enumeratedExpectation(weighted: false)
        let ownSE = (unweighted.natsPerToken - exact) / unweighted.standardError
        let realSE = (unweighted.natsPerToken - exact) / real.standardError
        print("without 1/t: estimate \(unweighted.natsPerToken) ± \(unweighted.standardError) (enumerated expectation \(expectedUnweighted)); exact \(exact): \(ownSE) own SE, \(realSE) weighted SE")
        XCTAssertEqual(unweighted.natsPerToken, expectedUnweighted, accuracy: 5 * unweighted.standardError)
        XCTAssertLessThan(ownSE, -20)
        XCTAssertLessThan(realSE, -20)
    }
}

/// The paired ELBO (`eval --paired-compute`): both denoisers on the same masks, so a
/// denoiser paired with itself differs by exactly 0, and each side's estimate is the one
/// it gives alone.
final class PairedELBOTests: XCTestCase {
    func testPairedELBOUsesTheSameMasks() throws {
        let toy = ELBOExactnessTests.toy, other = ExactToyDenoiser.random(tokens: 3, length: 4, seed: 7)
        let stream = ELBOExactnessTests.stream
        let alone = try Evaluation.denoiserELBO(denoiser: toy, tokens: stream, draws: 50, seed: 3)
        let otherAlone = try Evaluation.denoiserELBO(denoiser: other, tokens: stream, draws: 50, seed: 3)
        let same = try Evaluation.pairedDenoiserELBO(toy, toy, tokens: stream, draws: 50, seed: 3)
        XCTAssertEqual(same.difference, 0)
        XCTAssertEqual(same.differenceStandardError, 0)
        XCTAssertEqual(same.a.natsPerToken, alone.natsPerToken)
        XCTAssertEqual(same.a.standardError, alone.standardError)
        let paired = try Evaluation.pairedDenoiserELBO(toy, other, tokens: stream, draws: 50, seed: 3)
        XCTAssertEqual(paired.b.natsPerToken, otherAlone.natsPerToken)
        XCTAssertEqual(paired.difference, otherAlone.natsPerToken - alone.natsPerToken, accuracy: 1e-12)
        print("paired: toy \(paired.a.natsPerToken), other \(paired.b.natsPerToken), difference \(paired.difference) ± \(paired.differenceStandardError) (own SEs \(paired.a.standardError), \(paired.b.standardError))")
        XCTAssertGreaterThan(paired.differenceStandardError, 0)
    }
}
