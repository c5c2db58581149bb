#if canImport(Glibc)
import Glibc
#endif
import UnmaskDiffusion
import UnmaskModel
import UnmaskTokenizer
import UnmaskSupport

/// Measuring models and samples: the held-out ELBO of a denoiser, the NLL of text under a
/// causal evaluator, generative perplexity and unigram entropy of samples. Every function
/// takes the `Denoiser` and `CausalEvaluator` protocols, so it runs on any model.
public enum Evaluation {
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

    /// The denoiser's continuous-time ELBO on a token stream, in nats per token: an upper
    /// bound on −log p per token, so exp of it bounds the perplexity.
    ///
    /// A block-causal denoiser's bound is block diffusion's: each block's ELBO given the clean
    /// text before it in the window, summed (`blockELBOLogits`).
    ///
    /// The stream is cut into non-overlapping windows of the context length. Each window is
    /// scored under `draws` random masks at stratified times t_k = (k + u)/draws (linear
    /// schedule, weight 1/t), Σ_masked (1/t)·(−log p(x₀ | x_t)) / L. The mean over windows
    /// and draws is the estimate; its standard error is the standard deviation of the
    /// per-(window, draw) values over √(count).
    public static func denoiserELBO(denoiser: Denoiser, tokens: [Int], draws: Int, seed: UInt64,
                                    progress: ((Int, Int) -> Void)? = nil)
        throws -> (natsPerToken: Double, standardError: Double, tokens: Int) {
        try denoiserELBO(denoiser: denoiser, tokens: tokens, draws: draws, seed: seed,
                         weight: NoiseSchedule.linear.elboWeight, progress: progress)
    }

    /// The estimator with another weight w(t) in place of the ELBO's: the tests use it to
    /// show that a wrong weight (w = 1) would be caught.
    static func denoiserELBO(denoiser: Denoiser, tokens: [Int], draws: Int, seed: UInt64, weight: (Double) -> Double,
                             progress: ((Int, Int) -> Void)? = nil)
        throws -> (natsPerToken: Double, standardError: Double, tokens: Int) {
        let (values, scored) = try elboValues(denoisers: [denoiser], tokens: tokens, draws: draws, seed: seed, weight: weight,
                                              progress: progress)
        let (mean, se) = meanAndStandardError(values[0])
        return (mean, se, scored)
    }

    /// The ELBO of two denoisers on the same windows, masks and times (the same `seed`): each
    /// estimate, and the mean of the per-(window, draw) differences b − a with its standard
    /// error. When a and b are the same model in two arithmetics the paired SE is far
    /// smaller than either estimate's own, so it says whether the difference is noise.
    public static func pairedDenoiserELBO(_ a: Denoiser, _ b: Denoiser, tokens: [Int], draws: Int, seed: UInt64,
                                          progress: ((Int, Int) -> Void)? = nil) throws -> PairedELBO {
        guard a.maxLength == b.maxLength, a.vocabSize == b.vocabSize, a.maskId == b.maskId else {
            throw UnmaskError("paired ELBO: the two denoisers differ in context, vocabulary or mask id")
        }
        let (values, scored) = try elboValues(denoisers: [a, b], tokens: tokens, draws: draws, seed: seed,
                                              weight: NoiseSchedule.linear.elboWeight, progress: progress)
        let ea = meanAndStandardError(values[0]), eb = meanAndStandardError(values[1])
        let d = meanAndStandardError(zip(values[0], values[1]).map { $1 - $0 })
        return PairedELBO(a: (ea.mean, ea.standardError, scored), b: (eb.mean, eb.standardError, scored),
                          difference: d.mean, differenceStandardError: d.standardError)
    }

    /// Two denoisers' ELBO on the same masks (`pairedDenoiserELBO`): nats per token, each
    /// with its own standard error, and the paired difference b − a with its standard error.
    public struct PairedELBO: Sendable {
        public var a: (natsPerToken: Double, standardError: Double, tokens: Int)
        public var b: (natsPerToken: Double, standardError: Double, tokens: Int)
        public var difference: Double
        public var differenceStandardError: Double
    }

    static func meanAndStandardError(_ values: [Double]) -> (mean: Double, standardError: Double) {
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(1, n - 1)
        return (mean, (variance / n).squareRoot())
    }

    /// The per-(window, draw) ELBO terms of each denoiser, all on the same masks; and the
    /// number of tokens scored.
    static func elboValues(denoisers: [Denoiser], tokens: [Int], draws: Int, seed: UInt64, weight: (Double) -> Double,
                           progress: ((Int, Int) -> Void)?) throws -> ([[Double]], Int) {
        let denoiser = denoisers[0]
        let L = denoiser.maxLength, V = denoiser.vocabSize, mask = denoiser.maskId
        let schedule = NoiseSchedule.linear
        var values = [[Double]](repeating: [], count: denoisers.count)
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
                for (d, model) in denoisers.enumerated() {
                    var sum = 0.0
                    if !positions.isEmpty {
                        let logits = try blockELBOLogits(model, noisy: ids, clean: window, positions: positions)
                            ?? model.logits(sequences: [ids], positions: [positions])
                        for (j, i) in positions.enumerated() { sum += nll(logits, row: j, vocab: V, target: window[i], excluded: mask) }
                    }
                    values[d].append(weight(t) * sum / Double(window.count))
                }
            }
            start += L
            w += 1
            progress?(min(start, tokens.count), tokens.count)
        }
        return (values, scoredTokens)
    }

    /// For a block-causal denoiser, its outputs at `positions` with every block denoised
    /// given the clean blocks before it (block diffusion's training layout, one forward):
    /// the window's bound is then the sum of its blocks' ELBOs (BD3-LM), all at the draw's t.
    /// Nil for other denoisers.
    static func blockELBOLogits(_ model: Denoiser, noisy: [Int], clean: [Int], positions: [Int]) throws -> [Float]? {
        guard let bc = Generation.blockCausalModel(model) else { return nil }
        var out = try bc.model.forward(ids: noisy + clean, batch: 1, length: 2 * clean.count, positions: positions,
                                       pattern: .blockDiffusionTraining(bc.model.config.blockSize!))
        bc.maskPadding(&out, rows: positions.count)
        return out
    }

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

extension Evaluation {
    /// Samples from a causal model, left to right at temperature 1 (float64 draws), each
    /// sample starting after `<|endoftext|>` and using Philox stream (seed, firstStream + i).
    public static func autoregressiveSamples(evaluator: CausalEvaluator, count: Int, length: Int, seed: UInt64,
                                             endOfText: Int, options: CategoricalOptions = CategoricalOptions(),
                                             firstStream: UInt64 = 0) throws -> [[Int]] {
        let L = evaluator.maxLength, V = evaluator.vocabSize
        guard length + 1 <= L else { throw UnmaskError("length \(length) + 1 exceeds the evaluator's context of \(L)") }
        var out: [[Int]] = []
        for i in 0..<count {
            var rng = Philox(seed: seed, stream: firstStream + UInt64(i))
            var seq = [endOfText]
            for _ in 0..<length {
                var row = try evaluator.logits(window: seq, positions: [seq.count - 1])
                // Neither the mask nor a second <|endoftext|>: the sample stays one document.
                for f in [evaluator.excludedToken, endOfText].compactMap({ $0 }) where f < V { row[f] = -.infinity }
                let next = row.withUnsafeBufferPointer { Categorical.sample($0, options: options, forbidden: nil, rng: &rng) }
                seq.append(next)
            }
            out.append(Array(seq.dropFirst()))
        }
        return out
    }
}

/// Generative perplexity the way the MDLM, BD3-LM, DUO and ReMDM papers take it under
/// GPT-2, written out so that a number from here can stand next to theirs:
///
///  1. each sample is decoded to text and encoded again by the evaluator's tokenizer (a
///     `<|endoftext|>` in the text is the end-of-text token; no BOS is added, as GPT-2's
///     tokenizer adds none);
///  2. the tokens are cut after the first end of text (it is counted; what follows is not);
///  3. they are scored in consecutive chunks of the evaluator's context; the first token of
///     each chunk has no context and is not scored;
///  4. the corpus-level figure is exp(Σ NLL / Σ tokens scored), summed in float64.
///
/// Where the papers' scripts differ: MDLM's `compute_generative_perplexity` (and DUO's,
/// which keeps it) tokenizes the batch with padding, then counts every token that is not
/// end of text plus each chunk's first end of text, so text after an end of text still
/// counts there (step 2 here stops at it, as the engine issue asks); its padding is end of
/// text and is not counted, as here. Samples without an end of text score the same. Both
/// score chunks without overlap, as step 3.
public struct RetokenizedRecipe {
    public let evaluator: CausalEvaluator
    public let tokenizer: Tokenizer

    public init(evaluator: CausalEvaluator, tokenizer: Tokenizer) {
        self.evaluator = evaluator
        self.tokenizer = tokenizer
    }

    /// (Σ NLL in nats, tokens scored) of one sample's text.
    public func score(_ text: String) throws -> (nats: Double, tokens: Int) {
        var ids = try tokenizer.encode(utf8: Array(text.utf8), allowSpecial: true)
        if let end = ids.firstIndex(of: tokenizer.endOfTextId) { ids = Array(ids[...end]) }
        let L = evaluator.maxLength, V = evaluator.vocabSize
        var nats = 0.0, count = 0
        var start = 0
        while start < ids.count {
            let chunk = Array(ids[start..<min(ids.count, start + L)])
            start += L
            guard chunk.count >= 2 else { continue }
            let logits = try evaluator.logits(window: chunk, positions: nil)
            for i in 1..<chunk.count {
                nats += Evaluation.nll(logits, row: i - 1, vocab: V, target: chunk[i], excluded: evaluator.excludedToken)
                count += 1
            }
        }
        return (nats, count)
    }
}
