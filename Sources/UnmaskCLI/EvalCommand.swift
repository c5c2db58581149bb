import ArgumentParser
import Unmask
#if canImport(Glibc)
import Glibc
#endif

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure held-out text (ELBO, evaluator perplexity) or generated samples (generative perplexity, entropy).",
        discussion: """
        With --text FILE: the file goes through the training pipeline (NFC, reflow, tokenize); \
        the denoiser's ELBO (nats/token, averaged over --masks random masks, with a standard \
        error) and the evaluator's perplexity are reported per token and per raw byte of the \
        file. Models that are not available are skipped, and so is a bundled one that does \
        not fit the tokenizer of the model given (with a note).
        With SAMPLES.jsonl (as `generate --json` writes, one object per line with "ids" or \
        "text"): generative perplexity under the evaluator at corpus level, exp(total NLL / \
        total tokens), and the mean unigram entropy of the samples.
        """
    )

    @Argument(help: "Samples as JSONL: one file or several (the shards of a run), scored as their concatenation.") var samples: [String] = []
    @Option(help: "Held-out text file.") var text: String?
    @OptionGroup var models: ModelSetOptions
    @Option(parsing: .unconditional, help: "Random masks per window for the ELBO (1...10000).") var masks = 8
    @Option(name: .customLong("class"), help: "A label-conditional denoiser's class to condition on (default: its null label, unconditional).")
    var className: String?
    @Flag(help: "Evaluate only the last 1/20 of the text's tokens: the split `train` holds out of each corpus file.")
    var heldOutSplit = false
    @Option(parsing: .unconditional, help: "Seed for the ELBO masks, 0...2^64−1.", transform: Seed.parse) var seed: Seed = Seed(1)
    @OptionGroup var vocabOptions: VocabOptions
    @OptionGroup var engine: EngineOptions
    @OptionGroup var computeOptions: ComputeOptions
    @Flag(help: "One JSON object.") var json = false

    func validate() throws {
        if samples.isEmpty == (text == nil) { throw ValidationError("give either SAMPLES.jsonl (one or more) or --text FILE") }
        if masks < 1 || masks > 10_000 { throw ValidationError("--masks must be in 1...10000") }
    }

    func run() throws {
        if let text { try evaluateText(text) } else { try evaluateSamples(samples) }
    }

    func evaluateText(_ path: String) throws {
        // Every model is opened and checked before the first pass, not after the denoiser's
        // (long) ELBO pass. A Hugging Face evaluator reads the file with its own tokenizer.
        let set = try models.open(vocab: vocabOptions, matmul: try computeOptions.matmul(engine), denoiser: .optional, evaluator: .optional)
        let vocab = set.tokenizer, scoring = set.evaluator, eval = scoring?.evaluator
        let denoiser: Denoiser? = set.denoiser == nil ? nil : try SteeringOptions.labeled(set, className: className, steering: false).0
        guard denoiser != nil || eval != nil else { throw UnmaskError("no denoiser or evaluator model found (pass --model or --evaluator)") }
        let bars = [ProgressBar("denoiser ELBO", total: 1000), ProgressBar("evaluator", total: 1000)]
        var current = -1
        let r = try Evaluation.heldOut(file: path, tokenizer: vocab.tokenizer, denoiser: denoiser, evaluator: eval,
                                       evaluatorTokenizer: scoring?.ownTokenizer,
                                       lastFraction: heldOutSplit ? TrainingData.validationFraction : nil,
                                       masks: masks, seed: seed.value) { stage, done, total in
            if stage != current { if current >= 0 { bars[current].finish() }; current = stage }
            bars[stage].update(Int(Double(done) / Double(max(1, total)) * 1000))
        }
        if current >= 0 { bars[current].finish() }
        var fields: [(String, JSONValue)] = [("tokens", .int(r.tokens)), ("bytes", .int(r.bytes))]
        var lines = ["\(path): \(r.bytes) bytes, \(r.tokens) tokens"]
        if let e = r.elbo, let perByte = r.elboNatsPerByte {
            fields += [("elbo_nats_per_token", .double(e.natsPerToken)), ("elbo_standard_error", .double(e.standardError)),
                       ("elbo_ppl", .double(exp(e.natsPerToken))), ("elbo_nats_per_byte", .double(perByte))]
            lines.append("denoiser ELBO: \(fixed(e.natsPerToken, 4)) ± \(fixed(e.standardError, 4)) nats/token (perplexity bound \(fixed(exp(e.natsPerToken), 2))), \(fixed(perByte, 4)) nats/byte, \(masks) masks per window")
        }
        if let e = r.evaluator, let perToken = r.evaluatorNatsPerToken, let perByte = r.evaluatorNatsPerByte {
            fields += [("evaluator_nats_per_token", .double(perToken)), ("evaluator_ppl", .double(exp(perToken))),
                       ("evaluator_nats_per_byte", .double(perByte))]
            lines.append("evaluator: \(fixed(perToken, 4)) nats/token (perplexity \(fixed(exp(perToken), 2))), \(fixed(perByte, 4)) nats/byte over \(e.tokens) scored tokens")
        }
        if json { print(JSON.line(fields)) } else { lines.forEach { print($0) } }
    }

    /// Scores each sample as it is read (see `SampleFile`), so the file can hold any number.
    func evaluateSamples(_ paths: [String]) throws {
        let set = try models.open(vocab: vocabOptions, matmul: try computeOptions.matmul(engine), evaluator: .required)
        let vocab = set.tokenizer, scoring = set.evaluator!
        var tally = GenerativePerplexityTally(evaluator: scoring.evaluator, endOfText: scoring.endOfText,
                                              evaluatorTokenizer: scoring.ownTokenizer)
        var skipped = 0
        // An empty sample has nothing to score, and its entropy of 0 would pull the mean
        // down: it is left out, and said so.
        for path in paths {
            try SampleFile.forEach(path, tokenizer: vocab.tokenizer, empty: { line in
                fputs("warning: \(path): line \(line) is an empty sample; skipped\n", stderr)
                skipped += 1
            }) { ids in try tally.add(ids, text: tally.recipe == nil ? nil : try vocab.tokenizer.decodeText(ids)) }
        }
        let named = paths.count == 1 ? paths[0] : "the \(paths.count) files"
        guard tally.samples > 0 else {
            throw UnmaskError(skipped > 0 ? "\(named): every sample is empty; nothing to score" : "\(named): no samples (empty)")
        }
        let r = tally.statistics
        if json {
            print(JSON.line([("gen_ppl", .double(r.perplexity)), ("gen_ppl_standard_error", .double(r.perplexityStandardError)),
                             ("entropy", .double(r.entropy)), ("entropy_standard_error", .double(r.entropyStandardError)),
                             ("samples", .int(r.samples)), ("tokens", .int(r.tokens)), ("skipped_empty", .int(skipped))]))
        } else {
            print("\(r.samples) samples, \(r.tokens) tokens: generative perplexity \(fixed(r.perplexity, 2)) ± \(fixed(r.perplexityStandardError, 2)), mean unigram entropy \(fixed(r.entropy, 3)) ± \(fixed(r.entropyStandardError, 3)) nats" + (skipped > 0 ? " (\(skipped) empty sample(s) skipped)" : ""))
        }
    }
}
