import UnmaskSupport

/// The chat formats `/v1/chat/completions` writes, recognised from a Hugging Face folder's
/// `tokenizer_config.json` (`chat_template`), or its `chat_template.jinja` when the config
/// has none (Fast-dLLM v2's folders). Hugging Face templates are Jinja programs; Unmask
/// does not run Jinja. It recognises the three its model families ship and writes them by
/// hand; any other template is refused with its first line, never guessed.
///
/// - `llada`: LLaDA-8B-Instruct's (Llama 3 headers): `bos` once, then per message
///   `<|start_header_id|>ROLE<|end_header_id|>\n\n` + content (trimmed) + `<|eot_id|>`,
///   then the assistant header. The answer ends at `<|eot_id|>` (or end of text).
/// - `chatml`: Dream-v0-Instruct's (Qwen's ChatML): a default system message
///   "You are a helpful assistant." when the first message is not one, then per message
///   `<|im_start|>ROLE\n` + content + `<|im_end|>\n`, then `<|im_start|>assistant\n`. The
///   answer ends at `<|im_end|>` (or end of text). Fast-dLLM v2's (Qwen2.5's, spelt with
///   `message.role`) writes the same text for a chat without tools.
/// - `qwen3`: Qwen3's (SDAR-Chat, TraDo-Instruct, the Qwen3 A2D checkpoints), with thinking
///   off, as the dLLM framework runs it: a system message only when one is given, per
///   message `<|im_start|>ROLE\n` + content + `<|im_end|>\n` (an earlier assistant answer
///   without its `<think>…</think>` part), then `<|im_start|>assistant\n<think>\n\n</think>\n\n`,
///   the empty reasoning block the template writes for `enable_thinking=false`.
public enum ChatTemplate: String, Sendable {
    case llada, chatml, qwen3

    /// Recognises a `chat_template` string by the markers each format cannot do without.
    public static func recognise(_ template: String) throws -> ChatTemplate {
        let llada = ["'<|start_header_id|>' + message['role'] + '<|end_header_id|>", "<|eot_id|>", "bos_token"]
        let qwen3 = ["'<|im_start|>' + message.role + '\\n'", "<|im_end|>", "enable_thinking", "<think>\\n\\n</think>\\n\\n"]
        let chatmlRole = ["'<|im_start|>' + message['role'] + '\\n'", "'<|im_start|>' + message.role + '\\n'"]
        if llada.allSatisfy({ template.contains($0) }) { return .llada }
        if qwen3.allSatisfy({ template.contains($0) }) { return .qwen3 }
        if chatmlRole.contains(where: { template.contains($0) }) && template.contains("<|im_end|>") && !template.contains("<think>") {
            return .chatml
        }
        let first = template.split(separator: "\n").first.map { String($0.prefix(80)) } ?? ""
        throw UnmaskError("unknown chat template \"\(first)…\": Unmask writes LLaDA-Instruct's, ChatML (Dream-Instruct, Fast-dLLM v2) and Qwen3's (SDAR, TraDo) formats only")
    }

    /// The folder's template, nil when `tokenizer_config.json` has none (a base model).
    public static func load(directory: String) throws -> ChatTemplate? {
        let path = directory + "/tokenizer_config.json", jinja = directory + "/chat_template.jinja"
        let config = Files.exists(path) ? try JSON.parse(try Files.read(path, limit: 16 << 20)) : JSONValue.null
        guard let t = config["chat_template"], !t.isNull else {
            guard Files.exists(jinja) else { return nil }
            return try recognise(String(decoding: try Files.read(try Files.insideFolder("chat_template.jinja", of: directory), limit: 16 << 20), as: UTF8.self))
        }
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
        case .qwen3:
            for m in messages {
                var content = m.content
                if m.role == "assistant", let end = content.range(of: "</think>", options: .backwards) {
                    content = String(content[end.upperBound...].drop(while: { $0 == "\n" }))
                }
                out += "<|im_start|>" + m.role + "\n" + content + "<|im_end|>\n"
            }
            out += "<|im_start|>assistant\n<think>\n\n</think>\n\n"
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
