import CCPUFeatures
#if canImport(Glibc)
import Glibc
#endif
import UnmaskKernelsAVX512

// Micro-kernel choice is made once, at startup: the 12 x 32 AVX-512 kernel where the CPU
// has AVX-512F, else the 6 x 16 SIMD8 kernel (AVX2 + FMA on x86_64, NEON on arm64).
// UNMASK_GEMM_KERNEL=simd8 forces the portable one (tests run both).

public enum MicroKernel: String, Sendable, CaseIterable {
    case avx512 = "avx512-12x32"
    case simd8 = "simd8-6x16"

    public var mr: Int { self == .avx512 ? avx512MR : simd8MR }
    public var nr: Int { self == .avx512 ? avx512NR : simd8NR }

    /// The kernel the process uses: the fastest one the CPU supports, unless
    /// UNMASK_GEMM_KERNEL names another.
    public static let selected: MicroKernel = {
        if let env = getenv("UNMASK_GEMM_KERNEL").map({ String(cString: $0) }) {
            if env == "simd8" { return .simd8 }
        }
        return unmask_cpu_has_avx512f() != 0 ? .avx512 : .simd8
    }()

    @inline(__always)
    func run(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
             ldc: Int, accumulate: Bool) {
        switch self {
        case .avx512: avx512MicroKernel12x32(kc: kc, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate)
        case .simd8: simd8MicroKernel6x16(kc: kc, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate)
        }
    }

    /// The tile with a BF16 B sliver (AVX-512 only: `PackedMatrix` keeps BF16 panels only
    /// for that kernel).
    @inline(__always)
    func runBF16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<UInt16>, c: UnsafeMutablePointer<Float>,
                 ldc: Int, accumulate: Bool) {
        precondition(self == .avx512, "BF16 panels need the AVX-512 kernel")
        avx512MicroKernel12x32BF16(kc: kc, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate)
    }

    @inline(__always)
    func runDirectBF16(kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<UInt16>,
                       c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        precondition(self == .avx512, "BF16 panels need the AVX-512 kernel")
        avx512MicroKernel12x32DirectBF16(kc: kc, a: a, lda: lda, b: b, c: c, ldc: ldc, accumulate: accumulate)
    }

    /// Up to 4 rows of a full-width tile, A read in place, where the kernel has such a tile
    /// (AVX-512; false elsewhere, and the caller takes the 12-row tile on a padded sliver).
    /// Same FMA chain per element as the full tile: the same bits.
    @inline(__always)
    func runEdgeRows(rows: Int, kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, b16: UnsafePointer<UInt16>?,
                     c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) -> Bool {
        guard self == .avx512 else { return false }
        if let b16 {
            avx512MicroKernel4x32DirectBF16(rows: rows, kc: kc, a: a, lda: lda, b: b16, c: c, ldc: ldc, accumulate: accumulate)
        } else {
            avx512MicroKernel4x32Direct(rows: rows, kc: kc, a: a, lda: lda, b: b, c: c, ldc: ldc, accumulate: accumulate)
        }
        return true
    }

    /// The tile with A read in place: element (r, p) at a[r * lda + p]; full slivers only.
    @inline(__always)
    func runDirect(kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
                   c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        switch self {
        case .avx512:
            avx512MicroKernel12x32Direct(kc: kc, a: a, lda: lda, b: b, c: c, ldc: ldc, accumulate: accumulate)
        case .simd8:
            simd8MicroKernel6x16Direct(kc: kc, a: a, lda: lda, b: b, c: c, ldc: ldc, accumulate: accumulate)
        }
    }
}
