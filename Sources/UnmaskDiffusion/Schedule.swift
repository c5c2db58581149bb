#if canImport(Glibc)
import Glibc
#endif
import UnmaskSupport

/// A masking schedule α(t): the probability that a token is still clean at time t.
/// α(0) = 1 (clean), α(1) = 0 (all masked) — up to MDLM's ε for the log-linear one —
/// and α decreases in between. `alphaPrime` is dα/dt; `inverse` maps α back to t.
public enum NoiseSchedule: String, Sendable, CaseIterable {
    /// α = 1 − t
    case linear
    /// α = cos(πt/2)
    case cosine
    /// MDLM: σ(t) = −log(1 − (1−ε)t), α = e^−σ = 1 − (1−ε)t, ε = 1e-3
    case loglinear

    public static let logLinearEpsilon = 1e-3

    public func alpha(_ t: Double) -> Double {
        switch self {
        case .linear: return 1 - t
        case .cosine: return cos(Double.pi * t / 2)
        case .loglinear: return 1 - (1 - NoiseSchedule.logLinearEpsilon) * t
        }
    }

    public func alphaPrime(_ t: Double) -> Double {
        switch self {
        case .linear: return -1
        case .cosine: return -Double.pi / 2 * sin(Double.pi * t / 2)
        case .loglinear: return -(1 - NoiseSchedule.logLinearEpsilon)
        }
    }

    /// t such that α(t) = a, for a in [α(1), 1].
    public func inverse(_ a: Double) -> Double {
        switch self {
        case .linear: return 1 - a
        case .cosine: return 2 / Double.pi * acos(min(1, max(-1, a)))
        case .loglinear: return (1 - a) / (1 - NoiseSchedule.logLinearEpsilon)
        }
    }

    /// The continuous-time ELBO weight −α′(t)/(1 − α(t)) (1/t for the linear schedule).
    public func elboWeight(_ t: Double) -> Double { -alphaPrime(t) / (1 - alpha(t)) }
}
