#if canImport(Glibc)
import Glibc
#endif
import UnmaskDiffusion
import UnmaskModel
import UnmaskTokenizer
import UnmaskSupport

extension Evaluation {
    /// The denoiser's continuous-time ELBO on a token stream, in nats per token: an upper
    /// bound on −log p per token, so exp of it bounds the perplexity.
    ///
    /// A block-causal denoiser's bound is block diffusion's: each block's ELBO given the clean
    /// text before it in the window, summed (`blockELBOLogits`).
    ///
    /// The stream is cut into non-overlapping windows of the context length. Each window is
    /// scored under `draws` random masks at stratified times t_k = (k + u)/draws (linear
    /// schedule, weight 1/t), Σ_masked (1/t)·(−log p(x₀ | x_t)) / L. The mean over windows
    /// and draws is the estimate; its standard error is the standard deviation of the
    /// per-(window, draw) values over √(count).
    public static func denoiserELBO(denoiser: Denoiser, tokens: [Int], draws: Int, seed: UInt64,
                                    progress: ((Int, Int) -> Void)? = nil)
        throws -> (natsPerToken: Double, standardError: Double, tokens: Int) {
        try denoiserELBO(denoiser: denoiser, tokens: tokens, draws: draws, seed: seed,
                         weight: NoiseSchedule.linear.elboWeight, progress: progress)
    }

    /// The estimator with another weight w(t) in place of the ELBO's: the tests use it to
    /// show that a wrong weight (w = 1) would be caught.
    static func denoiserELBO(denoiser: Denoiser, tokens: [Int], draws: Int, seed: UInt64, weight: (Double) -> Double,
                             progress: ((Int, Int) -> Void)? = nil)
        throws -> (natsPerToken: Double, standardError: Double, tokens: Int) {
        let (values, scored) = try elboValues(denoisers: [denoiser], tokens: tokens, draws: draws, seed: seed, weight: weight,
                                              progress: progress)
        let (mean, se) = meanAndStandardError(values[0])
        return (mean, se, scored)
    }

    /// The ELBO of two denoisers on the same windows, masks and times (the same `seed`): each
    /// estimate, and the mean of the per-(window, draw) differences b − a with its standard
    /// error. When a and b are the same model in two arithmetics the paired SE is far
    /// smaller than either estimate's own, so it says whether the difference is noise.
    public static func pairedDenoiserELBO(_ a: Denoiser, _ b: Denoiser, tokens: [Int], draws: Int, seed: UInt64,
                                          progress: ((Int, Int) -> Void)? = nil) throws -> PairedELBO {
        guard a.maxLength == b.maxLength, a.vocabSize == b.vocabSize, a.maskId == b.maskId else {
            throw UnmaskError("paired ELBO: the two denoisers differ in context, vocabulary or mask id")
        }
        let (values, scored) = try elboValues(denoisers: [a, b], tokens: tokens, draws: draws, seed: seed,
                                              weight: NoiseSchedule.linear.elboWeight, progress: progress)
        let ea = meanAndStandardError(values[0]), eb = meanAndStandardError(values[1])
        let d = meanAndStandardError(zip(values[0], values[1]).map { $1 - $0 })
        return PairedELBO(a: (ea.mean, ea.standardError, scored), b: (eb.mean, eb.standardError, scored),
                          difference: d.mean, differenceStandardError: d.standardError)
    }

    /// Two denoisers' ELBO on the same masks (`pairedDenoiserELBO`): nats per token, each
    /// with its own standard error, and the paired difference b − a with its standard error.
    public struct PairedELBO: Sendable {
        public var a: (natsPerToken: Double, standardError: Double, tokens: Int)
        public var b: (natsPerToken: Double, standardError: Double, tokens: Int)
        public var difference: Double
        public var differenceStandardError: Double
    }

    static func meanAndStandardError(_ values: [Double]) -> (mean: Double, standardError: Double) {
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(1, n - 1)
        return (mean, (variance / n).squareRoot())
    }

    /// The per-(window, draw) ELBO terms of each denoiser, all on the same masks; and the
    /// number of tokens scored.
    static func elboValues(denoisers: [Denoiser], tokens: [Int], draws: Int, seed: UInt64, weight: (Double) -> Double,
                           progress: ((Int, Int) -> Void)?) throws -> ([[Double]], Int) {
        let denoiser = denoisers[0]
        let L = denoiser.maxLength, V = denoiser.vocabSize, mask = denoiser.maskId
        let schedule = NoiseSchedule.linear
        var values = [[Double]](repeating: [], count: denoisers.count)
        var scoredTokens = 0
        var w = 0
        var start = 0
        while start < tokens.count {
            let window = Array(tokens[start..<min(tokens.count, start + L)])
            scoredTokens += window.count
            var rng = Philox(seed: seed, stream: UInt64(w))
            let u = rng.uniform64()
            for k in 0..<draws {
                let t = max(1e-4, (Double(k) + u) / Double(draws))
                var ids = window
                var positions: [Int] = []
                for i in 0..<window.count where rng.uniform64() < 1 - schedule.alpha(t) {
                    ids[i] = mask
                    positions.append(i)
                }
                for (d, model) in denoisers.enumerated() {
                    var sum = 0.0
                    if !positions.isEmpty {
                        let logits = try blockELBOLogits(model, noisy: ids, clean: window, positions: positions)
                            ?? model.logits(sequences: [ids], positions: [positions])
                        for (j, i) in positions.enumerated() { sum += nll(logits, row: j, vocab: V, target: window[i], excluded: mask) }
                    }
                    values[d].append(weight(t) * sum / Double(window.count))
                }
            }
            start += L
            w += 1
            progress?(min(start, tokens.count), tokens.count)
        }
        return (values, scoredTokens)
    }

    /// For a block-causal denoiser, its outputs at `positions` with every block denoised
    /// given the clean blocks before it (block diffusion's training layout, one forward):
    /// the window's bound is then the sum of its blocks' ELBOs (BD3-LM), all at the draw's t.
    /// Nil for other denoisers.
    static func blockELBOLogits(_ model: Denoiser, noisy: [Int], clean: [Int], positions: [Int]) throws -> [Float]? {
        guard let bc = Generation.blockCausalModel(model) else { return nil }
        var out = try bc.model.forward(ids: noisy + clean, batch: 1, length: 2 * clean.count, positions: positions,
                                       pattern: .blockDiffusionTraining(bc.model.config.blockSize!))
        bc.maskPadding(&out, rows: positions.count)
        return out
    }
}
