import UnmaskKernels
import UnmaskSupport

/// A Hugging Face model folder, as `huggingface-cli download NAME --local-dir DIR` leaves
/// it: `config.json` naming the family (`model_type`, or `architectures`), the weights in
/// `model.safetensors` or in shards listed by `model.safetensors.index.json`, and
/// `tokenizer.json`. Each supported family maps its config onto `ModelConfig` and its
/// tensor names onto ours (`tensorMap`), so the one engine runs it; the weights are read
/// in place from the files, in the layout the family stores them.
///
/// Supported: GPT-2 (`gpt2` … `gpt2-xl`) as an evaluator; MDLM's DiT, LLaDA and Dream as
/// denoisers. Anything else is refused with a one-line error that names the family.
public struct HuggingFaceFolder {
    public enum Family: String, Sendable, CaseIterable {
        case gpt2
        /// MDLM's DiT (kuleshov-group/mdlm-owt), without time conditioning.
        case mdlm
        /// Dream (Qwen2 blocks, bidirectional, shifted logits).
        case dream
        /// LLaDA (OLMo names around LLaMA blocks, bidirectional).
        case llada
    }

    public let directory: String
    public let family: Family
    public let config: ModelConfig
    /// (our name, the folder's name) for every tensor the model uses, in our order.
    public let tensorMap: [(ours: String, theirs: String)]
    /// The weights under our names.
    public let source: TensorSource

    /// True when `directory/config.json` is a Hugging Face config (it names a
    /// `model_type` or `architectures`) rather than one of ours.
    public static func isHuggingFace(directory: String) -> Bool {
        guard let bytes = try? Files.read(directory + "/config.json", limit: 1 << 20),
              let json = try? JSON.parse(bytes) else { return false }
        return json["architecture"]?.stringValue != "unmask-transformer"
            && (json["model_type"] != nil || json["architectures"] != nil)
    }

    /// The mask id a denoiser folder's config.json declares, by its family's rule, without
    /// reading the weights: LLaDA's `mask_token_id` (else its fixed 126336), Dream's and
    /// MDLM's `mask_token_id` (MDLM's default, one past the tokenizer's ids, is nil here:
    /// the tokenizer gets `<|mask|>` appended). Nil for an evaluator, or an unreadable config
    /// (`open` reports it).
    public static func declaredMaskId(directory: String) -> Int? {
        guard let bytes = try? Files.read(directory + "/config.json", limit: 1 << 20), let json = try? JSON.parse(bytes),
              let family = try? Family.of(json, path: "") else { return nil }
        switch family {
        case .gpt2: return nil
        case .llada: return json["mask_token_id"]?.intValue ?? 126_336
        case .dream, .mdlm: return json["mask_token_id"]?.intValue
        }
    }

    /// The end-of-text id a folder's config.json names (`eos_token_id`, a number), or nil.
    public static func declaredEndOfTextId(directory: String) -> Int? {
        guard let bytes = try? Files.read(directory + "/config.json", limit: 1 << 20), let json = try? JSON.parse(bytes) else { return nil }
        return json["eos_token_id"]?.intValue
    }

    public static func open(directory: String) throws -> HuggingFaceFolder {
        let configPath = directory + "/config.json"
        let json: JSONValue
        do {
            json = try JSON.parse(try Files.read(configPath, limit: 1 << 20))
        } catch let e as JSONParseError {
            throw UnmaskError("\(configPath): \(e)")
        }
        let family = try Family.of(json, path: configPath)
        let weights = try ShardedSafetensors(directory: directory)
        if family == .mdlm { return try DiTFolding.open(directory: directory, json: json, weights: weights, path: configPath) }
        if family == .dream { return try LlamaFamily.openDream(directory: directory, json: json, weights: weights, path: configPath) }
        if family == .llada { return try LlamaFamily.openLLaDA(directory: directory, json: json, weights: weights, path: configPath) }
        let (config, map) = try family.describe(json, tensorNames: Set(weights.names), path: configPath)
        let mapped = Set(map.map(\.theirs))
        for name in weights.names where !mapped.contains(name) && !family.ignores(name) {
            throw UnmaskError("\(directory): unexpected tensor \(name) for a \(family.rawValue) model with this config.json")
        }
        let source = try RenamedTensorSource(files: weights, mapping: Dictionary(uniqueKeysWithValues: map.map { ($0.ours, .same($0.theirs)) }),
                                         directory: directory)
        return HuggingFaceFolder(directory: directory, family: family, config: config, tensorMap: map, source: source)
    }
}

extension HuggingFaceFolder.Family {
    static func of(_ json: JSONValue, path: String) throws -> Self {
        let type = json["model_type"]?.stringValue
        let architectures = json["architectures"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if type == "gpt2" || architectures.contains(where: { $0.hasPrefix("GPT2") }) { return .gpt2 }
        if type == "mdlm" || architectures.contains("MDLM") { return .mdlm }
        if type?.lowercased() == "dream" || architectures.contains("DreamModel") { return .dream }
        if type?.lowercased() == "llada" || architectures.contains(where: { $0.hasPrefix("LLaDA") }) { return .llada }
        let named = type ?? architectures.first ?? "unnamed"
        throw UnmaskError("\(path): model family \"\(named)\" is not supported (Unmask reads: \(Self.allCases.map(\.rawValue).joined(separator: ", ")))")
    }

    /// Tensors a folder of this family may hold that the model does not use: GPT-2's
    /// attention-mask buffers, saved by older versions of transformers.
    func ignores(_ name: String) -> Bool {
        switch self {
        case .gpt2: return name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias") || name == "lm_head.weight"
        case .mdlm, .dream, .llada: return false  // their loaders check the folder's tensors themselves
        }
    }

    /// The ModelConfig and the tensor-name map of a config.json of this family.
    func describe(_ json: JSONValue, tensorNames: Set<String>, path: String) throws -> (ModelConfig, [(ours: String, theirs: String)]) {
        func int(_ key: String) throws -> Int {
            guard let v = json[key]?.intValue else { throw UnmaskError("\(path): missing or non-integer \"\(key)\"") }
            return v
        }
        switch self {
        case .mdlm, .dream, .llada:
            throw UnmaskError("\(path): internal: \(rawValue) folders are rearranged by their own loader")
        case .gpt2:
            let d = try int("n_embd")
            let inner = json["n_inner"]?.intValue ?? 4 * d  // null: 4·n_embd
            // Mask token: none. An evaluator never sees one.
            var c = ModelConfig(vocabSize: try int("vocab_size"), dModel: d, nLayers: try int("n_layer"), nHeads: try int("n_head"),
                                dFF: inner, contextLength: try int("n_positions"), maskTokenId: ModelConfig.noMaskToken)
            c.norm = .layernorm
            c.normEps = json["layer_norm_epsilon"]?.doubleValue ?? 1e-5
            c.positions = .learned
            c.attention = .causal
            c.head = .tokens
            c.linearBias = true
            c.activation = .gelu
            let activation = json["activation_function"]?.stringValue ?? "gelu_new"
            // GPT-2 uses GELU's tanh form ("gelu_new"); the erf form would differ by ~1e-3.
            guard ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"].contains(activation) else {
                throw UnmaskError("\(path): activation_function \"\(activation)\" is not supported (Unmask's GELU is the tanh form, gelu_new)")
            }
            if json["scale_attn_by_inverse_layer_idx"]?.boolValue == true {
                throw UnmaskError("\(path): scale_attn_by_inverse_layer_idx is not supported")
            }
            if json["scale_attn_weights"]?.boolValue == false {
                throw UnmaskError("\(path): scale_attn_weights false is not supported (attention is scaled by 1/sqrt(head size))")
            }
            if json["tie_word_embeddings"]?.boolValue == false {
                throw UnmaskError("\(path): an untied GPT-2 head (tie_word_embeddings false) is not supported")
            }
            c.tiedEmbeddings = true
            try c.validate()
            // Files from GPT2LMHeadModel prefix every name with "transformer."; the
            // original checkpoints do not.
            let prefix = tensorNames.contains("transformer.wte.weight") ? "transformer." : ""
            var map: [(ours: String, theirs: String)] = []
            func both(_ ours: String, _ theirs: String) {
                map.append((ours + ".weight", prefix + theirs + ".weight"))
                map.append((ours + ".bias", prefix + theirs + ".bias"))
            }
            map.append(("embed.weight", prefix + "wte.weight"))
            map.append(("pos_embed.weight", prefix + "wpe.weight"))
            for l in 0..<c.nLayers {
                both("layers.\(l).attn_norm", "h.\(l).ln_1")
                both("layers.\(l).attn.qkv", "h.\(l).attn.c_attn")     // Conv1D: stored (in, out), as ours
                both("layers.\(l).attn.out", "h.\(l).attn.c_proj")
                both("layers.\(l).mlp_norm", "h.\(l).ln_2")
                both("layers.\(l).mlp.up", "h.\(l).mlp.c_fc")
                both("layers.\(l).mlp.down", "h.\(l).mlp.c_proj")
            }
            both("final_norm", "ln_f")
            return (c, map)
        }
    }
}

/// The tensors of one `model.safetensors`, or of the shards `model.safetensors.index.json`
/// lists, by name.
public final class ShardedSafetensors {
    public let files: [SafetensorsFile]
    let fileOf: [String: Int]
    public var names: [String] { Array(fileOf.keys).sorted() }

    public init(directory: String) throws {
        let single = directory + "/model.safetensors", index = directory + "/model.safetensors.index.json"
        if Files.exists(single) {
            let f = try SafetensorsFile(path: single)
            files = [f]
            fileOf = Dictionary(f.tensors.map { ($0.name, 0) }, uniquingKeysWith: { a, _ in a })
            return
        }
        guard Files.exists(index) else {
            throw UnmaskError("\(directory) has neither model.safetensors nor model.safetensors.index.json")
        }
        let json: JSONValue
        do {
            json = try JSON.parse(try Files.read(index, limit: 1 << 26))
        } catch let e as JSONParseError {
            throw UnmaskError("\(index): \(e)")
        }
        guard let pairs = json["weight_map"]?.objectPairs else { throw UnmaskError("\(index): no \"weight_map\" object") }
        var shardNames: [String] = [], shardIndex: [String: Int] = [:], fileOf: [String: Int] = [:]
        for (tensor, value) in pairs {
            guard let shard = value.stringValue, !shard.contains("/") else {
                throw UnmaskError("\(index): tensor \(tensor) has no shard file name")
            }
            if shardIndex[shard] == nil {
                shardIndex[shard] = shardNames.count
                shardNames.append(shard)
            }
            fileOf[tensor] = shardIndex[shard]!
        }
        var files: [SafetensorsFile] = []
        for shard in shardNames {
            guard Files.exists(directory + "/" + shard) else {
                throw UnmaskError("\(directory): shard \(shard), listed in model.safetensors.index.json, is missing")
            }
            files.append(try SafetensorsFile(path: directory + "/" + shard))
        }
        for (tensor, i) in fileOf where !files[i].tensors.contains(where: { $0.name == tensor }) {
            throw UnmaskError("\(directory): tensor \(tensor) is not in \(shardNames[i]), where the index puts it")
        }
        self.files = files
        self.fileOf = fileOf
    }

    func float32(_ name: String, shape: [Int]) throws -> UnsafePointer<Float>? {
        guard let i = fileOf[name] else { return nil }
        return try files[i].float32(name, shape: shape)
    }

    func stored(_ name: String, shape: [Int]) throws -> StoredMatrix? {
        guard let i = fileOf[name] else { return nil }
        return try files[i].stored(name, shape: shape)
    }

    func info(_ name: String) -> TensorInfo? {
        guard let i = fileOf[name] else { return nil }
        return files[i].info(name)
    }

    /// A tensor that must be there, as Double, with its shape checked.
    func doubles(_ name: String, _ shape: [Int], directory: String) throws -> [Double] {
        guard let p = try float32(name, shape: shape) else {
            throw UnmaskError("\(directory): tensor \(name) is missing (shape \(shape))")
        }
        return (0..<shape.reduce(1, *)).map { Double(p[$0]) }
    }
}

/// How one of our tensors is found in a folder.
public enum TensorMapping: Sendable {
    /// Their tensor, in our layout (GPT-2's Conv1D weights are (in, out) like ours).
    case same(String)
    /// PyTorch Linear weights (out, in), stacked along out (q, k, v → our qkv), multiplied
    /// as our (in, Σ out) without being rearranged.
    case linear([String])
    /// Vectors laid end to end (q, k and v biases → our qkv bias): a small F32 copy.
    case concatenated([String])

    public var description: String {
        switch self {
        case .same(let name): return name
        case .linear(let names): return names.map { $0 + "ᵀ" }.joined(separator: " | ")
        case .concatenated(let names): return names.joined(separator: " ‖ ")
        }
    }
}

/// A TensorSource that answers our tensor names from a folder's own names, reading the
/// weights in place in their stored dtype.
public final class RenamedTensorSource: TensorSource {
    let files: ShardedSafetensors
    let mapping: [String: TensorMapping]
    let directory: String
    /// Concatenated vectors and their lengths, made when the folder is opened (so that
    /// reading is free of side effects and several models may share the source).
    private var joined: [String: UnsafeMutablePointer<Float>] = [:]
    private var joinedCounts: [String: Int] = [:]

    init(files: ShardedSafetensors, mapping: [String: TensorMapping], directory: String) throws {
        (self.files, self.mapping, self.directory) = (files, mapping, directory)
        for (name, m) in mapping {
            if case .concatenated(let parts) = m { (joined[name], joinedCounts[name]) = try concatenate(parts) }
        }
    }

    deinit { for p in joined.values { p.deallocate() } }

    private func map(_ name: String) throws -> TensorMapping {
        guard let m = mapping[name] else { throw UnmaskError("\(directory): no tensor maps to \(name)") }
        return m
    }

    private func missing(_ name: String, _ shape: [Int]? = nil) -> UnmaskError {
        UnmaskError("\(directory): tensor \(name) is missing (the config needs it\(shape.map { ", shape \($0)" } ?? ""))")
    }

    public func float32(_ name: String, shape: [Int]) throws -> UnsafePointer<Float> {
        let m = try map(name)
        switch m {
        case .same(let theirs):
            guard let p = try files.float32(theirs, shape: shape) else { throw missing(theirs, shape) }
            return p
        case .concatenated:
            let p = joined[name]!
            let n = shape.reduce(1, *)
            guard n == joinedCounts[name] else {
                throw UnmaskError("\(directory): \(m.description) hold \(joinedCounts[name]!) values together, the config needs \(n)")
            }
            return UnsafePointer(p)
        case .linear:
            throw UnmaskError("internal: \(name) is a weight matrix; read it with weight(_:rows:cols:)")
        }
    }

    private func concatenate(_ parts: [String]) throws -> (UnsafeMutablePointer<Float>, Int) {
        var vectors: [(UnsafePointer<Float>, Int)] = []
        for part in parts {
            guard let info = files.info(part) else { throw missing(part) }
            guard info.shape.count == 1 else {
                throw UnmaskError("\(directory): tensor \(part) has shape \(info.shape), a vector is needed")
            }
            guard let p = try files.float32(part, shape: info.shape) else { throw missing(part, info.shape) }
            vectors.append((p, info.shape[0]))
        }
        let n = vectors.reduce(0) { $0 + $1.1 }
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
        var offset = 0
        for (v, count) in vectors {
            (p + offset).update(from: v, count: count)
            offset += count
        }
        return (p, n)
    }

    public func weight(_ name: String, rows: Int, cols: Int) throws -> WeightStorage {
        switch try map(name) {
        case .same(let theirs):
            guard let m = try files.stored(theirs, shape: [rows, cols]) else { throw missing(theirs, [rows, cols]) }
            return .inOut(m)
        case .linear(let parts):
            var stored: [StoredMatrix] = []
            for part in parts {
                guard let info = files.info(part) else { throw missing(part) }
                guard info.shape.count == 2, info.shape[1] == rows else {
                    throw UnmaskError("\(directory): tensor \(part) has shape \(info.shape), the config needs (out, \(rows))")
                }
                stored.append(try files.stored(part, shape: info.shape)!)
            }
            let total = stored.reduce(0) { $0 + $1.rows }
            guard total == cols else {
                throw UnmaskError("\(directory): \(parts.joined(separator: ", ")) have \(total) outputs together, the config needs \(cols)")
            }
            return .outIn(stored)
        case .concatenated:
            throw UnmaskError("internal: \(name) is a vector, not a weight matrix")
        }
    }
}
