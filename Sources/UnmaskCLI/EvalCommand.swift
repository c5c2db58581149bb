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
    @Option(help: "Random masks per window for the ELBO.") var masks = 8
    @Option(help: "Seed for the ELBO masks.") var seed: UInt64 = 1
    @OptionGroup var vocabOptions: VocabOptions
    @OptionGroup var engine: EngineOptions
    @Flag(help: "One JSON object.") var json = false

    func validate() throws {
        if (samples == nil) == (text == nil) { throw ValidationError("give either SAMPLES.jsonl or --text FILE") }
        if masks < 1 || masks > 10_000 { throw ValidationError("--masks must be in 1...10000") }
    }

    func run() throws {
        let tokenizer = try vocabOptions.load()
        if let text { try evaluateText(text, tokenizer) } else { try evaluateSamples(samples!, tokenizer) }
    }

    func evaluateText(_ path: String, _ tokenizer: Tokenizer) throws {
        let raw = try Files.read(path)
        if let bad = raw.withUnsafeBufferPointer({ TextNormalization.firstInvalidUTF8Offset($0) }) {
            throw UnmaskError("\(path) is not valid UTF-8 (offset \(bad))")
        }
        let tokens = try tokenizer.encode(utf8: Reflow.paragraphs(raw))
        guard tokens.count >= 2 else { throw UnmaskError("\(path) is too short to evaluate") }
        let denoiser = try models.optional(.denoiser, matmul: engine.matmul)
        let eval = try models.optional(.evaluator, matmul: engine.matmul)
        guard denoiser != nil || eval != nil else { throw UnmaskError("no denoiser or evaluator model found (pass --model or --evaluator)") }
        var fields: [(String, JSONValue)] = [("tokens", .int(tokens.count)), ("bytes", .int(raw.count))]
        var lines = ["\(path): \(raw.count) bytes, \(tokens.count) tokens"]
        if let denoiser {
            let bar = ProgressBar("denoiser ELBO", total: tokens.count)
            let r = try Evaluation.denoiserELBO(model: denoiser, tokens: tokens, draws: masks, seed: seed) { bar.update($0) ; _ = $1 }
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

    func evaluateSamples(_ path: String, _ tokenizer: Tokenizer) throws {
        let bytes = try Files.read(path)
        var samples: [[Int]] = []
        for (n, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
            guard let value = try? JSON.parse(line), value.objectPairs != nil else {
                throw UnmaskError("\(path): line \(n + 1) is not a JSON object")
            }
            if let ids = value["ids"]?.arrayValue {
                var out: [Int] = []
                for v in ids {
                    guard let id = v.intValue, id >= 0, id < tokenizer.vocabSize, !tokenizer.isSpecialToken(id) else {
                        throw UnmaskError("\(path): line \(n + 1) has an id outside the vocabulary (\(v.serialized()))")
                    }
                    out.append(id)
                }
                samples.append(out)
            } else if let t = value["text"]?.stringValue {
                samples.append(tokenizer.encode(t))
            } else {
                throw UnmaskError("\(path): line \(n + 1) has neither \"ids\" nor \"text\"")
            }
        }
        guard !samples.isEmpty else { throw UnmaskError("\(path): no samples (the file is empty)") }
        let eval = try models.required(.evaluator, matmul: engine.matmul)
        let r = try Evaluation.generativePerplexity(evaluator: eval, samples: samples, endOfText: tokenizer.endOfTextId)
        if json {
            print(JSON.line([("gen_ppl", .double(r.perplexity)), ("entropy", .double(r.meanEntropy)),
                             ("samples", .int(samples.count)), ("tokens", .int(r.tokens))]))
        } else {
            print("\(samples.count) samples, \(r.tokens) tokens: generative perplexity \(fixed(r.perplexity, 2)), mean unigram entropy \(fixed(r.meanEntropy, 3)) nats")
        }
    }
}
