import ArgumentParser
import Unmask
import UnmaskBenchmarks

/// `unmask bench samplers`: samplers side by side on one model, in one run.
struct BenchSamplersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samplers",
        abstract: "NFE, seconds per sample and the share of time outside network calls, per sampler.",
        discussion: """
        Runs each sampler on the same model and seeds, generating full-context samples from \
        scratch. Uses the bundled models/denoiser (and models/corruption-detector for ddpd) when they \
        exist, else random-weight models of the standard config, which cost the same to run. \
        sampling_fraction = 1 − (time in network calls) / (wall time).
        """
    )

    static let defaultSamplers = ["fhs", "ancestral:steps=1000:cache=off", "ancestral:steps=1000",
                                  "ancestral:steps=1000:precision=float32", "confidence", "margin", "entropy", "ddpd", "p2"]

    @Option(name: .customLong("sampler"), help: "Sampler spec to run (repeatable). Default: the standard rows.")
    var samplers: [String] = []
    @Option(parsing: .unconditional, help: "Samples per sampler (1...10000).") var samples = 1
    @Option(parsing: .unconditional, help: "Tokens to generate (default: the model's context).") var length: Int?
    @Option(parsing: .unconditional, help: "Seed, 0...2^64−1.", transform: Seed.parse) var seed: Seed = Seed(1)
    @OptionGroup var engine: EngineOptions
    @OptionGroup var computeOptions: ComputeOptions
    @Flag(help: benchJSONHelp) var json = false

    func validate() throws {
        if samples < 1 || samples > 10_000 { throw ValidationError("--samples must be in 1...10000") }
    }

    func run() throws { try measure(BenchReport(json: json)) }

    func measure(_ report: BenchReport) throws {
        let specs = try (samplers.isEmpty ? BenchSamplersCommand.defaultSamplers : samplers).map { try SamplerSpec.parse($0) }
        let (denoiser, planner, origin) = try SamplerBenchmark.models(matmul: try computeOptions.matmul(engine))
        let L = length ?? denoiser.maxLength
        guard L >= 1 && L <= denoiser.maxLength else {
            throw UnmaskError("--length \(L) is outside 1...\(denoiser.maxLength) (the model's context)")
        }
        if !json { report.line("model: \(origin); length \(L); \(samples) sample(s) per sampler; backend \(engine.backend.rawValue), \(engine.threads) thread(s)") }
        var fhs: (seconds: Double, nfe: Double)?
        let bar = ProgressBar("bench samplers", total: specs.count)
        defer { bar.finish() }
        for (i, spec) in specs.enumerated() {
            bar.update(i)
            let row = try SamplerBenchmark.measure(spec, planner: planner, denoiser: denoiser, length: L, samples: samples, seed: seed.value)
            let (perSample, nfe, fraction) = (row.secondsPerSample, row.nfe, row.samplingFraction)
            if spec.kind == .fhs && spec.k == 1 { fhs = (perSample, nfe) }
            if json {
                report.printJSON([("sampler", .string(spec.description)), ("nfe", .double(nfe)),
                                  ("seconds_per_sample", .double((perSample * 1e4).rounded() / 1e4)),
                                  ("sampling_fraction", .double((fraction * 1e4).rounded() / 1e4))])
            } else {
                var line = "\(padRight(spec.description, 40)) nfe \(padLeft(fixed(nfe, 1), 7))  \(padLeft(fixed(perSample, 3), 8)) s/sample  outside network \(padLeft(fixed(100 * fraction, 1), 5))%"
                // Time against fhs, beside the NFE ratio: beating the NFE ratio means the
                // sampler itself (not just fewer network calls) is cheaper.
                if let f = fhs, spec.kind != .fhs {
                    line += "  time \(fixed(perSample / f.seconds, 1))x fhs, nfe \(fixed(nfe / f.nfe, 1))x"
                }
                report.line(line)
            }
        }
    }
}
