import XCTest
@testable import UnmaskSupport

final class JSONTests: XCTestCase {
    func testParsesEveryKindOfValue() throws {
        let v = try JSON.parse(#"{"a": [1, -2.5, 1e3, true, false, null], "s": "x\n\u00e9\ud83d\ude00", "big": 9007199254740993}"#)
        XCTAssertEqual(v["a"], .array([.int(1), .double(-2.5), .double(1000), .bool(true), .bool(false), .null]))
        XCTAssertEqual(v["s"]?.stringValue, "x\né😀")
        // Integers stay exact beyond 2^53 (safetensors offsets can be large).
        XCTAssertEqual(v["big"]?.intValue, 9_007_199_254_740_993)
    }

    func testKeepsDuplicateKeysInOrder() throws {
        let v = try JSON.parse(#"{"k": 1, "k": 2}"#)
        XCTAssertEqual(v.objectPairs?.count, 2)
        XCTAssertEqual(v["k"]?.intValue, 1)
    }

    func testKeysAreComparedByScalarsNotCanonicalEquivalence() throws {
        // "é" precomposed and decomposed are equal as Swift Strings; they must stay distinct keys.
        let v = try JSON.parse("{\"\u{E9}\": 1, \"e\u{301}\": 2}")
        XCTAssertEqual(v["e\u{301}"]?.intValue, 2)
        XCTAssertEqual(v["\u{E9}"]?.intValue, 1)
    }

    func testRejectsMalformedInputWithOffsets() {
        let cases = ["", "{", "[1,]", "{\"a\" 1}", "\"abc", "tru", "01x", "1 2", "\"\\ud800\"", "\"\\q\"", "[1e]", "{\"a\":\u{1}}"]
        for text in cases {
            XCTAssertThrowsError(try JSON.parse(text), "accepted \(text.debugDescription)") { error in
                XCTAssertTrue(error is JSONParseError, "\(error)")
            }
        }
    }

    func testDeepNestingIsRejectedNotAStackOverflow() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        XCTAssertThrowsError(try JSON.parse(deep)) { error in
            XCTAssertTrue("\(error)".contains("nesting"), "\(error)")
        }
    }

    func testSerialiseThenParseIsIdentity() throws {
        let v = JSONValue.object([
            ("name", .string("q\"uo\\te\t\u{1}é")), ("n", .int(-7)), ("x", .double(0.1)),
            ("list", .array([.int(1), .string("a")])), ("nested", .object([("empty", .array([])), ("o", .object([]))])),
        ])
        XCTAssertEqual(try JSON.parse(v.serialized()), v)
        XCTAssertEqual(try JSON.parse(v.serialized(indent: 2)), v)
    }

    func testInvalidUTF8InsideAStringIsAnError() {
        let bytes: [UInt8] = [0x22, 0x61, 0xFF, 0x22]
        XCTAssertThrowsError(try JSON.parse(bytes))
    }

    func testFixedFormatting() {
        XCTAssertEqual(fixed(3.14159, 2), "3.14")
        XCTAssertEqual(fixed(-0.004, 2), "0.00")
        XCTAssertEqual(fixed(-1.5, 1), "-1.5")
        XCTAssertEqual(fixed(2.0, 0), "2")
        XCTAssertEqual(fixed(0.05, 3), "0.050")
    }
}
