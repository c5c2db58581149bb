import ArgumentParser
import Unmask
#if canImport(Glibc)
import Glibc
#endif

extension Objective: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model on UTF-8 text: ar (evaluator), mdm or bd3 (denoiser), or corruption-detector (DDPD).",
        discussion: """
        The config comes from --config FILE, else from --init DIR's model, else from the size \
        flags (default: the standard 6-layer, d=256 model); the objective then sets attention \
        (ar: causal, others: bidirectional) and head (corruption-detector: binary). --init copies every \
        tensor of that model whose name and shape match: a denoiser adapted from an \
        autoregressive model keeps all its weights and switches its attention to bidirectional.
        Give --steps N for a reproducible run, or --minutes N for a wall-clock budget. \
        Checkpoints are written atomically every few minutes; --resume continues the last one. \
        Ctrl-C (or SIGTERM) writes a checkpoint before exiting (status 130); a second Ctrl-C \
        stops at once, and like kill -9 may lose up to --checkpoint-every minutes. \
        --out must be a new or empty folder, unless --resume continues the run in it or \
        --force overwrites what is there.
        """
    )

    @Option(help: "ar | mdm | bd3 | corruption-detector") var objective: Objective
    @Option(name: .customLong("corpus"), parsing: .upToNextOption, help: "UTF-8 text files (one document each).")
    var corpus: [String]
    @Option(help: "Output directory (model, checkpoint, log.jsonl, loss.svg, README.md).") var out: String
    @Option(help: "A config.json to train.") var config: String?
    @Option(name: [.customLong("init"), .customLong("init-from")], help: "Start from this model's weights (a model directory).")
    var initFrom: String?
    @Flag(help: "Continue from the checkpoint in --out.") var resume = false
    @Flag(help: "Train into a non-empty --out, overwriting the model, card, log and checkpoint there.") var force = false
    @Option(parsing: .unconditional, help: "Training steps (1...100000000).") var steps: Int?
    @Flag(help: "Train a label-conditional denoiser: each --corpus file is a class (named after the file), read as a token at position 0.")
    var labels = false
    @Option(parsing: .unconditional, help: "With --labels: probability of the null label instead of the class, in [0, 1) (default 0.1).")
    var labelDropout = 0.1
    @Option(parsing: .unconditional, help: "Objective bd3: positions per block of block-causal attention (divides the context; default: the --init model's).")
    var blockSize: Int?
    @Option(parsing: .unconditional, help: "Objective bd3: the range FROM-TO each block's mask rate is drawn from in training (default 0.3-0.8; validation uses 0-1).")
    var maskRates: String?
    @Option(parsing: .unconditional, help: "Wall-clock budget in minutes.") var minutes: Double?
    @Option(parsing: .unconditional, help: "Seed for initialisation, batches, masks and noise, 0...2^64−1.", transform: Seed.parse) var seed: Seed = Seed(1)
    @Option(parsing: .unconditional, help: "Sequences per step (1...4096, and what fits in memory).") var batch = 32
    @Option(parsing: .unconditional, help: "Peak learning rate.") var lr = 1e-3
    @Option(parsing: .unconditional, help: "Warm-up steps.") var warmup = 100
    @Option(parsing: .unconditional, help: "Residual dropout rate in [0, 1): on each block's attention and MLP outputs, training only.") var dropout = 0.0
    @Option(parsing: .unconditional, help: "Minutes between validation evaluations.") var evalEvery = 2.0
    @Option(parsing: .unconditional, help: "Minutes between checkpoints.") var checkpointEvery = 5.0
    @Option(parsing: .unconditional, help: "d_model when no config is given.") var dModel = 256
    @Option(parsing: .unconditional, help: "Layers when no config is given.") var layers = 6
    @Option(parsing: .unconditional, help: "Heads when no config is given.") var heads = 4
    @Option(parsing: .unconditional, help: "d_ff when no config is given.") var dFF = 1024
    @Option(parsing: .unconditional, help: "Context length when no config is given.") var context = 128
    @OptionGroup var vocabOptions: VocabOptions
    @OptionGroup var engine: EngineOptions

    func validate() throws {
        if corpus.isEmpty { throw ValidationError("give --corpus FILE...") }
        if steps == nil && minutes == nil { throw ValidationError("give --steps N or --minutes N") }
        if let s = steps, s < 1 || s > 100_000_000 { throw ValidationError("--steps must be in 1...100000000") }
        if let m = minutes, !(m > 0 && m <= 1e7) { throw ValidationError("--minutes must be a positive number (at most 10000000)") }
        if resume && force { throw ValidationError("--resume continues the run in --out; --force starts over: give one") }
        if batch < 1 || batch > 4096 { throw ValidationError("--batch must be in 1...4096") }
        if !(lr > 0 && lr < 1) { throw ValidationError("--lr must be in (0, 1)") }
        if warmup < 0 || warmup > 100_000_000 { throw ValidationError("--warmup must be in 0...100000000") }
        if !(dropout >= 0 && dropout < 1) { throw ValidationError("--dropout must be in [0, 1)") }
        if !(labelDropout >= 0 && labelDropout < 1) { throw ValidationError("--label-dropout must be in [0, 1)") }
        if labels && corpus.count < 2 { throw ValidationError("--labels needs at least two --corpus files (one class each)") }
        if !(evalEvery > 0 && evalEvery.isFinite) { throw ValidationError("--eval-every must be a positive number of minutes") }
        if !(checkpointEvery > 0 && checkpointEvery.isFinite) {
            throw ValidationError("--checkpoint-every must be a positive number of minutes")
        }
    }

    func run() throws {
        try TrainingSetup.checkOutputFolder(out, resume: resume, force: force, inputs: corpus + [config].compactMap { $0 },
                                            initFrom: initFrom)
        let tokenizer = try vocabOptions.load()
        let sizes = ModelConfig(vocabSize: tokenizer.vocabSize, dModel: dModel, nLayers: layers, nHeads: heads, dFF: dFF,
                                contextLength: context, maskTokenId: tokenizer.maskId)
        let classLabels = labels ? try ClassLabels(classes: corpus.map(ClassLabels.className(ofCorpusFile:)), firstId: tokenizer.vocabSize) : nil
        if let classLabels, Set(classLabels.classes).count != corpus.count { throw UnmaskError("--labels: two --corpus files have the same name") }
        let c = try TrainingSetup.config(configFile: config, initFrom: initFrom, sizes: sizes, objective: objective,
                                         tokenizer: tokenizer, batch: batch, labels: classLabels?.count ?? 0, blockSize: blockSize)
        let data = try TrainingData(corpus: corpus, tokenizer: tokenizer, window: c.contextLength, labeled: labels)
        if !data.validationHeldOut { fputs("warning: \(data.validationDescription)\n", stderr) }
        var settings = TrainingSettings(objective: objective)
        settings.batch = batch
        settings.learningRate = lr
        settings.warmupSteps = warmup
        settings.dropout = dropout
        settings.steps = steps
        settings.minutes = minutes
        settings.seed = seed.value
        settings.evalEveryMinutes = evalEvery
        settings.checkpointEveryMinutes = checkpointEvery
        settings.commandLine = (["unmask"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        settings.labels = classLabels
        settings.labelDropout = labelDropout
        if let maskRates {
            guard objective == .bd3 else { throw UnmaskError("--mask-rates is for objective bd3") }
            let ends = maskRates.split(separator: "-", omittingEmptySubsequences: false).map { Double($0) }
            guard ends.count == 2, let a = ends[0], let b = ends[1], a.isFinite, b.isFinite, 0 <= a, a < b, b <= 1 else {
                throw UnmaskError("--mask-rates must be FROM-TO with 0 <= FROM < TO <= 1, got \(maskRates)")
            }
            settings.maskRates = a...b
        }

        let (params, copied) = try TrainingSetup.initialParameters(config: c, seed: seed.value, initFrom: initFrom)
        if let initFrom { fputs("initialised \(copied) of \(params.layout.count) tensors from \(initFrom)\n", stderr) }
        if force { TrainingSetup.clearPreviousRun(in: out) }
        if let classLabels {
            try Files.createDirectory(out)
            try Files.writeAtomically(Array(classLabels.serialized.utf8), to: out + "/" + ClassLabels.fileName)
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
        Interrupts.watch()
        trainer.stopRequested = { Interrupts.received != nil }
        try trainer.run()
        if tty { fputs("\n", stderr) }
        if trainer.interrupted {
            fputs("interrupted at step \(trainer.stepsDone): checkpoint written to \(out)/checkpoint.safetensors; continue with the same command and --resume\n", stderr)
            Glibc.exit(130)
        }
        print("wrote \(out)/model.safetensors, config.json, log.jsonl, loss.svg, README.md")
    }
}
