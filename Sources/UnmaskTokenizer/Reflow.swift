/// Undoes hard wrapping: Project Gutenberg texts break lines at about 70 columns, which
/// would teach a model (and a tokenizer) that words are often preceded by a newline.
///
/// Rule: a paragraph is a maximal run of non-blank lines (a blank line holds only spaces
/// or tabs). Its lines are trimmed and joined with one space; paragraphs are joined with
/// one "\n". "\r\n" counts as a line break. The result has no blank lines.
public enum Reflow {
    public static func paragraphs(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var paragraphOpen = false   // a paragraph has content in `out`
        var pendingSeparator: UInt8? = nil
        var lineStart = 0
        func flushLine(_ end: Int) {
            var s = lineStart, e = end
            while s < e, text[s] == 0x20 || text[s] == 0x09 || text[s] == 0x0D { s += 1 }
            while e > s, text[e - 1] == 0x20 || text[e - 1] == 0x09 || text[e - 1] == 0x0D { e -= 1 }
            if s == e {
                // Blank line: ends the current paragraph.
                if paragraphOpen { pendingSeparator = 0x0A }
                paragraphOpen = false
                return
            }
            if let sep = pendingSeparator, !out.isEmpty { out.append(sep) }
            out.append(contentsOf: text[s..<e])
            paragraphOpen = true
            pendingSeparator = 0x20
        }
        for i in 0..<text.count where text[i] == 0x0A {
            flushLine(i)
            lineStart = i + 1
        }
        flushLine(text.count)
        return out
    }
}
