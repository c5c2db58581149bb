import XCTest
@testable import UnmaskDiffusion

/// The float32 bias (Zheng et al. 2024), reproduced where the theory puts it.
///
/// One position, 201 tokens: one holds 0.98 of the mass, two hundred share the other 0.02
/// (1e-4 each). At T = 10^4 steps a rare token's weight in a step's race against staying
/// masked is p·(1/T)/s = 1e-8/s; the legacy float32 draw's exponential noise is at least
/// 6e-8 (24-bit uniforms), so wherever that ratio is below ~6e-8 — every step with
/// s > ~0.2 — a rare token can never win the race: it is starved, and the position is
/// filled by the dominant token instead. float64 samples the rare tokens at their rate.
///
/// Statistic: the mean surprisal −log p(X) under the true distribution, whose expectation
/// under exact sampling is the entropy H, with standard error σ/√N where σ² is the true
/// variance of −log p(X) (computed from p, not from the draws). float64 must sit within
/// 5 SE of H; float32 more than 5 SE below it (expected: about 6 SE at N = 3200; this is
/// the cheapest N that clears 5 SE with margin, since each sample costs ~T/2 races of
/// 202 draws).
final class Float32BiasTests: XCTestCase {
    func testFloat32AncestralLosesEntropyAndFloat64DoesNot() throws {
        let p = [0.98] + [Double](repeating: 0.02 / 200, count: 200)
        let toy = ExactToyDenoiser(tokens: p.count, length: 1, joint: p)
        let H = entropy(p)
        let sigma = (p.reduce(0) { $0 + $1 * log($1) * log($1) } - H * H).squareRoot()
        let n = 3200
        let se = sigma / Double(n).squareRoot()
        for (spec, biased) in [("ancestral:steps=10000", false), ("ancestral:steps=10000:precision=float32", true)] {
            let canvases = [[Int]](repeating: [toy.maskId], count: n)
            let r = try DiffusionSampler(spec).sample(canvases: canvases, denoiser: toy, seed: 21)
            let mean = r.sequences.map { -log(p[$0[0]]) }.reduce(0, +) / Double(n)
            let rare = r.sequences.filter { $0[0] != 0 }.count
            print("\(spec): mean surprisal \(mean) vs entropy \(H) ± \(se) (\((mean - H) / se) SE); rare tokens \(rare) of \(n), expected \(Double(n) * 0.02)")
            if biased {
                XCTAssertLessThan(mean, H - 5 * se, spec)
            } else {
                XCTAssertLessThan(abs(mean - H), 5 * se, spec)
            }
        }
    }
}
