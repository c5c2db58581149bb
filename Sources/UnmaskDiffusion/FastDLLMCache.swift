#if canImport(Glibc)
import Glibc
#endif
import UnmaskModel
import UnmaskSupport

/// Fast-dLLM's caches (Wu et al. 2025) for a bidirectional denoiser generating in blocks
/// (a planner sampler with `block=K`): the block's first call runs every row and keeps
/// every layer's keys and values; its later calls recompute only
/// - `prefix`: the rows from the block's start to the end of the canvas, attending to the
///   cached rows before the block;
/// - `dual`: the block's rows alone, attending to the cached rows before and after it.
///
/// The cached rows are stale: they were computed when the block (and, for the prefix cache,
/// nothing else) held other tokens, and in a bidirectional model every row depends on every
/// other. So this is an approximation of the uncached sampler, and `CacheError` measures by
/// how much, on the very states a run visits.
public final class FastDLLMCache: Denoiser {
    public let denoiser: TransformerDenoiser
    public let mode: KeyValueCaching
    public let blockSize: Int
    public var vocabSize: Int { denoiser.vocabSize }
    public var maskId: Int { denoiser.maskId }
    public var maxLength: Int { denoiser.maxLength }
    /// When set, every call also runs the uncached forward on the same state and adds the
    /// difference to it.
    public var meter: CacheError?

    private var cache: KeyValueCache?
    private var length = 0
    /// Per sample: the block whose first call filled the cache (nil: none yet).
    private var refreshedBlock: [Int?] = []

    public init(denoiser: TransformerDenoiser, mode: KeyValueCaching, blockSize: Int) throws {
        guard mode == .prefix || mode == .dual else { throw UnmaskError("internal: FastDLLMCache is for the prefix and dual caches") }
        guard denoiser.model.config.attention == .bidirectional else {
            throw SettingError(.cache, "⟨cache⟩ \(mode.rawValue) is for bidirectional models (this one's attention is \(denoiser.model.config.attention.rawValue))")
        }
        guard blockSize >= 1 else { throw SettingError(.cache, "⟨cache⟩ \(mode.rawValue): the block size must be at least 1") }
        self.denoiser = denoiser
        self.mode = mode
        self.blockSize = blockSize
    }

    /// Forgets every cached row (a new batch of canvases).
    public func reset() {
        cache = nil
        refreshedBlock = []
    }

    public func logits(sequences: [[Int]], positions: [[Int]]) throws -> [Float] {
        guard let N = sequences.first?.count else { return [] }
        let model = denoiser.model, K = blockSize
        if cache == nil || cache!.slots < sequences.count || length != N {
            cache = try KeyValueCache(model: model, slots: sequences.count, capacity: N)
            length = N
            refreshedBlock = [Int?](repeating: nil, count: sequences.count)
        }
        // Per sample, the rows this call computes: all (the block's first call), or the
        // block's (dual) or the block's and those after it (prefix).
        var groups: [(first: Int, end: Int, members: [Int])] = []
        for (b, wanted) in positions.enumerated() where !wanted.isEmpty {
            let block = wanted.min()! / K
            let start = block * K, end = min(N, start + K)
            guard wanted.allSatisfy({ $0 >= start && $0 < end }) else {
                throw SettingError(.cache, "⟨cache⟩ \(mode.rawValue) needs every call inside one block of \(K): use a planner ⟨sampler⟩ with block=\(K)")
            }
            let rows: (Int, Int)
            if refreshedBlock[b] != block {
                rows = (0, N)
                refreshedBlock[b] = block
            } else {
                // Shifted logits (Dream) read position p's output from row p − 1: the row
                // before the block is computed too, or the block's first position would read
                // itself (the cache keeps keys and values, not the rows' outputs).
                let from = model.config.shiftedLogits ? max(0, start - 1) : start
                rows = mode == .dual ? (from, end) : (from, N)
            }
            if let g = groups.firstIndex(where: { $0.first == rows.0 && $0.end == rows.1 }) {
                groups[g].members.append(b)
            } else {
                groups.append((rows.0, rows.1, [b]))
            }
        }
        var rowsOf: [Int: [Float]] = [:]
        let V = vocabSize
        for (first, end, members) in groups {
            let n = end - first
            var ids: [Int] = [], flat: [Int] = []
            for (j, b) in members.enumerated() {
                ids.append(contentsOf: sequences[b][first..<end])
                for p in positions[b] { flat.append(j * n + p - first) }
            }
            var out = try model.forwardCached(ids: ids, slots: members, length: n, first: first,
                                              visible: [Int](repeating: N, count: n), positions: flat, cache: cache!)
            denoiser.maskPadding(&out, rows: flat.count)
            splitRows(out, members: members, positions: positions, vocabulary: V, into: &rowsOf)
        }
        let cached = positions.indices.filter { !positions[$0].isEmpty }.flatMap { rowsOf[$0]! }
        if let meter {
            let exact = try denoiser.logits(sequences: sequences, positions: positions)
            meter.add(cached: cached, exact: exact, vocabulary: V, mask: maskId)
        }
        return cached
    }
}

/// How far a cache moves the denoiser's distributions, summed over the calls of a run:
/// at every requested position, KL(exact ‖ cached) in nats, whether the two argmaxes agree,
/// and, for a threshold τ, the positions whose top probability reaches τ under each (the
/// set Fast-dLLM's parallel decoding unmasks): their overlap |A ∩ B| / |A ∪ B| per call.
public final class CacheError {
    public let threshold: Double
    public private(set) var positions = 0
    public private(set) var klSum = 0.0
    public private(set) var klMax = 0.0
    public private(set) var argmaxAgreements = 0
    public private(set) var thresholdIntersection = 0
    public private(set) var thresholdUnion = 0
    public private(set) var calls = 0

    public init(threshold: Double = 0.9) { self.threshold = threshold }

    /// The figures, as a value.
    public var summary: CacheErrorSummary {
        CacheErrorSummary(meanKL: meanKL, maxKL: klMax, argmaxAgreement: argmaxAgreement, thresholdOverlap: thresholdOverlap,
                          threshold: threshold, positions: positions)
    }

    public var meanKL: Double { positions == 0 ? 0 : klSum / Double(positions) }
    public var argmaxAgreement: Double { positions == 0 ? 1 : Double(argmaxAgreements) / Double(positions) }
    /// |A ∩ B| / |A ∪ B| over all calls (1 when both sets are always empty).
    public var thresholdOverlap: Double { thresholdUnion == 0 ? 1 : Double(thresholdIntersection) / Double(thresholdUnion) }

    func add(cached: [Float], exact: [Float], vocabulary V: Int, mask: Int) {
        precondition(cached.count == exact.count && cached.count % V == 0)
        calls += 1
        for r in 0..<(cached.count / V) {
            let p = Self.logSoftmax(exact, row: r, V: V, mask: mask), q = Self.logSoftmax(cached, row: r, V: V, mask: mask)
            var kl = 0.0
            var ap = 0, aq = 0
            for v in 0..<V where p[v] > -.infinity {
                kl += exp(p[v]) * (p[v] - q[v])
                if p[v] > p[ap] { ap = v }
            }
            for v in 0..<V where q[v] > q[aq] { aq = v }
            kl = max(0, kl)
            klSum += kl
            klMax = max(klMax, kl)
            positions += 1
            if ap == aq { argmaxAgreements += 1 }
            let inP = exp(p[ap]) >= threshold, inQ = exp(q[aq]) >= threshold
            if inP && inQ { thresholdIntersection += 1 }
            if inP || inQ { thresholdUnion += 1 }
        }
    }

    static func logSoftmax(_ logits: [Float], row: Int, V: Int, mask: Int) -> [Double] {
        var out = [Double](repeating: -.infinity, count: V)
        var mx = -Double.infinity
        for v in 0..<V where v != mask { mx = max(mx, Double(logits[row * V + v])) }
        var sum = 0.0
        for v in 0..<V where v != mask { sum += exp(Double(logits[row * V + v]) - mx) }
        let lse = mx + log(sum)
        for v in 0..<V where v != mask { out[v] = Double(logits[row * V + v]) - lse }
        return out
    }
}

/// `CacheError`'s figures.
public struct CacheErrorSummary: Sendable, Equatable {
    public var meanKL: Double, maxKL: Double, argmaxAgreement: Double, thresholdOverlap: Double, threshold: Double
    public var positions: Int
}
