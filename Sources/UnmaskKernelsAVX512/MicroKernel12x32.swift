// The AVX-512 GEMM micro-kernel: a 12 x 32 tile of C held in 24 zmm registers.
//
// This module is compiled with `-target-cpu skylake-avx512` on x86_64 (see Package.swift)
// and is only called after a runtime check that the CPU has AVX-512F; everything else
// lives in UnmaskKernels, built for AVX2 + FMA.
//
// Register budget (32 zmm): 24 accumulators (12 rows x 2 vectors of 16 floats), 2 for the
// current row of the packed B sliver, and the broadcast of one A value (LLVM folds it into
// the FMA as an embedded {1to16} broadcast). Per k step: 2 vector loads + 12 broadcasts
// feed 24 FMAs, within the 2 loads + 2 FMAs per cycle the core can issue.
//
// `addProduct` is spelled out: Swift never fuses `a * b + c` on its own, and without FMA
// in the target the call becomes a libm `fmaf` per lane.
//
// Packed layouts (written by UnmaskKernels' packing routines):
//   a: (kc, 12)  -- for each k, the 12 rows of the A sliver, contiguous
//   b: (kc, 32)  -- for each k, the 32 columns of the B sliver, contiguous, 64-byte aligned
// c: the 12 x 32 tile at row stride ldc (floats). accumulate: C += A*B, else C = A*B.

public let avx512MR = 12
public let avx512NR = 32

@inline(never)
public func avx512MicroKernel12x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                   c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    tile12x32(F32Panel.self, kc: kc, a: a, b: UnsafeRawPointer(b), c: c, ldc: ldc, accumulate: accumulate)
}

/// The same tile with the B sliver stored in BF16, (kc, 32) halves: each row is widened
/// to F32 in registers (exact: BF16 is the top half of a Float) and then multiplied just
/// as the F32 kernel multiplies, so the result is bit-identical to the F32 kernel on the
/// widened sliver. Half the bytes of B: a BF16 checkpoint's weights keep 2 bytes each.
@inline(never)
public func avx512MicroKernel12x32BF16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<UInt16>,
                                       c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    tile12x32(BF16Panel.self, kc: kc, a: a, b: UnsafeRawPointer(b), c: c, ldc: ldc, accumulate: accumulate)
}

/// How a row of the packed B sliver (32 columns) is read: F32, or BF16 widened.
protocol PanelRow {
    static func row(_ b: UnsafeRawPointer, _ p: Int) -> (SIMD16<Float>, SIMD16<Float>)
}

enum F32Panel: PanelRow {
    @inline(__always)
    static func row(_ b: UnsafeRawPointer, _ p: Int) -> (SIMD16<Float>, SIMD16<Float>) {
        (b.load(fromByteOffset: p * 128, as: SIMD16<Float>.self), b.load(fromByteOffset: p * 128 + 64, as: SIMD16<Float>.self))
    }
}

/// A BF16 sliver row is 32 halves stored in pairs: 32-bit word i holds column i in its low
/// half and column 16 + i in its high half (`PackedMatrix` interleaves them so). One
/// 64-byte load then gives both vectors with one shift and one mask, no shuffle: BF16 is
/// the top half of a Float. (Widening 16 halves with a zero-extending move was measured
/// at a third of the F32 kernel's rate; this runs close to it.)
enum BF16Panel: PanelRow {
    @inline(__always)
    static func row(_ b: UnsafeRawPointer, _ p: Int) -> (SIMD16<Float>, SIMD16<Float>) {
        let words = b.load(fromByteOffset: p * 64, as: SIMD16<UInt32>.self)
        return (unsafeBitCast(words &<< 16, to: SIMD16<Float>.self),
                unsafeBitCast(words & SIMD16<UInt32>(repeating: 0xFFFF_0000), to: SIMD16<Float>.self))
    }
}

@inline(__always)
func tile12x32<P: PanelRow>(_: P.Type, kc: Int, a: UnsafePointer<Float>, b bRaw: UnsafeRawPointer,
                            c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    typealias V = SIMD16<Float>
    // Start from C when accumulating: its cache misses then overlap the first FMAs
    // instead of stalling the stores at the end.
    let cRaw = UnsafeMutableRawPointer(c)
    @inline(__always) func initial(_ row: Int, _ half: Int) -> V {
        accumulate ? cRaw.loadUnaligned(fromByteOffset: (row * ldc) * 4 + half * 64, as: V.self) : V()
    }
    var c00 = initial(0, 0), c01 = initial(0, 1)
    var c10 = initial(1, 0), c11 = initial(1, 1)
    var c20 = initial(2, 0), c21 = initial(2, 1)
    var c30 = initial(3, 0), c31 = initial(3, 1)
    var c40 = initial(4, 0), c41 = initial(4, 1)
    var c50 = initial(5, 0), c51 = initial(5, 1)
    var c60 = initial(6, 0), c61 = initial(6, 1)
    var c70 = initial(7, 0), c71 = initial(7, 1)
    var c80 = initial(8, 0), c81 = initial(8, 1)
    var c90 = initial(9, 0), c91 = initial(9, 1)
    var ca0 = initial(10, 0), ca1 = initial(10, 1)
    var cb0 = initial(11, 0), cb1 = initial(11, 1)
    var ap = a
    for p in 0..<kc {
        let (b0, b1) = P.row(bRaw, p)
        var s = V(repeating: ap[0]); c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = V(repeating: ap[1]); c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = V(repeating: ap[2]); c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = V(repeating: ap[3]); c30.addProduct(s, b0); c31.addProduct(s, b1)
        s = V(repeating: ap[4]); c40.addProduct(s, b0); c41.addProduct(s, b1)
        s = V(repeating: ap[5]); c50.addProduct(s, b0); c51.addProduct(s, b1)
        s = V(repeating: ap[6]); c60.addProduct(s, b0); c61.addProduct(s, b1)
        s = V(repeating: ap[7]); c70.addProduct(s, b0); c71.addProduct(s, b1)
        s = V(repeating: ap[8]); c80.addProduct(s, b0); c81.addProduct(s, b1)
        s = V(repeating: ap[9]); c90.addProduct(s, b0); c91.addProduct(s, b1)
        s = V(repeating: ap[10]); ca0.addProduct(s, b0); ca1.addProduct(s, b1)
        s = V(repeating: ap[11]); cb0.addProduct(s, b0); cb1.addProduct(s, b1)
        ap += 12
    }
    @inline(__always) func store(_ row: Int, _ v0: V, _ v1: V) {
        let offset = row * ldc * 4
        cRaw.storeBytes(of: v0, toByteOffset: offset, as: V.self)
        cRaw.storeBytes(of: v1, toByteOffset: offset + 64, as: V.self)
    }
    store(0, c00, c01); store(1, c10, c11); store(2, c20, c21); store(3, c30, c31)
    store(4, c40, c41); store(5, c50, c51); store(6, c60, c61); store(7, c70, c71)
    store(8, c80, c81); store(9, c90, c91); store(10, ca0, ca1); store(11, cb0, cb1)
}

/// The same tile, reading A straight from its rows instead of a packed sliver:
/// A element (row r, k p) is a[r * lda + p]. For a row-major A (the forward pass) this
/// skips packing A altogether — which matters: each packed element of A is reused only
/// n times, so for n = 256 packing cost a quarter of the multiply. The 12 row streams are
/// read sequentially; each cache line serves 16 k steps. Only full 12-row slivers come here.
@inline(never)
public func avx512MicroKernel12x32Direct(kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
                                               c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    tile12x32Direct(F32Panel.self, kc: kc, a: a, lda: lda, b: UnsafeRawPointer(b), c: c, ldc: ldc, accumulate: accumulate)
}

/// The direct tile with a BF16 B sliver (see avx512MicroKernel12x32BF16).
@inline(never)
public func avx512MicroKernel12x32DirectBF16(kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<UInt16>,
                                             c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    tile12x32Direct(BF16Panel.self, kc: kc, a: a, lda: lda, b: UnsafeRawPointer(b), c: c, ldc: ldc, accumulate: accumulate)
}

@inline(__always)
func tile12x32Direct<P: PanelRow>(_: P.Type, kc: Int, a: UnsafePointer<Float>, lda: Int, b bRaw: UnsafeRawPointer,
                                  c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    typealias V = SIMD16<Float>
    let cRaw = UnsafeMutableRawPointer(c)
    @inline(__always) func initial(_ row: Int, _ half: Int) -> V {
        accumulate ? cRaw.loadUnaligned(fromByteOffset: (row * ldc) * 4 + half * 64, as: V.self) : V()
    }
    var c00 = initial(0, 0), c01 = initial(0, 1)
    var c10 = initial(1, 0), c11 = initial(1, 1)
    var c20 = initial(2, 0), c21 = initial(2, 1)
    var c30 = initial(3, 0), c31 = initial(3, 1)
    var c40 = initial(4, 0), c41 = initial(4, 1)
    var c50 = initial(5, 0), c51 = initial(5, 1)
    var c60 = initial(6, 0), c61 = initial(6, 1)
    var c70 = initial(7, 0), c71 = initial(7, 1)
    var c80 = initial(8, 0), c81 = initial(8, 1)
    var c90 = initial(9, 0), c91 = initial(9, 1)
    var ca0 = initial(10, 0), ca1 = initial(10, 1)
    var cb0 = initial(11, 0), cb1 = initial(11, 1)
    let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda
    let a6 = a + 6 * lda, a7 = a + 7 * lda, a8 = a + 8 * lda, a9 = a + 9 * lda, a10 = a + 10 * lda, a11 = a + 11 * lda
    for p in 0..<kc {
        let (b0, b1) = P.row(bRaw, p)
        var s = V(repeating: a0[p]); c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = V(repeating: a1[p]); c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = V(repeating: a2[p]); c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = V(repeating: a3[p]); c30.addProduct(s, b0); c31.addProduct(s, b1)
        s = V(repeating: a4[p]); c40.addProduct(s, b0); c41.addProduct(s, b1)
        s = V(repeating: a5[p]); c50.addProduct(s, b0); c51.addProduct(s, b1)
        s = V(repeating: a6[p]); c60.addProduct(s, b0); c61.addProduct(s, b1)
        s = V(repeating: a7[p]); c70.addProduct(s, b0); c71.addProduct(s, b1)
        s = V(repeating: a8[p]); c80.addProduct(s, b0); c81.addProduct(s, b1)
        s = V(repeating: a9[p]); c90.addProduct(s, b0); c91.addProduct(s, b1)
        s = V(repeating: a10[p]); ca0.addProduct(s, b0); ca1.addProduct(s, b1)
        s = V(repeating: a11[p]); cb0.addProduct(s, b0); cb1.addProduct(s, b1)
    }
    @inline(__always) func store(_ row: Int, _ v0: V, _ v1: V) {
        let offset = row * ldc * 4
        cRaw.storeBytes(of: v0, toByteOffset: offset, as: V.self)
        cRaw.storeBytes(of: v1, toByteOffset: offset + 64, as: V.self)
    }
    store(0, c00, c01)
    store(1, c10, c11)
    store(2, c20, c21)
    store(3, c30, c31)
    store(4, c40, c41)
    store(5, c50, c51)
    store(6, c60, c61)
    store(7, c70, c71)
    store(8, c80, c81)
    store(9, c90, c91)
    store(10, ca0, ca1)
    store(11, cb0, cb1)
}

/// The tile's first `rows` (1...4) rows, A read in place (row r, k p at a[r * lda + p]; rows
/// past `rows` are never read nor written): the edge of a product with fewer rows than a
/// sliver — a block-diffusion step's 4 or 8 query rows, a sampler's few head rows. Each
/// element takes exactly the FMA chain the 12-row tile gives it (from C or 0, then p in
/// order), so the bits do not depend on which kernel ran; a third of the 12-row tile's work
/// at 4 rows, where the 12-row tile on a zero-padded sliver did it all.
@inline(never)
public func avx512MicroKernel4x32Direct(rows: Int, kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
                                        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    tile4x32Direct(F32Panel.self, rows: rows, kc: kc, a: a, lda: lda, b: UnsafeRawPointer(b), c: c, ldc: ldc, accumulate: accumulate)
}

/// The 4-row edge tile with a BF16 B sliver (see avx512MicroKernel12x32BF16).
@inline(never)
public func avx512MicroKernel4x32DirectBF16(rows: Int, kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<UInt16>,
                                            c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    tile4x32Direct(BF16Panel.self, rows: rows, kc: kc, a: a, lda: lda, b: UnsafeRawPointer(b), c: c, ldc: ldc, accumulate: accumulate)
}

@inline(__always)
func tile4x32Direct<P: PanelRow>(_: P.Type, rows: Int, kc: Int, a: UnsafePointer<Float>, lda: Int, b bRaw: UnsafeRawPointer,
                                 c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    typealias V = SIMD16<Float>
    let cRaw = UnsafeMutableRawPointer(c)
    @inline(__always) func initial(_ row: Int, _ half: Int) -> V {
        accumulate && row < rows ? cRaw.loadUnaligned(fromByteOffset: (row * ldc) * 4 + half * 64, as: V.self) : V()
    }
    var c00 = initial(0, 0), c01 = initial(0, 1)
    var c10 = initial(1, 0), c11 = initial(1, 1)
    var c20 = initial(2, 0), c21 = initial(2, 1)
    var c30 = initial(3, 0), c31 = initial(3, 1)
    // Rows past `rows` read row 0 again (never past A's end); their sums are dropped.
    let a0 = a, a1 = rows > 1 ? a + lda : a, a2 = rows > 2 ? a + 2 * lda : a, a3 = rows > 3 ? a + 3 * lda : a
    for p in 0..<kc {
        let (b0, b1) = P.row(bRaw, p)
        var s = V(repeating: a0[p]); c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = V(repeating: a1[p]); c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = V(repeating: a2[p]); c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = V(repeating: a3[p]); c30.addProduct(s, b0); c31.addProduct(s, b1)
    }
    @inline(__always) func store(_ row: Int, _ v0: V, _ v1: V) {
        guard row < rows else { return }
        let offset = row * ldc * 4
        cRaw.storeBytes(of: v0, toByteOffset: offset, as: V.self)
        cRaw.storeBytes(of: v1, toByteOffset: offset + 64, as: V.self)
    }
    store(0, c00, c01); store(1, c10, c11); store(2, c20, c21); store(3, c30, c31)
}
