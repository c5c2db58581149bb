import UnmaskSupport

/// The chat formats `/v1/chat/completions` writes, recognised from a Hugging Face folder's
/// `tokenizer_config.json` (`chat_template`). Hugging Face templates are Jinja programs;
/// Unmask does not run Jinja. It recognises the two its model families ship and writes
/// them by hand; any other template is refused with its first line, never guessed.
///
/// - `llada`: LLaDA-8B-Instruct's (Llama 3 headers): `bos` once, then per message
///   `<|start_header_id|>ROLE<|end_header_id|>\n\n` + content (trimmed) + `<|eot_id|>`,
///   then the assistant header. The answer ends at `<|eot_id|>` (or end of text).
/// - `chatml`: Dream-v0-Instruct's (Qwen's ChatML): a default system message
///   "You are a helpful assistant." when the first message is not one, then per message
///   `<|im_start|>ROLE\n` + content + `<|im_end|>\n`, then `<|im_start|>assistant\n`. The
///   answer ends at `<|im_end|>` (or end of text).
public enum ChatTemplate: String, Sendable {
    case llada, chatml

    /// Recognises a `chat_template` string by the markers each format cannot do without.
    public static func recognise(_ template: String) throws -> ChatTemplate {
        let llada = ["'<|start_header_id|>' + message['role'] + '<|end_header_id|>", "<|eot_id|>", "bos_token"]
        let chatml = ["'<|im_start|>' + message['role'] + '\\n'", "<|im_end|>"]
        if llada.allSatisfy({ template.contains($0) }) { return .llada }
        if chatml.allSatisfy({ template.contains($0) }) { return .chatml }
        let first = template.split(separator: "\n").first.map { String($0.prefix(80)) } ?? ""
        throw UnmaskError("unknown chat template \"\(first)…\": Unmask writes LLaDA-Instruct's and Dream-Instruct's formats only")
    }

    /// The folder's template, nil when `tokenizer_config.json` has none (a base model).
    public static func load(directory: String) throws -> ChatTemplate? {
        let path = directory + "/tokenizer_config.json"
        guard Files.exists(path) else { return nil }
        let config = try JSON.parse(try Files.read(path, limit: 16 << 20))
        guard let t = config["chat_template"], !t.isNull else { return nil }
        if let s = t.stringValue { return try recognise(s) }
        // A list of named templates: the one named "default".
        if let list = t.arrayValue {
            for item in list where item["name"]?.stringValue == "default" {
                if let s = item["template"]?.stringValue { return try recognise(s) }
            }
            throw UnmaskError("\(path): chat_template is a list without a \"default\" template")
        }
        throw UnmaskError("\(path): chat_template must be a string or a list of named templates")
    }

    /// The prompt text for `messages`, ending where the assistant's answer begins.
    /// `bos`: the tokenizer's beginning-of-text token's text.
    public func render(_ messages: [GenerationRequest.Message], bos: String) -> String {
        var out = ""
        switch self {
        case .llada:
            out += bos
            for m in messages {
                out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + Self.trimmed(m.content) + "<|eot_id|>"
            }
            out += "<|start_header_id|>assistant<|end_header_id|>\n\n"
        case .chatml:
            if messages.first?.role != "system" { out += "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" }
            for m in messages { out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n" }
            out += "<|im_start|>assistant\n"
        }
        return out
    }

    /// The token text that ends an answer in this format.
    public var endOfTurn: String { self == .llada ? "<|eot_id|>" : "<|im_end|>" }

    /// Jinja's `trim`: whitespace off both ends.
    static func trimmed(_ s: String) -> String {
        let scalars = Array(s.unicodeScalars)
        var a = 0, b = scalars.count
        while a < b && scalars[a].properties.isWhitespace { a += 1 }
        while b > a && scalars[b - 1].properties.isWhitespace { b -= 1 }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[a..<b])
        return String(out)
    }
}
