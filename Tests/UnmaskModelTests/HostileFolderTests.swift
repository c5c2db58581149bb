import XCTest
import UnmaskModel
import UnmaskSupport
#if canImport(Glibc)
import Glibc
#endif

/// Hugging Face folders built to mislead the loader: links out of the folder, a tensor in
/// two shards, a tensor listed twice in the index. Each is refused with one line, before
/// anything outside the folder is opened; the one layout of links that is legitimate (a
/// `huggingface-cli download` cache snapshot, whose files link into the repository's
/// `blobs/`) loads, with the same logits as the plain folder.
final class HostileFolderTests: XCTestCase {
    let fixture = huggingFaceFixture("llada-tiny")
    var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "unmask-hostile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// The fixture's tensors split over two shards, with an index (as a larger published
    /// model is stored); `extra` adds tensors (by name) of shard 1 to shard 2 as well.
    func shardedFolder(_ name: String, extra: [String] = [], index: ((String, String)) -> String? = { _ in nil }) throws -> String {
        let dir = root + "/" + name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for file in ["config.json", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: fixture + "/" + file, toPath: dir + "/" + file)
        }
        let source = try SafetensorsFile(path: fixture + "/model.safetensors")
        let all = source.tensors.map(\.name).sorted()
        let first = Array(all.prefix(all.count / 2)), second = Array(all.dropFirst(all.count / 2)) + extra
        var entries: [(String, String)] = []
        for (shard, names) in [("model-00001-of-00002.safetensors", first), ("model-00002-of-00002.safetensors", second)] {
            let infos = names.map { n in source.tensors.first { $0.name == n }! }
            let pointers = try infos.map { try source.float32($0.name, shape: $0.shape) }
            try SafetensorsFile.write(path: dir + "/" + shard, tensors: zip(infos, pointers).map {
                (name: $0.0.name, shape: $0.0.shape, data: UnsafeBufferPointer(start: $0.1, count: $0.0.count))
            })
            for n in names where !extra.contains(n) || shard.hasPrefix("model-00001") { entries.append((n, shard)) }
        }
        let body = entries.map { index($0) ?? "\"\($0.0)\": \"\($0.1)\"" }.joined(separator: ",\n    ")
        try "{\"metadata\": {}, \"weight_map\": {\n    \(body)\n}}\n".write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        return dir
    }

    func logits(_ dir: String) throws -> [Float] {
        try Transformer.load(directory: dir).forward(ids: [5, 1, 1, 9, 1, 7, 3, 1], batch: 1, length: 8)
    }

    func assertRefused(_ dir: String, _ phrase: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Transformer.load(directory: dir), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(phrase), text, file: file, line: line)
            XCTAssertFalse(text.contains("\n"), "not one line: \(text)", file: file, line: line)
        }
    }

    func testShardedFolderLoadsLikeTheSingleFile() throws {
        XCTAssertEqual(try logits(shardedFolder("plain")), try logits(fixture))
    }

    func testAShardLinkedOutsideTheFolderIsRefused() throws {
        let dir = try shardedFolder("link-out")
        let outside = root + "/elsewhere.safetensors"
        try FileManager.default.moveItem(atPath: dir + "/model-00002-of-00002.safetensors", toPath: outside)
        XCTAssertEqual(symlink(outside, dir + "/model-00002-of-00002.safetensors"), 0)
        assertRefused(dir, "leads outside the model folder")
        // A relative link that climbs out is the same thing.
        unlink(dir + "/model-00002-of-00002.safetensors")
        XCTAssertEqual(symlink("../elsewhere.safetensors", dir + "/model-00002-of-00002.safetensors"), 0)
        assertRefused(dir, "leads outside the model folder")
        // A link inside the folder is fine: it is still the folder's own file.
        unlink(dir + "/model-00002-of-00002.safetensors")
        try FileManager.default.moveItem(atPath: outside, toPath: dir + "/weights-b")
        XCTAssertEqual(symlink("weights-b", dir + "/model-00002-of-00002.safetensors"), 0)
        XCTAssertEqual(try logits(dir), try logits(fixture))
        // A link that leads nowhere.
        unlink(dir + "/model-00002-of-00002.safetensors")
        XCTAssertEqual(symlink(root + "/missing", dir + "/model-00002-of-00002.safetensors"), 0)
        assertRefused(dir, "leads nowhere")
    }

    func testConfigAndTokenizerLinkedOutsideAreRefused() throws {
        let dir = try shardedFolder("config-out")
        try FileManager.default.moveItem(atPath: dir + "/config.json", toPath: root + "/config.json")
        XCTAssertEqual(symlink(root + "/config.json", dir + "/config.json"), 0)
        assertRefused(dir, "config.json leads outside the model folder")
        unlink(dir + "/config.json")
        try FileManager.default.moveItem(atPath: root + "/config.json", toPath: dir + "/config.json")
        try FileManager.default.moveItem(atPath: dir + "/tokenizer.json", toPath: root + "/tokenizer.json")
        XCTAssertEqual(symlink(root + "/tokenizer.json", dir + "/tokenizer.json"), 0)
        assertRefused(dir, "tokenizer.json leads outside the model folder")
    }

    func testATensorInTwoShardsIsRefused() throws {
        let source = try SafetensorsFile(path: fixture + "/model.safetensors")
        let name = source.tensors.map(\.name).sorted()[0]
        assertRefused(try shardedFolder("twice-stored", extra: [name]), "tensor \(name) is stored in two shards")
    }

    func testATensorListedTwiceInTheIndexIsRefused() throws {
        let source = try SafetensorsFile(path: fixture + "/model.safetensors")
        let name = source.tensors.map(\.name).sorted()[0]
        let dir = try shardedFolder("twice-listed") { entry in
            entry.0 == name ? "\"\(name)\": \"\(entry.1)\", \"\(name)\": \"model-00002-of-00002.safetensors\"" : nil
        }
        assertRefused(dir, "tensor \(name) is listed twice in weight_map")
    }

    /// `huggingface-cli download REPO` without `--local-dir`:
    /// `models--ORG--NAME/snapshots/<revision>/FILE -> ../../blobs/<hash>`.
    func testACacheSnapshotLinkingIntoItsBlobsLoads() throws {
        let repository = root + "/models--GSAI-ML--llada-tiny"
        let snapshot = repository + "/snapshots/0123abcd"
        try FileManager.default.createDirectory(atPath: repository + "/blobs", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
        for (i, file) in ["config.json", "model.safetensors", "tokenizer.json"].enumerated() {
            try FileManager.default.copyItem(atPath: fixture + "/" + file, toPath: repository + "/blobs/blob\(i)")
            XCTAssertEqual(symlink("../../blobs/blob\(i)", snapshot + "/" + file), 0)
        }
        XCTAssertEqual(try logits(snapshot), try logits(fixture))
        // Out of blobs/ is still out.
        try FileManager.default.copyItem(atPath: fixture + "/config.json", toPath: repository + "/config-elsewhere.json")
        unlink(snapshot + "/config.json")
        XCTAssertEqual(symlink("../../config-elsewhere.json", snapshot + "/config.json"), 0)
        assertRefused(snapshot, "leads outside the model folder")
    }
}
