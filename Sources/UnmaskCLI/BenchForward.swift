import ArgumentParser
import Unmask
import UnmaskBenchmarks
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
        computes every position's logits (an ancestral sampler's call). Each engine's forward \
        is timed whole (median of --rounds interleaved batches), and a timer on its matrix \
        products adds up the time spent inside them during the same forwards: gemm_share = \
        time inside the products / whole forward, from one run (products run side by side \
        on the workers, attention's heads, count their wall-time share). gflops counts the \
        forward's multiply-adds over the whole time, gemm_gflops over the time inside the \
        products. --engines, --threads and --batches take comma-separated lists (1,2) or \
        are repeated (--threads 1 --threads 2).
        """
    )

    @Option(help: "Model directory to time (default: random weights, standard config).") var model: String?
    @Option(help: "Instead of --model, random weights in a published model's shape: gpt2, gpt2-medium, gpt2-large, gpt2-xl, mdlm-owt, llama-1b, llada-8b, dream-7b.")
    var preset: String?
    @Option(help: "With --preset: how the random weights are stored, f32 (in memory) or bf16/f16 (written to a temporary file and mapped, as a published checkpoint is read: packed panel by panel, never widened whole).")
    var dtype: StorageType = .f32
    @Option(help: "Engines to time: fp32 (ours), openblas, int8, bf16; comma-separated or repeated.")
    var engines: [CommaSeparated<Engine>] = [CommaSeparated(Engine.all)]
    @Option(help: "Sequence length (default: the model's context).") var length: Int?
    @Option(help: "Interleaved rounds per median (1...100).") var rounds = 7
    @Option(help: "Thread counts to measure (1...64), comma-separated or repeated.")
    var threads: [CommaSeparated<Int>] = [CommaSeparated([1, 2])]
    @Option(help: "Batch sizes to measure (1...256), comma-separated or repeated.")
    var batches: [CommaSeparated<Int>] = [CommaSeparated([1, 8])]
    @Flag(help: "The head on every position, not one per sequence.") var allPositions = false
    @Flag(help: benchJSONHelp) var json = false

    func validate() throws {
        if threadCounts.contains(where: { !(1...64).contains($0) }) {
            throw ValidationError("--threads must list thread counts in 1...64, e.g. 1,2")
        }
        if batchSizes.contains(where: { !(1...256).contains($0) }) {
            throw ValidationError("--batches must list batch sizes in 1...256, e.g. 1,8")
        }
        if rounds < 1 || rounds > 100 { throw ValidationError("--rounds must be in 1...100") }
        if let preset, ForwardBenchmark.presets[preset] == nil {
            throw ValidationError("--preset must be one of \(ForwardBenchmark.presets.keys.sorted().joined(separator: ", "))")
        }
        if model != nil && preset != nil { throw ValidationError("give --model or --preset, not both") }
        if dtype != .f32 && preset == nil { throw ValidationError("--dtype is for --preset (a --model is timed as stored)") }
    }

    var threadCounts: [Int] { threads.flattened() }
    var batchSizes: [Int] { batches.flattened() }
    var engineNames: [String] { engines.flattened().map(\.name) }

    func run() throws { try measure(BenchReport(json: json)) }

    func measure(_ report: BenchReport) throws {
        let source: TensorSource
        let config: ModelConfig
        var temporary: String?
        defer { if let temporary { removeRandomModel(temporary) } }
        if let model {
            if HuggingFaceFolder.isHuggingFace(directory: model) {
                let folder = try HuggingFaceFolder.open(directory: model)
                try Transformer.checkFinite(config: folder.config, source: folder.source, path: model)
                (config, source) = (folder.config, folder.source)
            } else {
                let loaded = try Transformer.load(directory: model)  // validates the folder first
                config = loaded.config
                source = try SafetensorsFile(path: model + "/model.safetensors")
            }
        } else if let preset {
            config = ForwardBenchmark.presets[preset]!
            // Every engine's model is alive at once, each with its arena at the largest shape.
            let batch = batchSizes.max() ?? 1, length = self.length ?? config.contextLength
            let need = ForwardBenchmark.bytesNeeded(config: config, dtype: dtype, engines: engines.flattened(), batch: batch,
                                                    length: length, allPositions: allPositions, threads: threadCounts.max() ?? 1)
            let have = Double(physicalMemoryBytes())
            if !MemoryEstimate.fits(need, fraction: 0.85) {
                throw UnmaskError("--preset \(preset) with --dtype \(dtype.rawValue) and --engines \(engineNames.joined(separator: ",")) needs about \(fixed(need / 1e9, 1)) GB; this machine has \(fixed(have / 1e9, 1)) GB (try --dtype bf16 --engines int8)")
            }
            if dtype == .f32 {
                source = ParameterBuffer.random(config: config, seed: 1)
            } else {
                let dir = try makeTemporaryDirectory()
                temporary = dir
                if !json { report.line("writing the random \(preset) weights in \(dtype.rawValue) to \(dir) ...") }
                try ForwardBenchmark.writeRandomModel(config: config, directory: dir, dtype: dtype, seed: 1)
                source = try SafetensorsFile(path: dir + "/model.safetensors")
            }
        } else {
            config = .standard
            source = ParameterBuffer.random(config: config, seed: 1)
        }
        let length = self.length ?? config.contextLength
        guard length >= 1 && length <= config.contextLength else {
            throw UnmaskError("--length \(length) must be in 1...\(config.contextLength) (the model's context)")
        }
        if !json {
            report.line("model: \(model ?? preset.map { "random weights, \($0) shape" } ?? "random weights, standard config"), \(config.parameterCount) parameters, length \(length), head on \(allPositions ? "every position" : "one row per sequence")")
            report.line(BenchGEMMCommand.openBLASCoreLine())
        }
        // An engine is timed wherever its kernel runs: bf16 even where `--compute bf16` is
        // refused as slower (the row is the measurement behind that refusal).
        let kinds: [Engine] = self.engines.flattened()
        var engines: [Engine] = []
        for e in kinds {
            let runs = e.compute == .int8 ? Int8GEMM.available : e.compute == .bf16 ? BF16GEMM.available : true
            if runs {
                engines.append(e)
            } else if !json {
                report.line("\(e.name): not measured (\(e.unavailableReason?.message(spelling: SettingError.commandLine) ?? ""))")
            }
        }
        if engines.isEmpty {
            throw UnmaskError("no engine to time on this machine (--engines \(engineNames.joined(separator: ",")))")
        }
        // The fp32 FMA peak at each thread count, measured here, for the fraction each row
        // reaches (its GFLOP/s over the peak: the whole call, head and attention included).
        // A bf16 row is a fraction of the BF16 dot-product peak, measured the same way.
        var peaks: [Int: Double] = [:], bf16Peaks: [Int: Double] = [:]
        for t in threadCounts { peaks[t] = PeakRate.fp32FMA(threads: t) }
        if engines.contains(.bf16) { for t in threadCounts { bf16Peaks[t] = PeakRate.bf16Dot(threads: t) } }
        if !json {
            if PeakRate.available {
                report.line("fp32 FMA peak (register-resident loop, 12 chains of 512-bit FMA): " + threadCounts.map {
                    "\(fixed(peaks[$0] ?? 0, 1)) GFLOP/s on \($0) thread(s)" }.joined(separator: ", "))
            } else {
                report.line("fp32 FMA peak: not measured (the loop needs AVX-512F)")
            }
            if !bf16Peaks.isEmpty {
                report.line("BF16 dot-product peak (the same loop of vdpbf16ps): " + threadCounts.map {
                    "\(fixed(bf16Peaks[$0] ?? 0, 1)) GFLOP/s on \($0) thread(s)" }.joined(separator: ", "))
            }
        }
        for t in threadCounts {
            for batch in batchSizes {
                let rows = try ForwardBenchmark.measure(config: config, source: source, batch: batch, length: length, threads: t,
                                                        engines: engines, allPositions: allPositions, rounds: rounds)
                for r in rows {
                    if json {
                        report.printJSON([("batch", .int(r.batch)), ("length", .int(r.length)), ("threads", .int(r.threads)),
                                         ("compute", .string(r.compute)), ("backend", .string(r.backend)),
                                         ("head_rows", .int(r.headRows)), ("ms", .double(rounded(r.seconds * 1e3, 3))),
                                         ("gflops", .double(rounded(r.gflops, 1))), ("gemm_share", .double(rounded(r.gemmShare, 3))),
                                         ("gemm_gflops", .double(rounded(r.gemmGflops, 1))),
                                         ("fma_peak_gflops", peaks[t].map { .double(rounded($0, 1)) } ?? .null),
                                         ("bf16_peak_gflops", bf16Peaks[t].map { .double(rounded($0, 1)) } ?? .null),
                                         ("peak_fraction", (r.engine.compute == .fp32 ? peaks[t] : r.engine.compute == .bf16 ? bf16Peaks[t] : nil)
                                            .map { .double(rounded(r.gflops / $0, 3)) } ?? .null)])
                    } else {
                        // fp32 rows are bounded by the FMA peak, bf16 rows by the BF16 one
                        // (int8 runs on vpdpbusd, whose peak is not measured here).
                        let fraction = r.engine.compute == .fp32 ? peaks[t].map { ", \(fixed(100 * r.gflops / $0, 1)) % of the FMA peak" } ?? ""
                            : r.engine.compute == .bf16 ? bf16Peaks[t].map { ", \(fixed(100 * r.gflops / $0, 1)) % of the BF16 peak" } ?? "" : ""
                        report.line("batch \(r.batch) threads \(r.threads) \(r.compute) \(r.backend): \(fixed(r.seconds * 1e3, 2)) ms, \(fixed(r.gflops, 1)) GFLOP/s\(fraction), inside products \(fixed(r.productSeconds * 1e3, 2)) ms (\(fixed(r.gemmGflops, 1)) GFLOP/s), gemm_share \(fixed(r.gemmShare, 3)) (inside products / whole)")
                    }
                }
                if !json {
                    func seconds(_ engine: Engine) -> Double? { rows.first { $0.engine == engine }?.seconds }
                    var ratios: [String] = []
                    if let ours = seconds(.fp32), let blas = seconds(.openblas) {
                        ratios.append("openblas/unmask-fp32 \(fixed(blas / ours, 2))x")
                    }
                    if let ours = seconds(.fp32), let int8 = seconds(.int8) {
                        ratios.append("unmask-fp32/unmask-int8 \(fixed(ours / int8, 2))x")
                    }
                    if let ours = seconds(.fp32), let bf16 = seconds(.bf16) {
                        ratios.append("unmask-fp32/unmask-bf16 \(fixed(ours / bf16, 2))x")
                    }
                    if !ratios.isEmpty { report.line("  whole forward: " + ratios.joined(separator: ", ")) }
                }
            }
        }
        // Peak resident memory of the whole run: every engine's model is alive at once.
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        if !json { report.line("peak memory (max RSS, all \(engines.count) engine(s) loaded together): \(fixed(Double(usage.ru_maxrss) * 1024 / 1e9, 2)) GB") }
    }

    func makeTemporaryDirectory() throws -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/unmask-bench-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw UnmaskError("cannot make a temporary directory in \(base)") }
        return String(cString: made)
    }

    func removeRandomModel(_ dir: String) {
        for file in ["model.safetensors", "config.json"] { unlink(dir + "/" + file) }
        rmdir(dir)
    }

    private func rounded(_ x: Double, _ digits: Int) -> Double {
        let p = pow(10.0, Double(digits))
        return (x * p).rounded() / p
    }
}
