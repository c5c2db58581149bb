import XCTest

/// Nothing silently wrong: every case here once ended in a trap, a wrong answer with exit
/// status 0, or a user's file lost. Each now ends in one line on stderr and status 1, or in
/// documented behaviour that is checked.
final class RobustnessCLITests: XCTestCase {
    let denoiser = cliRepositoryRoot + "/models/denoiser"
    let evaluator = cliRepositoryRoot + "/models/evaluator"
    let detector = cliRepositoryRoot + "/models/corruption-detector"

    func temporary(_ name: String) -> String { NSTemporaryDirectory() + "unmask-robust-\(getpid())-\(name)" }

    /// A 300-token tokenizer: a vocabulary that no bundled model reads.
    lazy var smallVocabulary: String = {
        let corpus = temporary("vocab-corpus.txt"), out = temporary("vocab300.json")
        try? String(repeating: "Emma Woodhouse, handsome, clever, and rich. ", count: 50).write(toFile: corpus, atomically: true, encoding: .utf8)
        let r = try! runUnmask(["tokenizer", "train", "--vocab-size", "300", "--out", out, corpus])
        precondition(r.status == 0, r.stderr)
        return out
    }()

    // MARK: Traps and nonsense numbers

    func testHugeAndNegativeNumbersAreRefused() throws {
        // Used to trap (exit 132) on prompt count + length overflowing.
        assertCleanFailure(try runUnmask(["generate", "hi", "--length", "9223372036854775807"]), mentioning: "--length")
        assertCleanFailure(try runUnmask(["compare", "--sampler", "fhs", "--length", "9223372036854775807"]), mentioning: "--length")
        // Negative numbers used to be taken for options ("Missing value").
        for args in [["generate", "--length", "-5"], ["generate", "--seed", "-5"], ["eval", "--text", "x", "--masks", "-1"],
                     ["compare", "--sampler", "fhs", "--samples", "-2"]] {
            let r = try runUnmask(args)
            assertCleanFailure(r, mentioning: args[args.count - 2])
            XCTAssertFalse(r.stderr.contains("Missing value"), r.stderr)
        }
        // bench train validated nothing: zero or negative batch and steps trapped or printed
        // "0 tokens/s", a huge batch aborted in the allocator.
        for (args, needle) in [(["--batch", "0"], "--batch"), (["--batch", "-3"], "--batch"), (["--steps", "0"], "--steps"),
                               (["--batch", "4000"], "GB")] {
            assertCleanFailure(try runUnmask(["bench", "train"] + args), mentioning: needle)
        }
        assertCleanFailure(try runUnmask(["bench", "gemm", "--vocab-size", "65536", "--context", "65536"]), mentioning: "GB")
        assertCleanFailure(try runUnmask(["bench", "forward", "--threads", "1,x"]), mentioning: "--threads")
        assertCleanFailure(try runUnmask(["bench", "forward", "--threads", "0"]), mentioning: "--threads")
        assertCleanFailure(try runUnmask(["bench", "forward", "--batches", "1,"]), mentioning: "--batches")
        assertCleanFailure(try runUnmask(["bench", "forward", "--engines", "fp32,gpu"]), mentioning: "--engines")
        assertCleanFailure(try runUnmask(["bench", "gemm", "--threads", "65"]), mentioning: "--threads")
        assertCleanFailure(try runUnmask(["bench", "samplers", "--samples", "0"]), mentioning: "--samples")
    }

    func testVanishingTemperatureIsTheArgmax() throws {
        // Used to exit 0 with every id 0 (NUL bytes). Now the T → 0 limit: the argmax,
        // which is what top_k=1 draws.
        let base = ["generate", "It is", "--length", "6", "--json", "--seed", "3"]
        let argmax = try runUnmask(base + ["--sampler", "fhs:top_k=1"])
        XCTAssertEqual(argmax.status, 0, argmax.stderr)
        for t in ["1e-308", "5e-324"] {
            let r = try runUnmask(base + ["--sampler", "fhs", "--temperature", t])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(ids(r.stdout), ids(argmax.stdout), "T=\(t)")
            XCTAssertFalse(ids(r.stdout).dropFirst(2).contains(0), r.stdout)
        }
    }

    func ids(_ jsonLine: String) -> [Int] {
        guard let start = jsonLine.range(of: "\"ids\":["), let end = jsonLine[start.upperBound...].firstIndex(of: "]") else { return [] }
        return jsonLine[start.upperBound..<end].split(separator: ",").compactMap { Int($0) }
    }

    // MARK: Pairings

    func testModelRolesAreChecked() throws {
        assertCleanFailure(try runUnmask(["generate", "hi", "--model", evaluator]), mentioning: "not a denoiser")
        assertCleanFailure(try runUnmask(["generate", "hi", "--model", detector]), mentioning: "not a denoiser")
        assertCleanFailure(try runUnmask(["generate", "hi", "--sampler", "ddpd", "--corruption-detector", denoiser]), mentioning: "not a corruption detector")
        assertCleanFailure(try runUnmask(["compare", "--sampler", "fhs", "--model", evaluator]), mentioning: "not a denoiser")
        assertCleanFailure(try runUnmask(["compare", "--sampler", "fhs", "--evaluator", denoiser]), mentioning: "not an evaluator")
        // Checked when loaded, before the denoiser's ELBO pass, not after it.
        assertCleanFailure(try runUnmask(["eval", "--text", cliRepositoryRoot + "/README.md", "--evaluator", denoiser]),
                           mentioning: "not an evaluator")
    }

    func testVocabularyPairingsAreChecked() throws {
        let small = smallVocabulary
        assertCleanFailure(try runUnmask(["eval", "--text", cliRepositoryRoot + "/README.md", "--vocab", small]), mentioning: "vocabulary")
        assertCleanFailure(try runUnmask(["compare", "--sampler", "fhs", "--vocab", small]), mentioning: "vocabulary")
        assertCleanFailure(try runUnmask(["generate", "hi", "--vocab", small]), mentioning: "vocabulary")
        let samples = temporary("pair.jsonl")
        try "{\"text\":\"Emma\"}\n".write(toFile: samples, atomically: true, encoding: .utf8)
        assertCleanFailure(try runUnmask(["eval", samples, "--vocab", small]), mentioning: "vocabulary")
    }

    // MARK: Nothing lost

    func testOutputsNeverOverwriteWhatTheyShouldNot() throws {
        let model = temporary("model")
        let corpus = temporary("corpus.txt")
        try (0..<100).map { "Line \($0): Mr. Knightley walked to Hartfield.\n" }.joined().write(toFile: corpus, atomically: true, encoding: .utf8)
        let tiny = ["--d-model", "16", "--layers", "1", "--heads", "2", "--d-ff", "16", "--context", "16", "--batch", "2"]
        let train = ["train", "--objective", "mdm", "--corpus", corpus, "--out", model, "--steps", "2"] + tiny
        XCTAssertEqual(try runUnmask(train).status, 0)
        let weights = try Data(contentsOf: URL(fileURLWithPath: model + "/model.safetensors"))
        // Training again into the trained model's folder is refused, and the model is intact.
        assertCleanFailure(try runUnmask(train), mentioning: "not empty")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: model + "/model.safetensors")), weights)
        XCTAssertEqual(try runUnmask(train + ["--force"]).status, 0)
        // Converting in place, by any spelling of the path, is refused.
        assertCleanFailure(try runUnmask(["convert", "--model", model, "--out", model, "--dtype", "f16"]), mentioning: "input model")
        assertCleanFailure(try runUnmask(["convert", "--model", model, "--out", model + "/../" + (model as NSString).lastPathComponent,
                                          "--dtype", "f16"]), mentioning: "input model")
        // A converted copy has its own card, not a stale one.
        let copy = temporary("copy")
        XCTAssertEqual(try runUnmask(["convert", "--model", model, "--out", copy, "--dtype", "f16"]).status, 0)
        XCTAssertTrue(try String(contentsOfFile: copy + "/README.md", encoding: .utf8).contains("with its weights stored as f16"))
        assertCleanFailure(try runUnmask(["convert", "--model", model, "--out", copy, "--dtype", "bf16"]), mentioning: "not empty")
        // A tokenizer trained over its own corpus file.
        let text = try String(contentsOfFile: corpus, encoding: .utf8)
        assertCleanFailure(try runUnmask(["tokenizer", "train", "--vocab-size", "300", "--out", corpus, corpus]), mentioning: "corpus file")
        XCTAssertEqual(try String(contentsOfFile: corpus, encoding: .utf8), text)
        // --resume with no checkpoint leaves no folder behind.
        let fresh = temporary("fresh")
        assertCleanFailure(try runUnmask(["train", "--objective", "mdm", "--corpus", corpus, "--out", fresh, "--steps", "2", "--resume"] + tiny),
                           mentioning: "no checkpoint")
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh))
        // compare --plot over its own input rows.
        // (On a copy: a binary without the check overwrites the rows with the plot.)
        let rows = temporary("rows.jsonl")
        try? FileManager.default.removeItem(atPath: rows)
        try FileManager.default.copyItem(atPath: cliRepositoryRoot + "/Benchmarks/results/compare.jsonl", toPath: rows)
        assertCleanFailure(try runUnmask(["compare", "--replot", rows, "--plot", rows]), mentioning: "input file")
    }

    func testInterruptWritesACheckpointAndStaleTemporariesGo() throws {
        let model = temporary("interrupted")
        let corpus = temporary("corpus-int.txt")
        try (0..<100).map { "Line \($0): Emma walked to Donwell Abbey.\n" }.joined().write(toFile: corpus, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        // A temporary file of a write killed half-way (its process is long gone).
        let stale = model + "/checkpoint.safetensors.tmp-\((1 << 22) + 9)"
        FileManager.default.createFile(atPath: stale, contents: Data([1, 2, 3]))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: unmaskExecutable)
        process.arguments = ["train", "--objective", "mdm", "--corpus", corpus, "--out", model, "--steps", "10000000",
                             "--checkpoint-every", "1000", "--d-model", "16", "--layers", "1", "--heads", "2", "--d-ff", "16",
                             "--context", "16", "--batch", "2"]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait for the first step's files (best/ is written at step 1), then Ctrl-C.
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: model + "/best/model.safetensors") && Date() < deadline { usleep(50_000) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale), "stale temporary file not removed")
        usleep(300_000)
        process.interrupt()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 130)
        XCTAssertTrue(FileManager.default.fileExists(atPath: model + "/checkpoint.safetensors"),
                      "Ctrl-C must write a checkpoint (the interval was 1000 minutes)")
    }

    // MARK: Unbounded inputs

    func testUnboundedInputsAreRefused() throws {
        assertCleanFailure(try runUnmask(["eval", "--text", "/dev/zero"]), mentioning: "character device")
        assertCleanFailure(try runUnmask(["eval", "/dev/zero"]), mentioning: "character device")
        let long = temporary("long.jsonl")
        let line = "{\"ids\":[" + String(repeating: "1,", count: 2_500_000) + "1]}\n"
        try line.write(toFile: long, atomically: true, encoding: .utf8)
        assertCleanFailure(try runUnmask(["eval", long]), mentioning: "longer than the limit")
    }

    func testEmptySamplesAreSkippedNotScored() throws {
        let path = temporary("empty.jsonl")
        try "{\"ids\":[]}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let r = try runUnmask(["eval", path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("every sample is empty"), r.stderr)
        XCTAssertFalse(r.stdout.contains("1.00"), r.stdout)
        // Beside a real sample, the empty one is skipped with a warning: the result is that
        // of the real sample alone (its entropy not averaged with a 0).
        try "{\"ids\":[1009,362,258,1865]}\n{\"ids\":[]}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let both = try runUnmask(["eval", path, "--json"])
        try "{\"ids\":[1009,362,258,1865]}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let one = try runUnmask(["eval", path, "--json"])
        XCTAssertEqual(both.status, 0, both.stderr)
        XCTAssertTrue(both.stderr.contains("line 2 is an empty sample; skipped"), both.stderr)
        XCTAssertEqual(both.stdout.replacingOccurrences(of: ",\"skipped_empty\":1", with: ""),
                       one.stdout.replacingOccurrences(of: ",\"skipped_empty\":0", with: ""))
    }

    // MARK: Smaller items

    func testSmallerItems() throws {
        // A seed above Int.max is printed as itself, and can be given back.
        let seed = "18446744073709551615"
        let r = try runUnmask(["generate", "hi", "--length", "3", "--seed", seed, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"seed\":\(seed)"), r.stdout)
        // The plot path is checked before any sampling: the (bad) reference after it is
        // never reached.
        assertCleanFailure(try runUnmask(["compare", "--sampler", "fhs", "--samples", "2", "--length", "4",
                                          "--plot", "/nonexistent/dir/p.svg", "--reference", "/nonexistent/ref.txt"]),
                           mentioning: "--plot")
        assertCleanFailure(try runUnmask(["generate", "--template", "Emma ___", "--length", "5"]), mentioning: "--length")
        assertCleanFailure(try runUnmask(["generate", "hi", "--model", denoiser + "/config.json"]), mentioning: "is a file")
        XCTAssertEqual(try runUnmask(["bench", "gemm", "--vocab", "100"]).status, 1)  // --vocab is a file elsewhere
        // Templates print one space where the template has one, not two.
        let t = try runUnmask(["generate", "--template", "Emma [___ x8] Mr. Knightley ___ the", "--seed", "4"])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertFalse(t.stdout.contains("  "), t.stdout)
        // The sampler keys and the context limit are in generate --help.
        let help = try runUnmask(["generate", "--help"])
        for key in ["top_p", "top_k", "precision", "method", "schedule", "cache", "eta", "k:", "context"] {
            XCTAssertTrue(help.stdout.contains(key), "generate --help does not mention \(key)")
        }
    }
}
