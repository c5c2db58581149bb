import UnmaskKernels
import UnmaskSupport

/// Opening a model from disk: our model directories (`config.json` beside
/// `model.safetensors`) and Hugging Face folders, checked before the forward ever runs,
/// and the looks at a directory (its config, its storage) that decide whether it fits.
extension Transformer {
    /// The files a model folder is read from (a Hugging Face folder's shards are named by
    /// its index and checked there): each must stay inside the folder (`Files.insideFolder`),
    /// checked before any of them is opened.
    static let folderFiles = ["config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json"]

    /// Loads `config.json` and `model.safetensors` from a model directory, validating
    /// everything: shapes against the config, no missing or unexpected tensors, no NaN or
    /// infinite weights. Errors name the file and the problem.
    public static func load(directory: String, matmul: MatMul = MatMul()) throws -> Transformer {
        guard Files.isDirectory(directory) else {
            if Files.exists(directory) {
                throw UnmaskError("\(directory) is a file, not a directory; a model is a directory holding config.json and model.safetensors")
            }
            throw UnmaskError("model directory \(directory) does not exist")
        }
        try Files.checkInsideFolder(Transformer.folderFiles, of: directory)
        guard Files.exists(directory + "/config.json") else {
            throw UnmaskError("\(directory) is not a model directory: it has no config.json")
        }
        if HuggingFaceFolder.isHuggingFace(directory: directory) {
            let folder = try HuggingFaceFolder.open(directory: directory)
            try checkFinite(config: folder.config, source: folder.source, path: directory)
            return try Transformer(config: folder.config, source: folder.source, matmul: matmul)
        }
        let config = try ModelConfig.load(path: try Files.insideFolder("config.json", of: directory))
        let path = try Files.insideFolder("model.safetensors", of: directory)
        let file = try SafetensorsFile(path: path)
        let expected = config.tensorShapes
        for t in file.tensors where !expected.contains(where: { $0.name.utf8.elementsEqual(t.name.utf8) }) {
            throw UnmaskError("\(path): unexpected tensor \(t.name) (not in this config)")
        }
        try checkFinite(config: config, source: file, path: path)
        return try Transformer(config: config, source: file, matmul: matmul)
    }

    /// The config of a model directory (ours or a Hugging Face folder), without reading
    /// the weights: for decisions before loading (does it fit in memory?). `load` checks
    /// everything; errors here are the same ones it would report.
    public static func peekConfig(directory: String) throws -> ModelConfig {
        try Files.checkInsideFolder(Transformer.folderFiles, of: directory)
        if HuggingFaceFolder.isHuggingFace(directory: directory) { return try HuggingFaceFolder.open(directory: directory).config }
        return try ModelConfig.load(path: directory + "/config.json")
    }

    /// Whether a model directory's weights would be packed into BF16 panels: every tensor
    /// stored in BF16, and the AVX-512 kernel running (see `Weight.halfPanels`).
    public static func peekHalfPanels(directory: String) -> Bool {
        guard MicroKernel.selected == .avx512 else { return false }
        let files: [SafetensorsFile]
        if HuggingFaceFolder.isHuggingFace(directory: directory) {
            guard let sharded = try? ShardedSafetensors(directory: directory) else { return false }
            files = sharded.files
        } else {
            guard let path = try? Files.insideFolder("model.safetensors", of: directory),
                  let file = try? SafetensorsFile(path: path) else { return false }
            files = [file]
        }
        return files.allSatisfy { $0.tensors.allSatisfy { $0.dtype == "BF16" } }
    }

    /// Every tensor the config needs, present with its shape and free of NaN and infinity.
    /// Matrices are checked as stored (a BF16 checkpoint is not widened to be checked), and
    /// their pages are dropped from memory again afterwards when they lie in a file mapping.
    public static func checkFinite(config: ModelConfig, source: TensorSource, path: String) throws {
        for t in config.tensorShapes {
            guard t.shape.count == 2 else {
                let p = try source.float32(t.name, shape: t.shape)
                for i in 0..<t.shape.reduce(1, *) where !p[i].isFinite {
                    throw UnmaskError("\(path): tensor \(t.name) holds a non-finite value (\(p[i])) at index \(i)")
                }
                continue
            }
            let parts: [StoredMatrix]
            switch try source.weight(t.name, rows: t.shape[0], cols: t.shape[1]) {
            case .inOut(let m): parts = [m]
            case .outIn(let ms): parts = ms
            }
            var offset = 0
            for m in parts {
                if let i = m.firstNonFinite() {
                    throw UnmaskError("\(path): tensor \(t.name) holds a non-finite value (\(m.value(i / m.cols, i % m.cols))) at index \(offset + i)")
                }
                offset += m.rows * m.cols
                m.releasePages()
            }
        }
    }
}
