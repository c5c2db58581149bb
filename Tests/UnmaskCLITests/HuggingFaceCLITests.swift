import XCTest

/// Hugging Face folders on the command line: `info` and `eval --evaluator` on the tiny
/// GPT-2 fixture, and the one-line errors for folders Unmask cannot run.
final class HuggingFaceCLITests: XCTestCase {
    let folder = cliRepositoryRoot + "/Tests/UnmaskModelTests/Fixtures/hf/gpt2-tiny"

    func testInfoAndEval() throws {
        let info = try runUnmask(["info", "--model", folder])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("family      gpt2, role evaluator"), info.stdout)
        XCTAssertTrue(info.stdout.contains("layers.0.attn.qkv.weight") && info.stdout.contains("<- transformer.h.0.attn.c_attn.weight"), info.stdout)
        // Generative perplexity by the published recipe; the golden is transformers' (see
        // RetokenizedRecipeTests). The samples are read with the bundled tokenizer, decoded,
        // and retokenized by the folder's own.
        let r = try runUnmask(["eval", folder + "/samples.jsonl", "--evaluator", folder, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/golden.json"))) as! [String: Any]
        let g = golden["gen_ppl"] as! [String: Any]
        let expected = exp((g["nats"] as! Double) / Double(g["tokens"] as! Int))
        let row = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(row["gen_ppl"] as! Double, expected, accuracy: 1e-4 * expected)
    }

    /// compare under a GPT-2 evaluator: the bundled denoiser's samples (its 4096-token
    /// vocabulary) are decoded and scored by the tiny GPT-2 with its own tokenizer; the
    /// evaluator's own samples are drawn in its tokens. Same rows, same numbers, on 1 and 2
    /// threads.
    func testCompareWithGPT2Evaluator() throws {
        func run(_ threads: String) throws -> CLIResult {
            try runUnmask(["compare", "--evaluator", folder, "--sampler", "fhs", "--samples", "3", "--length", "12",
                           "--threads", threads, "--json"])
        }
        let one = try run("1"), two = try run("2")
        XCTAssertEqual(one.status, 0, one.stderr)
        let rows = one.stdout.split(separator: "\n")
        XCTAssertTrue(rows.contains { $0.contains("\"sampler\":\"fhs\"") }, one.stdout)
        XCTAssertTrue(rows.contains { $0.contains("evaluator samples") }, one.stdout)
        func untimed(_ s: String) -> [String] {
            s.split(separator: "\n").map { $0.split(separator: ",").filter { !$0.hasPrefix("\"seconds_per_sample\"") }.joined(separator: ",") }
        }
        XCTAssertEqual(untimed(one.stdout), untimed(two.stdout))
    }

    /// MDLM's DiT folder as the denoiser (its tokenizer, GPT-2's kind with no mask, gets the
    /// mask appended), Dream's and LLaDA's (their tokenizers have one, at the id the config
    /// names): generation runs the sampler families on them, same output on 1 and 2 threads.
    func testGenerateWithDenoiserFolders() throws {
        let dit = cliRepositoryRoot + "/Tests/UnmaskModelTests/Fixtures/hf/mdlm-tiny"
        let dream = cliRepositoryRoot + "/Tests/UnmaskModelTests/Fixtures/hf/dream-tiny"  // its own mask, at id 1
        let llada = cliRepositoryRoot + "/Tests/UnmaskModelTests/Fixtures/hf/llada-tiny"  // mask_token_id 1 in its config
        let lladaInfo = try runUnmask(["info", "--model", llada])
        XCTAssertEqual(lladaInfo.status, 0, lladaInfo.stderr)
        XCTAssertTrue(lladaInfo.stdout.contains("family      llada, role denoiser"), lladaInfo.stdout)
        XCTAssertTrue(lladaInfo.stdout.contains("model.transformer.blocks.0.q_proj.weightᵀ | model.transformer.blocks.0.k_proj.weightᵀ"), lladaInfo.stdout)
        let info = try runUnmask(["info", "--model", dit])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("family      mdlm, role denoiser"), info.stdout)
        XCTAssertTrue(info.stdout.contains("attn.out.weight") && info.stdout.contains("gate_msa"), info.stdout)
        for (dit, sampler) in [(dit, "fhs"), (dit, "ancestral:steps=20"), (dit, "confidence:k=2"), (dream, "fhs"), (dream, "entropy"),
                               (llada, "fhs"), (llada, "margin:k=2"), (llada, "ancestral:steps=8")] {
            let one = try runUnmask(["generate", "--model", dit, "--length", "12", "--sampler", sampler, "--seed", "3", "--threads", "1", "--json"])
            let two = try runUnmask(["generate", "--model", dit, "--length", "12", "--sampler", sampler, "--seed", "3", "--threads", "2", "--json"])
            XCTAssertEqual(one.status, 0, one.stderr)
            XCTAssertTrue(one.stdout.contains("\"ids\":["), one.stdout)
            XCTAssertEqual(withoutSeconds(one.stdout), withoutSeconds(two.stdout), sampler)
        }
        // eval --text with a folder denoiser (its tokenizer) and the GPT-2 evaluator (its own).
        let text = NSTemporaryDirectory() + "unmask-hf-text-\(getpid()).txt"
        try String(repeating: "It is a truth universally acknowledged. Mr. Bennet made no answer.\n", count: 12)
            .write(toFile: text, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: text) }
        for model in [dit, dream, llada] {
            let r = try runUnmask(["eval", "--text", text, "--model", model, "--evaluator", folder, "--masks", "1"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("denoiser ELBO:") && r.stdout.contains("evaluator:"), r.stdout)
            // compare: the folder's samples, decoded and scored by the GPT-2 evaluator.
            let c = try runUnmask(["compare", "--model", model, "--evaluator", folder, "--sampler", "fhs", "--samples", "2",
                                   "--length", "10", "--json"])
            XCTAssertEqual(c.status, 0, c.stderr)
            XCTAssertTrue(c.stdout.contains("\"sampler\":\"fhs\""), c.stdout)
        }
    }

    /// eval --text with a folder denoiser and no --evaluator: the bundled evaluator (4096
    /// tokens) does not fit the folder's tokenizer, so it is left out with one note on
    /// stderr and the ELBO is measured. Named with --evaluator, the same pair is an error.
    func testBundledEvaluatorThatDoesNotFitIsLeftOut() throws {
        let hf = cliRepositoryRoot + "/Tests/UnmaskModelTests/Fixtures/hf"
        let text = NSTemporaryDirectory() + "unmask-hf-leftout-\(getpid()).txt"
        try String(repeating: "It is a truth universally acknowledged. Mr. Bennet made no answer.\n", count: 12)
            .write(toFile: text, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: text) }
        // MDLM's folder with its tokenizer given by --vocab (GPT-2's, which the folder shares).
        for (model, vocab) in [(hf + "/llada-tiny", nil), (hf + "/dream-tiny", nil), (hf + "/mdlm-tiny", folder + "/tokenizer.json")] {
            let r = try runUnmask(["eval", "--text", text, "--model", model, "--masks", "1"] + (vocab.map { ["--vocab", $0] } ?? []))
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("denoiser ELBO:") && !r.stdout.contains("evaluator:"), r.stdout)
            let notes = r.stderr.split(separator: "\n")
            XCTAssertEqual(notes.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("note: skipping the bundled models/evaluator: its vocabulary of 4096 tokens (mask 4095) does not fit the tokenizer \(vocab ?? model + "/tokenizer.json")"), r.stderr)
            XCTAssertTrue(r.stderr.hasSuffix("; pass --evaluator DIR for one that does\n"), r.stderr)
            assertCleanFailure(try runUnmask(["eval", "--text", text, "--model", model, "--evaluator", cliRepositoryRoot + "/models/evaluator",
                                              "--masks", "1"] + (vocab.map { ["--vocab", $0] } ?? [])),
                               mentioning: "--evaluator \(cliRepositoryRoot)/models/evaluator has a vocabulary of 4096 tokens (mask 4095), but the tokenizer")
        }
        // The bundled denoiser beside a GPT-2 evaluator and a tokenizer it does not read.
        let r = try runUnmask(["eval", "--text", text, "--evaluator", folder, "--vocab", hf + "/llada-tiny/tokenizer.json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("evaluator:") && !r.stdout.contains("denoiser ELBO:"), r.stdout)
        XCTAssertTrue(r.stderr.hasPrefix("note: skipping the bundled models/denoiser: "), r.stderr)
        // A run that needs the evaluator (samples to score) still refuses the bundled one.
        assertCleanFailure(try runUnmask(["eval", folder + "/samples.jsonl", "--model", hf + "/llada-tiny"]), mentioning: "do not belong together")
    }

    func testBadFoldersFailCleanly() throws {
        let dir = NSTemporaryDirectory() + "unmask-hfcli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"model_type": "mamba"}"#.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        assertCleanFailure(try runUnmask(["info", "--model", dir]), mentioning: "\"mamba\" is not supported")
        // A LLaDA whose config's mask id is another special than the tokenizer's <|mask|>,
        // and one with a setting the engine does not run: refused by name.
        let llada = cliRepositoryRoot + "/Tests/UnmaskModelTests/Fixtures/hf/llada-tiny"
        for (edit, message) in [("\"mask_token_id\": 0", "disagree"), ("\"include_bias\": true", "include_bias true is not supported")] {
            try? FileManager.default.removeItem(atPath: dir + "/llada")
            try FileManager.default.copyItem(atPath: llada, toPath: dir + "/llada")
            let config = try String(contentsOfFile: llada + "/config.json", encoding: .utf8)
            let key = String(edit.split(separator: ":")[0])
            let edited = config.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces).hasPrefix(key) ? "  " + edit + "," : String($0) }
            try edited.joined(separator: "\n").write(toFile: dir + "/llada/config.json", atomically: true, encoding: .utf8)
            assertCleanFailure(try runUnmask(["generate", "--model", dir + "/llada", "--length", "4"]), mentioning: message)
        }
        // A GPT-2 is an evaluator: as the denoiser it is refused before any work.
        assertCleanFailure(try runUnmask(["generate", "--model", folder, "--length", "4"]), mentioning: "not a denoiser")
    }
}
