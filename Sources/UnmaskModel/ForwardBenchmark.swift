#if canImport(Glibc)
import Glibc
#endif
import UnmaskKernels
import UnmaskSupport

/// `unmask bench forward` as a library call: one forward pass, timed whole and with
/// everything but the matrix products skipped, for each engine (our fp32 GEMM, OpenBLAS,
/// our int8 path) side by side, interleaved.
///
/// gemm_share = t(products only) / t(whole forward): the part of a forward spent in the
/// matrix products, the rest being attention's softmax, norms, rotary, the activation,
/// copies and thread hand-offs. gemm_gflops is the products' own rate on exactly the
/// forward's shapes; gflops = forward FLOPs / whole time, so gflops / gemm_gflops equals
/// gemm_share: "the forward runs at x% of our own GEMM's rate".
public enum ForwardBenchmark {
    public struct Row: Sendable {
        public let batch: Int, threads: Int, length: Int, headRows: Int
        public let compute: String, backend: String
        public let seconds: Double, productSeconds: Double, flops: Double
        public var gflops: Double { flops / seconds / 1e9 }
        public var gemmGflops: Double { flops / productSeconds / 1e9 }
        public var gemmShare: Double { productSeconds / seconds }
    }

    /// One engine to time: a label pair and the MatMul it runs with.
    public struct Engine: Sendable {
        public let compute: String, backend: String, matmul: MatMul
        public init(compute: String, backend: String, matmul: MatMul) {
            (self.compute, self.backend, self.matmul) = (compute, backend, matmul)
        }
    }

    /// Random-weight stand-ins for published models, by name: the GPT-2 sizes (learned
    /// positions, LayerNorm, biases, causal, context 1024, vocabulary 50257) and a 1 B
    /// LLaMA-family shape. Timing needs only the shapes; the weights are drawn locally.
    public static let presets: [String: ModelConfig] = {
        func gpt2(_ d: Int, _ layers: Int, _ heads: Int) -> ModelConfig {
            var c = ModelConfig(vocabSize: 50257, dModel: d, nLayers: layers, nHeads: heads, dFF: 4 * d, contextLength: 1024,
                                maskTokenId: ModelConfig.noMaskToken)
            c.norm = .layernorm
            c.positions = .learned
            c.attention = .causal
            c.linearBias = true
            return c
        }
        /// A LLaMA-family denoiser: RMSNorm, SwiGLU, rotary θ, attention over every
        /// position, an untied head (the config's defaults, but for these).
        func llama(vocab: Int, d: Int, layers: Int, heads: Int, kvHeads: Int, dFF: Int, theta: Double, mask: Int) -> ModelConfig {
            var c = ModelConfig(vocabSize: vocab, dModel: d, nLayers: layers, nHeads: heads, dFF: dFF, contextLength: 4096,
                                maskTokenId: mask)
            c.nKVHeads = kvHeads
            c.gatedMLP = true
            c.activation = .silu
            c.ropeTheta = theta
            c.tiedEmbeddings = false
            return c
        }
        // Llama-3.2-1B's shape: 16 layers, d 2048, 32 query and 8 key/value heads, d_ff 8192,
        // vocabulary 128256, θ 5·10⁵.
        let llama1b = llama(vocab: 128_256, d: 2048, layers: 16, heads: 32, kvHeads: 8, dFF: 8192, theta: 500_000, mask: 128_255)
        // LLaDA-8B-Base's: 32 layers, d 4096, 32 heads (no GQA), d_ff 12288, vocabulary 126464,
        // θ 5·10⁵, mask 126336.
        let llada = llama(vocab: 126_464, d: 4096, layers: 32, heads: 32, kvHeads: 32, dFF: 12_288, theta: 500_000, mask: 126_336)
        // Dream-v0-7B's (Qwen2.5-7B's blocks): 28 layers, d 3584, 28 query and 4 key/value
        // heads, qkv biases, d_ff 18944, vocabulary 152064, θ 10⁶, shifted logits.
        var dream = llama(vocab: 152_064, d: 3584, layers: 28, heads: 28, kvHeads: 4, dFF: 18_944, theta: 1_000_000, mask: 151_666)
        dream.qkvBias = true
        dream.shiftedLogits = true
        // MDLM-OWT's DiT once folded (σ = 0): GPT-2 small's size, LayerNorm with biases,
        // rotary, GELU, attention over every position, an untied head with a bias, the
        // GPT-2 vocabulary plus the mask.
        var mdlm = gpt2(768, 12, 12)
        mdlm.vocabSize = 50_258
        mdlm.maskTokenId = 50_257
        mdlm.positions = .rotary
        mdlm.attention = .bidirectional
        mdlm.tiedEmbeddings = false
        mdlm.headBias = true
        return ["gpt2": gpt2(768, 12, 12), "gpt2-medium": gpt2(1024, 24, 16), "gpt2-large": gpt2(1280, 36, 20),
                "gpt2-xl": gpt2(1600, 48, 25), "llama-1b": llama1b, "llada-8b": llada, "dream-7b": dream, "mdlm-owt": mdlm]
    }()

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

    /// Median seconds of the whole forward and of its products alone, per engine, for
    /// `batch` random sequences of the context length. `allPositions`: the head on every
    /// row (the ancestral sampler's call); otherwise on one row per sequence (the
    /// first-hitting sampler's call).
    public static func measure(config: ModelConfig, source: TensorSource, batch: Int, length: Int? = nil, threads: Int,
                               engines: [Engine], allPositions: Bool, rounds: Int = 7) throws -> [Row] {
        let length = length ?? config.contextLength
        var rng = SplitMix64(seed: 5)
        // Any ids will do: the time does not depend on them.
        let ids = (0..<(batch * length)).map { _ in Int(rng.next() % UInt64(config.vocabSize)) }
        let positions = allPositions ? Array(0..<(batch * length)) : (0..<batch).map { $0 * length + length / 2 }
        var bodies: [() -> Void] = []
        for engine in engines {
            var mm = engine.matmul
            mm.threads = threads
            let model = try Transformer(config: config, source: source, matmul: mm)
            bodies.append { _ = try! model.forward(ids: ids, batch: batch, length: length, positions: positions) }
            bodies.append { try! model.forwardMatrixProductsOnly(ids: ids, batch: batch, length: length, positions: positions) }
        }
        let times = interleavedMedianSeconds(bodies, rounds: rounds, batchSeconds: 0.1, between: { _ in
            // Let the other engine's spinning workers sleep first (see GEMMBenchmark).
            if threads > 1 { usleep(useconds_t(WorkerPool.spinSeconds * 5e6)) }
        })
        let work = flops(config: config, batch: batch, length: length, headRows: positions.count)
        return engines.enumerated().map { i, e in
            Row(batch: batch, threads: threads, length: length, headRows: positions.count, compute: e.compute, backend: e.backend,
                seconds: times[2 * i], productSeconds: times[2 * i + 1], flops: work)
        }
    }
}
