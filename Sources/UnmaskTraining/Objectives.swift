import UnmaskDiffusion
import UnmaskModel
import UnmaskSupport

/// What a model is trained to do.
public enum Objective: String, Sendable, CaseIterable {
    /// Next-token cross-entropy with causal attention: the evaluator, and the parent a
    /// denoiser is adapted from.
    case ar
    /// The absorbing-state continuous-time ELBO: t per sequence (antithetic across the
    /// batch), each token masked with probability 1 − α(t), loss Σ_masked w(t)·(−log p(x₀)),
    /// w(t) = −α′(t)/(1 − α(t)) (1/t for the linear schedule), per token.
    case mdm
    /// The DDPD planner: uniform-noise corruption at t ~ U(0,1); binary cross-entropy on
    /// "was this position corrupted". Label rule: a position is labelled corrupted only if
    /// its token actually changed — a resampled token that landed on the original value is
    /// indistinguishable from a clean one, and is clean for the sampler's purposes.
    case planner

    /// The role of the model this objective trains: `ar` an evaluator, `mdm` a denoiser,
    /// `planner` a DDPD planner.
    public var role: ModelRole {
        switch self {
        case .ar: return .evaluator
        case .mdm: return .denoiser
        case .planner: return .planner
        }
    }
    public var attention: ModelConfig.Attention { role.configure(.standard).attention }
    public var head: ModelConfig.Head { role.configure(.standard).head }

    /// The config a model trained with this objective has (`ModelRole.configure`).
    public func configure(_ config: ModelConfig) -> ModelConfig { role.configure(config) }

    /// Builds the model input and the loss targets for a batch of windows (each
    /// length + 1 tokens; only the objective `ar` uses the last one: position i's target is
    /// token i + 1, so all L positions, the last included, are trained).
    /// Randomness comes from the Philox stream (seed, step) — deterministic per step.
    /// `specialIds`: the tokenizer's special tokens (mask, end of text, …), wherever they
    /// sit in the vocabulary; the planner's noise never draws them. `fixedPrefix` (mdm
    /// only): the first positions of every window are never masked nor scored (a label
    /// token), and the loss is per token of the rest.
    public func batch(_ windows: [[Int]], length L: Int, config: ModelConfig, schedule: NoiseSchedule,
                      seed: UInt64, step: Int, specialIds: Set<Int> = [], fixedPrefix: Int = 0) -> (ids: [Int], targets: TrainingTargets) {
        let B = windows.count
        var rng = Philox(seed: seed ^ 0x5EED_0B1E_C71E, stream: UInt64(bitPattern: Int64(step)) << 8 | 1)
        var ids: [Int] = []
        ids.reserveCapacity(B * L)
        for w in windows { ids.append(contentsOf: w[0..<L]) }
        switch self {
        case .ar:
            let positions = (0..<B).flatMap { b in (0..<L).map { b * L + $0 } }
            let w = 1 / Float(positions.count)
            return (ids, .tokens(positions: positions, targets: positions.map { windows[$0 / L][$0 % L + 1] },
                                 weights: positions.map { _ in w }, excluded: config.maskTokenId))
        case .mdm:
            // Antithetic (stratified) t: one uniform shifts an evenly spaced grid, so the
            // batch covers (0, 1] evenly and the ELBO estimate has low variance.
            let u = rng.uniform64()
            var positions: [Int] = [], targets: [Int] = [], weights: [Float] = []
            for b in 0..<B {
                var t = (u + Double(b) / Double(B)).truncatingRemainder(dividingBy: 1)
                t = max(t, 1e-4)
                let maskProbability = 1 - schedule.alpha(t)
                let w = Float(schedule.elboWeight(t) / Double(B * (L - fixedPrefix)))
                for i in fixedPrefix..<L where rng.uniform64() < maskProbability {
                    positions.append(b * L + i)
                    targets.append(ids[b * L + i])
                    weights.append(w)
                    ids[b * L + i] = config.maskTokenId
                }
            }
            return (ids, .tokens(positions: positions, targets: targets, weights: weights, excluded: config.maskTokenId))
        case .planner:
            var labels = [Float](repeating: 0, count: B * L)
            // The tokenizers here always hold ordinary ids (at least the 256 byte tokens).
            guard let noise = try? OrdinaryIds(vocabSize: config.vocabSize, specials: specialIds.union([config.maskTokenId]))
            else { preconditionFailure("a vocabulary of special tokens only") }
            for b in 0..<B {
                let t = rng.uniform64()
                for i in 0..<L where rng.uniform64() < t {
                    let original = ids[b * L + i]
                    let replacement = noise.drawByRejection(&rng)
                    ids[b * L + i] = replacement
                    labels[b * L + i] = replacement == original ? 0 : 1
                }
            }
            let w = 1 / Float(B * L)
            return (ids, .binary(labels: labels, weights: labels.map { _ in w }))
        }
    }
}
