import XCTest

/// `unmask generate` with a tiny model trained on the spot (2 steps: its text is noise,
/// but the plumbing, determinism and errors are what is tested here).
final class GenerateCLITests: XCTestCase {
    static let modelDir: String = {
        let dir = NSTemporaryDirectory() + "unmask-gen-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let corpus = dir + "-corpus.txt"
        try? (0..<200).map { "Line \($0): Mr. Knightley walked to Hartfield in the rain.\n" }.joined()
            .write(toFile: corpus, atomically: true, encoding: .utf8)
        let r = try! runUnmask(["train", "--objective", "mdm", "--corpus", corpus, "--out", dir, "--steps", "2",
                                "--d-model", "16", "--layers", "1", "--heads", "2", "--d-ff", "16", "--context", "24", "--batch", "2"])
        precondition(r.status == 0, r.stderr)
        return dir
    }()

    func testSameSeedSameTextAndJSON() throws {
        let args = ["generate", "It was", "--model", GenerateCLITests.modelDir, "--length", "8", "--seed", "5", "--samples", "2", "--json"]
        let a = try runUnmask(args), b = try runUnmask(args + ["--threads", "1"])
        XCTAssertEqual(a.status, 0, a.stderr)
        // Everything but the measured time must be identical, for 2 threads and for 1.
        XCTAssertEqual(withoutSeconds(a.stdout), withoutSeconds(b.stdout))
        let lines = a.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        for key in ["\"text\":", "\"ids\":", "\"nfe\":8", "\"seconds\":", "\"sampler\":\"fhs:top_p=0.9\"", "\"seed\":5"] {
            XCTAssertTrue(lines[0].contains(key), "\(key) missing in \(lines[0])")
        }
        let c = try runUnmask(["generate", "It was", "--model", GenerateCLITests.modelDir, "--length", "8", "--seed", "6", "--json"])
        XCTAssertNotEqual(c.stdout.split(separator: "\n").first, lines.first)
    }

    /// `--shard I/N` writes exactly the lines a single run writes at its indices; the shards
    /// together are the whole run, in order; `eval` on the shard files gives the numbers of
    /// the whole file.
    func testShardsAreTheWholeRunSplit() throws {
        let args = ["generate", "It was", "--model", GenerateCLITests.modelDir, "--length", "6", "--seed", "9", "--samples", "7", "--json", "--batch", "3"]
        let whole = try runUnmask(args)
        XCTAssertEqual(whole.status, 0, whole.stderr)
        var pieces: [String] = []
        for i in 0..<3 {
            let r = try runUnmask(args + ["--shard", "\(i)/3"])
            XCTAssertEqual(r.status, 0, r.stderr)
            pieces.append(r.stdout)
        }
        XCTAssertEqual(withoutSeconds(pieces.joined()), withoutSeconds(whole.stdout))
        XCTAssertEqual(pieces.map { $0.split(separator: "\n").count }, [2, 2, 3])
        // More shards than samples: the empty shards write nothing and succeed.
        let empty = try runUnmask(["generate", "It was", "--model", GenerateCLITests.modelDir, "--length", "4", "--samples", "2", "--shard", "0/3"])
        XCTAssertEqual(empty.status, 0, empty.stderr)
        XCTAssertEqual(empty.stdout, "")
        for bad in ["3/3", "-1/2", "1", "a/b", "0/0"] {
            let r = try runUnmask(["generate", "--model", GenerateCLITests.modelDir, "--shard", bad])
            XCTAssertNotEqual(r.status, 0, bad)
            XCTAssertTrue(r.stderr.contains("--shard"), r.stderr)
        }
        // eval over the shard files = eval over the whole file.
        let dir = NSTemporaryDirectory() + "unmask-shards-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try whole.stdout.write(toFile: dir + "/all.jsonl", atomically: true, encoding: .utf8)
        for (i, p) in pieces.enumerated() { try p.write(toFile: dir + "/\(i).jsonl", atomically: true, encoding: .utf8) }
        let evalArgs = ["eval", "--json"]  // the bundled evaluator
        let one = try runUnmask(evalArgs + [dir + "/all.jsonl"])
        let three = try runUnmask(evalArgs + [dir + "/0.jsonl", dir + "/1.jsonl", dir + "/2.jsonl"])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertEqual(one.stdout, three.stdout)
    }

    func testTemplateKeepsFixedText() throws {
        let r = try runUnmask(["generate", "--model", GenerateCLITests.modelDir, "--template", "Dear [___ x3], I am ___ well.", "--seed", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("Dear "), r.stdout)
        XCTAssertTrue(r.stdout.contains(", I am "), r.stdout)
        XCTAssertTrue(r.stdout.hasSuffix(" well.\n"), r.stdout)
    }

    func testBadInput() throws {
        let m = GenerateCLITests.modelDir
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--template", "no blank"]), mentioning: "no blank")
        // Past the context is no longer an error: it is generated in blocks (LongTextCLITests).
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--length", "2000000"]), mentioning: "--length")
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--sampler", "bogus"]), mentioning: "unknown sampler")
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--sampler", "ancestral:steps=0"]), mentioning: "steps")
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--temperature", "-1"]), mentioning: "temperature")
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--temperature", "nan"]), mentioning: "temperature")
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--top-p", "1.5"]), mentioning: "top-p")
        assertCleanFailure(try runUnmask(["generate", "--model", "/nonexistent/m"]), mentioning: "/nonexistent/m")
        assertCleanFailure(try runUnmask(["generate", "--model", m, "--sampler", "ddpd", "--planner", "/nonexistent/p"]), mentioning: "/nonexistent/p")
    }
}

final class CompareCLITests: XCTestCase {
    func testCompareRowsAndPlot() throws {
        let m = GenerateCLITests.modelDir
        let evaluator = NSTemporaryDirectory() + "unmask-cmp-eval-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let corpus = evaluator + "-corpus.txt"
        try (0..<200).map { "Line \($0): Mrs. Elton talked of Maple Grove.\n" }.joined().write(toFile: corpus, atomically: true, encoding: .utf8)
        let t = try runUnmask(["train", "--objective", "ar", "--corpus", corpus, "--out", evaluator, "--steps", "2",
                               "--d-model", "16", "--layers", "1", "--heads", "2", "--d-ff", "16", "--context", "24", "--batch", "2"])
        XCTAssertEqual(t.status, 0, t.stderr)
        let plot = evaluator + "-plot.svg"
        let r = try runUnmask(["compare", "--sampler", "fhs", "--sampler", "confidence", "--samples", "3", "--length", "6",
                               "--model", m, "--evaluator", evaluator, "--reference", corpus, "--plot", plot, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = r.stdout.split(separator: "\n")
        XCTAssertEqual(rows.count, 4)  // two samplers, held-out text, evaluator samples
        XCTAssertTrue(rows[0].contains("\"sampler\":\"fhs\"") && rows[0].contains("\"gen_ppl\":") && rows[0].contains("\"entropy\":"))
        XCTAssertTrue(rows[2].contains("held-out text"))
        XCTAssertTrue(try String(contentsOfFile: plot, encoding: .utf8).hasPrefix("<svg"))
        assertCleanFailure(try runUnmask(["compare", "--sampler", "nope", "--model", m, "--evaluator", evaluator]), mentioning: "unknown sampler")
        assertCleanFailure(try runUnmask(["compare", "--sampler", "fhs", "--length", "99", "--block", "99", "--model", m, "--evaluator", evaluator]), mentioning: "context")

        // --replot redraws from the saved JSON rows, without models: the same rows come back.
        let saved = evaluator + "-rows.jsonl", replotted = evaluator + "-replot.svg"
        try r.stdout.write(toFile: saved, atomically: true, encoding: .utf8)
        let again = try runUnmask(["compare", "--replot", saved, "--plot", replotted, "--json"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(again.stdout, r.stdout)
        let svg = try String(contentsOfFile: replotted, encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("held-out text") && svg.contains("confidence"))
        try "{\"sampler\":\"fhs\"}\n".write(toFile: saved, atomically: true, encoding: .utf8)
        assertCleanFailure(try runUnmask(["compare", "--replot", saved, "--plot", replotted]), mentioning: ":1: missing")
        try "not json\n".write(toFile: saved, atomically: true, encoding: .utf8)
        assertCleanFailure(try runUnmask(["compare", "--replot", saved, "--plot", replotted]), mentioning: "not a JSON object")
        assertCleanFailure(try runUnmask(["compare", "--replot", saved, "--sampler", "fhs", "--plot", replotted]), mentioning: "takes no --sampler")
    }
}
