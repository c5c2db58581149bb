import COpenBLAS

/// OpenBLAS's cblas_sgemm behind the same conventions as GEMM.sgemm: the reference backend
/// we measure against and test parity with (`--backend openblas`).
public enum OpenBLAS {
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false, threads: Int = 1) {
        if m == 0 || n == 0 { return }
        setThreads(threads)
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), 1.0, a, blasint(lda), b, blasint(ldb),
                    accumulate ? 1.0 : 0.0, c, blasint(ldc))
    }

    nonisolated(unsafe) private static var currentThreads = -1

    /// openblas_set_num_threads is cheap but not free; only call it when the count changes.
    public static func setThreads(_ n: Int) {
        if n != currentThreads {
            openblas_set_num_threads(Int32(max(1, n)))
            currentThreads = n
        }
    }

    public static var configuration: String {
        guard let s = openblas_get_config() else { return "OpenBLAS" }
        return String(cString: s)
    }
}
