#if canImport(Glibc)
import Glibc
#endif
import UnmaskKernels
import UnmaskSupport

/// `unmask bench gemm` as a library call: our GEMM against OpenBLAS on one shape, side by
/// side, interleaved (see `interleavedMedianSeconds`).
public enum GEMMBenchmark {
    /// The model's matrix products for d_model, d_ff, vocabulary V and context L, at batch
    /// 1 and 8, plus squares of 256, 512 and 1024.
    public static func modelShapes(dModel: Int, dFF: Int, vocabSize: Int, context: Int) -> [(name: String, m: Int, n: Int, k: Int)] {
        var out: [(String, Int, Int, Int)] = []
        for b in [1, 8] {
            let rows = b * context
            out.append(("qkv B=\(b)", rows, 3 * dModel, dModel))
            out.append(("ff_up B=\(b)", rows, dFF, dModel))
            out.append(("ff_down B=\(b)", rows, dModel, dFF))
            out.append(("head_1pos B=\(b)", b, vocabSize, dModel))
            out.append(("head_all B=\(b)", rows, vocabSize, dModel))
        }
        for s in [256, 512, 1024] { out.append(("square \(s)", s, s, s)) }
        return out
    }

    /// GFLOP/s of C = A·B (row-major, [m,k]·[k,n]) for: our GEMM packing B on every call,
    /// our GEMM with B packed once (as the model runs its weights), the same with B's panels
    /// kept in BF16 (a BF16 checkpoint's weights; AVX-512 kernel only, else nil), and OpenBLAS.
    public static func measure(m: Int, n: Int, k: Int, threads: Int)
        -> (ours: Double, prepacked: Double, bf16Panels: Double?, openblas: Double) {
        var rng = SplitMix64(seed: UInt64(m * 31 + n * 7 + k))
        let a = (0..<(m * k)).map { _ in Float(rng.nextDouble() - 0.5) }
        let b = (0..<(k * n)).map { _ in Float(rng.nextDouble() - 0.5) }
        var c = [Float](repeating: 0, count: m * n)
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        return a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    let A = ap.baseAddress!, B = bp.baseAddress!, C = cp.baseAddress!
                    let packed = PackedMatrix(k: k, n: n, source: B, ld: n)
                    // B rounded to BF16, packed into BF16 panels (the values do not change the time).
                    let halves = b.map { HalfPrecision.bf16($0)! }
                    let half: PackedMatrix? = MicroKernel.selected == .avx512 ? halves.withUnsafeBytes { h in
                        let w = PackedMatrix(k: k, n: n, halfPanels: true)
                        w.pack(from: .inOut(StoredMatrix(base: h.baseAddress!, element: .bf16, rows: k, cols: n, mapped: false)))
                        return w
                    } : nil
                    var bodies: [() -> Void] = [
                        { GEMM.sgemm(transA: false, transB: false, m: m, n: n, k: k, a: A, lda: k, b: B, ldb: n,
                                     c: C, ldc: n, threads: threads) },
                        { GEMM.gemmPacked(m: m, a: A, lda: k, w: packed, c: C, ldc: n, threads: threads) },
                        { OpenBLAS.sgemm(transA: false, transB: false, m: m, n: n, k: k, a: A, lda: k, b: B, ldb: n,
                                         c: C, ldc: n, threads: threads) },
                    ]
                    if let half { bodies.append { GEMM.gemmPacked(m: m, a: A, lda: k, w: half, c: C, ldc: n, threads: threads) } }
                    let times = interleavedMedianSeconds(bodies, between: { i in
                        // Both sides' worker threads spin after a call (OpenBLAS's for ~0.1 s,
                        // ours for WorkerPool.spinSeconds); let them sleep before the other
                        // side is timed, or they steal its second core.
                        if threads > 1 && i != 2 { usleep(useconds_t(WorkerPool.spinSeconds * 5e6)) }
                        if threads > 1 && i == 2 { usleep(150_000) }
                    })
                    let (ours, pre, blas) = (times[0], times[1], times[2])
                    return (flops / ours / 1e9, flops / pre / 1e9, half == nil ? nil : flops / times[3] / 1e9, flops / blas / 1e9)
                }
            }
        }
    }
}
