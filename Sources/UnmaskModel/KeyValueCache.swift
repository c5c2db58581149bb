import UnmaskKernels
import UnmaskSupport

/// The keys and values of every layer for the texts a batch is writing, so that a step
/// computes only the rows that changed (Transformer.forwardCached).
///
/// For a **block-causal** model this is exact: a finished block never depends on later
/// ones, so its keys and values, once computed from its clean tokens, are what an uncached
/// pass over the whole text would compute for it, bit for bit — the products give a row
/// the same bits whatever rows come with it, and attention runs row by row in one order
/// (`AttentionLayer.attendRow`) in both. For a **bidirectional** model (Fast-dLLM's prefix
/// and dual caches) the cached rows are stale: they were computed when the rows after
/// them held other tokens, and the error that brings is measured, never assumed
/// (docs/long-text.md, "Fast-dLLM's caches on a bidirectional model").
///
/// Memory: layers × slots × capacity × 2·KV·dh floats, in fp32 whatever the weights' compute
/// (the int8 and bf16 paths apply to the products, not to the cache).
public final class KeyValueCache {
    public let layers: Int
    /// Texts the cache holds (one per sample of a batch).
    public let slots: Int
    /// Positions per text.
    public let capacity: Int
    /// Floats per position: keys | values, 2·KV·dh.
    public let width: Int
    let storage: UnsafeMutablePointer<Float>   // (layers, slots, capacity, width)
    let scores: UnsafeMutablePointer<Float>    // (threads, capacity) attention scratch
    let threads: Int
    /// Rotary tables past the model's context, for a cache that slides (nil: the model's own).
    let rotary: RotaryLayer?

    public var bytes: Int { (layers * slots * capacity * width + threads * capacity) * MemoryLayout<Float>.size }

    /// The keys and values a cache of `slots` texts × `capacity` positions holds, in bytes
    /// (without the attention scratch): what `generate --json` reports as `cache_bytes`.
    public static func bytes(config c: ModelConfig, slots: Int, capacity: Int) -> Int {
        c.nLayers * slots * capacity * 2 * c.nKVHeads * c.headDim * MemoryLayout<Float>.size
    }

    /// `positions`: the largest position any row will be computed at plus one, when it is
    /// past `capacity` (a sliding cache keeps the last `capacity` positions' keys, at their
    /// own positions); rotary models only.
    public init(model: Transformer, slots: Int, capacity: Int, positions: Int? = nil) throws {
        let c = model.config
        guard slots >= 1, capacity >= 1, capacity <= c.contextLength else {
            throw UnmaskError("a key-value cache of \(capacity) positions does not fit the model's context of \(c.contextLength)")
        }
        layers = c.nLayers
        self.slots = slots
        self.capacity = capacity
        width = 2 * c.nKVHeads * c.headDim
        threads = max(1, model.matmul.threads)
        if let positions, positions > c.contextLength {
            guard c.positions == .rotary else {
                throw UnmaskError("positions past the context need rotary positions (this model's are \(c.positions.rawValue))")
            }
            rotary = RotaryLayer(length: positions, headDim: c.headDim, theta: c.ropeTheta)
        } else {
            rotary = nil
        }
        let need = Double(layers * slots * capacity * width + threads * capacity) * 4
        guard MemoryEstimate.fits(need, fraction: 0.5) else {
            throw UnmaskError("a key-value cache of \(slots) x \(capacity) positions needs \(fixed(need / 1e9, 2)) GB; this machine has \(fixed(Double(physicalMemoryBytes()) / 1e9, 1)) GB: use a smaller batch")
        }
        storage = .allocate(capacity: layers * slots * capacity * width)
        storage.initialize(repeating: 0, count: layers * slots * capacity * width)
        scores = .allocate(capacity: threads * capacity)
        scores.initialize(repeating: 0, count: threads * capacity)
    }

    deinit {
        storage.deallocate()
        scores.deallocate()
    }

    /// The (capacity, width) rows of one text at one layer.
    func rows(layer: Int, slot: Int) -> UnsafePointer<Float> {
        UnsafePointer(storage + ((layer * slots + slot) * capacity) * width)
    }

    /// Copies the keys | values of `rows` rows per text (after rotary) from a qkv buffer,
    /// (slots.count · rows, ld) with keys at column `queryWidth`, to cache rows
    /// first ..< first + rows of each listed slot.
    func store(layer: Int, qkv: UnsafePointer<Float>, ld: Int, queryWidth: Int, slots list: [Int], first: Int, rows: Int) {
        precondition(first >= 0 && first + rows <= capacity, "key-value cache: rows \(first)..<\(first + rows) past \(capacity)")
        for (b, slot) in list.enumerated() {
            let dst = storage + ((layer * slots + slot) * capacity + first) * width
            for r in 0..<rows { (dst + r * width).update(from: qkv + (b * rows + r) * ld + queryWidth, count: width) }
        }
    }

    /// Drops the first `count` positions of every text: the rest move to the front, keys and
    /// values as they were computed (a sliding window).
    public func slide(by count: Int) {
        precondition(count >= 0 && count <= capacity)
        let kept = (capacity - count) * width
        for layer in 0..<layers {
            for slot in 0..<slots {
                let base = storage + ((layer * slots + slot) * capacity) * width
                if kept > 0 { base.update(from: base + count * width, count: kept) }
            }
        }
    }

    /// Copies slot `from`'s rows (every layer) to slot `to`.
    public func copySlot(_ from: Int, to: Int) {
        for layer in 0..<layers {
            let src = storage + ((layer * slots + from) * capacity) * width, dst = storage + ((layer * slots + to) * capacity) * width
            dst.update(from: src, count: capacity * width)
        }
    }
}

/// What `Transformer.run` needs to continue texts held in a cache.
struct CachedRows {
    let cache: KeyValueCache
    /// The cache slot of each sequence of the call.
    let slots: [Int]
    /// Position of each sequence's first row.
    let first: Int
    /// Where its rows go in the cache: rows cacheRow ..< cacheRow + L (`first` unless the
    /// cache slid).
    let cacheRow: Int
    /// Per row r of a sequence: how many cache rows (from the first) its query sees.
    let visible: [Int]
    var rotary: RotaryLayer? { cache.rotary }
}

extension Transformer {
    /// Runs positions first ..< first + L of the texts in cache slots `slots` (ids:
    /// (slots.count, L), row-major): their keys and values are written to cache rows
    /// cacheRow ..< cacheRow + L (cacheRow: `first` unless the cache slid), and row r's query
    /// attends to cache rows 0 ..< visible[r]. Returns the head's output at the flat
    /// positions (b·L + r) asked for, (positions.count, outputSize).
    public func forwardCached(ids: [Int], slots: [Int], length L: Int, first: Int, cacheRow: Int? = nil, visible: [Int],
                              positions: [Int], cache: KeyValueCache, positionsAreRows: Bool = false) throws -> [Float] {
        let row = cacheRow ?? first
        let c = config, B = slots.count
        guard cache.layers == c.nLayers, cache.width == 2 * c.nKVHeads * c.headDim else {
            throw UnmaskError("internal: a key-value cache made for another model")
        }
        guard first + L <= (cache.rotary?.length ?? c.contextLength) else {
            throw UnmaskError("position \(first + L - 1) is past the model's context of \(c.contextLength)")
        }
        guard B >= 1, L >= 1, first >= 0, row >= 0, row + L <= cache.capacity, visible.count == L,
              visible.allSatisfy({ $0 >= 1 && $0 <= cache.capacity }), slots.allSatisfy({ $0 >= 0 && $0 < cache.slots }) else {
            throw UnmaskError("internal: cached rows \(row)..<\(row + L) of \(B) texts do not fit a cache of \(cache.capacity) positions")
        }
        try check(ids: ids, batch: B, length: L, positions: positions)
        workspace.reserve(batch: B, length: L, headRows: positions.count, threads: matmul.threads)
        run(ids: ids, batch: B, length: L, positions: positions, pattern: AttentionPattern(config), arena: workspace,
            cached: CachedRows(cache: cache, slots: slots, first: first, cacheRow: row, visible: visible),
            positionsAreRows: positionsAreRows)
        return Array(UnsafeBufferPointer(start: workspace.logits, count: positions.count * outputSize))
    }
}
