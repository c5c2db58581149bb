#if canImport(Glibc)
import Glibc
#endif
import UnmaskDiffusion

/// Weights of a particle population, kept as Float64 logs (a path weight is a product of
/// hundreds of factors), and the two resampling schemes.
public enum Resampling {
    public static func logSumExp(_ logW: [Double]) -> Double {
        let top = logW.max() ?? -.infinity
        if top == -.infinity { return -.infinity }
        var sum = 0.0
        for w in logW where w > -.infinity { sum += exp(w - top) }
        return top + log(sum)
    }

    public static func logMeanExp(_ logW: [Double]) -> Double { logSumExp(logW) - log(Double(logW.count)) }

    /// (Σw)²/Σw²: K for equal weights, 1 when one particle holds all the weight.
    public static func effectiveSampleSize(_ logW: [Double]) -> Double {
        let top = logW.max() ?? -.infinity
        if top == -.infinity { return 0 }
        var s1 = 0.0, s2 = 0.0
        for w in logW where w > -.infinity {
            let x = exp(w - top)
            s1 += x
            s2 += x * x
        }
        return s1 * s1 / s2
    }

    /// `count` parent indices drawn in proportion to exp(logW). Multinomial: independent
    /// inverse-CDF draws. Systematic: one uniform u, parents at the CDF points (u + j)/count
    /// (lower variance; each particle gets ⌊count·w⌋ or ⌈count·w⌉ copies). The caller
    /// guarantees at least one finite weight.
    public static func ancestors(_ logW: [Double], count: Int, method: SteeringSpec.Resampling, rng: inout Philox) -> [Int] {
        let top = logW.max()!
        var cdf = [Double](repeating: 0, count: logW.count)
        var total = 0.0
        for (j, w) in logW.enumerated() {
            total += w > -.infinity ? exp(w - top) : 0
            cdf[j] = total
        }
        func locate(_ u: Double) -> Int {
            // First j with cdf[j] > u·total; zero-weight particles are never picked.
            var lo = 0, hi = cdf.count - 1
            let target = u * total
            while lo < hi {
                let mid = (lo + hi) / 2
                if cdf[mid] > target { hi = mid } else { lo = mid + 1 }
            }
            return lo
        }
        switch method {
        case .multinomial:
            return (0..<count).map { _ in locate(rng.uniform64()) }
        case .systematic:
            let u = rng.uniform64()
            return (0..<count).map { locate((u + Double($0)) / Double(count)) }
        }
    }
}
