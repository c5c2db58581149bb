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

/// Block diffusion's generation (BD3-LM, SDAR, Fast-dLLM v2, the Qwen3 A2D checkpoints):
/// the canvas in the model's blocks, left to right, each block drawn by the sampler on the
/// block alone, conditioned on every clean token before it. With the cache on, a call
/// computes only the block's rows (and, once per block, the previous block's, whose keys
/// and values become final then) against the cached keys; with it off, every call runs
/// all the rows from the window's start.
///
/// Blocks start at position 0, or, for a model whose blocks align at the prompt's end
/// (`ModelConfig.BlockAlignment.promptEnd`), at the first masked position: the first block
/// is then the prompt's first (prompt mod B) tokens, as if the prompt had been left-padded
/// to whole blocks with pads that are neither keys nor positions.
///
/// A model with shifted logits (Fast-dLLM v2) reads a block's first token from the last row
/// of the block before it, which no token of the block can change: when that position is
/// masked it is drawn first, alone, in the block's first call (the call that commits the
/// block before), and the sampler then runs on the block, whose position j reads row j − 1.
///
/// Block k of sample i uses stream i of `Generation.blockSeed(seed, k)` (k counts the
/// sampler runs: the blocks that have something to generate, and a shifted model's lone
/// first positions), as the semi-autoregressive scheme does.
enum BlockCausalGeneration {
    /// The model's blocks over a canvas of `length` positions whose prompt ends at `promptEnd`.
    static func blocks(config c: ModelConfig, length N: Int, promptEnd: Int) -> [Range<Int>] {
        let K = c.blockSize!
        let offset = c.blockAlignment == .promptEnd ? (K - promptEnd % K) % K : 0
        var starts = [0]
        var next = K - offset
        while next < N { starts.append(next); next += K }
        return starts.indices.map { starts[$0]..<(($0 + 1 < starts.count) ? starts[$0 + 1] : N) }
    }

    static func generateBatch(sampler: DiffusionSampler, denoiser: TransformerDenoiser, canvas: [Int], size: Int,
                              firstSample: Int, seed: UInt64, caching: KeyValueCaching, pastContext: PastContext,
                              observer: ((Int, [[Int]]) -> Void)?) throws
        -> (sequences: [[Int]], nfe: [Int], seconds: Double) {
        let model = denoiser.model, C = model.config.contextLength
        let N = canvas.count, mask = denoiser.maskId
        if sampler.spec.kind == .ddpd {
            throw SettingError(.sampler, "sampler ddpd plans over the whole canvas with its own model; a block-causal model generates block by block: use another ⟨sampler⟩")
        }
        if sampler.spec.kind == .speculative {
            throw SettingError(.sampler, "sampler speculative runs on bidirectional models for now (its verification canvases would each need their own cache rows on a block-causal one): use fhs")
        }
        if caching == .prefix || caching == .dual {
            throw SettingError(.cache, "⟨cache⟩ \(caching.rawValue) is Fast-dLLM's approximate cache for bidirectional models; a block-causal model caches exactly (⟨cache⟩ exact)")
        }
        if pastContext == .slide && N > C && caching == .off {
            throw SettingError(.pastContext, "⟨past_context⟩ slide is a property of the cache: it needs ⟨cache⟩ exact")
        }
        let promptEnd = canvas.firstIndex(of: mask) ?? N
        let blocks = Self.blocks(config: model.config, length: N, promptEnd: promptEnd)
        if model.config.blockAlignment == .promptEnd && N > C && blocks.first!.count != model.config.blockSize! {
            throw UnmaskError("this model's blocks end where the prompt ends; past its context of \(C) positions its windows would cut them: make the prompt a whole number of \(model.config.blockSize!)-token blocks or the text shorter")
        }
        let steps = BlockSteps(denoiser: denoiser, size: size, length: N, caching: caching, pastContext: pastContext, blocks: blocks)
        if caching == .exact {
            let K = model.config.blockSize!
            steps.cache = try KeyValueCache(model: model, slots: size, capacity: min(C, (N + K - 1) / K * K),
                                            positions: pastContext == .slide ? N : nil)
        }
        var sequences = [[Int]](repeating: canvas, count: size)
        var nfe = [Int](repeating: 0, count: size)
        var seconds = 0.0, k = 0
        for (index, block) in blocks.enumerated() {
            guard canvas[block].contains(mask) else { continue }
            // The sampler's runs over this block: a shifted model's masked first position
            // alone (it reads the row before the block), then the whole block again, that
            // position now fixed (so that a sampler's sub-blocks stay aligned with the block).
            var runs = [block]
            if model.config.shiftedLogits && block.lowerBound > 0 && canvas[block.lowerBound] == mask {
                runs = [block.lowerBound..<(block.lowerBound + 1), block]
            }
            steps.begin(block: index, sequences: sequences)
            for range in runs where sequences.contains(where: { $0[range].contains(mask) }) {
                steps.sample(range, sequences: sequences)
                let part = sequences.map { Array($0[range]) }
                let r = try sampler.sample(canvases: part, denoiser: steps, seed: Generation.blockSeed(seed, k),
                                           firstStream: UInt64(firstSample),
                                           observer: observer.map { o in { partial in
                                               var full = sequences
                                               for j in 0..<size { full[j].replaceSubrange(range, with: partial[j]) }
                                               o(firstSample, full)
                                           } })
                for j in 0..<size {
                    sequences[j].replaceSubrange(range, with: r.sequences[j])
                    nfe[j] += r.nfe[j]
                }
                seconds += r.seconds
                k += 1
            }
        }
        return (sequences, nfe, seconds)
    }
}

/// The denoiser a block's sampler calls: the positions of `range` (the block, or a part of
/// it), computed against the text before them (cached or not).
final class BlockSteps: Denoiser {
    let denoiser: TransformerDenoiser
    let caching: KeyValueCaching
    let pastContext: PastContext
    var cache: KeyValueCache?
    let length: Int
    /// The model's blocks over the canvas (`BlockCausalGeneration.blocks`).
    let blocks: [Range<Int>]
    var vocabSize: Int { denoiser.vocabSize }
    var maskId: Int { denoiser.maskId }
    var maxLength: Int { range.count }

    private var sequences: [[Int]] = []
    /// The model block being generated, and the positions the sampler is drawing in it.
    private(set) var block = 0..<0
    private(set) var range = 0..<0
    /// The first position of the cache's row 0 (the window's start).
    private var windowStart = 0
    /// Per sample: the first position whose keys and values the cache does not hold final
    /// (the clean blocks before the current one that no call has committed yet).
    private var pending: [Int]
    /// Per position: the end of its block (what its query sees).
    private let blockEnd: [Int]

    init(denoiser: TransformerDenoiser, size: Int, length: Int, caching: KeyValueCaching, pastContext: PastContext,
         blocks: [Range<Int>]) {
        self.denoiser = denoiser
        self.caching = caching
        self.pastContext = pastContext
        self.length = length
        self.blocks = blocks
        var ends = [Int](repeating: 0, count: length)
        for b in blocks { for p in b { ends[p] = b.upperBound } }
        blockEnd = ends
        pending = [Int](repeating: 0, count: size)
    }

    /// Starts model block `index`: `sequences` hold every clean token before it.
    func begin(block index: Int, sequences: [[Int]]) {
        let C = denoiser.model.config.contextLength, K = denoiser.model.config.blockSize!
        self.sequences = sequences
        block = blocks[index]
        let start = max(0, block.lowerBound + K - C)
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

    /// The sampler's next run draws the positions of `range` (inside the current block);
    /// `sequences` hold the tokens drawn so far.
    func sample(_ range: Range<Int>, sequences: [[Int]]) {
        self.range = range
        self.sequences = sequences
    }

    /// Where position p's row goes in the cache, and the position its rotary angle and
    /// learned embedding use.
    private var positionBase: Int { pastContext == .slide ? 0 : windowStart }

    func logits(sequences parts: [[Int]], positions: [[Int]]) throws -> [Float] {
        let model = denoiser.model, shifted = model.config.shiftedLogits
        let wanted = parts.indices.filter { !positions[$0].isEmpty }
        if wanted.isEmpty { return [] }
        // The hidden row each position reads: its own, or (shifted logits) the one before it.
        func row(_ p: Int) -> Int { shifted && p > windowStart ? p - 1 : p }
        // Rows a call computes end with the block, unless every row read lies before it (a
        // shifted model's lone first position reads the last row of the block before).
        let readsBefore = positions.allSatisfy { $0.allSatisfy { row(range.lowerBound + $0) < block.lowerBound } }
        let end = readsBefore ? block.lowerBound : block.upperBound
        // Per sample, the rows the call computes: from `first` (its pending commit, or the
        // window's start without a cache) to `end`. Samples sharing a first row are one
        // forward; a sample's rows never depend on the others'.
        var groups: [(first: Int, members: [Int])] = []
        for b in wanted {
            let first = caching == .exact ? pending[b] : windowStart
            if let g = groups.firstIndex(where: { $0.first == first }) { groups[g].members.append(b) } else { groups.append((first, [b])) }
        }
        var rowsOf: [Int: [Float]] = [:]
        let V = vocabSize
        for (first, members) in groups {
            let rows = end - first
            var ids: [Int] = []
            var flat: [Int] = []
            for (j, b) in members.enumerated() {
                var text = sequences[b]
                text.replaceSubrange(range, with: parts[b])
                ids.append(contentsOf: text[first..<end])
                for p in positions[b] { flat.append(j * rows + row(range.lowerBound + p) - first) }
            }
            // Row r (position first + r) sees the window up to the end of its block.
            let visible = (first..<end).map { blockEnd[$0] - windowStart }
            var out: [Float]
            if caching == .exact, let cache {
                out = try model.forwardCached(ids: ids, slots: members, length: rows, first: first - positionBase,
                                              cacheRow: first - windowStart, visible: visible, positions: flat, cache: cache,
                                              positionsAreRows: true)
                for b in members { pending[b] = min(end, block.lowerBound) }
            } else {
                // Blocks shifted so that row 0's block ends where position `first`'s does.
                let K = model.config.blockSize!, offset = (K - (blockEnd[first] - first)) % K
                out = try model.forward(ids: ids, batch: members.count, length: rows, positions: flat,
                                        pattern: .blockCausal(K, offset: offset), positionsAreRows: true)
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
