#if canImport(Glibc)
import Glibc
#endif
import UnmaskSupport

/// What a sampling run returns.
public struct SamplingResult: Sendable {
    /// The finished sequences (no mask left).
    public var sequences: [[Int]]
    /// Denoiser calls per sample: calls in which that sample asked for at least one position.
    public var nfe: [Int]
    /// Planner-model calls per sample (DDPD only).
    public var plannerCalls: [Int]
    /// Wall time of the whole run, and the part spent inside network calls.
    public var seconds: Double
    public var networkSeconds: Double
}

/// Called after every step with the current (partially masked) sequences, e.g. to animate.
public typealias StepObserver = ([[Int]]) -> Void

/// Chooses which masked positions to unmask next in the planner–denoiser loop. Implement
/// it to plug your own order into `DiffusionSampler(planner:)`.
public protocol Planner {
    /// True if `choose` needs the denoiser's distributions at every masked position (one
    /// network call over all of them per step); false if it chooses blind, and only the
    /// chosen positions are sent to the denoiser.
    var needsDenoiserEverywhere: Bool { get }
    /// Picks between 1 and `count` distinct positions out of `masked` (never empty).
    /// `logProbabilities[j]` (normalised, Double, the mask excluded) belongs to `masked[j]`
    /// when `needsDenoiserEverywhere`, else it is nil. Randomness must come from `rng`,
    /// the sample's own stream, so that the same seed gives the same text.
    func choose(masked: [Int], logProbabilities: [[Double]]?, count: Int, rng: inout Philox) -> [Int]
}

/// Uniformly random masked positions: the planner loop with it is the first-hitting sampler.
public struct UniformPlanner: Planner {
    public init() {}
    public var needsDenoiserEverywhere: Bool { false }
    public func choose(masked: [Int], logProbabilities: [[Double]]?, count: Int, rng: inout Philox) -> [Int] {
        var pool = masked
        var out: [Int] = []
        for _ in 0..<min(count, pool.count) {
            let j = rng.int(below: pool.count)
            out.append(pool[j])
            pool.swapAt(j, pool.count - 1)
            pool.removeLast()
        }
        return out
    }
}

/// Training-free planners on the denoiser's own output: unmask where it is surest.
public struct ConfidencePlanner: Planner {
    public enum Score: String, Sendable { case confidence, margin, entropy }
    public let score: Score
    public init(score: Score) { self.score = score }
    public var needsDenoiserEverywhere: Bool { true }

    /// confidence: max probability; margin: top1 − top2; entropy: −H (low entropy first).
    public func value(_ lp: [Double]) -> Double {
        switch score {
        case .confidence:
            return exp(lp.max() ?? -.infinity)
        case .margin:
            var a = -Double.infinity, b = -Double.infinity
            for v in lp { if v > a { b = a; a = v } else if v > b { b = v } }
            return exp(a) - exp(b)
        case .entropy:
            var h = 0.0
            for v in lp where v > -.infinity { h -= exp(v) * v }
            return -h
        }
    }

    public func choose(masked: [Int], logProbabilities: [[Double]]?, count: Int, rng: inout Philox) -> [Int] {
        let scores = logProbabilities!.map(value)
        let order = masked.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : masked[$0] < masked[$1] }
        return order.prefix(count).map { masked[$0] }
    }
}

/// Runs a sampler spec on a batch of canvases. A canvas is a sequence in which the
/// positions to generate hold the mask id; every other position is fixed (a prompt, or
/// the text of an infilling template) and is never changed.
///
/// Randomness: sample b uses the Philox stream (seed, firstStream + b), consumed in an
/// order that depends only on that sample, so a sample's text does not depend on the
/// batch it was generated in, nor on the thread count.
public final class DiffusionSampler {
    public let spec: SamplerSpec
    /// DDPD's planner model (which tokens are corrupted), for `ddpd`.
    public let corruptionDetector: CorruptionDetector?
    /// The caller's planner (which masked positions to fill), when built with
    /// `init(planner:tokensPerCall:draw:)`.
    public let positionPlanner: Planner?

    public init(spec: SamplerSpec, corruptionDetector: CorruptionDetector? = nil) throws {
        if spec.kind == .ddpd && corruptionDetector == nil { throw UnmaskError("sampler ddpd needs a planner model") }
        self.spec = spec
        self.corruptionDetector = corruptionDetector
        positionPlanner = nil
    }

    /// The planner–denoiser loop with your own planner: each step the planner picks up to
    /// `tokensPerCall` masked positions, and each is drawn from the denoiser with `draw`.
    /// With `UniformPlanner()` and one token per call this is the first-hitting sampler.
    public init(planner: Planner, tokensPerCall: Int = 1, draw: CategoricalOptions = CategoricalOptions()) throws {
        guard tokensPerCall >= 1 else { throw UnmaskError("tokensPerCall must be at least 1, got \(tokensPerCall)") }
        try draw.validate()
        var spec = SamplerSpec(kind: .uniform)
        spec.k = tokensPerCall
        spec.draw = draw
        self.spec = spec
        corruptionDetector = nil
        positionPlanner = planner
    }

    public convenience init(_ text: String, corruptionDetector: CorruptionDetector? = nil) throws {
        try self.init(spec: SamplerSpec.parse(text), corruptionDetector: corruptionDetector)
    }

    public func sample(canvases: [[Int]], denoiser: Denoiser, seed: UInt64, firstStream: UInt64 = 0,
                       observer: StepObserver? = nil) throws -> SamplingResult {
        guard let length = canvases.first?.count else { throw UnmaskError("no canvases to sample") }
        guard canvases.allSatisfy({ $0.count == length }) else { throw UnmaskError("canvases differ in length") }
        guard length >= 1 else { throw UnmaskError("length must be at least 1") }
        guard length <= denoiser.maxLength else {
            throw UnmaskError("length \(length) exceeds the model's context of \(denoiser.maxLength)")
        }
        for c in canvases { for id in c where id < 0 || id >= denoiser.vocabSize {
            throw UnmaskError("token id \(id) is outside the vocabulary (0..<\(denoiser.vocabSize))")
        } }
        let run = SamplingRun(canvases: canvases, denoiser: denoiser, seed: seed, firstStream: firstStream, observer: observer)
        let start = monotonicSeconds()
        switch spec.kind {
        case .ancestral:
            if spec.draw.precision == .float32 {
                // The legacy draw needs every step's all-position race, so it is always
                // stepwise; with the cache on it reuses the network's output across steps
                // in which nothing unmasked, as MDLM's cached sampler does.
                try run.ancestralStepwise(steps: spec.steps ?? 1000, schedule: spec.schedule, draw: spec.draw,
                                          legacyFloat32: true, reuseUnchanged: spec.reuse)
            } else if !spec.reuse {
                try run.ancestralStepwise(steps: spec.steps ?? 1000, schedule: spec.schedule, draw: spec.draw,
                                          legacyFloat32: false, reuseUnchanged: false)
            } else {
                try run.ancestralCached(steps: spec.steps ?? 1000, schedule: spec.schedule, draw: spec.draw)
            }
        case .fhs, .uniform:
            try run.plannerLoop(positionPlanner ?? UniformPlanner(), spec: spec)
        case .confidence, .margin, .entropy:
            try run.plannerLoop(ConfidencePlanner(score: ConfidencePlanner.Score(rawValue: spec.kind.rawValue)!), spec: spec)
        case .ddpd:
            try run.ddpd(detector: corruptionDetector!, steps: spec.steps, draw: spec.draw)
        case .p2:
            try run.p2(steps: spec.steps, eta: spec.eta, draw: spec.draw)
        case .speculative:
            try run.speculative(drafts: spec.k, draw: spec.draw)
        }
        return SamplingResult(sequences: run.seqs, nfe: run.nfe, plannerCalls: run.plannerCalls,
                              seconds: monotonicSeconds() - start, networkSeconds: run.networkSeconds)
    }
}

/// The state of one `DiffusionSampler.sample` call (the canvases, each sample's Philox
/// stream, its call counts) and the sampling algorithms that advance it.
final class SamplingRun {
    var seqs: [[Int]]
    let fixed: [[Bool]]
    var rngs: [Philox]
    var nfe: [Int]
    var plannerCalls: [Int]
    var networkSeconds = 0.0
    let denoiser: Denoiser
    let mask: Int
    let V: Int
    let observer: StepObserver?

    init(canvases: [[Int]], denoiser: Denoiser, seed: UInt64, firstStream: UInt64, observer: StepObserver?) {
        seqs = canvases
        self.denoiser = denoiser
        mask = denoiser.maskId
        V = denoiser.vocabSize
        fixed = canvases.map { $0.map { $0 != denoiser.maskId } }
        rngs = (0..<canvases.count).map { Philox(seed: seed, stream: firstStream + UInt64($0)) }
        nfe = [Int](repeating: 0, count: canvases.count)
        plannerCalls = nfe
        self.observer = observer
    }

    var B: Int { seqs.count }

    func maskedPositions(_ b: Int) -> [Int] { seqs[b].indices.filter { seqs[b][$0] == mask } }

    /// One batched denoiser call. Returns, per sample, the logit rows of its positions.
    func call(_ positions: [[Int]]) throws -> [[ArraySlice<Float>]] {
        let t0 = monotonicSeconds()
        let flat = try denoiser.logits(sequences: seqs, positions: positions)
        networkSeconds += monotonicSeconds() - t0
        var rows: [[ArraySlice<Float>]] = []
        var offset = 0
        for b in 0..<B {
            if !positions[b].isEmpty { nfe[b] += 1 }
            var mine: [ArraySlice<Float>] = []
            for _ in positions[b] {
                mine.append(flat[offset..<(offset + V)])
                offset += V
            }
            rows.append(mine)
        }
        return rows
    }

    // MARK: Speculative verification

    /// Several tokens per round with the law of one token per call (docs/samplers.md,
    /// "Speculative verification"). The order of the positions is a uniform random
    /// permutation of the masked ones, drawn first (it does not depend on any value, so the
    /// next round's positions are known before this round is verified). A round, per
    /// sample with revealed set R, takes the next n ≤ k positions σ₁…σ_n: the marginals
    /// q_i = p(x_{σ_i} | x_R) (from a call, or carried from the round before), drafts
    /// d_i ~ q_i, and one batched call on the canvases x_R + d_{<i} (i = 2…n), asked at σ_i,
    /// plus x_R + d_{≤n}, asked at the next round's positions. d₁ is exact (p₁ = q₁); d_i is
    /// kept with probability min(1, p_i(d_i)/q_i(d_i)), in order; at the first rejection a
    /// token is drawn from (p_i − q_i)⁺ normalised and the round ends. By the
    /// speculative-sampling lemma each emitted token has law p_i given those before it, so
    /// the text has the law of one token per call in the order σ — the joint, for an exact
    /// denoiser. When every draft is kept, the last canvas is the next round's state and
    /// its rows are the next round's marginals: a round then costs one call.
    /// `acceptAlways` keeps every draft: the wrong rule the exactness test must catch.
    func speculative(drafts k: Int, draw: CategoricalOptions, acceptAlways: Bool = false) throws {
        let order = (0..<B).map { b -> [Int] in
            var left = maskedPositions(b), out: [Int] = []
            while !left.isEmpty { out.append(left.remove(at: rngs[b].int(below: left.count))) }
            return out
        }
        var next = [Int](repeating: 0, count: B)             // per sample: where in its order the round starts
        var carried = [[[Double]]?](repeating: nil, count: B) // the round's marginals, from the last canvas
        func chunk(_ b: Int, from i: Int) -> [Int] { Array(order[b][min(i, order[b].count)..<min(order[b].count, i + k)]) }
        while true {
            let round = (0..<B).map { chunk($0, from: next[$0]) }
            if round.allSatisfy({ $0.isEmpty }) { break }
            let asked = (0..<B).map { carried[$0] == nil ? round[$0] : [] }
            var q = carried.map { $0 ?? [] }
            if asked.contains(where: { !$0.isEmpty }) {
                let rows = try call(asked)
                for b in 0..<B where !asked[b].isEmpty { q[b] = rows[b].map { logProbabilities($0, draw) } }
            }
            var drafts = [[Int]](repeating: [], count: B)
            for b in 0..<B { drafts[b] = q[b].map { Categorical.sample(logProbabilities: $0, options: draw, rng: &rngs[b]) } }
            // The canvases, sample by sample: x_R + d_{<i} asked at σ_i (i = 2…n), then
            // x_R + d_{≤n} asked at the next round's positions.
            var canvases: [[Int]] = [], positions: [[Int]] = [], owner: [Int] = []
            for b in 0..<B where !round[b].isEmpty {
                var canvas = seqs[b]
                for i in 0..<round[b].count {
                    canvas[round[b][i]] = drafts[b][i]
                    let ask = i + 1 < round[b].count ? [round[b][i + 1]] : chunk(b, from: next[b] + round[b].count)
                    if ask.isEmpty { continue }
                    canvases.append(canvas)
                    positions.append(ask)
                    owner.append(b)
                }
            }
            var rowsOf = [[ArraySlice<Float>]](repeating: [], count: B)
            if !canvases.isEmpty {
                let t0 = monotonicSeconds()
                let flat = try denoiser.logits(sequences: canvases, positions: positions)
                networkSeconds += monotonicSeconds() - t0
                var offset = 0
                for (c, b) in owner.enumerated() {
                    for _ in positions[c] { rowsOf[b].append(flat[offset..<(offset + V)]); offset += V }
                }
                for b in Set(owner) { nfe[b] += 1 }
            }
            for b in 0..<B where !round[b].isEmpty {
                let n = round[b].count
                seqs[b][round[b][0]] = drafts[b][0]
                var kept = 1
                while kept < n {
                    let p = logProbabilities(rowsOf[b][kept - 1], draw)
                    let d = drafts[b][kept]
                    let u = rngs[b].uniform64()
                    if acceptAlways || u < exp(p[d] - q[b][kept][d]) {
                        seqs[b][round[b][kept]] = d
                        kept += 1
                        continue
                    }
                    // The residual (p − q)⁺, normalised, as log-probabilities.
                    var residual = [Double](repeating: -.infinity, count: V)
                    var total = 0.0
                    for j in 0..<V {
                        let r = exp(p[j]) - exp(q[b][kept][j])
                        if r > 0 { residual[j] = r; total += r }
                    }
                    for j in 0..<V where residual[j] > -.infinity { residual[j] = log(residual[j] / total) }
                    seqs[b][round[b][kept]] = Categorical.sample(logProbabilities: residual, options: draw, rng: &rngs[b])
                    break
                }
                // Every draft kept: the last canvas's rows are the next round's marginals.
                let verified = rowsOf[b].dropFirst(n - 1)
                carried[b] = kept == n && !verified.isEmpty ? verified.map { logProbabilities($0, draw) } : nil
                next[b] += kept == n ? n : kept + 1
            }
            observer?(seqs)
        }
    }

    func logProbabilities(_ row: ArraySlice<Float>, _ draw: CategoricalOptions) -> [Double] {
        row.withUnsafeBufferPointer { Categorical.logProbabilities($0, options: draw, forbidden: mask) }
    }

    func draw(_ row: ArraySlice<Float>, _ draw: CategoricalOptions, _ b: Int) -> Int {
        Categorical.sample(logProbabilities: logProbabilities(row, draw), options: draw, rng: &rngs[b])
    }

    // MARK: Ancestral, decide-first with caching

    /// MDLM/D3PM ancestral sampling on the grid t_i = i/T, deciding first which positions
    /// unmask. A masked position survives the step t→s with probability (1−α_s)/(1−α_t);
    /// these telescope, so the step at which each position unmasks is independent across
    /// positions with P(still masked at s) = (1−α_s)/(1−α_1). We draw it directly,
    /// τ = α⁻¹(α_1 + u·(1−α_1)) and step ⌊τ·T⌋ + 1, which is the same distribution as
    /// flipping a coin per position per step but costs O(L) instead of O(L·T). The
    /// denoiser is then called once per step in which something unmasks (at most
    /// min(T, L) calls), only at those positions; unchanged inputs need no new call
    /// because the denoiser is time-agnostic.
    func ancestralCached(steps T: Int, schedule: NoiseSchedule, draw options: CategoricalOptions) throws {
        let alpha1 = schedule.alpha(1)
        // step -> per-sample positions unmasking at that step
        var byStep: [Int: [[Int]]] = [:]
        for b in 0..<B {
            for i in maskedPositions(b) {
                let u = rngs[b].uniform64()
                let tau = schedule.inverse(alpha1 + u * (1 - alpha1))
                let step = min(T, max(1, Int((tau * Double(T)).rounded(.down)) + 1))
                byStep[step, default: [[Int]](repeating: [], count: B)][b].append(i)
            }
        }
        for step in byStep.keys.sorted(by: >) {
            let positions = byStep[step]!
            let rows = try call(positions)
            for b in 0..<B {
                for (j, i) in positions[b].enumerated() { seqs[b][i] = draw(rows[b][j], options, b) }
            }
            observer?(seqs)
        }
    }

    // MARK: Ancestral, step by step (the reference implementations' way)

    /// Every step calls the denoiser at every masked position and draws, for each, one
    /// categorical over V+1 outcomes: token j with weight p_θ(j)·(α_s−α_t)/(1−α_t), or
    /// stay masked with weight (1−α_s)/(1−α_t). In float64 this is exact (Gumbel-max in
    /// the log domain). With `legacyFloat32` it is computed as float32 code does it —
    /// float32 probabilities and the exponential race argmax_j q_j/E_j, E_j = −log u_j with
    /// 24-bit uniforms (E_j ≥ 6e-8, i.e. Gumbel noise ≤ 16.6) — which starves rare tokens:
    /// the bias to measure. With `reuseUnchanged`, a step in which no token unmasked keeps
    /// the previous call's output (MDLM's cache: the denoiser is time-agnostic, so the same
    /// input gives the same distribution); the draws are still made at every step.
    func ancestralStepwise(steps T: Int, schedule: NoiseSchedule, draw options: CategoricalOptions, legacyFloat32: Bool,
                           reuseUnchanged: Bool) throws {
        // Per sample and masked position: log-probabilities (float64 path) or float32
        // probabilities (legacy path), computed once per network call, not once per step.
        // The cache is per sample: in a batch, a sample in which nothing unmasked is not
        // sent to the network again (else every sample would pay for the busiest one, and
        // its NFE would depend on the batch size).
        var cachedPositions = [[Int]?](repeating: nil, count: B)
        var cachedLogProbs = [[[Double]]](repeating: [], count: B)
        var cachedProbs32 = [[[Float]]](repeating: [], count: B)
        for i in stride(from: T, through: 1, by: -1) {
            let t = Double(i) / Double(T), s = Double(i - 1) / Double(T)
            let at = schedule.alpha(t), as_ = i == 1 ? 1.0 : schedule.alpha(s)
            let positions = (0..<B).map { maskedPositions($0) }
            if positions.allSatisfy({ $0.isEmpty }) { break }
            let wanted = (0..<B).map { b in reuseUnchanged && cachedPositions[b] == positions[b] ? [] : positions[b] }
            if wanted.contains(where: { !$0.isEmpty }) {
                let rows = try call(wanted)
                for b in 0..<B where !wanted[b].isEmpty {
                    cachedPositions[b] = positions[b]
                    cachedLogProbs[b] = rows[b].map { logProbabilities($0, options) }
                    if legacyFloat32 { cachedProbs32[b] = cachedLogProbs[b].map { $0.map { Float(exp($0)) } } }
                }
            }
            let logMove = log(as_ - at) - log(1 - at)
            let logStay = log(1 - as_) - log(1 - at)
            // q_j = p_j·(move_t − move_s), q_mask = move_s (move = 1 − α), in float32.
            let moveGap = Float(as_ - at), moveS = Float(1 - as_)
            for b in 0..<B {
                var rng = rngs[b]  // a local copy: no exclusivity check per draw
                defer { rngs[b] = rng }
                for (j, pos) in positions[b].enumerated() {
                    var best = mask
                    if legacyFloat32 {
                        var bestScore = -Float.infinity
                        cachedProbs32[b][j].withUnsafeBufferPointer { p in
                            for v in 0..<V {
                                let q = v == mask ? moveS : p[v] * moveGap
                                // As MDLM's _sample_categorical: 1e-10 − log(u + 1e-10), in float32.
                                let e = 1e-10 - logf(rng.uniform32() + 1e-10)
                                let score = q / e
                                if score > bestScore { bestScore = score; best = v }
                            }
                        }
                    } else {
                        var bestScore = -Double.infinity
                        cachedLogProbs[b][j].withUnsafeBufferPointer { lp in
                            for v in 0..<V {
                                let score = (v == mask ? logStay : lp[v] + logMove) + rng.gumbel64()
                                if score > bestScore { bestScore = score; best = v }
                            }
                        }
                    }
                    if best != mask { seqs[b][pos] = best }
                }
            }
            observer?(seqs)
        }
    }

    // MARK: Planner–denoiser loop (fhs, uniform, confidence, margin, entropy)

    /// Each step the planner picks up to k masked positions per sample, the denoiser
    /// proposes their tokens (one call), and they are committed. With the uniform planner
    /// and k = 1 this is the first-hitting sampler: exactly one uniformly chosen position
    /// unmasks per call, which is the ancestral sampler's T→∞ limit; NFE = number of masked
    /// positions. Confidence-type planners first ask for every masked position, so their
    /// one call per step both ranks the positions and supplies the tokens.
    /// A planner's choice must be 1...count distinct masked positions: a planner written
    /// outside this module gets an error, not a trap or a loop that never ends.
    func checkChoice(_ chosen: [Int], masked: [Int], count: Int) throws {
        guard !chosen.isEmpty, chosen.count <= count, Set(chosen).count == chosen.count,
              chosen.allSatisfy({ masked.contains($0) }) else {
            throw UnmaskError("the planner chose \(chosen.prefix(8)) but must choose 1...\(count) distinct masked positions")
        }
    }

    /// The planner–denoiser loop. Each step the planner picks up to k masked positions and
    /// each is drawn from the denoiser (k and the draw options come from `spec`). With the
    /// faster decoding rules of the spec:
    /// - `block`: only positions of the leftmost block that still has a mask are candidates.
    /// - `threshold`: the denoiser is asked at every candidate, and every candidate whose
    ///   top probability is at least τ is drawn, or, if none is, the planner's choice.
    /// - `factor`: the same, with Fast-dLLM's factor rule choosing the candidates: ranked
    ///   by top probability c₁ ≥ c₂ ≥ …, the first n with c_i ≥ 1 − f/(i + 1) for every i ≤ n.
    /// - `remask`: while the filled fraction of the free positions is inside the window,
    ///   after each step one committed free token, drawn uniformly, is masked again with
    ///   probability `remask`.
    ///
    /// Exactness, for a denoiser with exact conditionals: with one token per call and no
    /// threshold the loop draws each token from its conditional given the tokens revealed
    /// so far, in an order that depends only on those tokens, so by the chain rule it
    /// samples the joint exactly, whatever the planner and with or without `block`. Remasking
    /// keeps it exact too: masking a token chosen without looking at its value leaves the
    /// others distributed as their joint marginal, and the token is later redrawn from its
    /// conditional (tested on the exact toy). `k > 1`, `threshold` and `factor` are not exact: tokens
    /// drawn in the same call are drawn independently, from their marginals. For a trained
    /// network no sampler is exact; these statements say what each rule adds.
    func plannerLoop(_ planner: Planner, spec rules: SamplerSpec) throws {
        let k = rules.k, options = rules.draw
        let free = (0..<B).map { b in seqs[b].indices.filter { !fixed[b][$0] } }
        var steps = 0
        // Remasking can undo progress; a hard bound keeps the loop finite whatever happens.
        let maxSteps = 20 * ((free.map(\.count).max() ?? 0) + 1)
        while true {
            var masked = (0..<B).map { maskedPositions($0) }
            if masked.allSatisfy({ $0.isEmpty }) { break }
            steps += 1
            if steps > maxSteps { throw UnmaskError("the sampler made \(maxSteps) steps without finishing (remask too high?)") }
            if let K = rules.block {
                for b in 0..<B where !masked[b].isEmpty {
                    let current = masked[b][0] / K
                    masked[b] = masked[b].filter { $0 / K == current }
                }
            }
            if planner.needsDenoiserEverywhere || rules.threshold != nil || rules.factor != nil || rules.entropyBound != nil {
                let rows = try call(masked)
                // Positions are ranked on the model's distribution at the draw's temperature,
                // before top_k/top_p cut it (as LLaDA, SDAR, Fast-dLLM and dLLM rank them):
                // under greedy decoding (top_k 1) every cut distribution would be sure.
                var ranking = options
                (ranking.topK, ranking.topP) = (nil, nil)
                let cut = options.topK != nil || options.topP != nil
                for b in 0..<B where !masked[b].isEmpty {
                    let lps = rows[b].map { logProbabilities($0, options) }
                    let scores = cut ? rows[b].map { logProbabilities($0, ranking) } : lps
                    var chosen: [Int] = []
                    if let tau = rules.threshold {
                        for (j, i) in masked[b].enumerated() where exp(scores[j].max() ?? -.infinity) >= tau { chosen.append(i) }
                    } else if let f = rules.factor {
                        chosen = SamplingRun.factorRule(masked[b], confidences: scores.map { exp($0.max() ?? -.infinity) }, factor: f)
                    } else if let bound = rules.entropyBound {
                        chosen = SamplingRun.entropyBoundRule(masked[b], logProbabilities: scores, bound: bound)
                    }
                    if chosen.count < k {
                        chosen = planner.choose(masked: masked[b], logProbabilities: scores, count: k, rng: &rngs[b])
                        try checkChoice(chosen, masked: masked[b], count: k)
                    }
                    for i in chosen {
                        let j = masked[b].firstIndex(of: i)!
                        seqs[b][i] = Categorical.sample(logProbabilities: lps[j], options: options, rng: &rngs[b])
                    }
                }
            } else {
                var chosen = [[Int]](repeating: [], count: B)
                for b in 0..<B where !masked[b].isEmpty {
                    chosen[b] = planner.choose(masked: masked[b], logProbabilities: nil, count: k, rng: &rngs[b])
                    try checkChoice(chosen[b], masked: masked[b], count: k)
                }
                let rows = try call(chosen)
                for b in 0..<B {
                    for (j, i) in chosen[b].enumerated() { seqs[b][i] = draw(rows[b][j], options, b) }
                }
            }
            if let rate = rules.remask {
                for b in 0..<B where !free[b].isEmpty {
                    let committed = free[b].filter { seqs[b][$0] != mask }
                    let filled = Double(committed.count) / Double(free[b].count)
                    // Both uniforms are drawn at every step in the window, whatever happens,
                    // so the stream's use does not depend on the outcome.
                    guard rules.remaskWindow.contains(filled), committed.count < free[b].count else { continue }
                    let u = rngs[b].uniform64()
                    let pick = rngs[b].int(below: committed.count)
                    if u < rate { seqs[b][committed[pick]] = mask }
                }
            }
            observer?(seqs)
        }
    }

    /// The entropy-bounded rule: positions ranked by predictive entropy H (lowest first; ties:
    /// lower position first), the longest prefix whose entropies sum to at most `bound`.
    static func entropyBoundRule(_ positions: [Int], logProbabilities lps: [[Double]], bound: Double) -> [Int] {
        let entropy = lps.map { lp in lp.reduce(0.0) { $1 > -.infinity ? $0 - exp($1) * $1 : $0 } }
        let order = positions.indices.sorted { entropy[$0] != entropy[$1] ? entropy[$0] < entropy[$1] : positions[$0] < positions[$1] }
        var total = 0.0, chosen: [Int] = []
        for j in order {
            total += entropy[j]
            guard total <= bound else { break }
            chosen.append(positions[j])
        }
        return chosen
    }

    /// Fast-dLLM's factor rule: positions ranked by confidence (ties: lower position first);
    /// the longest prefix of the ranking whose i-th (from 1) has confidence ≥ 1 − f/(i + 1).
    static func factorRule(_ positions: [Int], confidences: [Double], factor f: Double) -> [Int] {
        let order = positions.indices.sorted {
            confidences[$0] != confidences[$1] ? confidences[$0] > confidences[$1] : positions[$0] < positions[$1]
        }
        var chosen: [Int] = []
        for (rank, j) in order.enumerated() {
            guard confidences[j] >= 1 - f / Double(rank + 2) else { break }
            chosen.append(positions[j])
        }
        return chosen
    }

    // MARK: DDPD

    /// Planned denoising (Liu et al. 2024). Each step the planner model gives every
    /// position the probability that its token is corrupted (masked positions: 1); one
    /// free position is drawn in proportion to those probabilities. If it holds a
    /// committed token, that token is masked again (the loop revises its own mistakes);
    /// then the denoiser proposes the position's token. After `steps` steps (default: the
    /// number of positions to fill) only masked positions are chosen, so the loop ends.
    /// NFE counts denoiser calls; planner calls are reported apart.
    func ddpd(detector: CorruptionDetector, steps: Int?, draw options: CategoricalOptions) throws {
        // Noise tokens for the planner's view: the ordinary ids its training noise drew from.
        let noise = try OrdinaryIds(vocabSize: V, specials: detector.specialIds.union([mask]))
        let budget = (0..<B).map { b in steps ?? maskedPositions(b).count }
        var done = [Int](repeating: 0, count: B)
        while true {
            let masked = (0..<B).map { maskedPositions($0) }
            let active = (0..<B).filter { !masked[$0].isEmpty || done[$0] < budget[$0] }
            if active.isEmpty { break }
            // The planner is trained on uniform-noise corruption and has never seen the mask
            // token, so masked positions are shown to it as uniformly random tokens (which
            // is what they are to it: noise). Their probability is set to 1 below anyway.
            let plannerInput = (0..<B).map { b in
                seqs[b].map { $0 == mask ? noise.draw(&rngs[b]) : $0 }
            }
            let t0 = monotonicSeconds()
            let probs = try detector.corruptionProbabilities(sequences: plannerInput)
            networkSeconds += monotonicSeconds() - t0
            var chosen = [[Int]](repeating: [], count: B)
            for b in active {
                plannerCalls[b] += 1
                let free = seqs[b].indices.filter { !fixed[b][$0] }
                let weights: [Double] = free.map { i in
                    if seqs[b][i] == mask { return 1 }
                    return done[b] < budget[b] ? min(1, max(0, probs[b][i])) : 0
                }
                let total = weights.reduce(0, +)
                if total <= 0 { done[b] = budget[b]; continue }
                var u = rngs[b].uniform64() * total
                var pick = free.last!
                for (j, w) in weights.enumerated() where w > 0 {
                    if u < w { pick = free[j]; break }
                    u -= w
                }
                seqs[b][pick] = mask
                chosen[b] = [pick]
                done[b] += 1
            }
            if chosen.allSatisfy({ $0.isEmpty }) { continue }
            let rows = try call(chosen)
            for b in 0..<B {
                for (j, i) in chosen[b].enumerated() { seqs[b][i] = draw(rows[b][j], options, b) }
            }
            observer?(seqs)
        }
    }

    // MARK: P2

    /// Path planning (Peng et al. 2025), self-planning variant. Over S steps the number of
    /// committed free positions grows as ⌈n·N/S⌉. Each step the denoiser scores every free
    /// position: masked ones by the probability of a freshly sampled proposal, committed
    /// ones by the probability it gives their current token. With Gumbel noise of scale η
    /// on the log-scores (η = 0: greedy), the top ⌈n·N/S⌉ positions are kept — proposals
    /// committed, committed tokens kept — and all others are (re)masked.
    func p2(steps: Int?, eta: Double, draw options: CategoricalOptions) throws {
        let free = (0..<B).map { b in seqs[b].indices.filter { !fixed[b][$0] } }
        let S = steps ?? (free.map(\.count).max() ?? 0)
        if S == 0 { return }
        for n in 1...S {
            let rows = try call(free)
            for b in 0..<B where !free[b].isEmpty {
                let N = free[b].count
                let keep = (n * N + S - 1) / S
                var proposals = seqs[b]
                var scores: [Double] = []
                for (j, i) in free[b].enumerated() {
                    let lp = logProbabilities(rows[b][j], options)
                    if seqs[b][i] == mask {
                        proposals[i] = Categorical.sample(logProbabilities: lp, options: options, rng: &rngs[b])
                    }
                    let score = lp[proposals[i]]
                    scores.append(score + (eta > 0 ? eta * rngs[b].gumbel64() : 0))
                }
                let order = free[b].indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
                for (rank, j) in order.enumerated() {
                    let i = free[b][j]
                    seqs[b][i] = rank < keep ? proposals[i] : mask
                }
            }
            observer?(seqs)
        }
    }
}
