import XCTest
@testable import UnmaskTokenizer
import UnmaskSupport

/// Malformed tokenizer.json files give one-line errors that name the problem.
final class TokenizerFileErrorTests: XCTestCase {
    /// A valid minimal file, as a JSON value we can break in different ways.
    func validFile(vocab: [(String, Int)]? = nil, merges: [JSONValue] = [], added: [(String, Int)]? = nil) -> String {
        var v: [(key: String, value: JSONValue)] = (0..<256).map { (ByteLevelAlphabet.encode([UInt8($0)]), .int($0)) }
        v.append(("ab", .int(256)))
        if let vocab { v = vocab.map { ($0.0, .int($0.1)) } }
        let specials = added ?? [("<|endoftext|>", 257), ("<|mask|>", 258)]
        let root = JSONValue.object([
            ("added_tokens", .array(specials.map { .object([("id", .int($0.1)), ("content", .string($0.0)), ("special", .bool(true))]) })),
            ("normalizer", .object([("type", .string("NFC"))])),
            ("pre_tokenizer", .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false))])),
            ("decoder", .object([("type", .string("ByteLevel"))])),
            ("model", .object([("type", .string("BPE")), ("vocab", .object(v)), ("merges", .array(merges))])),
        ])
        return root.serialized()
    }

    func expectError(_ text: String, containing needle: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Tokenizer.parse(json: Array(text.utf8)), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(needle), "\(message) does not mention \(needle)", file: file, line: line)
            XCTAssertFalse(message.contains("\n"), "not one line: \(message)", file: file, line: line)
        }
    }

    func testTheValidBaseLoads() throws {
        let t = try Tokenizer.parse(json: Array(validFile(merges: [.string("a b")]).utf8))
        XCTAssertEqual(t.encode("ab"), [256])
    }

    func testNotJSON() { expectError("this is not json", containing: "not a tokenizer.json") }
    func testTruncatedJSON() { expectError(String(validFile().prefix(200)), containing: "invalid JSON") }
    func testMissingModel() { expectError(#"{"added_tokens": []}"#, containing: "missing \"model\"") }
    func testWrongModelType() {
        expectError(validFile().replacingOccurrences(of: "\"BPE\"", with: "\"WordPiece\""), containing: "not supported")
    }
    func testMergeNamingUnknownToken() {
        expectError(validFile(merges: [.string("a zzz")]), containing: "merge 0 names an unknown token")
    }
    func testMergeProducingMissingToken() {
        expectError(validFile(merges: [.string("c d")]), containing: "missing from the vocab")
    }
    func testDuplicateIds() {
        var vocab: [(String, Int)] = (0..<256).map { (ByteLevelAlphabet.encode([UInt8($0)]), $0) }
        vocab.append(("ab", 5))
        expectError(validFile(vocab: vocab, added: [("<|endoftext|>", 256), ("<|mask|>", 257)]), containing: "duplicate id 5")
    }
    func testVocabularySizeMismatch() {
        var vocab: [(String, Int)] = (0..<256).map { (ByteLevelAlphabet.encode([UInt8($0)]), $0) }
        vocab.append(("ab", 300))
        expectError(validFile(vocab: vocab), containing: "vocabulary size mismatch")
    }
    func testMissingByteToken() {
        let vocab: [(String, Int)] = (0..<255).map { (ByteLevelAlphabet.encode([UInt8($0)]), $0) }
        expectError(validFile(vocab: vocab, added: [("<|endoftext|>", 255), ("<|mask|>", 256)]), containing: "lacks a token for byte")
    }
    func testMissingMaskToken() {
        expectError(validFile(added: [("<|endoftext|>", 257)]), containing: "<|mask|>")
    }
    func testCharacterOutsideTheByteAlphabet() {
        var vocab: [(String, Int)] = (0..<256).map { (ByteLevelAlphabet.encode([UInt8($0)]), $0) }
        vocab.append(("a b", 256))
        expectError(validFile(vocab: vocab), containing: "not in the byte-level alphabet")
    }
    func testUnsupportedNormalizer() {
        expectError(validFile().replacingOccurrences(of: "\"NFC\"", with: "\"NFKC\""), containing: "normalizer NFKC")
    }
    func testErrorFromLoadNamesTheFile() {
        XCTAssertThrowsError(try Tokenizer.load(path: "/nonexistent/tokenizer.json")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/tokenizer.json"))
        }
    }
}
