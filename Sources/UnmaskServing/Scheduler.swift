import Foundation
import UnmaskSupport
import UnmaskTokenizer
import UnmaskModel
import UnmaskDiffusion
import UnmaskEvaluation
import UnmaskSteering
import UnmaskGeneration

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
        let run = try model.prepare(r)
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
        let job = Job(id: "job-\(nextId)", request: r, run: run, maskId: model.maskId,
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
            let r = job.request, run = job.run
            // The shared calls, under the request's label if the model has labels.
            let (denoiser, unconditional) = try run.denoisers(over: JobDenoiser(shared: shared, job: job))
            finals = [[Int]](repeating: [], count: r.n)
            if let engine = run.steering {
                // Sample i depends on (seed, i) alone, as with `generate --steer`.
                for i in 0..<r.n {
                    finals[i] = try engine.sample(canvas: job.canvas, denoiser: denoiser, seed: r.seed, index: i,
                                                  unconditional: unconditional).sequence
                }
            } else {
                try Generation.run(sampler: run.sampler, denoiser: denoiser, canvas: job.canvas, count: r.n, batch: r.n, seed: r.seed,
                                   window: run.window, observer: { _, seqs in job.stepped(seqs) }) { i, ids, _, _ in finals[i] = ids }
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
