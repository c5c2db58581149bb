import HeapModule
import UnmaskSupport

/// Trains a byte-level BPE vocabulary.
///
/// The algorithm: NFC-normalise, split with the same pre-tokeniser the encoder uses,
/// count each distinct piece, then repeatedly merge the most frequent adjacent pair of
/// symbols (counted with piece frequencies) into a new token, until the vocabulary holds
/// `vocabSize` ids: 256 byte tokens, the merges, then the special tokens.
///
/// Id layout: 0...255 are the bytes 0x00...0xFF in order; merge number r creates id
/// 256 + r; the specials follow in the order given (`<|endoftext|>`, `<|mask|>`), so they
/// sit at the end of the vocabulary.
///
/// Tie-break rule (determinism): among pairs with the highest count, the one with the
/// smallest left id wins, then the smallest right id. Ids are assigned in creation
/// order, so the rule does not depend on hash order, thread count or platform. Distinct
/// pieces are sorted by their bytes before numbering, for the same reason.
///
/// Performance notes: pair counts live in a hash map, candidates in a heap (highest count first) with lazy
/// deletion (an entry is skipped when its count no longer matches), and each pair keeps
/// the list of pieces it occurs in, so a merge only revisits the pieces that contain it.
/// On the 3.5 MB training split this takes seconds, not minutes.
public struct BPETrainer {
    public var vocabSize: Int
    public var specialTokens: [String]

    public init(vocabSize: Int, specialTokens: [String] = [Tokenizer.endOfTextToken, Tokenizer.maskToken]) {
        self.vocabSize = vocabSize
        self.specialTokens = specialTokens
    }

    /// Trains on UTF-8 texts (each is normalised and split independently).
    public func train(texts: [[UInt8]]) throws -> Tokenizer {
        let mergeCount = vocabSize - 256 - specialTokens.count
        guard mergeCount >= 0 else {
            throw SettingError(.vocabSize, "⟨vocab_size⟩ \(vocabSize) is too small: it must hold 256 byte tokens and \(specialTokens.count) special tokens")
        }
        guard vocabSize <= 1 << 20 else { throw SettingError(.vocabSize, "⟨vocab_size⟩ \(vocabSize) is too large (at most \(1 << 20))") }

        // 1. Count distinct pieces.
        var pieceCounts: [[UInt8]: Int] = [:]
        for text in texts {
            let normalized = try TextNormalization.nfc(text)
            normalized.withUnsafeBufferPointer { buf in
                PreTokenizer.split(buf) { s, e in pieceCounts[Array(buf[s..<e]), default: 0] += 1 }
            }
        }
        let pieces = pieceCounts.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        var words: [[Int32]] = pieces.map { $0.key.map { Int32($0) } }
        let freq: [Int] = pieces.map(\.value)

        // 2. Initial pair counts and occurrence lists.
        var counts: [UInt64: Int] = [:]
        var occurrences: [UInt64: [Int32]] = [:]
        @inline(__always) func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }
        for (w, word) in words.enumerated() where word.count > 1 {
            for i in 0..<(word.count - 1) {
                let k = key(word[i], word[i + 1])
                counts[k, default: 0] += freq[w]
                occurrences[k, default: []].append(Int32(w))
            }
        }
        var heap = Heap<PairCandidate>()
        for (k, c) in counts { heap.insert(PairCandidate(count: c, pair: k)) }

        var tokenBytes: [[UInt8]?] = (0..<256).map { [UInt8($0)] }
        var merges: [(left: Int32, right: Int32, merged: Int32)] = []
        var lastVisit = [Int32](repeating: -1, count: words.count)
        var touched: [UInt64: Int] = [:]

        // 3. Merge loop.
        while merges.count < mergeCount, let top = heap.popMin() {
            guard let current = counts[top.pair], current == top.count, current > 0 else { continue }  // stale
            let a = Int32(truncatingIfNeeded: top.pair >> 32), b = Int32(truncatingIfNeeded: top.pair & 0xFFFF_FFFF)
            let newId = Int32(tokenBytes.count)
            tokenBytes.append(tokenBytes[Int(a)]! + tokenBytes[Int(b)]!)
            merges.append((a, b, newId))
            let stamp = Int32(merges.count)
            touched.removeAll(keepingCapacity: true)
            for w32 in occurrences[top.pair] ?? [] {
                let w = Int(w32)
                if lastVisit[w] == stamp { continue }
                lastVisit[w] = stamp
                let old = words[w]
                guard old.count > 1 else { continue }
                // Merge non-overlapping (a, b) left to right.
                var merged: [Int32] = []
                merged.reserveCapacity(old.count)
                var i = 0
                var changed = false
                while i < old.count {
                    if i + 1 < old.count && old[i] == a && old[i + 1] == b {
                        merged.append(newId)
                        i += 2
                        changed = true
                    } else {
                        merged.append(old[i])
                        i += 1
                    }
                }
                if !changed { continue }
                let f = freq[w]
                for j in 0..<(old.count - 1) {
                    let k = key(old[j], old[j + 1])
                    counts[k, default: 0] -= f
                    touched[k, default: 0] += 1
                }
                for j in 0..<max(0, merged.count - 1) {
                    let k = key(merged[j], merged[j + 1])
                    counts[k, default: 0] += f
                    touched[k, default: 0] += 1
                    if merged[j] == newId || merged[j + 1] == newId { occurrences[k, default: []].append(w32) }
                }
                words[w] = merged
            }
            occurrences[top.pair] = nil
            for k in touched.keys.sorted() {
                let c = counts[k] ?? 0
                if c > 0 { heap.insert(PairCandidate(count: c, pair: k)) } else { counts[k] = nil }
            }
        }
        let specials = specialTokens.enumerated().map { (content: $0.element, id: tokenBytes.count + $0.offset) }
        return try Tokenizer(tokenBytes: tokenBytes, merges: merges, specialTokens: specials)
    }
}

/// A merge candidate in the trainer's heap. "Smaller" means "merged first": the higher
/// count, then the smaller pair (left id, right id), which makes training deterministic.
struct PairCandidate: Comparable {
    var count: Int
    var pair: UInt64

    static func < (x: PairCandidate, y: PairCandidate) -> Bool {
        x.count != y.count ? x.count > y.count : x.pair < y.pair
    }
}
