import Foundation

/// Pearson chi-square of observed counts against expected probabilities (cells with
/// expectation below 5 are pooled into one so the statistic stays chi-square).
func chiSquare(counts: [Int], probabilities: [Double]) -> (chi2: Double, dof: Int) {
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

/// The 5σ acceptance bound of a chi-square with `dof` degrees of freedom: mean + 5 sd =
/// dof + 5·√(2·dof). A correct sampler exceeds it with probability below 1e-4 (the
/// chi-square's right tail is heavier than the normal's, so this is not 3e-7, but it is
/// small enough for a test that runs on every commit).
func fiveSigma(_ dof: Int) -> Double { Double(dof) + 5 * (2 * Double(dof)).squareRoot() }

func entropy(_ p: [Double]) -> Double { p.reduce(0) { $1 > 0 ? $0 - $1 * log($1) : $0 } }
