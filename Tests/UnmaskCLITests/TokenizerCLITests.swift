import XCTest

final class TokenizerCLITests: XCTestCase {
    func testTokenizeAndDetokenizeRoundTrip() throws {
        let text = "It is a truth universally acknowledged, café — 日本語 👍🏽\n"
        let r = try runUnmask(["tokenize"], stdin: Array(text.utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        let ids = r.stdout.split(separator: " ").map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines))! }
        XCTAssertFalse(ids.isEmpty)
        let back = try runUnmask(["detokenize"], stdin: Array(r.stdout.utf8))
        XCTAssertEqual(back.status, 0, back.stderr)
        XCTAssertEqual(back.stdout, text + "\n")
    }

    func testJSONOutput() throws {
        let r = try runUnmask(["tokenize", "--json"], stdin: Array("It's".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("{\"ids\":["), r.stdout)
        XCTAssertTrue(r.stdout.contains("\"tokens\":[\"It\",\"'s\"]"), r.stdout)
    }

    func testInvalidUTF8IsRefusedUnlessRawBytes() throws {
        let bad: [UInt8] = [0x61, 0xFF, 0x62]
        assertCleanFailure(try runUnmask(["tokenize"], stdin: bad), mentioning: "not valid UTF-8")
        let raw = try runUnmask(["tokenize", "--raw-bytes"], stdin: bad)
        XCTAssertEqual(raw.status, 0, raw.stderr)
    }

    func testDetokenizeErrors() throws {
        assertCleanFailure(try runUnmask(["detokenize"], stdin: Array("1 2 99999".utf8)), mentioning: "outside the vocabulary")
        assertCleanFailure(try runUnmask(["detokenize"], stdin: Array("1 two".utf8)), mentioning: "is not a token id")
        assertCleanFailure(try runUnmask(["detokenize"], stdin: Array("-3".utf8)), mentioning: "outside the vocabulary")
    }

    func testMalformedVocabFile() throws {
        let path = NSTemporaryDirectory() + "unmask-bad-\(getpid()).json"
        try Data("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": [".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        assertCleanFailure(try runUnmask(["tokenize", "--vocab", path], stdin: Array("x".utf8)), mentioning: path)
        assertCleanFailure(try runUnmask(["tokenize", "--vocab", "/nonexistent.json"], stdin: []), mentioning: "/nonexistent.json")
    }

    func testTrainerCLIAndArgumentErrors() throws {
        let dir = NSTemporaryDirectory() + "unmask-train-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = dir + "/c.txt"
        try Data(String(repeating: "the cat sat on the mat.\n", count: 50).utf8).write(to: URL(fileURLWithPath: corpus))
        let r = try runUnmask(["tokenizer", "train", "--vocab-size", "280", "--out", dir + "/t.json", corpus])
        XCTAssertEqual(r.status, 0, r.stderr)
        let t = try runUnmask(["tokenize", "--vocab", dir + "/t.json"], stdin: Array("the cat".utf8))
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertLessThan(t.stdout.split(separator: " ").count, 7)
        assertCleanFailure(try runUnmask(["tokenizer", "train", "--vocab-size", "10", "--out", dir + "/x.json", corpus]), mentioning: "vocab-size")
        let empty = dir + "/empty.txt"
        FileManager.default.createFile(atPath: empty, contents: Data())
        assertCleanFailure(try runUnmask(["tokenizer", "train", "--vocab-size", "300", "--out", dir + "/x.json", empty]), mentioning: "empty")
        assertCleanFailure(try runUnmask(["tokenizer", "train", "--vocab-size", "300", "--out", "/nonexistent/dir/x.json", corpus]), mentioning: "/nonexistent/dir/x.json")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.json"), "no partial file is left behind")
    }

    func testHelpListsTheCommands() throws {
        let r = try runUnmask(["--help"])
        XCTAssertEqual(r.status, 0)
        for name in ["tokenize", "detokenize", "tokenizer", "bench"] {
            XCTAssertTrue(r.stdout.contains(name), "help lacks \(name)")
        }
    }
}
