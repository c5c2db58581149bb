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
        Reads and fully validates --model, then writes config.json and model.safetensors to \
        --out (atomically). Rounding is to nearest even; a weight outside the target's range \
        is an error. The model's README.md, if any, is not copied: the copy is a different file.
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Output model directory.") var out: String
    @Option(help: "f32 | f16 | bf16") var dtype: StorageType

    func run() throws {
        let dir = try modelOptions.directory()
        let model = try Transformer.load(directory: dir)  // validates config, shapes and values
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        let weights = ParameterBuffer(config: model.config)
        try weights.load(from: file)
        try weights.save(directory: out, metadata: file.metadata.map { ($0.key, $0.value) }, dtype: dtype)
        let written = try SafetensorsFile(path: out + "/model.safetensors")
        print("wrote \(out)/model.safetensors (\(dtype.rawValue), \(written.fileSize) bytes) and config.json")
    }
}
