import XCTest

/// Runs the built `unmask` binary, for tests of what a user sees: exit codes, one-line
/// errors, output formats.
struct CLIResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

let cliRepositoryRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

/// The `unmask` executable next to the test bundle (same build directory), or the one
/// named by UNMASK_EXECUTABLE: running these tests against an older binary shows which of
/// them that binary fails (the mutation check of a fix).
let unmaskExecutable: String = {
    if let override = ProcessInfo.processInfo.environment["UNMASK_EXECUTABLE"] { return override }
    var dir = Bundle.main.bundlePath
    for _ in 0..<3 {
        let candidate = dir + "/unmask"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = (dir as NSString).deletingLastPathComponent
    }
    return cliRepositoryRoot + "/.build/debug/unmask"
}()

/// `environment`: the child's environment (default: this process's, inherited).
func runUnmask(_ arguments: [String], stdin: [UInt8] = [], environment: [String: String]? = nil) throws -> CLIResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: unmaskExecutable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.currentDirectoryURL = URL(fileURLWithPath: cliRepositoryRoot)
    // stdout and stderr go to files: no pipe can fill up and deadlock the child.
    let base = NSTemporaryDirectory() + "unmask-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    FileManager.default.createFile(atPath: base + ".out", contents: nil)
    FileManager.default.createFile(atPath: base + ".err", contents: nil)
    defer {
        try? FileManager.default.removeItem(atPath: base + ".out")
        try? FileManager.default.removeItem(atPath: base + ".err")
    }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
    let input = Pipe()
    process.standardInput = input
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let data = Data(stdin)
    let writer = Thread {
        input.fileHandleForWriting.write(data)
        try? input.fileHandleForWriting.close()
    }
    writer.start()
    process.waitUntilExit()
    try out.close()
    try err.close()
    return CLIResult(status: process.terminationStatus,
                     stdout: String(decoding: try Data(contentsOf: URL(fileURLWithPath: base + ".out")), as: UTF8.self),
                     stderr: String(decoding: try Data(contentsOf: URL(fileURLWithPath: base + ".err")), as: UTF8.self))
}

/// `generate --json` output without its measured fields ("seconds", "tokens_per_second",
/// "seconds_per_block"): what must be identical between runs (same seed, any thread count
/// or batch size).
func withoutSeconds(_ jsonLines: String) -> String {
    let timed = ["\"seconds\"", "\"tokens_per_second\"", "\"seconds_per_block\""]
    return jsonLines.split(separator: "\n").map { line in
        line.split(separator: ",").filter { field in !timed.contains { field.hasPrefix($0) } }.joined(separator: ",")
    }.joined(separator: "\n")
}

/// Asserts a clean failure: status 1, one line on stderr starting "error:", mentioning `needle`.
func assertCleanFailure(_ r: CLIResult, mentioning needle: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(r.status, 1, "stderr: \(r.stderr)", file: file, line: line)
    let lines = r.stderr.split(separator: "\n")
    XCTAssertEqual(lines.count, 1, "expected one line, got: \(r.stderr)", file: file, line: line)
    XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr, file: file, line: line)
    XCTAssertTrue(r.stderr.contains(needle), "\(r.stderr) does not mention \(needle)", file: file, line: line)
}
