import UnmaskKernels

/// The MLP's activation (GELU, tanh form, or SiLU), forward and backward, element-wise
/// over the threads. The functions themselves are VectorMath's 16-lane versions.
enum ActivationLayer {
    /// y = act(x), (count) floats; y may be x (inference works in place; training keeps
    /// the input for the backward pass).
    static func forward(_ kind: ModelConfig.Activation, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                        count: Int, threads: Int) {
        Parallel.chunks(count, threads: threads) { range in
            let n = range.count, src = x + range.lowerBound, dst = y + range.lowerBound
            if UnsafePointer(dst) != src { dst.update(from: src, count: n) }
            switch kind {
            case .gelu: VectorMath.gelu(dst, count: n)
            case .silu: VectorMath.silu(dst, count: n)
            }
        }
    }

    /// up ← act(gate) ⊙ up (SwiGLU with SiLU), in place over `up`; `gate` is overwritten.
    static func gatedForward(_ kind: ModelConfig.Activation, gate: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>,
                             count: Int, threads: Int) {
        Parallel.chunks(count, threads: threads) { range in
            let n = range.count, g = gate + range.lowerBound, u = up + range.lowerBound
            switch kind {
            case .gelu: VectorMath.gelu(g, count: n)
            case .silu: VectorMath.silu(g, count: n)
            }
            for i in 0..<n { u[i] *= g[i] }
        }
    }

    /// dy ← dy ⊙ act′(x), in place.
    static func backward(_ kind: ModelConfig.Activation, dy: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                         count: Int, threads: Int) {
        Parallel.chunks(count, threads: threads) { range in
            switch kind {
            case .gelu: VectorMath.geluBackward(dy + range.lowerBound, pre: x + range.lowerBound, count: range.count)
            case .silu: VectorMath.siluBackward(dy + range.lowerBound, pre: x + range.lowerBound, count: range.count)
            }
        }
    }
}

/// Residual dropout's effect in the forward pass: y ← y ⊙ keep, where keep holds 0 or
/// 1/(1 − p) per entry (drawn by the trainer, which owns the random streams); and the
/// same product for the gradient.
enum DropoutLayer {
    static func apply(_ y: UnsafeMutablePointer<Float>, keep: UnsafePointer<Float>, count: Int, threads: Int) {
        Parallel.chunks(count, threads: threads) { range in for i in range { y[i] *= keep[i] } }
    }
}
