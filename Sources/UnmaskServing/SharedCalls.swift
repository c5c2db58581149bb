import Foundation
import UnmaskSupport
import UnmaskDiffusion

/// One network call for every request that is waiting for one.
///
/// Each running job generates on its own thread through a `JobDenoiser`, which hands its
/// sequences here and waits. The first waiter that finds every running job waiting (or has
/// waited `gather` seconds) takes all waiting calls, runs them as one batch per sequence
/// length (the transformer's batch is one length), hands each job its rows and wakes them.
/// The `Denoiser` contract says a row does not depend on the rows beside it, so a
/// request's text for a seed is the same alone or under load; the server's tests check it.
/// Only one batch runs at a time: the model is one, and it already uses every thread.
public final class SharedCalls: @unchecked Sendable {
    public let base: Denoiser
    /// Seconds a call waits for the other running jobs before it goes alone.
    public let gather: Double
    /// The most sequences in one call to the model (memory is the model's batch).
    public let maxSequences: Int

    final class Call {
        let sequences: [[Int]]
        let positions: [[Int]]
        var result: Result<[Float], Error>?
        init(_ s: [[Int]], _ p: [[Int]]) { sequences = s; positions = p }
    }

    private let condition = NSCondition()
    private var pending: [Call] = []
    private var active = 0
    private var busy = false
    // Counters for /metrics (under `condition`).
    private(set) var calls = 0
    private(set) var sequencesServed = 0
    private(set) var secondsInCalls = 0.0

    public init(base: Denoiser, gather: Double = 0.005, maxSequences: Int = 64) {
        self.base = base
        self.gather = gather
        self.maxSequences = maxSequences
    }

    /// A job starts or stops generating (so a batch knows how many to wait for).
    func enter() { condition.lock(); active += 1; condition.unlock() }
    func leave() { condition.lock(); active -= 1; condition.broadcast(); condition.unlock() }

    public struct Counters: Sendable { public var calls: Int; public var sequences: Int; public var seconds: Double }
    public var counters: Counters {
        condition.lock(); defer { condition.unlock() }
        return Counters(calls: calls, sequences: sequencesServed, seconds: secondsInCalls)
    }

    func logits(sequences: [[Int]], positions: [[Int]]) throws -> [Float] {
        let call = Call(sequences, positions)
        condition.lock()
        pending.append(call)
        condition.broadcast()
        let deadline = Date(timeIntervalSinceNow: gather)
        while call.result == nil {
            let mine = pending.contains { $0 === call }
            if !busy && mine && (pending.count >= active || Date() >= deadline) {
                let batch = pending
                pending = []
                busy = true
                condition.unlock()
                let start = monotonicSeconds()
                run(batch)
                let seconds = monotonicSeconds() - start
                condition.lock()
                busy = false
                calls += 1
                sequencesServed += batch.reduce(0) { $0 + $1.sequences.count }
                secondsInCalls += seconds
                condition.broadcast()
            } else if busy || !mine {
                condition.wait()
            } else {
                _ = condition.wait(until: deadline)
            }
        }
        condition.unlock()
        return try call.result!.get()
    }

    /// The batch's calls, grouped by sequence length, at most `maxSequences` a model call.
    private func run(_ batch: [Call]) {
        var byLength: [Int: [Call]] = [:]
        var order: [Int] = []
        for c in batch {
            let n = c.sequences.first?.count ?? 0
            if byLength[n] == nil { order.append(n) }
            byLength[n, default: []].append(c)
        }
        for n in order {
            var group: [Call] = []
            var count = 0
            for c in byLength[n]! {
                if count + c.sequences.count > maxSequences && !group.isEmpty {
                    runGroup(group)
                    group = []
                    count = 0
                }
                group.append(c)
                count += c.sequences.count
            }
            if !group.isEmpty { runGroup(group) }
        }
    }

    private func runGroup(_ group: [Call]) {
        let vocab = base.vocabSize
        do {
            let rows = try base.logits(sequences: group.flatMap(\.sequences), positions: group.flatMap(\.positions))
            var offset = 0
            for c in group {
                let count = c.positions.reduce(0) { $0 + $1.count } * vocab
                c.result = .success(Array(rows[offset..<(offset + count)]))
                offset += count
            }
        } catch {
            for c in group { c.result = .failure(error) }
        }
    }
}

/// A job's view of the shared model: checks the job is still wanted before each call
/// (cancelled, past its deadline), counts its calls, then waits for the shared batch.
struct JobDenoiser: Denoiser {
    let shared: SharedCalls
    let job: Job
    var vocabSize: Int { shared.base.vocabSize }
    var maskId: Int { shared.base.maskId }
    var maxLength: Int { shared.base.maxLength }

    func logits(sequences: [[Int]], positions: [[Int]]) throws -> [Float] {
        try job.checkStillWanted()
        let start = monotonicSeconds()
        let rows = try shared.logits(sequences: sequences, positions: positions)
        job.countCall(seconds: monotonicSeconds() - start)
        return rows
    }
}
