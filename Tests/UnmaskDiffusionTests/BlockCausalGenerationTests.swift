import XCTest
@testable import UnmaskDiffusion
import UnmaskKernels
import UnmaskModel
import UnmaskSupport

/// Block diffusion's generation: with the key-value cache, the tokens of the uncached run,
/// for the same seed, whatever the sampler, batch, threads or products.
final class BlockCausalGenerationTests: XCTestCase {
    /// A random block-causal model (blocks of 8, context 40) whose weights are scaled up,
    /// so that its distributions depend strongly on the text (at the init scale they are
    /// near uniform, and a wrong context would hardly change a draw).
    static func denoiser(threads: Int = 1, compute: Compute = .fp32, positions: ModelConfig.Positions = .rotary) throws -> TransformerDenoiser {
        var c = ModelConfig(vocabSize: 300, dModel: 64, nLayers: 2, nHeads: 4, dFF: 96, contextLength: 40, maskTokenId: 299)
        c.attention = .blockCausal
        c.blockSize = 8
        c.positions = positions
        let p = ParameterBuffer.random(config: c, seed: 3)
        for t in p.layout where !t.name.hasSuffix("norm.weight") {
            for i in 0..<t.shape.reduce(1, *) { p.data[t.offset + i] *= 6 }
        }
        return try TransformerDenoiser(model: Transformer(config: c, source: p, matmul: MatMul(threads: threads, compute: compute)))
    }

    func run(_ spec: String, _ denoiser: TransformerDenoiser, canvas: [Int], count: Int = 4, batch: Int = 2,
             caching: KeyValueCaching, pastContext: PastContext = .recompute) throws -> (samples: [[Int]], nfe: [Int]) {
        var samples: [[Int]] = [], nfe: [Int] = []
        try Generation.run(sampler: DiffusionSampler(spec), denoiser: denoiser, canvas: canvas, count: count, batch: batch,
                           seed: 21, caching: caching, pastContext: pastContext) { _, s, n, _ in
            samples.append(s)
            nfe.append(n)
        }
        return (samples, nfe)
    }

    /// Cached and uncached generation give the same tokens and the same NFE: six samplers,
    /// batches of 1 and 3, 1 and 2 threads, fp32 and int8 products; a prompt of 5 tokens
    /// (its block half prompt, half generated) and a template token inside a block; 37
    /// positions (inside the context of 40) and 100 (past it: the window recomputed).
    func testCachedGenerationIsTheUncachedGeneration() throws {
        let m = 299
        var short = [5, 17, 42, 9, 77] + [Int](repeating: m, count: 32)
        short[20] = 123
        let long = [5, 17, 42, 9, 77] + [Int](repeating: m, count: 95)
        let specs = ["fhs", "confidence:k=2", "ancestral:steps=12", "p2:steps=10", "entropy:threshold=0.5", "margin:block=4"]
        for (threads, compute) in [(1, Compute.fp32), (2, .fp32), (2, .int8)] {
            let d = try BlockCausalGenerationTests.denoiser(threads: threads, compute: compute)
            for spec in specs {
                for canvas in [short, long] {
                    let off = try run(spec, d, canvas: canvas, caching: .off)
                    for batch in [1, 3] {
                        let on = try run(spec, d, canvas: canvas, batch: batch, caching: .exact)
                        XCTAssertEqual(on.samples, off.samples, "\(spec) \(compute) \(threads) threads, \(canvas.count) positions, batch \(batch)")
                        XCTAssertEqual(on.nfe, off.nfe, "\(spec): NFE")
                    }
                    for s in off.samples {
                        XCTAssertFalse(s.contains(m))
                        for (i, id) in canvas.enumerated() where id != m { XCTAssertEqual(s[i], id, "fixed token changed at \(i)") }
                    }
                }
            }
            // The samples differ from each other (the streams are used).
            XCTAssertGreaterThan(Set(try run("fhs", d, canvas: short, caching: .exact).samples).count, 1)
        }
    }

    /// Text written in blocks depends only on what came before: block k's tokens are the
    /// same whether the canvas ends after it or runs on (each block is drawn before any
    /// later one exists). A sampler that saw later masks would change with the length.
    func testEarlierBlocksDoNotDependOnTheCanvasLength() throws {
        let d = try BlockCausalGenerationTests.denoiser()
        let m = 299
        let a = try run("fhs", d, canvas: [5, 17] + [Int](repeating: m, count: 22), caching: .exact).samples
        let b = try run("fhs", d, canvas: [5, 17] + [Int](repeating: m, count: 38), caching: .exact).samples
        for (x, y) in zip(a, b) { XCTAssertEqual(x, Array(y[0..<24])) }
    }

    /// Sliding the cache past the context runs (and gives complete text, the same for any
    /// batch), and it is not the recomputed window: its older keys are stale.
    func testSlidingCache() throws {
        let d = try BlockCausalGenerationTests.denoiser()
        let m = 299
        let canvas = [5, 17] + [Int](repeating: m, count: 78)
        let slide = try run("fhs", d, canvas: canvas, caching: .exact, pastContext: .slide)
        XCTAssertEqual(try run("fhs", d, canvas: canvas, batch: 3, caching: .exact, pastContext: .slide).samples, slide.samples)
        for s in slide.samples { XCTAssertFalse(s.contains(m)) }
        let recompute = try run("fhs", d, canvas: canvas, caching: .exact, pastContext: .recompute)
        XCTAssertEqual(slide.samples.map { Array($0[0..<40]) }, recompute.samples.map { Array($0[0..<40]) },
                       "inside the context the two agree")
        XCTAssertNotEqual(slide.samples, recompute.samples)
    }

    /// What a block-causal model cannot do is refused in one line.
    func testRefusals() throws {
        let d = try BlockCausalGenerationTests.denoiser()
        let m = 299
        let canvas = [Int](repeating: m, count: 60)
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message {
            try Generation.run(sampler: DiffusionSampler("fhs"), denoiser: d, canvas: canvas, count: 1, batch: 1, seed: 1, window: 4) { _, _, _, _ in }
        }.contains("does not match the model's block layout"))
        XCTAssertTrue(message { _ = try run("fhs", d, canvas: canvas, caching: .off, pastContext: .slide) }.contains("needs cache exact"))
        let learned = try BlockCausalGenerationTests.denoiser(positions: .learned)
        XCTAssertTrue(message { _ = try run("fhs", learned, canvas: canvas, caching: .exact, pastContext: .slide) }.contains("rotary"))
        // Inside the context a learned-position model slides nothing and runs.
        XCTAssertNoThrow(try run("fhs", learned, canvas: Array(canvas[0..<40]), caching: .exact, pastContext: .slide))
    }
}
