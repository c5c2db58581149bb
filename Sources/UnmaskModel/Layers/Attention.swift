import UnmaskKernels

/// Which keys each query row of a sequence sees: one contiguous range of rows, or, for
/// block diffusion's training layout, two.
public enum AttentionPattern: Equatable, Sendable {
    /// Every key (bidirectional).
    case full
    /// Keys 0...i.
    case causal
    /// Keys of row i's block and every block before it: 0 ..< (⌊(i + o)/B⌋ + 1)·B − o, with
    /// blocks shifted by `offset` o (0: blocks from position 0; the Qwen3 A2D sampler's
    /// blocks end where the prompt ends, o = (B − prompt mod B) mod B).
    case blockCausal(Int, offset: Int)
    /// BD3-LM's training layout, one forward for every block at once: 2L rows, the noisy
    /// x_t (rows 0..<L) then the clean x_0 (rows L..<2L), both at positions 0..<L. A noisy
    /// row of block b sees the noisy keys of block b and the clean keys of blocks before b;
    /// a clean row sees the clean keys block-causally. Each noisy block is so denoised given
    /// the clean text before it, as at generation.
    case blockDiffusionTraining(Int)

    /// The pattern of a config's attention.
    public init(_ config: ModelConfig) {
        switch config.attention {
        case .bidirectional: self = .full
        case .causal: self = .causal
        case .blockCausal: self = .blockCausal(config.blockSize!, offset: 0)
        }
    }

    /// Rows of one sequence per position: 2 for the training layout (x_t and x_0), else 1.
    public var rowsPerPosition: Int {
        if case .blockDiffusionTraining = self { return 2 }
        return 1
    }

    /// The keys row i of an L-row sequence sees, as up to two ranges (the second may be empty).
    @inline(__always)
    func visible(_ i: Int, rows L: Int) -> (Range<Int>, Range<Int>) {
        switch self {
        case .full: return (0..<L, 0..<0)
        case .causal: return (0..<(i + 1), 0..<0)
        case .blockCausal(let B, let o): return (0..<min(L, ((i + o) / B + 1) * B - o), 0..<0)
        case .blockDiffusionTraining(let B):
            let n = L / 2
            if i < n {
                let start = i / B * B
                return (start..<min(n, start + B), n..<(n + start))
            }
            return (n..<min(L, n + ((i - n) / B + 1) * B), 0..<0)
        }
    }
}

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
    /// `pattern` says which keys each query sees; the scores of the others are −∞ before the
    /// softmax (a prefix of the row is simply the softmax's valid count).
    static func forward(qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                        probsPerUnit: Bool, batch: Int, length L: Int, headDim dh: Int, heads: Int, kvHeads: Int,
                        pattern: AttentionPattern, matmul: MatMul) {
        let d = heads * dh, ld = (heads + 2 * kvHeads) * dh, group = heads / kvHeads
        eachUnit(batch * heads, matmul) { unit, part, mm in
            let b = unit / heads, h = unit % heads, kv = h / group
            let base = qkv + b * L * ld
            let P = probs + (probsPerUnit ? unit : part) * L * L           // (L, L)
            // scores (L, L) = Q·Kᵀ
            mm.gemm(transB: true, m: L, n: L, k: dh, a: base + h * dh, lda: ld, b: base + d + kv * dh, ldb: ld, c: P, ldc: L)
            for i in 0..<L {
                let (first, second) = pattern.visible(i, rows: L)
                if second.isEmpty && first.lowerBound == 0 {
                    VectorMath.softmaxRow(P + i * L, valid: first.upperBound, count: L)
                } else {
                    let row = P + i * L
                    for j in 0..<L where !first.contains(j) && !second.contains(j) { row[j] = -.infinity }
                    VectorMath.softmaxRow(row, valid: L, count: L)
                }
            }
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

    // MARK: Row by row (block-causal attention, cached or not)

    /// One query against `count` keys: out (dh) = softmax(q·kⱼ)·V. Keys and values are
    /// rows `stride` floats apart. Its arithmetic depends on q, the keys' and values' values
    /// and `count` alone — not on where they are stored nor on the other queries — which is
    /// what makes a cached step exact: a block's queries against cached keys give the bits
    /// the uncached pass gives. Scores are dot products summed in one order (16 lanes, then
    /// the lanes in order), the softmax is `VectorMath.softmaxRow`, and out sums the values
    /// in key order. scores: (count) scratch.
    static func attendRow(q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int,
                          count: Int, headDim dh: Int, scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        for j in 0..<count { scores[j] = dot(q, keys + j * stride, dh) }
        VectorMath.softmaxRow(scores, valid: count, count: count)
        out.update(repeating: 0, count: dh)
        // Each out[e] sums p_j·v_j[e] over j in key order with one fused multiply-add per
        // term, 16 lanes of e at a time where they fit: a lane does what the scalar loop
        // does, so the bits are the same either way.
        typealias V = SIMD16<Float>
        let wide = dh / 16 * 16
        for j in 0..<count {
            let p = scores[j], v = values + j * stride
            var e = 0
            while e < wide {
                let acc = UnsafeRawPointer(out + e).loadUnaligned(as: V.self)
                let x = UnsafeRawPointer(v + e).loadUnaligned(as: V.self)
                UnsafeMutableRawPointer(out + e).storeBytes(of: acc.addingProduct(V(repeating: p), x), as: V.self)
                e += 16
            }
            while e < dh { out[e] = out[e].addingProduct(p, v[e]); e += 1 }
        }
    }

    /// Σ a[e]·b[e] in a fixed order: 16 partial sums over the 16-lane chunks, the tail
    /// added to lane e mod 16, then the lanes summed in order.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        typealias V = SIMD16<Float>
        var acc = V()
        var e = 0
        while e + 16 <= n {
            acc = acc.addingProduct(UnsafeRawPointer(a + e).loadUnaligned(as: V.self), UnsafeRawPointer(b + e).loadUnaligned(as: V.self))
            e += 16
        }
        var lanes = acc
        var lane = 0
        while e < n { lanes[lane] = lanes[lane].addingProduct(a[e], b[e]); e += 1; lane += 1 }
        var sum: Float = 0
        for i in 0..<16 { sum += lanes[i] }
        return sum
    }

    /// Attention of `visible.count` query rows per sequence against keys and values held
    /// elsewhere (the sequence's own qkv rows, or a key-value cache): query r of sequence b
    /// sees the first visible[r] rows of kv[b]. q: (B·Q, ldq), the heads' queries at columns
    /// h·dh; kv[b]: (≥ max visible, 2·KV·dh) rows of keys | values, `kvStride` floats apart;
    /// out (B·Q, H·dh). scratch: (threads, maxKeys). Units (query row, all heads) are spread
    /// over the threads; each is computed the same way whatever the thread count.
    static func forwardRows(q: UnsafePointer<Float>, ldq: Int, kv: [UnsafePointer<Float>], kvStride: Int, visible: [Int],
                            headDim dh: Int, heads: Int, kvHeads: Int, out: UnsafeMutablePointer<Float>,
                            scratch: UnsafeMutablePointer<Float>, maxKeys: Int, threads: Int) {
        let d = heads * dh, group = heads / kvHeads, Q = visible.count, units = kv.count * Q
        precondition(visible.allSatisfy { $0 >= 1 && $0 <= maxKeys }, "attention: a query sees 1...\(maxKeys) keys")
        kv.withUnsafeBufferPointer { kvb in
        visible.withUnsafeBufferPointer { vis in
            WorkerPool.shared.forEachRange(units, threads: threads) { part, range in
                let scores = scratch + part * maxKeys
                for unit in range {
                    let b = unit / Q, r = unit % Q
                    for h in 0..<heads {
                        let k = kvb[b] + (h / group) * dh
                        attendRow(q: q + unit * ldq + h * dh, keys: k, values: k + kvHeads * dh, stride: kvStride,
                                  count: vis[r], headDim: dh, scores: scores, out: out + unit * d + h * dh)
                    }
                }
            }
        } }
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
