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
