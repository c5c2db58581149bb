#if canImport(Glibc)
import Glibc
#endif

/// The forward (corruption) kernels of discrete diffusion, over V ordinary tokens plus,
/// for the absorbing kernel, the mask token m. Matrices are row-stochastic: row x is the
/// distribution of the next state given x. Used by training (sampling q(x_t | x_0)) and,
/// as explicit matrices, by the tests that check the closed forms.
public enum AbsorbingKernel {
    /// One step s → t (s < t): Q = (1−β)·I + β·1·e_mᵀ with β = 1 − α_t/α_s.
    /// States 0..<V are tokens, state `mask` = V is the mask. Returns (V+1)×(V+1), row-major.
    public static func step(vocab V: Int, alphaS: Double, alphaT: Double) -> [Double] {
        // keep = 1 − β = α_t/α_s, computed directly: 1 − (1 − α_t/α_s) cancels
        // catastrophically when α_t is tiny (cosine at t = 1 gives 6e-17).
        return cumulativeLike(V, keep: alphaT / alphaS)
    }

    /// Cumulative Q̄_t = α_t·I + (1−α_t)·1·e_mᵀ.
    public static func cumulative(vocab V: Int, alpha: Double) -> [Double] { cumulativeLike(V, keep: alpha) }

    static func cumulativeLike(_ V: Int, keep: Double) -> [Double] {
        let n = V + 1
        var q = [Double](repeating: 0, count: n * n)
        for x in 0..<V {
            q[x * n + x] = keep
            q[x * n + V] = 1 - keep
        }
        q[V * n + V] = 1  // the mask is absorbing
        return q
    }

    /// Samples x_t ~ q(x_t | x_0): each position independently keeps its token with
    /// probability α_t, else becomes `maskId`. Positions where `protect` is true stay.
    public static func corrupt(_ x0: [Int], alpha: Double, maskId: Int, rng: inout Philox,
                               protect: [Bool]? = nil) -> [Int] {
        var out = x0
        for i in 0..<x0.count where !(protect?[i] ?? false) {
            if rng.uniform64() >= alpha { out[i] = maskId }
        }
        return out
    }

    /// Posterior q(x_s | x_t, x_0) for s < t, as a distribution over V+1 states:
    /// x_t ≠ m: x_s = x_t.  x_t = m: mask with (1−α_s)/(1−α_t), x_0 with (α_s−α_t)/(1−α_t).
    public static func posterior(vocab V: Int, xt: Int, x0: Int, alphaS: Double, alphaT: Double) -> [Double] {
        var p = [Double](repeating: 0, count: V + 1)
        if xt != V {
            p[xt] = 1
        } else {
            p[V] = (1 - alphaS) / (1 - alphaT)
            p[x0] += (alphaS - alphaT) / (1 - alphaT)
        }
        return p
    }
}

/// The uniform kernel: Q̄_t = α_t·I + (1−α_t)/V·11ᵀ. A corrupted position holds a
/// uniformly random token, which may equal the original. The DDPD planner learns to
/// tell which positions were resampled.
public enum UniformKernel {
    public static func step(vocab V: Int, alphaS: Double, alphaT: Double) -> [Double] {
        cumulative(vocab: V, alpha: alphaT / alphaS)
    }

    public static func cumulative(vocab V: Int, alpha: Double) -> [Double] {
        var q = [Double](repeating: (1 - alpha) / Double(V), count: V * V)
        for x in 0..<V { q[x * V + x] += alpha }
        return q
    }

    /// Samples x_t ~ q(x_t | x_0) and also reports which positions were resampled (the
    /// planner's label; a resampled token may equal the original, see the training objective).
    public static func corrupt(_ x0: [Int], alpha: Double, vocab V: Int, rng: inout Philox) -> (xt: [Int], resampled: [Bool]) {
        var out = x0
        var resampled = [Bool](repeating: false, count: x0.count)
        for i in 0..<x0.count where rng.uniform64() >= alpha {
            out[i] = rng.int(below: V)
            resampled[i] = true
        }
        return (out, resampled)
    }

    /// Posterior q(x_s | x_t, x_0) ∝ Q_{s→t}[x_s, x_t] · Q̄_s[x_0, x_s], normalised.
    public static func posterior(vocab V: Int, xt: Int, x0: Int, alphaS: Double, alphaT: Double) -> [Double] {
        let a = alphaT / alphaS
        var p = [Double](repeating: 0, count: V)
        for xs in 0..<V {
            let forward = a * (xs == xt ? 1 : 0) + (1 - a) / Double(V)
            let prior = alphaS * (xs == x0 ? 1 : 0) + (1 - alphaS) / Double(V)
            p[xs] = forward * prior
        }
        let z = p.reduce(0, +)
        return p.map { $0 / z }
    }
}
