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
        file. Models that are not available are skipped.
        With SAMPLES.jsonl (as `generate --json` writes, one object per line with "ids" or \
        "text"): generative perplexity under the evaluator at corpus level, exp(total NLL / \
        total tokens), and the mean unigram entropy of the samples.
        """
    )

    @Argument(help: "Samples as JSONL.") var samples: String?
    @Option(help: "Held-out text file.") var text: String?
    @OptionGroup var models: ModelSetOptions
    @Option(parsing: .unconditional, help: "Random masks per window for the ELBO (1...10000).") var masks = 8
    @Option(parsing: .unconditional, help: "Seed for the ELBO masks, 0...2^64−1.", transform: Seed.parse) var seed: Seed = Seed(1)
    @OptionGroup var vocabOptions: VocabOptions
    @OptionGroup var engine: EngineOptions
    @Flag(help: "One JSON object.") var json = false

    func validate() throws {
        if (samples == nil) == (text == nil) { throw ValidationError("give either SAMPLES.jsonl or --text FILE") }
        if masks < 1 || masks > 10_000 { throw ValidationError("--masks must be in 1...10000") }
    }

    func run() throws {
        let vocab = try vocabOptions.loadNamed()
        if let text { try evaluateText(text, vocab) } else { try evaluateSamples(samples!, vocab) }
    }

    func evaluateText(_ path: String, _ vocab: LoadedTokenizer) throws {
        let tokenizer = vocab.tokenizer
        // Every input is checked before the first pass: a wrong evaluator used to be found
        // only after the denoiser's (long) ELBO pass.
        let denoiser = try models.optional(.denoiser, tokenizer: vocab, matmul: engine.matmul)
        let eval = try models.optional(.evaluator, tokenizer: vocab, matmul: engine.matmul)
        guard denoiser != nil || eval != nil else { throw UnmaskError("no denoiser or evaluator model found (pass --model or --evaluator)") }
        let raw = try Files.read(path)
        if let bad = raw.withUnsafeBufferPointer({ TextNormalization.firstInvalidUTF8Offset($0) }) {
            throw UnmaskError("\(path) is not valid UTF-8 (offset \(bad))")
        }
        let tokens = try tokenizer.encode(utf8: Reflow.paragraphs(raw))
        guard tokens.count >= 2 else { throw UnmaskError("\(path) is too short to evaluate") }
        var fields: [(String, JSONValue)] = [("tokens", .int(tokens.count)), ("bytes", .int(raw.count))]
        var lines = ["\(path): \(raw.count) bytes, \(tokens.count) tokens"]
        if let denoiser {
            let bar = ProgressBar("denoiser ELBO", total: tokens.count)
            let r = try Evaluation.denoiserELBO(model: denoiser, tokens: tokens, draws: masks, seed: seed.value) { bar.update($0) ; _ = $1 }
            bar.finish()
            let perByte = r.natsPerToken * Double(r.tokens) / Double(raw.count)
            fields += [("elbo_nats_per_token", .double(r.natsPerToken)), ("elbo_standard_error", .double(r.standardError)),
                       ("elbo_ppl", .double(exp(r.natsPerToken))), ("elbo_nats_per_byte", .double(perByte))]
            lines.append("denoiser ELBO: \(fixed(r.natsPerToken, 4)) ± \(fixed(r.standardError, 4)) nats/token (perplexity bound \(fixed(exp(r.natsPerToken), 2))), \(fixed(perByte, 4)) nats/byte, \(masks) masks per window")
        }
        if let eval {
            let bar = ProgressBar("evaluator", total: tokens.count)
            let (nats, n) = try Evaluation.causalNLL(model: eval, tokens: tokens) { bar.update($0); _ = $1 }
            bar.finish()
            fields += [("evaluator_nats_per_token", .double(nats / Double(n))), ("evaluator_ppl", .double(exp(nats / Double(n)))),
                       ("evaluator_nats_per_byte", .double(nats / Double(raw.count)))]
            lines.append("evaluator: \(fixed(nats / Double(n), 4)) nats/token (perplexity \(fixed(exp(nats / Double(n)), 2))), \(fixed(nats / Double(raw.count), 4)) nats/byte over \(n) scored tokens")
        }
        if json { print(JSON.line(fields)) } else { lines.forEach { print($0) } }
    }

    /// Reads the JSONL one line at a time (each line at most `LineReader`'s limit) and scores
    /// each sample as it is read, so the file can hold any number of samples.
    func evaluateSamples(_ path: String, _ vocab: LoadedTokenizer) throws {
        let tokenizer = vocab.tokenizer
        let eval = try models.required(.evaluator, tokenizer: vocab, matmul: engine.matmul)
        var tally = GenerativePerplexityTally(evaluator: eval, endOfText: tokenizer.endOfTextId)
        let reader = try LineReader(path: path)
        var skipped = 0
        while let line = try reader.next() {
            let n = reader.lineNumber
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            guard let value = try? JSON.parse(line), value.objectPairs != nil else {
                throw UnmaskError("\(path): line \(n) is not a JSON object")
            }
            var sample: [Int] = []
            if let ids = value["ids"]?.arrayValue {
                for v in ids {
                    guard let id = v.intValue, id >= 0, id < tokenizer.vocabSize, !tokenizer.isSpecialToken(id) else {
                        throw UnmaskError("\(path): line \(n) has an id outside the vocabulary (\(v.serialized()))")
                    }
                    sample.append(id)
                }
            } else if let t = value["text"]?.stringValue {
                sample = tokenizer.encode(t)
            } else {
                throw UnmaskError("\(path): line \(n) has neither \"ids\" nor \"text\"")
            }
            // An empty sample has nothing to score, and its entropy of 0 would pull the mean
            // down: it is left out, and said so.
            if sample.isEmpty {
                fputs("warning: \(path): line \(n) is an empty sample; skipped\n", stderr)
                skipped += 1
                continue
            }
            try tally.add(sample)
        }
        guard tally.samples > 0 else {
            throw UnmaskError(skipped > 0 ? "\(path): every sample is empty; nothing to score" : "\(path): no samples (the file is empty)")
        }
        if json {
            print(JSON.line([("gen_ppl", .double(tally.perplexity)), ("entropy", .double(tally.meanEntropy)),
                             ("samples", .int(tally.samples)), ("tokens", .int(tally.tokens)), ("skipped_empty", .int(skipped))]))
        } else {
            print("\(tally.samples) samples, \(tally.tokens) tokens: generative perplexity \(fixed(tally.perplexity, 2)), mean unigram entropy \(fixed(tally.meanEntropy, 3)) nats" + (skipped > 0 ? " (\(skipped) empty sample(s) skipped)" : ""))
        }
    }
}
