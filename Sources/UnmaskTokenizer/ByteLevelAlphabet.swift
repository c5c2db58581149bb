// The byte-level alphabet of GPT-2 / Hugging Face `ByteLevel`: every byte 0...255 is
// shown as one printable Unicode scalar, so that vocabulary entries and merges can be
// stored as JSON strings. Printable Latin-1 bytes stand for themselves; the other 68
// bytes (controls, space, 0x7F-0xA0, 0xAD) are moved to U+0100 and up, in byte order.
// Hence a space shows as "Ġ" (U+0120) and a newline as "Ċ" (U+010A).
public enum ByteLevelAlphabet {
    /// byte -> scalar value
    public static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// scalar value (< 324) -> byte, or -1 for scalars outside the alphabet
    public static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for b in 0..<256 { table[Int(scalarForByte[b])] = Int16(b) }
        return table
    }()

    /// The alphabet form of a byte string, e.g. [0x20, 0x61] -> "Ġa".
    public static func encode<C: Sequence>(_ bytes: C) -> String where C.Element == UInt8 {
        var scalars = String.UnicodeScalarView()
        for b in bytes { scalars.append(Unicode.Scalar(scalarForByte[Int(b)])!) }
        return String(scalars)
    }

    /// The bytes behind an alphabet string; nil if a scalar is not in the alphabet.
    public static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        for s in text.unicodeScalars {
            let v = Int(s.value)
            guard v < byteForScalar.count, byteForScalar[v] >= 0 else { return nil }
            out.append(UInt8(byteForScalar[v]))
        }
        return out
    }
}
