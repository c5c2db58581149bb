import XCTest
@testable import UnmaskSupport

/// Reading has limits: devices are refused, lines are bounded, and seeds above Int.max
/// survive a round trip through JSON.
final class InputLimitTests: XCTestCase {
    func temporary(_ name: String) -> String { NSTemporaryDirectory() + "unmask-limits-\(getpid())-\(name)" }

    func testDevicesAndDirectoriesAreRefused() {
        XCTAssertThrowsError(try Files.read("/dev/zero")) { XCTAssertTrue("\($0)".contains("character device"), "\($0)") }
        XCTAssertThrowsError(try Files.read("/tmp")) { XCTAssertTrue("\($0)".contains("directory"), "\($0)") }
        XCTAssertThrowsError(try LineReader(path: "/dev/zero")) { XCTAssertTrue("\($0)".contains("character device"), "\($0)") }
    }

    func testLineReaderSplitsAndBoundsLines() throws {
        let path = temporary("lines.jsonl")
        defer { unlink(path) }
        try Files.writeAtomically(Array("a\r\n\nbc\nlast".utf8), to: path)
        let reader = try LineReader(path: path, maxLineBytes: 4)
        var lines: [String] = []
        while let line = try reader.next() { lines.append(String(decoding: line, as: UTF8.self)) }
        XCTAssertEqual(lines, ["a", "", "bc", "last"])
        XCTAssertEqual(reader.lineNumber, 4)

        // A line longer than the limit, also one spanning many read chunks, is an error
        // that names the line and the limit.
        try Files.writeAtomically(Array(("ok\n" + String(repeating: "x", count: 200_000) + "\n").utf8), to: path)
        let long = try LineReader(path: path, maxLineBytes: 100_000)
        XCTAssertNotNil(try long.next())
        XCTAssertThrowsError(try long.next()) { error in
            XCTAssertTrue("\(error)".contains("line 2 is longer than the limit"), "\(error)")
        }
    }

    func testLargeSeedsStayUnsigned() throws {
        let seed = UInt64.max - 5
        let text = JSON.line([("seed", .uint64(seed))])
        XCTAssertEqual(text, "{\"seed\":\(seed)}")
        XCTAssertEqual(try JSON.parse(text)["seed"]?.uint64Value, seed)
        XCTAssertEqual(JSON.line([("seed", .uint64(7))]), "{\"seed\":7}")
    }

    func testStaleTemporariesAreRemovedLiveOnesKept() throws {
        let dir = temporary("tmpdir")
        try Files.createDirectory(dir)
        defer { _ = Files.directoryEntries(dir)?.map { unlink(dir + "/" + $0) }; rmdir(dir) }
        // pid_max is at most 2^22 on Linux, so this PID cannot be running.
        let stale = "model.safetensors.tmp-\((1 << 22) + 17)"
        let live = "log.jsonl.tmp-\(getpid())"
        for name in [stale, live, "model.safetensors"] { try Files.writeAtomically([1], to: dir + "/" + name) }
        XCTAssertEqual(Files.removeStaleTemporaries(in: dir), [stale])
        XCTAssertEqual(Files.directoryEntries(dir), [live, "model.safetensors"])
    }

    func testSameFileAndWritableChecks() throws {
        let path = temporary("same.txt")
        defer { unlink(path) }
        try Files.writeAtomically([1], to: path)
        let dir = String(path[..<path.lastIndex(of: "/")!])
        XCTAssertTrue(Files.sameFile(path, dir + "/./" + String(path.split(separator: "/").last!)))
        XCTAssertFalse(Files.sameFile(path, "/nonexistent"))
        XCTAssertNoThrow(try Files.checkWritableFile(path))
        XCTAssertThrowsError(try Files.checkWritableFile("/nonexistent/dir/plot.svg"))
        XCTAssertThrowsError(try Files.checkWritableFile(dir))
    }

    func testTerminalFramesNeverScroll() {
        // 10 rows of 20 columns; lines of 45 columns wrap onto 3 rows each.
        let line = String(repeating: "a", count: 45)
        let frame = Terminal.clip([line, line, line, line], columns: 20, rows: 10)
        XCTAssertEqual(frame, [line, line, line, "…"])  // 9 rows + the ellipsis: 10
        XCTAssertEqual(Terminal.clip(["x", "y"], columns: 20, rows: 2), ["x", "y"])
        XCTAssertEqual(Terminal.visibleWidth("\u{1B}[2m░\u{1B}[0mab"), 3)
    }
}
