import XCTest
@testable import UnmaskKernels

final class VectorMathTests: XCTestCase {
    /// The vectorised exp against Double exp over [-87, 88]: relative error below 5e-7
    /// (a few float ulps; the polynomial's own truncation error is < 2e-8).
    func testExpAccuracy() {
        var xs: [Float] = stride(from: -87.0, through: 88.0, by: 0.0137).map { Float($0) }
        xs += [0, -0.0, 1e-30, -1e-30, 0.5, -0.5]
        var ys = xs
        VectorMath.exp(&ys, count: ys.count)
        var worst = 0.0
        for (x, y) in zip(xs, ys) {
            let e = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(y) - e) / e)
        }
        print("vector exp: worst relative error \(worst)")
        XCTAssertLessThan(worst, 5e-7)
        // Out of range inputs clamp to finite values instead of inf / 0 / NaN.
        var extremes: [Float] = [-1000, 1000, -.infinity]
        VectorMath.exp(&extremes, count: 3)
        XCTAssertTrue(extremes.allSatisfy { $0.isFinite })
    }

    func testActivationsMatchTheirDefinitions() {
        let xs: [Float] = stride(from: -12.0, through: 12.0, by: 0.01).map { Float($0) }
        var g = xs, s = xs
        VectorMath.gelu(&g, count: g.count)
        VectorMath.silu(&s, count: s.count)
        for (i, x) in xs.enumerated() {
            let d = Double(x)
            let gelu = 0.5 * d * (1 + tanh(0.7978845608028654 * (d + 0.044715 * d * d * d)))
            let silu = d / (1 + Foundation.exp(-d))
            XCTAssertEqual(Double(g[i]), gelu, accuracy: 1e-6 * max(1, abs(d)))
            XCTAssertEqual(Double(s[i]), silu, accuracy: 1e-6 * max(1, abs(d)))
        }
    }

    func testSoftmaxSumsToOneAndMasks() {
        var row: [Float] = [1000, 999, 0, -5, 7, 7]
        VectorMath.softmaxRow(&row, valid: 4, count: 6)
        XCTAssertEqual(Double(row[0..<4].reduce(0, +)), 1, accuracy: 1e-6)
        XCTAssertEqual(row[4], 0)
        XCTAssertEqual(Double(row[0] / row[1]), Foundation.exp(1.0), accuracy: 1e-4)
    }
}
