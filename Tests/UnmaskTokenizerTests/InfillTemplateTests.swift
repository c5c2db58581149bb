import XCTest
@testable import UnmaskTokenizer

final class InfillTemplateTests: XCTestCase {
    let mask = 4095

    /// Fixed text comes back as written, except a space just before a blank, which the
    /// model writes as part of its next word's token: keeping both printed double spaces.
    func testSpaceBeforeABlankIsLeftToTheModel() throws {
        let t = bundledTokenizer
        let ids = try InfillTemplate.parse("Emma [___ x3] Mr. Knightley ___ the", tokenizer: t, mask: mask)
        XCTAssertEqual(ids.filter { $0 == mask }.count, 4)
        // The fixed pieces decode to "Emma", " Mr. Knightley" and " the": no trailing space
        // before a blank, the leading spaces after one kept.
        var pieces: [[Int]] = [[]]
        for id in ids { if id == mask { pieces.append([]) } else { pieces[pieces.count - 1].append(id) } }
        let texts = try pieces.filter { !$0.isEmpty }.map { try t.decodeText($0) }
        XCTAssertEqual(texts, ["Emma", " Mr. Knightley", " the"])
        // A blank filled with a word token (" extremely", which carries its space) now reads
        // with one space.
        let filled = ids.map { $0 == mask ? t.encode(" extremely")[0] : $0 }
        let text = try t.decodeText(filled)
        XCTAssertFalse(text.contains("  "), text)
    }

    func testBadTemplates() {
        XCTAssertThrowsError(try InfillTemplate.parse("no blank here", tokenizer: bundledTokenizer, mask: mask))
        XCTAssertThrowsError(try InfillTemplate.parse("[___ x0]", tokenizer: bundledTokenizer, mask: mask))
        XCTAssertThrowsError(try InfillTemplate.parse("[___ x99999999999999999999]", tokenizer: bundledTokenizer, mask: mask))
        // Two underscores are text, not a blank.
        XCTAssertThrowsError(try InfillTemplate.parse("a __ b", tokenizer: bundledTokenizer, mask: mask))
    }
}
