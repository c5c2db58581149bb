import XCTest
@testable import UnmaskKernels
import UnmaskSupport

/// n standard normal values (Box–Muller on SplitMix64): the reduced-precision paths' test data.
func gaussianValues(_ n: Int, seed: UInt64) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<n).map { _ in
        let u1 = max(rng.nextDouble(), 1e-300), u2 = rng.nextDouble()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
    }
}

/// The int8 path (Sources/CInt8GEMM behind Int8GEMM.linear): bit-identical to its scalar
/// reference on any thread count, and within int8's error of the fp32 product.
final class Int8GEMMTests: XCTestCase {
    func gaussian(_ n: Int, seed: UInt64) -> [Float] { gaussianValues(n, seed: seed) }

    func testMatchesReferenceAndFP32() throws {
        try XCTSkipUnless(Int8GEMM.available, "no AVX-512 VNNI on this CPU: the int8 path is refused there (tested in the CLI)")
        // Shapes with tails everywhere: rows not a multiple of the 8-row tile, k not a
        // multiple of 4, n not a multiple of 16; the model's shapes; a tied (transposed) weight.
        for (m, k, n, transposed) in [(1, 5, 3, false), (13, 37, 45, false), (128, 256, 768, false), (130, 1024, 256, false),
                                      (9, 64, 100, true)] {
            let a = gaussian(m * k, seed: 1), w = gaussian(k * n, seed: 2)
            try w.withUnsafeBufferPointer { wb in
                let weight = Weight(rows: k, cols: n, raw: wb.baseAddress!, transposed: transposed)
                weight.prepareInt8()
                let q = try XCTUnwrap(weight.int8)
                var reference = [Float](repeating: 0.5, count: m * n)
                Int8GEMM.referenceLinear(m: m, a: a, lda: k, weight: q, c: &reference, ldc: n, accumulate: true)
                for threads in [1, 2] {
                    var c = [Float](repeating: 0.5, count: m * n)
                    MatMul(threads: threads, compute: .int8).linear(m: m, a: a, lda: k, weight: weight, c: &c, ldc: n, accumulate: true)
                    XCTAssertEqual(c.map(\.bitPattern), reference.map(\.bitPattern), "\(m)x\(k)x\(n) threads \(threads)")
                }
                // Against fp32: per-row and per-column int8 rounding gives ~1% relative error
                // on Gaussian data (rms); 3% bounds the worst element over the largest |C|.
                var exact = [Float](repeating: 0.5, count: m * n)
                MatMul().linear(m: m, a: a, lda: k, weight: weight, c: &exact, ldc: n, accumulate: true)
                let scale = exact.map { abs($0 - 0.5) }.max()!
                let worst = zip(reference, exact).map { abs($0 - $1) }.max()!
                print("int8 \(m)x\(k)x\(n)\(transposed ? " transposed" : ""): max diff vs fp32 \(worst) (largest |C| \(scale))")
                XCTAssertLessThan(worst / scale, 0.03)
            }
        }
    }

    func testUnavailableIsExplained() {
        XCTAssertNil(Compute.fp32.unavailableReason(backend: .openblas))
        XCTAssertEqual(Compute.int8.unavailableReason(backend: .openblas)?.message(spelling: SettingError.commandLine), "--compute int8 runs on our kernels only (not --backend openblas)")
        XCTAssertEqual(Compute.int8.unavailableReason(backend: .unmask) == nil, Int8GEMM.available)
    }
}

/// Weights stored in BF16 (a published checkpoint's): packed from their storage a block at
/// a time — BF16 panels that the AVX-512 kernel widens in registers, F32 panels under the
/// SIMD8 kernel, int8 panels — and, in parts, (out, in) like q, k and v. Every product must
/// equal bit for bit the same product by an F32 weight of the widened values (widening
/// BF16 is exact, and the sums run in the same order), for any row count (the few-rows
/// path included), thread count and layout.
final class StoredWeightTests: XCTestCase {
    func testBF16StorageMultipliesLikeItsF32Widening() throws {
        var rng = SplitMix64(seed: 9)
        func bf16Values(_ n: Int) -> [UInt16] { (0..<n).map { _ in HalfPrecision.bf16(Float(rng.nextDouble() * 2 - 1))! } }
        for (m, k, n) in [(1, 7, 33), (3, 600, 70), (13, 64, 100), (40, 530, 97)] {
            let a = (0..<(m * k)).map { _ in Float(rng.nextDouble() * 2 - 1) }
            let halves = bf16Values(k * n)
            let widened = halves.map { HalfPrecision.float(fromBF16: $0) }
            // (out, in) in two parts of n1 and n − n1 outputs, as q and k; and (in, out) whole.
            let n1 = n / 3
            try halves.withUnsafeBytes { h in
                widened.withUnsafeBufferPointer { w in
                    let stored: [(String, WeightStorage, WeightStorage)] = [
                        ("(in, out)", .inOut(StoredMatrix(base: h.baseAddress!, element: .bf16, rows: k, cols: n, mapped: false)),
                         .inOut(StoredMatrix(f32: w.baseAddress!, rows: k, cols: n))),
                        ("(out, in) in parts", .outIn([StoredMatrix(base: h.baseAddress!, element: .bf16, rows: n1, cols: k, mapped: false),
                                                       StoredMatrix(base: h.baseAddress! + 2 * n1 * k, element: .bf16, rows: n - n1, cols: k,
                                                                    mapped: false)]),
                         .outIn([StoredMatrix(f32: w.baseAddress!, rows: n, cols: k)])),
                    ]
                    for (layout, bf16, f32) in stored {
                        let fromBF16 = Weight(rows: k, cols: n, storage: bf16), fromF32 = Weight(rows: k, cols: n, storage: f32)
                        XCTAssertEqual(fromBF16.halfPanels, MicroKernel.selected == .avx512)
                        var computes: [Compute] = [.fp32]
                        if Int8GEMM.available { computes.append(.int8) }
                        for compute in computes {
                            if compute == .int8 { fromBF16.prepareInt8(); fromF32.prepareInt8() }
                            for threads in [1, 2] {
                                var c1 = [Float](repeating: 0.25, count: m * n), c2 = c1
                                let mm = MatMul(threads: threads, compute: compute)
                                mm.linear(m: m, a: a, lda: k, weight: fromBF16, c: &c1, ldc: n, accumulate: true)
                                mm.linear(m: m, a: a, lda: k, weight: fromF32, c: &c2, ldc: n, accumulate: true)
                                XCTAssertEqual(c1.map(\.bitPattern), c2.map(\.bitPattern), "\(m)x\(k)x\(n) \(layout) \(compute) threads \(threads)")
                            }
                        }
                    }
                }
            }
        }
    }
}
