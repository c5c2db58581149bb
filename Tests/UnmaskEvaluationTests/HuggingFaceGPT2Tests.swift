import XCTest
import UnmaskEvaluation
import UnmaskModel
import UnmaskKernels
import UnmaskTokenizer
import UnmaskSupport

/// A tiny random-weight GPT-2 saved by transformers' own save_pretrained (real tensor names
/// and config keys), against the logits and loss transformers computed for it in float32
/// (scripts/fixtures/make_hf_fixtures.py; versions in golden.json).
/// The committed tiny GPT-2 folder (Tests/UnmaskModelTests/Fixtures/hf/gpt2-tiny).
let gpt2TinyFolder: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(2)
    return parts.joined(separator: "/") + "/UnmaskModelTests/Fixtures/hf/gpt2-tiny"
}()

final class HuggingFaceGPT2Tests: XCTestCase {
    let folder = gpt2TinyFolder

    func golden() throws -> (ids: [[Int]], logits: [Float], loss: Double, versions: String) {
        let json = try JSON.parse(Files.read(folder + "/golden.json"))
        let ids = try XCTUnwrap(json["ids"]?.arrayValue).map { try XCTUnwrap($0.arrayValue).map { try XCTUnwrap($0.intValue) } }
        let logits = try XCTUnwrap(json["logits"]?.arrayValue).map { Float(try XCTUnwrap($0.doubleValue)) }
        let versions = "transformers \(json["transformers"]?.stringValue ?? "?"), torch \(json["torch"]?.stringValue ?? "?")"
        return (ids, logits, try XCTUnwrap(json["loss"]?.doubleValue), versions)
    }

    func testLogitsMatchTransformers() throws {
        let g = try golden()
        let folderInfo = try HuggingFaceFolder.open(directory: folder)
        XCTAssertEqual(folderInfo.family, .gpt2)
        XCTAssertTrue(folderInfo.tensorMap.contains { $0.ours == "layers.1.attn.qkv.weight" && $0.theirs == "transformer.h.1.attn.c_attn.weight" })
        for backend in [GEMMBackend.unmask, .openblas] {
            let model = try Transformer.load(directory: folder, matmul: MatMul(backend: backend, threads: 2))
            let ours = try model.forward(ids: g.ids.flatMap { $0 }, batch: 2, length: 16)
            let scale = g.logits.map(abs).max()!
            let diff = zip(ours, g.logits).map { abs($0 - $1) }.max()!
            print("gpt2-tiny [\(backend)] vs \(g.versions): max logit diff \(diff) (largest logit \(scale))")
            XCTAssertLessThanOrEqual(diff, 1e-4 * scale)
        }
    }

    /// transformers' causal-LM loss (mean NLL of token i + 1 over every sequence) against
    /// ours through the evaluator interface, to 1e-5 relative.
    func testLossMatchesTransformers() throws {
        let g = try golden()
        let evaluator = try TransformerEvaluator(model: Transformer.load(directory: folder))
        XCTAssertNil(evaluator.excludedToken)
        var nats = 0.0, tokens = 0
        for row in g.ids {
            let r = try Evaluation.causalNLL(evaluator: evaluator, tokens: row)
            nats += r.nats
            tokens += r.tokens
        }
        let loss = nats / Double(tokens)
        print("gpt2-tiny loss: ours \(loss), transformers \(g.loss), relative diff \(abs(loss - g.loss) / g.loss)")
        XCTAssertEqual(tokens, 2 * 15)
        XCTAssertEqual(loss, g.loss, accuracy: 1e-5 * g.loss)
    }

    /// A GPT-2 has no mask token: it can be an evaluator, never a denoiser.
    func testRolesAndBadFolders() throws {
        let model = try Transformer.load(directory: folder)
        XCTAssertEqual(ModelRole.of(model.config), .evaluator)
        XCTAssertThrowsError(try ModelRole.denoiser.check(model.config, name: "gpt2-tiny"))
        let dir = NSTemporaryDirectory() + "unmask-hf-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // An unknown family is named.
        try #"{"model_type": "mamba", "architectures": ["MambaForCausalLM"]}"#.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Transformer.load(directory: dir)) { XCTAssertTrue("\($0)".contains("\"mamba\" is not supported"), "\($0)") }
        // Mixtures of experts whose configs name a dense family (LLaDA-MoE says model_type
        // "llada"; LLaDA2's architecture starts with "LLaDA") are refused by name, not read
        // as the dense LLaDA.
        for config in [#"{"model_type": "llada", "architectures": ["LLaDAMoEModelLM"], "num_experts": 64, "num_experts_per_tok": 8}"#,
                       #"{"model_type": "llada2_moe", "architectures": ["LLaDA2MoeModelLM"], "num_experts": 256}"#,
                       #"{"model_type": "llada", "architectures": ["LLaDAModelLM"], "moe_intermediate_size": 1024}"#] {
            try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Transformer.load(directory: dir)) { XCTAssertTrue("\($0)".contains("is a mixture of experts"), "\($0)") }
        }
        // A missing shard is named.
        try FileManager.default.copyItem(atPath: folder + "/config.json", toPath: dir + "/gpt2.json")
        try FileManager.default.removeItem(atPath: dir + "/config.json")
        try FileManager.default.moveItem(atPath: dir + "/gpt2.json", toPath: dir + "/config.json")
        try #"{"weight_map": {"transformer.wte.weight": "model-00001-of-00002.safetensors"}}"#
            .write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Transformer.load(directory: dir)) { XCTAssertTrue("\($0)".contains("shard model-00001-of-00002.safetensors"), "\($0)") }
        // Config and tensors that disagree: the file has 2 layers, the config says 3.
        try FileManager.default.removeItem(atPath: dir + "/model.safetensors.index.json")
        try FileManager.default.copyItem(atPath: folder + "/model.safetensors", toPath: dir + "/model.safetensors")
        let config = try String(contentsOfFile: folder + "/config.json", encoding: .utf8).replacingOccurrences(of: "\"n_layer\": 2", with: "\"n_layer\": 3")
        try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Transformer.load(directory: dir)) { XCTAssertTrue("\($0)".contains("transformer.h.2"), "\($0)") }
    }
}

/// Generative perplexity of the fixture's samples.jsonl under the tiny GPT-2 and its own
/// tokenizer, against transformers + tokenizers computing the documented recipe.
final class RetokenizedRecipeTests: XCTestCase {
    func testMatchesPythonRecomputation() throws {
        let folder = gpt2TinyFolder
        let json = try JSON.parse(Files.read(folder + "/golden.json"))
        let golden = try XCTUnwrap(json["gen_ppl"])
        let tokenizer = try Tokenizer.load(path: folder + "/tokenizer.json", requireMask: false)
        XCTAssertEqual(tokenizer.maskId, Tokenizer.noMask)
        XCTAssertFalse(tokenizer.normalizesNFC)
        let evaluator = try TransformerEvaluator(model: Transformer.load(directory: folder))
        var tally = GenerativePerplexityTally(evaluator: evaluator, endOfText: tokenizer.endOfTextId, evaluatorTokenizer: tokenizer)
        for line in try String(contentsOfFile: folder + "/samples.jsonl", encoding: .utf8).split(separator: "\n") {
            let text = try XCTUnwrap(JSON.parse(Array(line.utf8))["text"]?.stringValue)
            try tally.add(tokenizer.encode(text), text: text)
        }
        let r = tally.statistics
        let nats = try XCTUnwrap(golden["nats"]?.doubleValue), tokens = try XCTUnwrap(golden["tokens"]?.intValue)
        print("gen ppl recipe: ours \(r.perplexity) over \(r.tokens) tokens, Python \(exp(nats / Double(tokens))) over \(tokens)")
        XCTAssertEqual(r.tokens, tokens)
        XCTAssertEqual(r.nats, nats, accuracy: 1e-5 * nats)
        XCTAssertEqual(r.perplexity, exp(nats / Double(tokens)), accuracy: 1e-4 * r.perplexity)
    }
}
