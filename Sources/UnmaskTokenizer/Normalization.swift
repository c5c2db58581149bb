#if canImport(Glibc)
import Glibc
#endif
import CUtf8proc
import UnmaskSupport

// Unicode normalisation and UTF-8 validation.
//
// Text is NFC-normalised before encoding (as the Hugging Face `NFC` normalizer does), so
// "é" typed as e + U+0301 and as U+00E9 encode identically. utf8proc does the work:
// `utf8proc_map` with an explicit length (embedded NULs are text too, not terminators)
// and STABLE|COMPOSE, which is NFC. It allocates the result; we copy and free it.

public enum TextNormalization {
    /// NFC of valid UTF-8. Throws on invalid UTF-8, naming the offset of the first bad byte.
    public static func nfc(_ bytes: [UInt8]) throws -> [UInt8] {
        try bytes.withUnsafeBufferPointer { try nfc($0) }
    }

    public static func nfc(_ bytes: UnsafeBufferPointer<UInt8>) throws -> [UInt8] {
        // ASCII is NFC already and is most of what we see: skip the copy through utf8proc.
        if isASCII(bytes) { return Array(bytes) }
        if let bad = firstInvalidUTF8Offset(bytes) {
            throw UnmaskError("input is not valid UTF-8 (byte 0x\(String(bytes[bad], radix: 16, uppercase: true)) at offset \(bad))")
        }
        var dst: UnsafeMutablePointer<utf8proc_uint8_t>? = nil
        let options = utf8proc_option_t(rawValue: UTF8PROC_STABLE.rawValue | UTF8PROC_COMPOSE.rawValue)
        let n = utf8proc_map(bytes.baseAddress, bytes.count, &dst, options)
        defer { free(dst) }
        guard n >= 0, let dst else {
            let reason = String(cString: utf8proc_errmsg(n))
            throw UnmaskError("Unicode normalisation failed: \(reason)")
        }
        return Array(UnsafeBufferPointer(start: dst, count: n))
    }

    public static func nfc(_ text: String) -> String {
        let bytes = Array(text.utf8)
        // A Swift String is always valid UTF-8, so this cannot throw.
        let normalized = (try? nfc(bytes)) ?? bytes
        return String(decoding: normalized, as: UTF8.self)
    }

    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var acc: UInt8 = 0
        for b in bytes { acc |= b }
        return acc < 0x80
    }

    /// Offset of the first byte that does not begin a valid UTF-8 sequence, or nil.
    /// Rejects overlong forms, surrogates and scalars past U+10FFFF, as utf8proc does.
    public static func firstInvalidUTF8Offset(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = 0
        while i < bytes.count {
            let len = UTF8Scan.sequenceLength(bytes, at: i)
            if len == 0 { return i }
            i += len
        }
        return nil
    }
}

/// Minimal UTF-8 decoding over a byte buffer, shared by validation and pre-tokenisation.
enum UTF8Scan {
    /// Length of the valid UTF-8 sequence starting at `i`, or 0 if it is invalid.
    @inline(__always)
    static func sequenceLength(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let c0 = b[i]
        if c0 < 0x80 { return 1 }
        let n = b.count
        @inline(__always) func cont(_ j: Int) -> Bool { j < n && (b[j] & 0xC0) == 0x80 }
        switch c0 {
        case 0xC2...0xDF:
            return cont(i + 1) ? 2 : 0
        case 0xE0...0xEF:
            guard cont(i + 1), cont(i + 2) else { return 0 }
            let c1 = b[i + 1]
            if c0 == 0xE0 && c1 < 0xA0 { return 0 }  // overlong
            if c0 == 0xED && c1 >= 0xA0 { return 0 }  // surrogates
            return 3
        case 0xF0...0xF4:
            guard cont(i + 1), cont(i + 2), cont(i + 3) else { return 0 }
            let c1 = b[i + 1]
            if c0 == 0xF0 && c1 < 0x90 { return 0 }  // overlong
            if c0 == 0xF4 && c1 >= 0x90 { return 0 }  // > U+10FFFF
            return 4
        default:
            return 0
        }
    }

    /// Scalar value of a sequence already known to be valid, of length `len`.
    @inline(__always)
    static func scalar(_ b: UnsafeBufferPointer<UInt8>, at i: Int, length len: Int) -> UInt32 {
        switch len {
        case 1: return UInt32(b[i])
        case 2: return UInt32(b[i] & 0x1F) << 6 | UInt32(b[i + 1] & 0x3F)
        case 3: return UInt32(b[i] & 0x0F) << 12 | UInt32(b[i + 1] & 0x3F) << 6 | UInt32(b[i + 2] & 0x3F)
        default:
            return UInt32(b[i] & 0x07) << 18 | UInt32(b[i + 1] & 0x3F) << 12
                | UInt32(b[i + 2] & 0x3F) << 6 | UInt32(b[i + 3] & 0x3F)
        }
    }
}
