#if canImport(Glibc)
import Glibc
#endif
import UnmaskModel
import UnmaskSupport
import UnmaskTokenizer

/// Everything `unmask train` decides before the first step, as library calls: which config
/// to train, the output folder's rules, and the starting weights.
public enum TrainingSetup {
    /// The files a run writes in its output folder.
    public static let outputFiles = ["model.safetensors", "config.json", "README.md", "log.jsonl", "loss.svg",
                                     "checkpoint.safetensors", "best/model.safetensors", "best/config.json"]

    /// The config to train: `configFile`'s, else the `initFrom` model's, else `sizes`; then
    /// the objective's attention and head (`Objective.configure`). It is validated, checked
    /// against the tokenizer's vocabulary, and must fit a step of `batch` in memory.
    /// `labels`: classes of a label-conditional denoiser; the vocabulary then holds
    /// `labels + 1` more ids past the tokenizer's (the classes and the null label).
    public static func config(configFile: String?, initFrom: String?, sizes: ModelConfig, objective: Objective,
                              tokenizer: Tokenizer, batch: Int, labels: Int = 0, blockSize: Int? = nil) throws -> ModelConfig {
        var c: ModelConfig
        if let configFile {
            c = try ModelConfig.load(path: configFile)
        } else if let initFrom {
            guard Files.isDirectory(initFrom) else { throw SettingError(.initFrom, "⟨init⟩ \(initFrom) is not a model directory") }
            c = try ModelConfig.load(path: initFrom + "/config.json")
        } else {
            c = sizes
        }
        c = try objective.configure(c, blockSize: blockSize)
        if labels > 0 {
            guard objective == .mdm else { throw SettingError(.labels, "⟨labels⟩ trains a label-conditional denoiser: objective mdm") }
            c.vocabSize = tokenizer.vocabSize + labels + 1
        }
        try c.validate()
        try c.checkVocabulary(size: tokenizer.vocabSize, maskTokenId: tokenizer.maskId, modelName: "the model to train",
                              tokenizerName: "in use", padded: labels > 0)
        // bd3's training layout doubles the rows and quadruples the attention: counted as a
        // batch of 4× the sequences (an overestimate of the rows).
        try TrainingStep.checkFits(config: c, batch: batch * objective.rowsPerPosition * objective.rowsPerPosition)
        return c
    }

    /// The output folder's rules, checked before anything is created or read at length: a
    /// trained model is never overwritten unless `force`; `resume` needs a checkpoint; the
    /// folder is never an input (`inputs`: corpus and config files; `initFrom`: the model
    /// the run starts from). A refused run leaves no folder behind.
    public static func checkOutputFolder(_ out: String, resume: Bool, force: Bool, inputs: [String], initFrom: String?) throws {
        if Files.exists(out) && !Files.isDirectory(out) {
            throw SettingError(.out, "⟨out⟩ \(out) is a file, expected a folder")
        }
        if let initFrom, Files.sameFile(initFrom, out) {
            throw SettingError(.out, "⟨out⟩ \(out) is the ⟨init⟩ model: training would overwrite the model it starts from")
        }
        if Files.isDirectory(out) {
            for path in inputs {
                for name in outputFiles where Files.sameFile(path, out + "/" + name) {
                    throw SettingError(.out, "⟨out⟩ \(out) would overwrite the input \(path)")
                }
            }
        }
        if resume {
            guard Files.exists(out + "/checkpoint.safetensors") else {
                throw SettingError(.resume, "⟨resume⟩: no checkpoint at \(out)/checkpoint.safetensors")
            }
            return
        }
        if Files.isDirectory(out) && !force {
            Files.removeStaleTemporaries(in: out)
            let present = Files.directoryEntries(out) ?? []
            if !present.isEmpty {
                let shown = present.prefix(4).joined(separator: ", ") + (present.count > 4 ? ", …" : "")
                throw SettingError(.out, "⟨out⟩ \(out) is not empty (\(shown)): give ⟨resume⟩ to continue its run, ⟨force⟩ to overwrite it, or a new folder")
            }
        }
    }

    /// For `--force`: removes the previous run's files now, so that an interrupted forced
    /// run cannot leave the old model beside a new checkpoint. Other files are left alone.
    public static func clearPreviousRun(in out: String) {
        for name in outputFiles { unlink(out + "/" + name) }
    }

    /// Random weights from `seed`, then every tensor of the `initFrom` model whose name and
    /// shape match copied over (an autoregressive parent gives a denoiser all its weights).
    /// A table that grew rows (the embedding of a vocabulary with label ids added) gets the
    /// parent's rows, and keeps its random ones past them. Returns the parameters and how
    /// many tensors were copied (whole or in part).
    public static func initialParameters(config: ModelConfig, seed: UInt64, initFrom: String?) throws -> (ParameterBuffer, copied: Int) {
        let params = ParameterBuffer.random(config: config, seed: seed)
        guard let initFrom else { return (params, 0) }
        let initial = try SafetensorsFile(path: initFrom + "/model.safetensors")
        var copied = 0
        for t in params.layout {
            guard let info = initial.info(t.name) else { continue }
            if info.shape == t.shape {
                (params.data + t.offset).update(from: try initial.float32(t.name, shape: t.shape), count: t.shape.reduce(1, *))
                copied += 1
            } else if info.shape.count == t.shape.count, info.shape.count >= 1, info.shape[0] < t.shape[0],
                      Array(info.shape.dropFirst()) == Array(t.shape.dropFirst()) {
                (params.data + t.offset).update(from: try initial.float32(t.name, shape: info.shape), count: info.shape.reduce(1, *))
                copied += 1
            }
        }
        return (params, copied)
    }
}
