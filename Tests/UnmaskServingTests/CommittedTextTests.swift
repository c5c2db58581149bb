import XCTest
import UnmaskSupport
@testable import UnmaskServing

/// The committed-text tracker against the text decoded at once. A toy vocabulary of byte
/// strings that split UTF-8 characters (é, €, 😀 across tokens), invalid bytes, newlines
/// and a stop string's pieces; random texts revealed in random orders. Whatever the order,
/// the deltas must concatenate to exactly the final text (U+FFFD included), the final text
/// must be the whole decode cut at the first stop string or end-of-text token, and nothing
/// can be sent before it is final (checked by comparing each prefix sent so far with the
/// final text).
final class CommittedTextTests: XCTestCase {
    static let mask = 99
    static let end = 98
    // id -> bytes. Ids 0..<vocab.count; "é" = C3 A9, "€" = E2 82 AC, "😀" = F0 9F 98 80.
    static let vocab: [[UInt8]] = [
        Array("a".utf8), Array(" the".utf8), Array("\n".utf8), Array("\n\n".utf8), Array("END".utf8), Array("EN".utf8),
        Array("D!".utf8), [0xC3], [0xA9], [0xE2], [0x82, 0xAC], [0xF0, 0x9F], [0x98], [0x80], [0xFF], [0xE0, 0x80],
        Array("é".utf8), Array("x€".utf8), [0xED, 0xA0], Array("STOP".utf8),
    ]
    static func bytes(_ id: Int) -> [UInt8] { id < vocab.count ? vocab[id] : [] }

    func check(ids: [Int], order: [Int], stops: [String], file: StaticString = #filePath, line: UInt = #line) {
        var tracker = CommittedText(maskId: Self.mask, endOfText: [Self.end], stops: stops, remasks: false, bytesOf: Self.bytes)
        var canvas = [Int](repeating: Self.mask, count: ids.count)
        var sent = ""
        // The reference: all bytes up to end-of-text, cut at the earliest stop string.
        var all: [UInt8] = []
        for id in ids { if id == Self.end { break }; all += Self.bytes(id) }
        var cut = all.count
        for s in stops.map({ Array($0.utf8) }) {
            if let i = (0...max(0, all.count - s.count)).first(where: { all.count >= s.count && Array(all[$0..<($0 + s.count)]) == s }) { cut = min(cut, i) }
        }
        let expected = String(decoding: all[..<cut], as: UTF8.self)
        for p in order {
            canvas[p] = ids[p]
            sent += tracker.update(canvas)
            // Sent text is final: a prefix of the final text, scalar for scalar.
            XCTAssertTrue(expected.unicodeScalars.starts(with: sent.unicodeScalars), "sent \(sent.debugDescription) is not a prefix of \(expected.debugDescription)", file: file, line: line)
        }
        sent += tracker.finish(canvas)
        XCTAssertTrue(sent.unicodeScalars.elementsEqual(expected.unicodeScalars), "deltas \(sent.debugDescription) != \(expected.debugDescription) for \(ids) order \(order) stops \(stops)", file: file, line: line)
        XCTAssertTrue(tracker.text.unicodeScalars.elementsEqual(expected.unicodeScalars), file: file, line: line)
        XCTAssertEqual(tracker.finishReason, (cut < all.count || ids.contains(Self.end)) ? .stop : .length, file: file, line: line)
    }

    func testRandomTextsAndOrdersConcatenateToTheFinalText() {
        var rng = SplitMix64(seed: 17)
        let stopChoices: [[String]] = [[], ["\n\n"], ["END"], ["STOP", "é!"], ["€"], ["a a"]]
        for trial in 0..<3000 {
            let n = 1 + Int(rng.next() % 12)
            var ids = (0..<n).map { _ in Int(rng.next() % UInt64(Self.vocab.count)) }
            if rng.next() % 5 == 0 { ids[Int(rng.next() % UInt64(n))] = Self.end }
            var order = Array(0..<n)
            for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            if trial % 3 == 0 { order = Array(0..<n) }  // left to right, the autoregressive order
            check(ids: ids, order: order, stops: stopChoices[trial % stopChoices.count])
        }
    }

    func testSplitCharactersWaitForTheirLastByte() {
        var t = CommittedText(maskId: Self.mask, endOfText: [Self.end], stops: [], remasks: false, bytesOf: Self.bytes)
        // "😀" in three tokens: F0 9F | 98 | 80, then "a".
        XCTAssertEqual(t.update([11, Self.mask, Self.mask, Self.mask]), "")
        XCTAssertEqual(t.update([11, 12, Self.mask, Self.mask]), "")
        XCTAssertEqual(t.update([11, 12, 13, Self.mask]), "😀")
        XCTAssertEqual(t.finish([11, 12, 13, 0]), "a")
    }

    func testAStopStringAcrossTokensIsHeldThenCut() {
        var t = CommittedText(maskId: Self.mask, endOfText: [Self.end], stops: ["END"], remasks: false, bytesOf: Self.bytes)
        XCTAssertEqual(t.update([0, 5, Self.mask]), "a")  // "aEN": "EN" may begin "END"
        XCTAssertNil(t.finishReason)
        XCTAssertEqual(t.update([0, 5, 6]), "")  // "aEND!": the stop is complete, the text is "a"
        XCTAssertEqual(t.finishReason, .stop)
        XCTAssertEqual(t.text, "a")
        XCTAssertEqual(t.committedTokens, 1)
    }

    func testRemaskingSamplersSendEverythingAtTheEnd() {
        var t = CommittedText(maskId: Self.mask, endOfText: [Self.end], stops: [], remasks: true, bytesOf: Self.bytes)
        XCTAssertEqual(t.update([0, 1, Self.mask]), "")
        XCTAssertEqual(t.finish([0, 2, 0]), "a\na")
    }
}

final class ServerSentEventsTests: XCTestCase {
    func testEveryPayloadLineIsItsOwnDataField() {
        XCTAssertEqual(ServerSentEvents.event("step", "{\"a\":1}"), "event: step\ndata: {\"a\":1}\n\n")
        XCTAssertEqual(ServerSentEvents.event(nil, "one\ntwo"), "data: one\ndata: two\n\n")
        XCTAssertEqual(ServerSentEvents.event(nil, "[DONE]"), "data: [DONE]\n\n")
        XCTAssertEqual(ServerSentEvents.comment("keep-alive"), ": keep-alive\n\n")
        // A bare CR would end the line for an SSE parser: it is escaped.
        XCTAssertEqual(ServerSentEvents.event(nil, "a\rb"), "data: a\\rb\n\n")
    }
}
