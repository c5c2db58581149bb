import ArgumentParser
import Unmask

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
        func weights(_ compute: Compute) -> Double { MemoryEstimate.weightBytes(config: c, engine: Engine(compute: compute), halfPanels: half) }
        print("memory      weights packed for the products: about \(size(weights(.fp32))) with --compute fp32\(half ? " (BF16 panels)" : ""), \(size(weights(.bf16))) with --compute bf16, \(size(weights(.int8))) with --compute int8 (the files are mapped, not copied)")
        print("tensors     \(folder.tensorMap.count), ours <- the folder's:")
        let shapes = Dictionary(uniqueKeysWithValues: c.tensorShapes.map { ($0.name, $0.shape) })
        for m in folder.tensorMap { print("  \(padRight(m.ours, 32)) <- \(m.theirs) \(shapes[m.ours] ?? [])") }
    }
}
