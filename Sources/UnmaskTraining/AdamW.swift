#if canImport(Glibc)
import Glibc
#endif
import UnmaskKernels
import UnmaskModel

/// AdamW (Loshchilov & Hutter) over a ParameterBuffer, with linear warmup then cosine
/// decay to `minLearningRateFraction`, global-norm gradient clipping, and weight-decay
/// groups: matrices decay; norm weights, biases and the embedding table do not (decaying
/// an embedding shrinks rare tokens toward zero, and decaying norm gains fights the norm).
/// The moments share the parameters' layout, so one loop updates everything.
public final class AdamW {
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public var weightDecay: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    public var minLearningRateFraction: Double
    public var clipNorm: Double?
    public var step = 0
    /// Threads for the update (element-wise, and a fixed-block norm): results do not depend on it.
    public var threads = 1
    let m: UnsafeMutablePointer<Float>
    let v: UnsafeMutablePointer<Float>
    let decayMask: [Bool]  // per tensor of the layout
    let count: Int

    public init(params: ParameterBuffer, learningRate: Double, beta1: Double = 0.9, beta2: Double = 0.95,
                epsilon: Double = 1e-8, weightDecay: Double = 0.1, warmupSteps: Int = 100, totalSteps: Int,
                minLearningRateFraction: Double = 0.1, clipNorm: Double? = 1.0) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minLearningRateFraction = minLearningRateFraction
        self.clipNorm = clipNorm
        count = params.count
        m = .allocate(capacity: max(1, count)); m.initialize(repeating: 0, count: max(1, count))
        v = .allocate(capacity: max(1, count)); v.initialize(repeating: 0, count: max(1, count))
        decayMask = params.layout.map { AdamW.decays($0.name, shape: $0.shape) }
    }

    deinit { m.deallocate(); v.deallocate() }

    /// Matrices other than the embedding tables decay; vectors (norms, biases) do not.
    public static func decays(_ name: String, shape: [Int]) -> Bool {
        shape.count == 2 && name != "embed.weight" && name != "pos_embed.weight"
    }

    /// Learning rate at a step (1-based): linear warmup, then cosine to min fraction.
    public func learningRate(at step: Int) -> Double {
        if step <= warmupSteps { return learningRate * Double(step) / Double(max(1, warmupSteps)) }
        let progress = min(1, Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps)))
        let cosine = 0.5 * (1 + cos(Double.pi * progress))
        return learningRate * (minLearningRateFraction + (1 - minLearningRateFraction) * cosine)
    }

    /// One update. Returns the gradient's global norm before clipping.
    @discardableResult
    public func update(params: ParameterBuffer, grads: ParameterBuffer) -> Double {
        step += 1
        // Σ g² in fixed blocks of 2^16 elements, added in block order: the same sum for
        // any thread count (a per-thread partial would depend on the split).
        let block = 1 << 16, blocks = (count + block - 1) / block
        var partial = [Double](repeating: 0, count: blocks)
        let g = grads.data, pdata = params.data, m = m, v = v
        partial.withUnsafeMutableBufferPointer { pb in
            let out = pb.baseAddress!
            WorkerPool.shared.forEachRange(blocks, threads: threads) { _, range in
                for b in range {
                    var s = 0.0
                    for i in (b * block)..<min(count, (b + 1) * block) { s += Double(g[i]) * Double(g[i]) }
                    out[b] = s
                }
            }
        }
        var sq = 0.0
        for s in partial { sq += s }
        let norm = sq.squareRoot()
        let scale = clipNorm.map { norm > $0 ? $0 / norm : 1 } ?? 1
        let lr = learningRate(at: step)
        let b1c = 1 - pow(beta1, Double(step)), b2c = 1 - pow(beta2, Double(step))
        for (t, tensor) in params.layout.enumerated() {
            let n = tensor.shape.reduce(1, *)
            let decay = decayMask[t] ? weightDecay : 0
            let beta1 = beta1, beta2 = beta2, epsilon = epsilon
            // Each element's update reads and writes only its own entries: any split is exact.
            WorkerPool.shared.forEachRange(n, threads: n >= 1 << 14 ? threads : 1) { _, range in
                for i in (tensor.offset + range.lowerBound)..<(tensor.offset + range.upperBound) {
                    let gi = Double(g[i]) * scale
                    let mi = beta1 * Double(m[i]) + (1 - beta1) * gi
                    let vi = beta2 * Double(v[i]) + (1 - beta2) * gi * gi
                    m[i] = Float(mi)
                    v[i] = Float(vi)
                    let p = Double(pdata[i])
                    pdata[i] = Float(p - lr * ((mi / b1c) / ((vi / b2c).squareRoot() + epsilon) + decay * p))
                }
            }
        }
        return norm
    }
}
