import XCTest

/// `unmask train` refuses nonsense numbers before it reads a corpus or writes anything.
final class TrainCLITests: XCTestCase {
    func testBadNumbersAreRefused() throws {
        let dir = NSTemporaryDirectory() + "unmask-train-bad-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let corpus = dir + "-corpus.txt"
        try "Emma Woodhouse, handsome, clever, and rich.\n".write(toFile: corpus, atomically: true, encoding: .utf8)
        let base = ["train", "--objective", "ar", "--corpus", corpus, "--out", dir]
        let cases: [([String], String)] = [
            (["--steps", "0"], "--steps"),
            (["--minutes", "nan"], "--minutes"),
            (["--minutes", "-3"], "--minutes"),
            (["--steps", "2", "--lr", "-1"], "--lr"),
            (["--steps", "2", "--dropout", "1"], "--dropout"),
            (["--steps", "2", "--batch", "0"], "--batch"),
            (["--steps", "2", "--eval-every", "0"], "--eval-every"),
            (["--steps", "2", "--eval-every", "nan"], "--eval-every"),
            (["--minutes", "1", "--checkpoint-every", "-1"], "--checkpoint-every"),
            ([], "--steps N or --minutes N"),
        ]
        for (extra, needle) in cases {
            assertCleanFailure(try runUnmask(base + extra), mentioning: needle)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "a refused run must not create --out")
    }
}
