import XCTest
@testable import UnmaskDiffusion
import UnmaskKernels
import UnmaskModel
import UnmaskSupport

/// The block-diffusion families' decoders against their own generate loops: each fixture's
/// golden.json holds runs of the family's own code (SDAR's evaluation `generate`, the one
/// its published scores came from; Fast-dLLM v2's `generate()`; the dLLM framework's bd3lm
/// sampler) on the tiny float64 model, under greedy decoding, and Unmask's sampler spec for
/// the same rule must write the same tokens on the exact cache, and on no cache. Greedy
/// choices are separated by at least the golden's `min_margin` (3.8e-4 and more), far above
/// the float32 engine's 1e-6 difference from the float64 reference, so the comparison is
/// exact.
final class BlockFamilyDecoderTests: XCTestCase {
    static func fixture(_ name: String, file: String = #filePath) -> String {
        var parts = file.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(2)
        return parts.joined(separator: "/") + "/UnmaskModelTests/Fixtures/hf/" + name
    }

    static func ints(_ v: JSONValue?) throws -> [Int] { try XCTUnwrap(v?.arrayValue).map { try XCTUnwrap($0.intValue) } }

    /// Generates `canvas` with `spec` on `model`, cached and uncached; asserts both give
    /// `expected` and returns the network calls.
    func assertGenerates(_ model: Transformer, canvas: [Int], spec: String, expected: [Int], label: String,
                         file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let denoiser = try TransformerDenoiser(model: model)
        var calls = 0
        for caching in [KeyValueCaching.exact, .off] {
            var out: [Int] = []
            try Generation.run(sampler: DiffusionSampler(spec: SamplerSpec.parse(spec)), denoiser: denoiser, canvas: canvas,
                               count: 1, batch: 1, seed: 1, caching: caching) { _, ids, nfe, _ in out = ids; calls = nfe }
            XCTAssertEqual(out, expected, "\(label), \(spec), cache \(caching.rawValue)", file: file, line: line)
        }
        return calls
    }

    /// SDAR's evaluation decoder: `threshold` 1.0 is low_confidence_static (n = block /
    /// steps tokens per call, the most probable first), below 1.0 low_confidence_dynamic
    /// (every position above the threshold, at least n); greedy = top_k 1, ranked on the
    /// model's probabilities. Blocks from position 0; the canvas is whole blocks long, as
    /// SDAR's output is.
    func testSDARDecodersMatchItsGenerate() throws {
        let folder = Self.fixture("sdar-tiny")
        let json = try JSON.parse(Files.read(folder + "/golden.json"))
        let model = try Transformer.load(directory: folder)
        let runs = try XCTUnwrap(json["generate_eval"]?.arrayValue)
        XCTAssertGreaterThanOrEqual(runs.count, 4)
        for run in runs {
            let prompt = try Self.ints(run["prompt"]), output = try Self.ints(run["output"])
            let B = try XCTUnwrap(run["block_length"]?.intValue), steps = try XCTUnwrap(run["denoising_steps"]?.intValue)
            let tau = try XCTUnwrap(run["threshold"]?.doubleValue)
            let spec = "confidence:k=\(B / steps)" + (tau < 1 ? ":threshold=\(tau)" : "") + ":top_k=1"
            let canvas = prompt + [Int](repeating: model.config.maskTokenId, count: output.count - prompt.count)
            let calls = try assertGenerates(model, canvas: canvas, spec: spec, expected: output, label: "sdar-tiny")
            print("sdar-tiny \(spec), prompt \(prompt.count): \(calls) network calls (SDAR's own loop: \(run["nfe"]?.intValue ?? -1), its prefill and per-block store calls included)")
        }
    }

    /// Fast-dLLM v2's `generate()`: sub-blocks of `small_block_size`, in each every position
    /// above the threshold and at least the surest; a block's first token read from the
    /// previous block's last row, drawn first and alone. Its output is the canvas.
    func testFastDLLMv2DecoderMatchesItsGenerate() throws {
        let folder = Self.fixture("fast-dllm-v2-tiny")
        let json = try JSON.parse(Files.read(folder + "/golden.json"))
        let model = try Transformer.load(directory: folder)
        let runs = try XCTUnwrap(json["generate"]?.arrayValue)
        XCTAssertGreaterThanOrEqual(runs.count, 4)
        for run in runs {
            let prompt = try Self.ints(run["prompt"]), output = try Self.ints(run["output"])
            let sub = try XCTUnwrap(run["small_block_size"]?.intValue), tau = try XCTUnwrap(run["threshold"]?.doubleValue)
            let spec = "confidence:block=\(sub)" + (tau < 1 ? ":threshold=\(tau)" : "") + ":top_k=1"
            let canvas = prompt + [Int](repeating: model.config.maskTokenId, count: output.count - prompt.count)
            let calls = try assertGenerates(model, canvas: canvas, spec: spec, expected: output, label: "fast-dllm-v2-tiny")
            print("fast-dllm-v2-tiny \(spec), prompt \(prompt.count): \(calls) network calls (its own loop: \(run["nfe"]?.intValue ?? -1))")
        }
    }

    /// The dLLM framework's bd3lm sampler: blocks ending at the prompt's end, n = block /
    /// steps-per-block tokens per call, most probable first, greedy.
    func testA2DQwen3DecoderMatchesItsSampler() throws {
        let folder = Self.fixture("a2d-qwen3-tiny")
        let json = try JSON.parse(Files.read(folder + "/golden.json"))
        let hf = try HuggingFaceFolder.open(directory: folder)
        var runs = 0
        for run in try XCTUnwrap(json["generate"]?.arrayValue) where run["sampler"]?.stringValue == "bd3lm" {
            let prompt = try Self.ints(run["prompt"]), output = try Self.ints(run["output"])
            let B = try XCTUnwrap(run["block_size"]?.intValue), steps = try XCTUnwrap(run["steps"]?.intValue)
            let newTokens = try XCTUnwrap(run["max_new_tokens"]?.intValue)
            var c = hf.config
            c.blockSize = B
            let model = try Transformer(config: c, source: hf.source)
            let perCall = B / (steps / (newTokens / B))
            let spec = "confidence:k=\(perCall):top_k=1"
            let canvas = prompt + [Int](repeating: c.maskTokenId, count: newTokens)
            let calls = try assertGenerates(model, canvas: canvas, spec: spec, expected: prompt + output, label: "a2d-qwen3-tiny")
            print("a2d-qwen3-tiny \(spec), prompt \(prompt.count): \(calls) network calls (its sampler: \(run["nfe"]?.intValue ?? -1), the prefix recomputed at every block)")
            runs += 1
        }
        XCTAssertEqual(runs, 4)
    }
}
