import XCTest
import UnmaskTestSupport
import Dispatch
@testable import UnmaskDiffusion

/// The float32 bias (Zheng et al. 2024), reproduced where the theory puts it.
///
/// One position, 201 tokens: one holds 0.98 of the mass, two hundred share the other 0.02
/// (1e-4 each). At T = 10^4 steps (linear schedule) step i's race is between staying
/// masked, weight (i−1)/T, and each token j, weight p_j/T. The legacy float32 draw gives
/// every candidate the noise E = −log u with a 24-bit uniform, so E lies on a grid of
/// step 2⁻²⁴ ≈ 6e-8 near 0: a token of weight q against the others' total Q wins with
/// probability 2⁻²⁴/(exp(Q/(2²⁴·q)) − 1) instead of ≈ q/Q — a loss that is total when
/// 2²⁴·q/Q ≪ 1, i.e. for a rare token in every step with i − 1 > ~2²⁴·1e-4 ≈ 1700, most
/// of the run. The starved position stays masked and is mostly filled by the dominant
/// token later. float64 samples the rare tokens at their rate.
///
/// Statistic: the mean surprisal −log p(X) under the true distribution, whose expectation
/// under exact sampling is the entropy H, with standard error SE = σ/√N where σ² is the
/// true variance of −log p(X) (computed from p, not from the draws). Here the surprisal is
/// a linear function of the number R of rare tokens drawn (R ~ Binomial(N, 0.02) under an
/// exact sampler), so every rate below is an exact binomial tail, not a normal one.
///
/// N = 6400 (E[R] = 128, SE ↔ 11.2 rare tokens):
/// - float64 (the exact, cached sampler) must lie within 5 SE of H: false-alarm rate
///   P(R ≤ 71) + P(R ≥ 185) = 3.8e-8 + 1.0e-6 ≈ 1.1e-6 (binomial).
/// - float32 must lie more than 5 SE below H, i.e. R ≤ 72. The grid formula above, summed
///   over the steps (`predictedFloat32RareRate`), predicts a rare rate of 0.0056, i.e.
///   E[R] ≈ 36 (a deviation of 8.2 SE) with a standard deviation of only √36 = 6 (0.53
///   SE): the 5 SE threshold sits 6 of the float32 statistic's own standard deviations
///   away, so float32 misses it with probability 3.4e-8 (Poisson tail), for any seed. The
///   test checks that margin from the prediction before it samples. (Measured, seed 21:
///   float32 R = 39, −7.9 SE; float64 R = 122, −0.5 SE.)
///
/// Why not ≥ 10 SE, or a few seconds: the bias lives in the 2⁻²⁴ rounding of each uniform,
/// so a sampler's output can differ from the exact one in only ~2⁻²⁴ of the draws per
/// uniform drawn; over the designs of this kind (rare mass, token rarity, T, schedule) the
/// squared z-score per uniform drawn is at most ~1.1e-8 (computed from the formula above).
/// An expected 10 SE needs ~10^10 uniforms, ~150 s here at ~15 ns each; this test draws
/// 6.5·10^9 (8.2 SE). The float32 run is split over two threads (streams 0..<3200 and
/// 3200..<6400: the same samples as one batch, since a sample does not depend on its batch),
/// so it takes ~50 s on two cores — about what the former N = 3200 took on one.
final class Float32BiasTests: XCTestCase {
    static let p = [0.98] + [Double](repeating: 0.02 / 200, count: 200)
    static let steps = 10_000

    /// Expected fraction of rare tokens from the legacy float32 race (see the class comment):
    /// S = P(still masked); in step i the rare tokens win with the grid probability, the
    /// dominant one (2²⁴·q/Q ≥ 1.6·10^3: unaffected) with q/Σq, and in step 1 nothing stays.
    static func predictedFloat32RareRate() -> Double {
        let T = Double(steps), pRare = p[1], rareCount = Double(p.count - 1), pDominant = p[0]
        var stillMasked = 1.0, rare = 0.0
        for i in stride(from: steps, through: 1, by: -1) {
            let qMask = Double(i - 1) / T, qDominant = pDominant / T, qRare = pRare / T
            let others = qMask + qDominant + (rareCount - 1) * qRare
            let rareWin = 0x1.0p-24 / expm1(others / (0x1.0p24 * qRare))
            rare += stillMasked * rareCount * rareWin
            stillMasked *= 1 - rareCount * rareWin - qDominant / (others + qRare)
        }
        return rare
    }

    func testFloat32AncestralLosesEntropyAndFloat64DoesNot() throws {
        let p = Float32BiasTests.p
        let toy = ExactToyDenoiser(tokens: p.count, length: 1, joint: p)
        let H = entropy(p)
        let sigma = (p.reduce(0) { $0 + $1 * log($1) * log($1) } - H * H).squareRoot()
        let n = 6400, half = n / 2
        let se = sigma / Double(n).squareRoot()
        let rareSurprisal = -log(p[1]), dominantSurprisal = -log(p[0])
        // The margin, before sampling: the predicted float32 mean must sit below H − 5 SE by
        // at least 5 of its own standard deviations (in rare-token counts: √(predicted R)).
        let predictedRare = Float32BiasTests.predictedFloat32RareRate() * Double(n)
        let thresholdRare = (H - 5 * se - dominantSurprisal) * Double(n) / (rareSurprisal - dominantSurprisal)
        print("float32: predicted \(predictedRare) rare tokens of \(n) (exact: \(Double(n) * 0.02)); 5-SE threshold \(thresholdRare)")
        XCTAssertGreaterThan(thresholdRare - predictedRare, 5 * predictedRare.squareRoot(), "the test has lost its margin")

        let float64 = try DiffusionSampler("ancestral:steps=10000").sample(
            canvases: [[Int]](repeating: [toy.maskId], count: n), denoiser: toy, seed: 21).sequences
        // Two halves on two threads, each with its own toy (its cache is not thread-safe).
        var halves = [[[Int]]](repeating: [], count: 2)
        var failure: Error?
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 2) { h in
            do {
                let own = ExactToyDenoiser(tokens: p.count, length: 1, joint: p)
                let r = try DiffusionSampler("ancestral:steps=10000:precision=float32").sample(
                    canvases: [[Int]](repeating: [own.maskId], count: half), denoiser: own, seed: 21, firstStream: UInt64(h * half))
                lock.lock(); halves[h] = r.sequences; lock.unlock()
            } catch {
                lock.lock(); failure = error; lock.unlock()
            }
        }
        if let failure { throw failure }
        let float32 = halves[0] + halves[1]

        for (spec, sequences, biased) in [("ancestral:steps=10000", float64, false),
                                          ("ancestral:steps=10000:precision=float32", float32, true)] {
            let mean = sequences.map { -log(p[$0[0]]) }.reduce(0, +) / Double(n)
            let rare = sequences.filter { $0[0] != 0 }.count
            print("\(spec): mean surprisal \(mean) vs entropy \(H) ± \(se) (\((mean - H) / se) SE); rare tokens \(rare) of \(n), expected \(Double(n) * 0.02)")
            if biased {
                XCTAssertLessThan(mean, H - 5 * se, spec)
            } else {
                XCTAssertLessThan(abs(mean - H), 5 * se, spec)
            }
        }
    }
}
