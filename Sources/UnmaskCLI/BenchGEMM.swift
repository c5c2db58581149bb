import ArgumentParser
import Unmask
import UnmaskBenchmarks
#if canImport(Glibc)
import Glibc
#endif

/// `unmask bench gemm`: our GEMM against OpenBLAS on the model's real shapes, 1 and 2 threads.
struct BenchGEMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "GFLOP/s of our GEMM and OpenBLAS's, side by side, on the model's shapes.",
        discussion: """
        Shapes, for d_model=d, d_ff, vocabulary V and context L, at batch B=1 and B=8: \
        [B·L,d]×[d,3d], [B·L,d]×[d,d_ff], [B·L,d_ff]×[d_ff,d], [B,d]×[d,V], [B·L,d]×[d,V]; \
        plus squares 256, 512, 1024. Both sides compute C = A·B from row-major inputs and \
        pack whatever they need on every call (unmask_gflops); unmask_prepacked_gflops is \
        our kernel with B packed once, as the model runs its weights. Median of 5 batches. \
        --threads takes a comma-separated list (1,2), or is repeated (--threads 1 --threads 2).
        """
    )

    @Option(parsing: .unconditional, help: "d_model of the shapes.") var dModel = 256
    @Option(parsing: .unconditional, help: "d_ff of the shapes.") var dFF = 1024
    @Option(name: .customLong("vocab-size"), parsing: .unconditional, help: "Vocabulary size of the shapes (a number; --vocab is a tokenizer file elsewhere).")
    var vocabSize = 4096
    @Option(parsing: .unconditional, help: "Context length of the shapes.") var context = 128
    @Option(help: "Thread counts to measure (1...64), comma-separated or repeated.")
    var threads: [CommaSeparated<Int>] = [CommaSeparated([1, 2])]
    @Flag(help: benchJSONHelp) var json = false

    func validate() throws {
        for v in [dModel, dFF, vocabSize, context] where v < 1 || v > 1 << 16 {
            throw ValidationError("shape parameters must be in 1...65536")
        }
        // The largest operand, [8·context, max(d_ff, V)] or its transpose, in floats: the three
        // matrices of a shape must fit in memory together, with room to spare.
        let biggest = shapes.map { max($0.m * $0.k, $0.k * $0.n, $0.m * $0.n) }.max() ?? 0
        let bytes = Double(biggest) * 4 * 3
        let have = Double(physicalMemoryBytes())
        if have > 0 && bytes > 0.5 * have {
            throw ValidationError("these shapes need about \(fixed(bytes / 1e9, 1)) GB of matrices; this machine has \(fixed(have / 1e9, 1)) GB: use smaller --context, --d-ff or --vocab-size")
        }
        if threadCounts.contains(where: { !(1...64).contains($0) }) {
            throw ValidationError("--threads must list thread counts in 1...64, e.g. 1,2")
        }
    }

    var threadCounts: [Int] { threads.flattened() }

    var shapes: [(name: String, m: Int, n: Int, k: Int)] {
        GEMMBenchmark.modelShapes(dModel: dModel, dFF: dFF, vocabSize: vocabSize, context: context)
    }

    /// Which kernels OpenBLAS runs, and a warning when they are its generic ones: Debian's
    /// OpenBLAS 0.3.21 does not know recent Xeons and falls back to Prescott kernels, several
    /// times slower than its SkylakeX ones on the same machine, which would flatter our GEMM.
    static func openBLASCoreLine() -> String {
        var line = "OpenBLAS core: \(OpenBLAS.coreName)"
        if let forced = getenv("OPENBLAS_CORETYPE") { line += " (OPENBLAS_CORETYPE=\(String(cString: forced)))" }
        if OpenBLAS.runsGenericKernels {
            line += "\nwarning: OpenBLAS runs its generic \(OpenBLAS.coreName) kernels on this CPU, far below its best; comparisons against it flatter ours."
            if let core = OpenBLAS.suggestedCore { line += " Rerun with OPENBLAS_CORETYPE=\(core) for an honest reference." }
        }
        return line
    }

    func run() throws { try measure(BenchReport(json: json)) }

    func measure(_ report: BenchReport) throws {
        if OpenBLAS.runsGenericKernels {
            // Said on stderr too, so that it shows with --json.
            fputs((BenchGEMMCommand.openBLASCoreLine().split(separator: "\n").last.map(String.init) ?? "") + "\n", stderr)
        }
        if !json {
            report.line("kernel: \(MicroKernel.selected.rawValue); OpenBLAS: \(OpenBLAS.configuration)")
            report.line(BenchGEMMCommand.openBLASCoreLine())
            report.line("\(padRight("shape", 16)) \(padLeft("m", 5)) \(padLeft("n", 5)) \(padLeft("k", 5)) thr \(padLeft("unmask", 8)) \(padLeft("prepack", 8)) \(padLeft("bf16pan", 8)) \(padLeft("openblas", 8)) \(padLeft("ratio", 6))  GFLOP/s (bf16pan: prepacked B kept in BF16 panels)")
        }
        for t in threadCounts {
            var ratios: [Double] = []
            for s in shapes {
                let r = GEMMBenchmark.measure(m: s.m, n: s.n, k: s.k, threads: t)
                let ratio = r.ours / r.openblas
                ratios.append(ratio)
                if json {
                    report.printJSON([("m", .int(s.m)), ("n", .int(s.n)), ("k", .int(s.k)), ("threads", .int(t)),
                                     ("openblas_core", .string(OpenBLAS.coreName)),
                                     ("unmask_gflops", .double(round2(r.ours))),
                                     ("unmask_prepacked_gflops", .double(round2(r.prepacked))),
                                     ("unmask_bf16_panels_gflops", r.bf16Panels.map { .double(round2($0)) } ?? .null),
                                     ("openblas_gflops", .double(round2(r.openblas)))])
                } else {
                    report.line("\(padRight(s.name, 16)) \(padLeft("\(s.m)", 5)) \(padLeft("\(s.n)", 5)) \(padLeft("\(s.k)", 5)) \(padLeft("\(t)", 3)) \(padLeft(fixed(r.ours, 1), 8)) \(padLeft(fixed(r.prepacked, 1), 8)) \(padLeft(r.bf16Panels.map { fixed($0, 1) } ?? "-", 8)) \(padLeft(fixed(r.openblas, 1), 8)) \(padLeft(fixed(ratio, 2), 6))")
                }
            }
            if !json {
                report.line("threads=\(t): geometric mean ratio unmask/openblas = \(fixed(geometricMean(ratios), 3)), worst = \(fixed(ratios.min() ?? .nan, 3))")
            }
        }
    }

    func round2(_ x: Double) -> Double { (x * 100).rounded() / 100 }
}
