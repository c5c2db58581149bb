import XCTest
@testable import UnmaskDiffusion
import UnmaskKernels
import UnmaskModel
import UnmaskSupport

/// Fast-dLLM's prefix and dual caches on a bidirectional model: what is exact about them,
/// and that their error is measured rather than zero by construction.
final class FastDLLMCacheTests: XCTestCase {
    static func denoiser(shifted: Bool = false, layers: Int = 2) throws -> TransformerDenoiser {
        var c = ModelConfig(vocabSize: 300, dModel: 64, nLayers: layers, nHeads: 4, dFF: 96, contextLength: 40, maskTokenId: 299)
        c.shiftedLogits = shifted
        c.tiedEmbeddings = !shifted
        let p = ParameterBuffer.random(config: c, seed: 4)
        for t in p.layout where !t.name.hasSuffix("norm.weight") {
            for i in 0..<t.shape.reduce(1, *) { p.data[t.offset + i] *= 6 }
        }
        return try TransformerDenoiser(model: Transformer(config: c, source: p))
    }

    func run(_ spec: String, _ d: Denoiser, canvas: [Int], caching: KeyValueCaching?, meter: CacheError? = nil) throws -> [[Int]] {
        var out: [[Int]] = []
        try Generation.run(sampler: DiffusionSampler(spec), denoiser: d, canvas: canvas, count: 3, batch: 3, seed: 5,
                           caching: caching, cacheError: meter) { _, s, _, _ in out.append(s) }
        return out
    }

    /// With one block over the whole canvas nothing is ever stale: each call's rows are all
    /// recomputed (the first call fills, the others recompute the block = everything), so
    /// the distributions are the uncached ones up to the attention's summation order
    /// (row by row against the cache, a dense product without it): measured KL below 1e-9
    /// nats and every argmax the same. With blocks of 8 over 30 positions the cached rows are
    /// stale and the meter sees it (KL > 1e-6), for both caches.
    /// Also for shifted logits (Dream), whose block's first position reads the row before
    /// the block: that row is recomputed with the block, so nothing stale is read there either.
    func testErrorIsZeroWhenNothingIsStaleAndMeasuredWhenItIs() throws {
        for shifted in [false, true] {
        let d = try FastDLLMCacheTests.denoiser(shifted: shifted)
        let canvas = [7, 8, 9] + [Int](repeating: 299, count: 27)
        for mode in [KeyValueCaching.prefix, .dual] {
            let whole = CacheError()
            _ = try run("confidence:block=40", d, canvas: canvas, caching: mode, meter: whole)
            print("\(mode) one block: \(whole.positions) positions, mean KL \(whole.meanKL), max \(whole.klMax), argmax agreement \(whole.argmaxAgreement)")
            XCTAssertGreaterThan(whole.positions, 100)
            XCTAssertLessThan(whole.klMax, 1e-9)
            XCTAssertEqual(whole.argmaxAgreement, 1)
            let blocks = CacheError()
            _ = try run("confidence:block=8", d, canvas: canvas, caching: mode, meter: blocks)
            print("\(mode) blocks of 8: mean KL \(blocks.meanKL), max \(blocks.klMax), argmax agreement \(blocks.argmaxAgreement), threshold-set overlap \(blocks.thresholdOverlap)")
            XCTAssertGreaterThan(blocks.meanKL, 1e-6, "a stale cache that measures as exact: the meter sees nothing")
        }
        }
    }

    /// With one layer a position's keys and values depend on its own token alone, so a cached
    /// row is stale only if its token changed, and the rows outside the block never change
    /// while it is written: both caches are then exact up to the attention's summation order
    /// (KL below 1e-9, every argmax the same), in blocks of 8. With shifted logits (Dream) this
    /// holds only because the row before the block is recomputed with it: read from nowhere,
    /// the block's first position would get its own row's output instead.
    func testOneLayerCachesAreExactShiftedOrNot() throws {
        let canvas = [7, 8, 9] + [Int](repeating: 299, count: 27)
        for shifted in [false, true] {
            let d = try FastDLLMCacheTests.denoiser(shifted: shifted, layers: 1)
            for mode in [KeyValueCaching.prefix, .dual] {
                let meter = CacheError()
                _ = try run("confidence:block=8", d, canvas: canvas, caching: mode, meter: meter)
                print("one layer, shifted \(shifted), \(mode): mean KL \(meter.meanKL), max \(meter.klMax), argmax agreement \(meter.argmaxAgreement)")
                XCTAssertLessThan(meter.klMax, 1e-9, "shifted \(shifted) \(mode)")
                XCTAssertEqual(meter.argmaxAgreement, 1)
            }
        }
    }

    /// The caches keep the sampler's bookkeeping: complete text, fixed tokens kept, the
    /// same for any batch (each sample's cache rows are its own).
    func testCachedRunsAreCompleteAndBatchIndependent() throws {
        let d = try FastDLLMCacheTests.denoiser()
        var canvas = [7, 8, 9] + [Int](repeating: 299, count: 27)
        canvas[20] = 55
        for mode in [KeyValueCaching.prefix, .dual] {
            let three = try run("confidence:block=8:threshold=0.5", d, canvas: canvas, caching: mode)
            var one: [[Int]] = []
            try Generation.run(sampler: DiffusionSampler("confidence:block=8:threshold=0.5"), denoiser: d, canvas: canvas, count: 3,
                               batch: 1, seed: 5, caching: mode) { _, s, _, _ in one.append(s) }
            XCTAssertEqual(one, three, "\(mode)")
            for s in three {
                XCTAssertFalse(s.contains(299))
                XCTAssertEqual(s[20], 55)
                XCTAssertEqual(Array(s[0..<3]), [7, 8, 9])
            }
        }
    }

    func testRefusals() throws {
        let d = try FastDLLMCacheTests.denoiser()
        let canvas = [Int](repeating: 299, count: 30)
        func message(_ spec: String, _ caching: KeyValueCaching, _ c: [Int] = [Int](repeating: 299, count: 30)) -> String {
            do { _ = try run(spec, d, canvas: c, caching: caching); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message("confidence", .dual).contains("block=K"))
        XCTAssertTrue(message("fhs:k=1", .prefix).contains("block=K"))
        XCTAssertTrue(message("confidence:block=8", .exact).contains("block-causal"))
        XCTAssertTrue(message("confidence:block=8", .dual, [Int](repeating: 299, count: 60)).contains("inside the context"))
        // A caller whose calls span blocks is refused, not served stale rows.
        let cache = try FastDLLMCache(denoiser: d, mode: .dual, blockSize: 8)
        XCTAssertThrowsError(try cache.logits(sequences: [canvas], positions: [[3, 12]]))
        _ = canvas
    }
}
