#if canImport(Glibc)
import Glibc
#endif
import UnmaskSupport
import UnmaskDiffusion

/// What one steered sample returns.
public struct SteeredSample: Sendable {
    /// The finished sequence (for output=all, the first particle's; see `particles`).
    public var sequence: [Int]
    /// Sequences the denoiser evaluated for this sample: every particle, both branches of
    /// guidance, every candidate and every x̂₀ fill, in every attempt.
    public var nfe: Int
    /// r(sequence), when the method has a reward.
    public var reward: Double?
    /// Rejection: paths proposed until one was accepted (1 for the other modes).
    public var attempts: Int
    /// Population modes: the mean, over the steps, of the effective sample size
    /// (Σw)²/Σw² before any resampling, in particles.
    public var meanESS: Double?
    public var resamplings: Int
    /// Population and rejection modes: log of the estimate of Z, the target's normaliser
    /// relative to the proposal's (unbiased for Z itself, not for log Z).
    public var logZ: Double?
    /// output=all: every particle's sequence and final log-weight (normalised to log-sum 0).
    public var particles: [(sequence: [Int], logWeight: Double)]
}

/// The steering engine: a population of particles advanced by the first-hitting kernel,
/// each step drawing one uniformly chosen masked position from a proposal and carrying a
/// Float64 log-weight, with resampling and an output rule.
///
/// **The identity.** For a denoiser with exact conditionals and any order σ of the
/// positions chosen without looking at token values, a path that draws token ℓ from
/// q_ℓ(v) = p_c(v)^a p_u(v)^b e^{λ s(v)} / Z_ℓ and carries W = ∏_ℓ Z_ℓ has
/// P(x | σ)·W = ∏_ℓ p_c(x_ℓ | x_<ℓ)^a p_u(x_ℓ | x_<ℓ)^b e^{λ s(x_ℓ)} = p_c(x)^a p_u(x)^b e^{λ r(x)},
/// by the chain rule, whatever σ. So E[W·1{x}] = p_c(x)^a p_u(x)^b e^{λ r(x)} and
/// E[W] = Z, the target's normaliser:
/// - cfg: a = γ, b = 1 − γ (target p(x|c)^γ p(x)^{1−γ}); anneal: a = β, b = 0 (p^β);
///   tilt: a = 1, b = 0, s the reward's token scores (p·e^{λr}; s = −∞ bans a token).
/// - Z_ℓ ≤ 1 when a, b ≥ 0, a + b ≥ 1 and λ s ≤ 0: each term p_c^a p_u^b ≤ (p_c^{a'} p_u^{b'})
///   with a' = a/(a+b), and Σ p_c^{a'} p_u^{b'} ≤ 1 by Hölder. The token scores are shifted
///   so their largest is 0 (a constant per step, so the target is unchanged). Then
///   accepting a path with probability W is an exact rejection sampler (`mode=exact`),
///   accepting with probability Z.
/// - Otherwise (γ > 1, β < 1) W is unbounded and the particles are resampled by it
///   (`mode=smc`), which is consistent as particles grow.
/// - `mode=paper` draws from the same per-step q and drops W: D-CFG, naive temperature,
///   naive masking. It samples the law of that per-step rule, not the sequence target.
///
/// FK steering (`smc`) uses the base kernel (q = p) and the potential
/// e^{λ(r(x̂₀,now) − r(x̂₀,before))} at each resampling point and at the end; the
/// potentials telescope to e^{λ r(x)}, so output=sample targets p(x)·e^{λ r(x)}.
///
/// **Randomness.** Particle slot j of sample i uses the Philox stream (seed_j, i), with
/// seed_0 = the seed (so `cfg:gamma=1` draws what `fhs` draws), and resampling uses its own
/// stream: a sample's output depends on (seed, i) alone, not on the batch, the thread
/// count or the other samples.
public final class SteeringEngine {
    public let spec: SteeringSpec
    public let draw: CategoricalOptions
    public let reward: Reward?
    /// cbg's classifier of partially masked text, and the class to guide to.
    public let classifier: NoisyClassifier?
    public let classIndex: Int
    /// Sequences per denoiser call at most: memory is bounded by this, not by particles.
    public let maxSequencesPerCall: Int

    public init(spec: SteeringSpec, draw: CategoricalOptions = CategoricalOptions(), reward: Reward? = nil,
                classifier: NoisyClassifier? = nil, classIndex: Int = 0, maxSequencesPerCall: Int = 32) throws {
        try spec.validate()
        try draw.validate()
        if spec.needsReward && reward == nil { throw SettingError(.reward, "steering \(spec.method.rawValue) needs a ⟨reward⟩") }
        if spec.method == .tilt && reward?.tokenScores == nil {
            throw UnmaskError("steering tilt needs a reward that is additive over tokens (words:...); \(reward!.name) is not; use smc or bon")
        }
        if spec.needsClassifier {
            guard let classifier else { throw SettingError(.className, "steering cbg needs a classifier and a ⟨class⟩") }
            guard classifier.classes.indices.contains(classIndex) else {
                throw UnmaskError("class \(classIndex) is not one of the classifier's \(classifier.classes.count)")
            }
        }
        guard maxSequencesPerCall >= 1 else { throw UnmaskError("maxSequencesPerCall must be at least 1") }
        self.spec = spec
        self.draw = draw
        self.reward = reward
        self.classifier = classifier
        self.classIndex = classIndex
        self.maxSequencesPerCall = maxSequencesPerCall
    }

    /// The seed of particle slot j.
    static func slotSeed(_ seed: UInt64, _ j: Int) -> UInt64 {
        if j == 0 { return seed }
        var mix = SplitMix64(seed: seed ^ (0x57EE_0000_0000_0000 &+ UInt64(j)))
        return mix.next()
    }

    static func resamplingSeed(_ seed: UInt64) -> UInt64 {
        var mix = SplitMix64(seed: seed ^ 0x5A3B_1E00_0000_0000)
        return mix.next()
    }

    /// The per-step proposal log q(v) of cfg, anneal or tilt at one masked `position` of
    /// `canvas` (normalised, the mask excluded): what one step of the engine draws that
    /// position's token from, for inspection and tests. For cfg it is
    /// γ·log p_c + (1 − γ)·log p_u renormalised, i.e. softmax(u + γ·(c − u)) of the two
    /// branches' logits, which is LLaDA's `un + (cfg_scale + 1)(cond − un)` at γ = 1 + cfg_scale.
    public func proposalLogProbabilities(canvas: [Int], position: Int, denoiser: Denoiser,
                                         conditionPositions: [Int]? = nil) throws -> [Double] {
        guard [.cfg, .anneal, .tilt].contains(spec.method) else {
            throw UnmaskError("steering \(spec.method.rawValue) has no single per-step proposal")
        }
        guard canvas.indices.contains(position), canvas[position] == denoiser.maskId else {
            throw UnmaskError("position \(position) is not a masked position of the canvas")
        }
        let free = canvas.indices.filter { canvas[$0] == denoiser.maskId }
        let condition = conditionPositions ?? canvas.indices.filter { canvas[$0] != denoiser.maskId }
        let run = Population(engine: self, canvas: canvas, free: free, condition: condition, denoiser: denoiser, seed: 0, index: 0)
        return try run.proposal(at: position, proposal: run.tempered)
    }

    /// Sample `index` of `seed` on `canvas` (masked positions are generated, the rest is
    /// kept). cfg's unconditional branch is `unconditional` on the same canvas when given
    /// (a label-conditional denoiser with the null label), else `denoiser` on the canvas
    /// with `conditionPositions` masked (default: every position the canvas fixes: the
    /// prompt, a template's text).
    public func sample(canvas: [Int], denoiser: Denoiser, seed: UInt64, index: Int,
                       conditionPositions: [Int]? = nil, unconditional: Denoiser? = nil) throws -> SteeredSample {
        let mask = denoiser.maskId
        guard !canvas.isEmpty, canvas.count <= denoiser.maxLength else {
            throw UnmaskError("the canvas is \(canvas.count) tokens; steering needs 1...\(denoiser.maxLength) (the model's context)")
        }
        // The kernel unmasks anywhere in the canvas; a block-causal model's distributions are
        // only defined for a block given clean text before it.
        for model in [denoiser, unconditional].compactMap({ $0 }) where Generation.blockCausalModel(model) != nil {
            throw UnmaskError("steering runs its kernel over the whole canvas, and a block-causal model generates block by block: steer a bidirectional denoiser")
        }
        for id in canvas where id < 0 || id >= denoiser.vocabSize {
            throw UnmaskError("token id \(id) is outside the vocabulary (0..<\(denoiser.vocabSize))")
        }
        let free = canvas.indices.filter { canvas[$0] == mask }
        guard !free.isEmpty else { throw UnmaskError("nothing to generate: the canvas has no masked position") }
        let condition = conditionPositions ?? canvas.indices.filter { canvas[$0] != mask }
        if spec.needsCondition && condition.isEmpty && unconditional == nil {
            throw UnmaskError("cfg needs a condition to guide by (a prompt, a template, or a class of a labeled model): this canvas has none")
        }
        if let unconditional, unconditional.vocabSize != denoiser.vocabSize || unconditional.maskId != denoiser.maskId
            || unconditional.maxLength < canvas.count {
            throw UnmaskError("the unconditional denoiser does not match the conditional one (vocabulary, mask or context)")
        }
        let run = Population(engine: self, canvas: canvas, free: free, condition: condition, denoiser: denoiser,
                             seed: seed, index: index)
        run.unconditionalDenoiser = unconditional
        switch spec.method {
        case .bon: return try run.bestOfN()
        case .svdd: return try run.svdd()
        case .cbg: return try run.classifierGuidance()
        case .smc: return try run.population(particles: spec.particles, proposal: run.baseProposal)
        case .cfg, .anneal, .tilt:
            switch spec.mode {
            case .paper: return try run.single(proposal: run.tempered)
            case .exact: return try run.rejection(proposal: run.tempered)
            case .smc: return try run.population(particles: spec.particles, proposal: run.tempered)
            }
        }
    }
}

/// The exponents of the proposal q(v) ∝ p_c(v)^a p_u(v)^b e^{λ s(v)} at one step.
/// `scored`: the reward's token scores enter the product. A banned token (s = −∞) is
/// excluded whatever λ is, λ = 0 included (e^{0·(−∞)} is taken as 0: a ban is a ban), so
/// a tilt with scores is never the base kernel.
struct ProposalExponents {
    var a = 1.0, b = 0.0, lambda = 0.0
    var scored = false
    var isBase: Bool { a == 1 && b == 0 && lambda == 0 && !scored }
}

/// One sample's particles and the algorithms that advance them.
final class Population {
    let engine: SteeringEngine
    let spec: SteeringSpec
    let canvas: [Int]
    let free: [Int]
    let condition: [Int]
    let denoiser: Denoiser
    /// cfg's unconditional branch as a denoiser of its own (else: the condition masked).
    var unconditionalDenoiser: Denoiser?
    let mask: Int
    let seed: UInt64
    let index: Int
    var nfe = 0
    /// The reward's token scores shifted so the largest finite one is 0 (see the identity).
    let shiftedScores: [Double]?

    init(engine: SteeringEngine, canvas: [Int], free: [Int], condition: [Int], denoiser: Denoiser, seed: UInt64, index: Int) {
        self.engine = engine
        spec = engine.spec
        self.canvas = canvas
        self.free = free
        self.condition = condition
        self.denoiser = denoiser
        mask = denoiser.maskId
        self.seed = seed
        self.index = index
        if spec.method == .tilt, var table = engine.reward?.tokenScores {
            // Ids past the table (a model's padding rows past its tokenizer) score 0.
            table = Array(table.prefix(denoiser.vocabSize)) + [Double](repeating: 0, count: max(0, denoiser.vocabSize - table.count))
            let top = table.filter { $0.isFinite }.max() ?? 0
            shiftedScores = table.map { $0 - top }
        } else {
            shiftedScores = nil
        }
    }

    func slotRNG(_ j: Int) -> Philox { Philox(seed: SteeringEngine.slotSeed(seed, j), stream: UInt64(index)) }

    // MARK: Network calls

    /// Normalised log-probabilities (draw options applied, mask excluded) at `positions[s]`
    /// of `sequences[s]`, in chunks of at most `maxSequencesPerCall` sequences. Every
    /// sequence with a requested position counts one network evaluation.
    func logProbabilities(_ sequences: [[Int]], _ positions: [[Int]], denoiser: Denoiser? = nil) throws -> [[[Double]]] {
        let denoiser = denoiser ?? self.denoiser
        var out: [[[Double]]] = []
        out.reserveCapacity(sequences.count)
        let V = denoiser.vocabSize
        var start = 0
        while start < sequences.count {
            let end = min(sequences.count, start + engine.maxSequencesPerCall)
            let flat = try denoiser.logits(sequences: Array(sequences[start..<end]), positions: Array(positions[start..<end]))
            var offset = 0
            for s in start..<end {
                if !positions[s].isEmpty { nfe += 1 }
                var rows: [[Double]] = []
                for _ in positions[s] {
                    rows.append(flat[offset..<(offset + V)].withUnsafeBufferPointer {
                        Categorical.logProbabilities($0, options: engine.draw, forbidden: mask)
                    })
                    offset += V
                }
                out.append(rows)
            }
            start = end
        }
        return out
    }

    /// x̂₀: every masked position filled with its most probable token (lowest id on ties),
    /// one evaluation per sequence that still has a mask.
    func fill(_ sequences: [[Int]]) throws -> [[Int]] {
        let masked = sequences.map { s in s.indices.filter { s[$0] == mask } }
        let rows = try logProbabilities(sequences, masked)
        return sequences.indices.map { s in
            var x = sequences[s]
            for (j, i) in masked[s].enumerated() {
                var best = 0
                for v in rows[s][j].indices where rows[s][j][v] > rows[s][j][best] { best = v }
                x[i] = best
            }
            return x
        }
    }

    func rewards(_ sequences: [[Int]]) throws -> [Double] {
        let r = try engine.reward!.scores(sequences: sequences, generated: free)
        guard r.count == sequences.count, r.allSatisfy({ $0.isFinite || $0 == -.infinity }) else {
            throw UnmaskError("reward \(engine.reward!.name) returned \(r.count) scores for \(sequences.count) sequences, or a NaN/+∞")
        }
        return r
    }

    // MARK: Proposals

    /// The unconditional branch's input: the sequence with the condition masked.
    func unconditional(_ x: [Int]) -> [Int] {
        if unconditionalDenoiser != nil { return x }
        var u = x
        for i in condition { u[i] = mask }
        return u
    }

    /// One step for every particle in `active`: each picks a uniformly random masked
    /// position with its own stream, the proposal's rows are fetched in one batched call
    /// (conditional and unconditional branches together), and its token is drawn.
    /// Returns log Z_ℓ per particle (0 for the base kernel).
    typealias Proposal = (_ maskedFraction: Double) -> ProposalExponents

    var baseProposal: Proposal { { _ in ProposalExponents() } }

    var tempered: Proposal {
        let spec = self.spec
        let hasScores = shiftedScores != nil
        // At λ = 0 the scores matter only through their bans; without any it is the base kernel.
        let scored = hasScores && (spec.lambda != 0 || shiftedScores!.contains(-.infinity))
        return { fraction in
            switch spec.method {
            case .cfg:
                if let interval = spec.interval, !interval.contains(fraction) { return ProposalExponents() }
                return ProposalExponents(a: spec.gamma, b: 1 - spec.gamma, lambda: 0)
            case .anneal: return ProposalExponents(a: spec.beta, b: 0, lambda: 0)
            case .tilt: return ProposalExponents(a: 1, b: 0, lambda: hasScores ? spec.lambda : 0, scored: scored)
            default: return ProposalExponents()
            }
        }
    }

    func step(_ seqs: inout [[Int]], _ rngs: inout [Philox], active: [Int], proposal: Proposal) throws -> [Double] {
        var logZ = [Double](repeating: 0, count: seqs.count)
        var pos = [Int](repeating: 0, count: seqs.count)
        var e = [ProposalExponents](repeating: ProposalExponents(), count: seqs.count)
        for j in active {
            let masked = seqs[j].indices.filter { seqs[j][$0] == mask }
            e[j] = proposal(Double(masked.count) / Double(free.count))
            pos[j] = masked[rngs[j].int(below: masked.count)]
        }
        // Both branches in one batched call, unless the unconditional one is another denoiser.
        var inputs: [[Int]] = [], wanted: [[Int]] = []
        var otherInputs: [[Int]] = [], otherWanted: [[Int]] = []
        var condRow = [Int](repeating: -1, count: seqs.count), uncondRow = condRow
        for j in active {
            if e[j].a != 0 || e[j].isBase { condRow[j] = inputs.count; inputs.append(seqs[j]); wanted.append([pos[j]]) }
            if e[j].b != 0 || e[j].a == 0 && !e[j].isBase {
                if unconditionalDenoiser != nil {
                    uncondRow[j] = otherInputs.count; otherInputs.append(seqs[j]); otherWanted.append([pos[j]])
                } else {
                    uncondRow[j] = inputs.count; inputs.append(unconditional(seqs[j])); wanted.append([pos[j]])
                }
            }
        }
        let rows = try logProbabilities(inputs, wanted)
        let otherRows = otherInputs.isEmpty ? [] : try logProbabilities(otherInputs, otherWanted, denoiser: unconditionalDenoiser)
        let uncondRows = unconditionalDenoiser == nil ? rows : otherRows
        for j in active {
            let c = condRow[j] >= 0 ? rows[condRow[j]][0] : nil
            if e[j].isBase {
                seqs[j][pos[j]] = Categorical.sample(logProbabilities: c!, options: engine.draw, rng: &rngs[j])
                continue
            }
            let u = uncondRow[j] >= 0 ? uncondRows[uncondRow[j]][0] : nil
            let (lq, z) = try combine(conditional: c, unconditional: u, e[j], position: pos[j])
            logZ[j] = z
            seqs[j][pos[j]] = Categorical.sample(logProbabilities: lq, options: engine.draw, rng: &rngs[j])
        }
        return logZ
    }

    /// log q(v) = a·log p_c(v) + b·log p_u(v) + λ·s(v) − log Z, and log Z.
    func combine(conditional c: [Double]?, unconditional u: [Double]?, _ e: ProposalExponents, position: Int) throws -> ([Double], Double) {
        let V = (c ?? u)!.count
        var lq = [Double](repeating: -.infinity, count: V)
        var top = -Double.infinity
        for v in 0..<V {
            // A token impossible in a branch that enters the product is impossible in q
            // (with b < 0, −∞·b would otherwise be +∞).
            var value = 0.0
            if let c { if c[v] == -.infinity { continue }; value += e.a * c[v] }
            if let u { if u[v] == -.infinity { continue }; value += e.b * u[v] }
            if e.scored, let s = shiftedScores {
                if s[v] == -.infinity { continue }
                if e.lambda != 0 { value += e.lambda * s[v] }
            }
            lq[v] = value
            if value > top { top = value }
        }
        guard top > -.infinity else {
            throw UnmaskError("steering: every token is excluded at position \(position) (the reward bans all that the model allows)")
        }
        var sum = 0.0
        for v in 0..<V where lq[v] > -.infinity { sum += exp(lq[v] - top) }
        let z = top + log(sum)
        for v in 0..<V { lq[v] -= z }
        return (lq, z)
    }

    /// The proposal at `position` of the canvas as it stands, without drawing.
    func proposal(at position: Int, proposal: Proposal) throws -> [Double] {
        let masked = canvas.indices.filter { canvas[$0] == mask }
        let e = proposal(Double(masked.count) / Double(free.count))
        let c = try logProbabilities([canvas], [[position]])[0][0]
        if e.isBase { return c }
        let u = e.b != 0 || e.a == 0
            ? try logProbabilities([unconditional(canvas)], [[position]], denoiser: unconditionalDenoiser)[0][0] : nil
        return try combine(conditional: e.a != 0 ? c : nil, unconditional: u, e, position: position).0
    }

    // MARK: Methods

    /// One path from the per-step proposal, weights dropped (mode=paper).
    func single(proposal: Proposal) throws -> SteeredSample {
        var seqs = [canvas]
        var rngs = [slotRNG(0)]
        for _ in free { _ = try step(&seqs, &rngs, active: [0], proposal: proposal) }
        return SteeredSample(sequence: seqs[0], nfe: nfe, reward: try rewardIfAny(seqs[0]), attempts: 1, meanESS: nil,
                             resamplings: 0, logZ: nil, particles: [])
    }

    func rewardIfAny(_ x: [Int]) throws -> Double? { engine.reward == nil ? nil : try rewards([x])[0] }

    /// Rejection (mode=exact): propose a path, accept it with probability W ≤ 1; the
    /// acceptance rate is Z. The uniforms come from the same stream as the path.
    func rejection(proposal: Proposal) throws -> SteeredSample {
        var rngs = [slotRNG(0)]
        var totalW = 0.0
        for attempt in 1...spec.tries {
            var seqs = [canvas]
            var logW = 0.0
            for _ in free { logW += try step(&seqs, &rngs, active: [0], proposal: proposal)[0] }
            // W ≤ 1 is a theorem here (see SteeringEngine); rounding may leave it a hair above.
            guard logW <= 1e-9 else {
                throw UnmaskError("steering: a path weight of exp(\(logW)) > 1 in exact mode; this is a bug, please report it")
            }
            totalW += exp(logW)
            if log(rngs[0].uniform64()) < logW {
                return SteeredSample(sequence: seqs[0], nfe: nfe, reward: try rewardIfAny(seqs[0]), attempts: attempt, meanESS: nil,
                                     resamplings: 0, logZ: log(totalW / Double(attempt)), particles: [])
            }
        }
        throw UnmaskError("steering \(spec.description): no path accepted in \(spec.tries) tries (mean weight \(totalW / Double(spec.tries)), the acceptance rate); raise tries= or use mode=smc")
    }

    /// Particles advanced together, weighted, resampled (mode=smc, and FK's `smc`).
    func population(particles K: Int, proposal: Proposal) throws -> SteeredSample {
        var seqs = [[Int]](repeating: canvas, count: K)
        var rngs = (0..<K).map { slotRNG($0) }
        var ancestry = Philox(seed: SteeringEngine.resamplingSeed(seed), stream: UInt64(index))
        var logW = [Double](repeating: 0, count: K)
        var logZhat = 0.0
        var essSum = 0.0, essCount = 0, resamplings = 0
        let fk = spec.method == .smc
        // FK: r of the last x̂₀ each particle was scored at (0 before the first: a constant).
        var lastReward = [Double](repeating: 0, count: K)
        let every = spec.every ?? (fk ? 16 : nil)
        let threshold = spec.ess ?? (spec.every == nil || fk ? 0.5 : nil)
        let all = Array(0..<K)
        for stepIndex in 1...free.count {
            let logZ = try step(&seqs, &rngs, active: all, proposal: proposal)
            for j in all { logW[j] += logZ[j] }
            let last = stepIndex == free.count
            let checkpoint = every.map { stepIndex % $0 == 0 } ?? true
            if fk && (checkpoint || last) {
                let r = try rewards(last ? seqs : try fill(seqs))
                for j in all {
                    logW[j] += r[j] == -.infinity ? -.infinity : spec.lambda * (r[j] - lastReward[j])
                    lastReward[j] = r[j]
                }
            }
            if last { break }
            guard checkpoint else { continue }
            let ess = Resampling.effectiveSampleSize(logW)
            essSum += ess; essCount += 1
            if let threshold, ess >= threshold * Double(K) { continue }
            guard logW.contains(where: { $0 > -.infinity }) else {
                throw UnmaskError("steering: every particle has weight 0 (the reward forbids them all)")
            }
            logZhat += Resampling.logMeanExp(logW)
            let parents = Resampling.ancestors(logW, count: K, method: spec.resampling, rng: &ancestry)
            seqs = parents.map { seqs[$0] }
            lastReward = parents.map { lastReward[$0] }
            logW = [Double](repeating: 0, count: K)
            resamplings += 1
        }
        guard logW.contains(where: { $0 > -.infinity }) else {
            throw UnmaskError("steering: every particle has weight 0 (the reward forbids them all)")
        }
        logZhat += Resampling.logMeanExp(logW)
        let normaliser = Resampling.logSumExp(logW)
        let finalRewards = engine.reward == nil ? nil : (fk ? lastReward : try rewards(seqs))
        let chosen: Int
        switch spec.output {
        case .sample, .all: chosen = Resampling.ancestors(logW, count: 1, method: .multinomial, rng: &ancestry)[0]
        case .best:
            if let finalRewards { chosen = finalRewards.indices.max { finalRewards[$0] < finalRewards[$1] }! }
            else { chosen = logW.indices.max { logW[$0] < logW[$1] }! }
        }
        return SteeredSample(sequence: seqs[chosen], nfe: nfe, reward: finalRewards?[chosen], attempts: 1,
                             meanESS: essCount > 0 ? essSum / Double(essCount) : Resampling.effectiveSampleSize(logW),
                             resamplings: resamplings, logZ: logZhat,
                             particles: spec.output == .all ? all.map { (seqs[$0], logW[$0] - normaliser) } : [])
    }

    /// Best-of-n: n independent base paths (slots 0..<n), the first with the highest reward.
    func bestOfN() throws -> SteeredSample {
        let n = spec.n
        var seqs = [[Int]](repeating: canvas, count: n)
        var rngs = (0..<n).map { slotRNG($0) }
        for _ in free { _ = try step(&seqs, &rngs, active: Array(0..<n), proposal: baseProposal) }
        let r = try rewards(seqs)
        var best = 0
        for j in 1..<n where r[j] > r[best] { best = j }
        return SteeredSample(sequence: seqs[best], nfe: nfe, reward: r[best], attempts: 1, meanESS: nil, resamplings: 0,
                             logZ: nil, particles: [])
    }

    /// D-CBG (Schiff et al. 2024), one token per step: q(v) ∝ p(v | x)·p(c | x, v)^γ with a
    /// classifier of partially masked sequences. At γ = 1, p(v | x)·p(c | x, v) = p(v, c | x)
    /// ∝ p(v | x, c), so with exact conditionals and an exact classifier each step is the
    /// conditional's, and by the chain rule the path samples p(x | c) exactly.
    func classifierGuidance() throws -> SteeredSample {
        var x = canvas
        var rng = slotRNG(0)
        let classifier = engine.classifier!
        for _ in free {
            let masked = x.indices.filter { x[$0] == mask }
            let pos = masked[rng.int(below: masked.count)]
            let lp = try logProbabilities([x], [[pos]])[0][0]
            let lc = try classifier.candidateLogPosteriors(sequence: x, position: pos, generated: free, mask: mask,
                                                           classIndex: engine.classIndex, vocabSize: lp.count)
            var lq = [Double](repeating: -.infinity, count: lp.count)
            for v in lp.indices where lp[v] > -.infinity && lc[v] > -.infinity { lq[v] = lp[v] + spec.gamma * lc[v] }
            let z = Resampling.logSumExp(lq)
            guard z > -.infinity else { throw UnmaskError("steering cbg: the classifier rules out every token the model allows at position \(pos)") }
            for v in lq.indices { lq[v] -= z }
            x[pos] = Categorical.sample(logProbabilities: lq, options: engine.draw, rng: &rng)
        }
        return SteeredSample(sequence: x, nfe: nfe, reward: try rewardIfAny(x), attempts: 1, meanESS: nil, resamplings: 0,
                             logZ: nil, particles: [])
    }

    /// SVDD (Li et al. 2024): each step one uniformly chosen masked position gets m
    /// candidate tokens drawn from p; each candidate's x̂₀ is scored by r; the best is kept
    /// (first on ties), or with alpha > 0 one is drawn ∝ e^{r/α}.
    func svdd() throws -> SteeredSample {
        var x = canvas
        var rng = slotRNG(0)
        let m = spec.m
        for _ in free {
            let masked = x.indices.filter { x[$0] == mask }
            let pos = masked[rng.int(below: masked.count)]
            let lp = try logProbabilities([x], [[pos]])[0][0]
            var candidates = [[Int]](repeating: x, count: m)
            for c in 0..<m { candidates[c][pos] = Categorical.sample(logProbabilities: lp, options: engine.draw, rng: &rng) }
            let r = try rewards(masked.count > 1 ? try fill(candidates) : candidates)
            guard r.contains(where: { $0 > -.infinity }) else {
                throw UnmaskError("steering svdd: the reward forbids every candidate at position \(pos)")
            }
            var pick = 0
            if spec.alpha == 0 {
                for c in 1..<m where r[c] > r[pick] { pick = c }
            } else {
                pick = Resampling.ancestors(r.map { $0 / spec.alpha }, count: 1, method: .multinomial, rng: &rng)[0]
            }
            x[pos] = candidates[pick][pos]
        }
        return SteeredSample(sequence: x, nfe: nfe, reward: try rewards([x])[0], attempts: 1, meanESS: nil, resamplings: 0,
                             logZ: nil, particles: [])
    }
}
