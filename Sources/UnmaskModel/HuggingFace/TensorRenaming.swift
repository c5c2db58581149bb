import UnmaskKernels
import UnmaskSupport

/// How one of our tensors is found in a folder.
public enum TensorMapping: Sendable {
    /// Their tensor, in our layout (GPT-2's Conv1D weights are (in, out) like ours).
    case same(String)
    /// PyTorch Linear weights (out, in), stacked along out (q, k, v → our qkv), multiplied
    /// as our (in, Σ out) without being rearranged.
    case linear([String])
    /// Vectors laid end to end (q, k and v biases → our qkv bias): a small F32 copy.
    case concatenated([String])

    public var description: String {
        switch self {
        case .same(let name): return name
        case .linear(let names): return names.map { $0 + "ᵀ" }.joined(separator: " | ")
        case .concatenated(let names): return names.joined(separator: " ‖ ")
        }
    }
}

/// A TensorSource that answers our tensor names from a folder's own names, reading the
/// weights in place in their stored dtype.
public final class RenamedTensorSource: TensorSource {
    let files: ShardedSafetensors
    let mapping: [String: TensorMapping]
    let directory: String
    /// Concatenated vectors and their lengths, made when the folder is opened (so that
    /// reading is free of side effects and several models may share the source).
    private var joined: [String: UnsafeMutablePointer<Float>] = [:]
    private var joinedCounts: [String: Int] = [:]

    init(files: ShardedSafetensors, mapping: [String: TensorMapping], directory: String) throws {
        (self.files, self.mapping, self.directory) = (files, mapping, directory)
        for (name, m) in mapping {
            if case .concatenated(let parts) = m { (joined[name], joinedCounts[name]) = try concatenate(parts) }
        }
    }

    deinit { for p in joined.values { p.deallocate() } }

    private func map(_ name: String) throws -> TensorMapping {
        guard let m = mapping[name] else { throw UnmaskError("\(directory): no tensor maps to \(name)") }
        return m
    }

    private func missing(_ name: String, _ shape: [Int]? = nil) -> UnmaskError {
        UnmaskError("\(directory): tensor \(name) is missing (the config needs it\(shape.map { ", shape \($0)" } ?? ""))")
    }

    public func float32(_ name: String, shape: [Int]) throws -> UnsafePointer<Float> {
        let m = try map(name)
        switch m {
        case .same(let theirs):
            guard let p = try files.float32(theirs, shape: shape) else { throw missing(theirs, shape) }
            return p
        case .concatenated:
            let p = joined[name]!
            let n = shape.reduce(1, *)
            guard n == joinedCounts[name] else {
                throw UnmaskError("\(directory): \(m.description) hold \(joinedCounts[name]!) values together, the config needs \(n)")
            }
            return UnsafePointer(p)
        case .linear:
            throw UnmaskError("internal: \(name) is a weight matrix; read it with weight(_:rows:cols:)")
        }
    }

    private func concatenate(_ parts: [String]) throws -> (UnsafeMutablePointer<Float>, Int) {
        var vectors: [(UnsafePointer<Float>, Int)] = []
        for part in parts {
            guard let info = files.info(part) else { throw missing(part) }
            guard info.shape.count == 1 else {
                throw UnmaskError("\(directory): tensor \(part) has shape \(info.shape), a vector is needed")
            }
            guard let p = try files.float32(part, shape: info.shape) else { throw missing(part, info.shape) }
            vectors.append((p, info.shape[0]))
        }
        let n = vectors.reduce(0) { $0 + $1.1 }
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
        var offset = 0
        for (v, count) in vectors {
            (p + offset).update(from: v, count: count)
            offset += count
        }
        return (p, n)
    }

    public func weight(_ name: String, rows: Int, cols: Int) throws -> WeightStorage {
        switch try map(name) {
        case .same(let theirs):
            guard let m = try files.stored(theirs, shape: [rows, cols]) else { throw missing(theirs, [rows, cols]) }
            return .inOut(m)
        case .linear(let parts):
            var stored: [StoredMatrix] = []
            for part in parts {
                guard let info = files.info(part) else { throw missing(part) }
                guard info.shape.count == 2, info.shape[1] == rows else {
                    throw UnmaskError("\(directory): tensor \(part) has shape \(info.shape), the config needs (out, \(rows))")
                }
                stored.append(try files.stored(part, shape: info.shape)!)
            }
            let total = stored.reduce(0) { $0 + $1.rows }
            guard total == cols else {
                throw UnmaskError("\(directory): \(parts.joined(separator: ", ")) have \(total) outputs together, the config needs \(cols)")
            }
            return .outIn(stored)
        case .concatenated:
            throw UnmaskError("internal: \(name) is a vector, not a weight matrix")
        }
    }
}
