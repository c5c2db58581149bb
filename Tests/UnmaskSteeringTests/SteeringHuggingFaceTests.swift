import XCTest
import UnmaskKernels
import UnmaskModel
import UnmaskDiffusion
import UnmaskSteering

/// Prompt-masked classifier-free guidance on the Hugging Face denoiser fixtures (LLaDA,
/// Dream, MDLM's DiT): the engine's per-step proposal must be LLaDA's combination of the
/// two branches' logits, softmax(un + (w + 1)(cond − un)) with γ = 1 + w, where cond is the
/// canvas and un the canvas with its prompt and suffix masked. The reference recomputes
/// both branches here with the naive Double forward (`referenceForward`), so the check
/// covers the unconditional canvas, the branch combination and the normalisation.
/// Tolerance 1e-5 on probabilities (the engine's forward is Float; measured max diffs are
/// printed).
final class SteeringHuggingFaceTests: XCTestCase {
    func fixture(_ name: String) -> String {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(2)
        return parts.joined(separator: "/") + "/UnmaskModelTests/Fixtures/hf/" + name
    }

    func testPromptMaskedCFGIsTheDocumentedCombination() throws {
        for name in ["llada-tiny", "dream-tiny", "mdlm-tiny"] {
            let folder = fixture(name)
            let hf = try HuggingFaceFolder.open(directory: folder)
            let model = try Transformer.load(directory: folder)
            let denoiser = try TransformerDenoiser(model: model)
            let mask = denoiser.maskId, V = denoiser.vocabSize, L = 16
            // A prompt of 4 tokens, 6 blanks, a suffix of 6 tokens (ids clear of the specials).
            var canvas = (0..<L).map { 40 + 7 * $0 }
            for i in 4..<10 { canvas[i] = mask }
            let unconditional = [Int](repeating: mask, count: L)  // prompt and suffix masked too
            let cond = try referenceForward(config: hf.config, source: hf.source, ids: canvas, batch: 1, length: L)
            let un = try referenceForward(config: hf.config, source: hf.source, ids: unconditional, batch: 1, length: L)
            for w in [0.5, 2.0] {
                let engine = try SteeringEngine(spec: SteeringSpec.parse("cfg:gamma=\(1 + w)"))
                for position in [4, 7, 9] {
                    let ours = try engine.proposalLogProbabilities(canvas: canvas, position: position, denoiser: denoiser)
                    var combined = (0..<V).map { v -> Double in
                        v == mask ? -.infinity : un[position * V + v] + (w + 1) * (cond[position * V + v] - un[position * V + v])
                    }
                    let top = combined.max()!
                    let z = combined.reduce(0) { $1 == -.infinity ? $0 : $0 + exp($1 - top) }
                    combined = combined.map { exp($0 - top) / z }
                    let diff = zip(ours, combined).map { abs(exp($0.0) - $0.1) }.max()!
                    print("\(name) cfg w=\(w) position \(position): max |q - reference| \(diff)")
                    XCTAssertLessThan(diff, 1e-5, "\(name) w=\(w) position \(position)")
                    XCTAssertEqual(exp(ours[mask]), 0)
                }
            }
        }
    }
}
