import XCTest
@testable import UnmaskModel
import UnmaskSupport

/// Every malformed model gives one error line naming the file and the problem.
final class ModelFileTests: XCTestCase {
    var dir = ""

    override func setUp() {
        dir = NSTemporaryDirectory() + "unmask-model-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func copyFixture(_ name: String = "tiny_denoiser") throws -> String {
        let target = dir + "/" + name
        try FileManager.default.copyItem(atPath: "\(modelFixtures)/\(name)", toPath: target)
        return target
    }

    func writeRaw(_ path: String, header: String, data: [UInt8]) throws {
        let h = Array(header.utf8)
        var bytes = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(h.count) >> (8 * UInt64($0))) }
        bytes += h + data
        try Files.writeAtomically(bytes, to: path)
    }

    func expectLoadError(_ model: String, _ needle: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Transformer.load(directory: model), file: file, line: line) { error in
            let m = "\(error)"
            XCTAssertTrue(m.contains(needle), "\(m) lacks \(needle)", file: file, line: line)
            XCTAssertFalse(m.contains("\n"), file: file, line: line)
        }
    }

    func testWrittenFileRoundTripsAndIsAligned() throws {
        let (c, p) = try TransformerTests.randomModel()
        try p.save(directory: dir + "/m", metadata: [("note", "test")])
        let f = try SafetensorsFile(path: dir + "/m/model.safetensors")
        XCTAssertEqual(f.metadata.first?.value, "test")
        let back = ParameterBuffer(config: c)
        try back.load(from: f)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: back.data, count: back.count)),
                       Array(UnsafeBufferPointer(start: p.data, count: p.count)))
        let reloaded = try Transformer.load(directory: dir + "/m")
        XCTAssertEqual(reloaded.config, c)
    }

    func testMissingDirectory() { expectLoadError(dir + "/nope", "does not exist") }

    func testConfigWeightsMismatch() throws {
        let m = try copyFixture()
        let config = try String(contentsOfFile: m + "/config.json", encoding: .utf8)
        try config.replacingOccurrences(of: "\"d_ff\": 24", with: "\"d_ff\": 32").write(toFile: m + "/config.json", atomically: true, encoding: .utf8)
        expectLoadError(m, "needs [16, 32]")
    }

    func testTruncatedFile() throws {
        let m = try copyFixture()
        let bytes = try Files.read(m + "/model.safetensors")
        try Files.writeAtomically(Array(bytes.prefix(bytes.count / 2)), to: m + "/model.safetensors")
        expectLoadError(m, "outside")
        try Files.writeAtomically(Array(bytes.prefix(5)), to: m + "/model.safetensors")
        expectLoadError(m, "truncated")
        try Files.writeAtomically(Array(bytes.prefix(100)), to: m + "/model.safetensors")
        expectLoadError(m, "truncated")
    }

    func testHeaderClaimingATerabyte() throws {
        let m = try copyFixture()
        var bytes = try Files.read(m + "/model.safetensors")
        for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: (UInt64(1) << 40) >> (8 * UInt64(i))) }
        try Files.writeAtomically(bytes, to: m + "/model.safetensors")
        expectLoadError(m, "header claims 1099511627776 bytes")
    }

    func testBadHeaders() throws {
        let m = try copyFixture()
        let path = m + "/model.safetensors"
        let cases: [(String, [UInt8], String)] = [
            ("{not json", [], "not valid JSON"),
            (#"{"embed.weight": {"dtype": "F32", "shape": [37, 16], "data_offsets": [0, 99999]}}"#, [UInt8](repeating: 0, count: 64), "outside"),
            (#"{"embed.weight": {"dtype": "I32", "shape": [37, 16], "data_offsets": [0, 2368]}}"#, [UInt8](repeating: 0, count: 2368), "is I32; model weights must be F32, F16 or BF16"),
            (#"{"embed.weight": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}}"#, [UInt8](repeating: 0, count: 8), "unsupported dtype"),
            (#"{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}"#, [UInt8](repeating: 0, count: 24), "overlap"),
            (#"{"a": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}}"#, [UInt8](repeating: 0, count: 16), "needs 20"),
            (#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, [UInt8](repeating: 0, count: 8), "appears twice"),
            (#"{"a": {"dtype": "F32", "shape": [-3], "data_offsets": [0, 4]}}"#, [UInt8](repeating: 0, count: 4), "invalid shape"),
            (#"[1, 2]"#, [], "not a JSON object"),
        ]
        for (header, data, needle) in cases {
            try writeRaw(path, header: header, data: data)
            expectLoadError(m, needle)
        }
    }

    func testNaNWeightAndUnexpectedOrMissingTensors() throws {
        let (c, p) = try TransformerTests.randomModel()
        p.data[5] = .nan
        try p.save(directory: dir + "/nan")
        expectLoadError(dir + "/nan", "non-finite")

        p.data[5] = 0
        try p.save(directory: dir + "/extra")
        var tensors = p.layout.map { t in
            (name: t.name, shape: t.shape, data: UnsafeBufferPointer(start: UnsafePointer(p.data + t.offset), count: t.shape.reduce(1, *)))
        }
        let one: [Float] = [1]
        try one.withUnsafeBufferPointer { extra in
            try SafetensorsFile.write(path: dir + "/extra/model.safetensors", tensors: tensors + [(name: "surprise", shape: [1], data: extra)])
        }
        expectLoadError(dir + "/extra", "unexpected tensor surprise")
        tensors.removeLast()
        try SafetensorsFile.write(path: dir + "/extra/model.safetensors", tensors: tensors)
        expectLoadError(dir + "/extra", "missing tensor \(c.tensorShapes.last!.name)")
    }

    func testBadConfigs() throws {
        let m = try copyFixture()
        let good = try String(contentsOfFile: m + "/config.json", encoding: .utf8)
        let cases: [(String, String, String)] = [
            ("\"n_heads\": 2", "\"n_heads\": 3", "must divide"),
            ("\"attention\": \"bidirectional\"", "\"attention\": \"sideways\"", "bidirectional|causal"),
            ("\"mask_token_id\": 36", "\"mask_token_id\": 37", "outside the vocabulary"),
            ("\"d_model\": 16", "\"d_model\": \"16\"", "must be an integer"),
            ("\"context_length\": 8,", "", "missing \"context_length\""),
        ]
        for (from, to, needle) in cases {
            try good.replacingOccurrences(of: from, with: to).write(toFile: m + "/config.json", atomically: true, encoding: .utf8)
            expectLoadError(m, needle)
        }
        try "{".write(toFile: m + "/config.json", atomically: true, encoding: .utf8)
        expectLoadError(m, "invalid JSON")
    }
}
