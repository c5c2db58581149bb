import XCTest
import UnmaskKernels
import UnmaskModel
import UnmaskSupport

/// A tiny random MDLM DiT, written by MDLM's own models/dit.py (commit and torch version in
/// golden.json; scripts/make_hf_fixtures.py), in the mdlm-owt folder layout, against the
/// logits that code computed at σ = 0 in float32.
final class HuggingFaceDiTTests: XCTestCase {
    let folder: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast()
        return parts.joined(separator: "/") + "/Fixtures/hf/mdlm-tiny"
    }()

    func testFoldedDiTMatchesMDLM() throws {
        let json = try JSON.parse(Files.read(folder + "/golden.json"))
        let ids = try XCTUnwrap(json["ids"]?.arrayValue).flatMap { try XCTUnwrap($0.arrayValue).map { try XCTUnwrap($0.intValue) } }
        let golden = try XCTUnwrap(json["logits"]?.arrayValue).map { Float(try XCTUnwrap($0.doubleValue)) }
        let info = try HuggingFaceFolder.open(directory: folder)
        XCTAssertEqual(info.family, .mdlm)
        XCTAssertEqual(info.config.maskTokenId, info.config.vocabSize - 1)
        XCTAssertEqual(ModelRole.of(info.config), .denoiser)
        for backend in [GEMMBackend.unmask, .openblas] {
            let model = try Transformer.load(directory: folder, matmul: MatMul(backend: backend, threads: 2))
            let ours = try model.forward(ids: ids, batch: 2, length: 16)
            XCTAssertEqual(ours.count, golden.count)
            let scale = golden.map(abs).max()!
            let diff = zip(ours, golden).map { abs($0 - $1) }.max()!
            print("mdlm-tiny [\(backend)] vs MDLM dit.py \(json["mdlm_commit"]?.stringValue ?? "?"): max logit diff \(diff) (largest logit \(scale))")
            XCTAssertLessThanOrEqual(diff, 1e-4 * scale)
        }
    }

    func testTimeConditionedDiTIsRefused() throws {
        let dir = NSTemporaryDirectory() + "unmask-dit-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: folder + "/model.safetensors", toPath: dir + "/model.safetensors")
        let config = try String(contentsOfFile: folder + "/config.json", encoding: .utf8)
            .replacingOccurrences(of: "\"time_conditioning\": false", with: "\"time_conditioning\": true")
        try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Transformer.load(directory: dir)) { XCTAssertTrue("\($0)".contains("time-conditioned"), "\($0)") }
    }
}
