import ArgumentParser
import Unmask

extension StorageType: ExpressibleByArgument {}

/// `unmask convert`: rewrite a model's weights in another storage type. The bundled models
/// are stored in F16 (half the bytes in the repository); they are widened to F32 at load,
/// so the kernels are the same and only the rounding of the weights differs.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Write a copy of a model with its weights stored as f32, f16 or bf16.",
        discussion: """
        Reads and fully validates --model, then writes config.json, model.safetensors and a \
        short README.md (what it was converted from) to --out, atomically. Rounding is to \
        nearest even; a weight outside the target's range is an error. --out must be a new \
        or empty folder (or --force), and never the input model's.
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Output model directory.") var out: String
    @Option(help: "f32 | f16 | bf16") var dtype: StorageType
    @Flag(help: "Write into a non-empty --out, replacing its model files.") var force = false

    func run() throws {
        let dir = try modelOptions.directory()
        if Files.sameFile(dir, out) {
            throw UnmaskError("--out \(out) is the input model: converting in place would replace it (lossily); choose another folder")
        }
        if Files.exists(out) && !Files.isDirectory(out) { throw UnmaskError("--out \(out) is a file, expected a folder") }
        if Files.isDirectory(out) && !force, let present = Files.directoryEntries(out), !present.isEmpty {
            throw UnmaskError("--out \(out) is not empty (\(present.prefix(4).joined(separator: ", "))): pass --force to replace its model, or give a new folder")
        }
        let model = try Transformer.load(directory: dir)  // validates config, shapes and values
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        let weights = ParameterBuffer(config: model.config)
        try weights.load(from: file)
        try weights.save(directory: out, metadata: file.metadata.map { ($0.key, $0.value) }, dtype: dtype)
        let written = try SafetensorsFile(path: out + "/model.safetensors")
        let card = """
        # \(out.split(separator: "/").last ?? "model")

        A copy of `\(dir)` (model.safetensors SHA-256 `\(SHA256.hex(file.bytes))`) with its weights stored as \
        \(dtype.rawValue), written by `unmask convert`. The weights are the same numbers rounded to \(dtype.rawValue); \
        the original's model card, if any, describes how they were trained.

        """
        try Files.writeAtomically(Array(card.utf8), to: out + "/README.md")
        print("wrote \(out)/model.safetensors (\(dtype.rawValue), \(written.fileSize) bytes), config.json and README.md")
    }
}
