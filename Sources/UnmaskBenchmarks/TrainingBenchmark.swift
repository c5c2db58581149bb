import UnmaskDiffusion
import UnmaskKernels
import UnmaskModel
import UnmaskSupport
import UnmaskTraining

/// `unmask bench train` as a library call: the time of a full training step (forward,
/// backward, AdamW) on random tokens.
public enum TrainingBenchmark {
    /// Mean seconds per step over `steps` steps after one warm-up step, and the FLOPs of a
    /// step (6 · parameters · tokens, plus attention's 12 · layers · B · L² · d).
    public static func measure(config c: ModelConfig, batch: Int, steps: Int, matmul: MatMul) throws -> (secondsPerStep: Double, flopsPerStep: Double) {
        try TrainingStep.checkFits(config: c, batch: batch)
        let L = c.contextLength
        let params = ParameterBuffer.random(config: c, seed: 1)
        let bp = TrainingStep(params: params, matmul: matmul)
        let opt = AdamW(params: params, learningRate: 1e-3, totalSteps: 100)
        opt.threads = matmul.threads
        var rng = SplitMix64(seed: 2)
        func oneStep() throws {
            // Any ids will do (the time does not depend on them; specials need not be the last ids).
            let ids = (0..<(batch * L)).map { _ in Int(rng.next() % UInt64(c.vocabSize)) }
            let positions = (0..<batch).flatMap { b in (0..<(L - 1)).map { b * L + $0 } }
            bp.zeroGradients()
            _ = try bp.step(ids: ids, batch: batch, length: L,
                            targets: .tokens(positions: positions, targets: positions.map { ids[$0 + 1] },
                                             weights: positions.map { _ in 1 / Float(positions.count) }, excluded: c.maskTokenId))
            opt.update(params: params, grads: bp.grads)
        }
        try oneStep()
        let t0 = monotonicSeconds()
        for _ in 0..<steps { try oneStep() }
        let seconds = (monotonicSeconds() - t0) / Double(steps)
        let tokens = Double(batch * L)
        let flops = 6 * Double(c.parameterCount) * tokens + 12 * Double(c.nLayers * batch * L * L * c.dModel)
        return (seconds, flops)
    }
}
