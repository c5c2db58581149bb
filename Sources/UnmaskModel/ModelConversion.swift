import UnmaskSupport

/// `unmask convert`: a copy of a model with its weights stored in another type.
public enum ModelConversion {
    /// Validates the model in `directory` fully, then writes config.json, model.safetensors
    /// (as `dtype`, rounding to nearest even), a short README.md and, for a label-conditional
    /// denoiser, its labels.json to `out`, each atomically.
    /// `out` is never the input, and must be new or empty unless `force`. Returns the size of
    /// the written model.safetensors.
    @discardableResult
    public static func convert(directory: String, out: String, dtype: StorageType, force: Bool) throws -> Int {
        if Files.sameFile(directory, out) {
            throw SettingError(.out, "⟨out⟩ \(out) is the input model: converting in place would replace it (lossily); choose another folder")
        }
        if Files.exists(out) && !Files.isDirectory(out) { throw SettingError(.out, "⟨out⟩ \(out) is a file, expected a folder") }
        if Files.isDirectory(out) && !force, let present = Files.directoryEntries(out), !present.isEmpty {
            throw SettingError(.out, "⟨out⟩ \(out) is not empty (\(present.prefix(4).joined(separator: ", "))): give ⟨force⟩ to replace its model, or a new folder")
        }
        let model = try Transformer.load(directory: directory)  // validates config, shapes and values
        let file = try SafetensorsFile(path: directory + "/model.safetensors")
        let weights = ParameterBuffer(config: model.config)
        try weights.load(from: file)
        try weights.save(directory: out, metadata: file.metadata.map { ($0.key, $0.value) }, dtype: dtype)
        // The copy's own card: an old card in `out` (with --force) would describe another model.
        let card = """
        # \(out.split(separator: "/").last ?? "model")

        A copy of `\(directory)` (model.safetensors SHA-256 `\(SHA256.hex(file.bytes))`) with its weights stored as \
        \(dtype.rawValue), written by `unmask convert`. The weights are the same numbers rounded to \(dtype.rawValue); \
        the original's model card, if any, describes how they were trained.

        """
        try Files.writeAtomically(Array(card.utf8), to: out + "/README.md")
        // A label-conditional denoiser's classes travel with its weights.
        if Files.exists(directory + "/labels.json") {
            try Files.writeAtomically(try Files.read(directory + "/labels.json", limit: 1 << 20), to: out + "/labels.json")
        }
        return try SafetensorsFile(path: out + "/model.safetensors").fileSize
    }
}
