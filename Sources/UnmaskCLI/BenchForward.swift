import ArgumentParser
import Unmask
#if canImport(Glibc)
import Glibc
#endif

/// `unmask bench forward`: latency of a forward pass and the share of it spent in the
/// matrix products, our kernels against OpenBLAS.
struct BenchForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Forward-pass latency at batch 1 and 8, the share of it in GEMM, ours vs OpenBLAS, side by side.",
        discussion: """
        Uses --model if given, else a random-weight model of the standard config (6 layers, \
        d=256, 4 heads, d_ff=1024, context 128, vocabulary 4096). By default the head runs \
        on one row per sequence, as in a first-hitting sampler's call; --all-positions \
        computes every position's logits (an ancestral sampler's call). Each engine is timed \
        twice: the whole forward, and the forward with everything but the matrix products \
        skipped. gemm_share is their ratio; gflops counts the forward's multiply-adds over \
        the whole time. Median of 7 interleaved batches.
        """
    )

    @Option(help: "Model directory to time (default: random weights, standard config).") var model: String?
    @Option(help: "Instead of --model, random weights in a published model's shape: gpt2, gpt2-medium, gpt2-large, gpt2-xl, llama-1b.")
    var preset: String?
    @Option(help: "Sequence length (default: the model's context).") var length: Int?
    @Option(help: "Interleaved rounds per median (1...100).") var rounds = 7
    @Option(help: "Thread counts to measure, comma-separated.") var threads = "1,2"
    @Option(help: "Batch sizes to measure, comma-separated.") var batches = "1,8"
    @Flag(help: "The head on every position, not one per sequence.") var allPositions = false
    @Flag(help: "One JSON object per line.") var json = false

    func validate() throws {
        if counts(threads, 1...64).isEmpty { throw ValidationError("--threads must list thread counts in 1...64, e.g. 1,2") }
        if counts(batches, 1...256).isEmpty { throw ValidationError("--batches must list batch sizes in 1...256, e.g. 1,8") }
        if rounds < 1 || rounds > 100 { throw ValidationError("--rounds must be in 1...100") }
        if let preset, ForwardBenchmark.presets[preset] == nil {
            throw ValidationError("--preset must be one of \(ForwardBenchmark.presets.keys.sorted().joined(separator: ", "))")
        }
        if model != nil && preset != nil { throw ValidationError("give --model or --preset, not both") }
    }

    /// Every entry must be a number in the range: "1,x" is an error, not "1".
    func counts(_ list: String, _ range: ClosedRange<Int>) -> [Int] {
        let parsed = list.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.filter { $0 != " " }) }
        if parsed.contains(where: { $0 == nil || !range.contains($0!) }) { return [] }
        return parsed.map { $0! }
    }

    func run() throws {
        let source: TensorSource
        let config: ModelConfig
        if let model {
            let loaded = try Transformer.load(directory: model)  // validates the folder first
            config = loaded.config
            source = try SafetensorsFile(path: model + "/model.safetensors")
        } else if let preset {
            config = ForwardBenchmark.presets[preset]!
            // The weights, our packed copy (the fp32 engine), the int8 copy (a quarter) and the
            // int8 engine's fp32 head must fit; OpenBLAS reads the weights in place.
            let need = Double(config.parameterCount) * 4 * 2.5, have = Double(physicalMemoryBytes())
            if have > 0 && need > 0.8 * have {
                throw UnmaskError("--preset \(preset) needs about \(fixed(need / 1e9, 1)) GB; this machine has \(fixed(have / 1e9, 1)) GB")
            }
            source = ParameterBuffer.random(config: config, seed: 1)
        } else {
            config = .standard
            source = ParameterBuffer.random(config: config, seed: 1)
        }
        let length = self.length ?? config.contextLength
        guard length >= 1 && length <= config.contextLength else {
            throw UnmaskError("--length \(length) must be in 1...\(config.contextLength) (the model's context)")
        }
        if !json {
            print("model: \(model ?? preset.map { "random weights, \($0) shape" } ?? "random weights, standard config"), \(config.parameterCount) parameters, length \(length), head on \(allPositions ? "every position" : "one row per sequence")")
            print(BenchGEMMCommand.openBLASCoreLine())
        }
        var engines = [
            ForwardBenchmark.Engine(compute: "fp32", backend: "unmask", matmul: MatMul(backend: .unmask)),
            ForwardBenchmark.Engine(compute: "fp32", backend: "openblas", matmul: MatMul(backend: .openblas)),
        ]
        if Int8GEMM.available {
            engines.append(ForwardBenchmark.Engine(compute: "int8", backend: "unmask", matmul: MatMul(backend: .unmask, compute: .int8)))
        } else if !json {
            print("int8: not measured (\(Compute.int8.unavailableReason(backend: .unmask) ?? ""))")
        }
        for t in counts(threads, 1...64) {
            for batch in counts(batches, 1...256) {
                let rows = try ForwardBenchmark.measure(config: config, source: source, batch: batch, length: length, threads: t,
                                                        engines: engines, allPositions: allPositions, rounds: rounds)
                for r in rows {
                    if json {
                        print(JSON.line([("batch", .int(r.batch)), ("length", .int(r.length)), ("threads", .int(r.threads)),
                                         ("compute", .string(r.compute)), ("backend", .string(r.backend)),
                                         ("head_rows", .int(r.headRows)), ("ms", .double(rounded(r.seconds * 1e3, 3))),
                                         ("gflops", .double(rounded(r.gflops, 1))), ("gemm_share", .double(rounded(r.gemmShare, 3))),
                                         ("gemm_gflops", .double(rounded(r.gemmGflops, 1)))]))
                    } else {
                        print("batch \(r.batch) threads \(r.threads) \(r.compute) \(r.backend): \(fixed(r.seconds * 1e3, 2)) ms, \(fixed(r.gflops, 1)) GFLOP/s, products alone \(fixed(r.productSeconds * 1e3, 2)) ms (\(fixed(r.gemmGflops, 1)) GFLOP/s), gemm_share \(fixed(r.gemmShare, 3))")
                    }
                }
                if !json, rows.count >= 2 {
                    var ratios = "  whole forward: openblas/unmask-fp32 \(fixed(rows[1].seconds / rows[0].seconds, 2))x"
                    if rows.count >= 3 { ratios += ", unmask-fp32/unmask-int8 \(fixed(rows[0].seconds / rows[2].seconds, 2))x" }
                    print(ratios)
                }
            }
        }
    }

    private func rounded(_ x: Double, _ digits: Int) -> Double {
        let p = pow(10.0, Double(digits))
        return (x * p).rounded() / p
    }
}
