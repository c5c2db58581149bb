import XCTest
@testable import UnmaskEvaluation
import UnmaskDiffusion
import UnmaskModel
import UnmaskSupport

final class EvaluationTests: XCTestCase {
    func model(_ attention: ModelConfig.Attention, context: Int = 8) throws -> (Transformer, ParameterBuffer) {
        var c = ModelConfig(vocabSize: 20, dModel: 16, nLayers: 1, nHeads: 2, dFF: 24, contextLength: context, maskTokenId: 19)
        c.attention = attention
        let p = ParameterBuffer.random(config: c, seed: 4)
        for i in 0..<p.count { p.data[i] *= 20 }
        return (try Transformer(config: c, source: p), p)
    }

    /// The windowed causal NLL scores every token but the first exactly once, and on a
    /// stream that fits one window equals the direct sum of −log p from the reference.
    func testCausalNLLCountsAndValues() throws {
        let (m, p) = try model(.causal)
        for n in [2, 5, 8, 9, 17, 30] {
            let tokens = (0..<n).map { ($0 * 7) % 19 }
            XCTAssertEqual(try Evaluation.causalNLL(evaluator: TransformerEvaluator(model: m), tokens: tokens).tokens, n - 1, "n=\(n)")
        }
        let tokens = [3, 1, 4, 1, 5, 9, 2, 6]
        let ref = try referenceForward(config: m.config, source: p, ids: tokens, batch: 1, length: 8)
        var direct = 0.0
        for i in 1..<8 {
            let row = (0..<19).map { ref[(i - 1) * 20 + $0] }
            let mx = row.max()!
            direct += mx + log(row.reduce(0) { $0 + exp($1 - mx) }) - ref[(i - 1) * 20 + tokens[i]]
        }
        XCTAssertEqual(try Evaluation.causalNLL(evaluator: TransformerEvaluator(model: m), tokens: tokens).nats, direct, accuracy: 1e-3)
    }

    /// The ELBO bounds the true NLL from above in expectation; for a random model, its value
    /// must be finite, positive, and its standard error shrink with more masks.
    func testELBOIsFiniteAndItsErrorShrinks() throws {
        let (m, _) = try model(.bidirectional)
        let tokens = (0..<40).map { ($0 * 5) % 19 }
        let few = try Evaluation.denoiserELBO(denoiser: TransformerDenoiser(model: m), tokens: tokens, draws: 4, seed: 1)
        let many = try Evaluation.denoiserELBO(denoiser: TransformerDenoiser(model: m), tokens: tokens, draws: 64, seed: 1)
        XCTAssertTrue(few.natsPerToken > 0 && few.natsPerToken.isFinite)
        XCTAssertLessThan(many.standardError, few.standardError)
        XCTAssertEqual(many.tokens, 40)
    }

    func testUnigramEntropy() {
        XCTAssertEqual(Evaluation.unigramEntropy([1, 1, 1, 1]), 0)
        XCTAssertEqual(Evaluation.unigramEntropy([1, 2, 3, 4]), log(4), accuracy: 1e-12)
        XCTAssertEqual(Evaluation.unigramEntropy([1, 1, 2, 2]), log(2), accuracy: 1e-12)
    }

    /// An empty sample has nothing to score: it is an error, never a perplexity of 1.00, and
    /// it cannot pull the mean entropy down.
    func testEmptySampleIsRefused() throws {
        let (m, _) = try model(.causal)
        let e = try TransformerEvaluator(model: m)
        XCTAssertThrowsError(try Evaluation.generativePerplexity(evaluator: e, samples: [[]], endOfText: 18))
        XCTAssertThrowsError(try Evaluation.generativePerplexity(evaluator: e, samples: [[1, 2, 3], []], endOfText: 18))
        let r = try Evaluation.generativePerplexity(evaluator: e, samples: [[1, 2, 3]], endOfText: 18)
        XCTAssertEqual(r.tokens, 3)
        XCTAssertEqual(r.entropy, log(3), accuracy: 1e-12)
    }
}
