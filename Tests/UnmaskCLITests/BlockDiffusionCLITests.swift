import XCTest

/// A block-causal model end to end: trained by `train --objective bd3`, then `info`,
/// `generate` (cached and not, inside and past the context), `eval` and `compare`.
final class BlockDiffusionCLITests: XCTestCase {
    static let dir = NSTemporaryDirectory() + "unmask-bd3-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    static let corpus = dir + "-corpus.txt"

    /// A tiny model (1 layer, d 32, context 32, blocks of 8), two training steps.
    static let trained: Result<Void, Error> = Result {
        let text = String(repeating: "Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy disposition. ", count: 40)
        try text.write(toFile: corpus, atomically: true, encoding: .utf8)
        let r = try runUnmask(["train", "--objective", "bd3", "--block-size", "8", "--corpus", corpus, "--out", dir,
                               "--d-model", "32", "--layers", "1", "--heads", "2", "--d-ff", "48", "--context", "32",
                               "--steps", "2", "--batch", "4", "--force"])
        guard r.status == 0 else { throw NSError(domain: "train failed: \(r.stderr)", code: 1) }
    }

    override func setUpWithError() throws { try BlockDiffusionCLITests.trained.get() }

    func testInfoGenerateEvalCompare() throws {
        let dir = BlockDiffusionCLITests.dir
        let info = try runUnmask(["info", "--model", dir])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("\"attention\":\"block_causal\"") && info.stdout.contains("\"block_size\":8"), info.stdout)
        // Inside the context (20 + 10 < 32) and past it (20 + 40): exact and off give the same ids.
        for length in ["10", "40"] {
            func run(_ cache: String) throws -> [[String: Any]] {
                let r = try runUnmask(["generate", "Emma", "--model", dir, "--length", length, "--samples", "3", "--batch", "2",
                                       "--json", "--cache", cache, "--seed", "4"])
                XCTAssertEqual(r.status, 0, r.stderr)
                return r.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
            }
            let exact = try run("exact"), off = try run("off")
            XCTAssertEqual(exact.map { $0["ids"] as! [Int] }, off.map { $0["ids"] as! [Int] }, "length \(length)")
            XCTAssertEqual(exact[0]["cache"] as? String, "exact")
            XCTAssertEqual(off[0]["cache"] as? String, "off")
            if length == "40" { XCTAssertEqual(exact[0]["past_context"] as? String, "recompute") } else { XCTAssertTrue(exact[0]["past_context"] is NSNull) }
        }
        let slide = try runUnmask(["generate", "Emma", "--model", dir, "--length", "40", "--json", "--past-context", "slide"])
        XCTAssertEqual(slide.status, 0, slide.stderr)
        XCTAssertTrue(slide.stdout.contains("\"past_context\":\"slide\""), slide.stdout)
        let eval = try runUnmask(["eval", "--model", dir, "--text", BlockDiffusionCLITests.corpus, "--masks", "1"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("nats"), eval.stdout)
        let compare = try runUnmask(["compare", "--model", dir, "--sampler", "fhs", "--sampler", "confidence@off", "--samples", "2",
                                     "--length", "12"])
        XCTAssertEqual(compare.status, 0, compare.stderr)
        XCTAssertTrue(compare.stdout.contains("confidence@off"), compare.stdout)
    }

    /// BD3-LM's folder (the tiny fixture its own code wrote): info names the family, generate
    /// runs cached and uncached to the same ids (inside and past its context of 16), eval
    /// scores it, compare runs it beside the GPT-2 fixture's scores.
    func testBD3LMFolder() throws {
        let hf = cliRepositoryRoot + "/Tests/UnmaskModelTests/Fixtures/hf/"
        let bd3 = hf + "bd3lm-tiny"
        let info = try runUnmask(["info", "--model", bd3])
        XCTAssertTrue(info.stdout.contains("family      bd3lm, role denoiser"), info.stdout)
        for length in ["10", "30"] {
            let exact = try runUnmask(["generate", "It is", "--model", bd3, "--length", length, "--json", "--seed", "2"])
            let off = try runUnmask(["generate", "It is", "--model", bd3, "--length", length, "--json", "--seed", "2", "--cache", "off"])
            XCTAssertEqual(exact.status, 0, exact.stderr)
            func field(_ out: String, _ key: String) -> Any? {
                (try? JSONSerialization.jsonObject(with: Data(out.utf8))).flatMap { ($0 as? [String: Any])?[key] }
            }
            XCTAssertEqual(field(exact.stdout, "ids") as? [Int], field(off.stdout, "ids") as? [Int])
            XCTAssertNotNil(field(exact.stdout, "ids"))
            XCTAssertGreaterThan(field(exact.stdout, "cache_bytes") as? Int ?? 0, 0, "the cache's size is reported")
            XCTAssertEqual(field(off.stdout, "cache_bytes") as? Int, 0)
        }
        let text = BlockDiffusionCLITests.corpus
        let eval = try runUnmask(["eval", "--model", bd3, "--text", text, "--masks", "1"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let compare = try runUnmask(["compare", "--model", bd3, "--evaluator", hf + "gpt2-tiny", "--sampler", "fhs",
                                     "--samples", "2", "--length", "8"])
        XCTAssertEqual(compare.status, 0, compare.stderr)
    }

    func testBadInputIsOneLine() throws {
        let dir = BlockDiffusionCLITests.dir, corpus = BlockDiffusionCLITests.corpus
        let cases: [([String], String)] = [
            (["generate", "x", "--model", dir, "--block", "4"], "block layout"),
            (["generate", "x", "--model", dir, "--cache", "dual"], "caches exactly"),
            (["generate", "x", "--model", dir, "--cache", "off", "--past-context", "slide", "--length", "40"], "needs --cache exact"),
            (["generate", "x", "--model", dir, "--sampler", "ddpd"], "block by block"),
            (["generate", "x", "--model", dir, "--steer", "cfg:gamma=2", "--length", "8"], "block-causal"),
            (["generate", "x", "--cache", "exact"], "block-causal"),
            (["generate", "x", "--past-context", "slide"], "block-causal"),
            (["generate", "x", "--cache", "prefix", "--sampler", "fhs"], "block=K"),
            (["generate", "x", "--cache", "sometimes"], "sometimes"),
            (["compare", "--sampler", "fhs@sometimes", "--samples", "2"], "after @"),
            (["train", "--objective", "bd3", "--corpus", corpus, "--out", dir + "-x", "--steps", "1", "--context", "32"], "--block-size"),
            (["train", "--objective", "bd3", "--block-size", "7", "--corpus", corpus, "--out", dir + "-x", "--steps", "1", "--context", "32"], "must divide"),
            (["train", "--objective", "mdm", "--block-size", "8", "--corpus", corpus, "--out", dir + "-x", "--steps", "1"], "objective bd3"),
            (["train", "--objective", "bd3", "--block-size", "8", "--mask-rates", "0.8-0.3", "--corpus", corpus, "--out", dir + "-x",
              "--steps", "1", "--context", "32"], "--mask-rates"),
        ]
        for (args, needle) in cases { assertCleanFailure(try runUnmask(args), mentioning: needle) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "-x"))
    }
}
