#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import UnmaskDiffusion
import UnmaskKernels
import UnmaskModel
import UnmaskSupport

/// What the loss looks at, for one batch.
public enum TrainingTargets {
    /// Token head: cross-entropy at these flat positions (b·L + i), each with its target
    /// token and weight. loss = Σ weight·(−log p(target)). The excluded token (the mask)
    /// gets no probability: the softmax runs over the other ids ("SUBS").
    case tokens(positions: [Int], targets: [Int], weights: [Float], excluded: Int?)
    /// Binary head: binary cross-entropy per flat position, label 0/1, with weights.
    case binary(labels: [Float], weights: [Float])
}

/// The transformer's forward pass with the activations the backward pass needs, and the
/// backward pass itself, llm.c style: every layer's forward saves its inputs (and norms
/// their reciprocal standard deviations), and the backward accumulates gradients into a
/// buffer laid out exactly like the parameters. The heavy products go through `MatMul`,
/// so ours and OpenBLAS are selectable here too. Weights are read from a ParameterBuffer
/// that the optimiser updates in place between steps.
public final class Backprop {
    public let config: ModelConfig
    public let params: ParameterBuffer
    public let grads: ParameterBuffer
    public var matmul: MatMul
    /// Residual dropout rate, 0 ≤ p < 1 (0: off). Where GPT-2 puts it: on each block's
    /// attention output and MLP output, before they join the residual stream; kept
    /// activations are scaled by 1/(1 − p), so nothing changes at evaluation time. A
    /// regulariser for the small corpus, on which an undropped model overfits.
    public var dropout: Float = 0
    /// Key of the current step's dropout masks. The trainer sets it from (seed, step), so
    /// masks, like batches, are a function of (seed, step) and a resumed run redraws the
    /// same ones.
    public var dropoutKey: UInt64 = 0
    let ropeCos: [Float], ropeSin: [Float]

    /// An upper estimate of the memory one training step needs (bytes): the activations
    /// every layer saves, the attention probabilities, the logits and their gradient, and
    /// parameters, gradients and AdamW moments. Used to refuse a batch that cannot fit
    /// with a clear message, instead of the allocator aborting mid-step.
    public static func estimatedStepBytes(config c: ModelConfig, batch: Int) -> Double {
        let rows = Double(batch) * Double(c.contextLength)
        let L = Double(c.contextLength)
        let perLayer = rows * Double(10 * c.dModel + 3 * c.dFF) + 2 * Double(batch) * Double(c.nHeads) * L * L
        let floats = Double(c.nLayers) * perLayer + rows * 3 * Double(c.vocabSize) + 5 * Double(c.parameterCount)
        return 4 * floats
    }

    /// Throws unless a step at `batch` fits in this machine's memory (see `estimatedStepBytes`).
    public static func checkFits(config: ModelConfig, batch: Int, option: String = "--batch") throws {
        let need = estimatedStepBytes(config: config, batch: batch)
        let have = Double(physicalMemoryBytes())
        guard have <= 0 || need <= 0.8 * have else {
            throw UnmaskError("\(option) \(batch) needs about \(fixed(need / 1e9, 1)) GB per training step at context \(config.contextLength); this machine has \(fixed(have / 1e9, 1)) GB: use a smaller \(option)")
        }
    }

    public init(params: ParameterBuffer, matmul: MatMul = MatMul()) {
        config = params.config
        self.params = params
        grads = ParameterBuffer(config: params.config)
        self.matmul = matmul
        if config.positions == .rotary {
            (ropeCos, ropeSin) = Ops.rotaryTables(length: config.contextLength, headDim: config.headDim, theta: config.ropeTheta)
        } else {
            (ropeCos, ropeSin) = ([], [])
        }
    }

    public func zeroGradients() { grads.data.update(repeating: 0, count: grads.count) }

    func p(_ name: String) -> UnsafeMutablePointer<Float> { try! params.mutablePointer(name) }
    func g(_ name: String) -> UnsafeMutablePointer<Float> { try! grads.mutablePointer(name) }

    /// Saved activations of one block.
    struct LayerCache {
        var xIn: [Float]      // (BL, d)    block input (residual stream)
        var h1: [Float]       // (BL, d)    attn_norm(xIn)
        var r1: [Float]       // (BL)       1/std of attn_norm
        var m1: [Float]       // (BL)       mean of attn_norm (layer norm only)
        var qkv: [Float]      // (BL, 3d)   after rotary
        var probs: [Float]    // (B, H, L, L) attention probabilities
        var att: [Float]      // (BL, d)    heads concatenated
        var xMid: [Float]     // (BL, d)    xIn + att·Wo
        var h2: [Float]       // (BL, d)    mlp_norm(xMid)
        var r2: [Float]
        var m2: [Float]
        var uPre: [Float]     // (BL, d_ff) h2·Wup
        var u: [Float]        // (BL, d_ff) act(uPre)
        var keepAttn: [Float] = []  // (BL, d) dropout factors on att·Wo, 0 or 1/(1−p); [] when off
        var keepMLP: [Float] = []   // (BL, d) dropout factors on the MLP output
    }

    /// One forward and backward pass; returns the loss. Gradients are added to `grads`
    /// (call `zeroGradients` first for a fresh step).
    public func step(ids: [Int], batch B: Int, length L: Int, targets: TrainingTargets) throws -> Double {
        let c = config, d = c.dModel, F = c.dFF, BL = B * L
        guard L <= c.contextLength, ids.count == BL else { throw UnmaskError("training batch shape does not match") }
        for id in ids where id < 0 || id >= c.vocabSize { throw UnmaskError("token id \(id) outside the vocabulary") }

        // ---- forward ----
        var x = [Float](repeating: 0, count: BL * d)  // (BL, d)
        let E = p("embed.weight")
        let positionTable: UnsafeMutablePointer<Float>? = c.positions == .learned ? p("pos_embed.weight") : nil
        x.withUnsafeMutableBufferPointer { xb in
            let xp = xb.baseAddress!
            parallelFor(BL) { r in
                (xp + r * d).update(from: E + ids[r] * d, count: d)
                if let P = positionTable { for i in 0..<d { xp[r * d + i] += P[(r % L) * d + i] } }
            }
        }
        var caches: [LayerCache] = []
        for l in 0..<c.nLayers {
            let pre = "layers.\(l)"
            var cache = LayerCache(xIn: x, h1: [], r1: [], m1: [], qkv: [], probs: [], att: [], xMid: [], h2: [], r2: [], m2: [], uPre: [], u: [])
            (cache.h1, cache.r1, cache.m1) = normForward(x, rows: BL, prefix: "\(pre).attn_norm")
            cache.qkv = linear(cache.h1, rows: BL, inDim: d, weight: p("\(pre).attn.qkv.weight"), outDim: 3 * d)
            applyRope(&cache.qkv, rows: BL, length: L, inverse: false)
            (cache.att, cache.probs) = attentionForward(cache.qkv, batch: B, length: L)
            var o = linear(cache.att, rows: BL, inDim: d, weight: p("\(pre).attn.out.weight"), outDim: d)
            cache.keepAttn = applyDropout(&o, rows: BL, site: 2 * l)
            add(o, into: &x)
            cache.xMid = x
            (cache.h2, cache.r2, cache.m2) = normForward(x, rows: BL, prefix: "\(pre).mlp_norm")
            cache.uPre = linear(cache.h2, rows: BL, inDim: d, weight: p("\(pre).mlp.up.weight"), outDim: F)
            cache.u = cache.uPre
            cache.u.withUnsafeMutableBufferPointer { ub in
                let up = ub.baseAddress!
                parallelChunks(ub.count) { range in
                    switch c.activation {
                    case .gelu: Ops.gelu(up + range.lowerBound, count: range.count)
                    case .silu: Ops.silu(up + range.lowerBound, count: range.count)
                    }
                }
            }
            var down = linear(cache.u, rows: BL, inDim: F, weight: p("\(pre).mlp.down.weight"), outDim: d)
            cache.keepMLP = applyDropout(&down, rows: BL, site: 2 * l + 1)
            add(down, into: &x)
            caches.append(cache)
        }
        let (hf, rf, mf) = normForward(x, rows: BL, prefix: "final_norm")

        // ---- loss and head ----
        var dhf = [Float](repeating: 0, count: BL * d)
        var loss = 0.0
        switch targets {
        case let .tokens(positions, targetIds, weights, excluded):
            guard c.head == .tokens else { throw UnmaskError("token targets need a token head") }
            let P = positions.count, V = c.vocabSize
            if P == 0 { break }
            var rows = [Float](repeating: 0, count: P * d)  // (P, d) gathered final hidden states
            for (j, pos) in positions.enumerated() { for i in 0..<d { rows[j * d + i] = hf[pos * d + i] } }
            var logits = [Float](repeating: 0, count: P * V)
            if c.tiedEmbeddings {
                matmul.gemm(transB: true, m: P, n: V, k: d, a: rows, lda: d, b: E, ldb: d, c: &logits, ldc: V)
            } else {
                matmul.gemm(m: P, n: V, k: d, a: rows, lda: d, b: p("head.weight"), ldb: V, c: &logits, ldc: V)
            }
            // Softmax cross-entropy; logits become dlogits in place. Rows are independent,
            // so they are split across threads; the per-row losses are summed in row order
            // afterwards, so the total does not depend on the thread count.
            var rowLoss = [Double](repeating: 0, count: P)
            logits.withUnsafeMutableBufferPointer { lb in
                rowLoss.withUnsafeMutableBufferPointer { rl in
                    let base = lb.baseAddress!, out = rl.baseAddress!
                    parallelFor(P) { j in
                        out[j] = Double(weights[j]) * VectorMath.softmaxCrossEntropy(
                            base + j * V, count: V, target: targetIds[j], excluded: excluded, weight: weights[j])
                    }
                }
            }
            for l in rowLoss { loss += l }
            var drows = [Float](repeating: 0, count: P * d)
            if c.tiedEmbeddings {
                matmul.gemm(m: P, n: d, k: V, a: logits, lda: V, b: E, ldb: d, c: &drows, ldc: d)
                matmul.gemm(transA: true, m: V, n: d, k: P, a: logits, lda: V, b: rows, ldb: d, c: g("embed.weight"), ldc: d, accumulate: true)
            } else {
                matmul.gemm(transB: true, m: P, n: d, k: V, a: logits, lda: V, b: p("head.weight"), ldb: V, c: &drows, ldc: d)
                matmul.gemm(transA: true, m: d, n: V, k: P, a: rows, lda: d, b: logits, ldb: V, c: g("head.weight"), ldc: V, accumulate: true)
            }
            for (j, pos) in positions.enumerated() { for i in 0..<d { dhf[pos * d + i] += drows[j * d + i] } }
        case let .binary(labels, weights):
            guard c.head == .binary else { throw UnmaskError("binary targets need a binary head") }
            let w = p("head.weight"), b = p("head.bias")
            let gw = g("head.weight"), gb = g("head.bias")
            for r in 0..<BL where weights[r] != 0 {
                var z = Double(b[0])
                for i in 0..<d { z += Double(hf[r * d + i]) * Double(w[i]) }
                // BCE with logits, stable form: max(z,0) − z·y + log(1 + e^−|z|)
                let y = Double(labels[r])
                loss += Double(weights[r]) * (max(z, 0) - z * y + log(1 + exp(-abs(z))))
                let dz = Float(Double(weights[r]) * (1 / (1 + exp(-z)) - y))
                gb[0] += dz
                for i in 0..<d {
                    gw[i] += dz * hf[r * d + i]
                    dhf[r * d + i] += dz * w[i]
                }
            }
        }

        // ---- backward ----
        var dx = normBackward(dhf, input: x, r: rf, m: mf, rows: BL, prefix: "final_norm")
        for l in (0..<c.nLayers).reversed() {
            let pre = "layers.\(l)"
            let cache = caches[l]
            // MLP: x_out = xMid + act(h2·Wup)·Wdown
            var du = linearBackward(dropped(dx, cache.keepMLP), input: cache.u, rows: BL, inDim: F, outDim: d, weight: "\(pre).mlp.down.weight")
            activationBackward(&du, pre: cache.uPre)
            let dh2 = linearBackward(du, input: cache.h2, rows: BL, inDim: d, outDim: F, weight: "\(pre).mlp.up.weight")
            let dxMid = normBackward(dh2, input: cache.xMid, r: cache.r2, m: cache.m2, rows: BL, prefix: "\(pre).mlp_norm")
            add(dxMid, into: &dx)
            // Attention: xMid = xIn + attn(h1)·Wo
            let datt = linearBackward(dropped(dx, cache.keepAttn), input: cache.att, rows: BL, inDim: d, outDim: d, weight: "\(pre).attn.out.weight")
            var dqkv = attentionBackward(datt, qkv: cache.qkv, probs: cache.probs, batch: B, length: L)
            applyRope(&dqkv, rows: BL, length: L, inverse: true)
            let dh1 = linearBackward(dqkv, input: cache.h1, rows: BL, inDim: d, outDim: 3 * d, weight: "\(pre).attn.qkv.weight")
            let dxIn = normBackward(dh1, input: cache.xIn, r: cache.r1, m: cache.m1, rows: BL, prefix: "\(pre).attn_norm")
            add(dxIn, into: &dx)
        }
        let gE = g("embed.weight")
        for r in 0..<BL {
            for i in 0..<d { gE[ids[r] * d + i] += dx[r * d + i] }
            if c.positions == .learned {
                let gP = g("pos_embed.weight")
                for i in 0..<d { gP[(r % L) * d + i] += dx[r * d + i] }
            }
        }
        return loss
    }

    // MARK: Layers

    /// y (rows, outDim) = x (rows, inDim) · W (inDim, outDim)
    func linear(_ x: [Float], rows: Int, inDim: Int, weight: UnsafePointer<Float>, outDim: Int) -> [Float] {
        var y = [Float](repeating: 0, count: rows * outDim)
        matmul.gemm(m: rows, n: outDim, k: inDim, a: x, lda: inDim, b: weight, ldb: outDim, c: &y, ldc: outDim)
        return y
    }

    /// Given dy (rows, outDim): dW += xᵀ·dy, returns dx = dy·Wᵀ.
    func linearBackward(_ dy: [Float], input x: [Float], rows: Int, inDim: Int, outDim: Int, weight name: String) -> [Float] {
        matmul.gemm(transA: true, m: inDim, n: outDim, k: rows, a: x, lda: inDim, b: dy, ldb: outDim,
                    c: g(name), ldc: outDim, accumulate: true)
        var dx = [Float](repeating: 0, count: rows * inDim)
        matmul.gemm(transB: true, m: rows, n: inDim, k: outDim, a: dy, lda: outDim, b: p(name), ldb: outDim, c: &dx, ldc: inDim)
        return dx
    }

    /// Norm forward; returns (y, 1/std, mean). RMSNorm's mean is unused (zeros).
    /// Rows are independent and spread over the threads.
    func normForward(_ x: [Float], rows: Int, prefix: String) -> ([Float], [Float], [Float]) {
        let d = config.dModel, eps = Float(config.normEps), layer = config.norm == .layernorm
        let w = p("\(prefix).weight")
        let b: UnsafeMutablePointer<Float>? = layer ? p("\(prefix).bias") : nil
        var y = [Float](repeating: 0, count: rows * d), rs = [Float](repeating: 0, count: rows), ms = rs
        x.withUnsafeBufferPointer { xb in
        y.withUnsafeMutableBufferPointer { yb in
        rs.withUnsafeMutableBufferPointer { rb in
        ms.withUnsafeMutableBufferPointer { mb in
            let xp = xb.baseAddress!, yp = yb.baseAddress!, rp = rb.baseAddress!, mp = mb.baseAddress!
            parallelFor(rows) { r in
                let xr = xp + r * d, yr = yp + r * d
                var mean: Float = 0
                if layer {
                    for i in 0..<d { mean += xr[i] }
                    mean /= Float(d)
                }
                var v: Float = 0
                for i in 0..<d { let c = xr[i] - mean; v += c * c }
                let rstd = 1 / (v / Float(d) + eps).squareRoot()
                for i in 0..<d { yr[i] = (xr[i] - mean) * rstd * w[i] + (b?[i] ?? 0) }
                rp[r] = rstd
                mp[r] = mean
            }
        } } } }
        return (y, rs, ms)
    }

    /// Rows per block of the norm-weight gradient's partial sums. Fixed, not per thread:
    /// blocks are summed in block order afterwards, so the gradient is the same for any
    /// thread count (a per-thread partial would make it depend on the split).
    static let normGradientBlockRows = 32

    /// Norm backward: accumulates dweight (and dbias), returns dx.
    /// With x̂ = (x − mean)·r and y = x̂·w (+ b):
    ///   RMSNorm:   dx = r·(dy·w) − r·x̂·mean(dy·w·x̂)
    ///   LayerNorm: dx = r·(dy·w − mean(dy·w) − x̂·mean(dy·w·x̂))
    /// dx rows are independent; dweight is a sum over rows, taken in fixed blocks of rows
    /// (one partial row per block) that are then added in order.
    func normBackward(_ dy: [Float], input x: [Float], r: [Float], m: [Float], rows: Int, prefix: String) -> [Float] {
        let d = config.dModel, layer = config.norm == .layernorm
        let w = p("\(prefix).weight"), gw = g("\(prefix).weight")
        let gb: UnsafeMutablePointer<Float>? = layer ? g("\(prefix).bias") : nil
        let blockRows = Backprop.normGradientBlockRows
        let blocks = (rows + blockRows - 1) / blockRows
        var dx = [Float](repeating: 0, count: rows * d)
        var partialW = [Float](repeating: 0, count: blocks * d)               // (blocks, d)
        var partialB = [Float](repeating: 0, count: layer ? blocks * d : 0)   // (blocks, d)
        dy.withUnsafeBufferPointer { dyb in
        x.withUnsafeBufferPointer { xb in
        r.withUnsafeBufferPointer { rb in
        m.withUnsafeBufferPointer { mb in
        dx.withUnsafeMutableBufferPointer { dxb in
        partialW.withUnsafeMutableBufferPointer { pwb in
        partialB.withUnsafeMutableBufferPointer { pbb in
            let dyp = dyb.baseAddress!, xp = xb.baseAddress!, rp = rb.baseAddress!, mp = mb.baseAddress!
            // An empty array's buffer may still have a base address: test the norm, not nil.
            let dxp = dxb.baseAddress!, pw = pwb.baseAddress!, pb = layer ? pbb.baseAddress : nil
            parallelFor(blocks) { block in
                let pwRow = pw + block * d
                for row in (block * blockRows)..<min(rows, (block + 1) * blockRows) {
                    let dyr = dyp + row * d, xr = xp + row * d, dxr = dxp + row * d
                    let rstd = rp[row], mean = mp[row]
                    var meanDg: Float = 0, meanDgX: Float = 0
                    for i in 0..<d {
                        let xhat = (xr[i] - mean) * rstd
                        let dg = dyr[i] * w[i]
                        meanDg += dg
                        meanDgX += dg * xhat
                        pwRow[i] += dyr[i] * xhat
                    }
                    if let pb { for i in 0..<d { pb[block * d + i] += dyr[i] } }
                    meanDg = layer ? meanDg / Float(d) : 0
                    meanDgX /= Float(d)
                    for i in 0..<d {
                        let xhat = (xr[i] - mean) * rstd
                        dxr[i] = rstd * (dyr[i] * w[i] - meanDg - xhat * meanDgX)
                    }
                }
            }
        } } } } } } }
        for block in 0..<blocks {
            for i in 0..<d { gw[i] += partialW[block * d + i] }
            if let gb { for i in 0..<d { gb[i] += partialB[block * d + i] } }
        }
        return dx
    }

    /// Dropout on y (rows, d), in place: each entry kept with probability 1 − p and scaled
    /// by 1/(1 − p), else zeroed. Returns the factors (rows, d) for the backward pass, or
    /// [] when dropout is off. Row r's draws come from its own Philox stream (site, r)
    /// under this step's key, so any thread can draw any row with the same result.
    func applyDropout(_ y: inout [Float], rows: Int, site: Int) -> [Float] {
        guard dropout > 0 else { return [] }
        let d = config.dModel, key = dropoutKey
        let threshold = UInt32(min(Double(dropout) * 4294967296.0, 4294967295.0))  // drop if next32 < p·2³²
        let scale = 1 / (1 - dropout)
        var keep = [Float](repeating: 0, count: rows * d)
        keep.withUnsafeMutableBufferPointer { kb in
            y.withUnsafeMutableBufferPointer { yb in
                let kp = kb.baseAddress!, yp = yb.baseAddress!
                parallelFor(rows) { r in
                    var rng = Philox(seed: key, stream: UInt64(site) << 32 | UInt64(r))
                    for i in 0..<d {
                        let factor: Float = rng.next32() < threshold ? 0 : scale
                        kp[r * d + i] = factor
                        yp[r * d + i] *= factor
                    }
                }
            }
        }
        return keep
    }

    /// dy ⊙ keep: the gradient through a dropout whose factors are `keep` (dy when off).
    func dropped(_ dy: [Float], _ keep: [Float]) -> [Float] {
        guard !keep.isEmpty else { return dy }
        var out = dy
        out.withUnsafeMutableBufferPointer { ob in
            keep.withUnsafeBufferPointer { kb in
                let op = ob.baseAddress!, kp = kb.baseAddress!
                parallelChunks(ob.count) { range in for i in range { op[i] *= kp[i] } }
            }
        }
        return out
    }

    /// y ← y + x, element-wise, over the threads.
    func add(_ x: [Float], into y: inout [Float]) {
        precondition(x.count == y.count)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                let xp = xb.baseAddress!, yp = yb.baseAddress!
                parallelChunks(yb.count) { range in for i in range { yp[i] += xp[i] } }
            }
        }
    }

    /// du ← du ⊙ act′(uPre), element-wise, over the threads.
    func activationBackward(_ du: inout [Float], pre: [Float]) {
        du.withUnsafeMutableBufferPointer { d in
            pre.withUnsafeBufferPointer { x in
                let dp = d.baseAddress!, xp = x.baseAddress!
                parallelChunks(d.count) { range in
                    switch config.activation {
                    case .gelu: VectorMath.geluBackward(dp + range.lowerBound, pre: xp + range.lowerBound, count: range.count)
                    case .silu: VectorMath.siluBackward(dp + range.lowerBound, pre: xp + range.lowerBound, count: range.count)
                    }
                }
            }
        }
    }

    /// Rotary embedding on q and k of every head, in place; `inverse` rotates back (the
    /// backward of a rotation is the rotation by the opposite angle).
    func applyRope(_ qkv: inout [Float], rows: Int, length L: Int, inverse: Bool) {
        guard config.positions == .rotary else { return }
        let d = config.dModel, dh = config.headDim, half = dh / 2, heads = config.nHeads
        qkv.withUnsafeMutableBufferPointer { qb in
        ropeCos.withUnsafeBufferPointer { cb in
        ropeSin.withUnsafeBufferPointer { sb in
            let q = qb.baseAddress!, cosTable = cb.baseAddress!, sinTable = sb.baseAddress!
            parallelFor(rows) { r in
                let pos = r % L
                for part in 0..<2 {
                    for h in 0..<heads {
                        let base = q + r * 3 * d + part * d + h * dh
                        for i in 0..<half {
                            let cs = cosTable[pos * half + i], sn = inverse ? -sinTable[pos * half + i] : sinTable[pos * half + i]
                            let a = base[i], b = base[i + half]
                            base[i] = a * cs - b * sn
                            base[i + half] = b * cs + a * sn
                        }
                    }
                }
            }
        } } }
    }

    /// Runs body(i) for i in 0..<count on `matmul.threads` threads, contiguous chunks each.
    /// Only for work whose iterations are independent and write disjoint memory, so the
    /// result is the same for any thread count. Inner products then run single-threaded.
    func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        WorkerPool.shared.forEachRange(count, threads: matmul.threads) { _, range in
            for i in range { body(i) }
        }
    }

    /// Runs body(range) over 0..<count cut into one contiguous chunk per thread, chunk
    /// edges on multiples of 16 floats (whole vectors, 64-byte lines when aligned). For
    /// element-wise work only, where any split gives the same result.
    func parallelChunks(_ count: Int, _ body: (Range<Int>) -> Void) {
        let vectors = (count + 15) / 16
        WorkerPool.shared.forEachRange(vectors, threads: matmul.threads) { _, range in
            body((range.lowerBound * 16)..<min(count, range.upperBound * 16))
        }
    }

    /// Attention forward; returns (out (BL, d), probabilities (B, H, L, L)).
    /// Each (sequence, head) pair is independent: they are spread over the threads.
    func attentionForward(_ qkv: [Float], batch B: Int, length L: Int) -> ([Float], [Float]) {
        let d = config.dModel, H = config.nHeads, dh = config.headDim, ld = 3 * d
        let scale = 1 / Float(dh).squareRoot()
        let causal = config.attention == .causal
        var out = [Float](repeating: 0, count: B * L * d)
        var probs = [Float](repeating: 0, count: B * H * L * L)
        let single = MatMul(backend: matmul.backend, threads: 1)
        qkv.withUnsafeBufferPointer { q in
        probs.withUnsafeMutableBufferPointer { pb in
        out.withUnsafeMutableBufferPointer { ob in
            let qBase = q.baseAddress!, pBase = pb.baseAddress!, oBase = ob.baseAddress!
            parallelFor(B * H) { unit in
                let b = unit / H, h = unit % H
                let base = qBase + b * L * ld
                let P = pBase + (b * H + h) * L * L
                single.gemm(transB: true, m: L, n: L, k: dh, a: base + h * dh, lda: ld, b: base + d + h * dh, ldb: ld, c: P, ldc: L)
                for i in 0..<L { Ops.softmaxRow(P + i * L, valid: causal ? i + 1 : L, count: L, scale: scale) }
                single.gemm(m: L, n: dh, k: L, a: P, lda: L, b: base + 2 * d + h * dh, ldb: ld, c: oBase + b * L * d + h * dh, ldc: d)
            }
        } } }
        return (out, probs)
    }

    /// Attention backward: dout (BL, d) → dqkv (BL, 3d), before undoing rotary.
    ///   dP = dout·Vᵀ, dV = Pᵀ·dout, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = s·dS·K, dK = s·dSᵀ·Q
    /// Each (sequence, head) pair writes its own columns of dqkv, so they run in parallel.
    func attentionBackward(_ dout: [Float], qkv: [Float], probs: [Float], batch B: Int, length L: Int) -> [Float] {
        let d = config.dModel, H = config.nHeads, dh = config.headDim, ld = 3 * d
        let scale = 1 / Float(dh).squareRoot()
        var dqkv = [Float](repeating: 0, count: B * L * ld)
        var scratch = [Float](repeating: 0, count: B * H * L * L)  // dP / dS per pair
        let single = MatMul(backend: matmul.backend, threads: 1)
        qkv.withUnsafeBufferPointer { q in
        probs.withUnsafeBufferPointer { pb in
        dout.withUnsafeBufferPointer { db in
        dqkv.withUnsafeMutableBufferPointer { gb in
        scratch.withUnsafeMutableBufferPointer { sb in
            let qBase = q.baseAddress!, pBase = pb.baseAddress!, dBase = db.baseAddress!, gBase = gb.baseAddress!, sBase = sb.baseAddress!
            parallelFor(B * H) { unit in
                let b = unit / H, h = unit % H
                let base = qBase + b * L * ld
                let gbase = gBase + b * L * ld
                let P = pBase + unit * L * L
                let dS = sBase + unit * L * L
                let dO = dBase + b * L * d + h * dh
                single.gemm(transB: true, m: L, n: L, k: dh, a: dO, lda: d, b: base + 2 * d + h * dh, ldb: ld, c: dS, ldc: L)
                single.gemm(transA: true, m: L, n: dh, k: L, a: P, lda: L, b: dO, ldb: d, c: gbase + 2 * d + h * dh, ldc: ld)
                for i in 0..<L {
                    var dot: Float = 0
                    for j in 0..<L { dot += dS[i * L + j] * P[i * L + j] }
                    for j in 0..<L { dS[i * L + j] = P[i * L + j] * (dS[i * L + j] - dot) * scale }
                }
                single.gemm(m: L, n: dh, k: L, a: dS, lda: L, b: base + d + h * dh, ldb: ld, c: gbase + h * dh, ldc: ld)
                single.gemm(transA: true, m: L, n: dh, k: L, a: dS, lda: L, b: base + h * dh, ldb: ld, c: gbase + d + h * dh, ldc: ld)
            }
        } } } } }
        return dqkv
    }
}
