import UnmaskSupport

/// Infilling templates: fixed text with blanks, for `generate --template`.
///
///     ___        (three or more underscores) one token to generate
///     [___ x12]  twelve tokens to generate
///
/// Fixed text is encoded piece by piece and never changes. One exception: spaces just
/// before a blank go to the blank. In this byte-level vocabulary a word carries its leading
/// space (" extremely" is one token), so the model writes that space itself; keeping the
/// template's space as well printed two ("Emma  extremely").
public enum InfillTemplate {
    /// Blanks in one `[___ xN]` group at most: far more than any context.
    public static let maxGroup = 1 << 16

    /// The canvas: fixed-text ids, and `mask` at every blank.
    public static func parse(_ text: String, tokenizer: Tokenizer, mask: Int) throws -> [Int] {
        var ids: [Int] = []
        var blanks = 0
        var literal = ""
        let chars = Array(text)
        func flush(beforeBlank: Bool) {
            if beforeBlank {
                while literal.last == " " { literal.removeLast() }
            }
            if !literal.isEmpty { ids += tokenizer.encode(literal) }
            literal = ""
        }
        var i = 0
        while i < chars.count {
            if chars[i] == "[", let close = chars[i...].firstIndex(of: "]") {
                let inner = String(chars[(i + 1)..<close]).split(separator: " ")
                if inner.count == 2, inner[0].allSatisfy({ $0 == "_" }), inner[0].count >= 3, inner[1].first == "x" {
                    guard let n = Int(inner[1].dropFirst()), n >= 1, n <= maxGroup else {
                        throw UnmaskError("template: bad blank count in [\(inner.joined(separator: " "))] (1...\(maxGroup))")
                    }
                    flush(beforeBlank: true)
                    ids += [Int](repeating: mask, count: n)
                    blanks += n
                    i = close + 1
                    continue
                }
            }
            if chars[i] == "_" {
                var j = i
                while j < chars.count && chars[j] == "_" { j += 1 }
                if j - i >= 3 {
                    flush(beforeBlank: true)
                    ids.append(mask)
                    blanks += 1
                } else {
                    literal += String(chars[i..<j])
                }
                i = j
                continue
            }
            literal.append(chars[i])
            i += 1
        }
        flush(beforeBlank: false)
        guard blanks > 0 else { throw UnmaskError("template has no blank (write ___ for one token or [___ x12] for twelve)") }
        return ids
    }
}

/// The canvas `generate` fills: fixed ids, and the mask id at every position to generate.
public enum GenerationCanvas {
    /// The longest canvas `generate` makes (prompt + length, or a template): text past the
    /// context is generated in blocks, but not without bound.
    public static let maxTokens = 1 << 20

    /// A prompt followed by `length` masks. Past the model's context they are generated in
    /// blocks (`Generation`).
    public static func prompt(_ text: String?, length: Int, tokenizer: Tokenizer) throws -> [Int] {
        let p = text.map { tokenizer.encode($0) } ?? []
        // Compared without adding: `length` comes from the user and may be huge.
        guard length >= 0, p.count <= maxTokens, length <= maxTokens - p.count else {
            throw SettingError(.length, "⟨prompt⟩ (\(p.count) tokens) + ⟨length⟩ \(length) is over the limit of \(maxTokens) tokens", code: "context_length_exceeded")
        }
        guard p.count + length >= 1 else { throw SettingError(.length, "nothing to generate: ⟨length⟩ is 0 and there is no ⟨prompt⟩") }
        return p + [Int](repeating: tokenizer.maskId, count: length)
    }

    /// An infilling template (see `InfillTemplate`); past the context, generated in blocks.
    public static func template(_ text: String, tokenizer: Tokenizer) throws -> [Int] {
        let canvas = try InfillTemplate.parse(text, tokenizer: tokenizer, mask: tokenizer.maskId)
        guard canvas.count <= maxTokens else {
            throw UnmaskError("the template is \(canvas.count) tokens, over the limit of \(maxTokens)")
        }
        return canvas
    }
}
