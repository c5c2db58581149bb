import XCTest

/// Steering from the command line on the bundled models: every method runs from
/// `generate` and `compare`, same seed gives the same text, and every bad input of the
/// steering issue ends in one line on stderr and status 1, with nothing written.
final class SteeringCLITests: XCTestCase {
    func temporary(_ name: String) -> String { NSTemporaryDirectory() + "unmask-steer-\(getpid())-\(name)" }

    func json(_ r: CLIResult) throws -> [[String: Any]] {
        try r.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    func testEveryMethodRunsFromGenerate() throws {
        let prompt = "Emma Woodhouse, handsome, clever, and rich,"
        let runs: [[String]] = [
            [prompt, "--steer", "cfg:gamma=2"],
            [prompt, "--steer", "cfg:gamma=0.5:mode=exact:tries=100000"],
            [prompt, "--steer", "cfg:gamma=3:mode=smc:particles=4"],
            [prompt, "--steer", "cfg:gamma=2:interval=0.2-0.8"],
            ["--steer", "anneal:beta=1.5:mode=smc:particles=4"],
            ["--steer", "tilt:lambda=1:mode=smc:particles=4", "--reward", "words:include=Emma,Harriet:exclude=the"],
            ["--steer", "tilt:lambda=1:mode=smc:particles=4", "--reward", "classifier:kind=ratio", "--class", "emma"],
            ["--steer", "bon:n=3", "--reward", "classifier:class=emma"],
            ["--steer", "smc:particles=3:lambda=5:every=4", "--reward", "classifier", "--class", "emma"],
            ["--steer", "svdd:m=3", "--reward", "evaluator"],
            ["--steer", "cbg:gamma=2", "--class", "emma"],
        ]
        for args in runs {
            let r = try runUnmask(["generate"] + args + ["--length", "8", "--samples", "2", "--json"])
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            let lines = try json(r)
            XCTAssertEqual(lines.count, 2, "\(args)")
            for line in lines {
                XCTAssertNotNil(line["target"] as? String, "\(args)")
                XCTAssertGreaterThanOrEqual(line["nfe"] as? Int ?? 0, 8, "\(args)")
                XCTAssertEqual((line["ids"] as? [Int])?.contains(4095), false, "\(args): a mask left")
            }
            if args.contains("cfg:gamma=2") { XCTAssertTrue(lines.allSatisfy { $0["nfe"] as? Int == 16 }, "both branches, 8 steps") }
            if args.contains("--reward") { XCTAssertTrue(lines.allSatisfy { $0["reward"] is Double }, "\(args)") }
        }
        // An excluded word never appears.
        let banned = try runUnmask(["generate", "--steer", "tilt:lambda=1:mode=exact", "--reward", "words:exclude=the,and,of,to",
                                    "--length", "24", "--samples", "3"])
        XCTAssertEqual(banned.status, 0, banned.stderr)
        for word in [" the ", " and ", " of ", " to "] { XCTAssertFalse(banned.stdout.lowercased().contains(word), banned.stdout) }
    }

    /// Prompt-masked CFG on every Hugging Face denoiser family: a prompt, a template with a
    /// suffix, both modes; the mask never survives and the fixed text is kept.
    func testGuidanceOnHuggingFaceDenoisers() throws {
        let hf = cliRepositoryRoot + "/Tests/UnmaskModelTests/Fixtures/hf"
        for (model, vocab) in [("llada-tiny", [String]()), ("dream-tiny", []), ("mdlm-tiny", ["--vocab", hf + "/gpt2-tiny/tokenizer.json"])] {
            for args in [["It is a truth", "--length", "6", "--steer", "cfg:gamma=2"],
                         ["--template", "It is [___ x5] acknowledged.", "--steer", "cfg:gamma=2:mode=smc:particles=3"],
                         ["It is", "--length", "4", "--steer", "cfg:gamma=0.5:mode=exact:tries=1000000"]] {
                let r = try runUnmask(["generate", "--model", hf + "/" + model] + vocab + args + ["--json", "--samples", "2"])
                XCTAssertEqual(r.status, 0, "\(model) \(args): \(r.stderr)")
                for line in try json(r) {
                    let text = line["text"] as! String
                    XCTAssertTrue(text.hasPrefix("It is"), text)
                    if args.contains("--template") { XCTAssertTrue(text.hasSuffix(" acknowledged."), text) }
                }
            }
        }
    }

    /// Same seed, same text; steered samples do not depend on --batch or --threads.
    func testSteeringIsDeterministic() throws {
        let base = ["generate", "--steer", "smc:particles=4:lambda=3:every=4", "--reward", "classifier:class=emma",
                    "--length", "12", "--samples", "3", "--json"]
        let a = try runUnmask(base + ["--batch", "1", "--threads", "1"])
        let b = try runUnmask(base + ["--batch", "8", "--threads", "2"])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(withoutSeconds(a.stdout), withoutSeconds(b.stdout))
        // cfg at gamma 1 is the conditional model: the same text as plain fhs.
        let fhs = try runUnmask(["generate", "It was", "--sampler", "fhs", "--length", "10", "--samples", "2", "--json"])
        let cfg = try runUnmask(["generate", "It was", "--steer", "cfg:gamma=1", "--length", "10", "--samples", "2", "--json"])
        XCTAssertEqual(try json(fhs).map { $0["text"] as! String }, try json(cfg).map { $0["text"] as! String })
    }

    func testBadSteeringInputIsOneLine() throws {
        let out = temporary("plot.svg")
        for (args, needle) in [
            (["--steer", "cfg:gamma=-1"], "gamma"), (["--steer", "cfg:gamma=nan"], "gamma"), (["--steer", "cfg:gamma=inf"], "gamma"),
            (["--steer", "smc:lambda=-1", "--reward", "classifier:class=emma"], "lambda"),
            (["--steer", "smc:particles=0", "--reward", "classifier:class=emma"], "particles"),
            (["--steer", "smc:particles=99999", "--reward", "classifier:class=emma"], "particles"),
            (["It was", "--steer", "cfg:gamma=2:mode=exact"], "unbounded"),
            (["--steer", "cfg:gamma=2"], "condition"),
            (["--steer", "cbg:gamma=1", "--class", "persuasion"], "unknown class"),
            (["--steer", "cbg:gamma=1"], "--class"),
            (["It was", "--steer", "cfg:gamma=2", "--class", "emma"], "no labels.json"),
            (["--steer", "bon:n=4"], "reward"),
            (["--steer", "tilt:lambda=1", "--reward", "classifier:class=emma"], "additive"),
            (["--steer", "bon:n=2", "--reward", "words:include=zyxwvut"], "not one token"),
            (["--steer", "bon:n=2", "--reward", "sentiment"], "unknown reward"),
            (["--steer", "bon:n=2", "--reward", "command:/bin/false"], "exited with status 1"),
            (["--steer", "bon:n=2", "--reward", "command:/bin/echo junk"], "printed 1 lines for 2 inputs"),
            (["--steer", "bon:n=2", "--reward", "command:/bin/cat"], "not {\"reward\": number}"),
            (["--steer", "bon:n=2", "--reward", "command:/bin/sleep 30", "--reward-timeout", "0.5"], "did not finish"),
            (["--steer", "bon:n=2", "--reward", "command:/no/such/program"], "No such file"),
            (["--steer", "bon:n=2", "--reward-timeout", "-1"], "--reward-timeout"),
            (["--steer", "bon:n=2", "--reward", "classifier:class=emma", "--sampler", "confidence"], "first-hitting"),
            (["--steer", "bon:n=2", "--reward", "classifier:class=emma", "--length", "200"], "context"),
            (["--reward", "classifier:class=emma"], "--steer"),
        ] {
            let r = try runUnmask(["generate"] + args + (args.contains("--length") ? [] : ["--length", "6"]))
            assertCleanFailure(r, mentioning: needle)
            XCTAssertEqual(r.stdout, "", "\(args)")
        }
        let r = try runUnmask(["compare", "--steer", "bon:n=2", "--samples", "2", "--length", "4", "--plot", out])
        assertCleanFailure(r, mentioning: "reward")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testCompareHasTheSteeringColumns() throws {
        let plot = temporary("reward.svg")
        defer { try? FileManager.default.removeItem(atPath: plot) }
        let r = try runUnmask(["compare", "--sampler", "fhs", "--steer", "bon:n=2", "--steer", "cfg:gamma=0.5:mode=exact:tries=100000",
                               "--prompt", "Emma", "--reward", "classifier", "--class", "emma",
                               "--check-classifier", "models/classifier-odd", "--samples", "3", "--length", "6", "--json", "--plot", plot])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try json(r)
        XCTAssertEqual(rows.map { $0["sampler"] as! String }, ["fhs", "bon:n=2", "cfg:gamma=0.5:mode=exact"])
        for row in rows {
            for key in ["gen_ppl", "entropy", "reward", "reward_se", "class_fraction", "check_fraction", "nfe", "seconds_per_sample"] {
                XCTAssertTrue(row[key] is Double, "\(key) in \(row)")
            }
        }
        XCTAssertEqual(rows[1]["nfe"] as? Double, 12)  // 2 paths × 6 tokens
        XCTAssertTrue(rows[2]["acceptance"] is Double)
        XCTAssertTrue(try String(contentsOfFile: plot).contains("<svg"))
    }

    /// A label-conditional denoiser: `train --labels` writes labels.json and a vocabulary
    /// with the label ids past the tokenizer's; `generate --class` samples it given the
    /// class, and cfg guides it against its null label (two evaluations per step).
    func testLabelConditionalDenoiser() throws {
        let a = temporary("north.txt"), b = temporary("south.txt"), out = temporary("labeled")
        defer { for p in [a, b, out] { try? FileManager.default.removeItem(atPath: p) } }
        try String(repeating: "Emma was handsome and clever and rich, and Harriet was sweet. ", count: 60).write(toFile: a, atomically: true, encoding: .utf8)
        try String(repeating: "The captain sailed the sea with his navy friends and officers. ", count: 60).write(toFile: b, atomically: true, encoding: .utf8)
        let train = try runUnmask(["train", "--objective", "mdm", "--labels", "--corpus", a, b, "--out", out, "--steps", "3",
                                   "--batch", "4", "--d-model", "32", "--layers", "1", "--heads", "2", "--d-ff", "64", "--context", "16",
                                   "--warmup", "1"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let labels = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/labels.json"))) as! [String: Any]
        let north = (a as NSString).lastPathComponent.replacingOccurrences(of: ".txt", with: "")
        XCTAssertEqual(labels["first_id"] as? Int, 4096)
        XCTAssertEqual(labels["null_id"] as? Int, 4098)
        XCTAssertTrue(try String(contentsOfFile: out + "/config.json").contains("\"vocab_size\": 4099"))
        XCTAssertTrue(try String(contentsOfFile: out + "/README.md").contains("null label 4098"))
        let plain = try runUnmask(["generate", "--model", out, "--class", north, "--length", "6", "--samples", "2", "--json"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        for line in try json(plain) { XCTAssertTrue((line["ids"] as! [Int]).allSatisfy { $0 < 4095 }, "\(line)") }
        let guided = try runUnmask(["generate", "--model", out, "--class", north, "--steer", "cfg:gamma=3", "--length", "6", "--json"])
        XCTAssertEqual(guided.status, 0, guided.stderr)
        XCTAssertEqual(try json(guided)[0]["nfe"] as? Int, 12)
        assertCleanFailure(try runUnmask(["generate", "--model", out, "--class", "west", "--length", "4"]), mentioning: "unknown class")
        // The held-out ELBO given the class and with the null label, on the split train held out.
        for extra in [["--class", north], []] {
            let e = try runUnmask(["eval", "--text", a, "--model", out, "--held-out-split", "--masks", "1"] + extra)
            XCTAssertEqual(e.status, 0, e.stderr)
            XCTAssertTrue(e.stdout.contains("denoiser ELBO"), e.stdout)
        }
        assertCleanFailure(try runUnmask(["generate", "--class", "emma", "--length", "4"]), mentioning: "no labels")
    }

    /// The classifier trains, reports per-class held-out accuracy and writes its card; score reads it back.
    func testClassifierTrainAndScore() throws {
        let a = temporary("a.txt"), b = temporary("b.txt"), out = temporary("clf")
        defer { for p in [a, b] { try? FileManager.default.removeItem(atPath: p) }; try? FileManager.default.removeItem(atPath: out) }
        try String(repeating: "Emma was handsome and clever and rich, and Harriet was sweet. ", count: 300).write(toFile: a, atomically: true, encoding: .utf8)
        try String(repeating: "The captain sailed the sea with his navy friends and officers. ", count: 300).write(toFile: b, atomically: true, encoding: .utf8)
        let r = try runUnmask(["classifier", "train", "--corpus", a, b, "--out", out, "--window", "16"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("100.0%"), r.stdout)  // two unmistakable classes
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/README.md"))
        let name = (a as NSString).lastPathComponent.replacingOccurrences(of: ".txt", with: "")
        let s = try runUnmask(["classifier", "score", "--text", a, "--classifier", out, "--class", name, "--window", "16", "--json"])
        XCTAssertEqual(s.status, 0, s.stderr)
        let line = try json(s)[0]
        XCTAssertEqual((line["fractions"] as! [String: Double])[name], 1)
        assertCleanFailure(try runUnmask(["classifier", "train", "--corpus", a, "--out", out]), mentioning: "two")
        assertCleanFailure(try runUnmask(["classifier", "score", "--text", a, "--classifier", a]), mentioning: "not an Unmask classifier")
    }
}
