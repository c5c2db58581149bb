import XCTest
import UnmaskTestSupport
import UnmaskSupport
@testable import UnmaskDiffusion

final class CategoricalTests: XCTestCase {
    func draws(_ logits: [Float], _ options: CategoricalOptions, n: Int, forbidden: Int? = nil, seed: UInt64 = 1) -> [Int] {
        var rng = Philox(seed: seed)
        var counts = [Int](repeating: 0, count: logits.count)
        let lp = logits.withUnsafeBufferPointer { Categorical.logProbabilities($0, options: options, forbidden: forbidden) }
        for _ in 0..<n { counts[Categorical.sample(logProbabilities: lp, options: options, rng: &rng)] += 1 }
        return counts
    }

    /// Empirical frequencies against the target distribution, 10^5 draws per case, for
    /// plain, tempered, top-k and top-p draws, with both float64 methods. Each case asserts
    /// Pearson's chi-square below the chi-square quantile at false-alarm rate 1e-6 for its
    /// dof (8 tokens: 7 dof, bound 40.5; top-k 3: 2 dof, bound 27.6; cells expecting < 5
    /// are pooled). The seed is fixed, so this is in effect a regression check: 1e-6 is the
    /// chance that a correct draw would have failed it. It stays sharp because 10^5 draws
    /// resolve each probability to ~1/√(10^5·p): a 3% relative error on a token of mass
    /// 0.2 moved onto another of mass 0.2 gives λ = 2·10^5·0.006²/0.2 ≈ 36 over a mean of
    /// 7, which crosses 40.5 about half the time, and a 5% error (λ = 100) essentially always.
    func testFrequenciesMatch() {
        let logits: [Float] = [2.0, 1.0, 0.5, 0.0, -1.0, -3.0, 1.5, 0.2]
        let cases: [(CategoricalOptions, String)] = [
            (CategoricalOptions(), "plain"),
            (CategoricalOptions(temperature: 0.5), "T=0.5"),
            (CategoricalOptions(temperature: 2.0, method: .icdf), "T=2 icdf"),
            (CategoricalOptions(topK: 3), "top-k 3"),
            (CategoricalOptions(topP: 0.8, method: .icdf), "top-p 0.8"),
        ]
        for (options, name) in cases {
            let lp = logits.withUnsafeBufferPointer { Categorical.logProbabilities($0, options: options, forbidden: nil) }
            let p = lp.map { exp($0) }
            let counts = draws(logits, options, n: 100_000)
            for (c, q) in zip(counts, p) where q == 0 { XCTAssertEqual(c, 0, "\(name): excluded token drawn") }
            assertChiSquareFits(counts: counts, probabilities: p, name)
        }
    }

    /// Hand-computed truncation: top-k keeps exactly k, top-p the smallest prefix reaching p.
    func testTopKAndTopPSupports() {
        let logits: [Float] = [log(0.5), log(0.3), log(0.15), log(0.05)]
        let k2 = logits.withUnsafeBufferPointer { Categorical.logProbabilities($0, options: CategoricalOptions(topK: 2), forbidden: nil) }
        XCTAssertEqual(k2.map { exp($0) }[0], 0.5 / 0.8, accuracy: 1e-6)
        XCTAssertEqual(k2[2], -.infinity)
        let p = logits.withUnsafeBufferPointer { Categorical.logProbabilities($0, options: CategoricalOptions(topP: 0.85), forbidden: nil) }
        XCTAssertEqual(p.filter { $0 > -.infinity }.count, 3)  // 0.5 + 0.3 < 0.85 <= 0.95
    }

    /// A 1e-6 probability in float64: 2·10^7 draws expect 20 hits; the count must lie in
    /// [2, 45] (Poisson(20) puts < 1e-6 of its mass outside). Both float64 methods.
    /// top_k's kept set, found with a heap, is the sorted order's first k (value descending,
    /// id ascending) on values with many ties and −∞, for every k.
    func testTopKSelectionIsTheSortedPrefix() {
        var rng = SplitMix64(seed: 5)
        for trial in 0..<20 {
            let n = 1 + trial * 7
            let values = (0..<n).map { _ -> Double in
                let u = rng.nextDouble()
                return u < 0.2 ? -.infinity : Double(Int(u * 6))   // few distinct values: ties everywhere
            }
            let order = (0..<n).sorted { (a: Int, b: Int) -> Bool in
                if values[a] != values[b] { return values[a] > values[b] }
                return a < b
            }
            for k in 1...n {
                XCTAssertEqual(Set(Categorical.firstInOrder(values, count: k)), Set(order[0..<k]), "n=\(n) k=\(k)")
            }
        }
    }

    func testOneInAMillionIsSampledInFloat64() {
        let logits: [Float] = [0, Float(log(1e-6 / (1 - 1e-6)))]
        for method in CategoricalMethod.allCases {
            let counts = draws(logits, CategoricalOptions(method: method), n: 20_000_000, seed: 77)
            print("1e-6 token, \(method): \(counts[1]) hits in 2e7 draws (expected 20)")
            XCTAssertTrue((2...45).contains(counts[1]), "\(method): \(counts[1])")
        }
    }

    /// The mechanism of the float32 bias, computed exactly: over all 2^24 possible 24-bit
    /// uniforms the Gumbel noise −log(−log u) never exceeds ~16.6, so a token whose
    /// log-probability is more than ~16.6 + (the leader's noise) below the leader can never
    /// win — while float64 noise has no such ceiling below 37. In the legacy ancestral draw
    /// at T = 10^4 a token's per-step log-weight is log p − 9.2, so tokens with p below
    /// ~1e-3 are starved; the resulting entropy loss is measured on the real model by
    /// `unmask compare` (a toy with 3 tokens cannot show it: each token loses at most
    /// ~2⁻²⁴ per step, ~1.5e-4 in all at T = 10^4).
    func testFloat32GumbelNoiseIsCapped() {
        var maxG: Float = -.infinity
        for k in 1..<(1 << 24) {
            let u = Float(k) * 0x1.0p-24
            maxG = max(maxG, -logf(-logf(u)))
        }
        print("largest float32 Gumbel noise over all 2^24 uniforms: \(maxG)")
        XCTAssertLessThan(maxG, 16.7)
        XCTAssertGreaterThan(maxG, 16.5)
        var rng = Philox(seed: 3)
        var maxG64 = -Double.infinity
        for _ in 0..<(1 << 22) { maxG64 = max(maxG64, rng.gumbel64()) }
        XCTAssertGreaterThan(maxG64, 10)  // sanity: the float64 sampler's noise is a real Gumbel
        // A token 20 nats below the leader: float32 can never pick it.
        let logits: [Float] = [0, -20]
        XCTAssertEqual(draws(logits, CategoricalOptions(precision: .float32), n: 1_000_000)[1], 0)
    }

    func testMaskTokenIsNeverSampled() {
        let logits: [Float] = [0, 0, 50]  // the mask (id 2) has by far the largest logit
        let counts = draws(logits, CategoricalOptions(), n: 10_000, forbidden: 2)
        XCTAssertEqual(counts[2], 0)
        let counts32 = draws(logits, CategoricalOptions(precision: .float32), n: 10_000, forbidden: 2)
        XCTAssertEqual(counts32[2], 0)
    }
}
