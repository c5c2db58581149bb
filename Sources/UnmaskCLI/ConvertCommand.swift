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
        let bytes = try ModelConversion.convert(directory: modelOptions.directory(), out: out, dtype: dtype, force: force)
        print("wrote \(out)/model.safetensors (\(dtype.rawValue), \(bytes) bytes), config.json and README.md")
    }
}
