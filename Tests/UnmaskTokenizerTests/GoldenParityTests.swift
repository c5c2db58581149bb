import XCTest
@testable import UnmaskTokenizer
import UnmaskSupport

/// Ids produced by Hugging Face `tokenizers` 0.23.3 (with encode_special_tokens = True) on
/// 455 varied strings (463 for the Llama-3 fixture), generated once by scripts/fixtures/make_tokenizer_goldens.py and committed.
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
    /// (scripts/fixtures/make_split_tokenizers.py); also through our writer and back.
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

    /// Llama-3 ships BPE `ignore_merges: true`. The fixture's vocabulary holds nine whole
    /// words no merge builds; with the flag they are one id each, as `tokenizers` writes in
    /// the goldens. The same tokenizer without the flag must get some goldens wrong, or the
    /// goldens would not test it.
    func testLlama3IgnoreMergesMatchesHuggingFace() throws {
        let tokenizer = try Tokenizer.load(path: fixturesDirectory + "/llama3_split_tokenizer.json")
        XCTAssertTrue(tokenizer.ignoresMerges)
        XCTAssertTrue(tokenizer.jsonText().contains("\"ignore_merges\": true"))
        let ordinary: [[UInt8]?] = (0..<tokenizer.vocabSize).map { tokenizer.isSpecialToken($0) ? nil : tokenizer.tokenBytes[$0] }
        let withoutFlag = try Tokenizer(tokenBytes: ordinary, merges: tokenizer.merges, specialTokens: tokenizer.specialTokens,
                                        normalizesNFC: false, splitRule: .llama3, ignoresMerges: false)
        let cases = try loadGoldens("llama3_split_goldens.jsonl")
        let differing = cases.filter { withoutFlag.encode($0.text) != $0.ids }.count
        print("llama3 goldens that need ignore_merges: \(differing) of \(cases.count)")
        XCTAssertGreaterThan(differing, 0)
        XCTAssertEqual(tokenizer.encode(" neighbourhood"), [600])
    }

    /// Llama-3 names its end of text `<|end_of_text|>`: without `<|endoftext|>` the id comes
    /// from the model's config (`eos_token_id`), and must be one of the specials.
    func testEndOfTextFromTheConfigWhenTheTokenizerHasNone() throws {
        let text = try String(contentsOfFile: fixturesDirectory + "/llama3_split_tokenizer.json", encoding: .utf8)
            .replacingOccurrences(of: "<|endoftext|>", with: "<|end_of_text|>")
        XCTAssertThrowsError(try Tokenizer.parse(json: Array(text.utf8))) { XCTAssertTrue("\($0)".contains("no <|endoftext|>"), "\($0)") }
        let tokenizer = try Tokenizer.parse(json: Array(text.utf8), endOfText: 0)
        XCTAssertEqual(tokenizer.endOfTextId, 0)
        XCTAssertThrowsError(try Tokenizer.parse(json: Array(text.utf8), endOfText: 5)) {
            XCTAssertTrue("\($0)".contains("not a special token"), "\($0)")
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
