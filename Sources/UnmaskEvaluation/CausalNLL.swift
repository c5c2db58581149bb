#if canImport(Glibc)
import Glibc
#endif
import UnmaskDiffusion
import UnmaskModel
import UnmaskTokenizer
import UnmaskSupport

extension Evaluation {
    /// Negative log-likelihood of a token stream under a causal model.
    ///
    /// Windows of the model's context L start every L/2 tokens; the first window scores
    /// positions 1..<L, every later one only its second half, so each scored token sees at
    /// least L/2 tokens of context and no token is scored twice. The stream's first token
    /// has no context and is not scored. Returns (total NLL in nats, tokens scored).
    public static func causalNLL(evaluator: CausalEvaluator, tokens: [Int], progress: ((Int, Int) -> Void)? = nil) throws -> (nats: Double, tokens: Int) {
        let L = evaluator.maxLength, V = evaluator.vocabSize
        guard L >= 2 else { throw UnmaskError("the evaluator's context (\(L)) must be at least 2 tokens") }
        guard tokens.count >= 2 else { return (0, 0) }
        var total = 0.0, count = 0
        var start = 0
        var firstScored = 1
        while true {
            let end = min(tokens.count, start + L)
            let window = Array(tokens[start..<end])
            let logits = try evaluator.logits(window: window, positions: nil)
            for i in firstScored..<window.count {
                total += nll(logits, row: i - 1, vocab: V, target: window[i], excluded: evaluator.excludedToken)
                count += 1
            }
            progress?(end, tokens.count)
            if end == tokens.count { break }
            start += L / 2
            firstScored = L - L / 2
            // The last window may be shorter; score only tokens not scored before.
            if start + L > tokens.count {
                let newStart = max(0, tokens.count - L)
                firstScored = (start + firstScored) - newStart
                start = newStart
            }
        }
        return (total, count)
    }

    /// −log softmax(logits[row])[target], with the mask token excluded (never a target).
    static func nll(_ logits: [Float], row: Int, vocab V: Int, target: Int, excluded: Int?) -> Double {
        var mx = -Double.infinity
        for v in 0..<V where v != excluded { mx = max(mx, Double(logits[row * V + v])) }
        var sum = 0.0
        for v in 0..<V where v != excluded { sum += exp(Double(logits[row * V + v]) - mx) }
        return mx + log(sum) - Double(logits[row * V + target])
    }
}
