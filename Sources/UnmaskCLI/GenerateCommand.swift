import ArgumentParser
import Unmask
#if canImport(Glibc)
import Glibc
#endif

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with the bundled denoiser (or --model), from scratch, after a prompt, or into a template.",
        discussion: """
        The model's context is 128 tokens for the bundled denoiser (`unmask info` prints a \
        model's context_length). Text past it (prompt + --length, or a template) is generated \
        in windows: spans of --window tokens, left to right, each seeing the last context − \
        window tokens: MDLM's semi-autoregressive scheme, an approximation. Samples are written as \
        their batch finishes. Same seed, same text, for any --batch and number of threads.

        Templates: ___ is one token to generate, [___ x12] is twelve; the rest of the \
        template is kept exactly, except that a space just before a blank is left to the \
        model (a word's token carries its leading space).

        Steering (--steer) runs on the first-hitting kernel with the sampler's draw keys \
        (default plain fhs, so the model itself is the p below); the canvas must fit in the \
        context. Each method's line says the distribution it samples.

        \(SamplerSpec.helpText)

        \(SteeringOptions.help)
        """
    )

    @Argument(help: "Text to continue.") var prompt: String?
    @Option(help: "A user message, written into the --model folder's chat template (tokenizer_config.json or chat_template.jinja: LLaDA-Instruct's, ChatML, Qwen3's with thinking off); the answer is printed up to the end of the turn.")
    var chat: String?
    @Option(help: "Sampler spec (default: first-hitting with nucleus 0.9, the best-reading text of the bundled denoiser; with --steer, plain fhs); keys below.")
    var sampler: String?
    @Option(help: "Steering method, e.g. cfg:gamma=2:mode=smc:particles=8 or bon:n=8 (methods below).") var steer: String?
    @Option(parsing: .unconditional, help: "Tokens to generate after the prompt (default 64; past the context, in windows).")
    var length: Int?
    @Option(parsing: .unconditional, help: "Number of samples (1...1000000); each is written as soon as its batch is done.") var samples = 1
    @Option(parsing: .unconditional, help: "Samples generated together (1...256; the output does not depend on it).") var batch = GenerateCommand.defaultBatch
    @Option(help: "Write only shard I of N (0 <= I < N) of the --samples: exactly the samples a single run writes at those indices.", transform: Shard.parse)
    var shard: Shard?
    @OptionGroup var window: WindowOption
    @Option(help: "Keys and values kept between calls: exact (block-causal models, the default there: bit-identical to off), off, or Fast-dLLM's prefix | dual for a bidirectional model with a block=K sampler (approximate; docs/long-text.md measures by how much).")
    var cache: KeyValueCaching?
    @Option(help: "A block-causal model past its context: recompute (each block's window afresh, exact; default) or slide (the cache keeps its keys, stale).")
    var pastContext: PastContext?
    @Option(parsing: .unconditional, help: "Seed, 0...2^64−1, default 1 (sample i uses stream i of it).", transform: Seed.parse) var seed: Seed = Seed(1)
    @Option(parsing: .unconditional, help: "Sampling temperature >= 0 (overrides the spec; 0 is greedy, top_k 1).") var temperature: Double?
    @Option(parsing: .unconditional, help: "Nucleus sampling threshold in (0, 1] (overrides the spec).") var topP: Double?
    @Option(help: "float64 (exact) or float32 (the legacy draw).") var precision: SamplingPrecision?
    @Option(help: "Infilling template, e.g. \"It is a truth [___ x6] that a single man\".") var template: String?
    @OptionGroup var models: ModelSetOptions
    @Flag(help: "Animate the unmasking in the terminal.") var show = false
    @Flag(help: "One JSON object per sample.") var json = false
    @OptionGroup var vocabOptions: VocabOptions
    @OptionGroup var engine: EngineOptions
    @OptionGroup var computeOptions: ComputeOptions
    @OptionGroup var steering: SteeringOptions

    func validate() throws {
        if samples < 1 || samples > 1_000_000 { throw ValidationError("--samples must be in 1...1000000") }
        if batch < 1 || batch > 256 { throw ValidationError("--batch must be in 1...256") }
        if [template != nil, prompt != nil, chat != nil].filter({ $0 }).count > 1 {
            throw ValidationError("give one of a prompt, --template and --chat")
        }
        if steer != nil && show { throw ValidationError("--show does not animate steering (its particles are resampled); drop one") }
    }

    /// The middle of the batch sizes measured; the batch barely changes the time per
    /// sample (docs/performance.md, "Samplers' speed").
    static let defaultBatch = 8

    /// The sample indices this run writes: all of them, or its shard's contiguous share.
    var indices: Range<Int> { shard?.range(of: samples) ?? 0..<samples }

    /// The flags, as the library's generation settings.
    var settings: GenerationSettings {
        var s = GenerationSettings()
        s.prompt = prompt
        s.template = template
        s.length = length
        s.sampler = sampler
        s.temperature = temperature
        s.topP = topP
        s.precision = precision
        s.steer = steer
        steering.apply(to: &s)
        s.window = window.window
        s.cache = cache
        s.pastContext = pastContext
        return s
    }

    func run() throws {
        var settings = self.settings
        // A chat message becomes the prompt through the folder's own template, special
        // tokens and all; the answer is what follows it, up to the end of the turn.
        var endOfTurn: String?
        if let chat {
            guard let folder = models.model, let format = try ChatTemplate.load(directory: folder) else {
                throw UnmaskError("--chat needs a --model folder with a chat template (tokenizer_config.json's chat_template or chat_template.jinja)")
            }
            settings.prompt = format.render([GenerationRequest.Message(role: "user", content: chat)], bos: "")
            settings.promptHasSpecialTokens = true
            endOfTurn = format.endOfTurn
        }
        try settings.validate()
        let set = try models.open(vocab: vocabOptions, matmul: try computeOptions.matmul(engine), denoiser: .required,
                                  evaluator: settings.needsEvaluator ? .required : .unused,
                                  corruptionDetector: settings.needsCorruptionDetector ? .required : .unused)
        let run = try settings.prepare(try GenerationSettings.Models(set))
        let tokenizer = set.tokenizer.tokenizer
        let (denoiser, unconditional) = try run.denoisers(over: set.denoiser!)
        if let engine = run.steering {
            try runSteered(engine, run: run, tokenizer: tokenizer, denoiser: denoiser, unconditional: unconditional)
            return
        }
        let canvas = run.canvas
        // A terminal that does not report its size is taken as the classic 80 × 24.
        let screen = show && isatty(1) != 0 && !json ? Terminal.size() ?? (80, 24) : nil
        let masksPerSample = canvas.filter { $0 == tokenizer.maskId }.count
        let bar = ProgressBar("generating", total: masksPerSample * indices.count)
        let observer: (Int, [[Int]]) -> Void = { first, seqs in
            if let screen {
                var lines: [String] = []
                for s in seqs {
                    let text = s.map { $0 == tokenizer.maskId ? "\u{1B}[2m░\u{1B}[0m" : String(decoding: tokenizer.tokenBytes[$0], as: UTF8.self) }.joined()
                    lines += text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                    lines.append("")
                }
                Terminal.drawFrame(lines, columns: screen.columns, rows: screen.rows)
            } else {
                bar.update((first - indices.lowerBound) * masksPerSample + seqs.reduce(0) { $0 + masksPerSample - $1.filter { $0 == tokenizer.maskId }.count })
            }
        }
        guard !indices.isEmpty else {
            fputs("note: shard \(shard!.index)/\(shard!.count) of \(samples) samples is empty; nothing to write\n", stderr)
            return
        }
        var inLiveView = false
        defer { if inLiveView { Terminal.leaveLiveView() } }
        // What the JSON reports: the cache used, its size, and past the context how.
        let pastMode: JSONValue = run.pastContextUsed.map { .string($0.rawValue) } ?? .null
        let cacheBytes = run.cacheBytes(denoiser: denoiser, batch: min(batch, indices.count))
        // Diffusion's speed in the units that do not mislead: tokens per network call (TPF),
        // calls, and for a block-causal model seconds per block, beside tokens per second.
        let blockSize = Generation.blockCausalModel(denoiser)?.model.config.blockSize
        let blocks = blockSize.map { B in
            stride(from: 0, to: canvas.count, by: B).filter { canvas[$0..<min(canvas.count, $0 + B)].contains(tokenizer.maskId) }.count
        }
        var totals = (calls: 0, seconds: 0.0, samples: 0)
        // Each sample is written as soon as its batch is done: the first line arrives after
        // one batch, and memory depends on --batch, not on --samples.
        try Generation.run(sampler: run.sampler, denoiser: denoiser, canvas: canvas, count: indices.count, batch: batch,
                           seed: seed.value, window: run.window, first: indices.lowerBound, caching: run.cache,
                           pastContext: run.pastContext, observer: { first, seqs in
            if screen != nil && !inLiveView { Terminal.enterLiveView(); inLiveView = true }
            observer(first, seqs)
        }) { i, ids, nfe, seconds in
            if inLiveView { Terminal.leaveLiveView(); inLiveView = false }
            bar.finish()
            var text = try tokenizer.decodeText(endOfTurn == nil ? ids : Array(ids[run.promptTokens...]))
            if let end = endOfTurn, let cut = text.range(of: end) { text = String(text[..<cut.lowerBound]) }
            totals = (totals.calls + nfe, totals.seconds + seconds, totals.samples + 1)
            if json {
                StandardOutput.writeLine(JSON.line([("text", .string(text)), ("ids", .array(ids.map { .int($0) })), ("nfe", .int(nfe)),
                                                    ("seconds", .double(seconds)), ("sampler", .string(run.spec.description)),
                                                    ("cache", .string(run.cacheUsed.rawValue)), ("past_context", pastMode),
                                                    ("cache_bytes", .int(cacheBytes)),
                                                    ("generated_tokens", .int(masksPerSample)),
                                                    ("tokens_per_forward", .double(Double(masksPerSample) / Double(max(1, nfe)))),
                                                    ("tokens_per_second", .double(Double(masksPerSample) / max(seconds, 1e-9))),
                                                    ("blocks", blocks.map { .int($0) } ?? .null),
                                                    ("seconds_per_block", blocks.map { .double(seconds / Double(max(1, $0))) } ?? .null),
                                                    ("seed", .uint64(seed.value)), ("sample", .int(i))]))
            } else {
                StandardOutput.writeLine((samples > 1 ? "--- sample \(i + 1) (nfe \(nfe)) ---\n" : "") + text)
            }
        }
        bar.finish()
        if !json && totals.samples > 0 {
            let tokens = Double(masksPerSample * totals.samples)
            var line = "\(masksPerSample * totals.samples) tokens, \(totals.calls) network calls (\(fixed(tokens / Double(max(1, totals.calls)), 2)) tokens per forward), \(fixed(totals.seconds, 3)) s (\(fixed(tokens / max(totals.seconds, 1e-9), 1)) tokens/s)"
            if let blocks, let blockSize, blocks > 0 { line += ", \(fixed(totals.seconds / Double(blocks * totals.samples), 4)) s per block of \(blockSize)" }
            fputs(line + "\n", stderr)
        }
    }

    /// Steered samples, one at a time (each is a population of particles batched together),
    /// each written as soon as it is done. Sample i depends on (seed, i) alone.
    func runSteered(_ engine: SteeringEngine, run: PreparedGeneration, tokenizer: Tokenizer, denoiser: Denoiser,
                    unconditional: Denoiser?) throws {
        let spec = run.spec, canvas = run.canvas
        let bar = ProgressBar("steering", total: indices.count)
        for i in indices {
            let start = monotonicSeconds()
            let s = try engine.sample(canvas: canvas, denoiser: denoiser, seed: seed.value, index: i, unconditional: unconditional)
            let seconds = monotonicSeconds() - start
            bar.update(i + 1 - indices.lowerBound)
            bar.finish()
            let text = try tokenizer.decodeText(s.sequence)
            if json {
                func opt(_ d: Double?) -> JSONValue { d.map { .double($0) } ?? .null }
                var fields: [(String, JSONValue)] = [
                    ("text", .string(text)), ("ids", .array(s.sequence.map { .int($0) })), ("nfe", .int(s.nfe)),
                    ("seconds", .double(seconds)), ("sampler", .string(spec.description)), ("steer", .string(engine.spec.description)),
                    ("target", .string(engine.spec.target)), ("reward", opt(s.reward)), ("attempts", .int(s.attempts)),
                    ("mean_ess", opt(s.meanESS)), ("resamplings", .int(s.resamplings)), ("log_z", opt(s.logZ)),
                    ("seed", .uint64(seed.value)), ("sample", .int(i)),
                ]
                if !s.particles.isEmpty {
                    fields.append(("particles", .array(try s.particles.map { p in
                        JSON.objectValue([("text", .string(try tokenizer.decodeText(p.sequence))), ("log_weight", .double(p.logWeight))])
                    })))
                }
                StandardOutput.writeLine(JSON.line(fields))
            } else {
                var header = samples > 1 ? "--- sample \(i + 1) (nfe \(s.nfe)" : ""
                if samples > 1 {
                    if let r = s.reward { header += ", reward \(fixed(r, 3))" }
                    if s.attempts > 1 { header += ", \(s.attempts) tries" }
                    header += ") ---\n"
                }
                StandardOutput.writeLine(header + text)
                for p in s.particles {
                    StandardOutput.writeLine("  [log w \(fixed(p.logWeight, 3))] " + (try tokenizer.decodeText(p.sequence)))
                }
            }
        }
    }
}

extension SamplingPrecision: ExpressibleByArgument {}
extension KeyValueCaching: ExpressibleByArgument {}
extension PastContext: ExpressibleByArgument {}

/// `--shard I/N`: the I-th of N contiguous shares of the sample indices (0-based, as a
/// Kubernetes indexed job or `$SLURM_ARRAY_TASK_ID` with `--array=0-…` counts).
struct Shard {
    let index: Int
    let count: Int

    static func parse(_ text: String) throws -> Shard {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, n <= 1_000_000, i >= 0, i < n else {
            throw ValidationError("--shard must be I/N with 0 <= I < N <= 1000000, got \(text)")
        }
        return Shard(index: i, count: n)
    }

    /// Samples [I·S/N, (I+1)·S/N): the shards cover 0..<S exactly, in order.
    func range(of samples: Int) -> Range<Int> {
        (index * samples / count)..<((index + 1) * samples / count)
    }
}

