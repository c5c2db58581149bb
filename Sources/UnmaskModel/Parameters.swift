#if canImport(Glibc)
import Glibc
#endif
import UnmaskKernels
import UnmaskSupport

/// Something that hands out a model's tensors by name, shape-checked: as F32 (vectors and
/// tables the layers read directly), and weight matrices as stored (for packing).
public protocol TensorSource: AnyObject {
    func float32(_ name: String, shape: [Int]) throws -> UnsafePointer<Float>
    /// The weight `name`, W (in = rows, out = cols), as stored. Default: the F32 tensor of
    /// shape [rows, cols].
    func weight(_ name: String, rows: Int, cols: Int) throws -> WeightStorage
}

extension TensorSource {
    public func weight(_ name: String, rows: Int, cols: Int) throws -> WeightStorage {
        .inOut(StoredMatrix(f32: try float32(name, shape: [rows, cols]), rows: rows, cols: cols))
    }
}

extension SafetensorsFile: TensorSource {
    public func weight(_ name: String, rows: Int, cols: Int) throws -> WeightStorage {
        .inOut(try stored(name, shape: [rows, cols]))
    }
}

/// All of a model's parameters in one flat buffer, tensors back to back in the order of
/// `ModelConfig.tensorShapes` (llm.c style: gradients and optimiser moments use the same
/// layout, so one loop updates everything).
public final class ParameterBuffer: TensorSource, @unchecked Sendable {
    public let config: ModelConfig
    public let count: Int
    public let data: UnsafeMutablePointer<Float>
    /// (name, shape, offset) per tensor, in file order.
    public let layout: [(name: String, shape: [Int], offset: Int)]
    /// The same tensors as named pointers, found once: what the backward writes through.
    public let tensors: ParameterTensors

    public init(config: ModelConfig) {
        self.config = config
        var layout: [(String, [Int], Int)] = []
        var offset = 0
        for t in config.tensorShapes {
            layout.append((t.name, t.shape, offset))
            offset += t.shape.reduce(1, *)
        }
        self.layout = layout
        count = offset
        data = .allocate(capacity: max(1, offset))
        data.initialize(repeating: 0, count: max(1, offset))
        tensors = ParameterTensors(config: config, layout: layout, data: data)
    }

    deinit { data.deallocate() }

    public func float32(_ name: String, shape: [Int]) throws -> UnsafePointer<Float> {
        UnsafePointer(try mutablePointer(name, shape: shape))
    }

    public func mutablePointer(_ name: String, shape: [Int]? = nil) throws -> UnsafeMutablePointer<Float> {
        guard let t = layout.first(where: { $0.name.utf8.elementsEqual(name.utf8) }) else {
            throw UnmaskError("model has no tensor \(name)")
        }
        if let shape, shape != t.shape { throw UnmaskError("tensor \(name) has shape \(t.shape), not \(shape)") }
        return data + t.offset
    }

    /// GPT-2 style initialisation: N(0, 0.02) for matrices and embeddings (small, since the
    /// embedding doubles as the output head), 1 for norm weights, 0 for biases. The output
    /// projections of each block are scaled by 1/√(2·layers) so the residual stream does
    /// not grow with depth. Deterministic in `seed`.
    public static func random(config: ModelConfig, seed: UInt64) -> ParameterBuffer {
        let p = ParameterBuffer(config: config)
        var rng = SplitMix64(seed: seed)
        for t in p.layout {
            let n = t.shape.reduce(1, *)
            let ptr = p.data + t.offset
            if t.name.hasSuffix("norm.weight") {
                ptr.update(repeating: 1, count: n)
            } else if t.name.hasSuffix(".bias") {
                ptr.update(repeating: 0, count: n)
            } else {
                var std = 0.02
                if t.name.hasSuffix("attn.out.weight") || t.name.hasSuffix("mlp.down.weight") {
                    std /= (2.0 * Double(config.nLayers)).squareRoot()
                }
                for i in 0..<n { ptr[i] = Float(rng.nextGaussian() * std) }
            }
        }
        return p
    }

    /// Copies every tensor from another source (checking shapes).
    public func load(from source: TensorSource) throws {
        for t in layout {
            let src = try source.float32(t.name, shape: t.shape)
            (data + t.offset).update(from: src, count: t.shape.reduce(1, *))
        }
    }

    /// Writes `config.json` and `model.safetensors` into `directory`, each atomically.
    public func save(directory: String, metadata: [(String, String)] = [], dtype: StorageType = .f32) throws {
        try Files.createDirectory(directory)
        let tensors = layout.map { t in
            (name: t.name, shape: t.shape, data: UnsafeBufferPointer(start: UnsafePointer(data + t.offset), count: t.shape.reduce(1, *)))
        }
        try SafetensorsFile.write(path: directory + "/model.safetensors", tensors: tensors, metadata: metadata, dtype: dtype)
        try Files.writeAtomically(Array((config.json.serialized(indent: 2) + "\n").utf8), to: directory + "/config.json")
    }
}

/// Every tensor of a ParameterBuffer as a named pointer into it, found by name once when
/// the buffer is made (llm.c's ParameterTensors): a gradient buffer's fields are where
/// the backward adds each gradient, with the forward's names. Shapes as in
/// `ModelConfig.tensorShapes`; W_qkv is `ModelConfig.qkvWidth`.
public struct ParameterTensors: @unchecked Sendable {
    public struct Norm {
        public let weight: UnsafeMutablePointer<Float>  // (d)
        public let bias: UnsafeMutablePointer<Float>?   // (d), layer norm only
    }

    public struct Layer {
        public let attnNorm: Norm
        public let qkv: UnsafeMutablePointer<Float>        // (d, W_qkv)
        public let qkvBias: UnsafeMutablePointer<Float>?   // (W_qkv), linear_bias or qkv_bias
        public let out: UnsafeMutablePointer<Float>        // (d, d)
        public let outBias: UnsafeMutablePointer<Float>?   // (d), linear_bias
        public let mlpNorm: Norm
        public let gate: UnsafeMutablePointer<Float>?      // (d, d_ff), gated MLP only
        public let up: UnsafeMutablePointer<Float>         // (d, d_ff)
        public let upBias: UnsafeMutablePointer<Float>?    // (d_ff), linear_bias
        public let down: UnsafeMutablePointer<Float>       // (d_ff, d)
        public let downBias: UnsafeMutablePointer<Float>?  // (d), linear_bias
    }

    public let embed: UnsafeMutablePointer<Float>          // (V, d); the head's too when tied
    public let posEmbed: UnsafeMutablePointer<Float>?      // (context, d), learned positions only
    public let layers: [Layer]
    public let finalNorm: Norm
    public let head: UnsafeMutablePointer<Float>?          // (d, outputSize), an untied head only
    public let headBias: UnsafeMutablePointer<Float>?      // (outputSize)

    init(config c: ModelConfig, layout: [(name: String, shape: [Int], offset: Int)], data: UnsafeMutablePointer<Float>) {
        func find(_ name: String) -> UnsafeMutablePointer<Float>? {
            layout.first { $0.name.utf8.elementsEqual(name.utf8) }.map { data + $0.offset }
        }
        // The layout is the config's own tensor list, so every name the config implies is there.
        func tensor(_ name: String) -> UnsafeMutablePointer<Float> {
            guard let p = find(name) else { preconditionFailure("parameter layout has no \(name)") }
            return p
        }
        func norm(_ prefix: String) -> Norm { Norm(weight: tensor("\(prefix).weight"), bias: find("\(prefix).bias")) }
        embed = tensor("embed.weight")
        posEmbed = find("pos_embed.weight")
        layers = (0..<c.nLayers).map { l in
            let p = "layers.\(l)"
            return Layer(attnNorm: norm("\(p).attn_norm"), qkv: tensor("\(p).attn.qkv.weight"), qkvBias: find("\(p).attn.qkv.bias"),
                         out: tensor("\(p).attn.out.weight"), outBias: find("\(p).attn.out.bias"), mlpNorm: norm("\(p).mlp_norm"),
                         gate: find("\(p).mlp.gate.weight"), up: tensor("\(p).mlp.up.weight"), upBias: find("\(p).mlp.up.bias"),
                         down: tensor("\(p).mlp.down.weight"), downBias: find("\(p).mlp.down.bias"))
        }
        finalNorm = norm("final_norm")
        head = find("head.weight")
        headBias = find("head.bias")
    }
}

extension SplitMix64 {
    /// Standard normal by Box–Muller (two uniforms per value; simple and deterministic).
    public mutating func nextGaussian() -> Double {
        let u1 = max(nextDouble(), 0x1p-60), u2 = nextDouble()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
