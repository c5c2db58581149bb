import XCTest
@testable import UnmaskModel
import UnmaskKernels
import UnmaskSupport

/// A block-causal model's cached forward against its uncached one, and block diffusion's
/// training layout against the generation it stands for.
final class KeyValueCacheTests: XCTestCase {
    static func blockCausal(_ size: Int = 8, _ mutate: (inout ModelConfig) -> Void = { _ in }) throws -> (ModelConfig, ParameterBuffer) {
        try TransformerTests.randomModel { c in
            c.attention = .blockCausal
            c.blockSize = size
            mutate(&c)
        }
    }

    /// Block by block, each block's rows computed against the cache give the bits the
    /// uncached forward over the whole text gives, at every position: for fp32 and int8
    /// products, on 1 and 2 threads, a batch of 3 texts of 37 positions (a partial last
    /// block), and for a block's steps before its commit (the block's rows computed again
    /// with other tokens, as a sampler's steps do). Exact: the promise is identity.
    func testCachedRowsAreTheUncachedBits() throws {
        for (name, mutate) in [("rotary", { (_: inout ModelConfig) in }),
                               ("learned positions, GQA", { (c: inout ModelConfig) in c.positions = .learned; c.nKVHeads = 2 })] {
            let (c, p) = try KeyValueCacheTests.blockCausal(8, mutate)
            for compute in [Compute.fp32, .int8] {
                for threads in [1, 2] {
                    let model = try Transformer(config: c, source: p, matmul: MatMul(threads: threads, compute: compute))
                    var rng = SplitMix64(seed: 11)
                    let B = 3, L = 37, K = 8, V = c.vocabSize
                    let ids = (0..<(B * L)).map { _ in Int(rng.next() % UInt64(c.vocabSize - 1)) }
                    let whole = try model.forward(ids: ids, batch: B, length: L)
                    let cache = try KeyValueCache(model: model, slots: B, capacity: 40)
                    for start in stride(from: 0, to: L, by: K) {
                        let end = min(L, start + K), rows = end - start
                        let visible = (start..<end).map { _ in end }
                        // A step with the block's tokens masked first, then the clean block.
                        let masked = (0..<B).flatMap { b in (start..<end).map { i in i % 2 == 0 ? c.maskTokenId : ids[b * L + i] } }
                        _ = try model.forwardCached(ids: masked, slots: [0, 1, 2], length: rows, first: start, visible: visible,
                                                    positions: Array(0..<(B * rows)), cache: cache)
                        let clean = (0..<B).flatMap { b in Array(ids[(b * L + start)..<(b * L + end)]) }
                        let out = try model.forwardCached(ids: clean, slots: [0, 1, 2], length: rows, first: start, visible: visible,
                                                          positions: Array(0..<(B * rows)), cache: cache)
                        var expected: [Float] = []
                        for b in 0..<B {
                            for i in start..<end { expected += whole[((b * L + i) * V)..<((b * L + i + 1) * V)] }
                        }
                        let maxDiff: Float = zip(out, expected).map { abs($0 - $1) }.max()!
                        if start == 32 { print("cached vs uncached [\(name), \(compute), \(threads) threads], last block: max diff \(maxDiff)") }
                        XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "\(name) \(compute) \(threads) threads, block at \(start)")
                    }
                }
            }
        }
    }

    /// Block diffusion's training layout (x_t ⊕ x_0 in one forward) computes, at a noisy
    /// row of block b, what the block-causal model computes on the clean blocks before b
    /// followed by block b's noisy tokens. The two runs take different paths (dense
    /// attention with a mask, and attention row by row), so they agree to rounding:
    /// tolerance 1e-4 relative to the largest logit (printed).
    func testTrainingLayoutIsBlockwiseGeneration() throws {
        let (c, p) = try KeyValueCacheTests.blockCausal(8)
        let model = try Transformer(config: c, source: p, matmul: MatMul(threads: 2))
        var rng = SplitMix64(seed: 5)
        let L = 24, K = 8, V = c.vocabSize
        let clean = (0..<L).map { _ in Int(rng.next() % UInt64(c.vocabSize - 1)) }
        let noisy = clean.enumerated().map { i, t in (i * 7 + 3) % 3 == 0 ? c.maskTokenId : t }
        let layout = try model.forward(ids: noisy + clean, batch: 1, length: 2 * L, positions: Array(0..<L),
                                       pattern: .blockDiffusionTraining(K))
        var worst = 0.0, scale = 0.0
        for b in 0..<(L / K) {
            let text = Array(clean[0..<(b * K)]) + Array(noisy[(b * K)..<((b + 1) * K)])
            let out = try model.forward(ids: text, batch: 1, length: text.count, positions: Array((b * K)..<((b + 1) * K)))
            let expected = Array(layout[(b * K * V)..<((b + 1) * K * V)])
            worst = max(worst, zip(out, expected).map { Double(abs($0 - $1)) }.max()!)
            scale = max(scale, out.map { Double(abs($0)) }.max()!)
        }
        print("training layout vs block-by-block: max diff \(worst) (largest logit \(fixed(scale, 2)))")
        XCTAssertLessThan(worst, 1e-4 * max(1, scale))
    }

    /// Bad shapes are errors, not reads outside the cache.
    func testCacheBoundsAreChecked() throws {
        let (c, p) = try KeyValueCacheTests.blockCausal(8)
        let model = try Transformer(config: c, source: p)
        XCTAssertThrowsError(try KeyValueCache(model: model, slots: 1, capacity: 41))
        let cache = try KeyValueCache(model: model, slots: 1, capacity: 16)
        XCTAssertThrowsError(try model.forwardCached(ids: Array(repeating: 1, count: 8), slots: [0], length: 8, first: 12,
                                                     visible: Array(repeating: 16, count: 8), positions: [0], cache: cache))
        XCTAssertThrowsError(try model.forwardCached(ids: Array(repeating: 1, count: 8), slots: [1], length: 8, first: 0,
                                                     visible: Array(repeating: 8, count: 8), positions: [0], cache: cache))
        XCTAssertThrowsError(try model.forwardCached(ids: Array(repeating: 1, count: 8), slots: [0], length: 8, first: 0,
                                                     visible: Array(repeating: 17, count: 8), positions: [0], cache: cache))
        var learned = c
        learned.positions = .learned
        let lp = try Transformer(config: learned, source: ParameterBuffer.random(config: learned, seed: 1))
        XCTAssertThrowsError(try KeyValueCache(model: lp, slots: 1, capacity: 40, positions: 80)) { e in
            XCTAssertTrue("\(e)".contains("rotary"), "\(e)")
        }
        // A block size that does not divide the context.
        var bad = c
        bad.blockSize = 7
        XCTAssertThrowsError(try bad.validate()) { e in XCTAssertTrue("\(e)".contains("block_size 7 must divide"), "\(e)") }
        bad.blockSize = nil
        XCTAssertThrowsError(try bad.validate())
        var bidirectional = ModelConfig.standard
        bidirectional.blockSize = 16
        XCTAssertThrowsError(try bidirectional.validate())
    }
}
