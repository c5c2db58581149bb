import XCTest
@testable import UnmaskDiffusion

/// Many samples in batches, streamed, and text past the context in blocks.
final class GenerationTests: XCTestCase {
    static let toy = ExactToyDenoiser.random(tokens: 3, length: 4, seed: 7)

    func generate(_ canvas: [Int], count: Int, batch: Int, window: Int? = nil, spec: String = "fhs") throws -> [[Int]] {
        var out: [[Int]] = []
        try Generation.run(sampler: DiffusionSampler(spec), denoiser: GenerationTests.toy, canvas: canvas, count: count,
                           batch: batch, seed: 11, window: window) { i, s, _, _ in
            XCTAssertEqual(i, out.count)
            out.append(s)
        }
        return out
    }

    func testSameSamplesForAnyBatch() throws {
        let m = GenerationTests.toy.maskId
        let canvas = [m, 1, m, m]
        let one = try generate(canvas, count: 9, batch: 1)
        XCTAssertEqual(try generate(canvas, count: 9, batch: 7), one)
        XCTAssertEqual(try generate(canvas, count: 9, batch: 9), one)
        // And the same as the sampler alone on all nine at once (what generate did before).
        let all = try DiffusionSampler("fhs").sample(canvases: [[Int]](repeating: canvas, count: 9), denoiser: GenerationTests.toy, seed: 11)
        XCTAssertEqual(all.sequences, one)
        // Blocks too.
        let long = [Int](repeating: m, count: 11)
        XCTAssertEqual(try generate(long, count: 5, batch: 2), try generate(long, count: 5, batch: 5))
    }

    func testEachSampleIsEmittedBeforeTheNextBatchStarts() throws {
        let m = GenerationTests.toy.maskId
        var events: [String] = []
        try Generation.run(sampler: DiffusionSampler("fhs"), denoiser: GenerationTests.toy, canvas: [m, m, m, m], count: 3,
                           batch: 1, seed: 1, observer: { first, _ in
            if events.last != "step \(first)" { events.append("step \(first)") }
        }) { i, _, _, _ in events.append("emit \(i)") }
        XCTAssertEqual(events, ["step 0", "emit 0", "step 1", "emit 1", "step 2", "emit 2"])
    }

    func testBlocksKeepFixedTextAndSeeOnlyTheContext() throws {
        let m = GenerationTests.toy.maskId
        // 13 positions with a 4-token context: a prompt of 2, fixed text in the middle and
        // at the end (a template's), masks elsewhere.
        let canvas = [2, 0, m, m, m, 1, 1, m, m, m, m, 2, m]
        for block in [nil, 1, 2, 3, 4] {
            let samples = try generate(canvas, count: 4, batch: 3, window: block)
            for s in samples {
                XCTAssertFalse(s.contains(m), "block \(String(describing: block)): a mask is left")
                for (i, id) in canvas.enumerated() where id != m { XCTAssertEqual(s[i], id, "fixed text changed at \(i)") }
            }
        }
        // The sampler refuses a window longer than the context, so reaching here means
        // every window fitted; a block larger than the context is refused up front.
        XCTAssertThrowsError(try generate(canvas, count: 1, batch: 1, window: 5))
        XCTAssertThrowsError(try generate(canvas, count: 1, batch: 1, window: 0))
    }

    /// Within the context and without --block, the text is what the sampler alone gives
    /// (block 0 uses the plain seed): long-text support changed nothing that fitted.
    func testTextThatFitsIsUnchanged() throws {
        let m = GenerationTests.toy.maskId
        let r = try DiffusionSampler("confidence").sample(canvases: [[m, m, 2, m]], denoiser: GenerationTests.toy, seed: 11)
        XCTAssertEqual(try generate([m, m, 2, m], count: 1, batch: 1, spec: "confidence"), r.sequences)
    }

    func testSpecsOfTheFasterRules() throws {
        XCTAssertEqual(try SamplerSpec.parse("confidence:threshold=0.9:block=32").description, "confidence:block=32:threshold=0.9")
        XCTAssertEqual(try SamplerSpec.parse("fhs:remask=0.1:remask_window=0.2-0.8").description, "fhs:remask=0.1:remask_window=0.2-0.8")
        for bad in ["confidence:threshold=0", "confidence:threshold=1.5", "confidence:threshold=nan", "fhs:block=0",
                    "fhs:remask=1", "fhs:remask=nan", "fhs:remask=0.1:remask_window=0.5-1.5", "fhs:remask=0.1:remask_window=-0.1-0.5",
                    "fhs:remask=0.1:remask_window=0.8-0.2", "ancestral:threshold=0.9", "p2:block=4",
                    "confidence:factor=0", "confidence:factor=3", "confidence:factor=1:threshold=0.9", "ddpd:factor=1"] {
            XCTAssertThrowsError(try SamplerSpec.parse(bad), bad)
        }
        XCTAssertEqual(try SamplerSpec.parse("confidence:block=32:factor=1").description, "confidence:block=32:factor=1.0")
    }

    /// Fast-dLLM's factor rule, worked by hand: the i-th ranked position needs 1 − f/(i + 1).
    /// f = 0.5: 0.95 ≥ 0.75, then 0.8 < 0.833: one position. f = 1: 0.95 ≥ 0.5, 0.8 ≥ 0.667,
    /// then 0.7 < 0.75: two. None sure enough: none (the planner then chooses).
    func testFactorRule() {
        let positions = [3, 5, 8, 9], confidences = [0.95, 0.7, 0.8, 0.5]
        XCTAssertEqual(SamplingRun.factorRule(positions, confidences: confidences, factor: 0.5), [3])
        XCTAssertEqual(SamplingRun.factorRule(positions, confidences: confidences, factor: 1), [3, 8])
        XCTAssertEqual(SamplingRun.factorRule(positions, confidences: [0.3, 0.2, 0.1, 0.1], factor: 1), [])
        XCTAssertEqual(SamplingRun.factorRule([1, 2], confidences: [0.9, 0.9], factor: 2), [1, 2], "ties: lower position first")
    }

    /// With the factor rule a call unmasks one position or more, and the run finishes with
    /// fewer calls than positions on a confident model (the toy's conditionals are peaked
    /// enough for some calls to take two).
    func testFactorRuleRuns() throws {
        let m = GenerationTests.toy.maskId
        var nfe: [Int] = []
        try Generation.run(sampler: DiffusionSampler("confidence:factor=2"), denoiser: GenerationTests.toy, canvas: [m, m, m, m],
                           count: 20, batch: 4, seed: 3) { _, s, n, _ in
            XCTAssertFalse(s.contains(m))
            nfe.append(n)
        }
        XCTAssertTrue(nfe.allSatisfy { $0 >= 1 && $0 <= 4 })
        XCTAssertLessThan(nfe.reduce(0, +), 20 * 4)
    }

    /// The vocabulary head runs only where a sampler reads it: one row per call for the
    /// first-hitting sampler, the current block's masked positions for a confidence planner
    /// with block=K, never every position.
    func testHeadRowsAreOnlyThoseTheSamplerReads() throws {
        final class Recorder: Denoiser {
            let vocabSize = 5, maskId = 4, maxLength = 24
            var requests: [[Int]] = []
            func logits(sequences: [[Int]], positions: [[Int]]) throws -> [Float] {
                for (s, p) in zip(sequences, positions) where !p.isEmpty {
                    requests.append(p)
                    XCTAssertTrue(p.allSatisfy { s[$0] == 4 }, "a row asked for an unmasked position")
                }
                return [Float](repeating: 0, count: positions.reduce(0) { $0 + $1.count } * vocabSize)
            }
        }
        let canvas = [Int](repeating: 4, count: 24)
        let fhs = Recorder()
        _ = try DiffusionSampler("fhs").sample(canvases: [canvas], denoiser: fhs, seed: 1)
        XCTAssertEqual(fhs.requests.count, 24)
        XCTAssertTrue(fhs.requests.allSatisfy { $0.count == 1 })
        let confidence = Recorder()
        _ = try DiffusionSampler("confidence:block=8").sample(canvases: [canvas], denoiser: confidence, seed: 1)
        XCTAssertEqual(confidence.requests.count, 24)
        for (step, rows) in confidence.requests.enumerated() {
            let block = step / 8
            XCTAssertEqual(rows.count, 8 - step % 8, "step \(step)")
            XCTAssertTrue(rows.allSatisfy { $0 / 8 == block })
        }
    }
}
