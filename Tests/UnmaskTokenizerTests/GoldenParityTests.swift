import XCTest
@testable import UnmaskTokenizer
import UnmaskSupport

/// Ids produced by Hugging Face `tokenizers` 0.23.3 (with encode_special_tokens = True) on
/// 455 varied strings, generated once by scripts/make_tokenizer_goldens.py and committed.
/// Every id must match; the report prints how many strings differ and the first one.
final class GoldenParityTests: XCTestCase {
    func check(tokenizer: Tokenizer, goldens: String) throws {
        let cases = try loadGoldens(goldens)
        XCTAssertGreaterThan(cases.count, 300)
        var mismatches = 0
        var first: String?
        for c in cases {
            let ours = tokenizer.encode(c.text)
            if ours != c.ids {
                mismatches += 1
                if first == nil { first = "\(c.text.debugDescription): ours \(ours.prefix(16)) vs \(c.ids.prefix(16))" }
            }
            // Decoding gives back the (NFC, when the tokenizer normalises) text exactly.
            let expected = tokenizer.normalizesNFC ? TextNormalization.nfc(c.text) : c.text
            XCTAssertEqual(Array(try tokenizer.decode(c.ids)), Array(expected.utf8))
        }
        print("golden parity \(goldens): \(cases.count) strings, \(mismatches) mismatches")
        XCTAssertEqual(mismatches, 0, first ?? "")
    }

    func testBundledVocabMatchesHuggingFaceTokenizers() throws {
        try check(tokenizer: bundledTokenizer, goldens: "vocab_goldens.jsonl")
    }

    /// A file written by `tokenizers` itself (specials at ids 0 and 1, merges as pairs).
    func testTokenizerWrittenByHuggingFaceLoadsAndMatches() throws {
        let hf = try Tokenizer.load(path: fixturesDirectory + "/hf_trained_tokenizer.json")
        XCTAssertEqual(hf.vocabSize, 600)
        XCTAssertEqual(hf.endOfTextId, 0)
        XCTAssertEqual(hf.maskId, 1)
        try check(tokenizer: hf, goldens: "hf_trained_goldens.jsonl")
    }

    /// Our writer's output of a foreign file re-loads to the same tokenizer: the same token
    /// bytes, merges and specials, a fixed point of writing, and — what the name says — the
    /// same ids as Hugging Face `tokenizers` on every golden string (and decoding back).
    func testRewrittenFileEncodesIdentically() throws {
        let hf = try Tokenizer.load(path: fixturesDirectory + "/hf_trained_tokenizer.json")
        let again = try Tokenizer.parse(json: Array(hf.jsonText().utf8))
        XCTAssertEqual(again.tokenBytes, hf.tokenBytes)
        XCTAssertEqual(again.merges.map { [$0.left, $0.right, $0.merged] }, hf.merges.map { [$0.left, $0.right, $0.merged] })
        XCTAssertEqual(again.endOfTextId, hf.endOfTextId)
        XCTAssertEqual(again.maskId, hf.maskId)
        XCTAssertEqual(again.jsonText(), hf.jsonText())
        try check(tokenizer: again, goldens: "hf_trained_goldens.jsonl")
    }

    /// The Qwen2 (Dream) and Llama-3 `Split` pre-tokenizers, on tokenizers that
    /// `tokenizers` trained and wrote in those configurations
    /// (scripts/make_split_tokenizers.py); also through our writer and back.
    func testSplitPreTokenizersMatchHuggingFace() throws {
        for (family, rule, nfc) in [("qwen2", SplitRule.qwen2, true), ("llama3", .llama3, false)] {
            let tokenizer = try Tokenizer.load(path: fixturesDirectory + "/\(family)_split_tokenizer.json")
            XCTAssertEqual(tokenizer.splitRule, rule)
            XCTAssertEqual(tokenizer.normalizesNFC, nfc)
            try check(tokenizer: tokenizer, goldens: "\(family)_split_goldens.jsonl")
            let again = try Tokenizer.parse(json: Array(tokenizer.jsonText().utf8))
            XCTAssertEqual(again.splitRule, rule)
            XCTAssertEqual(again.normalizesNFC, nfc)
            try check(tokenizer: again, goldens: "\(family)_split_goldens.jsonl")
        }
    }

    func testBundledVocabLayout() {
        let t = bundledTokenizer
        XCTAssertEqual(t.vocabSize, 4096)
        XCTAssertEqual(t.endOfTextId, 4094)
        XCTAssertEqual(t.maskId, 4095)
        for b in 0..<256 { XCTAssertEqual(t.tokenBytes[b], [UInt8(b)]) }
    }
}
