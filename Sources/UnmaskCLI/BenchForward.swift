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
                var rng = SplitMix64(seed: 5)
                let ids = (0..<(batch * length)).map { _ in Int(rng.next() % UInt64(config.vocabSize)) }
                let ours = try Transformer(config: config, source: source, matmul: MatMul(backend: .unmask, threads: t))
                let blas = try Transformer(config: config, source: source, matmul: MatMul(backend: .openblas, threads: t))
                let times = interleavedMedianSeconds([
                    { _ = try! ours.forward(ids: ids, batch: batch, length: length) },
                    { _ = try! blas.forward(ids: ids, batch: batch, length: length) },
                ], rounds: 7, batchSeconds: 0.1, between: { i in
                    // Let the other side's spinning workers sleep first (see bench gemm).
                    if t > 1 { usleep(i == 1 ? 150_000 : useconds_t(WorkerPool.spinSeconds * 5e6)) }
                })
                let tokensPerSecond = Double(batch * length) / times[0]
                if json {
                    print(JSON.line([("batch", .int(batch)), ("length", .int(length)), ("threads", .int(t)),
                                     ("unmask_ms", .double((times[0] * 1e5).rounded() / 100)),
                                     ("openblas_ms", .double((times[1] * 1e5).rounded() / 100))]))
                } else {
                    print("batch \(batch) threads \(t): unmask \(fixed(times[0] * 1e3, 2)) ms, openblas \(fixed(times[1] * 1e3, 2)) ms, ratio (openblas/unmask) \(fixed(times[1] / times[0], 2))x, \(fixed(tokensPerSecond, 0)) tokens/s")
                }
            }
        }
    }
}
