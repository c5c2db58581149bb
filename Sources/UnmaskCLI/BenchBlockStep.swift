import ArgumentParser
import Unmask
import UnmaskBenchmarks

/// `unmask bench block-step`: one block-diffusion step on the exact cache, per engine.
struct BenchBlockStepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block-step",
        abstract: "Seconds of one block step on the exact key-value cache (B query rows after P cached positions), per engine, side by side.",
        discussion: """
        The call a block-diffusion decoder makes at every step: the block's B rows at \
        positions P ..< P + B against the cached keys and values of the P positions before \
        them, the head on every row of the block. Engines run in interleaved rounds (median \
        printed, the first round a warm-up). Per generated token, a step costs its seconds \
        divided by the tokens it writes (TPF): 1 with one token per call, more with the \
        parallel decoders. scripts/peers/block_step_vs_llama_cpp.py sets it beside \
        llama.cpp decoding the same-shaped autoregressive model.
        """
    )

    @Option(help: "A block-causal model directory (a Hugging Face folder or ours).") var model: String
    @Option(help: "Query rows per step (1...256; the model's block size by default).") var block: Int?
    @Option(help: "Cached positions before the block.") var prefix = 128
    @Option(help: "Engines to time: fp32, openblas, int8, bf16; comma-separated or repeated.")
    var engines: [CommaSeparated<Engine>] = [CommaSeparated([.int8, .bf16])]
    @Option(help: "Threads for the products (1...64).") var threads = 2
    @Option(help: "Timed rounds (1...1000).") var rounds = 10
    @Flag(help: benchJSONHelp) var json = false

    func validate() throws {
        if !(1...64).contains(threads) { throw ValidationError("--threads must be in 1...64") }
        if !(1...1000).contains(rounds) { throw ValidationError("--rounds must be in 1...1000") }
        if let block, !(1...256).contains(block) { throw ValidationError("--block must be in 1...256") }
        if prefix < 0 { throw ValidationError("--prefix must be at least 0") }
    }

    func run() throws {
        let report = BenchReport(json: json)
        let folder = try HuggingFaceFolder.isHuggingFace(directory: model)
            ? HuggingFaceFolder.open(directory: model) : nil
        let config = try folder?.config ?? Transformer.load(directory: model).config
        let source: TensorSource = try folder?.source ?? SafetensorsFile(path: model + "/model.safetensors")
        guard config.attention == .blockCausal, let size = config.blockSize else {
            throw UnmaskError("\(model): not a block-causal model (its attention is \(config.attention.rawValue)); bench block-step times block diffusion's cached step")
        }
        var kinds: [Engine] = []
        for e in engines.flattened() {
            if let why = e.unavailableReason {
                if !json { report.line("\(e.name): not measured (\(why.message(spelling: SettingError.commandLine)))") }
            } else {
                kinds.append(e)
            }
        }
        if kinds.isEmpty { throw UnmaskError("no engine to time on this machine") }
        let rows = try BlockStepBenchmark.run(source: source, config: config, engines: kinds, block: block ?? size, prefix: prefix,
                                              threads: threads, rounds: rounds)
        if !json {
            report.line("model: \(model), \(config.parameterCount) parameters, block size \(size); step: \(block ?? size) rows after \(prefix) cached, \(threads) threads, median of \(rounds) rounds")
            report.line("engine   rows  prefix   s/step    ms/token at TPF 1   cache")
        }
        for r in rows {
            if json {
                report.printJSON([("engine", .string(r.engine.name)), ("block_rows", .int(r.block)), ("prefix", .int(r.prefix)),
                                  ("threads", .int(r.threads)), ("seconds_per_step", .double(r.seconds)),
                                  ("rounds", .array(r.rounds.map { .double($0) })), ("cache_bytes", .int(r.cacheBytes))])
            } else {
                report.line(padRight(r.engine.name, 8) + " " + padLeft(String(r.block), 4) + "  " + padLeft(String(r.prefix), 6) + "  " + padLeft(fixed(r.seconds, 4), 8) + "  " + padLeft(fixed(r.seconds * 1000, 1), 18) + "   " + fixed(Double(r.cacheBytes) / 1e6, 1) + " MB")
            }
        }
    }
}
