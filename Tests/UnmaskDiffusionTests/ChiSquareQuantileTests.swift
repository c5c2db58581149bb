import XCTest
import UnmaskTestSupport

/// The chi-square quantile the goodness-of-fit tests rely on (Statistics.swift), checked
/// two ways: against published values (R's qchisq / scipy.stats.chi2.isf), and against
/// closed forms of the survival function derived independently of the incomplete gamma
/// code: dof 1: erfc(√(x/2)); dof 2: e^(−x/2), so the quantile is −2·ln(rate); dof 3:
/// erfc(√(x/2)) + √(2x/π)·e^(−x/2); even dof 2m: e^(−x/2)·Σ_{k<m} (x/2)^k/k! (Poisson).
final class ChiSquareQuantileTests: XCTestCase {
    func testPublishedValues() {
        let table: [(dof: Int, rate: Double, quantile: Double)] = [
            (1, 0.05, 3.841459), (2, 1e-4, 18.420681), (10, 0.01, 23.209251),
            (7, 1e-5, 35.258536), (7, 1e-6, 40.521831), (80, 1e-6, 155.080522),
            (26, 1e-6, 75.547405), (1, 1e-6, 23.928127), (200, 1e-6, 309.838092),
        ]
        for (dof, rate, quantile) in table {
            let q = chiSquareQuantile(dof: dof, falseAlarmRate: rate)
            print("chi2 quantile dof \(dof) rate \(rate): \(q) (published \(quantile))")
            XCTAssertEqual(q, quantile, accuracy: 2e-6 * quantile, "dof \(dof) at \(rate)")
        }
    }

    func testClosedForms() {
        for rate in [0.5, 0.05, 1e-2, 1e-4, 1e-6, 1e-9, 1e-12] {
            // dof 2: the quantile itself in closed form.
            XCTAssertEqual(chiSquareQuantile(dof: 2, falseAlarmRate: rate), -2 * log(rate), accuracy: 1e-9 * -log(rate))
            // dof 1 and 3: the survival at the computed quantile must be the rate.
            let q1 = chiSquareQuantile(dof: 1, falseAlarmRate: rate)
            XCTAssertEqual(erfc((q1 / 2).squareRoot()) / rate, 1, accuracy: 1e-8, "dof 1 at \(rate)")
            let q3 = chiSquareQuantile(dof: 3, falseAlarmRate: rate)
            let s3 = erfc((q3 / 2).squareRoot()) + (2 * q3 / Double.pi).squareRoot() * exp(-q3 / 2)
            XCTAssertEqual(s3 / rate, 1, accuracy: 1e-8, "dof 3 at \(rate)")
            // Even dof: the Poisson sum.
            for m in [2, 5, 13, 40] {
                let q = chiSquareQuantile(dof: 2 * m, falseAlarmRate: rate)
                var term = 1.0, sum = 0.0
                for k in 0..<m { if k > 0 { term *= (q / 2) / Double(k) }; sum += term }
                XCTAssertEqual(exp(-q / 2) * sum / rate, 1, accuracy: 1e-8, "dof \(2 * m) at \(rate)")
            }
        }
    }

    /// Both branches of the incomplete gamma (series below a + 1, continued fraction above)
    /// agree at the switch, and P + Q = 1.
    func testSeriesAndContinuedFractionAgree() {
        for a in [0.5, 1, 3.5, 40] {
            let below = regularizedGamma(a, a + 1 - 1e-9), above = regularizedGamma(a, a + 1 + 1e-9)
            XCTAssertEqual(below.p, above.p, accuracy: 1e-9, "a = \(a)")
            XCTAssertEqual(below.p + below.q, 1, accuracy: 1e-15)
        }
    }
}
