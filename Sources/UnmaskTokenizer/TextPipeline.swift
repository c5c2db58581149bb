import UnmaskSupport

/// How every command reads text: the one pipeline that training, `eval --text`, the
/// `compare` reference row and the tokenizer trainer share, so a file means the same
/// tokens everywhere.
///
///     read (a regular file or a pipe, at most 1 GiB) → check UTF-8 (the error names the
///     offset of the first bad byte) → re-flow the hard-wrapped lines of each paragraph →
///     NFC-normalise and encode (`Tokenizer.encode(utf8:)`)
public enum TextPipeline {
    /// The file's bytes, checked to be UTF-8.
    public static func readUTF8(_ path: String) throws -> [UInt8] {
        let raw = try Files.read(path)
        if let bad = raw.withUnsafeBufferPointer({ TextNormalization.firstInvalidUTF8Offset($0) }) {
            throw UnmaskError("\(path) is not valid UTF-8 (first bad byte at offset \(bad))")
        }
        return raw
    }

    /// The file's tokens after the whole pipeline, and its size in bytes (for nats/byte).
    public static func tokens(ofFile path: String, tokenizer: Tokenizer) throws -> (tokens: [Int], bytes: Int) {
        let raw = try readUTF8(path)
        return (try tokenizer.encode(utf8: Reflow.paragraphs(raw)), raw.count)
    }
}
