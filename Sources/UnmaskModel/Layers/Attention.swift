import UnmaskKernels

/// Multi-head scaled dot-product attention over the fused qkv rows, forward and backward.
/// The queries arrive already scaled by 1/√dh (RotaryLayer folds it in).
///
/// Each (sequence, head) pair — a "unit" — is a few MFLOP, too small to split well, so
/// with several threads the units are spread over them, each with single-threaded
/// products. Every unit is computed the same way whatever the thread count, so results
/// are bit-identical.
enum AttentionLayer {
    /// qkv (B·L, 3d): queries | keys | values, heads side by side in each → out (B·L, d).
    /// The softmax probabilities of unit u go to `probs + slot·L·L`, where slot is u when
    /// `probsPerUnit` (training keeps all of them: (B·H, L, L)) and the worker's index
    /// otherwise (inference reuses one (L, L) buffer per thread).
    /// Grouped-query attention: query head h reads key/value head h / (heads / kvHeads);
    /// rows are (heads + 2·kvHeads)·dh wide, the output heads·dh.
    static func forward(qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                        probsPerUnit: Bool, batch: Int, length L: Int, headDim dh: Int, heads: Int, kvHeads: Int, causal: Bool,
                        matmul: MatMul) {
        let d = heads * dh, ld = (heads + 2 * kvHeads) * dh, group = heads / kvHeads
        eachUnit(batch * heads, matmul) { unit, part, mm in
            let b = unit / heads, h = unit % heads, kv = h / group
            let base = qkv + b * L * ld
            let P = probs + (probsPerUnit ? unit : part) * L * L           // (L, L)
            // scores (L, L) = Q·Kᵀ
            mm.gemm(transB: true, m: L, n: L, k: dh, a: base + h * dh, lda: ld, b: base + d + kv * dh, ldb: ld, c: P, ldc: L)
            for i in 0..<L { VectorMath.softmaxRow(P + i * L, valid: causal ? i + 1 : L, count: L) }
            // out (L, dh) = P·V, into this head's columns
            mm.gemm(m: L, n: dh, k: L, a: P, lda: L, b: base + d + (kvHeads + kv) * dh, ldb: ld, c: out + b * L * d + h * dh, ldc: d)
        }
    }

    /// dout (B·L, d) → dqkv (B·L, 3d), every column written (before undoing rotary):
    ///   dP = dO·Vᵀ,  dV = Pᵀ·dO,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dQ = dS·K,  dK = dSᵀ·Q
    /// probs: the forward's (B·H, L, L); scratch: (threads, L, L), one dS per worker.
    static func backward(dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                         dqkv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         batch: Int, length L: Int, d: Int, heads: Int, matmul: MatMul) {
        let dh = d / heads, ld = 3 * d
        eachUnit(batch * heads, matmul) { unit, part, mm in
            let b = unit / heads, h = unit % heads
            let base = qkv + b * L * ld, gbase = dqkv + b * L * ld
            let P = probs + unit * L * L, dS = scratch + part * L * L
            let dO = dout + b * L * d + h * dh
            mm.gemm(transB: true, m: L, n: L, k: dh, a: dO, lda: d, b: base + 2 * d + h * dh, ldb: ld, c: dS, ldc: L)
            mm.gemm(transA: true, m: L, n: dh, k: L, a: P, lda: L, b: dO, ldb: d, c: gbase + 2 * d + h * dh, ldc: ld)
            for i in 0..<L {
                let p = P + i * L, g = dS + i * L
                var dot: Float = 0
                for j in 0..<L { dot += g[j] * p[j] }
                for j in 0..<L { g[j] = p[j] * (g[j] - dot) }
            }
            mm.gemm(m: L, n: dh, k: L, a: dS, lda: L, b: base + d + h * dh, ldb: ld, c: gbase + h * dh, ldc: ld)
            mm.gemm(transA: true, m: L, n: dh, k: L, a: dS, lda: L, b: base + h * dh, ldb: ld, c: gbase + d + h * dh, ldc: ld)
        }
    }

    /// body(unit, worker, single-threaded MatMul) for every unit, spread over the threads.
    @inline(__always)
    private static func eachUnit(_ units: Int, _ matmul: MatMul, _ body: (Int, Int, MatMul) -> Void) {
        if min(matmul.threads, units) <= 1 {
            for unit in 0..<units { body(unit, 0, matmul) }
            return
        }
        var single = matmul
        single.threads = 1
        // The workers multiply side by side: a product timer counts each one's share of the wall time.
        single.productTimer = matmul.productTimer?.sharedBy(min(matmul.threads, units))
        WorkerPool.shared.forEachRange(units, threads: matmul.threads) { part, range in
            for unit in range { body(unit, part, single) }
        }
    }
}
