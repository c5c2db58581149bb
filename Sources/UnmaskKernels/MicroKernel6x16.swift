// The portable GEMM micro-kernel: a 6 x 16 tile of C in 12 SIMD8<Float> registers.
//
// Used on x86_64 CPUs without AVX-512 (this module is built with `-target-cpu haswell`,
// so SIMD8 is one ymm register and `addProduct` one vfmadd231ps) and on arm64 (two
// NEON q registers per SIMD8, 24 accumulators of the 32 available).
//
// Register budget on AVX2 (16 ymm): 12 accumulators, 2 for the B row, 1 broadcast.
//
// Packed layouts (see GEMMPacking.swift):
//   a: (kc, 6)   for each k, the 6 rows of the A sliver
//   b: (kc, 16)  for each k, the 16 columns of the B sliver, 64-byte aligned
// c: the 6 x 16 tile at row stride ldc. accumulate: C += A*B, else C = A*B.

let simd8MR = 6
let simd8NR = 16

@inline(never)
func simd8MicroKernel6x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                          c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    typealias V = SIMD8<Float>
    // Start from C when accumulating: its cache misses then overlap the first FMAs
    // instead of stalling the stores at the end.
    let cRaw = UnsafeMutableRawPointer(c)
    @inline(__always) func initial(_ row: Int, _ half: Int) -> V {
        accumulate ? cRaw.loadUnaligned(fromByteOffset: (row * ldc) * 4 + half * 32, as: V.self) : V()
    }
    var c00 = initial(0, 0), c01 = initial(0, 1)
    var c10 = initial(1, 0), c11 = initial(1, 1)
    var c20 = initial(2, 0), c21 = initial(2, 1)
    var c30 = initial(3, 0), c31 = initial(3, 1)
    var c40 = initial(4, 0), c41 = initial(4, 1)
    var c50 = initial(5, 0), c51 = initial(5, 1)
    let bRaw = UnsafeRawPointer(b)
    var ap = a
    for p in 0..<kc {
        let b0 = bRaw.load(fromByteOffset: p * 64, as: V.self)
        let b1 = bRaw.load(fromByteOffset: p * 64 + 32, as: V.self)
        var s = V(repeating: ap[0]); c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = V(repeating: ap[1]); c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = V(repeating: ap[2]); c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = V(repeating: ap[3]); c30.addProduct(s, b0); c31.addProduct(s, b1)
        s = V(repeating: ap[4]); c40.addProduct(s, b0); c41.addProduct(s, b1)
        s = V(repeating: ap[5]); c50.addProduct(s, b0); c51.addProduct(s, b1)
        ap += 6
    }
    @inline(__always) func store(_ row: Int, _ v0: V, _ v1: V) {
        let offset = row * ldc * 4
        cRaw.storeBytes(of: v0, toByteOffset: offset, as: V.self)
        cRaw.storeBytes(of: v1, toByteOffset: offset + 32, as: V.self)
    }
    store(0, c00, c01); store(1, c10, c11); store(2, c20, c21)
    store(3, c30, c31); store(4, c40, c41); store(5, c50, c51)
}

/// The same tile, reading A straight from its rows instead of a packed sliver:
/// A element (row r, k p) is a[r * lda + p]. For a row-major A (the forward pass) this
/// skips packing A altogether — which matters: each packed element of A is reused only
/// n times, so for n = 256 packing cost a quarter of the multiply. The 6 row streams are
/// read sequentially; each cache line serves 16 k steps. Only full 6-row slivers come here.
@inline(never)
func simd8MicroKernel6x16Direct(kc: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
                                             c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    typealias V = SIMD8<Float>
    let cRaw = UnsafeMutableRawPointer(c)
    @inline(__always) func initial(_ row: Int, _ half: Int) -> V {
        accumulate ? cRaw.loadUnaligned(fromByteOffset: (row * ldc) * 4 + half * 32, as: V.self) : V()
    }
    var c00 = initial(0, 0), c01 = initial(0, 1)
    var c10 = initial(1, 0), c11 = initial(1, 1)
    var c20 = initial(2, 0), c21 = initial(2, 1)
    var c30 = initial(3, 0), c31 = initial(3, 1)
    var c40 = initial(4, 0), c41 = initial(4, 1)
    var c50 = initial(5, 0), c51 = initial(5, 1)
    let a0 = a, a1 = a + 1 * lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda
    let bRaw = UnsafeRawPointer(b)
    for p in 0..<kc {
        let b0 = bRaw.load(fromByteOffset: p * 64, as: V.self)
        let b1 = bRaw.load(fromByteOffset: p * 64 + 32, as: V.self)
        var s = V(repeating: a0[p]); c00.addProduct(s, b0); c01.addProduct(s, b1)
        s = V(repeating: a1[p]); c10.addProduct(s, b0); c11.addProduct(s, b1)
        s = V(repeating: a2[p]); c20.addProduct(s, b0); c21.addProduct(s, b1)
        s = V(repeating: a3[p]); c30.addProduct(s, b0); c31.addProduct(s, b1)
        s = V(repeating: a4[p]); c40.addProduct(s, b0); c41.addProduct(s, b1)
        s = V(repeating: a5[p]); c50.addProduct(s, b0); c51.addProduct(s, b1)
    }
    @inline(__always) func store(_ row: Int, _ v0: V, _ v1: V) {
        let offset = row * ldc * 4
        cRaw.storeBytes(of: v0, toByteOffset: offset, as: V.self)
        cRaw.storeBytes(of: v1, toByteOffset: offset + 32, as: V.self)
    }
    store(0, c00, c01)
    store(1, c10, c11)
    store(2, c20, c21)
    store(3, c30, c31)
    store(4, c40, c41)
    store(5, c50, c51)
}
