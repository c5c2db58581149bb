#if canImport(Glibc)
import Glibc
#endif
import UnmaskSupport

/// A sampler as a user names it: `NAME[:key=value…]`, e.g.
/// `ancestral:steps=1000:precision=float32:reuse=off`, `fhs:k=4`, `confidence:temperature=0.8`.
///
/// | name        | what it is                                                   | keys |
/// |-------------|--------------------------------------------------------------|------|
/// | ancestral   | D3PM/MDLM ancestral sampling on a T-step grid                | steps, schedule, reuse, + draw keys |
/// | fhs         | first-hitting sampler (exact; k>1 unmasks k per call)        | k, + draw keys |
/// | uniform     | planner loop with a uniform random planner (= fhs)           | k, + draw keys |
/// | confidence  | planner loop: unmask where the max probability is highest    | k, + draw keys |
/// | margin      | planner loop: largest top1 − top2 probability gap            | k, + draw keys |
/// | entropy     | planner loop: lowest predictive entropy                      | k, + draw keys |
/// | ddpd        | planner loop with the learned DDPD planner (can revise)      | steps, + draw keys |
/// | p2          | P2 path planning: remask low-scoring committed tokens        | steps, eta, + draw keys |
/// | speculative | fhs's law, up to k tokens per round by speculative verification | k, + draw keys |
///
/// Draw keys (every sampler): temperature, top_k, top_p, precision=float64|float32,
/// method=gumbel|icdf.
public struct SamplerSpec: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        case ancestral, fhs, uniform, confidence, margin, entropy, ddpd, p2, speculative
    }

    public var kind: Kind
    public var draw = CategoricalOptions()
    /// ancestral: grid steps T; ddpd/p2: planning steps (nil = one per position to fill).
    public var steps: Int?
    public var schedule: NoiseSchedule = .linear
    /// ancestral: reuse the network's output across grid steps where no token changed
    /// (MDLM's caching; the same samples, fewer calls). Not a key-value cache.
    public var reuse = true
    /// Tokens unmasked per network call (fhs, uniform, confidence, margin, entropy).
    public var k = 1
    /// p2 stochasticity: Gumbel noise of this scale on the log-scores (0 = greedy top-k).
    public var eta = 1.0
    /// The field's faster decoding rules, on the planner-loop samplers (fhs, uniform,
    /// confidence, margin, entropy); see `Run.plannerLoop` for which are exact.
    /// LLaDA's semi-autoregressive schedule: the canvas in blocks of this many positions,
    /// unmasked left to right (positions only from the leftmost block with a mask).
    public var block: Int?
    /// Fast-dLLM's parallel decoding: each call unmasks every candidate whose top
    /// probability is at least this (and at least the planner's own choice).
    public var threshold: Double?
    /// Fast-dLLM's factor rule: candidates ranked by top probability, the n-th (from 1) is
    /// unmasked while it and every one before it reach 1 − f/(n + 1) (so one sure token
    /// needs 1 − f/2, two need 1 − f/3 for the second, …), else the planner's own choice.
    public var factor: Double?
    /// The entropy-bounded rule (EB-sampler; SDAR's `entropy_bounded`): candidates ranked by
    /// predictive entropy, lowest first, and the longest run of them whose entropies add up
    /// to at most this (nats) is unmasked, at least `k`.
    public var entropyBound: Double?
    /// ReMDM-style remasking: while the fraction of free positions filled is within
    /// `remaskWindow`, after each step one committed token, drawn uniformly, is masked
    /// again with probability `remask`, so the sampler can revise it.
    public var remask: Double?
    public var remaskWindow: ClosedRange<Double> = 0.5...0.9

    public init(kind: Kind) { self.kind = kind }

    static let drawKeys = ["temperature", "top_k", "top_p", "precision", "method"]

    static func allowedKeys(_ kind: Kind) -> [String] {
        switch kind {
        case .ancestral: return ["steps", "schedule", "reuse"] + drawKeys
        case .fhs, .uniform, .confidence, .margin, .entropy: return ["k", "block", "threshold", "factor", "entropy_bound", "remask", "remask_window"] + drawKeys
        case .ddpd: return ["steps"] + drawKeys
        case .p2: return ["steps", "eta"] + drawKeys
        case .speculative: return ["k"] + drawKeys
        }
    }

    /// What `--help` and docs/samplers.md, "The samplers", print: every sampler and every key, with its range.
    public static let helpText = """
    A sampler is NAME[:key=value...], e.g. fhs:top_p=0.9 or confidence:k=2.
      fhs         first-hitting sampler, exact. k: tokens per call (default 1)
      ancestral   D3PM/MDLM ancestral sampler on a grid of steps.
                  steps: 1...10000000 (default 1000);
                  schedule: linear | cosine | loglinear; reuse: on | off
      uniform     planner loop, random order (same distribution as fhs). k
      confidence  planner loop, most probable position first. k
      margin      planner loop, largest top-1 minus top-2 first. k
      entropy     planner loop, lowest predictive entropy first. k
      ddpd        learned DDPD planner; can revise tokens (its corruption
                  detector, models/corruption-detector). steps
      p2          P2 path planning; remasks low-scoring tokens. steps,
                  eta: >= 0 (default 1)
      speculative exact (fhs's law), up to k tokens per round: k drafts
                  from one call, verified by one batched call. k (default 4)
    Faster decoding, on fhs, uniform, confidence, margin and entropy:
      block       K >= 1: LLaDA's schedule, blocks of K unmasked left to right
      threshold   in (0, 1]: Fast-dLLM, unmask every position this sure per call
      factor      > 0: Fast-dLLM's factor rule, the n-th surest position is
                  unmasked if it and those before reach 1 - factor/(n+1)
      entropy_bound > 0: unmask the lowest-entropy positions while their
                  entropies add up to at most this many nats (EB-sampler)
    threshold, factor and entropy_bound unmask at least k per call.
      remask      in (0, 1): ReMDM-style, remask one committed token with this
                  probability per step while remask_window (default 0.5-0.9)
                  of the positions are filled
    Draw keys, on every sampler:
      temperature > 0 (default 1); below ~1e-300 every draw is the argmax
      top_k       >= 1: keep the k most probable tokens
      top_p       in (0, 1]: keep the fewest tokens holding probability p
      precision   float64 (exact, default) | float32 (legacy, biased)
      method      gumbel (default) | icdf (inverse CDF, float64 only)
    """

    /// Parses and validates a spec; errors name the bad part and list what is allowed.
    public static func parse(_ text: String) throws -> SamplerSpec {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard let name = parts.first, let kind = Kind(rawValue: name) else {
            let names = Kind.allCases.map(\.rawValue).joined(separator: ", ")
            throw UnmaskError("unknown sampler \"\(parts.first ?? text)\" (known: \(names))")
        }
        var spec = SamplerSpec(kind: kind)
        if kind == .ancestral { spec.steps = 1000 }
        if kind == .speculative { spec.k = 4 }
        var seen: [String] = []
        for part in parts.dropFirst() {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[0].isEmpty else {
                throw UnmaskError("sampler \(name): \"\(part)\" is not key=value")
            }
            // `cache` is the old spelling of `reuse` (accepted, not listed).
            let (key, value) = (kind == .ancestral && kv[0] == "cache" ? "reuse" : kv[0], kv[1])
            guard allowedKeys(kind).contains(key) else {
                throw UnmaskError("sampler \(name) has no key \"\(key)\" (keys: \(allowedKeys(kind).joined(separator: ", ")))")
            }
            guard !seen.contains(key) else { throw UnmaskError("sampler \(name): key \(key) given twice") }
            seen.append(key)
            func int() throws -> Int {
                guard let v = Int(value) else { throw UnmaskError("sampler \(name): \(key)=\(value) is not an integer") }
                return v
            }
            func double() throws -> Double {
                guard let v = Double(value), v.isFinite else { throw UnmaskError("sampler \(name): \(key)=\(value) is not a finite number") }
                return v
            }
            switch key {
            case "steps": try spec.setSteps(try int())
            case "k": try spec.setTokensPerCall(try int())
            case "schedule":
                guard let s = NoiseSchedule(rawValue: value) else {
                    throw UnmaskError("sampler \(name): schedule must be one of \(NoiseSchedule.allCases.map(\.rawValue).joined(separator: "|"))")
                }
                spec.schedule = s
            case "reuse":
                guard value == "on" || value == "off" else { throw UnmaskError("sampler \(name): reuse must be on or off") }
                spec.reuse = value == "on"
            case "block":
                let v = try int()
                guard v >= 1 else { throw UnmaskError("sampler \(name): block must be at least 1, got \(v)") }
                spec.block = v
            case "threshold": try spec.setThreshold(try double())
            case "factor":
                let v = try double()
                guard v > 0 && v <= 2 else { throw UnmaskError("sampler \(name): factor must be in (0, 2], got \(v)") }
                spec.factor = v
            case "entropy_bound":
                let v = try double()
                guard v > 0 && v.isFinite else { throw UnmaskError("sampler \(name): entropy_bound must be a number of nats > 0, got \(v)") }
                spec.entropyBound = v
            case "remask":
                let v = try double()
                guard v > 0 && v < 1 else { throw UnmaskError("sampler \(name): remask must be a probability in (0, 1), got \(v)") }
                spec.remask = v
            case "remask_window":
                let ends = value.split(separator: "-", omittingEmptySubsequences: false).map { Double($0) }
                guard ends.count == 2, let a = ends[0], let b = ends[1], a.isFinite, b.isFinite, 0 <= a, a < b, b <= 1 else {
                    throw UnmaskError("sampler \(name): remask_window must be FROM-TO with 0 <= FROM < TO <= 1 (fractions of the positions filled), got \(value)")
                }
                spec.remaskWindow = a...b
            case "eta":
                let v = try double()
                guard v >= 0 else { throw UnmaskError("sampler \(name): eta must be >= 0, got \(v)") }
                spec.eta = v
            case "temperature":
                let v = try double()
                // "1e-400" parses as 0: say why, rather than "got 0.0".
                guard v > 0 || !(value.contains("e-") || value.contains("E-")) else {
                    throw UnmaskError("sampler \(name): temperature=\(value) is below the smallest positive Double (about 5e-324)")
                }
                spec.draw.temperature = v
            case "top_k": spec.draw.topK = try int()
            case "top_p": spec.draw.topP = try double()
            case "precision":
                guard let p = SamplingPrecision(rawValue: value) else { throw UnmaskError("sampler \(name): precision must be float64 or float32") }
                spec.draw.precision = p
            case "method":
                guard let m = CategoricalMethod(rawValue: value) else { throw UnmaskError("sampler \(name): method must be gumbel or icdf") }
                spec.draw.method = m
            default: break
            }
        }
        if [spec.threshold, spec.factor, spec.entropyBound].compactMap({ $0 }).count > 1 {
            throw UnmaskError("sampler \(name): threshold, factor and entropy_bound are three parallel-decoding rules; give one")
        }
        do {
            try spec.draw.validate()
        } catch let e as UnmaskError {
            throw UnmaskError("sampler \(name): \(e.message)")
        }
        return spec
    }

    // MARK: Typed keys
    // The keys a front end may also give as typed settings (the server's `unmask.steps`),
    // checked here once whichever way they come. Each replaces the spec's own value.

    mutating func setSteps(_ v: Int) throws {
        guard v >= 1 && v <= 10_000_000 else { throw UnmaskError("sampler \(kind.rawValue): steps must be in 1...10000000, got \(v)") }
        steps = v
    }
    mutating func setTokensPerCall(_ v: Int) throws {
        guard v >= 1 else { throw UnmaskError("sampler \(kind.rawValue): k must be at least 1, got \(v)") }
        k = v
    }
    mutating func setThreshold(_ v: Double) throws {
        guard v > 0 && v <= 1 else { throw UnmaskError("sampler \(kind.rawValue): threshold must be in (0, 1], got \(v)") }
        threshold = v
    }

    /// Overrides from typed settings (nil: keep the spec's value), each checked as if it
    /// were in the spec: a key this sampler does not take is an error naming the setting.
    public mutating func override(steps: Int? = nil, tokensPerCall: Int? = nil, threshold: Double? = nil) throws {
        func allow(_ key: String, _ setting: Setting) throws {
            guard Self.allowedKeys(kind).contains(key) else {
                throw SettingError(setting, "⟨\(setting.rawValue)⟩ does not apply to sampler \(kind.rawValue) (its keys: \(Self.allowedKeys(kind).joined(separator: ", ")))")
            }
        }
        do {
            if let steps { try allow("steps", .steps); try setSteps(steps) }
            if let tokensPerCall { try allow("k", .tokensPerCall); try setTokensPerCall(tokensPerCall) }
            if let threshold { try allow("threshold", .threshold); try setThreshold(threshold) }
            if self.threshold != nil && factor != nil {
                throw UnmaskError("sampler \(kind.rawValue): threshold and factor are two parallel-decoding rules; give one")
            }
        } catch let e as UnmaskError { throw SettingError(.sampler, e.message) }
    }

    /// The draw overrides (nil: keep the spec's). Temperature 0 means greedy, the argmax of
    /// every draw: top_k 1 with the spec's temperature (a temperature of 0 itself has no
    /// softmax). Checked with the spec's own draw keys.
    public mutating func override(temperature: Double? = nil, topP: Double? = nil, topK: Int? = nil,
                                  precision: SamplingPrecision? = nil) throws {
        if let temperature {
            guard temperature >= 0, temperature.isFinite else { throw SettingError(.temperature, "⟨temperature⟩ must be a number >= 0, got \(temperature)") }
            if temperature == 0 { draw.topK = 1 } else { draw.temperature = temperature }
        }
        if let topP { draw.topP = topP }
        if let topK { draw.topK = topK }
        if let precision { draw.precision = precision }
        do { try draw.validate() } catch let e as UnmaskError {
            let setting: Setting = topP != nil && e.message.contains("top-p") ? .topP : topK != nil && e.message.contains("top-k") ? .topK : .sampler
            throw SettingError(setting, e.message)
        }
    }

    /// The canonical spec text (defaults omitted, except ancestral's step count), e.g. for JSON output.
    public var description: String {
        var parts = [kind.rawValue]
        if let steps { parts.append("steps=\(steps)") }
        if kind == .ancestral {
            if schedule != .linear { parts.append("schedule=\(schedule.rawValue)") }
            if !reuse { parts.append("reuse=off") }
        }
        if k != 1 { parts.append("k=\(k)") }
        if kind == .p2 && eta != 1 { parts.append("eta=\(eta)") }
        if let block { parts.append("block=\(block)") }
        if let threshold { parts.append("threshold=\(threshold)") }
        if let factor { parts.append("factor=\(factor)") }
        if let entropyBound { parts.append("entropy_bound=\(entropyBound)") }
        if let remask {
            parts.append("remask=\(remask)")
            if remaskWindow != 0.5...0.9 { parts.append("remask_window=\(remaskWindow.lowerBound)-\(remaskWindow.upperBound)") }
        }
        if draw.temperature != 1 { parts.append("temperature=\(draw.temperature)") }
        if let t = draw.topK { parts.append("top_k=\(t)") }
        if let p = draw.topP { parts.append("top_p=\(p)") }
        if draw.precision != .float64 { parts.append("precision=\(draw.precision.rawValue)") }
        if draw.method != .gumbel { parts.append("method=\(draw.method.rawValue)") }
        return parts.joined(separator: ":")
    }
}
