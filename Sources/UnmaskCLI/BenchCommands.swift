import ArgumentParser
import Unmask
import UnmaskBenchmarks

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure speed. Build with -c release before trusting any number.",
        discussion: """
        Every benchmark's output starts with the machine it runs on, as one line: \
        "# cpu: <model name> (family F model M) · date: <UTC day> · commit: <git describe> · \
        openblas core: <core>". With --json the same facts are the first fields of the \
        first object: cpu, cpu_family, cpu_model, date, commit, openblas_core. The commit is \
        `git describe --always --dirty` of the repository holding the executable, else "unknown".
        """,
        subcommands: [BenchAllCommand.self, BenchGEMMCommand.self, BenchForwardCommand.self, BenchBlockStepCommand.self, BenchSamplersCommand.self,
                      BenchTrainCommand.self, BenchTokenizerCommand.self],
        defaultSubcommand: BenchAllCommand.self
    )
}

/// Help for every benchmark's --json flag.
let benchJSONHelp = ArgumentHelp("One JSON object per line; the first also carries the machine header (cpu, cpu_family, cpu_model, date, commit, openblas_core).")

/// A benchmark's output: the machine header (`MachineHeader`) comes first, once, before the
/// first line printed — a text line, or with --json the leading fields of the first object.
/// Nothing is printed for a run that fails before its first line.
final class BenchReport {
    let json: Bool
    private var pendingHeader: MachineHeader?

    init(json: Bool) {
        self.json = json
        pendingHeader = MachineHeader.current(openBLASCore: OpenBLAS.coreName)
    }

    /// Prints a line of text (after the header line, the first time).
    func line(_ text: String) {
        if let header = pendingHeader {
            pendingHeader = nil
            print(header.line)
        }
        print(text)
    }

    /// Prints one JSON object on its line; the first one leads with the header's fields
    /// (a row's own field of the same name, such as bench gemm's openblas_core, stays).
    func printJSON(_ fields: [(String, JSONValue)]) {
        guard let header = pendingHeader else {
            print(JSON.line(fields))
            return
        }
        pendingHeader = nil
        let own = Set(fields.map { $0.0 })
        print(JSON.line(header.jsonFields.filter { !own.contains($0.0) } + fields))
    }
}

/// A value of a repeatable option that may itself list several, comma-separated:
/// `--threads 1,2` and `--threads 1 --threads 2` mean the same. Spaces are ignored.
struct CommaSeparated<Element: ExpressibleByArgument>: ExpressibleByArgument {
    let values: [Element]

    init(_ values: [Element]) { self.values = values }

    init?(argument: String) {
        var values: [Element] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let value = Element(argument: String(part.filter { $0 != " " })) else { return nil }
            values.append(value)
        }
        self.values = values
    }

    var defaultValueDescription: String { values.map { $0.defaultValueDescription }.joined(separator: ",") }
}

extension Array {
    /// Every value of a repeatable comma-separated option, in order.
    func flattened<Value>() -> [Value] where Element == CommaSeparated<Value> { flatMap { $0.values } }
}

/// An engine `bench forward` times: our fp32 GEMM, OpenBLAS, or our int8 path.
extension Engine: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { Engine.all.map(\.name) }
}

/// `unmask bench` alone: the measurements of docs/performance.md, "Measured" — gemm, forward and samplers.
struct BenchAllCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "all",
        abstract: "Run bench gemm, bench forward and bench samplers in one go (several minutes).",
        discussion: "One machine header for the three (with --json: in the first object, bench gemm's first row)."
    )
    @Flag(help: benchJSONHelp) var json = false

    func run() throws {
        let report = BenchReport(json: json)
        try BenchGEMMCommand.parse(json ? ["--json"] : []).measure(report)
        try BenchForwardCommand.parse(json ? ["--json"] : []).measure(report)
        try BenchSamplersCommand.parse(json ? ["--json"] : []).measure(report)
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
    @Flag(help: benchJSONHelp)
    var json = false
    @Argument(help: "UTF-8 text files to encode.")
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one text file") }
        if `repeat` < 1 || `repeat` > 1000 { throw ValidationError("--repeat must be in 1...1000") }
    }

    func run() throws {
        let report = BenchReport(json: json)
        let tokenizer = try vocabOptions.load()
        var texts: [[UInt8]] = []
        for path in files { texts.append(try Files.read(path)) }
        let bytes = texts.reduce(0) { $0 + $1.count }
        let (best, tokens) = try tokenizer.measureEncoding(texts, repeats: `repeat`)
        let mbps = Double(bytes) / best / 1e6
        if json {
            report.printJSON([("bytes", .int(bytes)), ("tokens", .int(tokens)), ("seconds", .double(best)),
                              ("mb_per_s", .double(mbps))])
        } else {
            report.line("encoded \(bytes) bytes -> \(tokens) tokens in \(fixed(best, 3)) s: \(fixed(mbps, 2)) MB/s (best of \(`repeat`))")
        }
    }
}
