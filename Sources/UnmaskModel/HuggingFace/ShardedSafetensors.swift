import UnmaskKernels
import UnmaskSupport

/// The tensors of one `model.safetensors`, or of the shards `model.safetensors.index.json`
/// lists, by name.
public final class ShardedSafetensors {
    public let files: [SafetensorsFile]
    let fileOf: [String: Int]
    public var names: [String] { Array(fileOf.keys).sorted() }

    public init(directory: String) throws {
        let single = try Files.insideFolder("model.safetensors", of: directory)
        let index = try Files.insideFolder("model.safetensors.index.json", of: directory)
        if Files.exists(single) {
            let f = try SafetensorsFile(path: single)
            files = [f]
            fileOf = Dictionary(f.tensors.map { ($0.name, 0) }, uniquingKeysWith: { a, _ in a })
            return
        }
        guard Files.exists(index) else {
            throw UnmaskError("\(directory) has neither model.safetensors nor model.safetensors.index.json")
        }
        let json: JSONValue
        do {
            json = try JSON.parse(try Files.read(index, limit: 1 << 26))
        } catch let e as JSONParseError {
            throw UnmaskError("\(index): \(e)")
        }
        guard let pairs = json["weight_map"]?.objectPairs else { throw UnmaskError("\(index): no \"weight_map\" object") }
        var shardNames: [String] = [], shardIndex: [String: Int] = [:], fileOf: [String: Int] = [:]
        for (tensor, value) in pairs {
            guard let shard = value.stringValue, !shard.contains("/") else {
                throw UnmaskError("\(index): tensor \(tensor) has no shard file name")
            }
            // Two entries for one name would let the later one win silently, and the two
            // shards may hold different values: the same seed would give another text.
            guard fileOf[tensor] == nil else {
                throw UnmaskError("\(index): tensor \(tensor) is listed twice in weight_map")
            }
            if shardIndex[shard] == nil {
                shardIndex[shard] = shardNames.count
                shardNames.append(shard)
            }
            fileOf[tensor] = shardIndex[shard]!
        }
        var files: [SafetensorsFile] = []
        for shard in shardNames {
            let path = try Files.insideFolder(shard, of: directory)
            guard Files.exists(path) else {
                throw UnmaskError("\(directory): shard \(shard), listed in model.safetensors.index.json, is missing")
            }
            files.append(try SafetensorsFile(path: path))
        }
        // A tensor stored in two shards is ambiguous whatever the index says.
        var shardOf: [String: Int] = [:]
        for (i, file) in files.enumerated() {
            for t in file.tensors {
                if let first = shardOf[t.name] {
                    throw UnmaskError("\(directory): tensor \(t.name) is stored in two shards, \(shardNames[first]) and \(shardNames[i])")
                }
                shardOf[t.name] = i
            }
        }
        for (tensor, i) in fileOf where !files[i].tensors.contains(where: { $0.name == tensor }) {
            throw UnmaskError("\(directory): tensor \(tensor) is not in \(shardNames[i]), where the index puts it")
        }
        self.files = files
        self.fileOf = fileOf
    }

    func float32(_ name: String, shape: [Int]) throws -> UnsafePointer<Float>? {
        guard let i = fileOf[name] else { return nil }
        return try files[i].float32(name, shape: shape)
    }

    func stored(_ name: String, shape: [Int]) throws -> StoredMatrix? {
        guard let i = fileOf[name] else { return nil }
        return try files[i].stored(name, shape: shape)
    }

    func info(_ name: String) -> TensorInfo? {
        guard let i = fileOf[name] else { return nil }
        return files[i].info(name)
    }

    /// A tensor that must be there, as Double, with its shape checked.
    func doubles(_ name: String, _ shape: [Int], directory: String) throws -> [Double] {
        guard let p = try float32(name, shape: shape) else {
            throw UnmaskError("\(directory): tensor \(name) is missing (shape \(shape))")
        }
        return (0..<shape.reduce(1, *)).map { Double(p[$0]) }
    }
}
