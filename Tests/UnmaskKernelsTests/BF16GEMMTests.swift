import XCTest
@testable import UnmaskKernels
import UnmaskSupport

/// The bf16 path (Sources/CBF16GEMM behind BF16GEMM.linear): the vdpbf16ps kernel
/// bit-identical to its scalar reference (the contract in bf16_gemm.h) on any shape and
/// thread count, the rounding identical to the contract's, and the product within BF16's
/// rounding of the fp32 one. On a CPU without AVX512_BF16 both sides are the reference,
/// and the tests say so.
final class BF16GEMMTests: XCTestCase {
    func gaussian(_ n: Int, seed: UInt64) -> [Float] { gaussianValues(n, seed: seed) }

    func testRoundingFollowsTheContract() {
        if !BF16GEMM.available { print("no AVX512_BF16: the kernel's rounding is the reference itself here") }
        // Hand-checked cases: ties to even, a subnormal to a zero of its sign, NaN quiet.
        XCTAssertEqual(BF16GEMM.round(1.0), 0x3F80)
        XCTAssertEqual(BF16GEMM.round(Float(bitPattern: 0x3F80_8000)), 0x3F80)  // tie, even stays
        XCTAssertEqual(BF16GEMM.round(Float(bitPattern: 0x3F81_8000)), 0x3F82)  // tie, odd rounds up
        XCTAssertEqual(BF16GEMM.round(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(BF16GEMM.round(Float(bitPattern: 0x8000_0001)), 0x8000)  // subnormal
        XCTAssertEqual(BF16GEMM.round(Float(bitPattern: 0x7F7F_FFFF)), 0x7F80)  // overflows to inf
        XCTAssertEqual(BF16GEMM.round(-.nan) | 0x8000, 0xFFC0)
        // The kernel's vector rounding against the reference on random bit patterns,
        // every exponent included (NaNs compared as NaN: only the payload may differ).
        var rng = SplitMix64(seed: 3)
        let m = 7, k = 1001
        let a = (0..<(m * k)).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        let fast = BF16GEMM.convertedRows(a, m: m, k: k, reference: false)
        let slow = BF16GEMM.convertedRows(a, m: m, k: k, reference: true)
        var mismatches = 0
        for (x, y) in zip(fast, slow) where x != y {
            let nan = { (h: UInt16) in h & 0x7F80 == 0x7F80 && h & 0x7F != 0 }
            if !(nan(x) && nan(y)) { mismatches += 1 }
        }
        XCTAssertEqual(mismatches, 0, "vector and reference rounding differ on \(mismatches) of \(fast.count)")
        XCTAssertEqual(fast[k], 0, "padding of an odd k is zero")
    }

    func testMatchesReferenceAndFP32() throws {
        if !BF16GEMM.available { print("no AVX512_BF16: comparing the reference with itself; only the fp32 bound tests something") }
        // Tails everywhere: rows not a multiple of the 8-row tile, odd k, n not a multiple of
        // 16, four panels (split 2 + 2); the model's shapes; a tied (transposed) weight.
        for (m, k, n, transposed) in [(1, 5, 3, false), (13, 37, 45, false), (9, 64, 64, false), (128, 256, 768, false),
                                      (130, 1024, 256, false), (9, 65, 100, true), (3, 4096, 48, false)] {
            let a = gaussian(m * k, seed: 1), w = gaussian(k * n, seed: 2)
            try w.withUnsafeBufferPointer { wb in
                let weight = Weight(rows: k, cols: n, raw: wb.baseAddress!, transposed: transposed)
                weight.prepareBF16()
                let h = try XCTUnwrap(weight.bf16)
                var reference = [Float](repeating: 0.5, count: m * n)
                BF16GEMM.referenceLinear(m: m, a: a, lda: k, weight: h, c: &reference, ldc: n, accumulate: true)
                for threads in [1, 2] {
                    var c = [Float](repeating: 0.5, count: m * n)
                    MatMul(threads: threads, compute: .bf16).linear(m: m, a: a, lda: k, weight: weight, c: &c, ldc: n, accumulate: true)
                    let differing = zip(c, reference).filter { $0.bitPattern != $1.bitPattern }.count
                    XCTAssertEqual(differing, 0, "\(m)x\(k)x\(n) threads \(threads): \(differing) elements differ from the reference")
                }
                // Rows do not depend on the rows beside them: row 0 alone gives row 0's bits.
                var single = [Float](repeating: 0.5, count: n)
                MatMul(compute: .bf16).linear(m: 1, a: a, lda: k, weight: weight, c: &single, ldc: n, accumulate: true)
                XCTAssertEqual(single.map(\.bitPattern), Array(reference[0..<n]).map(\.bitPattern))
                // Against fp32: each input rounded to 8 significant bits (relative error
                // ≤ 2^-9 each, independent across the k terms). Measured on these shapes:
                // the worst element 0.22–0.28 % of the largest |C|; 2 % bounds it.
                var exact = [Float](repeating: 0.5, count: m * n)
                MatMul().linear(m: m, a: a, lda: k, weight: weight, c: &exact, ldc: n, accumulate: true)
                let scale = exact.map { abs($0 - 0.5) }.max()!
                let worst = zip(reference, exact).map { abs($0 - $1) }.max()!
                print("bf16 \(m)x\(k)x\(n)\(transposed ? " transposed" : ""): max diff vs fp32 \(worst) (largest |C| \(scale))")
                XCTAssertLessThan(worst / scale, 0.02)
            }
        }
    }

    func testTinyValuesAreFlushedAsTheInstructionFlushesThem() throws {
        try XCTSkipUnless(BF16GEMM.available, "no AVX512_BF16: nothing to compare the reference with")
        // Products and sums near the bottom of the fp32 range, where vdpbf16ps flushes
        // subnormals: the reference must flush at the same places.
        var rng = SplitMix64(seed: 11)
        let m = 9, k = 40, n = 32
        let a = (0..<(m * k)).map { _ in Float(rng.nextDouble() * 2 - 1) * 3e-19 }
        let w = (0..<(k * n)).map { _ in Float(rng.nextDouble() * 2 - 1) * 3e-19 }
        try w.withUnsafeBufferPointer { wb in
            let weight = Weight(rows: k, cols: n, raw: wb.baseAddress!)
            weight.prepareBF16()
            let h = try XCTUnwrap(weight.bf16)
            var reference = [Float](repeating: 0, count: m * n), c = reference
            BF16GEMM.referenceLinear(m: m, a: a, lda: k, weight: h, c: &reference, ldc: n, accumulate: false)
            MatMul(compute: .bf16).linear(m: m, a: a, lda: k, weight: weight, c: &c, ldc: n, accumulate: false)
            XCTAssertEqual(c.map(\.bitPattern), reference.map(\.bitPattern))
            // Products from about 1e-37 down into the subnormals: some sums stay normal, others flush.
            let zeros = reference.filter { $0 == 0 }.count, negativeZeros = reference.filter { $0 == 0 && $0.sign == .minus }.count
            print("tiny values: \(zeros) of \(reference.count) results flushed to zero (\(negativeZeros) of them -0)")
            XCTAssertGreaterThan(zeros, 0, "the data reach the flushed range")
            XCTAssertLessThan(zeros, reference.count, "some sums stay normal")
        }
    }

    func testBF16StorageIsUsedAsStored() throws {
        // A BF16-stored weight packs to exactly its stored bits: its product equals the
        // product by an F32 weight holding the widened values, bit for bit.
        var rng = SplitMix64(seed: 5)
        let m = 11, k = 70, n = 50
        let halves = (0..<(k * n)).map { _ in HalfPrecision.bf16(Float(rng.nextDouble() * 2 - 1))! }
        let widened = halves.map { HalfPrecision.float(fromBF16: $0) }
        let a = gaussian(m * k, seed: 4)
        try halves.withUnsafeBytes { hb in
            try widened.withUnsafeBufferPointer { wb in
                let stored = Weight(rows: k, cols: n, storage: .outIn([StoredMatrix(base: hb.baseAddress!, element: .bf16, rows: n, cols: k, mapped: false)]))
                let f32 = Weight(rows: k, cols: n, raw: wb.baseAddress!, transposed: true)
                stored.prepareBF16()
                f32.prepareBF16()
                var c1 = [Float](repeating: 0, count: m * n), c2 = c1
                MatMul(compute: .bf16).linear(m: m, a: a, lda: k, weight: stored, c: &c1, ldc: n)
                MatMul(compute: .bf16).linear(m: m, a: a, lda: k, weight: f32, c: &c2, ldc: n)
                XCTAssertEqual(c1.map(\.bitPattern), c2.map(\.bitPattern))
                _ = try XCTUnwrap(stored.bf16)
            }
        }
    }

    func testUnavailableIsExplained() {
        XCTAssertEqual(Compute.bf16.unavailableReason(backend: .openblas)?.message(spelling: SettingError.commandLine), "--compute bf16 runs on our kernels only (not --backend openblas)")
        let reason = Compute.bf16.unavailableReason(backend: .unmask)
        if let rates = BF16GEMM.measuredRates {
            print("measured: vdpbf16ps \(rates.bf16) GFLOP/s, fp32 FMA \(rates.fp32) GFLOP/s")
            XCTAssertEqual(reason == nil, rates.bf16 / rates.fp32 >= BF16GEMM.requiredSpeedup)
        } else {
            XCTAssertNotNil(reason)
        }
    }
}
