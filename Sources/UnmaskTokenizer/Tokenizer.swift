import UnmaskSupport

/// A byte-level BPE tokenizer, compatible with a Hugging Face `tokenizer.json` that uses
/// an NFC normalizer, the ByteLevel pre-tokenizer (GPT-2 split, no prefix space), a BPE
/// model and the ByteLevel decoder.
///
/// Guarantees:
///  * any text encodes, and `decode(encode(s)) == NFC(s)`; any byte string encodes through
///    `encodeRawBytes`, and `decode(encodeRawBytes(b)) == b`;
///  * special tokens (`<|endoftext|>`, `<|mask|>`, ...) never come out of ordinary text —
///    a literal "<|mask|>" in user text is encoded as plain characters — unless the caller
///    passes `allowSpecial: true` (templates do);
///  * ids equal those of `tokenizers` with `encode_special_tokens = True`.
///
/// Immutable after loading, so one instance can be shared between threads.
public final class Tokenizer: Sendable {
    public static let endOfTextToken = "<|endoftext|>"
    public static let maskToken = "<|mask|>"

    /// Number of ids, specials included.
    public let vocabSize: Int
    /// id -> the bytes it stands for (for a special token: the UTF-8 of its text).
    public let tokenBytes: [[UInt8]]
    /// Merges in rank order, as ids.
    public let merges: [(left: Int32, right: Int32, merged: Int32)]
    /// Special (added) tokens, in file order.
    public let specialTokens: [(content: String, id: Int)]
    public let endOfTextId: Int
    /// The mask token's id, or `Tokenizer.noMask` for a tokenizer without one (a Hugging
    /// Face evaluator's, e.g. GPT-2's): such a tokenizer can serve an evaluator only.
    public let maskId: Int
    public static let noMask = -1
    /// Whether `encode` NFC-normalises (the `tokenizer.json` normalizer is NFC; GPT-2's
    /// has none, and encoding its text must not change it).
    public let normalizesNFC: Bool
    /// The split before BPE (GPT-2's, or a Qwen2 / Llama-3 `Split` pre-tokenizer).
    public let splitRule: SplitRule
    /// BPE `ignore_merges` (Llama-3's tokenizer.json sets it): a pre-tokenized piece that is
    /// itself in the vocabulary becomes that one id, whatever the merges would make of it.
    public let ignoresMerges: Bool
    /// Multi-byte ordinary tokens by their bytes, for `ignoresMerges` (empty otherwise).
    let wholePieceToken: [[UInt8]: Int32]

    let byteToken: [Int32]
    let mergeTable: MergeTable
    let isSpecial: [Bool]

    /// Builds a tokenizer from its parts, checking that they are consistent.
    /// - tokenBytes: id -> bytes for every ordinary token (index = id); special ids may
    ///   appear here too (their entry is ignored) or lie past the end.
    public init(tokenBytes ordinary: [[UInt8]?], merges: [(left: Int32, right: Int32, merged: Int32)],
                specialTokens: [(content: String, id: Int)], requireMask: Bool = true, normalizesNFC: Bool = true,
                splitRule: SplitRule = .gpt2, ignoresMerges: Bool = false, maskOverride: Int? = nil,
                endOfTextOverride: Int? = nil) throws {
        var size = ordinary.count
        for s in specialTokens { size = max(size, s.id + 1) }
        var bytes = [[UInt8]](repeating: [], count: size)
        var special = [Bool](repeating: false, count: size)
        var defined = [Bool](repeating: false, count: size)
        for s in specialTokens {
            guard s.id >= 0 else { throw UnmaskError("special token \(s.content) has a negative id \(s.id)") }
            guard !defined[s.id] else { throw UnmaskError("duplicate id \(s.id) for special token \(s.content)") }
            defined[s.id] = true
            special[s.id] = true
            bytes[s.id] = Array(s.content.utf8)
        }
        var byteToken = [Int32](repeating: -1, count: 256)
        for (id, entry) in ordinary.enumerated() {
            guard let entry, !special[id] else { continue }
            guard !entry.isEmpty else { throw UnmaskError("token id \(id) is empty") }
            defined[id] = true
            bytes[id] = entry
            if entry.count == 1 {
                guard byteToken[Int(entry[0])] < 0 else {
                    throw UnmaskError("byte 0x\(String(entry[0], radix: 16)) has two token ids")
                }
                byteToken[Int(entry[0])] = Int32(id)
            }
        }
        if let hole = defined.firstIndex(of: false) {
            throw UnmaskError("vocabulary size mismatch: no token has id \(hole), but ids go up to \(size - 1)")
        }
        if let missing = byteToken.firstIndex(of: -1) {
            throw UnmaskError("byte-level vocabulary lacks a token for byte 0x\(String(missing, radix: 16))")
        }
        for (rank, m) in merges.enumerated() {
            for id in [m.left, m.right, m.merged] {
                guard id >= 0, Int(id) < size, !special[Int(id)] else {
                    throw UnmaskError("merge \(rank) names unknown token id \(id)")
                }
            }
            guard bytes[Int(m.merged)] == bytes[Int(m.left)] + bytes[Int(m.right)] else {
                throw UnmaskError("merge \(rank) does not produce the token it names (id \(m.merged))")
            }
        }
        func find(_ name: String) throws -> Int {
            guard let s = specialTokens.first(where: { $0.content.utf8.elementsEqual(name.utf8) }) else {
                throw UnmaskError("tokenizer has no \(name) special token (Unmask needs it)")
            }
            return s.id
        }
        // The tokenizer's own <|endoftext|> first (the fixtures' configs carry
        // transformers' default eos id, not theirs); a config's eos id serves a tokenizer
        // that has none (Llama-3's style).
        if let endOfTextOverride, !specialTokens.contains(where: { $0.content == Tokenizer.endOfTextToken }) {
            guard endOfTextOverride >= 0, endOfTextOverride < size, special[endOfTextOverride] else {
                throw UnmaskError("the model's end-of-text id \(endOfTextOverride) is not a special token of the tokenizer")
            }
            self.endOfTextId = endOfTextOverride
        } else {
            self.endOfTextId = try find(Tokenizer.endOfTextToken)
        }
        if let maskOverride {
            // A model's config names its mask id (LLaDA's `<|mdm_mask|>`): it must be one of
            // the tokenizer's specials, and not contradict a `<|mask|>` the tokenizer has.
            guard maskOverride >= 0, maskOverride < size, special[maskOverride] else {
                throw UnmaskError("the model's mask id \(maskOverride) is not a special token of the tokenizer")
            }
            if let named = specialTokens.first(where: { $0.content == Tokenizer.maskToken }), named.id != maskOverride {
                throw UnmaskError("the tokenizer's \(Tokenizer.maskToken) is id \(named.id) but the model's mask id is \(maskOverride): they disagree")
            }
            self.maskId = maskOverride
        } else if requireMask || specialTokens.contains(where: { $0.content == Tokenizer.maskToken }) {
            self.maskId = try find(Tokenizer.maskToken)
        } else {
            self.maskId = Tokenizer.noMask
        }
        self.normalizesNFC = normalizesNFC
        self.splitRule = splitRule
        self.ignoresMerges = ignoresMerges
        var whole: [[UInt8]: Int32] = [:]
        if ignoresMerges {
            for id in 0..<size where !special[id] && bytes[id].count > 1 { whole[bytes[id]] = Int32(id) }
        }
        self.wholePieceToken = whole
        self.vocabSize = size
        self.tokenBytes = bytes
        self.merges = merges
        self.specialTokens = specialTokens
        self.byteToken = byteToken
        self.mergeTable = MergeTable(merges: merges)
        self.isSpecial = special
    }

    public func isSpecialToken(_ id: Int) -> Bool { id >= 0 && id < vocabSize && isSpecial[id] }

    /// This tokenizer with `<|mask|>` appended as id `vocabSize`: how MDLM extends GPT-2's
    /// tokenizer (its mask index is the tokenizer's length). Only for a tokenizer without one.
    public func appendingMaskToken() throws -> Tokenizer {
        guard maskId == Tokenizer.noMask else { throw UnmaskError("the tokenizer already has a mask token (id \(maskId))") }
        let ordinary: [[UInt8]?] = (0..<vocabSize).map { isSpecial[$0] ? nil : tokenBytes[$0] }
        return try Tokenizer(tokenBytes: ordinary, merges: merges,
                             specialTokens: specialTokens + [(Tokenizer.maskToken, vocabSize)], normalizesNFC: normalizesNFC,
                             splitRule: splitRule, ignoresMerges: ignoresMerges, endOfTextOverride: endOfTextId)
    }

    /// This tokenizer with `id`, one of its specials, as the mask (the id a model's config
    /// names; see `maskOverride`).
    public func withMask(id: Int) throws -> Tokenizer {
        let ordinary: [[UInt8]?] = (0..<vocabSize).map { isSpecial[$0] ? nil : tokenBytes[$0] }
        return try Tokenizer(tokenBytes: ordinary, merges: merges, specialTokens: specialTokens, requireMask: false,
                             normalizesNFC: normalizesNFC, splitRule: splitRule, ignoresMerges: ignoresMerges, maskOverride: id,
                             endOfTextOverride: endOfTextId)
    }

    // MARK: Encoding

    /// Encodes text: NFC-normalises it, splits it, applies the merges.
    public func encode(_ text: String, allowSpecial: Bool = false) -> [Int] {
        // A Swift String is valid UTF-8, so the throwing path cannot fail here.
        (try? encode(utf8: Array(text.utf8), allowSpecial: allowSpecial)) ?? []
    }

    /// Encodes UTF-8 bytes. Throws (naming the offset) if they are not valid UTF-8.
    public func encode(utf8 bytes: [UInt8], allowSpecial: Bool = false) throws -> [Int] {
        var out: [Int32] = []
        var cache = PieceCache()
        var scratch = BPEScratch()
        for segment in segments(bytes, allowSpecial: allowSpecial) {
            switch segment {
            case let .special(id): out.append(Int32(id))
            case let .text(range):
                guard normalizesNFC else {
                    guard String(validating: bytes[range], as: UTF8.self) != nil else {
                        throw UnmaskError("the text is not valid UTF-8")
                    }
                    bytes[range].withUnsafeBufferPointer { encodeNormalized($0, cache: &cache, scratch: &scratch, into: &out) }
                    continue
                }
                let normalized = try bytes[range].withUnsafeBufferPointer { try TextNormalization.nfc($0) }
                normalized.withUnsafeBufferPointer { encodeNormalized($0, cache: &cache, scratch: &scratch, into: &out) }
            }
        }
        return out.map(Int.init)
    }

    /// Encodes any byte string exactly as given: no normalisation, no specials. Bytes that
    /// are not valid UTF-8 become pieces of their own. `decode` gives back the same bytes.
    public func encodeRawBytes(_ bytes: [UInt8]) -> [Int] {
        var out: [Int32] = []
        var cache = PieceCache()
        var scratch = BPEScratch()
        bytes.withUnsafeBufferPointer { encodeNormalized($0, cache: &cache, scratch: &scratch, into: &out) }
        return out.map(Int.init)
    }

    func encodeNormalized(_ text: UnsafeBufferPointer<UInt8>, cache: inout PieceCache, scratch: inout BPEScratch,
                          into out: inout [Int32]) {
        PreTokenizer.split(text, rule: splitRule) { start, end in
            let piece = UnsafeBufferPointer(rebasing: text[start..<end])
            if let hit = cache.lookup(piece) {
                out.append(contentsOf: hit)
                return
            }
            let before = out.count
            if ignoresMerges, piece.count > 1, let id = wholePieceToken[Array(piece)] {
                out.append(id)
                cache.insert(piece, [id])
                return
            }
            scratch.encode(piece: piece, byteToken: byteToken, merges: mergeTable, into: &out)
            cache.insert(piece, Array(out[before...]))
        }
    }

    enum Segment { case text(Range<Int>), special(Int) }

    /// Splits input at special-token texts when they are allowed (leftmost, then longest).
    func segments(_ bytes: [UInt8], allowSpecial: Bool) -> [Segment] {
        guard allowSpecial, !specialTokens.isEmpty else { return [.text(0..<bytes.count)] }
        let patterns = specialTokens.map { (Array($0.content.utf8), $0.id) }.sorted { $0.0.count > $1.0.count }
        var result: [Segment] = []
        var textStart = 0
        var i = 0
        outer: while i < bytes.count {
            for (pattern, id) in patterns where !pattern.isEmpty && i + pattern.count <= bytes.count {
                if bytes[i..<(i + pattern.count)].elementsEqual(pattern) {
                    if textStart < i { result.append(.text(textStart..<i)) }
                    result.append(.special(id))
                    i += pattern.count
                    textStart = i
                    continue outer
                }
            }
            i += 1
        }
        if textStart < bytes.count { result.append(.text(textStart..<bytes.count)) }
        return result
    }

    // MARK: Decoding

    /// The bytes of a sequence of ids. Throws on an id outside the vocabulary.
    public func decode(_ ids: [Int]) throws -> [UInt8] {
        var out: [UInt8] = []
        for id in ids {
            guard id >= 0 && id < vocabSize else {
                throw UnmaskError("token id \(id) is outside the vocabulary (0..<\(vocabSize))")
            }
            out.append(contentsOf: tokenBytes[id])
        }
        return out
    }

    /// Decoded text; byte sequences that are not valid UTF-8 (a cut inside a character)
    /// become U+FFFD.
    public func decodeText(_ ids: [Int]) throws -> String {
        String(decoding: try decode(ids), as: UTF8.self)
    }

    /// The token as `tokenizers` shows it: byte-level alphabet ("Ġthe"), or the special's text.
    public func tokenString(_ id: Int) -> String {
        guard id >= 0 && id < vocabSize else { return "" }
        if isSpecial[id] { return String(decoding: tokenBytes[id], as: UTF8.self) }
        return ByteLevelAlphabet.encode(tokenBytes[id])
    }
}

/// Cache of piece -> ids for one encode call. Keyed by bytes (never by `String`). Pieces
/// longer than 64 bytes are rare and not worth keeping; the cache is bounded so a huge
/// input of distinct pieces cannot grow it without limit.
struct PieceCache {
    private var map: [[UInt8]: [Int32]] = [:]
    static let maxPieceBytes = 64
    static let maxEntries = 1 << 16

    func lookup(_ piece: UnsafeBufferPointer<UInt8>) -> [Int32]? {
        guard piece.count <= PieceCache.maxPieceBytes, piece.count > 1 else { return nil }
        return map[Array(piece)]
    }

    mutating func insert(_ piece: UnsafeBufferPointer<UInt8>, _ ids: [Int32]) {
        guard piece.count <= PieceCache.maxPieceBytes, piece.count > 1 else { return }
        if map.count >= PieceCache.maxEntries { map.removeAll(keepingCapacity: true) }
        map[Array(piece)] = ids
    }
}

extension Tokenizer {
    /// Encoding throughput (`unmask bench tokenizer`): each text encoded whole, `repeats`
    /// times; returns the fastest run's seconds and the token count.
    public func measureEncoding(_ texts: [[UInt8]], repeats: Int) throws -> (seconds: Double, tokens: Int) {
        var best = Double.infinity
        var tokens = 0
        for _ in 0..<max(1, repeats) {
            let start = monotonicSeconds()
            var n = 0
            for text in texts { n += try encode(utf8: text).count }
            best = min(best, monotonicSeconds() - start)
            tokens = n
        }
        return (best, tokens)
    }
}
