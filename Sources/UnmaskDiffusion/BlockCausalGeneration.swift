import UnmaskModel
import UnmaskSupport

/// Which keys and values a generation keeps between network calls.
/// - `exact`: a block-causal model's finished blocks (BlockCausalGeneration); the tokens are
///   those of `off`, bit for bit.
/// - `off`: none; every call computes every row it depends on.
/// - `prefix`, `dual`: Fast-dLLM's caches for a bidirectional model generating in blocks
///   (FastDLLMCache.swift): the rows before the current block, or before and after it, are
///   computed at the block's first call and reused, stale, for its other calls.
public enum KeyValueCaching: String, Sendable, CaseIterable {
    case exact, off, prefix, dual
}

/// What a block-causal model does once the text is longer than its context.
/// - `recompute`: each block past the context is denoised inside a window of the context's
///   length that ends with it, the window's keys and values computed afresh from its clean
///   tokens at positions 0 ..< context (one pass per block, fused with the block's first
///   step). Bit-identical to the uncached run, which recomputes the window at every call.
/// - `slide`: the cache drops the oldest block and keeps the others' keys and values as they
///   were computed, at their own positions (rotary positions only: attention then sees the
///   same relative offsets as inside the context). No pass per block, but an older key was
///   computed from tokens that have since left the window: an approximation, which no
///   uncached run reproduces.
public enum PastContext: String, Sendable, CaseIterable {
    case recompute, slide
}

/// Block diffusion's generation (BD3-LM): the canvas in the model's blocks, left to right,
/// each block drawn by the sampler on the block alone, conditioned on every clean token
/// before it. With the cache on, a call computes only the block's rows (and, once per
/// block, the previous block's, whose keys and values become final then) against the cached
/// keys; with it off, every call runs all the rows from the window's start.
///
/// Block k of sample i uses stream i of `Generation.blockSeed(seed, k)` (k counts the
/// blocks that have something to generate), as the semi-autoregressive scheme does.
enum BlockCausalGeneration {
    static func generateBatch(sampler: DiffusionSampler, denoiser: TransformerDenoiser, canvas: [Int], size: Int,
                              firstSample: Int, seed: UInt64, caching: KeyValueCaching, pastContext: PastContext,
                              observer: ((Int, [[Int]]) -> Void)?) throws
        -> (sequences: [[Int]], nfe: [Int], seconds: Double) {
        let model = denoiser.model, K = model.config.blockSize!, C = model.config.contextLength
        let N = canvas.count, mask = denoiser.maskId
        if model.config.shiftedLogits {
            throw UnmaskError("a block-causal model with shifted logits would read a block's first output from the block before it; no such model is supported")
        }
        if sampler.spec.kind == .ddpd {
            throw SettingError(.sampler, "sampler ddpd plans over the whole canvas with its own model; a block-causal model generates block by block: use another ⟨sampler⟩")
        }
        if caching == .prefix || caching == .dual {
            throw SettingError(.cache, "⟨cache⟩ \(caching.rawValue) is Fast-dLLM's approximate cache for bidirectional models; a block-causal model caches exactly (⟨cache⟩ exact)")
        }
        if pastContext == .slide && N > C && caching == .off {
            throw SettingError(.pastContext, "⟨past_context⟩ slide is a property of the cache: it needs ⟨cache⟩ exact")
        }
        let steps = BlockSteps(denoiser: denoiser, size: size, length: N, caching: caching, pastContext: pastContext)
        if caching == .exact {
            steps.cache = try KeyValueCache(model: model, slots: size, capacity: min(C, (N + K - 1) / K * K),
                                            positions: pastContext == .slide ? N : nil)
        }
        var sequences = [[Int]](repeating: canvas, count: size)
        var nfe = [Int](repeating: 0, count: size)
        var seconds = 0.0, k = 0
        for blockStart in stride(from: 0, to: N, by: K) {
            let blockEnd = min(N, blockStart + K)
            guard canvas[blockStart..<blockEnd].contains(mask) else { continue }
            steps.begin(block: blockStart..<blockEnd, sequences: sequences)
            let blocks = sequences.map { Array($0[blockStart..<blockEnd]) }
            let r = try sampler.sample(canvases: blocks, denoiser: steps, seed: Generation.blockSeed(seed, k),
                                       firstStream: UInt64(firstSample),
                                       observer: observer.map { o in { partial in
                                           var full = sequences
                                           for j in 0..<size { full[j].replaceSubrange(blockStart..<blockEnd, with: partial[j]) }
                                           o(firstSample, full)
                                       } })
            for j in 0..<size {
                sequences[j].replaceSubrange(blockStart..<blockEnd, with: r.sequences[j])
                nfe[j] += r.nfe[j]
            }
            seconds += r.seconds
            k += 1
        }
        return (sequences, nfe, seconds)
    }
}

/// The denoiser a block's sampler calls: the block's B positions, computed against the text
/// before them (cached or not).
final class BlockSteps: Denoiser {
    let denoiser: TransformerDenoiser
    let caching: KeyValueCaching
    let pastContext: PastContext
    var cache: KeyValueCache?
    let length: Int
    var vocabSize: Int { denoiser.vocabSize }
    var maskId: Int { denoiser.maskId }
    var maxLength: Int { block.count }

    private var sequences: [[Int]] = []
    private(set) var block = 0..<0
    /// The first position of the cache's row 0 (the window's start).
    private var windowStart = 0
    /// Per sample: the first position whose keys and values the cache does not hold final
    /// (the clean blocks before the current one that no call has committed yet).
    private var pending: [Int]

    init(denoiser: TransformerDenoiser, size: Int, length: Int, caching: KeyValueCaching, pastContext: PastContext) {
        self.denoiser = denoiser
        self.caching = caching
        self.pastContext = pastContext
        self.length = length
        pending = [Int](repeating: 0, count: size)
    }

    /// Starts a block: `sequences` hold every clean token before it.
    func begin(block range: Range<Int>, sequences: [[Int]]) {
        let C = denoiser.model.config.contextLength
        self.sequences = sequences
        block = range
        let start = max(0, range.lowerBound + denoiser.model.config.blockSize! - C)
        if start > windowStart {
            switch pastContext {
            case .recompute:
                // The window's rows are recomputed at positions 0 ..< C from its clean tokens.
                pending = pending.map { _ in start }
            case .slide:
                cache?.slide(by: start - windowStart)
                pending = pending.map { max($0, start) }
            }
            windowStart = start
        }
    }

    /// Where position p's row goes in the cache, and the position its rotary angle and
    /// learned embedding use.
    private var positionBase: Int { pastContext == .slide ? 0 : windowStart }

    func logits(sequences blocks: [[Int]], positions: [[Int]]) throws -> [Float] {
        let model = denoiser.model, K = model.config.blockSize!
        let wanted = blocks.indices.filter { !positions[$0].isEmpty }
        if wanted.isEmpty { return [] }
        // Per sample, the rows the call computes: from `first` (its pending commit, or the
        // window's start without a cache) to the block's end. Samples sharing a first row
        // are one forward; a sample's rows never depend on the others'.
        var groups: [(first: Int, members: [Int])] = []
        for b in wanted {
            let first = caching == .exact ? pending[b] : windowStart
            if let g = groups.firstIndex(where: { $0.first == first }) { groups[g].members.append(b) } else { groups.append((first, [b])) }
        }
        var rowsOf: [Int: [Float]] = [:]
        let V = vocabSize
        for (first, members) in groups {
            let rows = block.upperBound - first
            var ids: [Int] = []
            var flat: [Int] = []
            for (j, b) in members.enumerated() {
                ids.append(contentsOf: sequences[b][first..<block.lowerBound])
                ids.append(contentsOf: blocks[b])
                for p in positions[b] { flat.append(j * rows + block.lowerBound - first + p) }
            }
            // Row r (position first + r) sees the window up to the end of its block.
            let visible = (first..<block.upperBound).map { min(length, ($0 / K + 1) * K) - windowStart }
            var out: [Float]
            if caching == .exact, let cache {
                out = try model.forwardCached(ids: ids, slots: members, length: rows, first: first - positionBase,
                                              cacheRow: first - windowStart, visible: visible, positions: flat, cache: cache)
                for b in members { pending[b] = block.lowerBound }
            } else {
                out = try model.forward(ids: ids, batch: members.count, length: rows, positions: flat)
            }
            denoiser.maskPadding(&out, rows: flat.count)
            splitRows(out, members: members, positions: positions, vocabulary: V, into: &rowsOf)
        }
        return wanted.flatMap { rowsOf[$0]! }
    }
}

/// A grouped call's output rows, (Σ positions, V), handed back to their samples in order:
/// rowsOf[b] = sample b's rows, for each b of `members`.
func splitRows(_ out: [Float], members: [Int], positions: [[Int]], vocabulary V: Int, into rowsOf: inout [Int: [Float]]) {
    var offset = 0
    for b in members {
        let n = positions[b].count * V
        rowsOf[b] = Array(out[offset..<(offset + n)])
        offset += n
    }
}
