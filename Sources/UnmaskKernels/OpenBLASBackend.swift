#if canImport(Glibc)
import Glibc
#endif
import COpenBLAS
import CCPUFeatures

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
    nonisolated(unsafe) private static var lock = pthread_mutex_t()
    private static let lockReady: Bool = { pthread_mutex_init(&lock, nil); return true }()

    /// openblas_set_num_threads is cheap but not free; only call it when the count changes.
    /// Attention and the backward pass call products from worker threads, each asking for
    /// one thread: the shared count is read and written under a lock.
    public static func setThreads(_ n: Int) {
        precondition(lockReady)
        pthread_mutex_lock(&lock)
        if n != currentThreads {
            openblas_set_num_threads(Int32(max(1, n)))
            currentThreads = n
        }
        pthread_mutex_unlock(&lock)
    }

    /// The kernel family OpenBLAS chose for this CPU ("SkylakeX", "Haswell", "Prescott"…).
    /// Its dynamic-arch build falls back to generic kernels on CPUs newer than it knows;
    /// `OPENBLAS_CORETYPE` overrides the choice.
    public static var coreName: String {
        guard let s = openblas_get_corename() else { return "unknown" }
        return String(cString: s)
    }

    /// True when the core is one of OpenBLAS's generic x86-64 fallbacks, far below what
    /// an AVX2 or AVX-512 CPU can do: measuring against it flatters any other GEMM.
    public static var runsGenericKernels: Bool {
        #if arch(x86_64)
        return ["prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai", "coppermine", "northwood",
                "banias", "opteron", "barcelona", "generic"].contains(coreName.lowercased())
        #else
        return false
        #endif
    }

    /// The core to ask for on this CPU when the default is generic: SkylakeX with AVX-512,
    /// Haswell with AVX2 + FMA.
    public static var suggestedCore: String? {
        #if arch(x86_64)
        if unmask_cpu_has_avx512f() != 0 { return "SkylakeX" }
        if unmask_cpu_has_avx2_fma() != 0 { return "Haswell" }
        #endif
        return nil
    }

    public static var configuration: String {
        guard let s = openblas_get_config() else { return "OpenBLAS" }
        return String(cString: s)
    }
}
