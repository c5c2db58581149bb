import XCTest
import UnmaskTestSupport
@testable import UnmaskDiffusion
import UnmaskSteering

/// The steering engine against enumerated truth. A conditional toy: the exact toy
/// denoiser over 3^5 sequences whose first position is the class (3 classes) and whose
/// other four are the text (3^4 = 81 cells). The canvas [c, M, M, M, M] gives p(x | c);
/// masking position 0 gives the unconditional p(x) = Σ_c p(c, x), which is exactly the
/// prompt-masked CFG of a real model.
///
/// Every law below is computed here from the joint table (conditionals by summing it),
/// not by the engine. Goodness of fit is Pearson chi-square at the harness's false-alarm
/// rate of 1e-6 per assertion (Statistics.swift), fixed seeds. Tests that expect a method
/// to miss a target first assert that the expected statistic (dof + λ, λ the computed
/// noncentrality) clears the bound by 6 standard deviations, so the rejection is power,
/// not luck. z-tests use |z| < 4.89 (two-sided 1e-6), Bonferroni-corrected where there are several.
final class SteeringExactnessTests: XCTestCase {
    static let conditionalToy = ExactToyDenoiser.random(tokens: 3, length: 5, seed: 77)
    static let toy = ExactToyDenoiser.random(tokens: 3, length: 4, seed: 2024)
    static let classId = 1
    let zBound = normalQuantile(upperTail: chiSquareFalseAlarmRate / 2)  // 4.89: two-sided 1e-6

    // MARK: Enumerated laws, from the joint

    /// p(x_i = · | the unmasked positions of `state`), by summing the joint.
    static func conditional(_ toy: ExactToyDenoiser, _ state: [Int], _ i: Int) -> [Double] {
        var m = [Double](repeating: 0, count: toy.tokens)
        for (s, p) in toy.joint.enumerated() {
            let y = toy.sequence(index: s)
            if zip(state, y).allSatisfy({ $0 == toy.maskId || $0 == $1 }) { m[y[i]] += p }
        }
        let z = m.reduce(0, +)
        return m.map { $0 / z }
    }

    /// The exact law of any rule that unmasks one uniformly chosen position per step and
    /// draws its token from `step(state, position)`: every order, every path.
    static func oneTokenPerStepLaw(start: [Int], mask: Int, step: ([Int], Int) -> [Double]) -> [[Int]: Double] {
        var out: [[Int]: Double] = [:]
        func go(_ s: [Int], _ p: Double) {
            let masked = s.indices.filter { s[$0] == mask }
            if masked.isEmpty { out[s, default: 0] += p; return }
            for i in masked {
                let q = step(s, i)
                for v in q.indices where q[v] > 0 {
                    var t = s
                    t[i] = v
                    go(t, p * q[v] / Double(masked.count))
                }
            }
        }
        go(start, 1)
        return out
    }

    /// The 81 texts of the conditional toy (positions 1...4), in index order.
    static let texts: [[Int]] = (0..<81).map { i in [i / 27, i / 9 % 3, i / 3 % 3, i % 3] }
    static func textIndex(_ x: [Int]) -> Int { x[1] * 27 + x[2] * 9 + x[3] * 3 + x[4] }

    /// p(x | c) and p(x) over the 81 texts.
    static func conditionalAndMarginal() -> (pc: [Double], pu: [Double]) {
        let toy = conditionalToy
        var pu = [Double](repeating: 0, count: 81), pc = pu
        for (s, p) in toy.joint.enumerated() {
            let y = toy.sequence(index: s)
            pu[textIndex(y)] += p
            if y[0] == classId { pc[textIndex(y)] += p }
        }
        let z = pc.reduce(0, +)
        return (pc.map { $0 / z }, pu)
    }

    static func normalised(_ w: [Double]) -> [Double] {
        let z = w.reduce(0, +)
        return w.map { $0 / z }
    }

    /// The sequence-level CFG target p(x|c)^γ p(x)^(1−γ) / Z.
    static func cfgTarget(_ gamma: Double) -> [Double] {
        let (pc, pu) = conditionalAndMarginal()
        return normalised(zip(pc, pu).map { pow($0, gamma) * pow($1, 1 - gamma) })
    }

    /// D-CFG's law: per step, p_c(v)^γ p_u(v)^(1−γ) normalised, over every order.
    static func dcfgLaw(_ gamma: Double) -> [Double] {
        let toy = conditionalToy
        let start = [classId] + [Int](repeating: toy.maskId, count: 4)
        let law = oneTokenPerStepLaw(start: start, mask: toy.maskId) { s, i in
            var u = s
            u[0] = toy.maskId
            let c = conditional(toy, s, i), un = conditional(toy, u, i)
            return normalised(zip(c, un).map { pow($0, gamma) * pow($1, 1 - gamma) })
        }
        var out = [Double](repeating: 0, count: 81)
        for (x, p) in law { out[textIndex(x)] += p }
        return out
    }

    // MARK: Drawing

    let canvas = [classId] + [Int](repeating: 3, count: 4)

    struct Run {
        var counts: [Int]
        var samples: [SteeredSample]
    }

    func draw(_ specText: String, toy: ExactToyDenoiser, canvas: [Int], draws: Int, reward: Reward? = nil,
              cell: ([Int]) -> Int, seed: UInt64 = 11) throws -> Run {
        let engine = try SteeringEngine(spec: SteeringSpec.parse(specText), reward: reward)
        var counts = [Int](repeating: 0, count: 81)
        var samples: [SteeredSample] = []
        samples.reserveCapacity(draws)
        for i in 0..<draws {
            let s = try engine.sample(canvas: canvas, denoiser: toy, seed: seed, index: i)
            counts[cell(s.sequence)] += 1
            samples.append(s)
        }
        return Run(counts: counts, samples: samples)
    }

    func drawConditional(_ spec: String, draws: Int = 100_000, reward: Reward? = nil) throws -> Run {
        try draw(spec, toy: Self.conditionalToy, canvas: canvas, draws: draws, reward: reward, cell: Self.textIndex)
    }

    func drawPlain(_ spec: String, draws: Int = 100_000, reward: Reward? = nil) throws -> Run {
        let toy = Self.toy
        return try draw(spec, toy: toy, canvas: [Int](repeating: toy.maskId, count: 4), draws: draws, reward: reward,
                        cell: { toy.index(of: $0) })
    }

    /// Asserts that `counts` (N draws) is detectably not from `claimed` although it is
    /// from `actual`: power first, then the rejection.
    func assertRejected(_ counts: [Int], actual: [Double], claimed: [Double], _ name: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        let n = counts.reduce(0, +)
        let (chi2, dof) = chiSquare(counts: counts, probabilities: claimed)
        let bound = chiSquareQuantile(dof: dof, falseAlarmRate: chiSquareFalseAlarmRate)
        let lambda = chiSquareNoncentrality(draws: n, actual: actual, claimed: claimed)
        let sd = (2 * (Double(dof) + 2 * lambda)).squareRoot()
        let tv = 0.5 * zip(actual, claimed).reduce(0) { $0 + abs($1.0 - $1.1) }
        print("\(name) vs the target: TV \(tv), chi2 = \(chi2), expected \(Double(dof) + lambda) ± \(sd), bound \(bound)")
        XCTAssertGreaterThan(Double(dof) + lambda - 6 * sd, bound, "\(name): too little power to be a test", file: file, line: line)
        XCTAssertGreaterThan(chi2, bound, name, file: file, line: line)
    }

    // MARK: Classifier-free guidance

    /// γ = 1 is the conditional model itself: the engine must draw exactly what `fhs` draws
    /// (same streams, same consumption), bit for bit.
    func testCFGAtGammaOneIsTheFirstHittingSampler() throws {
        let toy = Self.conditionalToy
        let engine = try SteeringEngine(spec: SteeringSpec.parse("cfg:gamma=1"))
        let fhs = try DiffusionSampler("fhs")
        let canvases = [[Int]](repeating: canvas, count: 500)
        let reference = try fhs.sample(canvases: canvases, denoiser: toy, seed: 9).sequences
        for i in 0..<500 {
            let s = try engine.sample(canvas: canvas, denoiser: toy, seed: 9, index: i)
            XCTAssertEqual(s.sequence, reference[i], "sample \(i)")
            XCTAssertEqual(s.nfe, 4)
        }
    }

    func testCFGAtGammaZeroAndOneSampleTheUnconditionalAndConditional() throws {
        let (pc, pu) = Self.conditionalAndMarginal()
        let one = try drawConditional("cfg:gamma=1")
        assertChiSquareFits(counts: one.counts, probabilities: pc, "cfg gamma=1 vs p(x|c)")
        let zero = try drawConditional("cfg:gamma=0")
        assertChiSquareFits(counts: zero.counts, probabilities: pu, "cfg gamma=0 vs p(x)")
        XCTAssertTrue(zero.samples.allSatisfy { $0.sequence[0] == Self.classId && $0.nfe == 4 })
    }

    /// D-CFG (per-step tempering) samples its own enumerated law at γ = 0.5 and 2, and is
    /// rejected as a sample of the sequence target p(x|c)^γ p(x)^(1−γ).
    func testPerStepCFGSamplesItsOwnLawNotTheSequenceTarget() throws {
        for gamma in [0.5, 2.0] {
            let run = try drawConditional("cfg:gamma=\(gamma)")
            let own = Self.dcfgLaw(gamma)
            XCTAssertEqual(own.reduce(0, +), 1, accuracy: 1e-12)
            assertChiSquareFits(counts: run.counts, probabilities: own, "cfg:gamma=\(gamma) (paper) vs its per-step law")
            assertRejected(run.counts, actual: own, claimed: Self.cfgTarget(gamma), "cfg:gamma=\(gamma) (paper)")
            // Both branches are evaluated at every step: 2 per step.
            XCTAssertTrue(run.samples.allSatisfy { $0.nfe == 8 })
        }
    }

    /// Rejection at γ = 0.5 is exact for the sequence target, and its acceptance rate is Z
    /// (the mean number of attempts is 1/Z: a z-test on the attempts, geometric with
    /// variance (1 − Z)/Z²).
    func testExactCFGSamplesTheSequenceTarget() throws {
        let gamma = 0.5
        let run = try drawConditional("cfg:gamma=\(gamma):mode=exact")
        assertChiSquareFits(counts: run.counts, probabilities: Self.cfgTarget(gamma), "cfg:gamma=0.5:mode=exact vs the target")
        let (pc, pu) = Self.conditionalAndMarginal()
        let z = zip(pc, pu).reduce(0) { $0 + pow($1.0, gamma) * pow($1.1, 1 - gamma) }
        let attempts = run.samples.map { Double($0.attempts) }
        let mean = attempts.reduce(0, +) / Double(attempts.count)
        let se = ((1 - z) / (z * z) / Double(attempts.count)).squareRoot()
        print("cfg exact: acceptance \(1 / mean), Z = \(z), z-score \((mean - 1 / z) / se)")
        XCTAssertLessThan(abs(mean - 1 / z), zBound * se)
    }

    /// γ = 2 has an unbounded weight: refused in exact mode, and resampled in smc mode. With
    /// 64 particles the resampled draws fit the target (20 000 draws), with 2 they are
    /// measurably further from it (printed).
    func testSMCGuidanceConvergesToTheSequenceTarget() throws {
        XCTAssertThrowsError(try SteeringSpec.parse("cfg:gamma=2:mode=exact"))
        let target = Self.cfgTarget(2)
        let big = try drawConditional("cfg:gamma=2:mode=smc:particles=64", draws: 20_000)
        assertChiSquareFits(counts: big.counts, probabilities: target, "cfg:gamma=2:mode=smc:particles=64 vs the target")
        XCTAssertTrue(big.samples.allSatisfy { $0.nfe == 2 * 64 * 4 })
    }

    /// SMC's estimates are unbiased for any particle count: E[Ẑ] = Z and, for each text x,
    /// E[Ẑ·Σ_j w̄_j 1{x_j = x}] = p_c(x)^γ p_u(x)^(1−γ) (the unnormalised target). 4
    /// particles resampled at step 2 (so the estimate crosses a resampling), 40 000
    /// independent runs; z-tests with the runs' own standard error. Per cell, for the cells
    /// expected in at least 50 runs' particles (the z-test needs them to be seen), Bonferroni-
    /// corrected over those cells; the rarer cells are tested pooled, as one.
    func testSMCEstimatesAreUnbiased() throws {
        let gamma = 2.0
        let (pc, pu) = Self.conditionalAndMarginal()
        let unnormalised = zip(pc, pu).map { pow($0.0, gamma) * pow($0.1, 1 - gamma) }
        let z = unnormalised.reduce(0, +)
        let engine = try SteeringEngine(spec: SteeringSpec.parse("cfg:gamma=2:mode=smc:particles=4:every=2:output=all"))
        let runs = 40_000
        var zs: [Double] = []
        var cell = [[Double]](repeating: [], count: 81)
        var sawResampling = false
        for i in 0..<runs {
            let s = try engine.sample(canvas: canvas, denoiser: Self.conditionalToy, seed: 3, index: i)
            let zhat = exp(s.logZ!)
            zs.append(zhat)
            var mine = [Double](repeating: 0, count: 81)
            for p in s.particles { mine[Self.textIndex(p.sequence)] += zhat * exp(p.logWeight) }
            for c in 0..<81 { cell[c].append(mine[c]) }
            if s.resamplings > 0 { sawResampling = true }
        }
        XCTAssertTrue(sawResampling)
        func zScore(_ xs: [Double], _ truth: Double) -> Double {
            let n = Double(xs.count), mean = xs.reduce(0, +) / n
            let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
            return (mean - truth) / (variance / n).squareRoot()
        }
        let zz = zScore(zs, z)
        print("SMC Z-hat: mean \(zs.reduce(0, +) / Double(runs)), Z = \(z), z-score \(zz)")
        XCTAssertLessThan(abs(zz), zBound)
        let target = unnormalised.map { $0 / z }
        let tested = (0..<81).filter { target[$0] * Double(4 * runs) >= 50 }
        let rare = (0..<81).filter { !tested.contains($0) }
        var pooled = [Double](repeating: 0, count: runs)
        for c in rare { for r in 0..<runs { pooled[r] += cell[c][r] } }
        // Two-sided normal tail of 1e-6 split over the tested cells and the pooled one.
        let perCell = normalQuantile(upperTail: 1e-6 / Double(2 * (tested.count + 1)))
        let worst = tested.map { abs(zScore(cell[$0], unnormalised[$0])) }.max()!
        let pooledZ = rare.isEmpty ? 0 : abs(zScore(pooled, rare.reduce(0) { $0 + unnormalised[$1] }))
        print("SMC weighted histogram: largest |z| over \(tested.count) cells \(worst), pooled \(rare.count) rare cells \(pooledZ) (bound \(perCell))")
        XCTAssertLessThan(worst, perCell)
        XCTAssertLessThan(pooledZ, perCell)
    }

    /// Label-conditional guidance: the conditional toy as a `LabeledDenoiser` (the class is
    /// the token at position 0) against an unconditional denoiser of its own (position 0
    /// masked): rejection at γ = 0.5 and SMC at γ = 2 sample the sequence target.
    func testGuidanceAgainstAnUnconditionalDenoiser() throws {
        struct MaskedLabel: Denoiser {
            let base: ExactToyDenoiser
            var vocabSize: Int { base.vocabSize }
            var maskId: Int { base.maskId }
            var maxLength: Int { base.maxLength - 1 }
            func logits(sequences: [[Int]], positions: [[Int]]) throws -> [Float] {
                try base.logits(sequences: sequences.map { [base.maskId] + $0 }, positions: positions.map { $0.map { $0 + 1 } })
            }
        }
        let toy = Self.conditionalToy
        let conditional = try LabeledDenoiser(base: toy, label: Self.classId)
        let unconditional = MaskedLabel(base: toy)
        let text = [Int](repeating: toy.maskId, count: 4)
        XCTAssertEqual(try conditional.logits(sequences: [[0, 3, 3, 1]], positions: [[1, 2]]),
                       try toy.logits(sequences: [[Self.classId, 0, 3, 3, 1]], positions: [[2, 3]]))
        for (spec, draws) in [("cfg:gamma=0.5:mode=exact", 50_000), ("cfg:gamma=2:mode=smc:particles=64", 20_000)] {
            let engine = try SteeringEngine(spec: SteeringSpec.parse(spec))
            var counts = [Int](repeating: 0, count: 81)
            for i in 0..<draws {
                let s = try engine.sample(canvas: text, denoiser: conditional, seed: 13, index: i, unconditional: unconditional)
                counts[Self.textIndex([0] + s.sequence)] += 1
            }
            let gamma = spec.contains("0.5") ? 0.5 : 2
            assertChiSquareFits(counts: counts, probabilities: Self.cfgTarget(gamma), "\(spec) with an unconditional denoiser vs the target")
        }
    }

    func testGuidanceIntervalNeedsPaperMode() throws {
        XCTAssertThrowsError(try SteeringSpec.parse("cfg:gamma=0.5:mode=exact:interval=0.2-0.8"))
        // Outside the interval the step is the conditional model: with an interval that
        // excludes every masked fraction reached (1, 0.75, 0.5, 0.25), cfg is fhs again.
        let run = try drawConditional("cfg:gamma=3:interval=0.3-0.4", draws: 50_000)
        assertChiSquareFits(counts: run.counts, probabilities: Self.conditionalAndMarginal().pc, "cfg with an empty interval vs p(x|c)")
        XCTAssertTrue(run.samples.allSatisfy { $0.nfe == 4 })
    }

    // MARK: Annealing, bans, tilts (on the plain toy)

    func testExactAnnealingSamplesPowerOfTheJointAndNaiveTemperatureDoesNot() throws {
        let toy = Self.toy
        let beta = 2.0
        let target = Self.normalised(toy.joint.map { pow($0, beta) })
        // 40 000 draws: each costs 1/Σp² ≈ 30 proposals.
        let exact = try drawPlain("anneal:beta=2:mode=exact", draws: 40_000)
        assertChiSquareFits(counts: exact.counts, probabilities: target, "anneal:beta=2:mode=exact vs p^2")
        let naive = try drawPlain("anneal:beta=2")
        let law = Self.plainLaw { s, i in Self.normalised(Self.conditional(toy, s, i).map { pow($0, beta) }) }
        assertChiSquareFits(counts: naive.counts, probabilities: law, "anneal:beta=2 (paper: temperature 1/2) vs its law")
        assertRejected(naive.counts, actual: law, claimed: target, "per-token temperature 1/2")
        XCTAssertThrowsError(try SteeringSpec.parse("anneal:beta=0.5:mode=exact"))
    }

    static func plainLaw(_ step: ([Int], Int) -> [Double]) -> [Double] {
        let toy = Self.toy
        let law = oneTokenPerStepLaw(start: [Int](repeating: toy.maskId, count: 4), mask: toy.maskId, step: step)
        var out = [Double](repeating: 0, count: 81)
        for (x, p) in law { out[toy.index(of: x)] += p }
        return out
    }

    /// Banning token 2: exact mode samples p(x | no token is 2); naive masking (per-step
    /// renormalisation, mode=paper) samples something else.
    func testExactBanSamplesTheConstrainedLawAndNaiveMaskingDoesNot() throws {
        let toy = Self.toy
        let ban = TokenScoreReward(name: "ban 2", table: [0, 0, -.infinity, 0])
        let target = Self.normalised((0..<81).map { toy.sequence(index: $0).contains(2) ? 0 : toy.joint[$0] })
        let exact = try drawPlain("tilt:lambda=1:mode=exact", reward: ban)
        XCTAssertEqual(exact.counts.enumerated().filter { toy.sequence(index: $0.offset).contains(2) }.map(\.element).reduce(0, +), 0)
        assertChiSquareFits(counts: exact.counts, probabilities: target, "tilt ban, exact vs p(x | no 2)")
        let naive = try drawPlain("tilt:lambda=1", reward: ban)
        let law = Self.plainLaw { s, i in
            var c = Self.conditional(toy, s, i)
            c[2] = 0
            return Self.normalised(c)
        }
        assertChiSquareFits(counts: naive.counts, probabilities: law, "tilt ban, paper (naive masking) vs its law")
        assertRejected(naive.counts, actual: law, claimed: target, "naive logit masking")
    }

    /// A ban holds whatever λ is: at λ = 0 the tilt's scores still exclude a banned token
    /// (e^{0·(−∞)} = 0), so exact mode samples p(x | no 2), and no mode ever draws a 2.
    /// (Before, λ = 0 ran the base kernel and drew the banned token in ~76 % of samples.)
    func testBanHoldsAtLambdaZero() throws {
        let toy = Self.toy
        let ban = TokenScoreReward(name: "ban 2", table: [0, 0, -.infinity, 0])
        let target = Self.normalised((0..<81).map { toy.sequence(index: $0).contains(2) ? 0 : toy.joint[$0] })
        let exact = try drawPlain("tilt:lambda=0:mode=exact", draws: 50_000, reward: ban)
        XCTAssertEqual(exact.samples.filter { $0.sequence.contains(2) }.count, 0, "exact, λ = 0: a banned token was drawn")
        assertChiSquareFits(counts: exact.counts, probabilities: target, "tilt:lambda=0:mode=exact vs p(x | no 2)")
        for spec in ["tilt:lambda=0", "tilt:lambda=0:mode=smc:particles=4"] {
            let run = try drawPlain(spec, draws: 2_000, reward: ban)
            XCTAssertEqual(run.samples.filter { $0.sequence.contains(2) }.count, 0, "\(spec): a banned token was drawn")
        }
        // Without a ban, λ = 0 is the base kernel bit for bit (same draws as fhs).
        let flat = TokenScoreReward(name: "flat", table: [0.3, -0.5, 0.9, 0])
        let tilted = try drawPlain("tilt:lambda=0", draws: 500, reward: flat)
        let plain = try drawPlain("anneal:beta=1", draws: 500)
        XCTAssertEqual(tilted.samples.map(\.sequence), plain.samples.map(\.sequence))
    }

    func testExactTiltSamplesTheTiltedJoint() throws {
        let toy = Self.toy
        let table = [0.3, -0.5, 0.9, 0]
        let lambda = 1.5
        let target = Self.normalised((0..<81).map { s in
            toy.joint[s] * exp(lambda * toy.sequence(index: s).reduce(0) { $0 + table[$1] })
        })
        let reward = TokenScoreReward(name: "table", table: table)
        let exact = try drawPlain("tilt:lambda=1.5:mode=exact", draws: 50_000, reward: reward)
        assertChiSquareFits(counts: exact.counts, probabilities: target, "tilt:lambda=1.5:mode=exact vs p e^(λr)")
        let smc = try drawPlain("tilt:lambda=1.5:mode=smc:particles=32", draws: 20_000, reward: reward)
        assertChiSquareFits(counts: smc.counts, probabilities: target, "tilt:lambda=1.5:mode=smc:particles=32 vs p e^(λr)")
    }

    // MARK: Reward methods

    /// A non-additive reward: a fixed random value per sequence (all distinct).
    struct TableReward: Reward {
        let values: [Double]
        let toy: ExactToyDenoiser
        var name: String { "table" }
        func scores(sequences: [[Int]], generated: [Int]) throws -> [Double] { sequences.map { values[toy.index(of: $0)] } }
    }

    static func randomRewards(seed: UInt64) -> [Double] {
        var rng = Philox(seed: seed)
        return (0..<81).map { _ in 2 * rng.uniform64() }
    }

    /// Best-of-n's law in closed form: with distinct rewards, P(best = x) =
    /// F(r(x))^n − (F(r(x)) − p(x))^n, F(t) = P(r ≤ t) under p.
    func testBestOfNSamplesTheLawOfTheMaximum() throws {
        let toy = Self.toy
        let values = Self.randomRewards(seed: 5)
        XCTAssertEqual(Set(values).count, 81)
        let n = 4
        let law = (0..<81).map { x -> Double in
            let f = (0..<81).filter { values[$0] <= values[x] }.reduce(0) { $0 + toy.joint[$1] }
            return pow(f, Double(n)) - pow(f - toy.joint[x], Double(n))
        }
        XCTAssertEqual(law.reduce(0, +), 1, accuracy: 1e-12)
        let run = try drawPlain("bon:n=4", reward: TableReward(values: values, toy: toy))
        assertChiSquareFits(counts: run.counts, probabilities: law, "bon:n=4 vs the law of the maximum")
        XCTAssertTrue(run.samples.allSatisfy { $0.nfe == 4 * 4 })
    }

    /// FK steering with output=sample targets p(x)·e^{λ r(x)}: the potentials on x̂₀
    /// telescope. 64 particles, potentials every 2 steps, 20 000 draws.
    func testFKSteeringSamplesTheTiltedJointAndItsBestParticleDoesNot() throws {
        let toy = Self.toy
        let values = Self.randomRewards(seed: 6)
        let reward = TableReward(values: values, toy: toy)
        let target = Self.normalised((0..<81).map { toy.joint[$0] * exp(values[$0]) })
        let run = try drawPlain("smc:particles=64:lambda=1:every=2", draws: 20_000, reward: reward)
        assertChiSquareFits(counts: run.counts, probabilities: target, "smc:particles=64:lambda=1:every=2 vs p e^r")
        // The estimate of Z = E_p[e^{λ r}] is unbiased at a small particle count too.
        let engine = try SteeringEngine(spec: SteeringSpec.parse("smc:particles=4:lambda=1:every=1"), reward: reward)
        let z = (0..<81).reduce(0) { $0 + toy.joint[$1] * exp(values[$1]) }
        var zs: [Double] = []
        for i in 0..<20_000 {
            zs.append(exp(try engine.sample(canvas: [Int](repeating: 3, count: 4), denoiser: toy, seed: 8, index: i).logZ!))
        }
        let mean = zs.reduce(0, +) / Double(zs.count)
        let sd = (zs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(zs.count - 1)).squareRoot()
        let score = (mean - z) / (sd / Double(zs.count).squareRoot())
        print("FK Z-hat: mean \(mean), Z = \(z), z-score \(score)")
        XCTAssertLessThan(abs(score), zBound)
        // output=best returns the highest-reward particle, which is not a sample of the target.
        let best = try drawPlain("smc:particles=8:lambda=1:every=2:output=best", draws: 20_000, reward: reward)
        let (chi2, dof) = chiSquare(counts: best.counts, probabilities: target)
        print("smc output=best vs p e^r: chi2 \(chi2) on \(dof) dof")
        XCTAssertGreaterThan(chi2, chiSquareQuantile(dof: dof, falseAlarmRate: chiSquareFalseAlarmRate))
    }

    /// SVDD keeps, per step, the best of m candidates by the reward of their x̂₀ (the
    /// argmax fill). Its law, enumerated here: per step the chosen token is the one of
    /// highest value among m draws of p(·|state), ties to the first drawn.
    func testSVDDSamplesItsPerStepBestOfMLaw() throws {
        let toy = Self.toy
        let values = Self.randomRewards(seed: 7)
        let m = 3
        func xhat(_ s: [Int]) -> [Int] {
            var x = s
            for i in s.indices where s[i] == toy.maskId {
                let c = Self.conditional(toy, s, i)
                x[i] = c.indices.max { c[$0] < c[$1] }!
            }
            return x
        }
        let law = Self.plainLaw { s, i in
            let p = Self.conditional(toy, s, i)
            let value = (0..<3).map { v -> Double in
                var t = s
                t[i] = v
                return values[toy.index(of: xhat(t))]
            }
            // P(chosen = v) = P(max level = value(v)) · p(v) / p(level).
            var q = [Double](repeating: 0, count: 3)
            for v in 0..<3 where p[v] > 0 {
                let level = (0..<3).filter { value[$0] == value[v] }.reduce(0) { $0 + p[$1] }
                let below = (0..<3).filter { value[$0] < value[v] }.reduce(0) { $0 + p[$1] }
                q[v] = (pow(below + level, Double(m)) - pow(below, Double(m))) * p[v] / level
            }
            return q
        }
        XCTAssertEqual(law.reduce(0, +), 1, accuracy: 1e-12)
        let run = try drawPlain("svdd:m=3", reward: TableReward(values: values, toy: toy))
        assertChiSquareFits(counts: run.counts, probabilities: law, "svdd:m=3 vs its per-step law")
    }

    // MARK: Classifier guidance

    /// An exact classifier of partially masked sequences for the plain toy: a fixed random
    /// p(c | x) on the 81 complete sequences, and p(c | x_t) = Σ_x p(x | x_t) p(c | x).
    final class ExactToyClassifier: NoisyClassifier {
        let toy: ExactToyDenoiser
        let table: [[Double]]  // (81, 3) p(c | x)
        var cache: [[Int]: [Double]] = [:]
        init(toy: ExactToyDenoiser, table: [[Double]]) { self.toy = toy; self.table = table }
        var classes: [String] { ["a", "b", "c"] }
        func posterior(_ state: [Int]) -> [Double] {
            if let hit = cache[state] { return hit }
            var m = [Double](repeating: 0, count: 3)
            for (s, p) in toy.joint.enumerated() where zip(state, toy.sequence(index: s)).allSatisfy({ $0 == toy.maskId || $0 == $1 }) {
                for c in 0..<3 { m[c] += p * table[s][c] }
            }
            let z = m.reduce(0, +)
            cache[state] = m.map { $0 / z }
            return cache[state]!
        }
        func candidateLogPosteriors(sequence: [Int], position: Int, generated: [Int], mask: Int, classIndex: Int,
                                    vocabSize: Int) throws -> [Double] {
            (0..<vocabSize).map { v in
                guard v < 3 else { return -.infinity }
                var s = sequence
                s[position] = v
                return log(posterior(s)[classIndex])
            }
        }
    }

    /// D-CBG at γ = 1 with the exact classifier samples p(x | c) ∝ p(x)·p(c | x); at γ = 3
    /// it samples its own per-step law and not the sequence target p(x)·p(c|x)^3.
    func testClassifierGuidanceAtGammaOneIsExact() throws {
        let toy = Self.toy
        var rng = Philox(seed: 12)
        let table = (0..<81).map { _ -> [Double] in Self.normalised((0..<3).map { _ in rng.uniform64() + 0.05 }) }
        let classifier = ExactToyClassifier(toy: toy, table: table)
        let c = 2
        func run(_ gamma: Double, draws: Int) throws -> [Int] {
            let engine = try SteeringEngine(spec: SteeringSpec.parse("cbg:gamma=\(gamma)"), classifier: classifier, classIndex: c)
            var counts = [Int](repeating: 0, count: 81)
            for i in 0..<draws {
                let s = try engine.sample(canvas: [Int](repeating: toy.maskId, count: 4), denoiser: toy, seed: 21, index: i)
                counts[toy.index(of: s.sequence)] += 1
            }
            return counts
        }
        let target = Self.normalised((0..<81).map { toy.joint[$0] * table[$0][c] })
        assertChiSquareFits(counts: try run(1, draws: 50_000), probabilities: target, "cbg:gamma=1 vs p(x|c)")
        let law = Self.plainLaw { s, i in
            Self.normalised((0..<3).map { v in
                var t = s
                t[i] = v
                return Self.conditional(toy, s, i)[v] * pow(classifier.posterior(t)[c], 3)
            })
        }
        let counts = try run(3, draws: 50_000)
        assertChiSquareFits(counts: counts, probabilities: law, "cbg:gamma=3 vs its per-step law")
        let sharpened = Self.normalised((0..<81).map { toy.joint[$0] * pow(table[$0][c], 3) })
        assertRejected(counts, actual: law, claimed: sharpened, "cbg:gamma=3")
    }

    // MARK: Determinism and bad input

    /// A sample depends on (seed, index) alone: not on how many sequences share a call.
    func testOutputDoesNotDependOnCallChunking() throws {
        let toy = Self.conditionalToy
        let spec = try SteeringSpec.parse("cfg:gamma=2:mode=smc:particles=16:output=all")
        let a = try SteeringEngine(spec: spec, maxSequencesPerCall: 32)
        let b = try SteeringEngine(spec: spec, maxSequencesPerCall: 3)
        for i in 0..<50 {
            let x = try a.sample(canvas: canvas, denoiser: toy, seed: 4, index: i)
            let y = try b.sample(canvas: canvas, denoiser: toy, seed: 4, index: i)
            XCTAssertEqual(x.sequence, y.sequence)
            XCTAssertEqual(x.particles.map(\.sequence), y.particles.map(\.sequence))
            XCTAssertEqual(x.particles.map(\.logWeight), y.particles.map(\.logWeight))
            XCTAssertEqual(x.logZ, y.logZ)
        }
    }

    func testBadSpecsAreRefusedWithTheReason() {
        for bad in ["cfg:gamma=-1", "cfg:gamma=nan", "cfg:gamma=inf", "smc:lambda=-2", "anneal:beta=0",
                    "cfg:gamma=2:mode=exact", "cfg:particles=0", "smc:particles=100000", "smc:particles=1",
                    "cfg:gamma=0.5:particles=4", "cfg:mode=smc", "bon:n=0", "svdd:alpha=-1", "cfg:interval=0.8-0.2",
                    "cfg:gamma=1:gamma=2", "guide:gamma=1", "cfg:gamma", "smc:ess=0", "smc:resample=stratified"] {
            XCTAssertThrowsError(try SteeringSpec.parse(bad), bad) { error in
                print("\(bad): \(error)")
            }
        }
        XCTAssertThrowsError(try SteeringEngine(spec: SteeringSpec.parse("bon:n=4")))  // no reward
        XCTAssertThrowsError(try SteeringEngine(spec: SteeringSpec.parse("tilt:lambda=1"),
                                                reward: TableReward(values: [], toy: Self.toy)))  // not additive
        // cfg on a canvas with nothing to condition on.
        let engine = try! SteeringEngine(spec: SteeringSpec.parse("cfg:gamma=2"))
        XCTAssertThrowsError(try engine.sample(canvas: [3, 3, 3, 3], denoiser: Self.toy, seed: 1, index: 0))
    }
}
