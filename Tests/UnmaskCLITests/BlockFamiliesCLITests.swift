import XCTest
import UnmaskSupport

/// The block-diffusion families' folders through the command line: `info`, `generate` (its
/// decoders, the exact cache against none, 1 and 2 threads, the reported tokens per
/// forward), `eval` and `compare`, and the bad inputs each refuses with one line.
final class BlockFamiliesCLITests: XCTestCase {
    let hf = cliRepositoryRoot + "/Tests/UnmaskModelTests/Fixtures/hf"
    let families = [("sdar-tiny", "sdar", 4), ("fast-dllm-v2-tiny", "fast_dllm_v2", 4), ("a2d-qwen3-tiny", "a2d-qwen3", 32)]

    func testInfoGenerateEvalCompare() throws {
        let text = NSTemporaryDirectory() + "unmask-blockfam-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).txt"
        try String(repeating: "It is a truth universally acknowledged. Mr. Bennet made no answer.\n", count: 12)
            .write(toFile: text, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: text) }
        for (name, family, block) in families {
            let folder = hf + "/" + name
            let info = try runUnmask(["info", "--model", folder])
            XCTAssertEqual(info.status, 0, info.stderr)
            XCTAssertTrue(info.stdout.contains("family      \(family), role denoiser"), info.stdout)
            XCTAssertTrue(info.stdout.contains("\"attention\":\"block_causal\"") && info.stdout.contains("\"block_size\":\(block)"), info.stdout)
            for sampler in ["fhs", "confidence:k=2:threshold=0.9", "entropy:entropy_bound=0.5", "confidence:block=2:threshold=0.9"] {
                var outputs: [String] = []
                for extra in [["--threads", "1"], ["--threads", "2"], ["--cache", "off"]] {
                    let r = try runUnmask(["generate", "It is a", "--model", folder, "--length", "12", "--sampler", sampler,
                                           "--temperature", "0", "--seed", "3", "--json"] + extra)
                    XCTAssertEqual(r.status, 0, "\(name) \(sampler): \(r.stderr)")
                    outputs.append(withoutSeconds(r.stdout).replacingOccurrences(of: "\"cache\":\"off\"", with: "\"cache\":\"exact\"")
                        .replacingOccurrences(of: "\"cache_bytes\":0", with: ""))
                    let line = try JSON.parse(Array(r.stdout.utf8))
                    let nfe = try XCTUnwrap(line["nfe"]?.intValue), tpf = try XCTUnwrap(line["tokens_per_forward"]?.doubleValue)
                    XCTAssertEqual(tpf, 12 / Double(nfe), accuracy: 1e-12)
                    XCTAssertEqual(line["generated_tokens"]?.intValue, 12)
                    XCTAssertNotNil(line["blocks"]?.intValue)
                }
                // The cached run writes the tokens of the uncached one, whatever the threads.
                let untimed = outputs.map { $0.split(separator: ",").filter { !$0.hasPrefix("\"cache_bytes\"") }.joined(separator: ",") }
                XCTAssertEqual(untimed[0], untimed[1], "\(name) \(sampler): 1 and 2 threads")
                XCTAssertEqual(untimed[0], untimed[2], "\(name) \(sampler): exact cache and none")
            }
            // The int8 and bf16 products: the exact cache still writes the uncached tokens.
            for compute in ["int8", "bf16"] {
                let runs = try [["--cache", "exact"], ["--cache", "off"]].map { cache in
                    try runUnmask(["generate", "It is a", "--model", folder, "--length", "12", "--compute", compute, "--seed", "5", "--json"] + cache)
                }
                if runs[0].status != 0 && runs[0].stderr.contains("needs") { continue }  // a CPU without the instructions
                XCTAssertEqual(runs[0].status, 0, runs[0].stderr)
                func ids(_ r: CLIResult) throws -> [Int] { try XCTUnwrap(JSON.parse(Array(r.stdout.utf8))["ids"]?.arrayValue).compactMap(\.intValue) }
                XCTAssertEqual(try ids(runs[0]), try ids(runs[1]), "\(name) --compute \(compute): exact cache and none")
            }
            // A text run prints its tokens per forward, calls and seconds per block on stderr.
            let plain = try runUnmask(["generate", "It is a", "--model", folder, "--length", "12", "--seed", "3"])
            XCTAssertEqual(plain.status, 0, plain.stderr)
            XCTAssertTrue(plain.stderr.contains("tokens per forward") && plain.stderr.contains("s per block of \(block)"), plain.stderr)
            let e = try runUnmask(["eval", "--text", text, "--model", folder, "--evaluator", hf + "/gpt2-tiny", "--masks", "1"])
            XCTAssertEqual(e.status, 0, e.stderr)
            XCTAssertTrue(e.stdout.contains("denoiser ELBO:"), e.stdout)
            let c = try runUnmask(["compare", "--model", folder, "--evaluator", hf + "/gpt2-tiny", "--sampler", "fhs",
                                   "--sampler", "confidence:k=2", "--samples", "2", "--length", "10", "--json"])
            XCTAssertEqual(c.status, 0, c.stderr)
            XCTAssertTrue(c.stdout.contains("\"sampler\":\"confidence:k=2\""), c.stdout)
        }
    }

    /// `--chat`: the folder's template (Qwen3's for SDAR-Chat) makes the prompt; an unknown
    /// template, or a model without one, is refused.
    func testChat() throws {
        let dir = NSTemporaryDirectory() + "unmask-chat-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: hf + "/sdar-tiny/" + file, toPath: dir + "/" + file)
        }
        let template = "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}"
        try JSON.line([("chat_template", .string(template))]).write(toFile: dir + "/tokenizer_config.json", atomically: true, encoding: .utf8)
        let r = try runUnmask(["generate", "--model", dir, "--chat", "Hello", "--length", "8", "--temperature", "0", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let line = try JSON.parse(Array(r.stdout.utf8))
        let ids = try XCTUnwrap(line["ids"]?.arrayValue).compactMap(\.intValue)
        XCTAssertGreaterThan(ids.count, 8 + 20, "the prompt is the rendered template")
        try JSON.line([("chat_template", .string("{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"))])
            .write(toFile: dir + "/tokenizer_config.json", atomically: true, encoding: .utf8)
        assertCleanFailure(try runUnmask(["generate", "--model", dir, "--chat", "Hello", "--length", "8"]), mentioning: "unknown chat template")
        assertCleanFailure(try runUnmask(["generate", "--chat", "Hello", "--length", "8"]), mentioning: "chat template")
    }

    /// SDAR's published tokenizer spells its mask `<|MASK|>` and does not mark it special:
    /// the config's mask_token_id is taken all the same, and no text can spell the mask.
    func testSDARMaskThatIsNotMarkedSpecial() throws {
        let dir = NSTemporaryDirectory() + "unmask-sdarmask-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: hf + "/sdar-tiny/" + file, toPath: dir + "/" + file)
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: hf + "/sdar-tiny/tokenizer.json"))
        var tokenizer = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        var added = try XCTUnwrap(tokenizer["added_tokens"] as? [[String: Any]])
        for i in added.indices where added[i]["content"] as? String == "<|mask|>" {
            added[i]["content"] = "<|MASK|>"
            added[i]["special"] = false
        }
        tokenizer["added_tokens"] = added
        var model = try XCTUnwrap(tokenizer["model"] as? [String: Any])
        var vocab = try XCTUnwrap(model["vocab"] as? [String: Any])
        vocab["<|MASK|>"] = vocab.removeValue(forKey: "<|mask|>")
        model["vocab"] = vocab
        tokenizer["model"] = model
        try JSONSerialization.data(withJSONObject: tokenizer).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        let r = try runUnmask(["generate", "It is", "--model", dir, "--length", "8", "--seed", "2", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ids = try XCTUnwrap(JSON.parse(Array(r.stdout.utf8))["ids"]?.arrayValue).compactMap(\.intValue)
        XCTAssertFalse(ids.contains(1), "no mask left in the text")
    }

    /// Each bad input is one line, exit 1.
    func testBadInputsAreRefused() throws {
        let sdar = hf + "/sdar-tiny", a2d = hf + "/a2d-qwen3-tiny"
        // A window that is not the block size the checkpoint was trained with.
        assertCleanFailure(try runUnmask(["generate", "--model", sdar, "--length", "8", "--window", "8"]), mentioning: "blocks of 4")
        // A decoder that needs a bidirectional model, on a block-causal one, and the reverse.
        assertCleanFailure(try runUnmask(["generate", "--model", sdar, "--length", "8", "--sampler", "confidence:block=2", "--cache", "prefix"]),
                           mentioning: "caches exactly")
        assertCleanFailure(try runUnmask(["generate", "--model", sdar, "--length", "8", "--cache", "dual"]), mentioning: "exact")
        assertCleanFailure(try runUnmask(["generate", "--model", hf + "/llada-tiny", "--length", "8", "--cache", "exact"]),
                           mentioning: "block-causal")
        // Blocks that end at the prompt's end cannot be kept past the context with an unaligned prompt.
        assertCleanFailure(try runUnmask(["generate", "It is a", "--model", a2d, "--length", "70"]), mentioning: "where the prompt ends")
        // Two parallel-decoding rules at once.
        assertCleanFailure(try runUnmask(["generate", "--model", sdar, "--length", "8", "--sampler", "confidence:threshold=0.9:entropy_bound=1"]),
                           mentioning: "give one")
    }
}
