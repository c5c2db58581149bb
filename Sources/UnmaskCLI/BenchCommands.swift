import ArgumentParser
import Unmask

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure speed. Build with -c release before trusting any number.",
        subcommands: [BenchAllCommand.self, BenchGEMMCommand.self, BenchForwardCommand.self, BenchSamplersCommand.self,
                      BenchTrainCommand.self, BenchTokenizerCommand.self],
        defaultSubcommand: BenchAllCommand.self
    )
}

/// `unmask bench` alone: the README's performance table — gemm, forward and samplers.
struct BenchAllCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "all",
        abstract: "Run bench gemm, bench forward and bench samplers in one go (several minutes)."
    )
    @Flag(help: "One JSON object per line.") var json = false

    func run() throws {
        let gemm = try BenchGEMMCommand.parse(json ? ["--json"] : [])
        try gemm.run()
        let forward = try BenchForwardCommand.parse(json ? ["--json"] : [])
        try forward.run()
        let samplers = try BenchSamplersCommand.parse(json ? ["--json"] : [])
        try samplers.run()
    }
}

struct BenchTokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Encoding throughput on one core, in MB/s of input text.",
        discussion: "Each file is encoded whole, `--repeat` times; the best run is reported."
    )

    @OptionGroup var vocabOptions: VocabOptions
    @Option(parsing: .unconditional, help: "Runs per file; the fastest is reported (1...1000).")
    var `repeat` = 3
    @Flag(help: "One JSON object per line.")
    var json = false
    @Argument(help: "UTF-8 text files to encode.")
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one text file") }
        if `repeat` < 1 || `repeat` > 1000 { throw ValidationError("--repeat must be in 1...1000") }
    }

    func run() throws {
        let tokenizer = try vocabOptions.load()
        var texts: [[UInt8]] = []
        for path in files { texts.append(try Files.read(path)) }
        let bytes = texts.reduce(0) { $0 + $1.count }
        let (best, tokens) = try tokenizer.measureEncoding(texts, repeats: `repeat`)
        let mbps = Double(bytes) / best / 1e6
        if json {
            print(JSON.line([("bytes", .int(bytes)), ("tokens", .int(tokens)), ("seconds", .double(best)),
                             ("mb_per_s", .double(mbps))]))
        } else {
            print("encoded \(bytes) bytes -> \(tokens) tokens in \(fixed(best, 3)) s: \(fixed(mbps, 2)) MB/s (best of \(`repeat`))")
        }
    }
}
