import UnmaskKernels
import UnmaskSupport

extension Transformer {
    /// The backward pass of the last `forwardForTraining` on `arena`, llm.c style: each
    /// layer's backward reads what its forward saved, and gradients are added into
    /// `grads`, laid out like the parameters (call `grads.data.update(repeating: 0, …)`
    /// first for a fresh step), through its named pointers (`grads.tensors`). The arena's
    /// logits must hold dLoss/dlogits (Loss.apply leaves them there). `ids`, `batch`,
    /// `length`, `positions` and `pattern` are the forward's.
    public func backward(ids: [Int], batch B: Int, length L: Int, positions: [Int], arena a: ActivationArena,
                         grads: ParameterBuffer, pattern: AttentionPattern? = nil) throws {
        let period = L / (try checkPattern(pattern)).rowsPerPosition
        precondition(a.training, "backward needs a training arena")
        precondition(grads.config == config, "gradients laid out for another config")
        let c = config, d = c.dModel, F = c.dFF, rows = B * L, P = positions.count, threads = matmul.threads
        let g = grads.tensors

        // Head: logits (P, out) = finalOut·W (+ b); a tied head's gradient joins the embedding's.
        let headGradient = c.head == .tokens && c.tiedEmbeddings ? g.embed : g.head!
        if headBias != nil {
            BiasLayer.backward(dy: a.logits, rows: P, n: outputSize, dBias: g.headBias!, scratch: a.reductionScratch,
                               threads: threads)
        }
        LinearLayer.backward(matmul: matmul, dy: a.logits, x: a.finalOut, rows: P, weight: head, dWeight: headGradient, dx: a.dh)
        // Final norm on the gathered rows, then scattered back to their positions.
        NormLayer.backward(c.norm, dy: a.dh, x: a.finalIn, rstd: a.finalRstd, mean: a.finalMean, rows: P, d: d,
                           weight: finalNorm.weight, dWeight: g.finalNorm.weight, dBias: g.finalNorm.bias, dx: a.dy,
                           accumulate: false, scratch: a.reductionScratch, threads: threads)
        let dX = a.dx!
        dX.update(repeating: 0, count: rows * d)
        for (j, p) in positions.enumerated() { for i in 0..<d { dX[p * d + i] += a.dy[j * d + i] } }

        for l in (0..<c.nLayers).reversed() {
            let s = a.slot(l), layer = layers[l], gl = g.layers[l]
            // MLP branch: x_out = xMid + drop(act(h2·W_up)·W_down)
            let dDown = dropped(dX, keep: s.keepMLP, into: a.dy, count: rows * d)
            LinearLayer.backward(matmul: matmul, dy: dDown, x: s.u, rows: rows, weight: layer.down, dWeight: gl.down, dx: a.dff)
            if let dBias = gl.downBias { biasBackward(dDown, rows: rows, n: d, into: dBias, a) }
            ActivationLayer.backward(c.activation, dy: a.dff, x: s.uPre, count: rows * F, threads: threads)
            if let dBias = gl.upBias { biasBackward(a.dff, rows: rows, n: F, into: dBias, a) }
            LinearLayer.backward(matmul: matmul, dy: a.dff, x: s.h2, rows: rows, weight: layer.up, dWeight: gl.up, dx: a.dh)
            NormLayer.backward(c.norm, dy: a.dh, x: s.xMid!, rstd: s.rstd2!, mean: s.mean2!, rows: rows, d: d,
                               weight: layer.mlpNorm.weight, dWeight: gl.mlpNorm.weight, dBias: gl.mlpNorm.bias, dx: dX,
                               accumulate: true, scratch: a.reductionScratch, threads: threads)
            // Attention branch: xMid = xIn + drop(attn(h1)·Wo)
            let dOut = dropped(dX, keep: s.keepAttn, into: a.dy, count: rows * d)
            LinearLayer.backward(matmul: matmul, dy: dOut, x: s.att, rows: rows, weight: layer.out, dWeight: gl.out, dx: a.dh)
            if let dBias = gl.outBias { biasBackward(dOut, rows: rows, n: d, into: dBias, a) }
            AttentionLayer.backward(dout: a.dh, qkv: s.qkv, probs: s.probs, dqkv: a.dqkv, scratch: a.dScores,
                                    batch: B, length: L, d: d, heads: c.nHeads, matmul: matmul)
            RotaryLayer.backward(rotary, dqkv: a.dqkv, rows: rows, length: period, headDim: c.headDim, heads: c.nHeads,
                                 kvHeads: c.nKVHeads, scale: 1 / Float(c.headDim).squareRoot(), threads: threads)
            if let dBias = gl.qkvBias { biasBackward(a.dqkv, rows: rows, n: c.qkvWidth, into: dBias, a) }
            LinearLayer.backward(matmul: matmul, dy: a.dqkv, x: s.h1, rows: rows, weight: layer.qkv, dWeight: gl.qkv, dx: a.dh)
            NormLayer.backward(c.norm, dy: a.dh, x: s.xIn!, rstd: s.rstd1!, mean: s.mean1!, rows: rows, d: d,
                               weight: layer.attnNorm.weight, dWeight: gl.attnNorm.weight, dBias: gl.attnNorm.bias, dx: dX,
                               accumulate: true, scratch: a.reductionScratch, threads: threads)
        }
        EmbeddingLayer.backward(ids: ids, dx: dX, dTable: g.embed, dPositions: g.posEmbed, length: period, d: d)
    }

    private func biasBackward(_ dy: UnsafePointer<Float>, rows: Int, n: Int, into dBias: UnsafeMutablePointer<Float>,
                              _ a: ActivationArena) {
        BiasLayer.backward(dy: dy, rows: rows, n: n, dBias: dBias, scratch: a.reductionScratch, threads: matmul.threads)
    }

    /// The gradient through a dropout: dy ⊙ keep into `scratch`, or dy itself when off.
    private func dropped(_ dy: UnsafeMutablePointer<Float>, keep: UnsafeMutablePointer<Float>?,
                         into scratch: UnsafeMutablePointer<Float>, count: Int) -> UnsafeMutablePointer<Float> {
        guard let keep else { return dy }
        scratch.update(from: dy, count: count)
        DropoutLayer.apply(scratch, keep: keep, count: count, threads: matmul.threads)
        return scratch
    }
}
