import ArgumentParser
import Unmask
#if canImport(Glibc)
import Glibc
#endif

// The option groups and argument types several commands share. What they open and check
// is the library's (`ModelSet`); here is only how a user spells it.

/// `--model DIR`, for the commands that read one model's files (info, convert).
struct ModelOptions: ParsableArguments {
    @Option(help: "Model directory (config.json + model.safetensors). Default: the bundled models/denoiser.")
    var model: String?

    func directory(default name: String = "denoiser") throws -> String {
        if let model { return model }
        guard let dir = Files.locateResource("models/\(name)") else {
            throw UnmaskError("cannot find the bundled models/\(name) (run from the repository, or pass --model DIR)")
        }
        return dir
    }
}

/// `--model`, `--evaluator`, `--corruption-detector`: the three bundled roles, each
/// overridable (`--planner` is the detector's old spelling, hidden). The models are opened
/// and checked by `ModelSet.open` (see there for what is checked, and when a bundled
/// default is left out).
struct ModelSetOptions: ParsableArguments {
    @Option(help: "Denoiser model directory (default: models/denoiser).") var model: String?
    @Option(help: "Evaluator model directory (default: models/evaluator).") var evaluator: String?
    @Option(help: "DDPD's corruption detector (its planner) directory (default: models/corruption-detector).")
    var corruptionDetector: String?
    @Option(name: .customLong("planner"), help: .hidden) var plannerOldSpelling: String?

    func validate() throws {
        if corruptionDetector != nil && plannerOldSpelling != nil {
            throw ValidationError("--planner is the old spelling of --corruption-detector: give one")
        }
    }

    func sources(_ vocab: VocabOptions) -> ModelSet.Sources {
        ModelSet.Sources(denoiser: model, evaluator: evaluator, corruptionDetector: corruptionDetector ?? plannerOldSpelling, tokenizer: vocab.vocab)
    }

    /// The tokenizer and the models a command needs, each checked. A bundled default left
    /// out is said so on stderr, one line.
    func open(vocab: VocabOptions, matmul: MatMul, denoiser: ModelSet.Need = .unused, evaluator: ModelSet.Need = .unused,
              corruptionDetector: ModelSet.Need = .unused) throws -> ModelSet {
        let set = try ModelSet.open(sources(vocab), denoiser: denoiser, evaluator: evaluator, corruptionDetector: corruptionDetector, matmul: matmul)
        for note in set.notes { fputs("note: \(note)\n", stderr) }
        return set
    }
}

/// `--vocab FILE`, shared by every command that tokenizes.
struct VocabOptions: ParsableArguments {
    @Option(help: "Tokenizer file (Hugging Face tokenizer.json). Default: the bundled vocab/tokenizer.json.")
    var vocab: String?

    /// --vocab, else the bundled tokenizer.
    func load() throws -> Tokenizer { try ModelSet.tokenizer(ModelSet.Sources(tokenizer: vocab)).tokenizer }
}

/// `--backend` and `--threads`, shared by commands that run a model.
struct EngineOptions: ParsableArguments {
    @Option(help: "Matrix multiply backend: unmask (our kernels) or openblas.")
    var backend: GEMMBackend = .unmask
    @Option(parsing: .unconditional, help: "Threads for matrix products, 1...64 (results do not depend on it).")
    var threads: Int = 2

    func validate() throws {
        if threads < 1 || threads > 64 { throw ValidationError("--threads must be in 1...64") }
    }

    var matmul: MatMul { MatMul(backend: backend, threads: threads) }
}

extension GEMMBackend: ExpressibleByArgument {}

/// `--compute`, for the commands that run a model for inference (training is fp32).
struct ComputeOptions: ParsableArguments {
    @Option(help: "Arithmetic of the weight products: fp32 (reference), bf16 (AVX512_BF16, where measured faster than fp32) or int8 (AVX-512 VNNI); attention stays fp32. Not the sampling draw's precision.")
    var compute: Compute = .fp32

    /// The engine's MatMul with this compute, or a one-line error when this CPU or backend
    /// cannot run it.
    func matmul(_ engine: EngineOptions) throws -> MatMul {
        if let why = compute.unavailableReason(backend: engine.backend) { throw why }
        return MatMul(backend: engine.backend, threads: engine.threads, compute: compute)
    }
}

extension Compute: ExpressibleByArgument {}

/// A seed as a user types it: an integer in 0...2^64−1 (a negative number is refused here,
/// not taken for an option).
struct Seed: CustomStringConvertible {
    let value: UInt64
    init(_ value: UInt64) { self.value = value }
    var description: String { String(value) }

    static func parse(_ text: String) throws -> Seed {
        guard let v = UInt64(text) else { throw ValidationError("a seed is an integer in 0...18446744073709551615") }
        return Seed(v)
    }
}

/// `--window K` (and its old spelling `--block`, hidden): past the context, text is written
/// in windows of K tokens (docs/long-text.md contrasts it with a sampler's block schedule
/// and a model's block size).
struct WindowOption: ParsableArguments {
    @Option(name: .customLong("window"), parsing: .unconditional,
            help: "Past the context, generate in spans of this many tokens (default: half the context), each seeing the last context − window tokens.")
    var newSpelling: Int?
    @Option(name: .customLong("block"), parsing: .unconditional, help: .hidden) var oldSpelling: Int?

    func validate() throws {
        if newSpelling != nil && oldSpelling != nil { throw ValidationError("--block is the old spelling of --window: give one") }
        if let window, window < 1 { throw ValidationError("--window must be at least 1, got \(window)") }
    }

    var window: Int? { newSpelling ?? oldSpelling }
}
