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
        let dir = NSTemporaryDirectory() + "unmask-info-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.copyItem(atPath: fixture, toPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/model.safetensors"))
        try data.prefix(1000).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        assertCleanFailure(try runUnmask(["info", "--model", dir]), mentioning: "model.safetensors")
    }
}
