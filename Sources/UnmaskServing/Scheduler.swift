import Foundation
import UnmaskSupport
import UnmaskTokenizer
import UnmaskModel
import UnmaskDiffusion
import UnmaskEvaluation
import UnmaskSteering

/// The model a server serves, and how a request becomes its canvas.
public final class ServedModel: @unchecked Sendable {
    /// What `/v1/models` lists and requests name (`model`): the folder's name.
    public let id: String
    public let directory: String
    /// `unmask` for a folder of ours, else the Hugging Face family (llada, dream, mdlm).
    public let family: String
    public let tokenizer: Tokenizer
    public let base: TransformerDenoiser
    public let labels: ClassLabels?
    /// nil for a model without a chat template (`/v1/chat/completions` says so).
    public let chat: ChatTemplate?
    public let endOfText: Set<Int>

    public init(set: ModelSet, directory: String) throws {
        guard let d = set.denoiser else { throw UnmaskError("the server needs a denoiser") }
        // Requests share network calls (SharedCalls) over whole canvases; a block-causal
        // model is generated block by block with a cache per sample, which that sharing
        // does not do yet. Refused rather than served as if it were bidirectional.
        if Generation.blockCausalModel(d) != nil {
            throw UnmaskError("\(directory) is block-causal (block diffusion); unmask-serve serves bidirectional denoisers: use `unmask generate --model \(directory)` for it")
        }
        self.directory = directory
        self.id = directory.split(separator: "/").last.map(String.init) ?? directory
        self.family = HuggingFaceFolder.isHuggingFace(directory: directory) ? (try HuggingFaceFolder.open(directory: directory)).family.rawValue : "unmask"
        self.tokenizer = set.tokenizer.tokenizer
        self.base = d
        self.labels = set.denoiserLabels
        self.chat = try ChatTemplate.load(directory: directory)
        var ends: Set<Int> = [tokenizer.endOfTextId]
        if let chat, let t = tokenizer.specialTokens.first(where: { $0.content == chat.endOfTurn }) { ends.insert(t.id) }
        self.endOfText = ends
    }

    public var contextLength: Int { base.maxLength - (labels == nil ? 0 : 1) }
    public var maskId: Int { tokenizer.maskId }

    public var jsonValue: JSONValue {
        JSON.objectValue([
            ("id", .string(id)), ("object", .string("model")), ("created", .int(0)), ("owned_by", .string("unmask")),
            ("unmask", JSON.objectValue([
                ("family", .string(family)), ("context_length", .int(contextLength)), ("mask_id", .int(maskId)),
                ("vocab_size", .int(tokenizer.vocabSize)), ("default_sampler", .string(GenerationRequest.defaultSampler)),
                ("chat_template", chat.map { .string($0.rawValue) } ?? .null),
                ("classes", labels.map { .array($0.classes.map { .string($0) }) } ?? .null),
            ])),
        ])
    }

    /// The canvas of a request, the span whose text is the completion, and the prompt's
    /// token count.
    public func canvas(for r: GenerationRequest) throws -> (canvas: [Int], span: Range<Int>, promptTokens: Int) {
        if let m = r.model, m != id {
            throw APIError(status: 404, type: "invalid_request_error", param: "model", code: "model_not_found",
                           "model \"\(m)\" is not served here (this server serves \"\(id)\")")
        }
        if r.className != nil && labels == nil && r.steer == nil {
            throw APIError.invalid("class", "this model has no labels (labels.json): class needs a label-conditional denoiser, or a steer method that uses the classifier")
        }
        if r.steer != nil {
            _ = try steeringEngine(for: r)  // a bad reward, class or sampler is the request's 400
        }
        if let c = r.className, let labels, !labels.classes.contains(c) {
            throw APIError.invalid("class", "unknown class \"\(c)\" (classes: \(labels.classes.joined(separator: ", ")))")
        }
        var prompt: [Int]
        var suffix: [Int] = []
        switch r.route {
        case .chat:
            guard let chat else {
                throw APIError.invalid("messages", "this model has no chat template (tokenizer_config.json); use /v1/completions", code: "no_chat_template")
            }
            let bos = tokenizer.specialTokens.first { ["<|startoftext|>", "<|begin_of_text|>"].contains($0.content) }?.content ?? ""
            prompt = tokenizer.encode(chat.render(r.messages, bos: bos), allowSpecial: true)
        case .completions, .native:
            if let template = r.template {
                let canvas: [Int]
                do { canvas = try GenerationCanvas.template(template, tokenizer: tokenizer) } catch {
                    throw APIError.invalid("template", "\(error)")
                }
                try checkFits(canvas.count, promptTokens: 0, param: "template", r)
                let first = canvas.firstIndex(of: maskId) ?? canvas.count
                return (canvas, first..<canvas.count, first)
            }
            if let ids = r.promptIds {
                guard ids.allSatisfy({ $0 >= 0 && $0 < tokenizer.vocabSize && $0 != maskId }) else {
                    throw APIError.invalid("prompt", "a prompt token id is outside 0..<\(tokenizer.vocabSize) or is the mask id \(maskId)")
                }
                prompt = ids
            } else {
                prompt = r.prompt.map { tokenizer.encode($0) } ?? []
            }
            suffix = r.suffix.map { tokenizer.encode($0) } ?? []
        }
        try checkFits(prompt.count + r.maxTokens + suffix.count, promptTokens: prompt.count + suffix.count,
                      param: r.route == .native ? "length" : "max_tokens", r)
        guard r.maxTokens >= 1 else { throw APIError.invalid(r.route == .native ? "length" : "max_tokens", "nothing to generate: the length is 0") }
        let canvas = prompt + [Int](repeating: maskId, count: r.maxTokens) + suffix
        return (canvas, prompt.count..<(prompt.count + r.maxTokens), prompt.count + suffix.count)
    }

    /// Past the context, text is generated in blocks (`Generation`), approximately; the
    /// OpenAI routes keep to the context unless the request asks for blocks (`unmask.block`).
    private func checkFits(_ total: Int, promptTokens: Int, param: String, _ r: GenerationRequest) throws {
        if total > GenerationCanvas.maxTokens {
            throw APIError.invalid(param, "the request is \(total) tokens, over the limit of \(GenerationCanvas.maxTokens)", code: "context_length_exceeded")
        }
        if total > contextLength && r.steer != nil {
            throw APIError.invalid(param, "steering needs the text to fit in the model's context: \(total) tokens > \(contextLength)", code: "context_length_exceeded")
        }
        if total > contextLength && r.block == nil && r.route != .native {
            throw APIError.invalid(param, "this model's context is \(contextLength) tokens; the prompt is \(promptTokens) and \(param) asks for \(total - promptTokens) more (set unmask.block to generate past the context, in blocks)", code: "context_length_exceeded")
        }
        if let b = r.block, !(1...contextLength).contains(b) {
            throw APIError.invalid(r.route == .native ? "block" : "unmask.block", "block must be in 1...\(contextLength) (the model's context)")
        }
    }

    /// The denoiser a request runs on: the shared calls, under its class label if the model has labels.
    func denoiser(for r: GenerationRequest, job: Job, shared: SharedCalls) throws -> Denoiser {
        let proxy = JobDenoiser(shared: shared, job: job)
        guard let labels else { return proxy }
        return try LabeledDenoiser(base: proxy, label: try r.className.map { try labels.id(of: $0) } ?? labels.nullId)
    }

    /// For label cfg: the same shared model under the null label (nil without labels).
    func unconditional(for r: GenerationRequest, job: Job, shared: SharedCalls) throws -> Denoiser? {
        guard let labels, r.className != nil else { return nil }
        return try LabeledDenoiser(base: JobDenoiser(shared: shared, job: job), label: labels.nullId)
    }

    /// The end of the error when a steered request needs the bundled classifier and the
    /// install lacks it: a request cannot name a classifier directory, so there is no flag
    /// to point to (the CLI's message says to give --classifier DIR).
    static let classifierRemedy = "this server's install is incomplete (no classifier can be named in a request)"

    /// A steered request's engine, as `generate --steer` builds it: the bundled classifier
    /// for `cbg` and the classifier reward (of this tokenizer), words rewards on the tokenizer.
    func steeringEngine(for r: GenerationRequest) throws -> SteeringEngine {
        guard let text = r.steer else { throw APIError.invalid("steer", "no steering method") }
        func refuse(_ param: String, _ message: String) -> APIError { APIError.invalid(param, message) }
        let spec: SteeringSpec
        do { spec = try SteeringSpec.parse(text) } catch { throw refuse("steer", "\(error)") }
        let sampler = r.sampler
        do { try SteeringEngine.checkSampler(sampler) } catch { throw refuse("sampler", "\(error)") }
        if spec.method == .cfg && r.className != nil && labels == nil {
            throw refuse("class", "cfg with a class guides by a label, and this model has none: drop class to guide by the prompt")
        }
        let tokenizer = self.tokenizer
        func classifier() throws -> NaiveBayesClassifier {
            do { return try NaiveBayesClassifier.load(try NaiveBayesClassifier.path(orBundled: nil, remedy: Self.classifierRemedy), vocabSize: tokenizer.vocabSize) }
            catch { throw refuse("steer", "\(error)") }
        }
        var reward: Reward?
        if let text = r.reward {
            do {
                reward = try RewardSpec.make(text, RewardSpec.Resources(
                    tokenizer: tokenizer, className: r.className, classifierPath: { _ in try NaiveBayesClassifier.path(orBundled: nil, remedy: Self.classifierRemedy) },
                    evaluator: { throw UnmaskError("the server loads no evaluator") }, timeout: 1))
            } catch { throw refuse("reward", "\(error)") }
        }
        var target: (NaiveBayesClassifier, Int)?
        if spec.needsClassifier {
            guard let c = r.className else { throw refuse("class", "cbg steers to a class: give class") }
            let model = try classifier()
            do { target = (model, try model.classIndex(c)) } catch { throw refuse("class", "\(error)") }
        }
        do {
            return try SteeringEngine(spec: spec, draw: sampler.draw, reward: reward, classifier: target?.0, classIndex: target?.1 ?? 0)
        } catch { throw refuse("steer", "\(error)") }
    }
}

/// Running and queued jobs: at most `maxRunning` generate at once (their calls shared),
/// at most `maxQueued` wait; one more is refused with 503 and `Retry-After`.
public final class Scheduler: @unchecked Sendable {
    public let model: ServedModel
    public let shared: SharedCalls
    public let maxRunning: Int
    public let maxQueued: Int

    private let lock = NSLock()
    private var running: [Job] = []
    private var queued: [Job] = []
    private var nextId = 0
    private var shuttingDown = false
    // Counters for /metrics.
    private var cancellations: [CancelReason: Int] = [:]
    private var completed = 0
    private var refused = 0
    private var tokensGenerated = 0
    private var accepted: [GenerationRequest.Route: Int] = [:]

    public init(model: ServedModel, maxRunning: Int = 4, maxQueued: Int = 16, gather: Double = 0.005) {
        self.model = model
        self.shared = SharedCalls(base: model.base, gather: gather)
        self.maxRunning = maxRunning
        self.maxQueued = maxQueued
        let ticker = Thread { [weak self] in
            while let scheduler = self {
                scheduler.tick()
                usleep(250_000)
            }
        }
        ticker.name = "scheduler ticker"
        ticker.start()
    }

    /// Four times a second: queued jobs past their deadline leave the queue, and every
    /// client is woken (so that idle streams write keep-alives and notice a dead peer).
    private func tick() {
        lock.lock()
        let all = running + queued
        let expired = queued.filter { j in j.deadline.map { monotonicSeconds() > $0 } ?? false }
        lock.unlock()
        for j in expired { cancel(j, reason: .deadline) }
        for j in all { j.ring() }
    }

    /// Checks a request against the model and queues it (or starts it).
    public func submit(_ r: GenerationRequest) throws -> Job {
        let (canvas, span, promptTokens) = try model.canvas(for: r)
        let tokenizer = model.tokenizer
        lock.lock()
        defer { lock.unlock() }
        if shuttingDown { throw APIError(status: 503, type: "server_error", code: "shutting_down", "the server is shutting down") }
        if running.count >= maxRunning && queued.count >= maxQueued {
            refused += 1
            throw APIError.busy(queued: queued.count, retryAfter: 1)
        }
        nextId += 1
        accepted[r.route, default: 0] += 1
        let special = Set(tokenizer.specialTokens.map(\.id))
        let job = Job(id: "job-\(nextId)", request: r, canvas: canvas, span: span, promptTokens: promptTokens, maskId: model.maskId,
                      endOfText: model.endOfText, bytesOf: { id in special.contains(id) || id >= tokenizer.vocabSize ? [] : tokenizer.tokenBytes[id] })
        queued.append(job)
        startQueuedLocked()
        return job
    }

    /// Cancels a job; a queued one leaves the queue at once.
    @discardableResult
    public func cancel(id: String, reason: CancelReason) -> Bool {
        lock.lock()
        guard let job = (running + queued).first(where: { $0.id == id }) else { lock.unlock(); return false }
        lock.unlock()
        cancel(job, reason: reason)
        return true
    }

    public func cancel(_ job: Job, reason: CancelReason) {
        job.cancel(reason)
        lock.lock()
        if let i = queued.firstIndex(where: { $0 === job }) {
            queued.remove(at: i)
            cancellations[reason, default: 0] += 1
            lock.unlock()
            job.end(.cancelled(reason))
            return
        }
        lock.unlock()
    }

    /// SIGTERM: refuse new work, cancel everything; returns once no job runs (or `within` s).
    public func shutdown(within seconds: Double) {
        lock.lock()
        shuttingDown = true
        let all = running + queued
        lock.unlock()
        for j in all { cancel(j, reason: .shutdown) }
        let end = monotonicSeconds() + seconds
        while monotonicSeconds() < end {
            lock.lock(); let n = running.count; lock.unlock()
            if n == 0 { break }
            usleep(10_000)
        }
    }

    private func startQueuedLocked() {
        while running.count < maxRunning, !queued.isEmpty {
            let job = queued.removeFirst()
            running.append(job)
            let thread = Thread { [self] in self.run(job) }
            thread.name = job.id
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    private func run(_ job: Job) {
        shared.enter()
        var outcome: Job.Outcome?
        var finals: [[Int]] = []
        do {
            try job.checkStillWanted()
            job.started()
            let r = job.request
            let denoiser = try model.denoiser(for: r, job: job, shared: shared)
            let sampler = try DiffusionSampler(spec: r.sampler)
            finals = [[Int]](repeating: [], count: r.n)
            if r.steer != nil {
                // Sample i depends on (seed, i) alone, as with `generate --steer`.
                let engine = try model.steeringEngine(for: r)
                let unconditional = try model.unconditional(for: r, job: job, shared: shared)
                for i in 0..<r.n {
                    finals[i] = try engine.sample(canvas: job.canvas, denoiser: denoiser, seed: r.seed, index: i,
                                                  unconditional: unconditional).sequence
                }
            } else {
                try Generation.run(sampler: sampler, denoiser: denoiser, canvas: job.canvas, count: r.n, batch: r.n, seed: r.seed,
                                   block: r.block, observer: { _, seqs in job.stepped(seqs) }) { i, ids, _, _ in finals[i] = ids }
            }
        } catch let c as JobCancelled {
            outcome = .cancelled(c.reason)
        } catch {
            outcome = .failed("\(error)")
        }
        shared.leave()
        // The counters move before the client hears of the end, so that what a client
        // reads from /metrics after its response already counts it.
        lock.lock()
        running.removeAll { $0 === job }
        switch outcome {
        case .cancelled(let reason)?: cancellations[reason, default: 0] += 1
        case nil:
            completed += 1
            tokensGenerated += job.request.n * job.span.count
        default: break
        }
        startQueuedLocked()
        lock.unlock()
        if let outcome { job.end(outcome) } else { job.finished(finals) }
    }

    // MARK: Status and metrics

    public func status() -> [Job.Status] {
        lock.lock()
        let r = running, q = queued
        lock.unlock()
        return r.map { $0.status(queued: false) } + q.map { $0.status(queued: true) }
    }

    public struct Metrics: Sendable {
        public var running: Int, queued: Int, completed: Int, refused: Int, tokens: Int
        /// Requests accepted (queued or started), by route.
        public var accepted: [GenerationRequest.Route: Int]
        public var cancellations: [CancelReason: Int]
        public var calls: SharedCalls.Counters
    }

    public func metrics() -> Metrics {
        lock.lock(); defer { lock.unlock() }
        return Metrics(running: running.count, queued: queued.count, completed: completed, refused: refused, tokens: tokensGenerated, accepted: accepted,
                       cancellations: cancellations, calls: shared.counters)
    }
}
