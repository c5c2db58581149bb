import Foundation
import XCTest

/// Pearson chi-square of observed counts against expected probabilities (cells with
/// expectation below 5 are pooled into one so the statistic stays chi-square).
public func chiSquare(counts: [Int], probabilities: [Double]) -> (chi2: Double, dof: Int) {
    let n = Double(counts.reduce(0, +))
    var chi2 = 0.0, cells = 0
    var pooledObserved = 0.0, pooledExpected = 0.0
    for (c, p) in zip(counts, probabilities) {
        let e = p * n
        if e < 5 { pooledObserved += Double(c); pooledExpected += e; continue }
        chi2 += (Double(c) - e) * (Double(c) - e) / e
        cells += 1
    }
    if pooledExpected > 0 {
        chi2 += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / pooledExpected
        cells += 1
    }
    return (chi2, cells - 1)
}

/// The expected Pearson statistic of N draws from `actual` scored against `claimed`:
/// dof + λ with noncentrality λ = N·Σ (actual − claimed)²/claimed (no pooling; used to
/// state the power of the tests that expect a sampler to be detectably inexact).
public func chiSquareNoncentrality(draws n: Int, actual: [Double], claimed: [Double]) -> Double {
    Double(n) * zip(actual, claimed).reduce(0) { $1.1 > 0 ? $0 + ($1.0 - $1.1) * ($1.0 - $1.1) / $1.1 : $0 }
}

// MARK: The chi-square distribution

/// The regularized incomplete gamma functions, P(a, x) = γ(a, x)/Γ(a) (lower) and
/// Q(a, x) = 1 − P(a, x) (upper), both returned so that a tiny tail is not computed as
/// 1 − (something close to 1). Series for x < a + 1, Lentz's continued fraction otherwise
/// (Numerical Recipes §6.2), in Double, to ~1e-15 relative.
public func regularizedGamma(_ a: Double, _ x: Double) -> (p: Double, q: Double) {
    precondition(a > 0 && x >= 0)
    if x == 0 { return (0, 1) }
    let logPrefactor = a * log(x) - x - lgamma(a)  // log(x^a e^−x / Γ(a))
    if x < a + 1 {
        // P = x^a e^−x / Γ(a+1) · Σ_n x^n / ((a+1)…(a+n))
        var term = 1 / a, sum = term, ap = a
        for _ in 0..<10_000 {
            ap += 1
            term *= x / ap
            sum += term
            if abs(term) < abs(sum) * 1e-17 { break }
        }
        let p = min(1, sum * exp(logPrefactor))
        return (p, 1 - p)
    }
    // Q = x^a e^−x / Γ(a) · 1/(x+1−a− 1·(1−a)/(x+3−a− 2·(2−a)/(x+5−a− …)))
    let tiny = 1e-300
    var b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d
    for i in 1..<10_000 {
        let an = -Double(i) * (Double(i) - a)
        b += 2
        d = an * d + b; if abs(d) < tiny { d = tiny }
        c = b + an / c; if abs(c) < tiny { c = tiny }
        d = 1 / d
        let delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16 { break }
    }
    let q = min(1, exp(logPrefactor) * h)
    return (1 - q, q)
}

/// P(χ²_dof > x) = Q(dof/2, x/2).
public func chiSquareSurvival(_ x: Double, dof: Int) -> Double {
    precondition(dof >= 1)
    return regularizedGamma(Double(dof) / 2, x / 2).q
}

/// The upper-tail quantile: the x with P(χ²_dof > x) = falseAlarmRate, by bisection on
/// the (decreasing) survival function, to ~1e-12 relative.
public func chiSquareQuantile(dof: Int, falseAlarmRate rate: Double) -> Double {
    precondition(dof >= 1 && rate > 0 && rate < 1)
    var lo = 0.0, hi = Double(dof) + 10
    while chiSquareSurvival(hi, dof: dof) > rate { lo = hi; hi *= 2 }
    for _ in 0..<200 {
        let mid = (lo + hi) / 2
        if chiSquareSurvival(mid, dof: dof) > rate { lo = mid } else { hi = mid }
        if hi - lo <= 1e-12 * hi { break }
    }
    return (lo + hi) / 2
}

/// The false-alarm rate every chi-square goodness-of-fit assertion in this target uses:
/// a correct sampler fails one such assertion with (asymptotic) probability 1e-6. The
/// chi-square law of the Pearson statistic is asymptotic; with every cell expecting at
/// least 5 draws (smaller ones are pooled) and the 10^4–10^5 draws used here it is a
/// good approximation, but 1e-6 is a nominal rate, not an exact one.
public let chiSquareFalseAlarmRate = 1e-6

/// Asserts that `counts` is consistent with `probabilities`: Pearson's statistic below
/// the chi-square quantile at `falseAlarmRate` for its degrees of freedom. Returns the
/// statistic, its degrees of freedom and the bound, for the caller's report.
@discardableResult
public func assertChiSquareFits(counts: [Int], probabilities: [Double], falseAlarmRate: Double = chiSquareFalseAlarmRate,
                         _ message: String = "", file: StaticString = #filePath, line: UInt = #line)
    -> (chi2: Double, dof: Int, bound: Double) {
    let (chi2, dof) = chiSquare(counts: counts, probabilities: probabilities)
    let bound = chiSquareQuantile(dof: dof, falseAlarmRate: falseAlarmRate)
    print("\(message): chi2 = \(chi2) on \(dof) dof (bound \(bound) at false-alarm rate \(falseAlarmRate))")
    XCTAssertLessThan(chi2, bound, "\(message): chi2 \(chi2) on \(dof) dof", file: file, line: line)
    return (chi2, dof, bound)
}

public func entropy(_ p: [Double]) -> Double { p.reduce(0) { $1 > 0 ? $0 - $1 * log($1) : $0 } }

/// The z with P(N(0,1) > z) = p, from the chi-square quantile: P(|Z| > z) = P(χ²₁ > z²).
public func normalQuantile(upperTail p: Double) -> Double {
    chiSquareQuantile(dof: 1, falseAlarmRate: 2 * p).squareRoot()
}
