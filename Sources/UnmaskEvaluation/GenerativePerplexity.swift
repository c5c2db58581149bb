#if canImport(Glibc)
import Glibc
#endif
import UnmaskDiffusion
import UnmaskModel
import UnmaskTokenizer
import UnmaskSupport

extension Evaluation {
    /// Unigram entropy of one sample: the entropy (nats) of its token histogram. The terms
    /// are added in ascending token order: a dictionary's order changes from process to
    /// process (Swift seeds its hashing per run), and so would the last bits of the sum.
    public static func unigramEntropy(_ ids: [Int]) -> Double {
        guard !ids.isEmpty else { return 0 }
        let sorted = ids.sorted()
        let n = Double(ids.count)
        var entropy = 0.0
        var start = 0
        while start < sorted.count {
            var end = start + 1
            while end < sorted.count && sorted[end] == sorted[start] { end += 1 }
            let p = Double(end - start) / n
            entropy -= p * log(p)
            start = end
        }
        return entropy
    }

    /// Generative perplexity of samples at corpus level: exp(total NLL / total tokens)
    /// under the evaluator, each sample scored after an `<|endoftext|>` so its first token
    /// has a context; plus the mean unigram entropy, each with a standard error. An empty
    /// sample is an error: it has no tokens to score, and its entropy of 0 would pull the
    /// mean down.
    public static func generativePerplexity(evaluator: CausalEvaluator, samples: [[Int]], endOfText: Int) throws -> SampleStatistics {
        var tally = GenerativePerplexityTally(evaluator: evaluator, endOfText: endOfText)
        for s in samples { try tally.add(s) }
        guard tally.samples > 0 else { throw UnmaskError("no samples to score") }
        return tally.statistics
    }
}

/// Generative perplexity and unigram entropy of a set of samples, with standard errors.
public struct SampleStatistics: Sendable {
    public var samples: Int
    /// Tokens scored, and their total NLL in nats.
    public var tokens: Int
    public var nats: Double
    /// exp(nats / tokens): the corpus-level generative perplexity.
    public var perplexity: Double
    /// One standard error of `perplexity`, by the delta method: the mean NLL per token is a
    /// ratio estimator Σnats_i / Σtokens_i, whose standard error is the standard deviation
    /// of the residuals (nats_i − mean·tokens_i) over √n · (mean tokens per sample); the
    /// perplexity's is exp(mean) times that. NaN with fewer than two samples.
    public var perplexityStandardError: Double
    /// Mean per-sample unigram entropy (nats) and its standard error.
    public var entropy: Double
    public var entropyStandardError: Double
}

/// Generative perplexity and entropy accumulated one sample at a time (three numbers per
/// sample are kept, for the standard errors), so any number of samples is scored in
/// bounded memory (`unmask eval SAMPLES.jsonl`).
public struct GenerativePerplexityTally {
    public let evaluator: CausalEvaluator
    public let endOfText: Int
    /// The evaluator's own tokenizer, when it is not the samples' (a Hugging Face GPT-2):
    /// samples are then scored by `RetokenizedRecipe`.
    public let recipe: RetokenizedRecipe?
    var perSample: [(nats: Double, tokens: Int, entropy: Double)] = []

    /// `endOfText`: the end-of-text id in the evaluator's vocabulary (every sample is scored
    /// after one, as a document start). With `evaluatorTokenizer`, samples come as text and
    /// are retokenized by the published recipe instead.
    public init(evaluator: CausalEvaluator, endOfText: Int, evaluatorTokenizer: Tokenizer? = nil) {
        self.evaluator = evaluator
        self.endOfText = endOfText
        recipe = evaluatorTokenizer.map { RetokenizedRecipe(evaluator: evaluator, tokenizer: $0) }
    }

    public var samples: Int { perSample.count }

    /// Scores one sample, given as ids of the samples' tokenizer (and, when the evaluator has
    /// a tokenizer of its own, as the text they decode to). Its entropy is that of `sample`,
    /// the tokens the sampler wrote. Throws on an empty one (see
    /// `Evaluation.generativePerplexity`).
    public mutating func add(_ sample: [Int], text: String? = nil) throws {
        guard !sample.isEmpty else { throw UnmaskError("an empty sample has no tokens to score") }
        if let recipe {
            guard let text else { throw UnmaskError("an evaluator with its own tokenizer scores text: give the sample's text") }
            let (n, count) = try recipe.score(text)
            perSample.append((n, count, Evaluation.unigramEntropy(sample)))
            return
        }
        let (n, count) = try Evaluation.causalNLL(evaluator: evaluator, tokens: [endOfText] + sample)
        perSample.append((n, count, Evaluation.unigramEntropy(sample)))
    }

    /// Another tally's samples against these, sample i with sample i (two runs of the same
    /// seeds, e.g. in two arithmetics): the mean over samples of the difference in NLL per
    /// token (other − self) and in unigram entropy, each with its standard error. When every
    /// sample has the same length the first is the difference of the log generative
    /// perplexities. nil when the two hold different numbers of samples.
    public func pairedDifference(_ other: GenerativePerplexityTally)
        -> (natsPerToken: Double, natsStandardError: Double, entropy: Double, entropyStandardError: Double)? {
        guard other.perSample.count == perSample.count, !perSample.isEmpty else { return nil }
        let nll = zip(perSample, other.perSample).map { $1.nats / Double($1.tokens) - $0.nats / Double($0.tokens) }
        let entropy = zip(perSample, other.perSample).map { $1.entropy - $0.entropy }
        let a = Evaluation.meanAndStandardError(nll), b = Evaluation.meanAndStandardError(entropy)
        return (a.mean, a.standardError, b.mean, b.standardError)
    }

    /// The statistics of the samples added so far (NaN fields before the first).
    public var statistics: SampleStatistics {
        let n = Double(perSample.count)
        let nats = perSample.reduce(0) { $0 + $1.nats }
        let tokens = perSample.reduce(0) { $0 + $1.tokens }
        let meanNLL = nats / Double(tokens)
        let meanTokens = Double(tokens) / n
        let residualSquares = perSample.reduce(0.0) { acc, s in
            let r = s.nats - meanNLL * Double(s.tokens)
            return acc + r * r
        }
        let nllError = (residualSquares / (n - 1)).squareRoot() / (n.squareRoot() * meanTokens)
        let entropy = perSample.reduce(0) { $0 + $1.entropy } / n
        let entropySquares = perSample.reduce(0.0) { $0 + ($1.entropy - entropy) * ($1.entropy - entropy) }
        let entropyError = (entropySquares / (n - 1)).squareRoot() / n.squareRoot()
        let ppl = exp(meanNLL)
        return SampleStatistics(samples: perSample.count, tokens: tokens, nats: nats, perplexity: ppl,
                                perplexityStandardError: n >= 2 ? ppl * nllError : .nan, entropy: entropy,
                                entropyStandardError: n >= 2 ? entropyError : .nan)
    }
}
