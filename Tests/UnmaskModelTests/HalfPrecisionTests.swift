import XCTest
@testable import UnmaskModel
import UnmaskSupport

/// F16/BF16 storage: the conversions against hand-checked bit patterns and against the
/// platform's own Float16, and a model written in F16 loading with its weights rounded.
final class HalfPrecisionTests: XCTestCase {
    /// Bit patterns worked out by hand from the IEEE 754 binary16 layout.
    func testKnownF16Patterns() {
        let cases: [(Float, UInt16)] = [
            (1, 0x3C00), (-2, 0xC000), (0, 0x0000), (-0.0, 0x8000), (65504, 0x7BFF),
            (0.1, 0x2E66),                     // 0.0999755859375
            (0x1p-14, 0x0400),                 // smallest normal
            (0x1p-24, 0x0001),                 // smallest subnormal
            (0x1p-25, 0x0000),                 // halfway to 2^-24: ties to even (0)
            (0x1.8p-25, 0x0001),               // 0.75 · 2^-24 rounds up
            (1 + 0x1p-11, 0x3C00),             // tie between 1 and 1 + 2^-10: even wins
            (1 + 0x1.8p-10, 0x3C02),           // tie between 1 + 2^-10 and 1 + 2^-9: even wins
            (0x1.ffcp-15, 0x0400),             // the largest subnormal's upper tie rounds to the smallest normal
        ]
        for (x, bits) in cases {
            XCTAssertEqual(HalfPrecision.f16(x), bits, "\(x)")
        }
        XCTAssertNil(HalfPrecision.f16(65520))  // rounds to 65536: out of range
        XCTAssertNil(HalfPrecision.f16(.infinity))
        XCTAssertNil(HalfPrecision.f16(.nan))
        XCTAssertEqual(HalfPrecision.float(fromF16: 0x3555), 0.333251953125)
        XCTAssertEqual(HalfPrecision.float(fromF16: 0x0001), 0x1p-24)
        XCTAssertEqual(HalfPrecision.float(fromF16: 0x7C00), .infinity)
        XCTAssertTrue(HalfPrecision.float(fromF16: 0x7E00).isNaN)
    }

    func testKnownBF16Patterns() {
        XCTAssertEqual(HalfPrecision.bf16(1), 0x3F80)
        XCTAssertEqual(HalfPrecision.bf16(1 + 0x1p-8), 0x3F80)       // tie: even wins
        XCTAssertEqual(HalfPrecision.bf16(1 + 0x1.8p-7), 0x3F82)     // tie: even wins
        XCTAssertEqual(HalfPrecision.bf16(-3), 0xC040)
        XCTAssertNil(HalfPrecision.bf16(.greatestFiniteMagnitude))   // rounds to infinity
        XCTAssertEqual(HalfPrecision.float(fromBF16: 0x3FC0), 1.5)
    }

    /// Every finite F16 survives decode then encode, and encoding agrees with the
    /// platform's Float16 on 10^5 random values spread over the whole F16 range.
    func testAgainstPlatformFloat16() {
        for h in 0...UInt16.max where (h & 0x7C00) != 0x7C00 {
            XCTAssertEqual(HalfPrecision.f16(HalfPrecision.float(fromF16: h)), h)
        }
        var rng = SplitMix64(seed: 3)
        for _ in 0..<100_000 {
            let x = Float(sign: rng.next() & 1 == 0 ? .plus : .minus, exponent: Int(rng.next() % 42) - 26,
                          significand: 1 + Float(rng.nextDouble()))
            let expected = Float16(x)
            guard expected.isFinite else { continue }
            XCTAssertEqual(HalfPrecision.f16(x), expected.bitPattern, "\(x)")
        }
    }

    /// A model saved in F16 loads, its weights are the rounded F32 ones, and its logits
    /// stay within 1e-2 of the F32 model's (F16 keeps 11 significant bits: ~5e-4 relative
    /// per weight; the max logit difference measured here is printed).
    func testF16ModelLoadsRounded() throws {
        let (c, p) = try TransformerTests.randomModel()
        let dir = NSTemporaryDirectory() + "unmask-f16-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try p.save(directory: dir + "/f32")
        try p.save(directory: dir + "/f16", dtype: .f16)
        let f32File = try SafetensorsFile(path: dir + "/f32/model.safetensors")
        let f16File = try SafetensorsFile(path: dir + "/f16/model.safetensors")
        XCTAssertTrue(f16File.tensors.allSatisfy { $0.dtype == "F16" })
        XCTAssertLessThan(f16File.fileSize, f32File.fileSize / 2 + 4096)
        let embed = try f16File.float32("embed.weight", shape: [c.vocabSize, c.dModel])
        for i in 0..<(c.vocabSize * c.dModel) {
            XCTAssertEqual(embed[i], HalfPrecision.float(fromF16: HalfPrecision.f16(p.data[i])!))
        }
        let ids = (0..<c.contextLength).map { ($0 * 37) % (c.vocabSize - 1) }
        let a = try Transformer.load(directory: dir + "/f32").forward(ids: ids, batch: 1, length: c.contextLength)
        let b = try Transformer.load(directory: dir + "/f16").forward(ids: ids, batch: 1, length: c.contextLength)
        let scale = a.map(abs).max()!
        let maxDiff = zip(a, b).map { abs($0 - $1) }.max()!
        print("F16 model: max logit difference \(maxDiff) (largest logit \(scale))")
        XCTAssertLessThan(maxDiff, 1e-2 * scale)
        XCTAssertGreaterThan(maxDiff, 0)  // the rounding really happened
    }
}
