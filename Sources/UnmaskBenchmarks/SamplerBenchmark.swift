import UnmaskDiffusion
import UnmaskKernels
import UnmaskModel
import UnmaskSupport
import UnmaskTokenizer

/// `unmask bench samplers` as a library call: what a sampler costs, in network calls and
/// in time, and how much of the time is spent outside the network.
public enum SamplerBenchmark {
    public struct Row: Sendable {
        public var sampler: String
        /// Mean network calls and seconds per sample.
        public var nfe: Double, secondsPerSample: Double
        /// 1 − (time in network calls) / (wall time).
        public var samplingFraction: Double
    }

    /// Runs `sampler` on `samples` canvases of `length` masks (seeds (seed, 0..<samples)).
    public static func measure(_ spec: SamplerSpec, planner: CorruptionDetector?, denoiser: Denoiser, length: Int,
                               samples: Int, seed: UInt64) throws -> Row {
        let sampler = try DiffusionSampler(spec: spec, corruptionDetector: planner)
        let canvases = [[Int]](repeating: [Int](repeating: denoiser.maskId, count: length), count: samples)
        let r = try sampler.sample(canvases: canvases, denoiser: denoiser, seed: seed)
        return Row(sampler: spec.description, nfe: Double(r.nfe.reduce(0, +)) / Double(samples),
                   secondsPerSample: r.seconds / Double(samples), samplingFraction: max(0, 1 - r.networkSeconds / r.seconds))
    }

    /// The bundled denoiser and planner (found like every bundled resource), else random
    /// weights of the standard config, which cost the same to run. Returns a description.
    public static func models(matmul: MatMul) throws -> (denoiser: Denoiser, planner: CorruptionDetector, origin: String) {
        if let dir = Files.locateResource("models/denoiser"), let pdir = Files.locateResource("models/corruption-detector"),
           let vocab = Files.locateResource("vocab/tokenizer.json") {
            let d = try TransformerDenoiser(model: Transformer.load(directory: dir, matmul: matmul))
            let specials = Set(try Tokenizer.load(path: vocab).specialTokens.map(\.id))
            let p = try TransformerCorruptionDetector(model: Transformer.load(directory: pdir, matmul: matmul), specialIds: specials)
            return (d, p, "bundled \(dir) + \(pdir)")
        }
        let config = ModelConfig.standard
        let plannerConfig = ModelRole.corruptionDetector.configure(config)
        let d = try TransformerDenoiser(model: Transformer(config: config, source: ParameterBuffer.random(config: config, seed: 1), matmul: matmul))
        let p = try TransformerCorruptionDetector(model: Transformer(config: plannerConfig, source: ParameterBuffer.random(config: plannerConfig, seed: 2), matmul: matmul),
                                                  specialIds: [config.vocabSize - 2, config.vocabSize - 1])
        return (d, p, "random weights, standard config (no bundled model)")
    }
}
