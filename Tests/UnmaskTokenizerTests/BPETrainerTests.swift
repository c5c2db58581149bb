import XCTest
@testable import UnmaskTokenizer
import UnmaskSupport

final class BPETrainerTests: XCTestCase {
    /// The textbook example. Pair counts in "aaabdaaabac": aa=4, ab=2, bd=da=ba=ac=1.
    ///  1. aa (count 4) -> 256.  Word: 256 a b d 256 a b a c
    ///  2. (256,a)=2 and (a,b)=2 tie; the smaller left id wins: a=97 < 256 -> "ab" = 257.
    ///     Word: 256 257 d 256 257 a c
    ///  3. (256,257)=2 -> "aaab" = 258.  Word: 258 d 258 a c
    func testHandCheckableExample() throws {
        let t = try BPETrainer(vocabSize: 256 + 3 + 2).train(texts: [Array("aaabdaaabac".utf8)])
        XCTAssertEqual(t.merges.map { [$0.left, $0.right, $0.merged] }, [[97, 97, 256], [97, 98, 257], [256, 257, 258]])
        XCTAssertEqual(t.tokenBytes[258], Array("aaab".utf8))
        XCTAssertEqual(t.endOfTextId, 259)
        XCTAssertEqual(t.maskId, 260)
        XCTAssertEqual(t.encode("aaabdaaabac"), [258, 100, 258, 97, 99])
    }

    /// Two trainings in this process give the same file, and the file re-loads to a
    /// tokenizer that encodes the same. This proves repeatability within one process only:
    /// both trainings share Swift's per-process hash seed, so a dependence on Dictionary or
    /// Set iteration order would give the same result twice here. Determinism across
    /// processes (different hash seeds) is tested by
    /// TokenizerDeterminismCLITests.testTrainingGivesTheSameFileInSeparateProcesses.
    func testTrainingIsRepeatableInOneProcessAndRoundTripsThroughJSON() throws {
        let text = Array("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. ".utf8)
        let a = try BPETrainer(vocabSize: 300).train(texts: [text, text])
        let b = try BPETrainer(vocabSize: 300).train(texts: [text, text])
        XCTAssertEqual(a.jsonText(), b.jsonText())
        let reloaded = try Tokenizer.parse(json: Array(a.jsonText().utf8))
        XCTAssertEqual(reloaded.encode("a single man"), a.encode("a single man"))
    }

    func testPiecesDoNotMergeAcrossTheSplit() throws {
        // "a b" is two pieces ("a", " b"), so no merge can join "a" and " ".
        let t = try BPETrainer(vocabSize: 270).train(texts: [Array(String(repeating: "a b ", count: 50).utf8)])
        XCTAssertFalse(t.tokenBytes.contains(Array("a ".utf8)))
        XCTAssertTrue(t.tokenBytes.contains(Array(" b".utf8)))
    }

    func testTooSmallVocabularyIsAnError() {
        XCTAssertThrowsError(try BPETrainer(vocabSize: 100).train(texts: [[0x61]]))
    }

    func testReflowJoinsWrappedLines() {
        let text = "CHAPTER 1\n\n\nIt is a truth\nuniversally acknowledged.  \r\n\n  Next\tparagraph\nhere.\n"
        XCTAssertEqual(String(decoding: Reflow.paragraphs(Array(text.utf8)), as: UTF8.self),
                       "CHAPTER 1\nIt is a truth universally acknowledged.\nNext\tparagraph here.")
    }
}
