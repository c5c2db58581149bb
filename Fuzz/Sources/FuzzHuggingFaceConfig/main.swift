#if canImport(Glibc)
import Glibc
#endif
import FuzzSupport
import Unmask

/// A Hugging Face folder's config.json and model.safetensors.index.json (one input, the
/// two files separated by "\n--\n"), with no weights: every family's config mapping and
/// the index's tensor map give an error or a config whose sizes are positive, never a
/// trap. The shards do not exist, so the loader must stop at a one-line error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHuggingFaceConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let parts = Fuzz.parts(Fuzz.bytes(data, size), count: 2)
    let folder = Fuzz.scratch + "/folder"
    mkdir(folder, 0o755)
    Fuzz.write(parts[0], to: "folder/config.json")
    Fuzz.write(parts[1], to: "folder/model.safetensors.index.json")
    if let config = try? Transformer.peekConfig(directory: folder) {
        guard config.vocabSize > 0, config.dModel > 0, config.nLayers > 0, config.contextLength > 0 else {
            Fuzz.fail("a config with a non-positive size: \(config)")
        }
    }
    do {
        _ = try Transformer.load(directory: folder)
        Fuzz.fail("a folder without weights loaded")
    } catch {
        let text = "\(error)"
        guard !text.isEmpty, !text.contains("\n") else { Fuzz.fail("not a one-line error: \(text)") }
    }
    return 0
}
