#if canImport(Glibc)
import Glibc
#endif
import UnmaskSupport

/// A steering method as a user names it, in the samplers' grammar: `NAME[:key=value…]`,
/// e.g. `cfg:gamma=2:mode=smc:particles=8`, `anneal:beta=2:mode=exact`, `bon:n=8`,
/// `smc:particles=8:lambda=10:every=16`, `svdd:m=8`.
///
/// Every method runs on the first-hitting kernel (one uniformly chosen position per step,
/// drawn from a proposal), which is what makes the `exact` and `smc` modes exact: see
/// `SteeringEngine` for the identity and `helpText` for what each method samples.
public struct SteeringSpec: Equatable, Sendable, CustomStringConvertible {
    public enum Method: String, Sendable, CaseIterable {
        /// Classifier-free guidance: p_c^γ p_u^(1−γ), the unconditional branch being the
        /// canvas with its condition (prompt, template text, class token) masked.
        case cfg
        /// p^β.
        case anneal
        /// p(x)·e^{λ r(x)} for a reward additive over tokens (word lists; −∞ bans).
        case tilt
        /// Best of n independent draws by reward.
        case bon
        /// Feynman–Kac steering: particles with potential e^{λ(r(x̂₀) − r(previous x̂₀))}.
        case smc
        /// SVDD: each step, m candidate tokens, keep the one whose x̂₀ has the best reward.
        case svdd
        /// D-CBG: each step p(v)·p(c | x, v)^γ, with a classifier of partially masked text.
        case cbg
    }

    /// What is done with the path weights of cfg, anneal and tilt.
    public enum Mode: String, Sendable, CaseIterable {
        /// Per-step tempering, weights dropped, as the papers do: not the sequence target.
        case paper
        /// Rejection: accept a path with probability W (only where W ≤ 1 is guaranteed).
        case exact
        /// Particles resampled by W: consistent as the particle count grows.
        case smc
    }

    public enum Resampling: String, Sendable, CaseIterable { case multinomial, systematic }

    /// What a run returns for each sample.
    public enum Output: String, Sendable, CaseIterable {
        /// One particle drawn in proportion to its final weight (a sample of the target,
        /// approximately, and exactly as particles → ∞).
        case sample
        /// The particle with the highest reward (FK steering's and best-of-n's choice):
        /// not a sample of any stated target.
        case best
        /// Every particle with its log-weight, and log Ẑ.
        case all
    }

    public var method: Method
    public var gamma = 1.0
    public var beta = 1.0
    public var lambda = 1.0
    public var mode = Mode.paper
    public var particles = 1
    public var n = 8
    public var m = 8
    /// SVDD: 0 keeps the best candidate (as shipped); α > 0 draws one ∝ e^{r/α}.
    public var alpha = 0.0
    /// Resample every this many steps (nil: by ESS only).
    public var every: Int?
    /// Resample when ESS < ess·particles (nil: on `every` only; both nil: at ess = 0.5).
    public var ess: Double?
    public var resampling = Resampling.systematic
    public var output = Output.sample
    /// Guidance interval: γ applies only while the masked fraction is inside it.
    public var interval: ClosedRange<Double>?
    /// Rejection: proposals tried per sample before giving up with an error.
    public var tries = 10_000

    public init(method: Method) { self.method = method }

    /// The most particles (or candidates) one sample may use; memory is checked apart.
    public static let maxParticles = 4096

    static func allowedKeys(_ m: Method) -> [String] {
        let population = ["particles", "every", "ess", "resample", "output"]
        switch m {
        case .cfg: return ["gamma", "mode", "interval", "tries"] + population
        case .anneal: return ["beta", "mode", "tries"] + population
        case .tilt: return ["lambda", "mode", "tries"] + population
        case .bon: return ["n"]
        case .smc: return ["lambda"] + population
        case .svdd: return ["m", "alpha"]
        case .cbg: return ["gamma"]
        }
    }

    /// What `--help` prints: every method with the distribution it samples, one line each.
    public static let helpText = """
    A steering method is NAME[:key=value...], e.g. cfg:gamma=2:mode=smc:particles=8.
    p is the model, p_c given the condition, p_u with the condition masked, r the --reward.
      cfg     gamma >= 0. mode=paper: per-step p_c^g p_u^(1-g), not the sequence target;
              mode=exact (gamma <= 1): p(x|c)^g p(x)^(1-g) exactly, by rejection;
              mode=smc: that target, consistent in particles. interval=A-B (paper only)
    anneal    beta > 0. mode=paper: per-token temperature 1/beta, not p^beta;
              mode=exact (beta >= 1): p(x)^beta by rejection; mode=smc: p^beta, consistent
    tilt      lambda >= 0, additive reward (words). mode=paper: per-token tilt, not the
              target; exact/smc: p(x) e^(lambda r(x)); words:exclude=... bans exactly
    bon       n >= 1: the best of n draws by r; samples the law of the maximum, not p
    smc       FK steering. particles (8), lambda (10): target p(x) e^(lambda r(x)) with
              output=sample (consistent in particles); output=best is FK's choice and
              samples no target. Potentials on x0-hat every=16 steps unless given
    svdd      m >= 1 candidates per step, keep the best x0-hat reward (alpha=0, as shipped)
              or draw one by e^(r/alpha): a per-step heuristic with no sequence target
    cbg       gamma >= 0, --class: D-CBG, per step p(v) p(c | x, v)^gamma with the classifier
              of partly masked text; at gamma=1 and an exact classifier, p(x|c) exactly
    Population keys (cfg, anneal, tilt with mode=smc; smc): particles 1...4096,
      every=K steps and/or ess=T in (0, 1] (default ess=0.5), resample=systematic|multinomial,
      output=sample|best|all. Rejection key: tries (default 10000).
    """

    public static func parse(_ text: String) throws -> SteeringSpec {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard let name = parts.first, let method = Method(rawValue: name) else {
            throw UnmaskError("unknown steering method \"\(parts.first ?? text)\" (known: \(Method.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var spec = SteeringSpec(method: method)
        if method == .smc { spec.mode = .smc; spec.particles = 8; spec.lambda = 10 }
        var seen: [String] = []
        for part in parts.dropFirst() {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[0].isEmpty else { throw UnmaskError("steering \(name): \"\(part)\" is not key=value") }
            let (key, value) = (kv[0], kv[1])
            guard allowedKeys(method).contains(key) else {
                throw UnmaskError("steering \(name) has no key \"\(key)\" (keys: \(allowedKeys(method).joined(separator: ", ")))")
            }
            guard !seen.contains(key) else { throw UnmaskError("steering \(name): key \(key) given twice") }
            seen.append(key)
            func int(_ range: ClosedRange<Int>) throws -> Int {
                guard let v = Int(value), range.contains(v) else {
                    throw UnmaskError("steering \(name): \(key) must be an integer in \(range.lowerBound)...\(range.upperBound), got \(value)")
                }
                return v
            }
            func double(_ ok: (Double) -> Bool, _ what: String) throws -> Double {
                guard let v = Double(value), v.isFinite, ok(v) else {
                    throw UnmaskError("steering \(name): \(key) must be a finite number \(what), got \(value)")
                }
                return v
            }
            func choice<E: RawRepresentable & CaseIterable>(_: E.Type) throws -> E where E.RawValue == String {
                guard let e = E(rawValue: value) else {
                    throw UnmaskError("steering \(name): \(key) must be one of \(E.allCases.map(\.rawValue).joined(separator: "|")), got \(value)")
                }
                return e
            }
            switch key {
            case "gamma": spec.gamma = try double({ $0 >= 0 }, ">= 0")
            case "beta": spec.beta = try double({ $0 > 0 }, "> 0")
            case "lambda": spec.lambda = try double({ $0 >= 0 }, ">= 0")
            case "mode": spec.mode = try choice(Mode.self)
            case "particles": spec.particles = try int(1...maxParticles)
            case "n": spec.n = try int(1...maxParticles)
            case "m": spec.m = try int(1...maxParticles)
            case "alpha": spec.alpha = try double({ $0 >= 0 }, ">= 0")
            case "every": spec.every = try int(1...1_000_000)
            case "ess": spec.ess = try double({ $0 > 0 && $0 <= 1 }, "in (0, 1]")
            case "resample": spec.resampling = try choice(Resampling.self)
            case "output": spec.output = try choice(Output.self)
            case "tries": spec.tries = try int(1...100_000_000)
            case "interval":
                let ends = value.split(separator: "-", omittingEmptySubsequences: false).map { Double($0) }
                guard ends.count == 2, let a = ends[0], let b = ends[1], a.isFinite, b.isFinite, 0 <= a, a < b, b <= 1 else {
                    throw UnmaskError("steering \(name): interval must be FROM-TO with 0 <= FROM < TO <= 1 (masked fractions), got \(value)")
                }
                spec.interval = a...b
            default: break
            }
        }
        try spec.validate()
        return spec
    }

    /// The combinations that have no stated target, refused with the reason.
    public func validate() throws {
        let name = method.rawValue
        let population = particles > 1 || every != nil || ess != nil
        if [.cfg, .anneal, .tilt].contains(method) {
            if mode != .smc && population {
                throw UnmaskError("steering \(name): particles, every and ess need mode=smc (mode=\(mode.rawValue) draws one path at a time)")
            }
            if mode == .exact {
                if method == .cfg && gamma > 1 {
                    throw UnmaskError("steering cfg: mode=exact needs gamma <= 1 (for gamma = \(gamma) the path weight is unbounded, so rejection cannot be exact); use mode=smc:particles=K")
                }
                if method == .anneal && beta < 1 {
                    throw UnmaskError("steering anneal: mode=exact needs beta >= 1 (for beta = \(beta) the path weight is unbounded); use mode=smc:particles=K")
                }
            }
            if interval != nil && mode != .paper {
                throw UnmaskError("steering cfg: a guidance interval has no sequence-level target (the weight would depend on the order), so it needs mode=paper")
            }
            if mode == .smc && particles < 2 { throw UnmaskError("steering \(name): mode=smc needs particles >= 2") }
        }
        if method == .smc && particles < 2 { throw UnmaskError("steering smc needs particles >= 2") }
    }

    /// True if the method needs a reward (`--reward`).
    public var needsReward: Bool { [.tilt, .bon, .smc, .svdd].contains(method) }
    /// True if it needs a classifier and a class (`--class`).
    public var needsClassifier: Bool { method == .cbg }
    /// True if it needs an unconditional branch (a condition to mask).
    public var needsCondition: Bool { method == .cfg }

    /// Sequences the denoiser sees per step per sample, at most: what memory scales with.
    public var sequencesPerStep: Int {
        switch method {
        case .cfg: return 2 * particles
        case .anneal, .tilt, .smc: return particles
        case .bon: return n
        case .svdd: return m
        case .cbg: return 1
        }
    }

    /// The distribution it samples, in one line (for JSON output and `compare` rows).
    public var target: String {
        switch (method, mode) {
        case (.cfg, .paper): return "per-step p_c^\(gamma) p_u^\(1 - gamma) (D-CFG; not the sequence target)"
        case (.cfg, _): return "p(x|c)^\(gamma) p(x)^\(1 - gamma) / Z"
        case (.anneal, .paper): return "per-token temperature \(1 / beta) (not p^\(beta))"
        case (.anneal, _): return "p(x)^\(beta) / Z"
        case (.tilt, .paper): return "per-token tilt e^(\(lambda) s(v)) (not the sequence target)"
        case (.tilt, _): return "p(x) e^(\(lambda) r(x)) / Z"
        case (.bon, _): return "the best of \(n) draws of p by r (law of the maximum)"
        case (.smc, _): return output == .best ? "the best of \(particles) FK particles (no stated target)"
                                               : "p(x) e^(\(lambda) r(x)) / Z, consistent in particles"
        case (.cbg, _): return "per-step p(v) p(c|x,v)^\(gamma) (D-CBG; p(x|c) at gamma 1 with an exact classifier)"
        case (.svdd, _): return alpha == 0 ? "SVDD, best of \(m) candidates per step (per-step heuristic)"
                                           : "SVDD, softmax of \(m) candidates at alpha \(alpha) (per-step heuristic)"
        }
    }

    public var description: String {
        var parts = [method.rawValue]
        switch method {
        case .cfg, .cbg: parts.append("gamma=\(gamma)")
        case .anneal: parts.append("beta=\(beta)")
        case .tilt, .smc: parts.append("lambda=\(lambda)")
        case .bon: parts.append("n=\(n)")
        case .svdd: parts.append("m=\(m)"); if alpha != 0 { parts.append("alpha=\(alpha)") }
        }
        if [.cfg, .anneal, .tilt].contains(method) { parts.append("mode=\(mode.rawValue)") }
        if mode == .smc {
            parts.append("particles=\(particles)")
            if let every { parts.append("every=\(every)") }
            if let ess { parts.append("ess=\(ess)") }
            if resampling != .systematic { parts.append("resample=\(resampling.rawValue)") }
            if output != .sample { parts.append("output=\(output.rawValue)") }
        }
        if let interval { parts.append("interval=\(interval.lowerBound)-\(interval.upperBound)") }
        return parts.joined(separator: ":")
    }
}
