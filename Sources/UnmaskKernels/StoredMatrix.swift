#if canImport(Glibc)
import Glibc
#endif
import UnmaskSupport

/// How a tensor's elements are stored: the dtypes of the safetensors files we read.
public enum ElementType: String, Sendable {
    case f32, f16, bf16
    public var bytes: Int { self == .f32 ? 4 : 2 }
}

/// A row-major matrix (rows, cols) as it is stored: F32 in place, or F16/BF16 read where
/// it lies (usually inside a mapped safetensors file). Nothing is widened until a weight
/// packs it, and then a panel at a time: an 8 B-parameter model in BF16 (16 GB) is never
/// held as F32 (32 GB).
public struct StoredMatrix: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let element: ElementType
    public let rows: Int
    public let cols: Int
    /// The bytes lie in a read-only file mapping: `releasePages` may drop them from memory
    /// (the kernel re-reads them from the file if they are touched again). Never true for
    /// heap memory, where dropping pages would zero it.
    public let mapped: Bool

    public init(base: UnsafeRawPointer, element: ElementType, rows: Int, cols: Int, mapped: Bool) {
        (self.base, self.element, self.rows, self.cols, self.mapped) = (base, element, rows, cols, mapped)
    }

    /// An F32 matrix in memory.
    public init(f32 pointer: UnsafePointer<Float>, rows: Int, cols: Int) {
        self.init(base: UnsafeRawPointer(pointer), element: .f32, rows: rows, cols: cols, mapped: false)
    }

    /// The F32 pointer, when the storage is F32 (and aligned).
    public var float32: UnsafePointer<Float>? {
        guard element == .f32, Int(bitPattern: base) % 4 == 0 else { return nil }
        return base.assumingMemoryBound(to: Float.self)
    }

    /// Element (r, c) as Float (exact: F16 and BF16 widen without rounding).
    @inline(__always)
    public func value(_ r: Int, _ c: Int) -> Float {
        let i = r * cols + c
        switch element {
        case .f32: return base.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
        case .bf16: return HalfPrecision.float(fromBF16: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        case .f16: return HalfPrecision.float(fromF16: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
    }

    /// Writes the block rows r0..<r1 × cols c0..<c1 as F32 into `dst`, row stride `ld`.
    public func widen(rows r: Range<Int>, cols c: Range<Int>, into dst: UnsafeMutablePointer<Float>, ld: Int) {
        for (i, row) in r.enumerated() {
            let out = dst + i * ld
            let first = row * cols + c.lowerBound
            switch element {
            case .f32:
                for j in 0..<c.count { out[j] = base.loadUnaligned(fromByteOffset: 4 * (first + j), as: Float.self) }
            case .bf16:
                // The top half of a Float: a shift, which the compiler vectorises.
                for j in 0..<c.count {
                    out[j] = Float(bitPattern: UInt32(base.loadUnaligned(fromByteOffset: 2 * (first + j), as: UInt16.self)) << 16)
                }
            case .f16:
                for j in 0..<c.count {
                    out[j] = HalfPrecision.float(fromF16: base.loadUnaligned(fromByteOffset: 2 * (first + j), as: UInt16.self))
                }
            }
        }
    }

    /// The flat index of the first NaN or infinity, or nil.
    public func firstNonFinite() -> Int? {
        let n = rows * cols
        switch element {
        case .f32:
            for i in 0..<n where !base.loadUnaligned(fromByteOffset: 4 * i, as: Float.self).isFinite { return i }
        case .bf16:
            // Exponent bits all ones: infinity or NaN.
            for i in 0..<n where base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self) & 0x7F80 == 0x7F80 { return i }
        case .f16:
            for i in 0..<n where base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self) & 0x7C00 == 0x7C00 { return i }
        }
        return nil
    }

    /// Drops the whole pages this matrix covers from memory, when it lies in a file
    /// mapping (see `mapped`): once a weight is packed, its stored copy is not needed in
    /// RAM, and a large model's peak memory is then the packed weights alone.
    public func releasePages() {
        guard mapped else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: base), end = start + rows * cols * element.bytes
        let first = (start + page - 1) / page * page, last = end / page * page
        if last > first { _ = madvise(UnsafeMutableRawPointer(bitPattern: first), last - first, MADV_DONTNEED) }
    }
}

/// Where a weight W (in = k, out = n) is stored.
public enum WeightStorage: @unchecked Sendable {
    /// (k, n), the engine's own layout (and GPT-2's Conv1D).
    case inOut(StoredMatrix)
    /// (n, k) as PyTorch's Linear stores it, possibly in parts stacked along n (q, k and
    /// v kept as three tensors, multiplied as one (k, n_q + n_k + n_v) weight).
    case outIn([StoredMatrix])
}
