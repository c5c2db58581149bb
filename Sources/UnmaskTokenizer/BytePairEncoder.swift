import HeapModule
// Applying BPE merges to one pre-tokenised piece.
//
// Performance notes (tiktoken / Hugging Face style):
//  * The naive loop "find the best-ranked adjacent pair, merge it, rescan" is quadratic in
//    the piece length; a 100 000-character run of one letter would take minutes. Here the
//    symbols form a doubly linked list over arrays and the candidate merges sit in a
//    binary min-heap keyed by (rank, position), so a piece of n bytes costs O(n log n).
//  * Heap entries are never updated in place. An entry goes stale when one of its two
//    symbols is merged away; it is recognised on pop (the pair now at that position has
//    another rank, or the position is dead) and skipped. Ranks are unique per pair, so
//    an entry whose rank still matches is still the same pair.
//  * Equal ranks pop leftmost first, which is the order of GPT-2's and `tokenizers`'
//    merge loops ("aaaa" with merge "a a" gives "aa aa", never "a aa a").
//  * A heap entry is one UInt64 (rank << 32 | position): comparisons are integer compares.
//  * Encoders are called once per piece; the Tokenizer keeps a per-call cache of pieces it
//    has seen, since natural text repeats its words constantly.

struct MergeTable {
    /// (left id << 32 | right id) -> (rank << 32 | merged id)
    private var table: [UInt64: UInt64] = [:]

    init(merges: [(left: Int32, right: Int32, merged: Int32)]) {
        table.reserveCapacity(merges.count)
        for (rank, m) in merges.enumerated() {
            let key = UInt64(UInt32(bitPattern: m.left)) << 32 | UInt64(UInt32(bitPattern: m.right))
            // If a pair is listed twice, the first (best) rank wins, as in `tokenizers`.
            if table[key] == nil {
                table[key] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: m.merged))
            }
        }
    }

    /// (rank, merged id) for the pair, or nil if the pair never merges.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> (rank: UInt32, merged: Int32)? {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        guard let v = table[key] else { return nil }
        return (UInt32(truncatingIfNeeded: v >> 32), Int32(bitPattern: UInt32(truncatingIfNeeded: v)))
    }
}

/// Reusable scratch space for encoding pieces, so the hot loop does not allocate.
struct BPEScratch {
    var symbols: [Int32] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var heap = Heap<UInt64>()  // rank << 32 | position: smallest rank, then leftmost
    /// Heap insertions so far: at most n − 1 for the first pairs plus 2 per merge, so at
    /// most 3n for a piece of n bytes. Counted so a test can check the bound by counting,
    /// where a clock would depend on the machine's load and build.
    var insertions = 0

    mutating func encode(piece: UnsafeBufferPointer<UInt8>, byteToken: [Int32], merges: MergeTable,
                         into out: inout [Int32]) {
        let n = piece.count
        if n == 0 { return }
        if n == 1 {
            out.append(byteToken[Int(piece[0])])
            return
        }
        symbols.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        // `heap` is empty here: the merge loop below drains it, and its storage is reused.
        for i in 0..<n {
            symbols.append(byteToken[Int(piece[i])])
            prev.append(Int32(i - 1))
            next.append(Int32(i + 1))
        }
        for i in 0..<(n - 1) {
            if let m = merges.lookup(symbols[i], symbols[i + 1]) {
                heap.insert(UInt64(m.rank) << 32 | UInt64(i))
                insertions += 1
            }
        }
        while let top = heap.popMin() {
            let rank = UInt32(truncatingIfNeeded: top >> 32)
            let i = Int(UInt32(truncatingIfNeeded: top))
            let left = symbols[i]
            if left < 0 { continue }  // merged into its left neighbour
            let j = Int(next[i])
            if j >= n { continue }
            guard let m = merges.lookup(left, symbols[j]), m.rank == rank else { continue }  // stale
            // Merge j into i and unlink j.
            symbols[i] = m.merged
            symbols[j] = -1
            let k = Int(next[j])
            next[i] = Int32(k)
            if k < n { prev[k] = Int32(i) }
            let p = Int(prev[i])
            if p >= 0, let mp = merges.lookup(symbols[p], m.merged) {
                heap.insert(UInt64(mp.rank) << 32 | UInt64(p))
                insertions += 1
            }
            if k < n, let mk = merges.lookup(m.merged, symbols[k]) {
                heap.insert(UInt64(mk.rank) << 32 | UInt64(i))
                insertions += 1
            }
        }
        var i = 0
        while i < n {
            out.append(symbols[i])
            i = Int(next[i])
        }
    }
}
