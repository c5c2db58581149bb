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

        \(SamplerSpec.helpText)
        """
    )

    @Option(name: .customLong("sampler"), help: "Sampler spec (repeatable).") var samplers: [String] = []
    @Option(parsing: .unconditional, help: "Samples per sampler (2...10000).") var samples = 8
    @Option(parsing: .unconditional, help: "Tokens per sample (at most the denoiser's context, and one less than the evaluator's).") var length = 64
    @Option(parsing: .unconditional, help: "Seed, 0...2^64−1.", transform: Seed.parse) var seed: Seed = Seed(1)
    @Option(help: "Write a generative-perplexity vs entropy plot (SVG).") var plot: String?
    @Option(help: ArgumentHelp("Redraw --plot (and the table) from the rows a `compare --json` run printed, without sampling.",
                               valueName: "JSONL")) var replot: String?
    @Option(help: "Held-out text for the real-text reference row.") var reference: String?
    @OptionGroup var models: ModelSetOptions
    @Flag(help: "One JSON object per row.") var json = false
    @OptionGroup var vocabOptions: VocabOptions
    @OptionGroup var engine: EngineOptions

    func validate() throws {
        if replot != nil {
            if !samplers.isEmpty { throw ValidationError("--replot redraws a saved run; it takes no --sampler") }
            if plot == nil && !json { throw ValidationError("--replot needs --plot FILE.svg (or --json)") }
            return
        }
        if samplers.isEmpty { throw ValidationError("give at least one --sampler SPEC") }
        if samples < 2 || samples > 10_000 { throw ValidationError("--samples must be in 2...10000 (standard errors need two)") }
        if length < 1 || length > GenerateCommand.maxLength {
            throw ValidationError("--length must be in 1...\(GenerateCommand.maxLength), got \(length)")
        }
    }

    /// Before any sampling: the plot can be written, and it would not overwrite an input.
    func checkOutputs() throws {
        guard let plot else { return }
        // Every file this run reads: the rows or text given, the tokenizer, the models.
        var inputs = [replot, reference, vocabOptions.vocab ?? Files.locateResource("vocab/tokenizer.json")].compactMap { $0 }
        for role in ModelRole.allCases {
            guard let dir = models.explicit(role) ?? Files.locateResource("models/\(role.rawValue)") else { continue }
            inputs += ["config.json", "model.safetensors", "README.md"].map { dir + "/" + $0 }
        }
        for input in inputs where Files.sameFile(plot, input) {
            throw UnmaskError("--plot \(plot) is the input file \(input); choose another name")
        }
        try Files.checkWritableFile(plot, what: "--plot")
    }

    struct Row {
        var name: String
        var genPPL: Double, pplError: Double
        var entropy: Double, entropyError: Double
        var nfe: Double?, secondsPerSample: Double?
    }

    func measure(_ name: String, _ seqs: [[Int]], _ eval: Transformer, _ eot: Int, nfe: Double?, seconds: Double?) throws -> Row {
        let per = try Evaluation.perSampleNLL(evaluator: eval, samples: seqs, endOfText: eot)
        let totalNats = per.reduce(0) { $0 + $1.nats }, totalTokens = Double(per.reduce(0) { $0 + $1.tokens })
        let meanNLL = totalNats / totalTokens
        // Standard error of a ratio estimator: s.d. of (nats_i − mean·tokens_i) / (√n · mean tokens).
        let n = Double(per.count), meanTokens = totalTokens / n
        let residual = per.map { $0.nats - meanNLL * Double($0.tokens) }
        let sd = (residual.reduce(0) { $0 + $1 * $1 } / (n - 1)).squareRoot()
        let nllError = sd / (n.squareRoot() * meanTokens)
        let ent = seqs.map(Evaluation.unigramEntropy)
        let entMean = ent.reduce(0, +) / n
        let entSD = (ent.reduce(0) { $0 + ($1 - entMean) * ($1 - entMean) } / (n - 1)).squareRoot()
        return Row(name: name, genPPL: exp(meanNLL), pplError: exp(meanNLL) * nllError, entropy: entMean,
                   entropyError: entSD / n.squareRoot(), nfe: nfe, secondsPerSample: seconds)
    }

    /// Rows from `compare --json` output, with the run's sample count and length.
    func readRows(_ path: String) throws -> (rows: [Row], samples: Int, length: Int) {
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
            rows.append(Row(name: name, genPPL: ppl, pplError: number("gen_ppl_se") ?? 0, entropy: ent,
                            entropyError: number("entropy_se") ?? 0, nfe: number("nfe"),
                            secondsPerSample: number("seconds_per_sample")))
            samples = Int(number("samples") ?? 0)
            length = Int(number("length") ?? 0)
        }
        if rows.isEmpty { throw UnmaskError("\(path): no rows") }
        return (rows, samples, length)
    }

    func run() throws {
        try checkOutputs()
        if let replot {
            let saved = try readRows(replot)
            try report(saved.rows, samples: saved.samples, length: saved.length)
            return
        }
        let specs = try samplers.map { try SamplerSpec.parse($0) }
        let vocab = try vocabOptions.loadNamed()
        let tokenizer = vocab.tokenizer
        let denoiserModel = try models.required(.denoiser, tokenizer: vocab, matmul: engine.matmul)
        let evalModel = try models.required(.evaluator, tokenizer: vocab, matmul: engine.matmul)
        guard length <= denoiserModel.config.contextLength else {
            throw UnmaskError("--length \(length) exceeds the denoiser's context of \(denoiserModel.config.contextLength)")
        }
        // The evaluator scores each sample after an <|endoftext|>, so it needs length + 1
        // positions: check before sampling, not after minutes of it.
        guard length + 1 <= evalModel.config.contextLength else {
            throw UnmaskError("--length \(length) + 1 (the <|endoftext|> the evaluator reads first) exceeds the evaluator's context of \(evalModel.config.contextLength)")
        }
        // The reference text is read and checked before minutes of sampling, not after.
        var referenceWindows: [[Int]]?
        if let reference {
            let raw = try Files.read(reference)
            if let bad = raw.withUnsafeBufferPointer({ TextNormalization.firstInvalidUTF8Offset($0) }) {
                throw UnmaskError("\(reference) is not valid UTF-8 (offset \(bad))")
            }
            let tokens = try tokenizer.encode(utf8: Reflow.paragraphs(raw))
            guard tokens.count >= length * samples else { throw UnmaskError("\(reference) is too short for \(samples) windows of \(length) tokens") }
            let stride = tokens.count / samples
            referenceWindows = (0..<samples).map { Array(tokens[($0 * stride)..<($0 * stride + length)]) }
        }
        let denoiser = try TransformerDenoiser(model: denoiserModel)
        let plannerModel: CorruptionPlanner? = specs.contains { $0.kind == .ddpd } ? try TransformerPlanner(model: models.required(.planner, tokenizer: vocab, matmul: engine.matmul)) : nil
        let eot = tokenizer.endOfTextId
        var rows: [Row] = []
        let bar = ProgressBar("compare", total: specs.count + 2)
        for (i, spec) in specs.enumerated() {
            bar.update(i)
            let s = try DiffusionSampler(spec: spec, planner: plannerModel)
            let canvases = [[Int]](repeating: [Int](repeating: denoiser.maskId, count: length), count: samples)
            let r = try s.sample(canvases: canvases, denoiser: denoiser, seed: seed.value)
            rows.append(try measure(spec.description, r.sequences, evalModel, eot,
                                    nfe: Double(r.nfe.reduce(0, +)) / Double(samples), seconds: r.seconds / Double(samples)))
        }
        if let referenceWindows {
            rows.append(try measure("held-out text", referenceWindows, evalModel, eot, nfe: nil, seconds: nil))
        }
        bar.update(specs.count + 1)
        let own = try Evaluation.autoregressiveSamples(model: evalModel, count: samples, length: length, seed: seed.value, endOfText: eot)
        rows.append(try measure("evaluator samples (T=1)", own, evalModel, eot, nfe: Double(length), seconds: nil))
        bar.finish()
        try report(rows, samples: samples, length: length)
    }

    /// The table (or JSON rows) and the plot.
    func report(_ rows: [Row], samples: Int, length: Int) throws {
        if json {
            for r in rows {
                print(JSON.line([("sampler", .string(r.name)), ("gen_ppl", .double(r.genPPL)), ("gen_ppl_se", .double(r.pplError)),
                                 ("entropy", .double(r.entropy)), ("entropy_se", .double(r.entropyError)),
                                 ("nfe", r.nfe.map { .double($0) } ?? .null),
                                 ("seconds_per_sample", r.secondsPerSample.map { .double($0) } ?? .null),
                                 ("samples", .int(samples)), ("length", .int(length))]))
            }
        } else {
            print("\(samples) samples × \(length) tokens, seed \(seed.value); ± = one standard error")
            print("\(padRight("sampler", 40)) \(padLeft("gen ppl", 16)) \(padLeft("entropy", 15)) \(padLeft("NFE", 7)) \(padLeft("s/sample", 9))")
            for r in rows {
                print("\(padRight(r.name, 40)) \(padLeft(fixed(r.genPPL, 1) + " ± " + fixed(r.pplError, 1), 16)) \(padLeft(fixed(r.entropy, 3) + " ± " + fixed(r.entropyError, 3), 15)) \(padLeft(r.nfe.map { fixed($0, 1) } ?? "-", 7)) \(padLeft(r.secondsPerSample.map { fixed($0, 3) } ?? "-", 9))")
            }
        }
        if let plot {
            var p = SVGPlot(title: "Generative perplexity vs entropy (\(samples) × \(length) tokens, ± 1 s.e.)",
                            xLabel: "unigram entropy (nats)", yLabel: "generative perplexity (log scale)")
            p.logY = true
            let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
            let markers = SVGPlot.Marker.allCases
            p.series = rows.enumerated().map { i, r in
                SVGPlot.Series(name: r.name, points: [(r.entropy, r.genPPL)], color: colors[i % colors.count], lines: false,
                               errors: [(r.entropyError, r.pplError)], marker: markers[(i / colors.count) % markers.count])
            }
            try Files.writeAtomically(Array(p.render(width: 860).utf8), to: plot)
        }
    }
}
