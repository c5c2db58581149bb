import XCTest
@testable import UnmaskTokenizer
import UnmaskSupport

final class TextPipelineTests: XCTestCase {
    func path(_ name: String) -> String { NSTemporaryDirectory() + "unmask-pipeline-\(getpid())-\(name)" }

    func testReflowThenEncode() throws {
        let p = path("text.txt")
        defer { unlink(p) }
        // A hard-wrapped paragraph reads as one line, as in training.
        try Files.writeAtomically(Array("It is a truth\nuniversally acknowledged.\n\nNext.\n".utf8), to: p)
        let (tokens, bytes) = try TextPipeline.tokens(ofFile: p, tokenizer: bundledTokenizer)
        XCTAssertEqual(bytes, 47)
        // Written by hand: wrapped lines joined by a space, a blank line kept as one newline.
        let reflowed = "It is a truth universally acknowledged.\nNext."
        XCTAssertEqual(try bundledTokenizer.decodeText(tokens), reflowed)
        XCTAssertEqual(tokens, bundledTokenizer.encode(reflowed))
    }

    func testInvalidUTF8NamesTheOffset() throws {
        let p = path("bad.txt")
        defer { unlink(p) }
        try Files.writeAtomically([0x61, 0x62, 0xFF, 0x63], to: p)
        XCTAssertThrowsError(try TextPipeline.readUTF8(p)) { XCTAssertTrue("\($0)".contains("offset 2"), "\($0)") }
    }
}
