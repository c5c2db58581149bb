import ArgumentParser
import Unmask
import UnmaskBenchmarks

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
        let (seconds, flops) = try TrainingBenchmark.measure(config: c, batch: batch, steps: steps, matmul: engine.matmul)
        let tokens = Double(batch * c.contextLength)
        BenchReport(json: false).line("standard model (\(c.parameterCount) parameters), batch \(batch)x\(c.contextLength), backend \(engine.backend.rawValue), \(engine.threads) thread(s): \(fixed(seconds, 3)) s/step, \(fixed(tokens / seconds, 0)) tokens/s, \(fixed(flops / seconds / 1e9, 1)) GFLOP/s")
    }
}
