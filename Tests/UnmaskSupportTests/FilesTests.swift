import XCTest
@testable import UnmaskSupport

final class FilesTests: XCTestCase {
    func testAtomicWriteReplacesAndLeavesNoTemporaryFile() throws {
        let dir = NSTemporaryDirectory() + "unmask-files-\(UInt32.random(in: 0...UInt32.max))"
        try Files.createDirectory(dir + "/a/b")
        let path = dir + "/a/b/file.bin"
        try Files.writeAtomically([1, 2, 3], to: path)
        try Files.writeAtomically([4, 5], to: path)
        XCTAssertEqual(try Files.read(path), [4, 5])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/a/b")
        XCTAssertEqual(leftovers, ["file.bin"])
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testErrorsNameTheFile() {
        XCTAssertThrowsError(try Files.read("/nonexistent/x.json")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/x.json"), "\(error)")
        }
        XCTAssertThrowsError(try Files.writeAtomically([1], to: "/nonexistent/dir/x.bin")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/dir/x.bin"), "\(error)")
        }
    }
}

final class SHA256Tests: XCTestCase {
    /// FIPS 180-4 test vectors.
    func testKnownDigests() {
        func digest(_ s: String) -> String { Array(s.utf8).withUnsafeBytes { SHA256.hex($0) } }
        XCTAssertEqual(digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        XCTAssertEqual(million.withUnsafeBytes { SHA256.hex($0) }, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testIncrementalUpdatesMatchOneShot() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var s = SHA256()
        for chunk in stride(from: 0, to: 1000, by: 37) { s.update(Array(data[chunk..<min(1000, chunk + 37)])) }
        let inc = s.finalize().map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        XCTAssertEqual(inc, data.withUnsafeBytes { SHA256.hex($0) })
    }
}
