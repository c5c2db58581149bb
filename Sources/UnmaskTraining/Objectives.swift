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
    /// Block diffusion (BD3-LM, Arriola et al. 2025) for a block-causal model: the window in
    /// blocks of the model's `block_size`, each block with its own t (stratified across the
    /// batch's blocks), each token of block k masked with probability 1 − α(t_k), and every
    /// block denoised given the clean blocks before it in one forward (the training layout
    /// x_t ⊕ x_0, `AttentionPattern.blockDiffusionTraining`). Loss Σ_k Σ_masked
    /// w(t_k)·(−log p(x₀)), per token: with t over (0, 1] it is the block ELBO, a bound on
    /// −log p(x) summed over blocks. Training draws t from a clipped range [β, ω] instead
    /// (`TrainingSettings.maskRates`): BD3-LM's lower-variance schedule; validation always
    /// uses the full range, so its loss is the bound.
    case bd3
    /// DDPD's planner, the corruption detector: uniform-noise corruption at t ~ U(0,1); binary cross-entropy on
    /// "was this position corrupted". Label rule: a position is labelled corrupted only if
    /// its token actually changed — a resampled token that landed on the original value is
    /// indistinguishable from a clean one, and is clean for the sampler's purposes.
    case corruptionDetector = "corruption-detector"

    /// A name as a user types it; `planner` is the old spelling of `corruption-detector`.
    public init?(name: String) {
        self.init(rawValue: name == "planner" ? Objective.corruptionDetector.rawValue : name)
    }

    /// The role of the model this objective trains: `ar` an evaluator, `mdm` a denoiser,
    /// `corruption-detector` DDPD's corruption detector.
    public var role: ModelRole {
        switch self {
        case .ar: return .evaluator
        case .mdm, .bd3: return .denoiser
        case .corruptionDetector: return .corruptionDetector
        }
    }
    public var head: ModelConfig.Head { role.configure(.standard).head }

    /// The config a model trained with this objective has (`ModelRole.configure`); bd3
    /// makes attention block-causal in blocks of `blockSize` (the config's own if it has one).
    public func configure(_ config: ModelConfig, blockSize: Int? = nil) throws -> ModelConfig {
        var c = config
        if self == .bd3 {
            guard let size = blockSize ?? c.blockSize else { throw SettingError(.blockSize, "objective bd3 needs ⟨block_size⟩") }
            c.attention = .blockCausal
            c.blockSize = size
            return c
        }
        if blockSize != nil { throw SettingError(.blockSize, "⟨block_size⟩ is for objective bd3") }
        if c.attention == .blockCausal { c.attention = .bidirectional; c.blockSize = nil }
        return role.configure(c)
    }

    /// The attention a training forward runs: the training layout for bd3.
    public func pattern(_ config: ModelConfig) -> AttentionPattern {
        self == .bd3 ? .blockDiffusionTraining(config.blockSize!) : AttentionPattern(config)
    }

    /// Rows of the model input per window position: 2 for bd3 (x_t then x_0), else 1.
    public var rowsPerPosition: Int { self == .bd3 ? 2 : 1 }

    /// Builds the model input and the loss targets for a batch of windows (each
    /// length + 1 tokens; only the objective `ar` uses the last one: position i's target is
    /// token i + 1, so all L positions, the last included, are trained).
    /// Randomness comes from the Philox stream (seed, step) — deterministic per step.
    /// `specialIds`: the tokenizer's special tokens (mask, end of text, …), wherever they
    /// sit in the vocabulary; the corruption detector's noise never draws them. `fixedPrefix` (mdm
    /// only): the first positions of every window are never masked nor scored (a label
    /// token), and the loss is per token of the rest.
    /// bd3 returns (B, 2L) ids, x_t then x_0 per window, its t drawn from `maskRates`.
    public func batch(_ windows: [[Int]], length L: Int, config: ModelConfig, schedule: NoiseSchedule,
                      seed: UInt64, step: Int, specialIds: Set<Int> = [], fixedPrefix: Int = 0,
                      maskRates: ClosedRange<Double> = 0...1) -> (ids: [Int], targets: TrainingTargets) {
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
        case .bd3:
            let size = config.blockSize!, blocks = (L + size - 1) / size, cells = B * blocks
            let u = rng.uniform64()
            var input: [Int] = []
            input.reserveCapacity(2 * B * L)
            var positions: [Int] = [], targets: [Int] = [], weights: [Float] = []
            for b in 0..<B {
                var noisy = Array(windows[b][0..<L])
                for k in 0..<blocks {
                    // The stratified grid over all the batch's blocks, mapped into the range.
                    let cell = (u + Double(b * blocks + k) / Double(cells)).truncatingRemainder(dividingBy: 1)
                    let t = max(maskRates.lowerBound + cell * (maskRates.upperBound - maskRates.lowerBound), 1e-4)
                    let maskProbability = 1 - schedule.alpha(t)
                    let w = Float(schedule.elboWeight(t) / Double(B * L))
                    for i in (k * size)..<min(L, (k + 1) * size) where rng.uniform64() < maskProbability {
                        positions.append(b * 2 * L + i)
                        targets.append(noisy[i])
                        weights.append(w)
                        noisy[i] = config.maskTokenId
                    }
                }
                input.append(contentsOf: noisy)
                input.append(contentsOf: windows[b][0..<L])
            }
            return (input, .tokens(positions: positions, targets: targets, weights: weights, excluded: config.maskTokenId))
        case .corruptionDetector:
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
