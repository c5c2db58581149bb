#if canImport(Glibc)
import Glibc
#endif
import UnmaskSupport
import UnmaskTokenizer
import UnmaskDiffusion
import UnmaskEvaluation

/// `unmask compare` with steering: samplers and steering methods side by side on the same
/// canvas and seeds, each row with generative perplexity and entropy, the reward, the
/// fraction of samples the classifier (and a second, independently trained one) assigns
/// to the class, the acceptance rate, the mean ESS, NFE counting every network call, and
/// seconds per sample.
public enum SteeringComparison {
    public enum Entry {
        case sampler(name: String, DiffusionSampler)
        /// A sampler on the unconditional denoiser (a labeled model's null label).
        case unconditionalSampler(name: String, DiffusionSampler)
        case steering(SteeringEngine)

        var name: String {
            switch self {
            case let .sampler(name, _), let .unconditionalSampler(name, _): return name
            case let .steering(e): return e.spec.description
            }
        }
    }

    public struct Row: Sendable {
        public var name: String
        public var target: String
        public var statistics: SampleStatistics
        public var nfe: Double, secondsPerSample: Double
        /// Mean reward ± its standard error (nil without a reward).
        public var reward: (mean: Double, standardError: Double)?
        /// Fractions of samples classified as the class, by the steering classifier and by
        /// the check classifier.
        public var classFraction: Double?, checkFraction: Double?
        /// Rejection: accepted / proposed paths. Population modes: mean ESS in particles.
        public var acceptance: Double?, meanESS: Double?

        public func json(samples: Int, length: Int) -> String {
            func opt(_ d: Double?) -> JSONValue { d.map { .double($0) } ?? .null }
            return JSON.line([("sampler", .string(name)), ("target", .string(target)),
                              ("gen_ppl", .double(statistics.perplexity)), ("gen_ppl_se", .double(statistics.perplexityStandardError)),
                              ("entropy", .double(statistics.entropy)), ("entropy_se", .double(statistics.entropyStandardError)),
                              ("reward", opt(reward?.mean)), ("reward_se", opt(reward?.standardError)),
                              ("class_fraction", opt(classFraction)), ("check_fraction", opt(checkFraction)),
                              ("acceptance", opt(acceptance)), ("mean_ess", opt(meanESS)),
                              ("nfe", .double(nfe)), ("seconds_per_sample", .double(secondsPerSample)),
                              ("samples", .int(samples)), ("length", .int(length))])
        }
    }

    /// The classifier columns: the class, the classifier steering used, and a check one.
    public struct ClassCheck {
        public var classIndex: Int
        public var classifier: NaiveBayesClassifier
        public var check: NaiveBayesClassifier?
        public init(classIndex: Int, classifier: NaiveBayesClassifier, check: NaiveBayesClassifier?) {
            self.classIndex = classIndex
            self.classifier = classifier
            self.check = check
        }
    }

    /// Every entry draws `samples` samples on `canvas` with seeds (seed, 0..<samples).
    /// Scores look at the generated positions only (the canvas's masks).
    /// `unconditional`: cfg's unconditional branch when it is a denoiser of its own (a
    /// label-conditional model's null label).
    public static func run(entries: [Entry], denoiser: Denoiser, unconditional: Denoiser? = nil, canvas: [Int],
                           evaluator: CausalEvaluator, endOfText: Int,
                           samples: Int, seed: UInt64, batch: Int, reward: Reward?, classes: ClassCheck?,
                           retokenizing: (samples: Tokenizer, evaluator: Tokenizer)? = nil,
                           progress: ((Int, Int) -> Void)? = nil) throws -> [Row] {
        let generated = canvas.indices.filter { canvas[$0] == denoiser.maskId }
        var rows: [Row] = []
        for (e, entry) in entries.enumerated() {
            var tally = GenerativePerplexityTally(evaluator: evaluator, endOfText: endOfText, evaluatorTokenizer: retokenizing?.evaluator)
            var rewards: [Double] = []
            var inClass = 0, inCheck = 0, calls = 0, attempts = 0
            var essSum = 0.0, essCount = 0
            let start = monotonicSeconds()
            func score(_ sequence: [Int], nfe: Int) throws {
                let ids = generated.map { sequence[$0] }
                try tally.add(ids, text: try retokenizing.map { try $0.samples.decodeText(ids) })
                if let reward { rewards.append(try reward.scores(sequences: [sequence], generated: generated)[0]) }
                if let classes {
                    if classes.classifier.classify(ids) == classes.classIndex { inClass += 1 }
                    if let check = classes.check, check.classify(ids) == classes.classIndex { inCheck += 1 }
                }
                calls += nfe
            }
            var target = "the sampler's law"
            switch entry {
            case let .sampler(_, sampler), let .unconditionalSampler(_, sampler):
                var model = denoiser
                if case .unconditionalSampler = entry {
                    guard let unconditional else { throw UnmaskError("an unconditional row needs an unconditional denoiser") }
                    model = unconditional
                }
                try Generation.run(sampler: sampler, denoiser: model, canvas: canvas, count: samples, batch: batch, seed: seed) { j, s, nfe, _ in
                    try score(s, nfe: nfe)
                    progress?(e * samples + j + 1, entries.count * samples)
                }
            case let .steering(engine):
                target = engine.spec.target
                for j in 0..<samples {
                    let s = try engine.sample(canvas: canvas, denoiser: denoiser, seed: seed, index: j, unconditional: unconditional)
                    try score(s.sequence, nfe: s.nfe)
                    attempts += s.attempts
                    if let ess = s.meanESS { essSum += ess; essCount += 1 }
                    progress?(e * samples + j + 1, entries.count * samples)
                }
            }
            let seconds = monotonicSeconds() - start
            let n = Double(samples)
            var rewardStat: (Double, Double)?
            if !rewards.isEmpty {
                let mean = rewards.reduce(0, +) / n
                let variance = rewards.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(1, n - 1)
                rewardStat = (mean, (variance / n).squareRoot())
            }
            var isExact = false
            if case let .steering(engine) = entry, engine.spec.mode == .exact, [.cfg, .anneal, .tilt].contains(engine.spec.method) { isExact = true }
            rows.append(Row(name: entry.name, target: target, statistics: tally.statistics, nfe: Double(calls) / n,
                            secondsPerSample: seconds / n, reward: rewardStat,
                            classFraction: classes.map { _ in Double(inClass) / n },
                            checkFraction: classes?.check.map { _ in Double(inCheck) / n },
                            acceptance: isExact ? n / Double(attempts) : nil,
                            meanESS: essCount > 0 ? essSum / Double(essCount) : nil))
        }
        return rows
    }

    public static func table(_ rows: [Row], samples: Int, length: Int, seed: UInt64, className: String?) -> [String] {
        func cell(_ d: Double?, _ digits: Int) -> String { d.map { fixed($0, digits) } ?? "-" }
        var lines = ["\(samples) samples × \(length) tokens, seed \(seed); ± = one standard error"
                     + (className.map { "; class % = classified as \($0) (steering classifier / check classifier)" } ?? ""),
                     "\(padRight("method", 44)) \(padLeft("gen ppl", 16)) \(padLeft("entropy", 13)) \(padLeft("reward", 16)) \(padLeft("class %", 13)) \(padLeft("accept", 7)) \(padLeft("ESS", 6)) \(padLeft("NFE", 7)) \(padLeft("s/sample", 9))"]
        for r in rows {
            let ppl = fixed(r.statistics.perplexity, 1) + " ± " + fixed(r.statistics.perplexityStandardError, 1)
            let ent = fixed(r.statistics.entropy, 2) + " ± " + fixed(r.statistics.entropyStandardError, 2)
            let reward = r.reward.map { fixed($0.mean, 2) + " ± " + fixed($0.standardError, 2) } ?? "-"
            let cls = r.classFraction.map { fixed(100 * $0, 0) + (r.checkFraction.map { " / " + fixed(100 * $0, 0) } ?? "") } ?? "-"
            lines.append("\(padRight(r.name, 44)) \(padLeft(ppl, 16)) \(padLeft(ent, 13)) \(padLeft(reward, 16)) \(padLeft(cls, 13)) \(padLeft(cell(r.acceptance, 3), 7)) \(padLeft(cell(r.meanESS, 1), 6)) \(padLeft(fixed(r.nfe, 0), 7)) \(padLeft(fixed(r.secondsPerSample, 2), 9))")
        }
        return lines
    }

    /// Reward against generative perplexity, one marker with error bars a row.
    public static func plot(_ rows: [Row], samples: Int, length: Int, rewardName: String) -> SVGPlot {
        var p = SVGPlot(title: "Reward vs generative perplexity (\(samples) × \(length) tokens, ± 1 s.e.)",
                        xLabel: "generative perplexity", yLabel: "mean reward: \(rewardName)")
        p.series = rows.enumerated().compactMap { i, r in
            guard let reward = r.reward else { return nil }
            let look = SVGPlot.look(ofSeries: i)
            return SVGPlot.Series(name: r.name, points: [(r.statistics.perplexity, reward.mean)], color: look.color,
                                  lines: false, errors: [(r.statistics.perplexityStandardError, reward.standardError)],
                                  marker: look.marker)
        }
        return p
    }
}
