import ArgumentParser
import Unmask
#if canImport(Glibc)
import Glibc
#endif

/// Infilling templates: fixed text with blanks.
///   ___        (three or more underscores) one token to generate
///   [___ x12]  twelve tokens to generate
/// Fixed text is encoded piece by piece and never changes, so it comes out exactly as written.
enum Template {
    static func parse(_ text: String, tokenizer: Tokenizer, mask: Int) throws -> [Int] {
        var ids: [Int] = []
        var blanks = 0
        var literal = ""
        var chars = Array(text)
        chars.append("\0")  // sentinel
        var i = 0
        func flush() {
            if !literal.isEmpty { ids += tokenizer.encode(literal) }
            literal = ""
        }
        while i < chars.count - 1 {
            if chars[i] == "[", let close = chars[i...].firstIndex(of: "]") {
                let inner = String(chars[(i + 1)..<close]).split(separator: " ")
                if inner.count == 2, inner[0].allSatisfy({ $0 == "_" }), inner[0].count >= 3, inner[1].first == "x" {
                    guard let n = Int(inner[1].dropFirst()), n >= 1, n <= 1 << 16 else {
                        throw UnmaskError("template: bad blank count in [\(inner.joined(separator: " "))]")
                    }
                    flush()
                    ids += [Int](repeating: mask, count: n)
                    blanks += n
                    i = close + 1
                    continue
                }
            }
            if chars[i] == "_" {
                var j = i
                while chars[j] == "_" { j += 1 }
                if j - i >= 3 {
                    flush()
                    ids.append(mask)
                    blanks += 1
                    i = j
                    continue
                }
                literal += String(chars[i..<j])
                i = j
                continue
            }
            literal.append(chars[i])
            i += 1
        }
        flush()
        guard blanks > 0 else { throw UnmaskError("template has no blank (write ___ for one token or [___ x12] for twelve)") }
        return ids
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with the bundled denoiser (or --model), from scratch, after a prompt, or into a template.",
        discussion: """
        Samplers (--sampler): fhs, ancestral:steps=N, confidence, margin, entropy, ddpd, p2, … \
        (see the README). Templates: ___ is one token to generate, [___ x12] is twelve; the \
        rest of the template is kept exactly. Same seed, same text.
        """
    )

    @Argument(help: "Text to continue.") var prompt: String?
    @Option(help: "Sampler spec (default: first-hitting with nucleus 0.9, the best-reading text of the bundled denoiser).") var sampler = "fhs:top_p=0.9"
    @Option(help: "Tokens to generate after the prompt.") var length = 64
    @Option(help: "Number of samples.") var samples = 1
    @Option(help: "Seed (sample i uses stream i of it).") var seed: UInt64 = 1
    @Option(help: "Sampling temperature (overrides the spec).") var temperature: Double?
    @Option(help: "Nucleus sampling threshold in (0, 1] (overrides the spec).") var topP: Double?
    @Option(help: "float64 (exact) or float32 (the legacy draw).") var precision: SamplingPrecision?
    @Option(help: "Infilling template, e.g. \"It is a truth [___ x6] that a single man\".") var template: String?
    @OptionGroup var models: ModelSetOptions
    @Flag(help: "Animate the unmasking in the terminal.") var show = false
    @Flag(help: "One JSON object per sample.") var json = false
    @OptionGroup var vocabOptions: VocabOptions
    @OptionGroup var engine: EngineOptions

    func validate() throws {
        if length < 0 { throw ValidationError("--length must be >= 0") }
        if samples < 1 || samples > 10_000 { throw ValidationError("--samples must be in 1...10000") }
        if template != nil && prompt != nil { throw ValidationError("give a prompt or a --template, not both") }
    }

    func run() throws {
        var spec = try SamplerSpec.parse(sampler)
        if let temperature { spec.draw.temperature = temperature }
        if let topP { spec.draw.topP = topP }
        if let precision { spec.draw.precision = precision }
        try spec.draw.validate()
        let tokenizer = try vocabOptions.load()
        let net = try models.required(.denoiser, matmul: engine.matmul)
        guard net.config.vocabSize == tokenizer.vocabSize, net.config.maskTokenId == tokenizer.maskId else {
            throw UnmaskError("the denoiser's vocabulary (\(net.config.vocabSize)) does not match the tokenizer's (\(tokenizer.vocabSize))")
        }
        let denoiser = try TransformerDenoiser(model: net)
        var plannerModel: CorruptionPlanner?
        if spec.kind == .ddpd {
            plannerModel = try TransformerPlanner(model: models.required(.planner, matmul: engine.matmul))
        }
        let canvas: [Int]
        if let template {
            canvas = try Template.parse(template, tokenizer: tokenizer, mask: tokenizer.maskId)
            guard canvas.count <= net.config.contextLength else {
                throw UnmaskError("the template is \(canvas.count) tokens, longer than the model's context of \(net.config.contextLength)")
            }
        } else {
            let p = prompt.map { tokenizer.encode($0) } ?? []
            guard p.count + length <= net.config.contextLength else {
                throw UnmaskError("prompt (\(p.count) tokens) + --length \(length) exceeds the model's context of \(net.config.contextLength)")
            }
            guard p.count + length >= 1 else { throw UnmaskError("nothing to generate: --length is 0 and there is no prompt") }
            canvas = p + [Int](repeating: tokenizer.maskId, count: length)
        }
        let animate = show && isatty(1) != 0 && !json
        var drawnLines = 0
        let columns = terminalColumns()
        let observer: StepObserver? = animate ? { seqs in
            var out = drawnLines > 0 ? "\u{1B}[\(drawnLines)F\u{1B}[J" : ""
            var lines = 0
            for s in seqs {
                let pieces = s.map { $0 == tokenizer.maskId ? nil : String(decoding: tokenizer.tokenBytes[$0], as: UTF8.self) }
                let text = pieces.map { $0 ?? "\u{1B}[2m░\u{1B}[0m" }.joined()
                out += text + "\n\n"
                // Rows on screen, counting the terminal's wrapping (a masked position is one column).
                let plain = pieces.map { $0 ?? "░" }.joined()
                for line in plain.split(separator: "\n", omittingEmptySubsequences: false) {
                    lines += max(1, (line.unicodeScalars.count + columns - 1) / columns)
                }
                lines += 1
            }
            drawnLines = lines
            fputs(out, stdout)
            fflush(stdout)
        } : nil
        let toFill = canvas.filter { $0 == tokenizer.maskId }.count * samples
        let bar = ProgressBar("generating", total: toFill)
        let progressObserver: StepObserver = { seqs in
            bar.update(toFill - seqs.reduce(0) { $0 + $1.filter { $0 == tokenizer.maskId }.count })
        }
        let sampler = try DiffusionSampler(spec: spec, planner: plannerModel)
        let result = try sampler.sample(canvases: [[Int]](repeating: canvas, count: samples), denoiser: denoiser,
                                        seed: seed, observer: observer ?? progressObserver)
        bar.finish()
        if animate { fputs("\u{1B}[\(drawnLines)F\u{1B}[J", stdout) }
        for (i, ids) in result.sequences.enumerated() {
            let text = try tokenizer.decodeText(ids)
            if json {
                print(JSON.line([("text", .string(text)), ("ids", .array(ids.map { .int($0) })), ("nfe", .int(result.nfe[i])),
                                 ("seconds", .double(result.seconds / Double(samples))), ("sampler", .string(spec.description)),
                                 ("seed", .int(Int(truncatingIfNeeded: seed))), ("sample", .int(i))]))
            } else {
                if samples > 1 { print("--- sample \(i + 1) (nfe \(result.nfe[i])) ---") }
                print(text)
            }
        }
    }
}

extension SamplingPrecision: ExpressibleByArgument {}

/// The terminal's width in columns (80 if stdout is not a terminal or does not say).
func terminalColumns() -> Int {
    var size = winsize()
    guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
    return Int(size.ws_col)
}
