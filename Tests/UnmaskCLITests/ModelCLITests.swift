import XCTest

final class ModelCLITests: XCTestCase {
    let fixture = cliRepositoryRoot + "/Tests/UnmaskModelTests/Fixtures/tiny_denoiser"

    func testInfoPrintsConfigTensorsAndChecksum() throws {
        let r = try runUnmask(["info", "--model", fixture, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"parameters\":4256"), r.stdout)
        XCTAssertTrue(r.stdout.contains("\"sha256\":\""), r.stdout)
        XCTAssertTrue(r.stdout.contains("layers.1.mlp.down.weight"), r.stdout)
    }

    func testInfoErrors() throws {
        assertCleanFailure(try runUnmask(["info", "--model", "/nonexistent/model"]), mentioning: "/nonexistent/model")
        let dir = NSTemporaryDirectory() + "unmask-info-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.copyItem(atPath: fixture, toPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/model.safetensors"))
        try data.prefix(1000).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        assertCleanFailure(try runUnmask(["info", "--model", dir]), mentioning: "model.safetensors")
    }
}

final class EvalCLITests: XCTestCase {
    func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "unmask-eval-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testSamplesFileErrors() throws {
        // The bundled evaluator: the tiny fixture's 37-token vocabulary is not the tokenizer's,
        // which is refused before the file is read (RobustnessCLITests).
        let evaluator = cliRepositoryRoot + "/models/evaluator"
        assertCleanFailure(try runUnmask(["eval", try write("not json\n"), "--evaluator", evaluator]), mentioning: "line 1 is not a JSON object")
        assertCleanFailure(try runUnmask(["eval", try write(""), "--evaluator", evaluator]), mentioning: "no samples")
        assertCleanFailure(try runUnmask(["eval", try write("{\"ids\": [1, 99999]}\n"), "--evaluator", evaluator]), mentioning: "outside the vocabulary")
        assertCleanFailure(try runUnmask(["eval", try write("{\"foo\": 1}\n"), "--evaluator", evaluator]), mentioning: "neither")
        assertCleanFailure(try runUnmask(["eval", "/nonexistent.jsonl"]), mentioning: "/nonexistent.jsonl")
        assertCleanFailure(try runUnmask(["eval", try write("{\"ids\": [1, 2]}\n"), "--evaluator", "/nonexistent/model"]), mentioning: "/nonexistent/model")
    }
}
