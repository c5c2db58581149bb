/// The part of a completion that can no longer change, as it grows: what the streaming
/// routes send.
///
/// Without remasking, a revealed token is never masked again, so the generated tokens up
/// to the first still-masked position are final. Their text is sent as it grows, except
/// for two tails that later tokens could still change:
/// - an unfinished UTF-8 character (a byte-level token may carry half of one): its bytes
///   wait for the rest;
/// - the start of a stop string (`"\n\n"` when the text ends in `"\n"`): it waits until the
///   stop string is either completed (the text ends before it) or ruled out.
/// The text ends at the first end-of-text token or the first stop string, whichever comes
/// first. Every delta is decoded from bytes that start and end on a decoder boundary, so the
/// deltas concatenate to exactly the text decoded at once (`finalText`), U+FFFD and all.
///
/// With a remasking sampler (P2, `remask=`) nothing is final before the last step: give
/// `remasks: true` and the whole text arrives with `finish`.
public struct CommittedText {
    /// Bytes of each id (the tokenizer's `tokenBytes`); special tokens decode to nothing.
    let bytesOf: (Int) -> [UInt8]
    let maskId: Int
    let endOfText: Set<Int>
    let stops: [[UInt8]]
    let remasks: Bool

    // bytes: the committed text so far, UTF-8, cut at an end-of-text token.
    private var bytes: [UInt8] = []
    // tokens: how many generated tokens `bytes` covers.
    private var tokens = 0
    private var ended = false
    /// Bytes of `bytes` already handed out as deltas (always a decoder boundary).
    private var sent = 0
    /// Set once the text is over: `.stop` (end of text or a stop string) or `.length`.
    public private(set) var finishReason: FinishReason?

    public enum FinishReason: String, Sendable { case stop, length }

    /// `stops`: up to 4 non-empty strings, as in the OpenAI API.
    public init(maskId: Int, endOfText: Set<Int>, stops: [String], remasks: Bool, bytesOf: @escaping (Int) -> [UInt8]) {
        self.maskId = maskId
        self.endOfText = endOfText
        self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty }
        self.remasks = remasks
        self.bytesOf = bytesOf
    }

    /// How many generated tokens the text covers: with a stop string, the tokens that
    /// begin before it; else every token read, the end-of-text token that ends it included.
    public var committedTokens: Int {
        if let s = stopStart() { return tokenStarts.filter { $0 < s }.count }
        return tokens
    }
    // tokenStarts[i]: the byte offset in `bytes` where generated token i's bytes begin.
    private var tokenStarts: [Int] = []

    /// Feed the generated positions as they are now (masks included); returns the new text
    /// that is final, possibly empty. Once a stop is seen the text is over (`finishReason`).
    public mutating func update(_ generated: some Collection<Int>) -> String {
        if remasks || finishReason != nil { return "" }
        extend(generated, final: false)
        return takeDelta(final: finishReason != nil)
    }

    /// The last step: every position is revealed. Returns the rest of the text.
    public mutating func finish(_ generated: some Collection<Int>) -> String {
        if finishReason != nil { return "" }
        if remasks { bytes = []; tokenStarts = []; tokens = 0; ended = false; sent = 0 }
        extend(generated, final: true)
        if finishReason == nil { finishReason = .length }
        return takeDelta(final: true)
    }

    /// The whole text so far (final once `finishReason` is set).
    public var text: String { String(decoding: bytes[..<stopCut()], as: UTF8.self) }

    private mutating func extend(_ generated: some Collection<Int>, final: Bool) {
        guard !ended else { return }
        var i = 0
        for id in generated {
            defer { i += 1 }
            if i < tokens { continue }
            if id == maskId && !final { break }
            if endOfText.contains(id) { ended = true; tokens = i + 1; break }
            tokenStarts.append(bytes.count)
            bytes.append(contentsOf: bytesOf(id))
            tokens = i + 1
        }
        if ended || stopStart() != nil { finishReason = .stop }
    }

    /// Where the earliest complete stop string starts, if any.
    private func stopStart() -> Int? {
        var best: Int?
        for s in stops where s.count <= bytes.count {
            var i = 0
            while i + s.count <= bytes.count && i < (best ?? Int.max) {
                if bytes[i] == s[0] && bytes[i..<(i + s.count)].elementsEqual(s) { best = i; break }
                i += 1
            }
        }
        return best
    }

    private func stopCut() -> Int { stopStart() ?? bytes.count }

    private mutating func takeDelta(final: Bool) -> String {
        var end = stopCut()
        if !final {
            end = min(end, bytes.count - Self.unfinishedTail(bytes))
            end = min(end, bytes.count - longestStopPrefixTail())
        }
        guard end > sent else { return "" }
        let delta = String(decoding: bytes[sent..<end], as: UTF8.self)
        sent = end
        return delta
    }

    /// Bytes at the end that begin a UTF-8 character the bytes do not finish yet (a lead
    /// byte followed by fewer continuation bytes than it announces, all valid so far).
    static func unfinishedTail(_ b: [UInt8]) -> Int {
        var k = 0
        // A character is at most 4 bytes: look back over at most 3 continuation bytes.
        while k < min(3, b.count) && b[b.count - 1 - k] & 0xC0 == 0x80 { k += 1 }
        guard k < b.count else { return 0 }
        let lead = b[b.count - 1 - k]
        let need: Int
        switch lead {
        case 0xC2...0xDF: need = 1
        case 0xE0...0xEF: need = 2
        case 0xF0...0xF4: need = 3
        default: return 0  // ASCII, or a byte no character starts with: decided already
        }
        guard k < need else { return 0 }
        // The second byte's allowed range is narrower after E0, ED, F0, F4: if it is out of
        // range the decoder has already replaced the lead, nothing waits.
        if k >= 1 {
            let second = b[b.count - k]
            switch lead {
            case 0xE0: if second < 0xA0 { return 0 }
            case 0xED: if second > 0x9F { return 0 }
            case 0xF0: if second < 0x90 { return 0 }
            case 0xF4: if second > 0x8F { return 0 }
            default: break
            }
        }
        return k + 1
    }

    /// The longest tail of the bytes that is a proper prefix of a stop string.
    private func longestStopPrefixTail() -> Int {
        var best = 0
        for s in stops {
            var k = min(s.count - 1, bytes.count)
            while k > best {
                if bytes[(bytes.count - k)...].elementsEqual(s[..<k]) { best = k; break }
                k -= 1
            }
        }
        return best
    }
}
