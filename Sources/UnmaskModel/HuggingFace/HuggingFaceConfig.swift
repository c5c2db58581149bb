import UnmaskSupport

/// A Hugging Face folder's `config.json`, read and parsed once, with the typed accessors
/// every family's loader reads it through and the facts a caller needs before loading
/// any weights: is it a Hugging Face config at all, which family, which mask and
/// end-of-text ids it declares.
///
/// A required key that is absent or of the wrong type is one line naming the file and the
/// key (`int(_:)`, `double(_:)`, `string(_:)`); the optional variants answer nil for an
/// absent key, a `null` and a value of another type alike, and the loader supplies the
/// family's default.
public struct HuggingFaceConfig: Sendable {
    /// The folder the config belongs to.
    public let directory: String
    /// `directory/config.json`: every error message starts with it.
    public let path: String
    public let json: JSONValue

    /// config.json is small; anything larger than this is not one.
    static let readLimit = 1 << 20

    /// Reads and parses `directory/config.json`; an unreadable file or invalid JSON is
    /// an error that names the file.
    public init(directory: String) throws {
        let path = try Files.insideFolder("config.json", of: directory)
        let json: JSONValue
        do {
            json = try JSON.parse(try Files.read(path, limit: Self.readLimit))
        } catch let e as JSONParseError {
            throw UnmaskError("\(path): \(e)")
        }
        self.init(directory: directory, json: json)
    }

    /// The config of a Hugging Face folder, or nil when `directory/config.json` is missing,
    /// unreadable, not JSON, or one of Unmask's own configs: the one read a caller makes to
    /// decide how to open a directory and to ask for its ids.
    public init?(ifHuggingFace directory: String) {
        guard let config = try? HuggingFaceConfig(directory: directory), config.isHuggingFace else { return nil }
        self = config
    }

    public init(directory: String, json: JSONValue) {
        (self.directory, self.path, self.json) = (directory, directory + "/config.json", json)
    }

    /// True when the config names a `model_type` or `architectures` (Hugging Face's keys)
    /// and is not one of ours (`"architecture": "unmask-transformer"`).
    public var isHuggingFace: Bool {
        json["architecture"]?.stringValue != "unmask-transformer"
            && (json["model_type"] != nil || json["architectures"] != nil)
    }

    /// The family the config names by `model_type` or `architectures`; any other is refused
    /// with a line that names it and the families Unmask reads.
    public func family() throws -> HuggingFaceFolder.Family {
        let type = optionalString("model_type")
        let architectures = json["architectures"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if type == "gpt2" || architectures.contains(where: { $0.hasPrefix("GPT2") }) { return .gpt2 }
        if type == "mdlm" || architectures.contains("MDLM") { return .mdlm }
        if type == "bd3lm" || architectures.contains("BD3LM") { return .bd3lm }
        // A mixture of experts is recognised by everything its config says, not by its
        // family's name alone: LLaDA-MoE's config says model_type "llada" (architecture
        // LLaDAMoEModelLM) and LLaDA2's architecture starts with "LLaDA"; read as a dense
        // model, their expert weights would be missing or ignored.
        let expertKeys = ["num_experts", "n_routed_experts", "num_local_experts", "moe_intermediate_size", "num_experts_per_tok"]
        if let key = expertKeys.first(where: { json[$0] != nil && !(json[$0]!.isNull) })
            ?? architectures.first(where: { $0.lowercased().contains("moe") }) ?? (type?.lowercased().contains("moe") == true ? type : nil) {
            let named = architectures.first ?? type ?? "unnamed"
            throw error("model \"\(named)\" is a mixture of experts (its config has \(key)), which Unmask does not run yet; it reads dense models only")
        }
        if type == "sdar" || architectures.contains("SDARForCausalLM") { return .sdar }
        if type == "Fast_dLLM_Qwen" || architectures.contains("Fast_dLLM_QwenForCausalLM") { return .fastDLLMv2 }
        if type == "a2d-qwen3" || architectures.contains("A2DQwen3LMHeadModel") { return .a2dQwen3 }
        if type?.lowercased() == "dream" || architectures.contains("DreamModel") { return .dream }
        if type?.lowercased() == "llada" || architectures.contains(where: { $0.hasPrefix("LLaDA") }) { return .llada }
        let named = type ?? architectures.first ?? "unnamed"
        let supported = HuggingFaceFolder.Family.allCases.map(\.rawValue).joined(separator: ", ")
        throw error("model family \"\(named)\" is not supported (Unmask reads: \(supported))")
    }

    /// The mask id a denoiser's config declares, by its family's rule: LLaDA's
    /// `mask_token_id` (else its fixed 126336), Dream's and MDLM's `mask_token_id` (MDLM's
    /// default, one past the tokenizer's ids, is nil here: the tokenizer gets `<|mask|>`
    /// appended). Nil for an evaluator or a family Unmask does not read (`open` reports it).
    public var declaredMaskId: Int? {
        guard let family = try? family() else { return nil }
        switch family {
        case .gpt2: return nil
        case .llada: return optionalInt("mask_token_id") ?? LLaDAFamily.lladaMaskId
        case .dream, .mdlm, .bd3lm: return optionalInt("mask_token_id")
        case .sdar: return optionalInt("mask_token_id") ?? QwenBody.addedTokenId("<|MASK|>", directory: directory)
        case .fastDLLMv2: return optionalInt("mask_token_id") ?? QwenBody.addedTokenId(FastDLLMv2Family.maskToken, directory: directory)
        case .a2dQwen3: return optionalInt("mask_token_id") ?? QwenBody.addedTokenId(A2DQwen3Family.maskToken, directory: directory)
        }
    }

    /// The end-of-text id the config names (`eos_token_id`, a number), or nil.
    public var declaredEndOfTextId: Int? { optionalInt("eos_token_id") }

    // MARK: Typed accessors

    /// The raw value under `key`, for settings compared as JSON or nested objects.
    public subscript(key: String) -> JSONValue? { json[key] }

    public func int(_ key: String) throws -> Int {
        guard let v = optionalInt(key) else { throw error("missing or non-integer \"\(key)\"") }
        return v
    }

    public func double(_ key: String) throws -> Double {
        guard let v = optionalDouble(key) else { throw error("missing or non-numeric \"\(key)\"") }
        return v
    }

    public func string(_ key: String) throws -> String {
        guard let v = optionalString(key) else { throw error("missing or non-string \"\(key)\"") }
        return v
    }

    public func optionalInt(_ key: String) -> Int? { json[key]?.intValue }
    public func optionalDouble(_ key: String) -> Double? { json[key]?.doubleValue }
    public func optionalString(_ key: String) -> String? { json[key]?.stringValue }
    public func optionalBool(_ key: String) -> Bool? { json[key]?.boolValue }

    /// True when `key` is present with a value other than `null`.
    public func isSet(_ key: String) -> Bool { json[key].map { !$0.isNull } ?? false }

    /// A one-line error about this config: "PATH: message".
    public func error(_ message: String) -> UnmaskError { UnmaskError("\(path): \(message)") }
}
