import XCTest
@testable import UnmaskEvaluation

/// Generative perplexity and its standard errors, on an evaluator whose every NLL is known
/// in closed form, computed here independently of the library's accumulation.
final class SampleStatisticsTests: XCTestCase {
    /// Every row is the same logits; id 4 is the mask (excluded).
    struct FixedEvaluator: CausalEvaluator {
        let vocabSize = 5, maxLength = 6
        var excludedToken: Int? { 4 }
        static let row: [Float] = [2, 1, 0, -1, 9]
        func logits(window: [Int], positions: [Int]?) throws -> [Float] {
            Array((0..<(positions?.count ?? window.count)).map { _ in FixedEvaluator.row }.joined())
        }
    }

    func testPerplexityAndStandardErrors() throws {
        let logZ = log([2.0, 1, 0, -1].reduce(0) { $0 + exp($1) })
        func nll(_ v: Int) -> Double { logZ - Double(FixedEvaluator.row[v]) }
        // Lengths 3 to 9: the longer ones cross the evaluator's 6-token window.
        let samples = [[0, 1, 2], [3, 3, 0, 1], [2, 2, 2, 2, 2, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0, 1]]
        let r = try Evaluation.generativePerplexity(evaluator: FixedEvaluator(), samples: samples, endOfText: 3)
        let nats = samples.map { $0.reduce(0) { $0 + nll($1) } }
        let tokens = samples.map { Double($0.count) }
        let mean = nats.reduce(0, +) / tokens.reduce(0, +)
        XCTAssertEqual(r.tokens, 23)
        XCTAssertEqual(r.perplexity, exp(mean), accuracy: 1e-12)
        let n = Double(samples.count)
        let residuals = zip(nats, tokens).map { $0 - mean * $1 }
        let sd = (residuals.map { $0 * $0 }.reduce(0, +) / (n - 1)).squareRoot()
        XCTAssertEqual(r.perplexityStandardError, exp(mean) * sd / (n.squareRoot() * tokens.reduce(0, +) / n), accuracy: 1e-12)
        let entropies = samples.map(Evaluation.unigramEntropy)
        let meanEntropy = entropies.reduce(0, +) / n
        XCTAssertEqual(r.entropy, meanEntropy, accuracy: 1e-12)
        let entropySD = (entropies.map { ($0 - meanEntropy) * ($0 - meanEntropy) }.reduce(0, +) / (n - 1)).squareRoot()
        XCTAssertEqual(r.entropyStandardError, entropySD / n.squareRoot(), accuracy: 1e-12)
        // One sample has no spread to measure.
        XCTAssertTrue(try Evaluation.generativePerplexity(evaluator: FixedEvaluator(), samples: [[0, 1]], endOfText: 3).perplexityStandardError.isNaN)
    }

    /// The entropy is one fixed sum, the terms in ascending token order, so it has the same
    /// bits in every process. Summed in a dictionary's order (seeded per process) the last
    /// bits varied from run to run; over 200 histograms of 40 distinct tokens, some sum in
    /// another order would differ in its last bit here with near certainty.
    func testUnigramEntropyIsOneFixedSum() {
        var state: UInt64 = 12345
        for _ in 0..<200 {
            var ids: [Int] = []
            for _ in 0..<300 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                ids.append(Int((state >> 33) % 40) * 97)
            }
            var counts = [Int](repeating: 0, count: 40 * 97)
            for id in ids { counts[id] += 1 }
            var expected = 0.0
            for c in counts where c > 0 {
                let p = Double(c) / Double(ids.count)
                expected -= p * log(p)
            }
            XCTAssertEqual(Evaluation.unigramEntropy(ids).bitPattern, expected.bitPattern)
            XCTAssertEqual(Evaluation.unigramEntropy(ids.reversed()).bitPattern, expected.bitPattern)
        }
    }
}
