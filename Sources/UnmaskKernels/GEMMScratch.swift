import UnmaskKernelsAVX512
import UnmaskSupport

/// Packing buffers, 64-byte aligned so the micro-kernels can use aligned loads.
/// Allocating them per call is not an option: buffers over 128 KB come from mmap, and
/// faulting in fresh pages on every call cost more than the packing itself. They are
/// kept in a small pool instead and grow to the largest size asked for.
/// Each buffer set is used by one thread at a time: between `acquire` and `release`.
final class GEMMScratch: @unchecked Sendable {
    var a: UnsafeMutablePointer<Float>     // (MC / MR slivers, kc, MR)
    var copy: UnsafeMutablePointer<Float>  // (MC, copyStride(kc)): rows of A copied away from a 4 KB stride
    var b: UnsafeMutablePointer<Float>     // (NC / NR slivers, kc, NR)
    var tile: UnsafeMutablePointer<Float>  // (MR, NR) edge tile
    var aCapacity = 0, bCapacity = 0, copyCapacity = 0

    private init() {
        a = alignedFloats(1); b = alignedFloats(1); copy = alignedFloats(1)
        tile = alignedFloats(avx512MR * avx512NR)  // the largest tile of any kernel
    }

    /// Row stride of the copy buffer: past kc by one cache line, and never a multiple of
    /// 4 KB, so the copied rows fall in different L1 sets.
    static func copyStride(_ kc: Int) -> Int {
        let ld = (kc + 15) / 16 * 16 + 16
        return (ld * 4) % 4096 == 0 ? ld + 16 : ld
    }

    private func reserve(kernel: MicroKernel, kcMax: Int, ncMax: Int) {
        let mcPadded = (GEMMBlocking.mc + kernel.mr - 1) / kernel.mr * kernel.mr
        let ncPadded = (ncMax + kernel.nr - 1) / kernel.nr * kernel.nr
        let needA = mcPadded * kcMax, needB = ncPadded * kcMax
        if needA > aCapacity {
            UnsafeMutableRawPointer(a).deallocate()
            a = alignedFloats(needA)
            aCapacity = needA
        }
        let needCopy = mcPadded * GEMMScratch.copyStride(kcMax)
        if needCopy > copyCapacity {
            UnsafeMutableRawPointer(copy).deallocate()
            copy = alignedFloats(needCopy)
            copyCapacity = needCopy
        }
        if needB > bCapacity {
            UnsafeMutableRawPointer(b).deallocate()
            b = alignedFloats(needB)
            bCapacity = needB
        }
    }

    /// The idle buffer sets, shared by every thread that multiplies (a `Locked`, which
    /// ThreadSanitizer sees, since a buffer set passes from thread to thread through it).
    private static let pool = Locked<[GEMMScratch]>([])

    /// Takes a buffer set from the pool (or makes one) big enough for this call.
    static func acquire(kernel: MicroKernel, kcMax: Int, ncMax: Int) -> GEMMScratch {
        let scratch = pool.withLock { $0.popLast() } ?? GEMMScratch()
        scratch.reserve(kernel: kernel, kcMax: kcMax, ncMax: ncMax)
        return scratch
    }

    /// Returns the buffers to the pool. At most a few are kept (one per concurrent thread).
    func release() {
        GEMMScratch.pool.withLock { idle in
            if idle.count < 8 { idle.append(self) }
        }
    }
}

/// Allocates `count` floats aligned to 64 bytes (one cache line, one zmm register).
func alignedFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4, alignment: 64)
    return raw.bindMemory(to: Float.self, capacity: max(1, count))
}
