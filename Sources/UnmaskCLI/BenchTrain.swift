import ArgumentParser
import Unmask

/// `unmask bench train`: training throughput of the standard model.
struct BenchTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training tokens/s (forward + backward + AdamW) of the standard model on random tokens.",
        discussion: "Reports tokens/s and the GFLOP/s it implies (6 · parameters · tokens, plus attention)."
    )

    @Option(parsing: .unconditional, help: "Sequences per step (1...4096, and what fits in memory).") var batch = 32
    @Option(parsing: .unconditional, help: "Steps to time, after one warm-up step (1...10000).") var steps = 3
    @OptionGroup var engine: EngineOptions

    func validate() throws {
        if batch < 1 || batch > 4096 { throw ValidationError("--batch must be in 1...4096, got \(batch)") }
        if steps < 1 || steps > 10_000 { throw ValidationError("--steps must be in 1...10000, got \(steps)") }
    }

    func run() throws {
        let c = ModelConfig.standard
        let L = c.contextLength
        try Backprop.checkFits(config: c, batch: batch)
        let params = ParameterBuffer.random(config: c, seed: 1)
        let bp = Backprop(params: params, matmul: engine.matmul)
        let opt = AdamW(params: params, learningRate: 1e-3, totalSteps: 100)
        opt.threads = engine.threads
        var rng = SplitMix64(seed: 2)
        func oneStep() throws {
            let ids = (0..<(batch * L)).map { _ in Int(rng.next() % UInt64(c.vocabSize - 2)) }
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
        print("standard model (\(c.parameterCount) parameters), batch \(batch)x\(L), backend \(engine.backend.rawValue), \(engine.threads) thread(s): \(fixed(seconds, 3)) s/step, \(fixed(tokens / seconds, 0)) tokens/s, \(fixed(flops / seconds / 1e9, 1)) GFLOP/s")
    }
}
