import XCTest

/// `generate` past the context, in batches, streamed (the tiny model: context 24).
final class LongTextCLITests: XCTestCase {
    func testBatchesGiveTheSameSamples() throws {
        let m = GenerateCLITests.modelDir
        func run(_ extra: [String]) throws -> String {
            let r = try runUnmask(["generate", "It was", "--model", m, "--length", "30", "--samples", "9", "--json", "--seed", "4"] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            return withoutSeconds(r.stdout)
        }
        let one = try run(["--batch", "1"])
        XCTAssertEqual(one.split(separator: "\n").count, 9)
        XCTAssertEqual(try run(["--batch", "7", "--threads", "1"]), one)
        XCTAssertEqual(try run(["--batch", "9"]), one)
    }

    func testPastTheContextKeepsPromptAndTemplate() throws {
        let m = GenerateCLITests.modelDir
        // 60 tokens after the prompt, with a 24-token context: blocks of 12.
        let r = try runUnmask(["generate", "Mr. Knightley walked", "--model", m, "--length", "60", "--json", "--seed", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("{\"text\":\"Mr. Knightley walked"), r.stdout)
        let ids = r.stdout.split(separator: "[")[1].split(separator: "]")[0].split(separator: ",")
        XCTAssertGreaterThanOrEqual(ids.count, 61)
        // A template longer than the context: fixed text between and after the blanks.
        let t = try runUnmask(["generate", "--model", m, "--template", "Dear [___ x20], I am [___ x20] well. Yours, [___ x10] Emma.",
                               "--seed", "3", "--block", "8"])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertTrue(t.stdout.hasPrefix("Dear"), t.stdout)
        XCTAssertTrue(t.stdout.contains(", I am"), t.stdout)
        XCTAssertTrue(t.stdout.contains(" well. Yours,"), t.stdout)
        XCTAssertTrue(t.stdout.hasSuffix(" Emma.\n"), t.stdout)
    }

    func testBadBlocksAndRules() throws {
        let m = GenerateCLITests.modelDir
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--window", "0"]), mentioning: "--window")
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--window", "25"]), mentioning: "--window 25 must be in 1...")
        // --block is the old spelling of --window: still taken, and errors name --window.
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--block", "0"]), mentioning: "--window")
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--block", "4", "--window", "4"]), mentioning: "old spelling")
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--batch", "0"]), mentioning: "--batch")
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--sampler", "confidence:threshold=1.5"]), mentioning: "threshold")
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--sampler", "confidence:threshold=nan"]), mentioning: "threshold")
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--sampler", "fhs:remask=0.1:remask_window=0.5-2"]), mentioning: "remask_window")
        assertCleanFailure(try runUnmask(["compare", "--sampler", "fhs", "--model", m, "--window", "0"]), mentioning: "--window")
    }
}
