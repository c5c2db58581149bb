// One error type for everything a user can cause: bad files, bad numbers, bad text.
// The CLI prints `error: <message>` on one line and exits with status 1, so every
// message names the thing (file, option, token) and the problem.
public struct UnmaskError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A setting a user gives, named once for every front end. Each front end spells it its own
/// way (`--window` on the command line, `unmask.window` on the server's OpenAI routes), so
/// the library's messages name settings, never flags.
public enum Setting: String, Sendable, CaseIterable {
    // What is generated, and where.
    case prompt, promptIds = "prompt_ids", suffix, template, length
    // The sampler, and the typed keys that override its spec.
    case sampler, steps, tokensPerCall = "tokens_per_call", threshold, temperature, topP = "top_p", topK = "top_k", precision
    // Steering.
    case steer, reward, className = "class", classifier, rewardTimeout = "reward_timeout"
    // Past the context, and the key-value caches.
    case window, cache, pastContext = "past_context"
    // The models and the arithmetic.
    case model, evaluator, corruptionDetector = "corruption_detector", vocab, compute, backend, threads
    // Training, conversion and tokenizer training.
    case out, initFrom = "init", resume, force, labels, dropout, lr, batch, blockSize = "block_size", vocabSize = "vocab_size"
}

/// An error caused by the value of a setting. Its text names settings as `⟨window⟩`
/// markers, which `message(spelling:)` replaces by each front end's spelling; `description`
/// uses the plain names (`window`). `code`: a machine-readable reason where a front end
/// reports one (the server's `context_length_exceeded`).
public struct SettingError: Error, CustomStringConvertible, Equatable, Sendable {
    public let setting: Setting
    public let text: String
    public let code: String?

    public init(_ setting: Setting, _ text: String, code: String? = nil) {
        self.setting = setting
        self.text = text
        self.code = code
    }

    /// The message with every `⟨name⟩` marker spelled by `spelling`.
    public func message(spelling: (Setting) -> String) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "⟨"), let close = rest[open...].firstIndex(of: "⟩") {
            out += rest[..<open]
            let name = String(rest[rest.index(after: open)..<close])
            out += Setting(rawValue: name).map(spelling) ?? name
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    public var description: String { message { $0.rawValue } }

    /// The command line's spelling: `--window`, `--past-context`, `--class`; the prompt is an argument.
    public static func commandLine(_ s: Setting) -> String {
        switch s {
        case .prompt: return "the prompt"
        case .promptIds: return "the prompt's ids"
        default: return "--" + String(s.rawValue.map { $0 == "_" ? "-" : $0 })
        }
    }
}
