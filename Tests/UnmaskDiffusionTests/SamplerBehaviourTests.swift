import XCTest
import UnmaskTestSupport
@testable import UnmaskDiffusion
import UnmaskModel

final class SamplerBehaviourTests: XCTestCase {
    let toy = ExactToyDenoiser.random(tokens: 3, length: 5, seed: 9)
    static let allSpecs = ["ancestral:steps=50", "ancestral:steps=50:cache=off", "ancestral:steps=50:precision=float32",
                           "fhs", "fhs:k=2", "uniform", "confidence", "margin", "entropy", "p2", "p2:eta=0:steps=3",
                           "ddpd", "confidence:temperature=0.7:top_k=2", "fhs:top_p=0.9"]

    final class PatternCorruption: CorruptionDetector {
        func corruptionProbabilities(sequences: [[Int]]) throws -> [[Double]] {
            sequences.map { $0.enumerated().map { Double(($0.offset * 7 + $0.element) % 5) / 10 } }
        }
    }

    /// Same seed, same output; and a sample does not depend on the batch it is in.
    func testDeterminismAndBatchIndependence() throws {
        for spec in SamplerBehaviourTests.allSpecs {
            let s = try DiffusionSampler(spec, corruptionDetector: PatternCorruption())
            let canvases = [[Int]](repeating: [Int](repeating: 3, count: 5), count: 6)
            let a = try s.sample(canvases: canvases, denoiser: toy, seed: 11)
            let b = try s.sample(canvases: canvases, denoiser: toy, seed: 11)
            XCTAssertEqual(a.sequences, b.sequences, spec)
            let alone = try s.sample(canvases: [canvases[4]], denoiser: toy, seed: 11, firstStream: 4)
            XCTAssertEqual(alone.sequences[0], a.sequences[4], spec)
            let other = try s.sample(canvases: canvases, denoiser: toy, seed: 12)
            XCTAssertNotEqual(other.sequences, a.sequences, spec)
        }
    }

    /// Fixed positions (a prompt, or template text) never change, and no mask survives.
    func testFixedPositionsStayAndEverythingIsFilled() throws {
        for spec in SamplerBehaviourTests.allSpecs {
            let s = try DiffusionSampler(spec, corruptionDetector: PatternCorruption())
            let canvas = [2, 3, 0, 3, 1]  // positions 0, 2, 4 fixed
            let r = try s.sample(canvases: [canvas, canvas], denoiser: toy, seed: 5)
            for seq in r.sequences {
                XCTAssertEqual([seq[0], seq[2], seq[4]], [2, 0, 1], spec)
                XCTAssertFalse(seq.contains(3), spec)
            }
            XCTAssertTrue(r.nfe.allSatisfy { $0 >= 1 }, spec)
        }
        // Nothing to fill: no calls.
        let r = try DiffusionSampler("fhs").sample(canvases: [[0, 1, 2, 0, 1]], denoiser: toy, seed: 1)
        XCTAssertEqual(r.nfe, [0])
    }

    /// With a prompt the conditionals change: check the exact sampler against the true
    /// conditional joint given the prefix: 10^5 draws over 27 cells, Pearson chi-square
    /// below the chi-square quantile at false-alarm rate 1e-6 (26 dof if no cell is pooled:
    /// bound 75.5). The seed is fixed, so this is a regression check whose chance of having
    /// been wrongly written is 1e-6. Its power: a 20% error moved between two cells of mass
    /// 1/27 adds λ = 2·10^5·0.0074²/0.037 ≈ 300 to the statistic's mean of 26 and fails it
    /// with near certainty; λ = 100 (a 12% error) still fails it 99.6% of the time.
    func testPromptConditioningIsExact() throws {
        let prefix = [1, 0]
        var conditional = [Double](repeating: 0, count: 27)
        for (i, p) in toy.joint.enumerated() {
            let x = toy.sequence(index: i)
            if Array(x.prefix(2)) == prefix { conditional[x[2] * 9 + x[3] * 3 + x[4]] += p }
        }
        let z = conditional.reduce(0, +)
        let s = try DiffusionSampler("fhs")
        var counts = [Int](repeating: 0, count: 27)
        for chunk in 0..<100 {
            let canvases = [[Int]](repeating: prefix + [3, 3, 3], count: 1000)
            for seq in try s.sample(canvases: canvases, denoiser: toy, seed: 8, firstStream: UInt64(chunk * 1000)).sequences {
                counts[seq[2] * 9 + seq[3] * 3 + seq[4]] += 1
            }
        }
        assertChiSquareFits(counts: counts, probabilities: conditional.map { $0 / z }, "fhs with prompt \(prefix)")
    }

    /// The legacy float32 sampler's cache only skips calls whose input is unchanged, so it
    /// must give bit-identical samples to cache=off (same draws, same rows) with fewer calls:
    /// at most one per distinct masked set, so at most L for a sample alone.
    func testLegacyCacheChangesCallsNotSamples() throws {
        let canvases = [[Int]](repeating: [Int](repeating: 3, count: 5), count: 8)
        let cached = try DiffusionSampler("ancestral:steps=200:precision=float32").sample(canvases: canvases, denoiser: toy, seed: 4)
        let stepwise = try DiffusionSampler("ancestral:steps=200:precision=float32:cache=off").sample(canvases: canvases, denoiser: toy, seed: 4)
        XCTAssertEqual(cached.sequences, stepwise.sequences)
        XCTAssertLessThan(cached.nfe.reduce(0, +), stepwise.nfe.reduce(0, +))
        let alone = try DiffusionSampler("ancestral:steps=200:precision=float32").sample(canvases: [canvases[0]], denoiser: toy, seed: 4)
        XCTAssertLessThanOrEqual(alone.nfe[0], 5)
        XCTAssertGreaterThan(stepwise.nfe[0], 5)
        // The cache is per sample: in a batch of 8, each sample still makes at most L calls,
        // exactly as many as alone, and draws the same sequence.
        XCTAssertTrue(cached.nfe.allSatisfy { $0 <= 5 }, "\(cached.nfe)")
        XCTAssertEqual(cached.nfe[0], alone.nfe[0])
        XCTAssertEqual(cached.sequences[0], alone.sequences[0])
    }

    func testSpecErrors() {
        let bad: [(String, String)] = [
            ("ancestral:steps=0", "steps must be in"),
            ("fhs:temperature=0", "temperature must be a positive number"),
            ("fhs:temperature=-1", "temperature"),
            ("fhs:temperature=nan", "not a finite number"),
            ("fhs:top_p=0", "top-p must be in (0, 1]"),
            ("fhs:top_p=1.5", "top-p"),
            ("fhs:k=0", "k must be at least 1"),
            ("fhs:top_k=0", "top-k must be at least 1"),
            ("banana", "unknown sampler \"banana\""),
            ("fhs:steps=3", "has no key \"steps\""),
            ("fhs:k", "is not key=value"),
            ("ancestral:reuse=maybe", "reuse must be on or off"),
            ("ancestral:cache=maybe", "reuse must be on or off"),  // the old spelling of reuse
            ("ancestral:cache=off:reuse=on", "given twice"),
            ("fhs:precision=float16", "precision must be"),
            ("fhs:k=1:k=2", "given twice"),
        ]
        for (spec, needle) in bad {
            XCTAssertThrowsError(try SamplerSpec.parse(spec), spec) { error in
                XCTAssertTrue("\(error)".contains(needle), "\(spec): \(error)")
            }
        }
        XCTAssertThrowsError(try DiffusionSampler("ddpd"))  // needs the corruption detector
        XCTAssertEqual(try SamplerSpec.parse("ancestral:steps=1000:precision=float32:reuse=off").description,
                       "ancestral:steps=1000:reuse=off:precision=float32")
        // `cache` is read as `reuse`: the same spec, printed with the new name.
        XCTAssertEqual(try SamplerSpec.parse("ancestral:steps=1000:precision=float32:cache=off"),
                       try SamplerSpec.parse("ancestral:steps=1000:precision=float32:reuse=off"))
    }

    func testInputErrors() throws {
        let s = try DiffusionSampler("fhs")
        XCTAssertThrowsError(try s.sample(canvases: [[3, 3, 3, 3, 3, 3]], denoiser: toy, seed: 1))  // longer than the context
        XCTAssertThrowsError(try s.sample(canvases: [[3, 9, 3, 3, 3]], denoiser: toy, seed: 1))     // id outside the vocabulary
        XCTAssertThrowsError(try s.sample(canvases: [], denoiser: toy, seed: 1))
    }

    /// Every sampler runs on the transformer denoiser (random weights) with a prompt.
    func testSamplersRunOnTheTransformer() throws {
        var c = ModelConfig(vocabSize: 50, dModel: 32, nLayers: 1, nHeads: 2, dFF: 48, contextLength: 16, maskTokenId: 49)
        let denoiser = try TransformerDenoiser(model: Transformer(config: c, source: ParameterBuffer.random(config: c, seed: 1)))
        c.head = .binary
        c.tiedEmbeddings = false
        let planner = try TransformerCorruptionDetector(model: Transformer(config: c, source: ParameterBuffer.random(config: c, seed: 2)),
                                                        specialIds: [48, 49])
        for spec in SamplerBehaviourTests.allSpecs {
            let r = try DiffusionSampler(spec, corruptionDetector: planner).sample(canvases: [[5, 6] + [Int](repeating: 49, count: 10)], denoiser: denoiser, seed: 3)
            XCTAssertFalse(r.sequences[0].contains(49), spec)
            XCTAssertEqual(Array(r.sequences[0].prefix(2)), [5, 6], spec)
            // The transformer was called (at least one NFE), so some time was spent in it.
            // (networkSeconds ≤ seconds holds by construction here — the timed calls are
            // disjoint parts of the timed run — so it is checked where it can fail, below.)
            XCTAssertGreaterThanOrEqual(r.nfe[0], 1, spec)
            XCTAssertGreaterThan(r.networkSeconds, 0, spec)
        }
    }

    /// A denoiser that sleeps 2 ms per call and counts its calls.
    final class SlowDenoiser: Denoiser {
        let inner: ExactToyDenoiser
        var calls = 0
        init(_ inner: ExactToyDenoiser) { self.inner = inner }
        var vocabSize: Int { inner.vocabSize }
        var maskId: Int { inner.maskId }
        var maxLength: Int { inner.maxLength }
        func logits(sequences: [[Int]], positions: [[Int]]) throws -> [Float] {
            calls += 1
            usleep(2000)
            return try inner.logits(sequences: sequences, positions: positions)
        }
    }

    /// networkSeconds measures the time inside denoiser calls: with a denoiser that sleeps
    /// 2 ms per call, it is at least calls × 2 ms (fails if a call goes untimed or the time
    /// is not accumulated) and at most the run's wall time (the calls are disjoint parts of
    /// the run; since they are nearly all of it here, counting a call twice would push
    /// networkSeconds to about twice `seconds` and fail). Not timing-sensitive: sleeping
    /// lasts at least as long as asked, and both clocks are the same monotonic clock.
    func testNetworkSecondsCountsTheTimeInDenoiserCalls() throws {
        for spec in ["fhs", "ancestral:steps=50:cache=off", "confidence", "p2:eta=0:steps=3"] {
            let slow = SlowDenoiser(toy)
            let r = try DiffusionSampler(spec).sample(canvases: [[Int]](repeating: [3, 3, 3, 3, 3], count: 2), denoiser: slow, seed: 1)
            XCTAssertGreaterThan(slow.calls, 0, spec)
            XCTAssertGreaterThanOrEqual(r.networkSeconds, Double(slow.calls) * 0.002, spec)
            XCTAssertLessThanOrEqual(r.networkSeconds, r.seconds, spec)
            print("\(spec): \(slow.calls) calls, networkSeconds \(r.networkSeconds), seconds \(r.seconds)")
        }
    }

    /// DDPD's corruption detector sees masked positions as uniform draws from the ordinary ids, the
    /// same rule its training noise uses, wherever the specials sit in the vocabulary (here
    /// ids 0 and 2, and the toy's mask 3): it never sees a special, and it sees every
    /// ordinary id (1 is the only one here).
    func testDDPDShowsTheCorruptionDetectorOnlyOrdinaryIds() throws {
        final class Recording: CorruptionDetector {
            var inputs: [[[Int]]] = []
            let specialIds: Set<Int> = [0, 2]
            func corruptionProbabilities(sequences: [[Int]]) throws -> [[Double]] {
                inputs.append(sequences)
                return sequences.map { $0.map { _ in 0 } }
            }
        }
        XCTAssertEqual(try OrdinaryIds(vocabSize: 6, specials: [1, 4]).ids, [0, 2, 3, 5])
        XCTAssertThrowsError(try OrdinaryIds(vocabSize: 2, specials: [0, 1]))
        let recording = Recording()
        _ = try DiffusionSampler("ddpd", corruptionDetector: recording)
            .sample(canvases: [[Int]](repeating: [3, 3, 3, 3, 3], count: 4), denoiser: toy, seed: 2)
        // The first call sees only masked positions, so only noise: 1 everywhere.
        XCTAssertEqual(recording.inputs.first, [[Int]](repeating: [1, 1, 1, 1, 1], count: 4))
        XCTAssertFalse(recording.inputs.joined().joined().contains(3), "the mask reached the planner")
    }
}
