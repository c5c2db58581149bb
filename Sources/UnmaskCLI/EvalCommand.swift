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
    @Option(help: "With --text: the denoiser's ELBO under this --compute too, on the same masks, and the difference with its paired standard error (what a reduced-precision path costs).")
    var pairedCompute: Compute?
    @Option(help: "With SAMPLES.jsonl: samples of the same seeds from another run (one file); each is scored beside its namesake, and the mean per-sample difference in NLL per token and in entropy is reported with its paired standard error.")
    var pairedSamples: String?
    @Flag(help: "One JSON object.") var json = false

    func validate() throws {
        if samples.isEmpty == (text == nil) { throw ValidationError("give either SAMPLES.jsonl (one or more) or --text FILE") }
        if masks < 1 || masks > 10_000 { throw ValidationError("--masks must be in 1...10000") }
        if pairedCompute != nil && text == nil { throw ValidationError("--paired-compute is for --text") }
        if pairedSamples != nil && text != nil { throw ValidationError("--paired-samples is for SAMPLES.jsonl") }
    }

    func run() throws {
        if let text { try evaluateText(text) } else { try evaluateSamples(samples) }
    }

    func evaluateText(_ path: String) throws {
        // Every model is opened and checked before the first pass, not after the denoiser's
        // (long) ELBO pass. A Hugging Face evaluator reads the file with its own tokenizer.
        let set = try models.open(vocab: vocabOptions, matmul: try computeOptions.matmul(engine), denoiser: .optional, evaluator: .optional)
        let vocab = set.tokenizer, scoring = set.evaluator, eval = scoring?.evaluator
        var labeling = GenerationSettings()
        labeling.className = className
        let denoiser = try labeling.labeledDenoiser(set)
        guard denoiser != nil || eval != nil else { throw UnmaskError("no denoiser or evaluator model found (pass --model or --evaluator)") }
        // The same denoiser again, in the paired arithmetic (its own weights' copies).
        var paired: Denoiser?
        if let pairedCompute {
            guard set.denoiser != nil else { throw UnmaskError("--paired-compute needs a denoiser (pass --model)") }
            var options = computeOptions
            options.compute = pairedCompute
            let other = try models.open(vocab: vocabOptions, matmul: try options.matmul(engine), denoiser: .required)
            paired = try labeling.labeledDenoiser(other)
        }
        let bars = [ProgressBar("denoiser ELBO", total: 1000), ProgressBar("evaluator", total: 1000)]
        var current = -1
        let r = try Evaluation.heldOut(file: path, tokenizer: vocab.tokenizer, denoiser: denoiser, evaluator: eval,
                                       evaluatorTokenizer: scoring?.ownTokenizer,
                                       lastFraction: heldOutSplit ? TrainingData.validationFraction : nil,
                                       pairedDenoiser: paired, masks: masks, seed: seed.value) { stage, done, total in
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
        if let p = r.pairedELBO, let c = pairedCompute {
            fields += [("paired_compute", .string(c.rawValue)), ("paired_elbo_nats_per_token", .double(p.natsPerToken)),
                       ("paired_elbo_difference", .double(p.difference)),
                       ("paired_elbo_difference_standard_error", .double(p.differenceStandardError))]
            lines.append("denoiser ELBO with --compute \(c.rawValue): \(fixed(p.natsPerToken, 5)) nats/token; difference \(fixed(p.difference, 6)) ± \(fixed(p.differenceStandardError, 6)) (paired, same masks)")
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
        func score(_ path: String, into tally: inout GenerativePerplexityTally) throws {
            try SampleFile.forEach(path, tokenizer: vocab.tokenizer, empty: { line in
                fputs("warning: \(path): line \(line) is an empty sample; skipped\n", stderr)
                skipped += 1
            }) { ids in try tally.add(ids, text: tally.recipe == nil ? nil : try vocab.tokenizer.decodeText(ids)) }
        }
        for path in paths { try score(path, into: &tally) }
        var paired: (natsPerToken: Double, natsStandardError: Double, entropy: Double, entropyStandardError: Double)?
        if let pairedSamples {
            var other = GenerativePerplexityTally(evaluator: scoring.evaluator, endOfText: scoring.endOfText,
                                                  evaluatorTokenizer: scoring.ownTokenizer)
            try score(pairedSamples, into: &other)
            guard skipped == 0, let p = tally.pairedDifference(other) else {
                throw UnmaskError("--paired-samples \(pairedSamples) holds \(other.samples) scored samples against \(tally.samples) (empty ones: \(skipped)); the pairs must match one to one")
            }
            paired = p
        }
        let named = paths.count == 1 ? paths[0] : "the \(paths.count) files"
        guard tally.samples > 0 else {
            throw UnmaskError(skipped > 0 ? "\(named): every sample is empty; nothing to score" : "\(named): no samples (empty)")
        }
        let r = tally.statistics
        if json {
            print(JSON.line([("gen_ppl", .double(r.perplexity)), ("gen_ppl_standard_error", .double(r.perplexityStandardError)),
                             ("entropy", .double(r.entropy)), ("entropy_standard_error", .double(r.entropyStandardError)),
                             ("samples", .int(r.samples)), ("tokens", .int(r.tokens)), ("skipped_empty", .int(skipped))]
                            + (paired.map { p in [("paired_nats_per_token_difference", JSONValue.double(p.natsPerToken)),
                                                  ("paired_nats_per_token_difference_standard_error", .double(p.natsStandardError)),
                                                  ("paired_entropy_difference", .double(p.entropy)),
                                                  ("paired_entropy_difference_standard_error", .double(p.entropyStandardError))] } ?? [])))
        } else {
            if let p = paired, let other = pairedSamples {
                print("\(other) against these, sample by sample: NLL per token \(fixed(p.natsPerToken, 5)) ± \(fixed(p.natsStandardError, 5)) nats, entropy \(fixed(p.entropy, 4)) ± \(fixed(p.entropyStandardError, 4)) (paired)")
            }
            print("\(r.samples) samples, \(r.tokens) tokens: generative perplexity \(fixed(r.perplexity, 2)) ± \(fixed(r.perplexityStandardError, 2)), mean unigram entropy \(fixed(r.entropy, 3)) ± \(fixed(r.entropyStandardError, 3)) nats" + (skipped > 0 ? " (\(skipped) empty sample(s) skipped)" : ""))
        }
    }
}
