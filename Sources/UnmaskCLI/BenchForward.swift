import ArgumentParser
import Unmask
#if canImport(Glibc)
import Glibc
#endif

/// `unmask bench forward`: latency of a full forward pass, our kernels against OpenBLAS.
struct BenchForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Forward-pass latency at batch 1 and 8, our kernels vs OpenBLAS, side by side.",
        discussion: """
        Uses --model if given, else a random-weight model of the standard config (6 layers, \
        d=256, 4 heads, d_ff=1024, context 128, vocabulary 4096). Every position's logits \
        are computed (the heaviest case: the vocabulary head on all rows). Median of 7 \
        interleaved batches.
        """
    )

    @Option(help: "Model directory to time (default: random weights, standard config).") var model: String?
    @Option(help: "Thread counts to measure, comma-separated.") var threads = "1,2"
    @Flag(help: "One JSON object per line.") var json = false

    func validate() throws {
        if threadCounts.isEmpty { throw ValidationError("--threads must list thread counts in 1...64, e.g. 1,2") }
    }

    /// Every entry must be a number in 1...64: "1,x" is an error, not "1".
    var threadCounts: [Int] {
        let parsed = threads.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.filter { $0 != " " }) }
        if parsed.contains(where: { $0 == nil || $0! < 1 || $0! > 64 }) { return [] }
        return parsed.map { $0! }
    }

    func run() throws {
        let source: TensorSource
        let config: ModelConfig
        if let model {
            let loaded = try Transformer.load(directory: model)  // validates the folder first
            config = loaded.config
            source = try SafetensorsFile(path: model + "/model.safetensors")
        } else {
            config = .standard
            source = ParameterBuffer.random(config: config, seed: 1)
        }
        let length = config.contextLength
        if !json { print("model: \(model ?? "random weights, standard config"), \(config.parameterCount) parameters, length \(length)") }
        for t in threadCounts {
            for batch in [1, 8] {
                let times = try ForwardBenchmark.measure(config: config, source: source, batch: batch, threads: t)
                let tokensPerSecond = Double(batch * length) / times.unmask
                if json {
                    print(JSON.line([("batch", .int(batch)), ("length", .int(length)), ("threads", .int(t)),
                                     ("unmask_ms", .double((times.unmask * 1e5).rounded() / 100)),
                                     ("openblas_ms", .double((times.openblas * 1e5).rounded() / 100))]))
                } else {
                    print("batch \(batch) threads \(t): unmask \(fixed(times.unmask * 1e3, 2)) ms, openblas \(fixed(times.openblas * 1e3, 2)) ms, ratio (openblas/unmask) \(fixed(times.openblas / times.unmask, 2))x, \(fixed(tokensPerSecond, 0)) tokens/s")
                }
            }
        }
    }
}
