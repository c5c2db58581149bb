import XCTest
@testable import UnmaskKernels
import UnmaskSupport

/// Fast GEMM paths against the naive double-precision reference, over awkward shapes.
///
/// Tolerance: for a length-k float dot product computed with any summation order, the
/// rounding error is at most γ_k·Σ|a_p·b_p| with γ_k = k·u/(1 − k·u), u = 2⁻²⁴ (Higham,
/// "Accuracy and Stability of Numerical Algorithms", §3.1). We check every element
/// against 1.01·γ_k·Σ|a_p·b_p| + 1e-30 — a proven bound, not a tuned one — and print the
/// largest error seen relative to that bound.
final class GEMMTests: XCTestCase {
    struct Problem {
        let m, n, k: Int
        let transA, transB: Bool
        var a: [Float], b: [Float], c0: [Float]
        var lda: Int { transA ? m : k }
        var ldb: Int { transB ? k : n }

        init(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, seed: UInt64) {
            self.m = m; self.n = n; self.k = k; self.transA = transA; self.transB = transB
            var rng = SplitMix64(seed: seed)
            a = (0..<(m * k)).map { _ in rng.float() }
            b = (0..<(k * n)).map { _ in rng.float() }
            c0 = (0..<(m * n)).map { _ in rng.float() }
        }


        /// Reference result and per-element error bound.
        func reference(accumulate: Bool) -> (c: [Float], bound: [Double]) {
            var c = c0
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                referenceGEMM(transA: transA, transB: transB, m: m, n: n, k: k, a: ap.baseAddress!, lda: lda,
                              b: bp.baseAddress!, ldb: ldb, c: cp.baseAddress!, ldc: n, accumulate: accumulate)
            } } }
            let u = pow(2.0, -24.0)
            let kk = Double(k + (accumulate ? 1 : 0))
            let gamma = kk * u / (1 - kk * u)
            var bound = [Double](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c0.withUnsafeBufferPointer { cp in
                bound.withUnsafeMutableBufferPointer { out in
                    for i in 0..<m {
                        for j in 0..<n {
                            var s = accumulate ? Double(abs(cp[i * n + j])) : 0
                            for q in 0..<k {
                                let x = transA ? ap[q * lda + i] : ap[i * lda + q]
                                let y = transB ? bp[j * ldb + q] : bp[q * ldb + j]
                                s += Double(abs(x * y))
                            }
                            // + one rounding of the final float (the reference itself rounds once).
                            out[i * n + j] = 1.01 * gamma * s + u * s + 1e-30
                        }
                    }
                }
            } } }
            return (c, bound)
        }
    }

    /// Worst |ours - ref| / bound over all elements (must be <= 1).
    func worstRatio(_ ours: [Float], _ ref: (c: [Float], bound: [Double])) -> Double {
        var worst = 0.0
        for i in 0..<ours.count {
            let e = abs(Double(ours[i]) - Double(ref.c[i]))
            worst = max(worst, e / ref.bound[i])
            if !ours[i].isFinite { return .infinity }
        }
        return worst
    }

    func runOurs(_ p: Problem, kernel: MicroKernel, accumulate: Bool, threads: Int) -> [Float] {
        var c = p.c0
        p.a.withUnsafeBufferPointer { ap in p.b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            GEMM.sgemm(transA: p.transA, transB: p.transB, m: p.m, n: p.n, k: p.k, a: ap.baseAddress!, lda: p.lda,
                       b: bp.baseAddress!, ldb: p.ldb, c: cp.baseAddress!, ldc: p.n, accumulate: accumulate,
                       threads: threads, kernel: kernel)
        } } }
        return c
    }

    static let awkwardShapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 1, 7), (2, 3, 5), (7, 11, 13), (13, 17, 19), (1, 257, 31), (31, 1, 257),
        (12, 32, 256), (13, 33, 257), (6, 16, 1), (145, 33, 3), (5, 100, 300), (97, 61, 513), (1, 64, 1),
        (25, 47, 1), (144, 96, 256), (150, 70, 40),
        (30, 50, 1024),  // lda = 1024 floats: the 4 KB-stride path that packs A
    ]

    static var kernels: [MicroKernel] {
        // The AVX-512 kernel only where the CPU has it; the portable one everywhere.
        MicroKernel.selected == .avx512 ? [.avx512, .simd8] : [.simd8]
    }

    func testAllKernelsAndTransposesAgainstReference() {
        var worst = 0.0
        var seed: UInt64 = 1
        for (m, n, k) in GEMMTests.awkwardShapes {
            for transA in [false, true] {
                for transB in [false, true] {
                    for accumulate in [false, true] {
                        seed += 1
                        let p = Problem(m: m, n: n, k: k, transA: transA, transB: transB, seed: seed)
                        let ref = p.reference(accumulate: accumulate)
                        for kernel in GEMMTests.kernels {
                            let r = worstRatio(runOurs(p, kernel: kernel, accumulate: accumulate, threads: 1), ref)
                            worst = max(worst, r)
                            XCTAssertLessThanOrEqual(r, 1, "\(kernel) m=\(m) n=\(n) k=\(k) tA=\(transA) tB=\(transB) acc=\(accumulate)")
                        }
                    }
                }
            }
        }
        print("GEMM vs reference: worst error / bound = \(fixedRatio(worst))")
    }

    func testPackedWeightsAgainstReference() {
        // (300, 200, 1024): big enough for 2 threads, rows 4 KB apart: split by rows.
        for (m, n, k) in GEMMTests.awkwardShapes + [(3, 300, 600), (300, 200, 1024)] {
            for transB in [false, true] {
                for transA in [false, true] {
                    let p = Problem(m: m, n: n, k: k, transA: transA, transB: transB, seed: UInt64(m * 1000 + n + k))
                    let ref = p.reference(accumulate: false)
                    for kernel in GEMMTests.kernels {
                        let w = p.b.withUnsafeBufferPointer {
                            PackedMatrix(k: k, n: n, source: $0.baseAddress!, ld: p.ldb, transposed: transB, kernel: kernel)
                        }
                        var c = p.c0
                        p.a.withUnsafeBufferPointer { ap in c.withUnsafeMutableBufferPointer { cp in
                            GEMM.gemmPacked(transA: transA, m: m, a: ap.baseAddress!, lda: p.lda, w: w,
                                            c: cp.baseAddress!, ldc: n, accumulate: false, threads: 2)
                        } }
                        XCTAssertLessThanOrEqual(worstRatio(c, ref), 1, "\(kernel) m=\(m) n=\(n) k=\(k) tB=\(transB)")
                    }
                }
            }
        }
    }

    func testOpenBLASAgreesWithReferenceAndOurs() {
        for (m, n, k) in GEMMTests.awkwardShapes {
            for (transA, transB) in [(false, false), (true, false), (false, true)] {
                let p = Problem(m: m, n: n, k: k, transA: transA, transB: transB, seed: UInt64(7 * m + n))
                var c = p.c0
                p.a.withUnsafeBufferPointer { ap in p.b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                    OpenBLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: ap.baseAddress!, lda: p.lda,
                                   b: bp.baseAddress!, ldb: p.ldb, c: cp.baseAddress!, ldc: n, accumulate: true)
                } } }
                let ref = p.reference(accumulate: true)
                XCTAssertLessThanOrEqual(worstRatio(c, ref), 1)
                // Ours and OpenBLAS differ by at most the sum of their two error bounds.
                let ours = runOurs(p, kernel: .selected, accumulate: true, threads: 1)
                for i in 0..<c.count {
                    XCTAssertLessThanOrEqual(abs(Double(ours[i]) - Double(c[i])), 2 * ref.bound[i])
                }
            }
        }
    }

    func testOneAndTwoThreadsAreBitIdentical() {
        for (m, n, k) in [(128, 768, 256), (1024, 256, 1024), (1, 4096, 256), (4, 4099, 257), (3, 1000, 700), (300, 100, 70)] {
            // Threads split columns, or rows where A is packed (transposed, or rows 4 KB
            // apart as in (1024, 256, 1024)): both must give the 1-thread bits.
            for transB in [false, true] { for transA in [false, true] {
                let p = Problem(m: m, n: n, k: k, transA: transA, transB: transB, seed: 99)
                let one = runOurs(p, kernel: .selected, accumulate: false, threads: 1)
                let two = runOurs(p, kernel: .selected, accumulate: false, threads: 2)
                XCTAssertEqual(bitDifferences(one, two), 0, "m=\(m) n=\(n) k=\(k) tA=\(transA) tB=\(transB)")
                let w = p.b.withUnsafeBufferPointer {
                    PackedMatrix(k: k, n: n, source: $0.baseAddress!, ld: p.ldb, transposed: transB, kernel: .selected)
                }
                let packed = [1, 2].map { threads in
                    var c = p.c0
                    p.a.withUnsafeBufferPointer { ap in c.withUnsafeMutableBufferPointer { cp in
                        GEMM.gemmPacked(transA: transA, m: m, a: ap.baseAddress!, lda: p.lda, w: w,
                                        c: cp.baseAddress!, ldc: n, accumulate: false, threads: threads)
                    } }
                    return c
                }
                XCTAssertEqual(bitDifferences(packed[0], packed[1]), 0, "packed, m=\(m) n=\(n) k=\(k) tA=\(transA) tB=\(transB)")
            } }
        }
    }

    func testZeroSizedDimensions() {
        var c: [Float] = [5, 5]
        let a: [Float] = [1], b: [Float] = [1]
        GEMM.sgemm(transA: false, transB: false, m: 1, n: 2, k: 0, a: a, lda: 1, b: b, ldb: 2, c: &c, ldc: 2)
        XCTAssertEqual(c, [0, 0])
    }
}

extension SplitMix64 {
    /// Test data in [-1, 1).
    mutating func float() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
}

/// How many elements differ in their bits (0 for bit-identical results).
func bitDifferences(_ x: [Float], _ y: [Float]) -> Int {
    x.count != y.count ? max(x.count, y.count) : zip(x, y).filter { $0.bitPattern != $1.bitPattern }.count
}

func fixedRatio(_ x: Double) -> String { String(Double(Int(x * 1000)) / 1000) }

final class GEMMConcurrencyTests: XCTestCase {
    /// Many 2-thread GEMMs, called from several threads at once, must neither corrupt the
    /// shared scratch-buffer pool nor each other's results.
    func testConcurrentCallersAndInternalThreads() {
        let m = 96, n = 200, k = 150
        var rng = SplitMix64(seed: 1)
        let a = (0..<(m * k)).map { _ in rng.float() }, b = (0..<(k * n)).map { _ in rng.float() }
        var expected = [Float](repeating: 0, count: m * n)
        GEMM.sgemm(transA: false, transB: false, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &expected, ldc: n, threads: 1)
        let mismatches = UnsafeMutablePointer<Int>.allocate(capacity: 8)
        mismatches.initialize(repeating: 0, count: 8)
        defer { mismatches.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 8) { caller in
            var c = [Float](repeating: 0, count: m * n)
            for round in 0..<150 {
                GEMM.sgemm(transA: round % 2 == 1, transB: false, m: m, n: n, k: k, a: a, lda: round % 2 == 1 ? m : k,
                           b: b, ldb: n, c: &c, ldc: n, threads: 2)
                if round % 2 == 0 && c != expected { mismatches[caller] += 1 }
            }
        }
        XCTAssertEqual((0..<8).reduce(0) { $0 + mismatches[$1] }, 0)
    }
}

/// The packed product's rows do not depend on how many rows come with them: the first m
/// rows of an m-row product (m = 1…11, below one 12-row sliver: the 4-row edge tiles, or
/// the 12-row tile on a padded sliver) are bit for bit those of a 24-row product (full
/// slivers), on F32 and BF16 panels, with and without accumulation, over several k blocks
/// and a partial last column sliver. A block-diffusion step (4 or 8 query rows) must give
/// the bits of the uncached pass over the whole text, which runs the full slivers.
final class PackedEdgeRowsTests: XCTestCase {
    func testFewRowsGiveTheBitsOfFullSlivers() {
        let k = 600, n = 100, full = 24
        var rng = SplitMix64(seed: 17)
        let a = (0..<(full * k)).map { _ in Float(rng.nextDouble() * 2 - 1) }                 // (24, k)
        let w32 = (0..<(k * n)).map { _ in Float(rng.nextDouble() * 2 - 1) }                  // (k, n)
        let w16 = w32.map { HalfPrecision.bf16($0) ?? 0 }                                     // (k, n) in BF16
        let c0 = (0..<(full * n)).map { _ in Float(rng.nextDouble() * 2 - 1) }                // (24, n)
        w32.withUnsafeBufferPointer { w32p in w16.withUnsafeBufferPointer { w16p in
            let weights = [Weight(rows: k, cols: n, storage: .inOut(StoredMatrix(f32: w32p.baseAddress!, rows: k, cols: n))),
                           Weight(rows: k, cols: n, storage: .inOut(StoredMatrix(base: UnsafeRawPointer(w16p.baseAddress!), element: .bf16,
                                                                                 rows: k, cols: n, mapped: false)))]
            for w in weights {
                for accumulate in [false, true] {
                    func product(_ m: Int) -> [Float] {
                        var c = Array(c0[0..<(m * n)])
                        a.withUnsafeBufferPointer { ap in c.withUnsafeMutableBufferPointer { cp in
                            GEMM.gemmPacked(m: m, a: ap.baseAddress!, lda: k, w: w.packed, c: cp.baseAddress!, ldc: n,
                                            accumulate: accumulate, threads: 1)
                        } }
                        return c
                    }
                    let reference = product(full)
                    for m in 1...11 {
                        XCTAssertEqual(product(m).map(\.bitPattern), reference[0..<(m * n)].map(\.bitPattern),
                                       "m=\(m) halfPanels=\(w.halfPanels) accumulate=\(accumulate)")
                    }
                }
            }
        } }
    }
}
