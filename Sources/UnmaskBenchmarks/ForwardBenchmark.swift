#if canImport(Glibc)
import Glibc
#endif
import UnmaskKernels
import UnmaskModel
import UnmaskSupport

/// `unmask bench forward` as a library call: one forward pass, timed for each engine (our
/// fp32 GEMM, OpenBLAS, our int8 path) side by side, interleaved, with a product timer on
/// its MatMul (`MatMul.productTimer`) that adds up the time spent inside the matrix
/// products of the same forwards.
///
/// gemm_share = time inside the products / time of the whole forward, over the same timed
/// calls: the part of a forward spent in the matrix products, the rest being attention's
/// softmax, norms, rotary, the activation, copies and thread hand-offs. gemm_gflops is the
/// products' own rate inside the forward; gflops = forward FLOPs / whole time, so
/// gflops / gemm_gflops equals gemm_share: "the forward runs at x% of its products' rate".
public enum ForwardBenchmark {
    public struct Row: Sendable {
        public let batch: Int, threads: Int, length: Int, headRows: Int
        public let engine: Engine
        /// How results files name the engine's parts: `fp32`, `unmask`.
        public var compute: String { engine.compute.rawValue }
        public var backend: String { engine.backend.rawValue }
        /// Median seconds of the whole forward, and the share of it inside the products.
        public let seconds: Double, gemmShare: Double, flops: Double
        public var gflops: Double { flops / seconds / 1e9 }
        /// Seconds of a median forward inside the products.
        public var productSeconds: Double { seconds * gemmShare }
        public var gemmGflops: Double { flops / productSeconds / 1e9 }
    }

    /// The memory a `measure` over `engines` needs: the weights stored as `dtype` (F32 in
    /// memory, else a mapped file), every engine's copies and its arena at the largest
    /// shape, all alive at once. What `bench forward --preset` checks before it starts.
    public static func bytesNeeded(config: ModelConfig, dtype: StorageType, engines: [Engine], batch: Int, length: Int,
                                   allPositions: Bool, threads: Int) -> Double {
        MemoryEstimate(config: config, source: dtype == .f32 ? .memory : .file, engines: engines, halfPanels: dtype == .bf16,
                       arena: ActivationArena.Shape(batch: batch, length: length, headRows: allPositions ? batch * length : batch,
                                                    threads: threads)).totalBytes
    }

    /// Writes a random-weight model of `config` into `directory` (config.json and
    /// model.safetensors, our format) with every tensor stored as `dtype`, a tensor at a
    /// time: an 8 B-parameter model is written in BF16 without ever being held as F32.
    /// The values follow `ParameterBuffer.random`'s recipe (N(0, 0.02), scaled output
    /// projections, unit norms, zero biases) from a uniform stand-in with the same standard
    /// deviation: timing and memory do not depend on the distribution, and drawing 8 G
    /// Gaussians would take minutes.
    public static func writeRandomModel(config: ModelConfig, directory: String, dtype: StorageType, seed: UInt64) throws {
        try config.validate()
        try Files.createDirectory(directory)
        let shapes = config.tensorShapes
        let (prefix, header) = SafetensorsFile.header(tensors: shapes, dtype: dtype)
        var rng = SplitMix64(seed: seed)
        try Files.writeAtomically(to: directory + "/model.safetensors") { write in
            try prefix.withUnsafeBytes { try write($0) }
            try header.withUnsafeBytes { try write($0) }
            let chunk = 1 << 20
            var values = [Float](repeating: 0, count: chunk)
            var narrow = [UInt16](repeating: 0, count: chunk)
            for t in shapes {
                let n = t.shape.reduce(1, *)
                var std: Float = 0.02
                if t.name.hasSuffix("attn.out.weight") || t.name.hasSuffix("mlp.down.weight") {
                    std /= (2 * Float(config.nLayers)).squareRoot()
                }
                let constant: Float? = t.name.hasSuffix("norm.weight") ? 1 : t.name.hasSuffix(".bias") ? 0 : nil
                let halfWidth = std * Float(3).squareRoot()  // uniform on (−a, a) has std a/√3
                var done = 0
                while done < n {
                    let count = min(chunk, n - done)
                    for i in 0..<count {
                        values[i] = constant ?? (Float(rng.nextDouble()) * 2 - 1) * halfWidth
                    }
                    if dtype == .f32 {
                        try values.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<(4 * count)])) }
                    } else {
                        for i in 0..<count {
                            narrow[i] = (dtype == .bf16 ? HalfPrecision.bf16(values[i]) : HalfPrecision.f16(values[i]))!
                        }
                        try narrow.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<(2 * count)])) }
                    }
                    done += count
                }
            }
        }
        try Files.writeAtomically(Array((config.json.serialized(indent: 2) + "\n").utf8), to: directory + "/config.json")
    }

    /// Multiply–adds ×2 of one forward: per layer the four weight products and attention's
    /// two (L, L) products per head, then the head on `headRows` rows. Norms, softmax and
    /// the activation are not counted (they are O(rows·d), not O(rows·d²)).
    public static func flops(config c: ModelConfig, batch: Int, length L: Int, headRows: Int) -> Double {
        let rows = Double(batch * L), d = Double(c.dModel), f = Double(c.dFF)
        let mlp = (c.gatedMLP ? 3 : 2) * d * f
        let perLayer = 2 * rows * (d * Double(c.qkvWidth) + d * d + mlp) + 2 * 2 * Double(batch) * Double(L) * Double(L) * d
        let out = Double(c.head == .tokens ? c.vocabSize : 1)
        return Double(c.nLayers) * perLayer + 2 * Double(headRows) * d * out
    }

    /// Median seconds of the whole forward and the share of it inside the products, per
    /// engine, for `batch` random sequences of the context length. `allPositions`: the head
    /// on every row (the ancestral sampler's call); otherwise on one row per sequence (the
    /// first-hitting sampler's call).
    public static func measure(config: ModelConfig, source: TensorSource, batch: Int, length: Int? = nil, threads: Int,
                               engines: [Engine], allPositions: Bool, rounds: Int = 7) throws -> [Row] {
        let length = length ?? config.contextLength
        var rng = SplitMix64(seed: 5)
        // Any ids will do: the time does not depend on them.
        let ids = (0..<(batch * length)).map { _ in Int(rng.next() % UInt64(config.vocabSize)) }
        let positions = allPositions ? Array(0..<(batch * length)) : (0..<batch).map { $0 * length + length / 2 }
        /// Per engine: its product timer and the seconds of the forwards it ran since the
        /// last reset, both counted over the same calls.
        final class Tally {
            let products = ProductTimer()
            var forwardSeconds = 0.0
            var reset = false
        }
        var bodies: [() -> Void] = []
        var tallies: [Tally] = []
        for engine in engines {
            let tally = Tally()
            var mm = engine.matmul(threads: threads)
            mm.productTimer = tally.products
            let model = try Transformer(config: config, source: source, matmul: mm)
            bodies.append {
                let t0 = monotonicSeconds()
                _ = try! model.forward(ids: ids, batch: batch, length: length, positions: positions)
                tally.forwardSeconds += monotonicSeconds() - t0
            }
            tallies.append(tally)
        }
        let times = interleavedMedianSeconds(bodies, rounds: rounds, batchSeconds: 0.1, between: { i in
            // The first call after an engine's warm-up and calibration: count from here, so
            // the share covers the timed rounds only (the warm-up packs the weights).
            if !tallies[i].reset {
                tallies[i].reset = true
                tallies[i].products.reset()
                tallies[i].forwardSeconds = 0
            }
            // Let the other engine's spinning workers sleep first (see GEMMBenchmark).
            if threads > 1 { usleep(useconds_t(WorkerPool.spinSeconds * 5e6)) }
        })
        let work = flops(config: config, batch: batch, length: length, headRows: positions.count)
        return engines.enumerated().map { i, e in
            let tally = tallies[i]
            return Row(batch: batch, threads: threads, length: length, headRows: positions.count, engine: e, seconds: times[i], gemmShare: tally.products.seconds / tally.forwardSeconds, flops: work)
        }
    }
}
