import XCTest
@testable import UnmaskTokenizer
import UnmaskSupport

final class TokenizerPropertyTests: XCTestCase {
    func testRandomBytesRoundTrip() throws {
        var rng = SeededGenerator(seed: 1)
        for trial in 0..<500 {
            let n = Int.random(in: 0...200, using: &rng)
            // Mix uniform bytes with runs of ASCII so merges fire too.
            let bytes: [UInt8] = (0..<n).map { _ in
                Bool.random(using: &rng) ? UInt8.random(in: 0...255, using: &rng) : UInt8.random(in: 0x20...0x7A, using: &rng)
            }
            let ids = bundledTokenizer.encodeRawBytes(bytes)
            XCTAssertEqual(try bundledTokenizer.decode(ids), bytes, "trial \(trial)")
            XCTAssertFalse(ids.contains(where: bundledTokenizer.isSpecialToken), "trial \(trial)")
        }
    }

    func testRandomUnicodeTextRoundTripsToNFC() throws {
        var rng = SeededGenerator(seed: 2)
        // Scalar ranges: ASCII, Latin-1, combining marks, Greek, Cyrillic, Hangul jamo and
        // syllables, CJK, emoji, ZWJ/zero-width, ideographic space.
        let ranges: [ClosedRange<UInt32>] = [0x20...0x7E, 0x09...0x0D, 0xA0...0xFF, 0x300...0x36F, 0x370...0x3FF,
                                             0x400...0x4FF, 0x1100...0x11FF, 0xAC00...0xD7A3, 0x4E00...0x4FFF,
                                             0x1F300...0x1F64F, 0x200B...0x200D, 0x3000...0x3000, 0x0...0x1F]
        for trial in 0..<500 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...60, using: &rng) {
                let r = ranges[Int.random(in: 0..<ranges.count, using: &rng)]
                if let s = Unicode.Scalar(UInt32.random(in: r, using: &rng)) { scalars.append(s) }
            }
            let text = String(scalars)
            let ids = bundledTokenizer.encode(text)
            XCTAssertEqual(try bundledTokenizer.decode(ids), Array(TextNormalization.nfc(text).utf8), "trial \(trial)")
        }
    }

    func testNormalisationIsIdempotentAndComposes() throws {
        XCTAssertEqual(Array(TextNormalization.nfc("e\u{301}").unicodeScalars), ["\u{E9}"])
        XCTAssertEqual(Array(TextNormalization.nfc("\u{1100}\u{1161}\u{11A8}").unicodeScalars), ["\u{AC01}"])
        XCTAssertEqual(Array(TextNormalization.nfc("\u{FB01}").unicodeScalars), ["\u{FB01}"], "NFC keeps ligatures")
        XCTAssertEqual(Array(TextNormalization.nfc("a\0b").utf8), [0x61, 0, 0x62], "explicit length: NUL is text")
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<300 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<20 {
                let v = Bool.random(using: &rng) ? UInt32.random(in: 0x41...0x7A, using: &rng) : UInt32.random(in: 0x300...0x36F, using: &rng)
                scalars.append(Unicode.Scalar(v)!)
            }
            let once = TextNormalization.nfc(String(scalars))
            let twice = TextNormalization.nfc(once)
            XCTAssertTrue(once.unicodeScalars.elementsEqual(twice.unicodeScalars))
        }
        // Canonically equivalent inputs encode identically.
        XCTAssertEqual(bundledTokenizer.encode("caf\u{E9}"), bundledTokenizer.encode("cafe\u{301}"))
    }

    func testSpecialTokenTextIsPlainUnlessAllowed() {
        let t = bundledTokenizer
        let text = "a <|mask|> b <|endoftext|>"
        let plain = t.encode(text)
        XCTAssertFalse(plain.contains(t.maskId))
        XCTAssertFalse(plain.contains(t.endOfTextId))
        XCTAssertEqual(try t.decodeText(plain), text)
        let allowed = t.encode(text, allowSpecial: true)
        XCTAssertEqual(allowed.filter { $0 == t.maskId }.count, 1)
        XCTAssertEqual(allowed.last, t.endOfTextId)
        XCTAssertEqual(try t.decodeText(allowed), text)
    }

    func testInvalidUTF8IsRefusedWithItsOffsetAndRawBytesEncode() {
        let bytes: [UInt8] = [0x61, 0x62, 0xC3, 0x28, 0x63]
        XCTAssertThrowsError(try bundledTokenizer.encode(utf8: bytes)) { error in
            XCTAssertTrue("\(error)".contains("offset 2"), "\(error)")
        }
        XCTAssertEqual(try bundledTokenizer.decode(bundledTokenizer.encodeRawBytes(bytes)), bytes)
    }

    func testDecodeRejectsOutOfRangeIds() {
        XCTAssertThrowsError(try bundledTokenizer.decode([1, 4096]))
        XCTAssertThrowsError(try bundledTokenizer.decode([-1]))
    }

    /// A 100 000-character word must not take quadratic time. The naive "find the best pair,
    /// merge, rescan" loop makes ~10^10 pair comparisons on it; the heap-based loop makes
    /// at most 3n heap insertions (each popped once, log n apiece). The bound is checked by
    /// counting the insertions, not by a clock, so no load or sanitizer can flake it.
    func testLongRunIsNotQuadratic() throws {
        let trainer = BPETrainer(vocabSize: 256 + 12 + 2)
        let toy = try trainer.train(texts: [Array(String(repeating: "x", count: 5000).utf8)])
        XCTAssertEqual(toy.merges.count, 12)
        let long = String(repeating: "x", count: 100_000)
        var scratch = BPEScratch()
        var direct: [Int32] = []
        Array(long.utf8).withUnsafeBufferPointer {
            scratch.encode(piece: $0, byteToken: toy.byteToken, merges: toy.mergeTable, into: &direct)
        }
        print("100000-character run: \(direct.count) tokens after \(scratch.insertions) heap insertions")
        XCTAssertLessThanOrEqual(scratch.insertions, 3 * 100_000)
        let ids = toy.encode(long)
        XCTAssertEqual(ids, direct.map(Int.init), "the tokenizer encodes the run as one piece, by the same loop")
        XCTAssertEqual(try toy.decodeText(ids), long)
        XCTAssertLessThan(ids.count, 100, "the merges should cover the run with a few large tokens")
    }

    /// The naive merge loop, kept as the algorithmic reference: find the lowest-ranked
    /// adjacent pair, merge its occurrences left to right, repeat. Quadratic, but obviously
    /// what BPE means.
    func naiveEncodePiece(_ bytes: [UInt8], _ t: Tokenizer) -> [Int] {
        var symbols = bytes.map { Int(t.byteToken[Int($0)]) }
        var rankOf: [[Int]: (Int, Int)] = [:]
        for (r, m) in t.merges.enumerated() where rankOf[[Int(m.left), Int(m.right)]] == nil {
            rankOf[[Int(m.left), Int(m.right)]] = (r, Int(m.merged))
        }
        while symbols.count > 1 {
            var best: (rank: Int, merged: Int, pair: [Int])? = nil
            for i in 0..<(symbols.count - 1) {
                if let (r, m) = rankOf[[symbols[i], symbols[i + 1]]], best == nil || r < best!.rank {
                    best = (r, m, [symbols[i], symbols[i + 1]])
                }
            }
            guard let best else { break }
            var out: [Int] = []
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count && [symbols[i], symbols[i + 1]] == best.pair {
                    out.append(best.merged)
                    i += 2
                } else {
                    out.append(symbols[i])
                    i += 1
                }
            }
            symbols = out
        }
        return symbols
    }

    func testHeapEncoderMatchesNaiveReference() throws {
        var rng = SeededGenerator(seed: 4)
        // Small alphabets make long merge chains and many equal-rank overlaps ("aaaa").
        let alphabets: [[UInt8]] = [Array("a".utf8), Array("ab".utf8), Array("abc".utf8)]
        for alphabet in alphabets {
            let corpus = (0..<3000).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }
            let t = try BPETrainer(vocabSize: 256 + 60 + 2).train(texts: [corpus])
            for _ in 0..<200 {
                let piece = (0..<Int.random(in: 1...80, using: &rng)).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }
                XCTAssertEqual(t.encodeRawBytes(piece), naiveEncodePiece(piece, t), String(decoding: piece, as: UTF8.self))
            }
        }
    }
}
