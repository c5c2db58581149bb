#if canImport(Glibc)
import Glibc
#endif
import UnmaskDiffusion
import UnmaskModel
import UnmaskSupport

/// Measuring models and samples (`../shared/DESIGN.md` §3).
public enum Evaluation {
    /// Negative log-likelihood of a token stream under a causal model.
    ///
    /// Windows of the model's context L start every L/2 tokens; the first window scores
    /// positions 1..<L, every later one only its second half, so each scored token sees at
    /// least L/2 tokens of context and no token is scored twice. The stream's first token
    /// has no context and is not scored. Returns (total NLL in nats, tokens scored).
    public static func causalNLL(model: Transformer, tokens: [Int], progress: ((Int, Int) -> Void)? = nil) throws -> (nats: Double, tokens: Int) {
        guard model.config.attention == .causal, model.config.head == .tokens else {
            throw UnmaskError("the evaluator must be a causal model with a token head")
        }
        let L = model.config.contextLength, V = model.config.vocabSize
        guard tokens.count >= 2 else { return (0, 0) }
        var total = 0.0, count = 0
        var start = 0
        var firstScored = 1
        while true {
            let end = min(tokens.count, start + L)
            let window = Array(tokens[start..<end])
            let logits = try model.forward(ids: window, batch: 1, length: window.count)
            for i in firstScored..<window.count {
                total += nll(logits, row: i - 1, vocab: V, target: window[i], excluded: model.config.maskTokenId)
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

    /// The denoiser's continuous-time ELBO on a token stream, in nats per token: an upper
    /// bound on −log p per token, so exp of it bounds the perplexity.
    ///
    /// The stream is cut into non-overlapping windows of the context length. Each window is
    /// scored under `draws` random masks at stratified times t_k = (k + u)/draws (linear
    /// schedule, weight 1/t), Σ_masked (1/t)·(−log p(x₀ | x_t)) / L. The mean over windows
    /// and draws is the estimate; its standard error is the standard deviation of the
    /// per-(window, draw) values over √(count).
    public static func denoiserELBO(model: Transformer, tokens: [Int], draws: Int, seed: UInt64,
                                    progress: ((Int, Int) -> Void)? = nil)
        throws -> (natsPerToken: Double, standardError: Double, tokens: Int) {
        guard model.config.head == .tokens, model.config.attention == .bidirectional else {
            throw UnmaskError("the denoiser must be a bidirectional model with a token head")
        }
        let L = model.config.contextLength, V = model.config.vocabSize, mask = model.config.maskTokenId
        let schedule = NoiseSchedule.linear
        var values: [Double] = []
        var scoredTokens = 0
        var w = 0
        var start = 0
        while start < tokens.count {
            let window = Array(tokens[start..<min(tokens.count, start + L)])
            scoredTokens += window.count
            var rng = Philox(seed: seed, stream: UInt64(w))
            let u = rng.uniform64()
            for k in 0..<draws {
                let t = max(1e-4, (Double(k) + u) / Double(draws))
                var ids = window
                var positions: [Int] = []
                for i in 0..<window.count where rng.uniform64() < 1 - schedule.alpha(t) {
                    ids[i] = mask
                    positions.append(i)
                }
                var sum = 0.0
                if !positions.isEmpty {
                    let logits = try model.forward(ids: ids, batch: 1, length: ids.count, positions: positions)
                    for (j, i) in positions.enumerated() { sum += nll(logits, row: j, vocab: V, target: window[i], excluded: mask) }
                }
                values.append(schedule.elboWeight(t) * sum / Double(window.count))
            }
            start += L
            w += 1
            progress?(min(start, tokens.count), tokens.count)
        }
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(1, n - 1)
        return (mean, (variance / n).squareRoot(), scoredTokens)
    }

    /// Unigram entropy of one sample: the entropy (nats) of its token histogram.
    public static func unigramEntropy(_ ids: [Int]) -> Double {
        guard !ids.isEmpty else { return 0 }
        var counts: [Int: Int] = [:]
        for id in ids { counts[id, default: 0] += 1 }
        let n = Double(ids.count)
        return counts.values.reduce(0.0) { acc, c in
            let p = Double(c) / n
            return acc - p * log(p)
        }
    }

    /// Generative perplexity of samples at corpus level: exp(total NLL / total tokens)
    /// under the evaluator, each sample scored after an `<|endoftext|>` so its first token
    /// has a context; plus the mean unigram entropy over samples. An empty sample is an
    /// error: it has no tokens to score, and its entropy of 0 would pull the mean down.
    public static func generativePerplexity(evaluator: Transformer, samples: [[Int]], endOfText: Int)
        throws -> (perplexity: Double, nats: Double, tokens: Int, meanEntropy: Double) {
        var tally = GenerativePerplexityTally(evaluator: evaluator, endOfText: endOfText)
        for s in samples { try tally.add(s) }
        guard tally.samples > 0 else { throw UnmaskError("no samples to score") }
        return (tally.perplexity, tally.nats, tally.tokens, tally.meanEntropy)
    }
}

/// Generative perplexity and mean unigram entropy accumulated one sample at a time, so
/// that any number of samples is scored in bounded memory (`unmask eval SAMPLES.jsonl`).
public struct GenerativePerplexityTally {
    public let evaluator: Transformer
    public let endOfText: Int
    public private(set) var nats = 0.0
    public private(set) var tokens = 0
    public private(set) var samples = 0
    public private(set) var entropySum = 0.0

    public init(evaluator: Transformer, endOfText: Int) {
        self.evaluator = evaluator
        self.endOfText = endOfText
    }

    /// Scores one sample. Throws on an empty one (see `Evaluation.generativePerplexity`).
    public mutating func add(_ sample: [Int]) throws {
        guard !sample.isEmpty else { throw UnmaskError("an empty sample has no tokens to score") }
        let (n, count) = try Evaluation.causalNLL(model: evaluator, tokens: [endOfText] + sample)
        nats += n
        tokens += count
        samples += 1
        entropySum += Evaluation.unigramEntropy(sample)
    }

    /// exp(total NLL / total tokens); NaN before the first sample.
    public var perplexity: Double { tokens > 0 ? exp(nats / Double(tokens)) : .nan }
    /// Mean per-sample unigram entropy (nats); NaN before the first sample.
    public var meanEntropy: Double { samples > 0 ? entropySum / Double(samples) : .nan }
}

extension Evaluation {
    /// Per-sample mean NLL (nats/token) under the evaluator, each sample after `<|endoftext|>`.
    public static func perSampleNLL(evaluator: Transformer, samples: [[Int]], endOfText: Int) throws -> [(nats: Double, tokens: Int)] {
        try samples.map { try causalNLL(model: evaluator, tokens: [endOfText] + $0) }
    }

    /// Samples from a causal model, left to right at temperature 1 (float64 draws), each
    /// sample starting after `<|endoftext|>` and using Philox stream (seed, i).
    public static func autoregressiveSamples(model: Transformer, count: Int, length: Int, seed: UInt64,
                                             endOfText: Int, options: CategoricalOptions = CategoricalOptions()) throws -> [[Int]] {
        let L = model.config.contextLength, V = model.config.vocabSize
        guard length + 1 <= L else { throw UnmaskError("length \(length) + 1 exceeds the evaluator's context of \(L)") }
        var out: [[Int]] = []
        for i in 0..<count {
            var rng = Philox(seed: seed, stream: UInt64(i))
            var seq = [endOfText]
            for _ in 0..<length {
                let logits = try model.forward(ids: seq, batch: 1, length: seq.count, positions: [seq.count - 1])
                var forbidden = [model.config.maskTokenId]
                forbidden.append(endOfText)  // keep the sample one document long
                var row = logits
                for f in forbidden where f < V { row[f] = -.infinity }
                let next = row.withUnsafeBufferPointer { Categorical.sample($0, options: options, forbidden: nil, rng: &rng) }
                seq.append(next)
            }
            out.append(Array(seq.dropFirst()))
        }
        return out
    }
}
