import ArgumentParser
import Unmask

/// `--model DIR`, shared by commands that load a model.
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

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Load and fully validate a model; print its config, size, tensors and checksum.",
        discussion: "The checksum is the SHA-256 of model.safetensors, as `sha256sum` prints it."
    )

    @OptionGroup var modelOptions: ModelOptions
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let dir = try modelOptions.directory()
        let model = try Transformer.load(directory: dir)  // validates shapes, names and values
        if HuggingFaceFolder.isHuggingFace(directory: dir) { return try printHuggingFace(dir, model) }
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        let sha = SHA256.hex(file.bytes)
        let c = model.config
        if json {
            print(JSON.line([
                ("model", .string(dir)), ("config", c.json), ("parameters", .int(c.parameterCount)),
                ("file_bytes", .int(file.fileSize)), ("sha256", .string(sha)),
                ("tensors", .array(file.tensors.map { .object([("name", .string($0.name)), ("dtype", .string($0.dtype)),
                                                              ("shape", .array($0.shape.map { .int($0) }))]) })),
                ("metadata", .object(file.metadata.map { (key: $0.key, value: .string($0.value)) })),
            ]))
            return
        }
        print("model       \(dir)")
        print("config      \(c.json.serialized())")
        print("parameters  \(c.parameterCount)")
        print("file        \(file.fileSize) bytes, sha256 \(sha)")
        for (k, v) in file.metadata { print("metadata    \(k) = \(v)") }
        print("tensors     \(file.tensors.count):")
        for t in file.tensors.sorted(by: { $0.begin < $1.begin }) {
            print("  \(padRight(t.name, 32)) \(t.dtype) \(t.shape)")
        }
    }
}

extension InfoCommand {
    /// A Hugging Face folder: its family, the config it maps to, and which of its tensors
    /// serves as which of ours.
    func printHuggingFace(_ dir: String, _ model: Transformer) throws {
        let folder = try HuggingFaceFolder.open(directory: dir)
        let c = model.config
        let role = ModelRole.of(c)?.rawValue ?? "none"
        if json {
            print(JSON.line([
                ("model", .string(dir)), ("family", .string(folder.family.rawValue)), ("role", .string(role)),
                ("config", c.json), ("parameters", .int(c.parameterCount)),
                ("tensor_map", .array(folder.tensorMap.map { .object([("ours", .string($0.ours)), ("theirs", .string($0.theirs))]) })),
            ]))
            return
        }
        print("model       \(dir) (Hugging Face folder)")
        print("family      \(folder.family.rawValue), role \(role)")
        print("config      \(c.json.serialized())")
        print("parameters  \(c.parameterCount)")
        func size(_ bytes: Double) -> String { bytes >= 1e9 ? "\(fixed(bytes / 1e9, 1)) GB" : "\(fixed(bytes / 1e6, 1)) MB" }
        let half = Transformer.peekHalfPanels(directory: dir)
        func weights(_ compute: Compute) -> Double { MemoryEstimate.weightBytes(config: c, compute: compute, halfPanels: half) }
        print("memory      weights packed for the products: about \(size(weights(.fp32))) with --compute fp32\(half ? " (BF16 panels)" : ""), \(size(weights(.int8))) with --compute int8 (the files are mapped, not copied)")
        print("tensors     \(folder.tensorMap.count), ours <- the folder's:")
        let shapes = Dictionary(uniqueKeysWithValues: c.tensorShapes.map { ($0.name, $0.shape) })
        for m in folder.tensorMap { print("  \(padRight(m.ours, 32)) <- \(m.theirs) \(shapes[m.ours] ?? [])") }
    }
}

/// `--model`, `--evaluator`, `--planner`: the three bundled roles, each overridable.
/// Every model is checked when it is loaded, before any work: its role (a causal evaluator
/// is not a denoiser) and its vocabulary against the tokenizer's, which also makes the
/// denoiser, the evaluator and the planner agree with one another.
struct ModelSetOptions: ParsableArguments {
    typealias Role = ModelRole

    @Option(help: "Denoiser model directory (default: models/denoiser).") var model: String?
    @Option(help: "Evaluator model directory (default: models/evaluator).") var evaluator: String?
    @Option(help: "DDPD planner model directory (default: models/planner).") var planner: String?

    func explicit(_ role: Role) -> String? {
        switch role {
        case .denoiser: return model
        case .evaluator: return evaluator
        case .planner: return planner
        }
    }

    /// The model for `role`: the directory given, else the bundled one, else nil. Its role
    /// and its vocabulary (against `tokenizer`) are checked.
    func optional(_ role: Role, tokenizer: LoadedTokenizer, matmul: MatMul) throws -> Transformer? {
        guard let dir = explicit(role) ?? Files.locateResource("models/\(role.rawValue)") else { return nil }
        let name = explicit(role) != nil ? "\(flag(role)) \(dir)" : "the bundled \(dir)"
        // A model too big for this machine is refused before its weights are read (an 8 B
        // folder takes seconds to check and minutes to pack).
        if let config = try? Transformer.peekConfig(directory: dir) {
            let half = matmul.backend == .unmask && Transformer.peekHalfPanels(directory: dir)
            func weights(_ compute: Compute) -> Double {
                MemoryEstimate.weightBytes(config: config, backend: matmul.backend, compute: compute, halfPanels: half)
            }
            let need = weights(matmul.compute), have = Double(physicalMemoryBytes())
            if !MemoryEstimate.fits(need, fraction: 0.9) {
                throw UnmaskError("\(name) needs about \(fixed(need / 1e9, 1)) GB for its \(matmul.compute.rawValue) weights; this machine has \(fixed(have / 1e9, 1)) GB\(matmul.compute == .fp32 ? " (try --compute int8: about \(fixed(weights(.int8) / 1e9, 1)) GB)" : "")")
            }
        }
        let m = try Transformer.load(directory: dir, matmul: matmul)
        try role.check(m.config, name: name)
        try m.config.checkVocabulary(size: tokenizer.tokenizer.vocabSize, maskTokenId: tokenizer.tokenizer.maskId,
                                     modelName: name, tokenizerName: tokenizer.name,
                                     padded: HuggingFaceFolder.isHuggingFace(directory: dir))
        return m
    }

    /// Like `optional`, but a missing model is an error that says how to give one.
    func required(_ role: Role, tokenizer: LoadedTokenizer, matmul: MatMul) throws -> Transformer {
        guard let m = try optional(role, tokenizer: tokenizer, matmul: matmul) else {
            throw UnmaskError("cannot find the bundled models/\(role.rawValue) (pass \(flag(role)) DIR)")
        }
        return m
    }

    func flag(_ role: Role) -> String { role == .denoiser ? "--model" : "--\(role.rawValue)" }

    /// The evaluator that scores samples: ours (sharing the samples' tokenizer), or a
    /// Hugging Face folder with a tokenizer of its own (GPT-2), which then scores decoded
    /// text by the published recipe. `endOfText` is in the evaluator's vocabulary.
    func scoringEvaluator(tokenizer: LoadedTokenizer, matmul: MatMul) throws
        -> (evaluator: TransformerEvaluator, endOfText: Int, ownTokenizer: Tokenizer?) {
        guard let dir = evaluator, HuggingFaceFolder.isHuggingFace(directory: dir) else {
            let m = try required(.evaluator, tokenizer: tokenizer, matmul: matmul)
            return (try TransformerEvaluator(model: m), tokenizer.tokenizer.endOfTextId, nil)
        }
        let model = try Transformer.load(directory: dir, matmul: matmul)
        try ModelRole.evaluator.check(model.config, name: "--evaluator \(dir)")
        let own = try Tokenizer.load(path: dir + "/tokenizer.json", requireMask: false,
                                     endOfText: HuggingFaceFolder.declaredEndOfTextId(directory: dir))
        guard own.vocabSize <= model.config.vocabSize else {
            throw UnmaskError("\(dir)/tokenizer.json has \(own.vocabSize) ids but the model only \(model.config.vocabSize): they do not belong together")
        }
        return (try TransformerEvaluator(model: model), own.endOfTextId, own)
    }
}

/// `--compute`, for the commands that run a model for inference (training is fp32).
struct ComputeOptions: ParsableArguments {
    @Option(help: "Arithmetic of the weight products: fp32 (reference) or int8 (AVX-512 VNNI; the head and attention stay fp32). Not the sampling draw's precision.")
    var compute: Compute = .fp32

    /// The engine's MatMul with this compute, or a one-line error when this CPU or backend
    /// cannot run it.
    func matmul(_ engine: EngineOptions) throws -> MatMul {
        if let why = compute.unavailableReason(backend: engine.backend) { throw UnmaskError(why) }
        return MatMul(backend: engine.backend, threads: engine.threads, compute: compute)
    }
}

extension Compute: ExpressibleByArgument {}
