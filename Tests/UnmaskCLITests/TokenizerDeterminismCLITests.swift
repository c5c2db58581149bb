import XCTest

final class TokenizerDeterminismCLITests: XCTestCase {
    /// BPE training must not depend on Swift's per-process random hash seed (Dictionary and
    /// Set iteration order): the trainer counts pairs in dictionaries, so any place that
    /// iterates one without sorting would make the merges depend on the process. A test in
    /// one process cannot see that (both trainings share the seed); this one trains in three
    /// separate `unmask` processes, each with its own random seed (SWIFT_DETERMINISTIC_HASHING
    /// is removed from their environment, in case the test runner set it), and requires the
    /// three tokenizer files to be identical byte for byte.
    ///
    /// The corpus maximises ties, where an order dependence would show: the 216 words made of
    /// three letters from "abcdef", each once, so the first merges choose among 6 (space,
    /// letter) pairs of equal count and then 36 letter pairs of equal count, and so on.
    /// What it does not prove: three processes are three samples of the hash seed, so a
    /// dependence that shows only for rare seeds could pass.
    func testTrainingGivesTheSameFileInSeparateProcesses() throws {
        let dir = NSTemporaryDirectory() + "unmask-bpe-determinism-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let letters = Array("abcdef")
        var words: [String] = []
        for x in letters { for y in letters { for z in letters { words.append(String([x, y, z])) } } }
        let corpus = dir + "/corpus.txt"
        try Data((words.joined(separator: " ") + "\n").utf8).write(to: URL(fileURLWithPath: corpus))
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "SWIFT_DETERMINISTIC_HASHING")
        var files: [Data] = []
        for run in 0..<3 {
            let out = dir + "/tokenizer-\(run).json"
            let r = try runUnmask(["tokenizer", "train", "--vocab-size", "400", "--out", out, corpus], environment: environment)
            XCTAssertEqual(r.status, 0, r.stderr)
            files.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        XCTAssertGreaterThan(files[0].count, 1000)
        XCTAssertEqual(files[1], files[0], "process 2 trained a different tokenizer than process 1")
        XCTAssertEqual(files[2], files[0], "process 3 trained a different tokenizer than process 1")
    }
}
