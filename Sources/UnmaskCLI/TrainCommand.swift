import ArgumentParser
import Unmask
#if canImport(Glibc)
import Glibc
#endif

extension Objective: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model on UTF-8 text: ar (evaluator), mdm (denoiser) or planner (DDPD).",
        discussion: """
        The config comes from --config FILE, else from --init DIR's model, else from the size \
        flags (default: the standard 6-layer, d=256 model); the objective then sets attention \
        (ar: causal, others: bidirectional) and head (planner: binary). --init copies every \
        tensor of that model whose name and shape match: a denoiser adapted from an \
        autoregressive model keeps all its weights and switches its attention to bidirectional.
        Give --steps N for a reproducible run, or --minutes N for a wall-clock budget. \
        Checkpoints are written atomically every few minutes; --resume continues the last one.
        """
    )

    @Option(help: "ar | mdm | planner") var objective: Objective
    @Option(name: .customLong("corpus"), parsing: .upToNextOption, help: "UTF-8 text files (one document each).")
    var corpus: [String]
    @Option(help: "Output directory (model, checkpoint, log.jsonl, loss.svg, README.md).") var out: String
    @Option(help: "A config.json to train.") var config: String?
    @Option(name: [.customLong("init"), .customLong("init-from")], help: "Start from this model's weights (a model directory).")
    var initFrom: String?
    @Flag(help: "Continue from the checkpoint in --out.") var resume = false
    @Option(help: "Training steps.") var steps: Int?
    @Option(help: "Wall-clock budget in minutes.") var minutes: Double?
    @Option(help: "Seed for initialisation, batches, masks and noise.") var seed: UInt64 = 1
    @Option(help: "Sequences per step.") var batch = 32
    @Option(help: "Peak learning rate.") var lr = 1e-3
    @Option(help: "Warm-up steps.") var warmup = 100
    @Option(help: "Residual dropout rate in [0, 1): on each block's attention and MLP outputs, training only.") var dropout = 0.0
    @Option(help: "Minutes between validation evaluations.") var evalEvery = 2.0
    @Option(help: "Minutes between checkpoints.") var checkpointEvery = 5.0
    @Option(help: "d_model when no config is given.") var dModel = 256
    @Option(help: "Layers when no config is given.") var layers = 6
    @Option(help: "Heads when no config is given.") var heads = 4
    @Option(help: "d_ff when no config is given.") var dFF = 1024
    @Option(help: "Context length when no config is given.") var context = 128
    @OptionGroup var vocabOptions: VocabOptions
    @OptionGroup var engine: EngineOptions

    func validate() throws {
        if corpus.isEmpty { throw ValidationError("give --corpus FILE...") }
        if steps == nil && minutes == nil { throw ValidationError("give --steps N or --minutes N") }
        if let s = steps, s < 1 { throw ValidationError("--steps must be at least 1") }
        if let m = minutes, !(m > 0 && m.isFinite) { throw ValidationError("--minutes must be a positive number") }
        if batch < 1 || batch > 4096 { throw ValidationError("--batch must be in 1...4096") }
        if !(lr > 0 && lr < 1) { throw ValidationError("--lr must be in (0, 1)") }
        if warmup < 0 { throw ValidationError("--warmup must be >= 0") }
        if !(dropout >= 0 && dropout < 1) { throw ValidationError("--dropout must be in [0, 1)") }
        if !(evalEvery > 0 && evalEvery.isFinite) { throw ValidationError("--eval-every must be a positive number of minutes") }
        if !(checkpointEvery > 0 && checkpointEvery.isFinite) {
            throw ValidationError("--checkpoint-every must be a positive number of minutes")
        }
    }

    func run() throws {
        let tokenizer = try vocabOptions.load()
        var c: ModelConfig
        var initial: SafetensorsFile?
        if let config {
            c = try ModelConfig.load(path: config)
        } else if let initFrom {
            c = try ModelConfig.load(path: initFrom + "/config.json")
        } else {
            c = ModelConfig(vocabSize: tokenizer.vocabSize, dModel: dModel, nLayers: layers, nHeads: heads, dFF: dFF,
                            contextLength: context, maskTokenId: tokenizer.maskId)
        }
        c.attention = objective.attention
        c.head = objective.head
        if c.head == .binary { c.tiedEmbeddings = false }
        try c.validate()
        guard c.vocabSize == tokenizer.vocabSize, c.maskTokenId == tokenizer.maskId else {
            throw UnmaskError("the model's vocabulary (\(c.vocabSize), mask \(c.maskTokenId)) does not match the tokenizer's (\(tokenizer.vocabSize), mask \(tokenizer.maskId))")
        }
        if let initFrom { initial = try SafetensorsFile(path: initFrom + "/model.safetensors") }

        let data = try TrainingData(corpus: corpus, tokenizer: tokenizer, window: c.contextLength)
        var settings = TrainingSettings(objective: objective)
        settings.batch = batch
        settings.learningRate = lr
        settings.warmupSteps = warmup
        settings.dropout = dropout
        settings.steps = steps
        settings.minutes = minutes
        settings.seed = seed
        settings.evalEveryMinutes = evalEvery
        settings.checkpointEveryMinutes = checkpointEvery
        settings.commandLine = (["unmask"] + CommandLine.arguments.dropFirst()).joined(separator: " ")

        let params = ParameterBuffer.random(config: c, seed: seed)
        if let initial {
            var copied = 0
            for t in params.layout {
                guard let info = initial.info(t.name), info.shape == t.shape else { continue }
                (params.data + t.offset).update(from: try initial.float32(t.name, shape: t.shape), count: t.shape.reduce(1, *))
                copied += 1
            }
            fputs("initialised \(copied) of \(params.layout.count) tensors from \(initFrom!)\n", stderr)
        }
        let trainer = try Trainer(config: c, data: data, settings: settings, outputDirectory: out,
                                  initialParameters: params, matmul: engine.matmul)
        if resume { try trainer.resume() }
        let tty = isatty(2) != 0
        trainer.progress = { line in
            if tty { fputs("\r\u{1B}[K" + line, stderr) } else if line.contains(" val ") { fputs(line + "\n", stderr) }
            fflush(stderr)
        }
        fputs("training \(objective.rawValue): \(c.parameterCount) parameters, \(data.train.count) training tokens, \(data.validation.count) validation tokens\n", stderr)
        try trainer.run()
        if tty { fputs("\n", stderr) }
        print("wrote \(out)/model.safetensors, config.json, log.jsonl, loss.svg, README.md")
    }
}
