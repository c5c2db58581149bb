import XCTest
@testable import UnmaskDiffusion

final class PhiloxTests: XCTestCase {
    /// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
    func testPhiloxKnownAnswers() {
        func hex(_ t: (UInt32, UInt32, UInt32, UInt32)) -> [UInt32] { [t.0, t.1, t.2, t.3] }
        XCTAssertEqual(hex(Philox.philox((0, 0, 0, 0), (0, 0))), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8])
        XCTAssertEqual(hex(Philox.philox((0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff))),
                       [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd])
        XCTAssertEqual(hex(Philox.philox((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0))),
                       [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1])
    }

    func testStreamsAreReproducibleAndDistinct() {
        var a = Philox(seed: 42, stream: 7), b = Philox(seed: 42, stream: 7), c = Philox(seed: 42, stream: 8)
        let xa = (0..<10).map { _ in a.next32() }, xb = (0..<10).map { _ in b.next32() }, xc = (0..<10).map { _ in c.next32() }
        XCTAssertEqual(xa, xb)
        XCTAssertNotEqual(xa, xc)
    }

    /// float64 uniforms lie strictly inside (0, 1), float32 ones in [0, 1); their mean over 10^6 draws is 1/2 within 5σ
    /// (σ = 1/√(12·10^6) ≈ 2.9e-4).
    func testUniformsAreInRangeAndCentred() {
        var r = Philox(seed: 1)
        var sum64 = 0.0, sum32 = 0.0
        let n = 1_000_000
        for _ in 0..<n {
            let u = r.uniform64(), f = r.uniform32()
            XCTAssertTrue(u > 0 && u < 1 && f >= 0 && f < 1)
            sum64 += u
            sum32 += Double(f)
        }
        XCTAssertEqual(sum64 / Double(n), 0.5, accuracy: 5 * 2.9e-4)
        XCTAssertEqual(sum32 / Double(n), 0.5, accuracy: 5 * 2.9e-4)
    }

    /// int(below:) is unbiased: chi-square over 7 cells, 7·10^5 draws, below mean + 5 sd.
    func testBoundedIntegersAreUniform() {
        var r = Philox(seed: 9)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<700_000 { counts[r.int(below: 7)] += 1 }
        let chi2 = counts.reduce(0.0) { $0 + pow(Double($1) - 100_000, 2) / 100_000 }
        XCTAssertLessThan(chi2, 6 + 5 * (12.0).squareRoot())
    }
}
