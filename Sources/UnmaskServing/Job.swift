import Foundation
import UnmaskSupport
import UnmaskGeneration
import UnmaskDiffusion

/// Why a job stopped before its end.
public enum CancelReason: String, Sendable, CaseIterable {
    /// The client went away (mid-stream or while queued).
    case disconnected
    /// `DELETE /unmask/v1/jobs/{id}`.
    case deleted
    /// The request's `timeout` passed.
    case deadline
    /// The server is shutting down (SIGTERM).
    case shutdown
}

struct JobCancelled: Error, CustomStringConvertible {
    let reason: CancelReason
    var description: String { "the job was cancelled (\(reason.rawValue))" }
}

/// One request being generated: its canvas, its progress, and what its client has not
/// read yet.
///
/// The job thread writes; the client's task reads with `drain()` after each `bell` ring.
/// Committed text is a list that only grows (never dropped); the canvas for frames is one
/// slot, newest wins, so a slow reader never holds the model up and never loses text.
public final class Job: @unchecked Sendable {
    public let id: String
    public let request: GenerationRequest
    /// The request as the library prepared it: sampler, steering engine, canvas, labels.
    public let run: PreparedGeneration
    /// canvas: the token ids to denoise (masks where to generate).
    public let canvas: [Int]
    /// The positions whose text is the completion (the masks after the prompt, up to a suffix).
    public let span: Range<Int>
    public let promptTokens: Int
    public let created: Double
    let maskId: Int
    let deadline: Double?

    private let lock = NSLock()
    private var trackers: [CommittedText]
    // Guarded by `lock`:
    private var cancelReason: CancelReason?
    private var startedAt: Double?
    private var steps = 0
    private var calls = 0
    private var secondsInCalls = 0.0
    private var masked: Int
    private var newText: [[String]]
    private var latest: [[Int]]?
    private var outcome: Outcome?
    private var continuation: AsyncStream<Void>.Continuation
    /// Rings after every change the client may want (newest wins: one pending ring).
    public let bell: AsyncStream<Void>

    public struct Choice: Sendable {
        public var text: String
        public var ids: [Int]
        public var finishReason: CommittedText.FinishReason
        public var completionTokens: Int
    }
    public enum Outcome: Sendable {
        case finished([Choice])
        case cancelled(CancelReason)
        case failed(String)
    }

    /// What the client has not read yet.
    public struct Update: Sendable {
        /// Per choice, the text that became final since the last drain (often empty).
        public var text: [String]
        /// The newest canvases (n of them, full sequences), when they changed.
        public var canvases: [[Int]]?
        public var step: Int
        public var nfe: Int
        public var secondsPerCall: Double?
        public var masked: Int
        public var outcome: Outcome?
    }

    init(id: String, request: GenerationRequest, run: PreparedGeneration, maskId: Int,
         endOfText: Set<Int>, bytesOf: @escaping (Int) -> [UInt8]) {
        self.id = id
        self.request = request
        self.run = run
        self.canvas = run.canvas
        self.span = run.span
        self.promptTokens = run.promptTokens
        self.maskId = maskId
        self.created = monotonicSeconds()
        self.deadline = request.timeout.map { monotonicSeconds() + $0 }
        let tracker = CommittedText(maskId: maskId, endOfText: endOfText, stops: request.stops, remasks: request.remasks, bytesOf: bytesOf)
        self.trackers = [CommittedText](repeating: tracker, count: request.n)
        self.masked = canvas.filter { $0 == maskId }.count * request.n
        self.newText = [[String]](repeating: [], count: request.n)
        var c: AsyncStream<Void>.Continuation!
        self.bell = AsyncStream(bufferingPolicy: .bufferingNewest(1)) { c = $0 }
        self.continuation = c
    }

    // MARK: The job thread's side

    func checkStillWanted() throws {
        lock.lock()
        if cancelReason == nil, let deadline, monotonicSeconds() > deadline { cancelReason = .deadline }
        let reason = cancelReason
        lock.unlock()
        if let reason { throw JobCancelled(reason: reason) }
    }

    func started() {
        lock.lock(); startedAt = monotonicSeconds(); lock.unlock()
        continuation.yield()
    }

    func countCall(seconds: Double) {
        lock.lock(); calls += 1; secondsInCalls += seconds; lock.unlock()
    }

    /// After a step: the n sequences as they are now.
    func stepped(_ sequences: [[Int]]) {
        var deltas: [String] = []
        for (i, s) in sequences.enumerated() where i < trackers.count {
            deltas.append(trackers[i].update(s[span]))
        }
        let stillMasked = sequences.reduce(0) { $0 + $1.filter { $0 == maskId }.count }
        lock.lock()
        steps += 1
        masked = stillMasked
        for (i, d) in deltas.enumerated() where !d.isEmpty { newText[i].append(d) }
        latest = sequences
        lock.unlock()
        continuation.yield()
    }

    /// Every choice is done: their final ids.
    func finished(_ sequences: [[Int]]) {
        var choices: [Choice] = []
        for (i, s) in sequences.enumerated() {
            let last = trackers[i].finish(s[span])
            lock.lock()
            if !last.isEmpty { newText[i].append(last) }
            lock.unlock()
            let t = trackers[i]
            choices.append(Choice(text: t.text, ids: Array(s[span]), finishReason: t.finishReason ?? .length,
                                  completionTokens: t.committedTokens))
        }
        end(.finished(choices), final: sequences)
    }

    func end(_ o: Outcome, final: [[Int]]? = nil) {
        lock.lock()
        if outcome == nil {
            outcome = o
            if final != nil { masked = 0 }
        }
        lock.unlock()
        continuation.yield()
        continuation.finish()
    }

    // MARK: The client's side

    /// Wakes the client without news (the scheduler's ticker: keep-alives, deadlines).
    func ring() { continuation.yield() }

    /// Stops the job before its next network call (or at once, if it is queued).
    public func cancel(_ reason: CancelReason) {
        lock.lock()
        if cancelReason == nil && outcome == nil { cancelReason = reason }
        lock.unlock()
    }

    public var cancelledReason: CancelReason? { lock.lock(); defer { lock.unlock() }; return cancelReason }

    /// Takes what is new since the last drain.
    public func drain() -> Update {
        lock.lock(); defer { lock.unlock() }
        let text = newText.map { $0.joined() }
        for i in newText.indices { newText[i].removeAll() }
        let canvases = latest
        latest = nil
        return Update(text: text, canvases: canvases, step: steps, nfe: calls,
                      secondsPerCall: calls > 0 ? secondsInCalls / Double(calls) : nil, masked: masked, outcome: outcome)
    }

    public struct Status: Sendable {
        public var id: String
        public var state: String
        public var step: Int
        public var nfe: Int
        public var masked: Int
        public var seconds: Double
        public var eta: Double?
    }

    public func status(queued: Bool) -> Status {
        lock.lock(); defer { lock.unlock() }
        let now = monotonicSeconds()
        let total = canvas.filter { $0 == maskId }.count * request.n
        let elapsed = startedAt.map { now - $0 } ?? 0
        let done = total - masked
        let eta: Double? = (startedAt != nil && done > 0) ? elapsed / Double(done) * Double(masked) : nil
        return Status(id: id, state: queued ? "queued" : (outcome == nil ? "running" : "done"), step: steps, nfe: calls,
                      masked: masked, seconds: now - created, eta: eta)
    }
}
