#if canImport(Glibc)
import Glibc
#endif
import UnmaskDiffusion
import UnmaskKernels
import UnmaskModel
import UnmaskSupport

/// Settings of one training run.
public struct TrainingSettings: Sendable {
    public var objective: Objective
    public var batch = 32
    public var learningRate = 1e-3
    public var weightDecay = 0.1
    /// Residual dropout rate (TrainingStep.dropout); 0 is off.
    public var dropout = 0.0
    public var warmupSteps = 100
    public var steps: Int?          // a fixed number of steps, or
    public var minutes: Double?     // a wall-clock budget (steps estimated after warm-up)
    public var seed: UInt64 = 1
    public var evalEveryMinutes = 2.0
    public var checkpointEveryMinutes = 5.0
    public var validationWindows = 16
    public var schedule: NoiseSchedule = .linear
    public var commandLine = ""
    /// A label-conditional denoiser (objective mdm): each window is its file's class token
    /// followed by context − 1 tokens of text; the token is the null label with
    /// probability `labelDropout`.
    public var labels: ClassLabels?
    public var labelDropout = 0.1
    /// bd3: the range training draws each block's t from (BD3-LM's clipped schedule).
    public var maskRates: ClosedRange<Double> = 0.3...0.8
    /// Stop (after writing a checkpoint) once this many steps are done, as if killed.
    public var stopAfterSteps: Int?

    public init(objective: Objective) { self.objective = objective }
}

/// The training loop: batches from (seed, step), forward + backward, AdamW, periodic
/// validation, a JSONL log and an SVG loss curve, atomic checkpoints every few minutes.
///
/// Files in the output directory:
///   config.json, model.safetensors   the model (written at the end, atomically)
///   checkpoint.safetensors           parameters + AdamW moments + progress, every few minutes
///   log.jsonl                        one line per logged step: step, seconds, tokens, losses, lr
///   loss.svg                         train and validation loss against wall-clock seconds
///   best/                            the model at its best validation loss so far
/// A `kill -9` loses at most one checkpoint interval; `--resume` continues from the last
/// checkpoint, and because every batch is a function of (seed, step), it continues with
/// exactly the batches the uninterrupted run would have used.
public final class Trainer {
    public let settings: TrainingSettings
    public let config: ModelConfig
    public let data: TrainingData
    public let outputDirectory: String
    public let params: ParameterBuffer
    let trainingStep: TrainingStep
    var optimizer: AdamW
    var step = 0
    var elapsedBefore = 0.0   // seconds spent in earlier (resumed) runs
    var tokensSeen = 0
    var totalSteps: Int
    var log: [JSONValue] = []
    var bestValidation = Double.infinity
    public var progress: ((String) -> Void)?
    /// Polled after every step; when it returns true the run writes a checkpoint and its
    /// logs and returns early (`interrupted` is then true). The CLI wires it to Ctrl-C.
    public var stopRequested: () -> Bool = { false }
    public private(set) var interrupted = false
    /// The step the run has reached.
    public var stepsDone: Int { step }

    public init(config: ModelConfig, data: TrainingData, settings: TrainingSettings, outputDirectory: String,
                initialParameters: ParameterBuffer? = nil, matmul: MatMul) throws {
        self.config = config
        self.data = data
        self.settings = settings
        self.outputDirectory = outputDirectory
        params = initialParameters ?? ParameterBuffer.random(config: config, seed: settings.seed)
        trainingStep = TrainingStep(params: params, matmul: matmul)
        totalSteps = settings.steps ?? 1_000_000
        optimizer = AdamW(params: params, learningRate: settings.learningRate, weightDecay: settings.weightDecay,
                          warmupSteps: settings.warmupSteps, totalSteps: totalSteps)
        optimizer.threads = matmul.threads
        trainingStep.dropout = Float(settings.dropout)  // validation (forward only) has none: it sees the whole model
        try Files.createDirectory(outputDirectory)
        // A run killed during an atomic write leaves NAME.tmp-PID behind: clear them.
        Files.removeStaleTemporaries(in: outputDirectory)
        Files.removeStaleTemporaries(in: outputDirectory + "/best")
        // Fail now, not after an hour, if the directory cannot be written.
        try Files.writeAtomically(Array("ok\n".utf8), to: outputDirectory + "/.write-test")
        unlink(outputDirectory + "/.write-test")
    }

    var checkpointPath: String { outputDirectory + "/checkpoint.safetensors" }

    // MARK: Checkpoints

    public func saveCheckpoint(elapsed: Double) throws {
        var tensors: [(name: String, shape: [Int], data: UnsafeBufferPointer<Float>)] = []
        for t in params.layout {
            let n = t.shape.reduce(1, *)
            tensors.append((t.name, t.shape, UnsafeBufferPointer(start: UnsafePointer(params.data + t.offset), count: n)))
            tensors.append(("adam.m." + t.name, t.shape, UnsafeBufferPointer(start: UnsafePointer(optimizer.m + t.offset), count: n)))
            tensors.append(("adam.v." + t.name, t.shape, UnsafeBufferPointer(start: UnsafePointer(optimizer.v + t.offset), count: n)))
        }
        let metadata: [(String, String)] = [
            ("config", config.json.serialized()), ("objective", settings.objective.rawValue),
            ("step", String(step)), ("elapsed_seconds", String(elapsed)), ("tokens_seen", String(tokensSeen)),
            ("total_steps", String(totalSteps)), ("seed", String(settings.seed)), ("batch", String(settings.batch)),
            ("dropout", String(settings.dropout)), ("log", JSONValue.array(log).serialized()),
        ]
        try SafetensorsFile.write(path: checkpointPath, tensors: tensors, metadata: metadata)
    }

    /// Restores parameters, optimiser moments and progress from the checkpoint.
    public func resume() throws {
        guard Files.exists(checkpointPath) else { throw SettingError(.resume, "⟨resume⟩: no checkpoint at \(checkpointPath)") }
        let file = try SafetensorsFile(path: checkpointPath)
        func meta(_ key: String) -> String? { file.metadata.first { $0.key == key }?.value }
        guard let configText = meta("config"), let saved = try? ModelConfig.parse(try JSON.parse(configText)) else {
            throw UnmaskError("\(checkpointPath): not a training checkpoint")
        }
        guard saved == config else {
            throw SettingError(.resume, "⟨resume⟩: \(checkpointPath) is a checkpoint of another config (\(configText))")
        }
        guard meta("objective") == settings.objective.rawValue, meta("seed") == String(settings.seed),
              meta("batch") == String(settings.batch) else {
            throw SettingError(.resume, "⟨resume⟩: the checkpoint was made with another objective, seed or batch (objective \(meta("objective") ?? "?"), seed \(meta("seed") ?? "?"), batch \(meta("batch") ?? "?"))")
        }
        // Checkpoints from before dropout existed have no entry: they were made without it.
        let savedDropout = Double(meta("dropout") ?? "0") ?? 0
        guard savedDropout == settings.dropout else {
            throw SettingError(.resume, "⟨resume⟩: the checkpoint was made with ⟨dropout⟩ \(savedDropout), not \(settings.dropout)")
        }
        for t in params.layout {
            let n = t.shape.reduce(1, *)
            (params.data + t.offset).update(from: try file.float32(t.name, shape: t.shape), count: n)
            (optimizer.m + t.offset).update(from: try file.float32("adam.m." + t.name, shape: t.shape), count: n)
            (optimizer.v + t.offset).update(from: try file.float32("adam.v." + t.name, shape: t.shape), count: n)
        }
        step = Int(meta("step") ?? "0") ?? 0
        elapsedBefore = Double(meta("elapsed_seconds") ?? "0") ?? 0
        tokensSeen = Int(meta("tokens_seen") ?? "0") ?? 0
        totalSteps = Int(meta("total_steps") ?? "") ?? totalSteps
        optimizer.totalSteps = totalSteps
        optimizer.step = step
        if let logText = meta("log"), let entries = try? JSON.parse(logText).arrayValue { log = entries }
    }

    // MARK: Loop

    /// Mean validation loss per token (nats) over the fixed validation windows.
    public func validationLoss() throws -> Double {
        let windows = validationBatchWindows()
        guard !windows.isEmpty else { return .nan }
        var total = 0.0
        // Fixed masks and noise: the validation batch uses a step number no training step has.
        for (k, chunk) in stride(from: 0, to: windows.count, by: 8).enumerated() {
            let part = Array(windows[chunk..<min(windows.count, chunk + 8)])
            let (ids, targets) = settings.objective.batch(part, length: config.contextLength, config: config,
                                                          schedule: settings.schedule, seed: settings.seed, step: -1 - k,
                                                          specialIds: data.specialIds, fixedPrefix: settings.labels == nil ? 0 : 1)
            total += try trainingStep.validationLoss(ids: ids, batch: part.count,
                                                     length: config.contextLength * settings.objective.rowsPerPosition,
                                                     targets: targets, pattern: settings.objective.pattern(config))
                * Double(part.count)
        }
        return total / Double(windows.count)
    }

    /// A step's windows: plain, or label token + text, the label dropped with its own
    /// Philox stream (seed, step), so a resumed run sees the same labels.
    func trainingBatchWindows(step: Int) -> [[Int]] {
        let L = config.contextLength
        guard let labels = settings.labels else {
            return data.trainingWindows(batch: settings.batch, length: L, seed: settings.seed, step: step)
        }
        var rng = Philox(seed: settings.seed ^ 0x1ABE_1D20_0000_0000, stream: UInt64(bitPattern: Int64(step)))
        return data.labeledTrainingWindows(batch: settings.batch, length: L - 1, seed: settings.seed, step: step).map { w, label in
            let drop = rng.uniform64() < settings.labelDropout
            return [drop ? labels.nullId : labels.firstId + (label ?? 0)] + w
        }
    }

    /// Validation windows, labelled with their file's class (never dropped).
    func validationBatchWindows() -> [[Int]] {
        guard let labels = settings.labels else {
            return data.validationWindows(length: config.contextLength, maxWindows: settings.validationWindows)
        }
        return data.labeledValidationWindows(length: config.contextLength - 1, maxWindows: settings.validationWindows).map {
            [labels.firstId + ($0.label ?? 0)] + $0.window
        }
    }

    public func run() throws {
        let L = config.contextLength
        let start = monotonicSeconds()
        var lastEval = -Double.infinity, lastCheckpoint = start
        var recentLoss: [Double] = []
        var endOfFirstStep: Double?, firstEvaluationSeconds = 0.0    // for a --minutes budget
        // The seed is hashed before the step is mixed in: a plain seed ^ step would give seed 2,
        // step 3 the dropout masks of seed 3, step 2.
        var seedHash = SplitMix64(seed: settings.seed ^ 0xD209_0D7E_0000_0000)
        let dropoutSeedKey = seedHash.next()
        func elapsed() -> Double { elapsedBefore + monotonicSeconds() - start }
        while step < totalSteps {
            let windows = trainingBatchWindows(step: step)
            let (ids, targets) = settings.objective.batch(windows, length: L, config: config, schedule: settings.schedule,
                                                          seed: settings.seed, step: step, specialIds: data.specialIds,
                                                          fixedPrefix: settings.labels == nil ? 0 : 1, maskRates: settings.maskRates)
            trainingStep.zeroGradients()
            trainingStep.dropoutKey = dropoutSeedKey ^ UInt64(step)
            let loss = try trainingStep.step(ids: ids, batch: settings.batch, length: L * settings.objective.rowsPerPosition,
                                             targets: targets, pattern: settings.objective.pattern(config))
            guard loss.isFinite else { throw SettingError(.lr, "training diverged at step \(step + 1) (loss \(loss)); try a lower ⟨lr⟩") }
            optimizer.update(params: params, grads: trainingStep.grads)
            step += 1
            tokensSeen += settings.batch * L
            recentLoss.append(loss)
            if recentLoss.count > 20 { recentLoss.removeFirst() }
            // A wall-clock budget fixes the step count once the step time is known. The first
            // step is left out of the estimate: it pays the page faults of a fresh heap and the
            // first validation pass, and counting them cut a 35-minute budget to 26.5 minutes.
            // The validation passes still to come are budgeted at the measured cost of the first.
            if let minutes = settings.minutes, step == 5 && settings.steps == nil && elapsedBefore == 0,
               let stepOneEnd = endOfFirstStep {
                let now = monotonicSeconds()
                let perStep = (now - stepOneEnd) / 4
                let remaining = minutes * 60 - (now - start)
                let evaluations = (remaining / (settings.evalEveryMinutes * 60)).rounded(.up) + 1
                let affordable = (remaining - evaluations * firstEvaluationSeconds) / perStep
                totalSteps = max(6, 5 + Int(min(max(affordable, 0), 1e9)))    // clamped: Int(±inf) traps
                optimizer.totalSteps = totalSteps
            }
            let now = monotonicSeconds()
            let trainLoss = recentLoss.reduce(0, +) / Double(recentLoss.count)
            var entry: [(String, JSONValue)] = [("step", .int(step)), ("seconds", .double((elapsed() * 10).rounded() / 10)),
                                                ("tokens", .int(tokensSeen)), ("train_loss", .double(trainLoss)),
                                                ("lr", .double(optimizer.learningRate(at: step)))]
            let evalDue = now - lastEval >= settings.evalEveryMinutes * 60 || step == totalSteps || step == 1
            var valText = ""
            if evalDue {
                let evaluationStart = monotonicSeconds()
                let val = try validationLoss()
                if step == 1 { firstEvaluationSeconds = monotonicSeconds() - evaluationStart }
                entry.append(("val_loss", .double(val)))
                valText = " val \(fixed(val, 4))"
                lastEval = now
                // Keep the weights with the best validation loss too: a long run on a small
                // corpus can start to overfit before its budget ends.
                if val < bestValidation {
                    bestValidation = val
                    try params.save(directory: outputDirectory + "/best", metadata: [
                        ("objective", settings.objective.rawValue), ("step", String(step)), ("val_loss", String(val))])
                }
            }
            if evalDue || step % 10 == 0 { log.append(JSON.objectValue(entry)) }
            let tokensPerSecond = Double(tokensSeen) / max(elapsed(), 1e-9)
            // Under a --minutes budget the step count is only estimated after step 5; until
            // then the budget itself is the honest ETA.
            let budgetPending = settings.minutes != nil && settings.steps == nil && elapsedBefore == 0 && step < 5
            let eta = budgetPending ? settings.minutes! * 60 - (monotonicSeconds() - start)
                                    : Double(totalSteps - step) * (elapsed() / Double(step))
            progress?("step \(step)/\(budgetPending ? "?" : String(totalSteps)) loss \(fixed(trainLoss, 4))\(valText) \(fixed(tokensPerSecond, 0)) tok/s ETA \(formatDuration(eta))")
            if let stop = settings.stopAfterSteps, step >= stop, step < totalSteps {
                try saveCheckpoint(elapsed: elapsed())
                return
            }
            if step < totalSteps && stopRequested() {
                try saveCheckpoint(elapsed: elapsed())
                try writeLogs()
                interrupted = true
                return
            }
            if now - lastCheckpoint >= settings.checkpointEveryMinutes * 60 {
                try saveCheckpoint(elapsed: elapsed())
                try writeLogs()
                lastCheckpoint = now
            }
            if step == 1 { endOfFirstStep = monotonicSeconds() }
        }
        try saveCheckpoint(elapsed: elapsed())
        try writeLogs()
        try params.save(directory: outputDirectory, metadata: [("objective", settings.objective.rawValue),
                                                               ("steps", String(step)), ("seed", String(settings.seed))])
        try writeModelCard(seconds: elapsed())
    }

    func writeLogs() throws {
        let lines = log.map { $0.serialized() }.joined(separator: "\n") + "\n"
        try Files.writeAtomically(Array(lines.utf8), to: outputDirectory + "/log.jsonl")
        var plot = SVGPlot(title: "\(settings.objective.rawValue) training", xLabel: "wall-clock seconds", yLabel: "loss (nats/token)")
        let train = log.compactMap { e -> (x: Double, y: Double)? in
            guard let s = e["seconds"]?.doubleValue, let l = e["train_loss"]?.doubleValue else { return nil }
            return (s, l)
        }
        let val = log.compactMap { e -> (x: Double, y: Double)? in
            guard let s = e["seconds"]?.doubleValue, let l = e["val_loss"]?.doubleValue, l.isFinite else { return nil }
            return (s, l)
        }
        plot.series = [SVGPlot.Series(name: "train", points: train, color: "#1f77b4"),
                       SVGPlot.Series(name: "validation", points: val, color: "#d62728")]
        try Files.writeAtomically(Array(plot.render().utf8), to: outputDirectory + "/loss.svg")
    }

    func writeModelCard(seconds: Double) throws {
        let lastTrain = log.last?["train_loss"]?.doubleValue ?? .nan
        let lastVal = log.last(where: { $0["val_loss"] != nil })?["val_loss"]?.doubleValue ?? .nan
        let card = """
        # \(outputDirectory.split(separator: "/").last ?? "model")

        Trained by `unmask train` with objective `\(settings.objective.rawValue)`.

        | | |
        |---|---|
        | command | `\(settings.commandLine)` |
        | seed | \(settings.seed) |
        | wall time | \(formatDuration(seconds)) (\(fixed(seconds, 0)) s) |
        | steps × batch × length | \(step) × \(settings.batch) × \(config.contextLength) |
        | tokens seen | \(tokensSeen) |
        | parameters | \(config.parameterCount) |
        | learning rate, warm-up, dropout | \(settings.learningRate) (cosine to 10%), \(settings.warmupSteps) steps, \(settings.dropout) |
        | training data | \(data.train.count) tokens from \(data.documents) files (\(data.bytes) bytes); \(data.validationDescription) |\(settings.labels.map { "\n| labels | \($0.count) classes (one per file) as token ids \($0.firstId)...\($0.firstId + $0.count - 1) at position 0, null label \($0.nullId) with probability \(settings.labelDropout) (labels.json) |" } ?? "")
        | final train loss (mean of last 20 steps) | \(fixed(lastTrain, 4)) nats/token |
        | final validation loss | \(fixed(lastVal, 4)) nats/token |

        Loss is \(settings.objective == .bd3 ? "the block ELBO per token (training: t clipped to \(settings.maskRates.lowerBound)-\(settings.maskRates.upperBound); validation: the bound)" : settings.objective == .mdm ? "the continuous-time ELBO bound per token" : settings.objective == .ar ? "next-token cross-entropy" : "binary cross-entropy per position").

        ![loss curve](loss.svg)

        Config: `\(config.json.serialized())`
        """
        try Files.writeAtomically(Array((card + "\n").utf8), to: outputDirectory + "/README.md")
    }
}
