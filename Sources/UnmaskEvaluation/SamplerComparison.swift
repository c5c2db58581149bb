#if canImport(Glibc)
import Glibc
#endif
import UnmaskDiffusion
import UnmaskTokenizer
import UnmaskSupport

/// `unmask compare` as a library call: samplers side by side on the same seeds, each row
/// with generative perplexity and entropy (± one standard error), NFE and time, plus two
/// reference rows (held-out text cut to the same length, and the evaluator's own samples).
public enum SamplerComparison {
    /// One row of the table, as `compare --json` prints it.
    public struct Row: Sendable {
        public var name: String
        public var genPPL: Double, pplError: Double
        public var entropy: Double, entropyError: Double
        public var nfe: Double?, secondsPerSample: Double?
        /// A Fast-dLLM cache's error on this row's own states (`--cache-error`).
        public var cacheError: CacheErrorSummary?

        public init(name: String, statistics s: SampleStatistics, nfe: Double?, secondsPerSample: Double?) {
            self.name = name
            genPPL = s.perplexity
            pplError = s.perplexityStandardError
            entropy = s.entropy
            entropyError = s.entropyStandardError
            self.nfe = nfe
            self.secondsPerSample = secondsPerSample
        }

        public func json(samples: Int, length: Int) -> String {
            JSON.line([("sampler", .string(name)), ("gen_ppl", .double(genPPL)), ("gen_ppl_se", .double(pplError)),
                       ("entropy", .double(entropy)), ("entropy_se", .double(entropyError)),
                       ("nfe", nfe.map { .double($0) } ?? .null),
                       ("seconds_per_sample", secondsPerSample.map { .double($0) } ?? .null),
                       ("samples", .int(samples)), ("length", .int(length))]
                      + (cacheError.map { e in [("cache_mean_kl", JSONValue.double(e.meanKL)), ("cache_max_kl", .double(e.maxKL)),
                                                ("cache_argmax_agreement", .double(e.argmaxAgreement)),
                                                ("cache_threshold_overlap", .double(e.thresholdOverlap)),
                                                ("cache_threshold", .double(e.threshold)), ("cache_positions", .int(e.positions))] } ?? []))
        }
    }

    /// Held-out text as `samples` windows of `length` tokens, spread evenly over it.
    public static func referenceWindows(tokens: [Int], samples: Int, length: Int, name: String) throws -> [[Int]] {
        guard samples >= 1, length >= 1, tokens.count / samples >= length else {
            throw UnmaskError("\(name) is too short for \(samples) windows of \(length) tokens")
        }
        let stride = tokens.count / samples
        return (0..<samples).map { Array(tokens[($0 * stride)..<($0 * stride + length)]) }
    }

    /// Whether the evaluator's own samples (a reference row) can be drawn at this length:
    /// it reads an <|endoftext|> first, so it needs length + 1 positions.
    public static func evaluatorRowFits(length: Int, evaluator: CausalEvaluator) -> Bool { length + 1 <= evaluator.maxLength }

    /// Runs every sampler on `samples` canvases of `length` masks with seeds (seed, 0..<samples),
    /// `batch` samples at a time, each batch scored as soon as it is drawn (memory depends on
    /// the batch, not on the number of samples); then the reference rows. A length past the
    /// denoiser's context is generated in windows (`Generation`, `window` or half the context),
    /// and scored with the evaluator's sliding window (`Evaluation.causalNLL`). The
    /// evaluator's own samples are a row only when they fit in its context.
    /// `progress(done, total)` counts samples.
    ///
    /// `caching[i]` is sampler i's cache (nil: the model's default). With
    /// `measureCacheError`, a row with a Fast-dLLM cache is run a second time on the same
    /// seeds with a `CacheError` meter (after the timed run: the meter runs the uncached
    /// forward too), and the row carries the measured error.
    public static func run(samplers: [(name: String, sampler: DiffusionSampler)], denoiser: Denoiser,
                           evaluator: CausalEvaluator, samples: Int, length: Int, seed: UInt64, endOfText: Int,
                           referenceWindows: [[Int]]?, batch: Int = 8, window: Int? = nil,
                           caching: [KeyValueCaching?]? = nil, measureCacheError: Bool = false,
                           pastContext: PastContext = .recompute,
                           retokenizing: (samples: Tokenizer, evaluator: Tokenizer)? = nil,
                           progress: ((Int, Int) -> Void)? = nil) throws -> [Row] {
        // An evaluator with a tokenizer of its own (a Hugging Face GPT-2) scores text by the
        // published recipe: every sample and reference window is decoded first, and its own
        // samples are drawn in its tokens and decoded with its tokenizer.
        func newTally() -> GenerativePerplexityTally {
            GenerativePerplexityTally(evaluator: evaluator, endOfText: endOfText, evaluatorTokenizer: retokenizing?.evaluator)
        }
        func add(_ ids: [Int], to tally: inout GenerativePerplexityTally, tokenizer: Tokenizer? = nil) throws {
            let text = try (tokenizer ?? retokenizing?.samples).map { try $0.decodeText(ids) }
            try tally.add(ids, text: text)
        }
        var rows: [Row] = []
        let ownRow = evaluatorRowFits(length: length, evaluator: evaluator)
        let total = samples * (samplers.count + (ownRow ? 1 : 0))
        let canvas = [Int](repeating: denoiser.maskId, count: length)
        for (i, entry) in samplers.enumerated() {
            var tally = newTally()
            var calls = 0, seconds = 0.0
            let cache = caching?[i] ?? nil
            try Generation.run(sampler: entry.sampler, denoiser: denoiser, canvas: canvas, count: samples, batch: batch,
                               seed: seed, window: window, caching: cache, pastContext: pastContext) { j, sequence, nfe, time in
                try add(sequence, to: &tally)
                calls += nfe
                seconds += time
                progress?(i * samples + j + 1, total)
            }
            var row = Row(name: entry.name, statistics: tally.statistics, nfe: Double(calls) / Double(samples),
                          secondsPerSample: seconds / Double(samples))
            if measureCacheError, let cache, cache == .prefix || cache == .dual {
                let meter = CacheError(threshold: entry.sampler.spec.threshold ?? 0.9)
                try Generation.run(sampler: entry.sampler, denoiser: denoiser, canvas: canvas, count: samples, batch: batch,
                                   seed: seed, window: window, caching: cache, pastContext: pastContext, cacheError: meter) { _, _, _, _ in }
                row.cacheError = meter.summary
            }
            rows.append(row)
        }
        if let referenceWindows {
            var tally = newTally()
            for window in referenceWindows { try add(window, to: &tally) }
            rows.append(Row(name: "held-out text", statistics: tally.statistics, nfe: nil, secondsPerSample: nil))
        }
        if ownRow {
            var tally = newTally()
            for j in 0..<samples {
                // Sample j alone is stream j, exactly as in one call for all of them.
                let own = try Evaluation.autoregressiveSamples(evaluator: evaluator, count: 1, length: length, seed: seed,
                                                               endOfText: endOfText, firstStream: UInt64(j))
                try add(own[0], to: &tally, tokenizer: retokenizing?.evaluator)
                progress?(samplers.count * samples + j + 1, total)
            }
            rows.append(Row(name: "evaluator samples (T=1)", statistics: tally.statistics, nfe: Double(length), secondsPerSample: nil))
        }
        return rows
    }

    /// Rows from `compare --json` output (one object per line), with the run's sample count
    /// and length, read line by line.
    public static func readRows(_ path: String) throws -> (rows: [Row], samples: Int, length: Int) {
        let reader = try LineReader(path: path, maxLineBytes: 1 << 20)
        var rows: [Row] = []
        var samples = 0, length = 0
        while let line = try reader.next() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            func bad(_ why: String) -> UnmaskError { UnmaskError("\(path):\(reader.lineNumber): \(why)") }
            guard let value = try? JSON.parse(line), value.objectPairs != nil else { throw bad("not a JSON object (expected `compare --json` output)") }
            func number(_ key: String) -> Double? { value[key]?.doubleValue }
            guard let name = value["sampler"]?.stringValue, let ppl = number("gen_ppl"), let ent = number("entropy") else {
                throw bad("missing sampler, gen_ppl or entropy")
            }
            let row = Row(name: name, statistics: SampleStatistics(samples: 0, tokens: 0, nats: 0, perplexity: ppl,
                                                                   perplexityStandardError: number("gen_ppl_se") ?? 0,
                                                                   entropy: ent, entropyStandardError: number("entropy_se") ?? 0),
                          nfe: number("nfe"), secondsPerSample: number("seconds_per_sample"))
            rows.append(row)
            samples = Int(number("samples") ?? 0)
            length = Int(number("length") ?? 0)
        }
        if rows.isEmpty { throw UnmaskError("\(path): no rows") }
        return (rows, samples, length)
    }

    /// Three significant digits, as m·10^e below 0.001.
    static func significant(_ x: Double) -> String {
        guard x != 0, abs(x) < 1e-3, x.isFinite else { return fixed(x, 4) }
        let e = Int((log10(abs(x))).rounded(.down))
        return fixed(x / pow(10, Double(e)), 2) + "e" + String(e)
    }

    /// The text table, one line a row, with a header.
    public static func table(_ rows: [Row], samples: Int, length: Int, seed: UInt64) -> [String] {
        var lines = ["\(samples) samples × \(length) tokens, seed \(seed); ± = one standard error",
                     "\(padRight("sampler", 40)) \(padLeft("gen ppl", 16)) \(padLeft("entropy", 15)) \(padLeft("NFE", 7)) \(padLeft("s/sample", 9))"]
        let errors = rows.contains { $0.cacheError != nil }
        if errors { lines[1] += "  cache error: mean KL / max KL (nats), argmax agreement, threshold-set overlap" }
        for r in rows {
            var line = "\(padRight(r.name, 40)) \(padLeft(fixed(r.genPPL, 1) + " ± " + fixed(r.pplError, 1), 16)) \(padLeft(fixed(r.entropy, 3) + " ± " + fixed(r.entropyError, 3), 15)) \(padLeft(r.nfe.map { fixed($0, 1) } ?? "-", 7)) \(padLeft(r.secondsPerSample.map { fixed($0, 3) } ?? "-", 9))"
            if let e = r.cacheError {
                line += "  \(significant(e.meanKL)) / \(significant(e.maxKL)), \(fixed(100 * e.argmaxAgreement, 1))%, \(fixed(100 * e.thresholdOverlap, 1))% (τ \(e.threshold))"
            }
            lines.append(line)
        }
        return lines
    }

    /// Generative perplexity (log scale) against entropy, one marker with error bars a row.
    public static func plot(_ rows: [Row], samples: Int, length: Int) -> SVGPlot {
        var p = SVGPlot(title: "Generative perplexity vs entropy (\(samples) × \(length) tokens, ± 1 s.e.)",
                        xLabel: "unigram entropy (nats)", yLabel: "generative perplexity (log scale)")
        p.logY = true
        p.series = rows.enumerated().map { i, r in
            let look = SVGPlot.look(ofSeries: i)
            return SVGPlot.Series(name: r.name, points: [(r.entropy, r.genPPL)], color: look.color, lines: false,
                                  errors: [(r.entropyError, r.pplError)], marker: look.marker)
        }
        return p
    }
}
