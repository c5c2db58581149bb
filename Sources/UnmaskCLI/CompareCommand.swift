import ArgumentParser
import Unmask
#if canImport(Glibc)
import Glibc
#endif

/// `unmask compare`: samplers side by side, with reference rows, as a table, JSON and a plot.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Run samplers on the same seeds; report generative perplexity, entropy, NFE and time.",
        discussion: """
        Every sampler generates --samples texts of --length tokens from scratch with seeds \
        (seed, 0..<samples). Generative perplexity is exp(total NLL / total tokens) under the \
        evaluator; ± is one standard error, from the spread of the per-sample NLL (delta method). \
        Entropy is the mean per-sample unigram entropy ± its standard error. Reference rows: \
        held-out text (--reference FILE) cut into windows of the same length, and the \
        evaluator's own samples at temperature 1. --length must fit in the denoiser's context \
        and, plus one, in the evaluator's (128 each for the bundled models).

        Steering rows (--steer, repeatable) draw on the first-hitting kernel of the raw \
        model, from the same canvas (--prompt, then --length masks) and seeds as the sampler \
        rows. With a label-conditional --model, --class conditions every row on the class \
        and cfg guides against the null label; with any other, cfg guides by the prompt and \
        --class only names the classifier's class. Every row is then also scored by --reward (mean ± one standard error), and with \
        --class by the classifier (the percentage of samples it assigns to the class) and by \
        --check-classifier, one trained on other windows, so that steering that only fools \
        its own classifier shows. NFE counts every network evaluation: both branches of \
        guidance, all particles, candidates and x̂₀ fills, and every rejected proposal. \
        Scores look at the generated tokens only. With --reward, --plot draws the reward \
        against generative perplexity.

        \(SamplerSpec.helpText)

        \(SteeringOptions.help)
        """
    )

    @Option(name: .customLong("sampler"), help: "Sampler spec (repeatable); SPEC@CACHE runs it with that --cache (exact, off, prefix, dual), e.g. confidence:block=32@dual.") var samplers: [String] = []
    @Flag(help: "Rows with a prefix or dual cache run once more, on the same seeds, with the uncached forward beside every call: KL, argmax agreement and threshold-set overlap.")
    var cacheError = false
    @Option(help: "A block-causal model past its context: recompute (default) or slide (see generate --help).") var pastContext: PastContext?
    @Option(name: .customLong("steer"), help: "Steering method (repeatable); methods below.") var steers: [String] = []
    @Option(help: "Text every sample continues (steering rows need it for cfg).") var prompt: String?
    @Option(help: "A second classifier to check the class percentages with (e.g. models/classifier-odd).") var checkClassifier: String?
    @OptionGroup var steering: SteeringOptions
    @Option(parsing: .unconditional, help: "Samples per sampler (2...1000000), drawn and scored --batch at a time.") var samples = 8
    @Option(parsing: .unconditional, help: "Samples generated together (1...256; the results do not depend on it).") var batch = GenerateCommand.defaultBatch
    @OptionGroup var window: WindowOption
    @Option(parsing: .unconditional, help: "Tokens per sample; past the denoiser's context they are generated in windows, past the evaluator's scored with a sliding window.") var length = 64
    @Option(parsing: .unconditional, help: "Seed, 0...2^64−1.", transform: Seed.parse) var seed: Seed = Seed(1)
    @Option(help: "Write a generative-perplexity vs entropy plot (SVG).") var plot: String?
    @Option(help: ArgumentHelp("Redraw --plot (and the table) from the rows a `compare --json` run printed, without sampling.",
                               valueName: "JSONL")) var replot: String?
    @Option(help: "Held-out text for the real-text reference row.") var reference: String?
    @OptionGroup var models: ModelSetOptions
    @Flag(help: "One JSON object per row.") var json = false
    @OptionGroup var vocabOptions: VocabOptions
    @OptionGroup var engine: EngineOptions
    @OptionGroup var computeOptions: ComputeOptions

    func validate() throws {
        if replot != nil {
            if !samplers.isEmpty { throw ValidationError("--replot redraws a saved run; it takes no --sampler") }
            if plot == nil && !json { throw ValidationError("--replot needs --plot FILE.svg (or --json)") }
            return
        }
        if samplers.isEmpty && steers.isEmpty { throw ValidationError("give at least one --sampler SPEC or --steer SPEC") }
        if checkClassifier != nil && steering.className == nil { throw ValidationError("--check-classifier needs --class") }
        if samples < 2 || samples > 1_000_000 { throw ValidationError("--samples must be in 2...1000000 (standard errors need two)") }
        if batch < 1 || batch > 256 { throw ValidationError("--batch must be in 1...256") }
        if length < 1 || length > GenerationCanvas.maxTokens {
            throw ValidationError("--length must be in 1...\(GenerationCanvas.maxTokens), got \(length)")
        }
    }

    /// Before any sampling: the plot can be written, and it would not overwrite an input.
    func checkOutputs() throws {
        guard let plot else { return }
        // Every file this run reads: the rows or text given, the tokenizer, the models.
        var inputs = [replot, reference, vocabOptions.vocab ?? Files.locateResource("vocab/tokenizer.json")].compactMap { $0 }
        for role in ModelRole.allCases {
            guard let dir = models.sources(vocabOptions).directory(role) else { continue }
            inputs += ["config.json", "model.safetensors", "README.md"].map { dir + "/" + $0 }
        }
        for input in inputs where Files.sameFile(plot, input) {
            throw UnmaskError("--plot \(plot) is the input file \(input); choose another name")
        }
        try Files.checkWritableFile(plot, what: "--plot")
    }

    func run() throws {
        try checkOutputs()
        if let replot {
            let saved = try SamplerComparison.readRows(replot)
            try report(saved.rows, samples: saved.samples, length: saved.length)
            return
        }
        if steeringMode {
            try runSteering()
            return
        }
        let parsed = try samplers.map { try CompareCommand.parseEntry($0) }
        let specs = parsed.map(\.spec)
        let set = try models.open(vocab: vocabOptions, matmul: try computeOptions.matmul(engine), denoiser: .required,
                                  evaluator: .required, corruptionDetector: specs.contains { $0.kind == .ddpd } ? .required : .unused)
        let vocab = set.tokenizer, denoiser = set.denoiser!, scoring = set.evaluator!
        let evaluator = scoring.evaluator
        // The reference text is read and checked before minutes of sampling, not after.
        let referenceWindows = try reference.map {
            try SamplerComparison.referenceWindows(tokens: TextPipeline.tokens(ofFile: $0, tokenizer: vocab.tokenizer).tokens,
                                                   samples: samples, length: length, name: $0)
        }
        let entries = try parsed.map {
            (name: $0.spec.description + ($0.cache.map { "@" + $0.rawValue } ?? ""),
             sampler: try DiffusionSampler(spec: $0.spec, corruptionDetector: set.corruptionDetector))
        }
        let ownRow = SamplerComparison.evaluatorRowFits(length: length, evaluator: evaluator)
        let bar = ProgressBar("compare", total: samples * (specs.count + (ownRow ? 1 : 0)))
        let rows = try SamplerComparison.run(samplers: entries, denoiser: denoiser, evaluator: evaluator, samples: samples,
                                             length: length, seed: seed.value, endOfText: scoring.endOfText,
                                             referenceWindows: referenceWindows, batch: batch, window: window.window,
                                             caching: parsed.map(\.cache), measureCacheError: cacheError,
                                             pastContext: pastContext ?? .recompute,
                                             retokenizing: scoring.ownTokenizer.map { (vocab.tokenizer, $0) }) { done, _ in bar.update(done) }
        bar.finish()
        try report(rows, samples: samples, length: length)
    }

    /// `SPEC` or `SPEC@CACHE`.
    static func parseEntry(_ text: String) throws -> (spec: SamplerSpec, cache: KeyValueCaching?) {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let spec = try SamplerSpec.parse(parts[0])
        guard parts.count == 2 else { return (spec, nil) }
        guard let cache = KeyValueCaching(rawValue: parts[1]) else {
            throw UnmaskError("--sampler \(text): the cache after @ must be one of \(KeyValueCaching.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return (spec, cache)
    }

    /// Steering rows, a prompt, a reward or a class: the steering comparison's table.
    var steeringMode: Bool { !steers.isEmpty || prompt != nil || steering.reward != nil || steering.className != nil }

    func runSteering() throws {
        let specs = try samplers.map { try SamplerSpec.parse($0) }
        if plot != nil && steering.reward == nil { throw UnmaskError("--plot with steering draws the reward: give --reward") }
        // Every row shares the library's setup: the canvas, the class, the reward; each
        // --steer is an engine of its own. A class without labels names the classifier's
        // class (the class columns), and a reward without --steer scores the rows.
        var settings = GenerationSettings()
        settings.prompt = prompt
        settings.length = length
        settings.sampler = GenerationSettings.defaultSteeringSampler
        steering.apply(to: &settings)
        let set = try models.open(vocab: vocabOptions, matmul: try computeOptions.matmul(engine), denoiser: .required,
                                  evaluator: .required, corruptionDetector: specs.contains { $0.kind == .ddpd } ? .required : .unused)
        let tokenizer = set.tokenizer.tokenizer, scoring = set.evaluator!
        let resources = try GenerationSettings.Models(set)
        let (denoiser, unconditional) = try settings.denoisers(over: set.denoiser!, labels: set.denoiserLabels, steered: true)
        let canvas = try settings.makeCanvas(tokenizer: tokenizer, contextLength: denoiser.maxLength, steered: !steers.isEmpty).ids
        let reward = try settings.makeReward(resources)
        var entries: [SteeringComparison.Entry] = try specs.map { .sampler(name: $0.description, try DiffusionSampler(spec: $0, corruptionDetector: set.corruptionDetector)) }
        // A label-conditional model's rows are given the class; one row shows it unconditioned.
        if unconditional != nil { entries.insert(.unconditionalSampler(name: "fhs, null label", try DiffusionSampler("fhs")), at: 0) }
        entries += try steers.map { text in
            var one = settings
            one.steer = text
            return .steering(try one.steeringEngine(resources, reward: reward, classGuides: false)!)
        }
        var classes: SteeringComparison.ClassCheck?
        if let target = try settings.classTarget(vocabSize: tokenizer.vocabSize) {
            let check = try checkClassifier.map { try NaiveBayesClassifier.load($0) }
            if let check, check.classes != target.classifier.classes {
                throw UnmaskError("--check-classifier has classes \(check.classes.joined(separator: ", ")), not the classifier's \(target.classifier.classes.joined(separator: ", "))")
            }
            classes = SteeringComparison.ClassCheck(classIndex: target.index, classifier: target.classifier, check: check)
        }
        let bar = ProgressBar("compare", total: samples * entries.count)
        let rows = try SteeringComparison.run(entries: entries, denoiser: denoiser, unconditional: unconditional, canvas: canvas,
                                              evaluator: scoring.evaluator,
                                              endOfText: scoring.endOfText, samples: samples, seed: seed.value, batch: batch,
                                              reward: reward, classes: classes,
                                              retokenizing: scoring.ownTokenizer.map { (tokenizer, $0) }) { done, _ in bar.update(done) }
        bar.finish()
        if json {
            for r in rows { print(r.json(samples: samples, length: length)) }
        } else {
            SteeringComparison.table(rows, samples: samples, length: length, seed: seed.value, className: steering.className).forEach { print($0) }
            if let reward { print("reward: \(reward.name)") }
            for r in rows where r.target != "the sampler's law" { print("\(r.name): samples \(r.target)") }
        }
        if let plot, let reward {
            try Files.writeAtomically(Array(SteeringComparison.plot(rows, samples: samples, length: length, rewardName: reward.name).render(width: 860).utf8), to: plot)
        }
    }

    /// The table (or JSON rows) and the plot.
    func report(_ rows: [SamplerComparison.Row], samples: Int, length: Int) throws {
        if json {
            for r in rows { print(r.json(samples: samples, length: length)) }
        } else {
            SamplerComparison.table(rows, samples: samples, length: length, seed: seed.value).forEach { print($0) }
        }
        if let plot {
            try Files.writeAtomically(Array(SamplerComparison.plot(rows, samples: samples, length: length).render(width: 860).utf8), to: plot)
        }
    }
}
