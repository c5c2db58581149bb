import XCTest
@testable import UnmaskDiffusion

final class CorruptionKernelTests: XCTestCase {
    func testSchedules() {
        for s in NoiseSchedule.allCases {
            XCTAssertEqual(s.alpha(0), 1, accuracy: 1e-12, "\(s)")
            XCTAssertLessThanOrEqual(s.alpha(1), 1e-3 + 1e-12, "\(s)")
            for t in stride(from: 0.01, to: 1.0, by: 0.01) {
                XCTAssertEqual(s.inverse(s.alpha(t)), t, accuracy: 1e-9, "\(s) inverse at \(t)")
                let h = 1e-6
                let fd = (s.alpha(t + h) - s.alpha(t - h)) / (2 * h)
                XCTAssertEqual(s.alphaPrime(t), fd, accuracy: 1e-6, "\(s) derivative at \(t)")
                XCTAssertLessThan(s.alpha(t + 0.005), s.alpha(t), "\(s) decreasing")
            }
        }
        XCTAssertEqual(NoiseSchedule.linear.elboWeight(0.25), 4, accuracy: 1e-12)  // 1/t
    }

    func matmul(_ a: [Double], _ b: [Double], _ n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for k in 0..<n { c[i * n + j] += a[i * n + k] * b[k * n + j] } } }
        return c
    }

    /// Rows sum to one; Q̄_s·Q(s→t) = Q̄_t; the closed-form posterior equals Bayes from the matrices.
    func testAbsorbingClosedForms() {
        let V = 5, n = V + 1
        for (s, t) in [(0.1, 0.4), (0.3, 0.31), (0.0, 0.9), (0.5, 1.0)] {
            let sched = NoiseSchedule.cosine
            let aS = sched.alpha(s), aT = sched.alpha(t)
            let step = AbsorbingKernel.step(vocab: V, alphaS: aS, alphaT: aT)
            let barS = AbsorbingKernel.cumulative(vocab: V, alpha: aS), barT = AbsorbingKernel.cumulative(vocab: V, alpha: aT)
            for m in [step, barS, barT] { for r in 0..<n { XCTAssertEqual(m[(r * n)..<((r + 1) * n)].reduce(0, +), 1, accuracy: 1e-12) } }
            let composed = matmul(barS, step, n)
            for i in 0..<(n * n) { XCTAssertEqual(composed[i], barT[i], accuracy: 1e-12) }
            for x0 in 0..<V {
                for xt in 0..<n where barT[x0 * n + xt] > 0 {
                    let closed = AbsorbingKernel.posterior(vocab: V, xt: xt, x0: x0, alphaS: aS, alphaT: aT)
                    for xs in 0..<n {
                        let bayes = step[xs * n + xt] * barS[x0 * n + xs] / barT[x0 * n + xt]
                        XCTAssertEqual(closed[xs], bayes, accuracy: 1e-12, "x0=\(x0) xt=\(xt) xs=\(xs)")
                    }
                }
            }
        }
    }

    func testUniformClosedForms() {
        let V = 4
        let aS = 0.7, aT = 0.2
        let step = UniformKernel.step(vocab: V, alphaS: aS, alphaT: aT)
        let barS = UniformKernel.cumulative(vocab: V, alpha: aS), barT = UniformKernel.cumulative(vocab: V, alpha: aT)
        for r in 0..<V { XCTAssertEqual(step[(r * V)..<((r + 1) * V)].reduce(0, +), 1, accuracy: 1e-12) }
        let composed = matmul(barS, step, V)
        for i in 0..<(V * V) { XCTAssertEqual(composed[i], barT[i], accuracy: 1e-12) }
        for x0 in 0..<V { for xt in 0..<V {
            let post = UniformKernel.posterior(vocab: V, xt: xt, x0: x0, alphaS: aS, alphaT: aT)
            for xs in 0..<V {
                XCTAssertEqual(post[xs], step[xs * V + xt] * barS[x0 * V + xs] / barT[x0 * V + xt], accuracy: 1e-12)
            }
        } }
    }

    /// Forward corruption keeps each token with probability α: 10^5 tokens at α = 0.3,
    /// kept fraction within 5σ (σ = √(0.21/10^5) ≈ 1.4e-3).
    func testForwardCorruptionRates() {
        var rng = Philox(seed: 4)
        let x0 = [Int](repeating: 1, count: 100_000)
        let xt = AbsorbingKernel.corrupt(x0, alpha: 0.3, maskId: 9, rng: &rng)
        XCTAssertEqual(Double(xt.filter { $0 == 1 }.count) / 1e5, 0.3, accuracy: 5 * 1.45e-3)
        let (u, resampled) = UniformKernel.corrupt(x0, alpha: 0.3, vocab: 4, rng: &rng)
        XCTAssertEqual(Double(resampled.filter { $0 }.count) / 1e5, 0.7, accuracy: 5 * 1.45e-3)
        // A resampled token equals the original 1/V of the time.
        let same = zip(u, resampled).filter { $1 && $0 == 1 }.count
        XCTAssertEqual(Double(same) / Double(resampled.filter { $0 }.count), 0.25, accuracy: 0.01)
    }
}
