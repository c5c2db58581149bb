import CCPUFeatures
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import UnmaskKernelsAVX512

// Single-precision GEMM, BLIS-style:  C (m, n)  =  [C +]  op(A) (m, k) · op(B) (k, n)
//
//   op(A) = A, stored (m, k) at row stride lda     -- or Aᵀ, A stored (k, m)
//   op(B) = B, stored (k, n) at row stride ldb     -- or Bᵀ, B stored (n, k)
//
// All matrices are row-major. The three products a transformer and its backward pass need
// are A·B (forward), A·Bᵀ (input gradients, tied output head) and Aᵀ·B (weight gradients).
//
// Loop nest (outermost first), for each thread's share of the columns:
//   pc: k in blocks of KC      -- the packed A block and B sliver share this depth
//   ic: m in blocks of MC      -- pack A (mc, kc) into MR-row slivers   (stays in L2)
//   jr: n in slivers of NR     -- packed B sliver (kc, NR)              (L1/L2)
//   ir: the MR-row slivers     -- micro-kernel: an MR x NR tile of C in registers
// Edge tiles run the same micro-kernel on zero-padded packs into a scratch tile, then
// copy the valid part out, so the inner loop has no edge cases.
//
// Threads: the column slivers are split into `threads` contiguous ranges, one per thread.
// Every element of C is computed by exactly one thread, with the same k order whatever
// the thread count, so results are bit-identical for 1 and 2 threads.
//
// Weights: a model multiplies by the same B on every call, so `PackedMatrix` packs it once
// at load time and `gemmPacked` skips B packing entirely.
//
// The micro-kernel, chosen once at startup: MicroKernel.swift.

/// Cache blocking. A KC x NR sliver of B (64 KB for the AVX-512 kernel at KC=512) is reused
/// by the micro-kernel for every MR-row sliver of the MC x KC block of A (288 KB); both sit
/// in L2 (1 MB on Zen 4) and stream through L1. KC=512 rather than 256: half as many
/// passes over C, and half as many packing/copy calls, for products with k = d_ff = 1024.
/// UNMASK_GEMM_KC / UNMASK_GEMM_MC override them, to compare blockings with `bench gemm`
/// (whose figures, with the CPU and OpenBLAS core they were measured on, are in
/// Benchmarks/results/bench_gemm.txt).
/// MC is a multiple of both MRs (12 and 6).
public enum GEMMBlocking {
    public static let kc = envInt("UNMASK_GEMM_KC") ?? 512
    public static let mc = envInt("UNMASK_GEMM_MC") ?? 144
}

func envInt(_ name: String) -> Int? {
    guard let v = getenv(name) else { return nil }
    return Int(String(cString: v))
}

public enum GEMM {
    /// C = [C +] op(A)·op(B) with our kernels.
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false,
                             threads: Int = 1, kernel: MicroKernel = .selected) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        if m <= skinnyRows {
            // Columns split into 16-wide chunks, contiguous ranges per thread: each element
            // of C still sees the same k order, so the split changes only the timing.
            let chunks = (n + 15) / 16
            let t = effectiveThreads(threads, m: m, n: n, k: k, slivers: chunks)
            let work = { (part: Int) in
                let (s0, s1) = split(chunks, parts: t, index: part)
                if s0 == s1 { return }
                let j0 = s0 * 16, j1 = min(n, s1 * 16)
                skinnyGEMM(transA: transA, transB: transB, m: m, n: j1 - j0, k: k, a: a, lda: lda,
                           b: transB ? b + j0 * ldb : b + j0, ldb: ldb, c: c + j0, ldc: ldc, accumulate: accumulate)
            }
            WorkerPool.shared.run(parts: t, work)
            return
        }
        let nr = kernel.nr
        let slivers = (n + nr - 1) / nr
        let t = effectiveThreads(threads, m: m, n: n, k: k, slivers: max(slivers, m / kernel.mr))
        let plan = ThreadSplit(kernel: kernel, transA: transA, m: m, n: n, lda: lda, prepackedB: false, threads: t)
        let work = { (part: Int) in
            let (i0, i1, j0, j1) = plan.ranges(part)
            if i0 == i1 || j0 == j1 { return }
            let scratch = GEMMScratch.acquire(kernel: kernel, kcMax: min(k, GEMMBlocking.kc), ncMax: j1 - j0)
            defer { scratch.release() }
            let aPart = transA ? a + i0 : a + i0 * lda
            var p0 = 0
            while p0 < k {
                let kcb = min(GEMMBlocking.kc, k - p0)
                packB(transB: transB, b: b, ldb: ldb, p0: p0, kcb: kcb, j0: j0, j1: j1, nr: nr, into: scratch.b)
                macroLoop(kernel: kernel, transA: transA, m: i1 - i0, a: aPart, lda: lda, p0: p0, kcb: kcb,
                          packedB: UnsafePointer(scratch.b), j0: j0, j1: j1,
                          c: c + i0 * ldc, ldc: ldc, accumulate: accumulate || p0 > 0, scratch: scratch)
                p0 += kcb
            }
        }
        WorkerPool.shared.run(parts: t, work)
    }

    /// C = [C +] op(A)·W with W packed once (see PackedMatrix).
    public static func gemmPacked(transA: Bool = false, m: Int, a: UnsafePointer<Float>, lda: Int,
                                  w: PackedMatrix, c: UnsafeMutablePointer<Float>, ldc: Int,
                                  accumulate: Bool = false, threads: Int = 1) {
        let n = w.cols, k = w.rows
        if m == 0 || n == 0 { return }
        let kernel = w.kernel
        let nr = kernel.nr
        let slivers = w.slivers
        let t = effectiveThreads(threads, m: m, n: n, k: k, slivers: max(slivers, m / kernel.mr))
        let plan = ThreadSplit(kernel: kernel, transA: transA, m: m, n: n, lda: lda, prepackedB: true, threads: t)
        let work = { (part: Int) in
            let (i0, i1, j0, j1) = plan.ranges(part)
            if i0 == i1 || j0 == j1 { return }
            let s0 = j0 / nr
            let scratch = GEMMScratch.acquire(kernel: kernel, kcMax: min(k, GEMMBlocking.kc), ncMax: 0)
            defer { scratch.release() }
            let aPart = transA ? a + i0 : a + i0 * lda
            var p0 = 0
            while p0 < k {
                let kcb = min(GEMMBlocking.kc, k - p0)
                // Block p0 of the packed weights: (kcb, slivers * NR); our range starts at sliver s0.
                let offset = p0 * slivers * nr + s0 * kcb * nr
                macroLoop(kernel: kernel, transA: transA, m: i1 - i0, a: aPart, lda: lda, p0: p0, kcb: kcb,
                          packedB: UnsafePointer(w.data + offset), packedB16: w.halves.map { UnsafePointer($0 + offset) },
                          j0: j0, j1: j1,
                          c: c + i0 * ldc, ldc: ldc, accumulate: accumulate || p0 > 0, scratch: scratch)
                p0 += kcb
            }
        }
        WorkerPool.shared.run(parts: t, work)
    }

    /// At most this many rows of A go to `skinnyGEMM` instead of the blocked path.
    static let skinnyRows = 4

    /// A product with very few rows (one position of the output head, a single token) is
    /// bound by reading B once; packing B first would read it twice and write it once.
    /// So each row of C is computed directly: for B stored (k, n), C[i, :] += A[i, p]·B[p, :]
    /// over p (C's row stays in L1); for B stored (n, k), one dot product per column.
    /// Same order of k for every element whatever the thread count: deterministic.
    static func skinnyGEMM(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        typealias V = SIMD16<Float>
        for i in 0..<m {
            @inline(__always) func aAt(_ p: Int) -> Float { transA ? a[p * lda + i] : a[i * lda + p] }
            let row = c + i * ldc
            if !accumulate { row.update(repeating: 0, count: n) }
            if !transB {
                let n16 = n / 16 * 16
                let rowRaw = UnsafeMutableRawPointer(row)
                for p in 0..<k {
                    let x = aAt(p)
                    let bRow = b + p * ldb
                    let bRaw = UnsafeRawPointer(bRow)
                    let xv = V(repeating: x)
                    var j = 0
                    while j < n16 {
                        var acc = rowRaw.loadUnaligned(fromByteOffset: j * 4, as: V.self)
                        acc.addProduct(xv, bRaw.loadUnaligned(fromByteOffset: j * 4, as: V.self))
                        rowRaw.storeBytes(of: acc, toByteOffset: j * 4, as: V.self)
                        j += 16
                    }
                    while j < n {
                        row[j] = row[j].addingProduct(x, bRow[j])
                        j += 1
                    }
                }
            } else {
                // 16 partial sums along k, then a fixed-order horizontal sum.
                let k16 = transA ? 0 : k / 16 * 16
                let aRaw = UnsafeRawPointer(a + i * lda)
                for j in 0..<n {
                    let bCol = b + j * ldb
                    let bRaw = UnsafeRawPointer(bCol)
                    var acc = V()
                    var p = 0
                    while p < k16 {
                        acc.addProduct(aRaw.loadUnaligned(fromByteOffset: p * 4, as: V.self),
                                       bRaw.loadUnaligned(fromByteOffset: p * 4, as: V.self))
                        p += 16
                    }
                    var s = acc.sum()
                    while p < k {
                        s = s.addingProduct(aAt(p), bCol[p])
                        p += 1
                    }
                    row[j] += s
                }
            }
        }
    }

    /// Threads only pay off when each has real work; below ~1 MFLOP per thread the
    /// dispatch costs more than it saves. The split never changes results, only timing.
    static func effectiveThreads(_ threads: Int, m: Int, n: Int, k: Int, slivers: Int) -> Int {
        let flops = 2 * m * n * k
        if threads <= 1 || flops < 2_000_000 { return 1 }
        return max(1, min(threads, slivers))
    }

    /// Whether macroLoop packs A (rather than reading it in place) for this layout.
    @inline(__always)
    static func packsA(transA: Bool, lda: Int) -> Bool {
        // Rows 4 KB apart map to the same L1 set (8 ways), so 12 row streams at such a
        // stride evict each other: pack A then, like a transposed one.
        transA || (lda * 4) % 4096 == 0
    }

    @inline(__always)
    static func split(_ count: Int, parts: Int, index: Int) -> (Int, Int) {
        (count * index / parts, count * (index + 1) / parts)
    }

    /// For one k-block: run the micro-kernel over all tiles of columns j0..<j1, block of
    /// MC rows by block of MC rows. `packedB` holds the slivers of those columns, each (kcb, NR).
    ///
    /// How A reaches the kernel, per MC block:
    ///   - row-major A: read in place by the direct kernel (no copy at all);
    ///   - row-major A whose rows are 4 KB apart (d_ff = 1024 floats): the rows map to the
    ///     same L1 set (8 ways), so 12 row streams would evict each other. The block is
    ///     copied row by row to a buffer whose stride is not a multiple of 4 KB — a
    ///     sequential SIMD copy, several times cheaper than transposing it into slivers —
    ///     and the direct kernel reads the copy;
    ///   - transposed A: packed into MR-row slivers (a transpose is needed anyway).
    /// A last partial sliver of rows is always packed, zero-padded, for the packed kernel.
    static func macroLoop(kernel: MicroKernel, transA: Bool, m: Int, a: UnsafePointer<Float>, lda: Int,
                          p0: Int, kcb: Int, packedB: UnsafePointer<Float>, packedB16: UnsafePointer<UInt16>? = nil,
                          j0: Int, j1: Int,
                          c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, scratch: GEMMScratch) {
        let mr = kernel.mr, nr = kernel.nr
        let copyRows = !transA && packsA(transA: transA, lda: lda)
        var i0 = 0
        while i0 < m {
            let mcb = min(GEMMBlocking.mc, m - i0)
            let rowSlivers = (mcb + mr - 1) / mr
            let fullSlivers = mcb / mr
            // Where the direct kernel reads full slivers: (rows, k) at stride directLd.
            var direct = a + i0 * lda + p0
            var directLd = lda
            if transA {
                packA(transA: true, a: a, lda: lda, i0: i0, mcb: mcb, p0: p0, kcb: kcb, mr: mr, into: scratch.a)
            } else {
                if fullSlivers < rowSlivers {
                    let r = fullSlivers * mr
                    packA(transA: false, a: a, lda: lda, i0: i0 + r, mcb: mcb - r, p0: p0, kcb: kcb, mr: mr,
                          into: scratch.a + fullSlivers * mr * kcb)
                }
                if copyRows && fullSlivers > 0 {
                    let ld = GEMMScratch.copyStride(kcb)
                    let dst = scratch.copy
                    for row in 0..<(fullSlivers * mr) {
                        copyFloats(from: a + (i0 + row) * lda + p0, to: dst + row * ld, count: kcb)
                    }
                    direct = UnsafePointer(dst)
                    directLd = ld
                }
            }
            var j = j0
            var bSliver = packedB
            var bSliver16 = packedB16
            while j < j1 {
                let cols = min(nr, j1 - j)
                // The B sliver is F32, or BF16 (`packedB16`, widened in the kernel).
                @inline(__always) func packedTile(_ aSliver: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
                    if let b16 = bSliver16 {
                        kernel.runBF16(kc: kcb, a: aSliver, b: b16, c: c, ldc: ldc, accumulate: accumulate)
                    } else {
                        kernel.run(kc: kcb, a: aSliver, b: bSliver, c: c, ldc: ldc, accumulate: accumulate)
                    }
                }
                @inline(__always) func directTile(_ aDirect: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
                    if let b16 = bSliver16 {
                        kernel.runDirectBF16(kc: kcb, a: aDirect, lda: directLd, b: b16, c: c, ldc: ldc, accumulate: accumulate)
                    } else {
                        kernel.runDirect(kc: kcb, a: aDirect, lda: directLd, b: bSliver, c: c, ldc: ldc, accumulate: accumulate)
                    }
                }
                for r in 0..<rowSlivers {
                    let i = i0 + r * mr
                    let rows = min(mr, m - i)
                    let aSliver = UnsafePointer(scratch.a + r * mr * kcb)
                    let aDirect = direct + r * mr * directLd
                    let cTile = c + i * ldc + j
                    if rows == mr && cols == nr {
                        if transA { packedTile(aSliver, cTile, ldc) } else { directTile(aDirect, cTile, ldc) }
                        continue
                    }
                    // A full-width tile of up to 8 rows (a block step's, a few head rows):
                    // 4-row tiles reading A in place, where the kernel has them.
                    if !transA && cols == nr && rows <= 8 {
                        var done = true
                        var r4 = 0
                        while r4 < rows && done {
                            done = kernel.runEdgeRows(rows: min(4, rows - r4), kc: kcb, a: a + (i + r4) * lda + p0, lda: lda,
                                                      b: bSliver, b16: bSliver16, c: cTile + r4 * ldc, ldc: ldc,
                                                      accumulate: accumulate)
                            r4 += 4
                        }
                        if done { continue }
                    }
                    // Edge tile: the full-size kernel on a scratch tile, then copy the valid part.
                    // When accumulating, the tile starts as a copy of C, so every element gets
                    // exactly the FMA chain a full tile would give it: a row's result never
                    // depends on where the tile boundaries fall (i.e. on the batch size).
                    if accumulate {
                        scratch.tile.update(repeating: 0, count: mr * nr)
                        for ii in 0..<rows { (scratch.tile + ii * nr).update(from: cTile + ii * ldc, count: cols) }
                    }
                    if rows == mr && !transA {
                        directTile(aDirect, scratch.tile, nr)
                    } else {
                        packedTile(aSliver, scratch.tile, nr)
                    }
                    for ii in 0..<rows { (cTile + ii * ldc).update(from: scratch.tile + ii * nr, count: cols) }
                }
                j += nr
                bSliver += kcb * nr
                bSliver16 = bSliver16.map { $0 + kcb * nr }
            }
            i0 += mcb
        }
    }
}

/// Copies `count` floats with 16-wide SIMD moves (the rows of an A block, see macroLoop).
@inline(__always)
func copyFloats(from src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int) {
    let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
    var q = 0
    while q + 16 <= count {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: q * 4, as: SIMD16<Float>.self), toByteOffset: q * 4,
                     as: SIMD16<Float>.self)
        q += 16
    }
    while q < count {
        dst[q] = src[q]
        q += 1
    }
}

/// How the threads share one product: by columns (slivers of NR) or by rows (slivers of MR).
///
/// Splitting columns makes every thread pack all of A whenever A is packed (transposed, or
/// rows 4 KB apart); splitting rows makes every thread pack all of B, unless B was packed
/// once in advance. So rows are split when A is packed and that duplicates more than the
/// B packing would (B prepacked, or m > n), and there are enough row slivers to balance.
/// Either way the boundaries fall on whole micro-tiles, the very tiles one thread would
/// compute, so the split never changes a result.
struct ThreadSplit {
    let byRows: Bool
    let m: Int, n: Int, mr: Int, nr: Int, threads: Int

    init(kernel: MicroKernel, transA: Bool, m: Int, n: Int, lda: Int, prepackedB: Bool, threads: Int) {
        self.m = m
        self.n = n
        self.mr = kernel.mr
        self.nr = kernel.nr
        self.threads = threads
        let rowSlivers = m / kernel.mr
        byRows = threads > 1 && GEMM.packsA(transA: transA, lda: lda)
            && (prepackedB ? rowSlivers >= 4 * threads : (m > n && rowSlivers >= 2 * threads))
    }

    /// Rows i0..<i1 and columns j0..<j1 of C for one part.
    @inline(__always)
    func ranges(_ part: Int) -> (Int, Int, Int, Int) {
        if byRows {
            let slivers = (m + mr - 1) / mr
            let (s0, s1) = GEMM.split(slivers, parts: threads, index: part)
            return (s0 * mr, min(m, s1 * mr), 0, n)
        }
        let slivers = (n + nr - 1) / nr
        let (s0, s1) = GEMM.split(slivers, parts: threads, index: part)
        return (0, m, s0 * nr, min(n, s1 * nr))
    }
}
