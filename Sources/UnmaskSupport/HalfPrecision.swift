/// Binary16 and bfloat16 conversions, written out so that they do not depend on the
/// platform's Float16 support. F16: 1 sign, 5 exponent (bias 15), 10 fraction bits;
/// BF16: the top half of a Float.
public enum HalfPrecision {
    public static func float(fromF16 h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F), fraction = UInt32(h & 0x3FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | fraction << 13) }  // inf, nan
        if exponent == 0 {  // zero or subnormal: fraction · 2^-24, exact in Float
            let magnitude = Float(fraction) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | fraction << 13)
    }

    public static func float(fromBF16 h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// Nearest F16 (ties to even), or nil for a non-finite value or one that rounds past 65504.
    public static func f16(_ x: Float) -> UInt16? {
        guard x.isFinite else { return nil }
        let bits = x.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let a = abs(x)
        if a < 0x1p-14 {  // F16 subnormal range: a multiple of 2^-24, rounded to nearest even
            let q = (a * 0x1p24).rounded(.toNearestOrEven)  // exact scaling by a power of two
            return sign | UInt16(q)  // q = 1024 becomes the smallest normal, as it should
        }
        let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
        var mantissa = (bits & 0x7F_FFFF) | 0x80_0000  // 24 bits with the implicit one
        // Keep 11 bits: round the 13 dropped bits to nearest, ties to even.
        let dropped = mantissa & 0x1FFF, half: UInt32 = 0x1000
        mantissa >>= 13
        if dropped > half || (dropped == half && mantissa & 1 == 1) { mantissa += 1 }
        var e = exponent
        if mantissa == 0x800 { mantissa >>= 1; e += 1 }
        guard e < 0x1F else { return nil }
        return sign | UInt16(e) << 10 | UInt16(mantissa & 0x3FF)
    }

    /// Nearest BF16 (ties to even), or nil for a non-finite value or one that rounds to infinity.
    public static func bf16(_ x: Float) -> UInt16? {
        guard x.isFinite else { return nil }
        let bits = x.bitPattern
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        let h = UInt16(rounded >> 16)
        return (h & 0x7F80) == 0x7F80 ? nil : h
    }
}
