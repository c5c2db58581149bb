import CUtf8proc

// The GPT-2 pre-tokeniser, the split that Hugging Face's `ByteLevel(use_regex: true)`
// applies before BPE. As a regular expression it is
//
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// We do not run a regex engine: the alternatives are tried in order by hand, over a
// per-character class (letter / number / whitespace / other) computed once per scalar.
// That keeps the split linear in the input and lets us control exactly which
// characters are "whitespace" and "letters":
//
//  * \p{L} = general categories Lu Ll Lt Lm Lo; \p{N} = Nd Nl No. Categories come from
//    utf8proc (not Foundation). Combining marks (Mn Mc Me) are neither: they are "other".
//  * \s = the Unicode White_Space property (what Oniguruma, the engine behind
//    `tokenizers`, uses): U+0009-000D, U+0020, U+0085, U+00A0, U+1680, U+2000-200A,
//    U+2028, U+2029, U+202F, U+205F, U+3000. Zero-width space U+200B and BOM U+FEFF are
//    not whitespace (category Cf).
//  * The optional leading space in ` ?\p{L}+` etc. is U+0020 only.
//  * `\s+(?!\S)` takes a whitespace run but leaves its last character to start the next
//    piece when a non-space follows (so "a   b" -> "a", "  ", " b"); a lone whitespace
//    character before a non-space falls through to `\s+`.
//  * Contractions are case-sensitive and use the ASCII apostrophe only, as in GPT-2.
//  * Bytes that are not valid UTF-8 (only reachable through `encodeRawBytes`) are each a
//    one-byte character of class "other".

enum CharClass: UInt8 {
    case letter, number, space, other
}

/// Which split runs before BPE: GPT-2's (`ByteLevel(use_regex: true)`), or the `Split`
/// pre-tokenizer of the Qwen2 family (Dream's tokenizer) or of Llama-3, recognised by
/// their exact published patterns:
///
///   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// (Llama-3: \p{N}{1,3} for \p{N}). Same character classes as GPT-2's split below.
public enum SplitRule: String, Sendable, CaseIterable {
    case gpt2, qwen2, llama3

    /// The regular expression in a tokenizer.json `Split` pre-tokenizer, for the two
    /// families that use one.
    public var pattern: String? {
        switch self {
        case .gpt2: return nil
        case .qwen2: return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        case .llama3: return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        }
    }
}

enum PreTokenizer {
    /// Classes of ASCII characters, by byte.
    static let asciiClass: [CharClass] = (0..<128).map { b -> CharClass in
        switch b {
        case 0x09...0x0D, 0x20: return .space
        case 0x30...0x39: return .number
        case 0x41...0x5A, 0x61...0x7A: return .letter
        default: return .other
        }
    }

    @inline(__always)
    static func classify(_ scalar: UInt32) -> CharClass {
        if scalar < 128 { return asciiClass[Int(scalar)] }
        switch scalar {
        case 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return .space
        default: break
        }
        switch utf8proc_category(Int32(bitPattern: scalar)) {
        case UTF8PROC_CATEGORY_LU, UTF8PROC_CATEGORY_LL, UTF8PROC_CATEGORY_LT,
             UTF8PROC_CATEGORY_LM, UTF8PROC_CATEGORY_LO:
            return .letter
        case UTF8PROC_CATEGORY_ND, UTF8PROC_CATEGORY_NL, UTF8PROC_CATEGORY_NO:
            return .number
        default:
            return .other
        }
    }

    /// Calls `emit(start, end)` with the byte range of each piece, in order. The pieces
    /// tile the input exactly: every byte belongs to one piece.
    static func split(_ bytes: UnsafeBufferPointer<UInt8>, rule: SplitRule = .gpt2, _ emit: (Int, Int) -> Void) {
        let n = bytes.count
        if n == 0 { return }
        // Per character: its first byte offset and its class. offsets[count] == n.
        var offsets = [Int32]()
        var classes = [CharClass]()
        offsets.reserveCapacity(n + 1)
        classes.reserveCapacity(n)
        var i = 0
        while i < n {
            let b = bytes[i]
            offsets.append(Int32(i))
            if b < 0x80 {
                classes.append(asciiClass[Int(b)])
                i += 1
                continue
            }
            let len = UTF8Scan.sequenceLength(bytes, at: i)
            if len == 0 {
                classes.append(.other)
                i += 1
            } else {
                classes.append(classify(UTF8Scan.scalar(bytes, at: i, length: len)))
                i += len
            }
        }
        offsets.append(Int32(n))
        let count = classes.count

        offsets.withUnsafeBufferPointer { off in
        classes.withUnsafeBufferPointer { cls in
            @inline(__always) func byteAt(_ c: Int) -> UInt8 { bytes[Int(off[c])] }
            @inline(__always) func isSpaceChar(_ c: Int) -> Bool { c < count && byteAt(c) == 0x20 }
            @inline(__always) func runEnd(_ c: Int, _ k: CharClass) -> Int {
                var e = c
                while e < count && cls[e] == k { e += 1 }
                return e
            }
            var c = 0
            if rule != .gpt2 {
                // The Qwen2 / Llama-3 alternatives, tried in their order at each start.
                @inline(__always) func isLineBreak(_ c: Int) -> Bool { c < count && (byteAt(c) == 0x0A || byteAt(c) == 0x0D) }
                let maxDigits = rule == .qwen2 ? 1 : 3
                while c < count {
                    var end: Int
                    let k = cls[c]
                    if byteAt(c) == 0x27, let len = contractionLength(at: c, count: count, byteAt: byteAt, ignoringCase: true) {
                        end = c + len                                   // (?i:'s|'t|…)
                    } else if k != .letter, k != .number, !isLineBreak(c), c + 1 < count, cls[c + 1] == .letter {
                        end = runEnd(c + 1, .letter)                    // [^\r\n\p{L}\p{N}]\p{L}+
                    } else if k == .letter {
                        end = runEnd(c, .letter)                        // \p{L}+
                    } else if k == .number {
                        end = min(runEnd(c, .number), c + maxDigits)    // \p{N} or \p{N}{1,3}
                    } else if k == .other || (isSpaceChar(c) && c + 1 < count && cls[c + 1] == .other) {
                        end = runEnd(k == .other ? c : c + 1, .other)   // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
                        while isLineBreak(end) { end += 1 }
                    } else {
                        let e = runEnd(c, .space)
                        var lastBreak = -1
                        for j in c..<e where isLineBreak(j) { lastBreak = j }
                        if lastBreak >= 0 {
                            end = lastBreak + 1                         // \s*[\r\n]+
                        } else if e == count || e - c == 1 {
                            end = e                                     // \s+(?!\S) at the end, or \s+
                        } else {
                            end = e - 1                                 // \s+(?!\S)
                        }
                    }
                    emit(Int(off[c]), Int(off[end]))
                    c = end
                }
                return
            }
            while c < count {
                var end: Int
                let k = cls[c]
                if byteAt(c) == 0x27, let len = contractionLength(at: c, count: count, byteAt: byteAt) {
                    end = c + len
                } else if isSpaceChar(c), c + 1 < count, cls[c + 1] != .space {
                    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+` with the optional space
                    end = runEnd(c + 1, cls[c + 1])
                } else if k != .space {
                    end = runEnd(c, k)
                } else {
                    let e = runEnd(c, .space)
                    if e == count {
                        end = e  // `\s+(?!\S)` at the end of the text
                    } else if e - c >= 2 {
                        end = e - 1  // `\s+(?!\S)`, leaving the last space for the next piece
                    } else {
                        end = e  // `\s+`: a single whitespace character before a non-space
                    }
                }
                emit(Int(off[c]), Int(off[end]))
                c = end
            }
        }
        }
    }

    /// 's 't 're 've 'm 'll 'd (ASCII apostrophe at `c`; lowercase, or either case when
    /// `ignoringCase`): the match length in characters.
    @inline(__always)
    static func contractionLength(at c: Int, count: Int, byteAt: (Int) -> UInt8, ignoringCase: Bool = false) -> Int? {
        guard c + 1 < count else { return nil }
        @inline(__always) func letter(_ i: Int) -> UInt8 {
            let b = byteAt(i)
            return ignoringCase && b >= 0x41 && b <= 0x5A ? b | 0x20 : b
        }
        switch letter(c + 1) {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
            return 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"):
            return c + 2 < count && letter(c + 2) == UInt8(ascii: "e") ? 3 : nil
        case UInt8(ascii: "l"):
            return c + 2 < count && letter(c + 2) == UInt8(ascii: "l") ? 3 : nil
        default:
            return nil
        }
    }
}
