import XCTest
import UnmaskKernels
import UnmaskModel
import UnmaskSupport

/// The block-diffusion families against their own published modeling code: a tiny random
/// folder per family, written with its golden logits by that family's code run on the CPU
/// in float64 (scripts/fixtures/make_sdar_fixture.py, make_fast_dllm_v2_fixture.py,
/// make_a2d_fixture.py; the reference commit and the sha256 of every file run are in each
/// golden.json). Tolerances as `assertThreeWayForward`: 1e-4 relative to the largest golden
/// logit (the golden was rounded to float32; measured differences are printed).
final class HuggingFaceBlockFamiliesTests: XCTestCase {
    /// SDAR (JetAstra/SDAR's modeling_sdar.py): Qwen3 body, head_dim 16 ≠ 32/4, q/k norms,
    /// block-causal in blocks of 4 from position 0; the golden is one pass with SDAR's own
    /// block-causal mask.
    func testSDARMatchesItsOwnCode() throws {
        let folder = huggingFaceFixture("sdar-tiny")
        let (ids, golden, _) = try loadGolden(folder: folder)
        let hf = try HuggingFaceFolder.open(directory: folder)
        XCTAssertEqual(hf.family, .sdar)
        XCTAssertEqual(hf.config.attention, .blockCausal)
        XCTAssertEqual(hf.config.blockSize, 4)
        XCTAssertEqual(hf.config.headDim, 16)
        XCTAssertTrue(hf.config.qkNorm)
        try assertThreeWayForward(folder: folder, ids: ids, golden: golden, label: "sdar-tiny", reference: "SDAR's modeling_sdar.py")
    }

    /// Fast-dLLM v2 (its modeling.py): Qwen2.5 body with q/k/v biases, block-causal in
    /// blocks of `bd_size` 4; the golden holds its raw rows, and its sampler reads token i
    /// from row i − 1: the engine's shifted output is compared with the golden shifted so.
    func testFastDLLMv2MatchesItsOwnCode() throws {
        let folder = huggingFaceFixture("fast-dllm-v2-tiny")
        let (ids, raw, json) = try loadGolden(folder: folder)
        XCTAssertEqual(json["shifted"]?.boolValue, true)
        let hf = try HuggingFaceFolder.open(directory: folder)
        XCTAssertEqual(hf.family, .fastDLLMv2)
        XCTAssertEqual(hf.config.maskTokenId, 1, "the mask is the tokenizer's |<MASK>|")
        XCTAssertTrue(hf.config.shiftedLogits && hf.config.qkvBias)
        let shifted = shiftedAsItsSamplerReads(raw, batch: 2, length: 16)
        try assertThreeWayForward(folder: folder, ids: ids, golden: shifted, label: "fast-dllm-v2-tiny", reference: "Fast-dLLM v2's modeling.py")
    }

    /// The Qwen3 A2D checkpoints (the dLLM framework's A2DQwen3LMHeadModel): the network over
    /// 16 tokens inside one block of 32 is the bidirectional network the golden ran; and the
    /// bd3lm sampler's own attention — prompt of 5 left-padded to 8 with 3 pads that are
    /// neither keys nor positions, blocks of 4 — is the engine's block-causal pattern with
    /// blocks shifted by 3 on the 13 real rows.
    func testA2DQwen3MatchesItsOwnCode() throws {
        let folder = huggingFaceFixture("a2d-qwen3-tiny")
        let (ids, golden, json) = try loadGolden(folder: folder)
        let hf = try HuggingFaceFolder.open(directory: folder)
        XCTAssertEqual(hf.family, .a2dQwen3)
        XCTAssertEqual(hf.config.blockAlignment, .promptEnd)
        XCTAssertTrue(hf.config.tiedEmbeddings)
        try assertThreeWayForward(folder: folder, ids: ids, golden: golden, label: "a2d-qwen3-tiny", reference: "dLLM's A2D Qwen3")

        let block = try XCTUnwrap(json["block_logits"])
        let input = try XCTUnwrap(block["input"]?.arrayValue).map { try XCTUnwrap($0.intValue) }
        let rows = try XCTUnwrap(block["rows"]?.arrayValue).map { try XCTUnwrap($0.intValue) }
        let expected = try XCTUnwrap(block["logits"]?.arrayValue).map { Float(try XCTUnwrap($0.doubleValue)) }
        var c = hf.config
        c.blockSize = 4
        let model = try Transformer(config: c, source: hf.source)
        let real = rows.map { input[$0] }
        let ours = try model.forward(ids: real, batch: 1, length: real.count, pattern: .blockCausal(4, offset: 3))
        let scale = Double(expected.map(abs).max()!)
        let diff = zip(ours, expected).map { abs(Double($0) - Double($1)) }.max()!
        print("a2d-qwen3-tiny, bd3lm sampler's attention (3 pads, blocks of 4): max logit diff \(diff) (largest \(scale))")
        XCTAssertEqual(ours.count, expected.count)
        XCTAssertLessThanOrEqual(diff, 1e-4 * scale)
        // Blocks from position 0 instead are another function: the offset is what matches.
        let unshifted = try model.forward(ids: real, batch: 1, length: real.count)
        XCTAssertGreaterThan(zip(unshifted, expected).map { abs(Double($0) - Double($1)) }.max()!, 1e-2 * scale)
    }

    /// A config that names one body over the other's tensors is refused by what the tensors
    /// are; a family's missing mask is refused by name.
    func testMismatchedBodiesAndMissingMasksAreRefused() throws {
        let dir = NSTemporaryDirectory() + "unmask-blockfam-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let fast = huggingFaceFixture("fast-dllm-v2-tiny")
        try FileManager.default.copyItem(atPath: fast + "/model.safetensors", toPath: dir + "/model.safetensors")
        var config = try String(contentsOfFile: huggingFaceFixture("sdar-tiny") + "/config.json", encoding: .utf8)
        config = config.replacingOccurrences(of: "\"head_dim\": 16", with: "\"head_dim\": 8")
        try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try HuggingFaceFolder.open(directory: dir)) { e in
            XCTAssertTrue("\(e)".contains("Qwen2 body"), "\(e)")
        }
        // Fast-dLLM v2's config names no mask id; without its tokenizer there is none.
        try FileManager.default.removeItem(atPath: dir + "/config.json")
        try FileManager.default.copyItem(atPath: fast + "/config.json", toPath: dir + "/config.json")
        XCTAssertThrowsError(try HuggingFaceFolder.open(directory: dir)) { e in
            XCTAssertTrue("\(e)".contains("|<MASK>|"), "\(e)")
        }
    }
}
