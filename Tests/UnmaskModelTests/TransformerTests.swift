import XCTest
@testable import UnmaskModel
import UnmaskKernels
import UnmaskSupport

let modelFixtures: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast()
    return parts.joined(separator: "/") + "/Fixtures"
}()

final class TransformerTests: XCTestCase {
    /// Golden: tiny models written by Python `safetensors`, logits from an independent
    /// float64 NumPy forward (scripts/fixtures/make_model_golden.py). Tolerance 1e-4 absolute on
    /// logits of magnitude ~1-10: float32 rounding over two layers is ~1e-6.
    func testGoldenLogitsFromNumPy() throws {
        for name in ["tiny_denoiser", "tiny_evaluator", "tiny_planner"] {
            let golden = try JSON.parse(try Files.read("\(modelFixtures)/\(name)/golden.json"))
            let ids = golden["ids"]!.arrayValue!.map { $0.intValue! }
            let expected = golden["outputs"]!.arrayValue!.map { $0.doubleValue! }
            for backend in GEMMBackend.allCases {
                let model = try Transformer.load(directory: "\(modelFixtures)/\(name)", matmul: MatMul(backend: backend))
                let out = try model.forward(ids: ids, batch: golden["batch"]!.intValue!, length: golden["length"]!.intValue!)
                XCTAssertEqual(out.count, expected.count)
                let maxDiff = zip(out, expected).map { abs(Double($0) - $1) }.max()!
                print("golden \(name) [\(backend)]: first \(out.prefix(3).map { fixed(Double($0), 5) }) vs \(expected.prefix(3).map { fixed($0, 5) }), max diff \(maxDiff)")
                XCTAssertLessThan(maxDiff, 1e-4, "\(name) \(backend)")
            }
        }
    }

    /// A random model: matrices and tables at 10× the init scale, so attention is far from
    /// uniform and errors would show; norm weights in 1 ± 0.25 and biases in ±0.5 (the
    /// init's 1 and 0 would hide a norm weight or a bias applied wrongly, or not at all).
    static func randomModel(_ mutate: (inout ModelConfig) -> Void = { _ in }, seed: UInt64 = 7) throws -> (ModelConfig, ParameterBuffer) {
        var c = ModelConfig(vocabSize: 300, dModel: 64, nLayers: 2, nHeads: 4, dFF: 96, contextLength: 40, maskTokenId: 299)
        mutate(&c)
        let p = ParameterBuffer.random(config: c, seed: seed)
        var rng = SplitMix64(seed: seed ^ 0x5EED)
        for t in p.layout {
            let values = p.data + t.offset
            for i in 0..<t.shape.reduce(1, *) {
                if t.name.hasSuffix("norm.weight") {
                    values[i] = Float(1 + (rng.nextDouble() - 0.5) * 0.5)
                } else if t.name.hasSuffix(".bias") {
                    values[i] = Float(rng.nextDouble() - 0.5)
                } else {
                    values[i] *= 10
                }
            }
        }
        return (c, p)
    }

    /// Every setting of the architecture, alone and in the combinations the Hugging Face
    /// families use, on random weights (`randomModel`).
    static let variants: [(name: String, mutate: (inout ModelConfig) -> Void)] = [
        ("rms/gelu/rotary/tied/bidirectional", { _ in }),
        ("layer/silu/learned/untied/causal", { $0.norm = .layernorm; $0.activation = .silu; $0.positions = .learned; $0.tiedEmbeddings = false; $0.attention = .causal }),
        ("binary head", { $0.head = .binary; $0.tiedEmbeddings = false }),
        ("grouped-query attention (4 query, 2 key/value heads)", { $0.nKVHeads = 2 }),
        ("multi-query attention (1 key/value head), causal", { $0.nKVHeads = 1; $0.attention = .causal }),
        ("grouped-query, 2 query heads of 32 (the 16-lane rotary), 1 key/value", { $0.nHeads = 2; $0.nKVHeads = 1 }),
        ("SwiGLU (gated MLP, SiLU)", { $0.gatedMLP = true; $0.activation = .silu }),
        ("gated MLP with GELU and biases on every linear", { $0.gatedMLP = true; $0.linearBias = true }),
        ("qkv biases only (Qwen2)", { $0.qkvBias = true }),
        ("rotary θ = 500000", { $0.ropeTheta = 500_000 }),
        ("shifted logits, untied head", { $0.shiftedLogits = true; $0.tiedEmbeddings = false }),
        ("shifted logits, binary head", { $0.shiftedLogits = true; $0.head = .binary; $0.tiedEmbeddings = false }),
        ("GPT-2 block: layer/gelu/learned/tied/causal, biases on every linear",
         { $0.norm = .layernorm; $0.positions = .learned; $0.attention = .causal; $0.linearBias = true }),
        ("folded DiT: layer/gelu/rotary, biases, untied head with a bias",
         { $0.norm = .layernorm; $0.linearBias = true; $0.tiedEmbeddings = false; $0.headBias = true }),
        ("LLaDA block: rms/SwiGLU/rotary θ 500000/GQA/untied",
         { $0.gatedMLP = true; $0.activation = .silu; $0.ropeTheta = 500_000; $0.nKVHeads = 2; $0.tiedEmbeddings = false; $0.normEps = 1e-5 }),
        ("block-causal in blocks of 8 (BD3-LM)", { $0.attention = .blockCausal; $0.blockSize = 8 }),
        ("block-causal in blocks of 5, learned positions, GQA, layer norm",
         { $0.attention = .blockCausal; $0.blockSize = 5; $0.positions = .learned; $0.nKVHeads = 2; $0.norm = .layernorm }),
        ("query/key norms (Qwen3)", { $0.qkNorm = true }),
        ("head size 24 set apart from d / heads (4 heads of 24 in d 64, Qwen3's head_dim)", { $0.explicitHeadDim = 24; $0.nKVHeads = 2 }),
        ("SDAR block: rms/SwiGLU/GQA/q-k norms/head_dim 32 ≠ d/heads/untied/block-causal in blocks of 4",
         { $0.gatedMLP = true; $0.activation = .silu; $0.nKVHeads = 2; $0.qkNorm = true; $0.explicitHeadDim = 32; $0.tiedEmbeddings = false
           $0.attention = .blockCausal; $0.blockSize = 4; $0.normEps = 1e-6 }),
        ("Dream block: rms/SwiGLU/GQA/qkv biases/untied/shifted logits",
         { $0.gatedMLP = true; $0.activation = .silu; $0.nKVHeads = 2; $0.qkvBias = true; $0.tiedEmbeddings = false; $0.shiftedLogits = true; $0.normEps = 1e-6 }),
    ]

    /// Our kernels, OpenBLAS and the naive Double reference agree on a random model, for
    /// every variant of the architecture. Tolerance 2e-4 relative to the largest output:
    /// the engine sums in Float and the reference in Double, over two layers (measured at
    /// most 3e-6 relative, printed). Where the code promises identity it is asserted exactly:
    /// our kernels give the same bits on 1 and 2 threads, and for a few requested rows
    /// (the few-rows path of the head) as for every row.
    func testForwardThreeWays() throws {
        for (name, mutate) in TransformerTests.variants {
            let (c, p) = try TransformerTests.randomModel(mutate)
            var rng = SplitMix64(seed: 3)
            let ids = (0..<(3 * 33)).map { _ in Int(rng.next() % UInt64(c.vocabSize)) }
            let ref = try referenceForward(config: c, source: p, ids: ids, batch: 3, length: 33)
            let scale = ref.map(abs).max()!
            for backend in GEMMBackend.allCases {
                let model = try Transformer(config: c, source: p, matmul: MatMul(backend: backend, threads: 2))
                let out = try model.forward(ids: ids, batch: 3, length: 33)
                let maxDiff = zip(out, ref).map { abs(Double($0) - $1) }.max()!
                print("forward \(name) [\(backend)] vs Double reference: max diff \(maxDiff) (largest output \(fixed(scale, 2)))")
                XCTAssertLessThan(maxDiff, 2e-4 * max(1, scale), "\(name) \(backend)")
                guard backend == .unmask else { continue }
                let single = try Transformer(config: c, source: p, matmul: MatMul(backend: backend, threads: 1))
                XCTAssertEqual(try single.forward(ids: ids, batch: 3, length: 33).map(\.bitPattern), out.map(\.bitPattern),
                               "\(name): 1 and 2 threads")
                let picked = [98, 0, 33, 34, 50]   // the last row, two sequence starts, the row after one, a middle
                let part = try model.forward(ids: ids, batch: 3, length: 33, positions: picked)
                let n = model.outputSize
                XCTAssertEqual(part.map(\.bitPattern), picked.flatMap { out[($0 * n)..<(($0 + 1) * n)] }.map(\.bitPattern),
                               "\(name): requested rows")
            }
        }
    }

    /// The reference implements every field of the config it is given, or refuses the
    /// config by naming the field: it never computes a function that ignores a setting.
    func testReferenceRefusesAConfigItDoesNotImplement() throws {
        for (name, mutate) in TransformerTests.variants {
            var c = ModelConfig.standard
            mutate(&c)
            XCTAssertNil(ReferenceForward.unimplementedField(of: c.json), name)
        }
        // A field the engine might gain (a sliding attention window): refused, named.
        guard case .object(let fields) = ModelConfig.standard.json else { return XCTFail("config JSON is not an object") }
        let unknown = JSONValue.object(fields + [("sliding_window", .int(8))])
        XCTAssertEqual(ReferenceForward.unimplementedField(of: unknown), "\"sliding_window\" (8)")
        // A config that is not a model is refused before any arithmetic.
        let (c, p) = try TransformerTests.randomModel()
        var bad = c
        bad.nKVHeads = 3
        XCTAssertThrowsError(try referenceForward(config: bad, source: p, ids: [1, 2], batch: 1, length: 2)) {
            XCTAssertTrue("\($0)".contains("n_kv_heads 3"), "\($0)")
        }
        XCTAssertThrowsError(try referenceForward(config: c, source: p, ids: [1, 2, 3], batch: 1, length: 2))
    }

    /// Changing token 15 changes the outputs of exactly the queries that see it: every
    /// position (bidirectional), 15 onwards (causal), 12 onwards in blocks of 4
    /// (block-causal: its block is 12..<16).
    func testCausalMaskHidesTheFutureAndBidirectionalDoesNot() throws {
        for attention in ModelConfig.Attention.allCases {
            let (c, p) = try TransformerTests.randomModel {
                $0.attention = attention
                if attention == .blockCausal { $0.blockSize = 4 }
            }
            let model = try Transformer(config: c, source: p)
            var ids = (0..<20).map { ($0 * 37) % c.vocabSize }
            let before = try model.forward(ids: ids, batch: 1, length: 20)
            ids[15] = (ids[15] + 1) % c.vocabSize
            let after = try model.forward(ids: ids, batch: 1, length: 20)
            let V = c.vocabSize
            // The first position whose output may change: 0, the token itself, or its block's start (12).
            let firstSeeing = attention == .bidirectional ? 0 : attention == .causal ? 15 : 12
            XCTAssertFalse((0..<(firstSeeing * V)).contains { before[$0] != after[$0] }, "\(attention)")
            for i in firstSeeing..<20 {
                XCTAssertTrue((i * V..<(i + 1) * V).contains { before[$0] != after[$0] }, "\(attention): position \(i)")
            }
        }
    }

    func testRequestedPositionsMatchTheFullOutputAndThreadsAreBitIdentical() throws {
        let (c, p) = try TransformerTests.randomModel()
        let ids = (0..<(2 * 40)).map { ($0 * 13) % c.vocabSize }
        let one = try Transformer(config: c, source: p, matmul: MatMul(threads: 1))
        let two = try Transformer(config: c, source: p, matmul: MatMul(threads: 2))
        let full = try one.forward(ids: ids, batch: 2, length: 40)
        XCTAssertEqual(full.map(\.bitPattern), try two.forward(ids: ids, batch: 2, length: 40).map(\.bitPattern))
        let picked = [79, 0, 41]
        let part = try one.forward(ids: ids, batch: 2, length: 40, positions: picked)
        let V = c.vocabSize
        // A few rows go through the few-rows path, the full run through the blocked one;
        // the weights' (in, out) copy makes both sum in the same order: the same bits.
        for (j, pos) in picked.enumerated() {
            XCTAssertEqual(part[(j * V)..<((j + 1) * V)].map(\.bitPattern), full[(pos * V)..<((pos + 1) * V)].map(\.bitPattern),
                           "position \(pos)")
        }
        XCTAssertThrowsError(try one.forward(ids: ids + [1, 2], batch: 2, length: 41))
        XCTAssertThrowsError(try one.forward(ids: [c.vocabSize], batch: 1, length: 1))
    }

    /// A product timer on the MatMul (what `bench forward` measures gemm_share with) counts
    /// time inside the products, on 1 and 2 threads and on the int8 path, and leaves every
    /// output bit unchanged.
    func testProductTimerCountsTimeAndChangesNoOutput() throws {
        let (c, p) = try TransformerTests.randomModel()
        let ids = (0..<(2 * 40)).map { ($0 * 7) % c.vocabSize }
        let computes: [Compute] = (Int8GEMM.available ? [.fp32, .int8] : [.fp32]) + [.bf16]
        for compute in computes {
            for threads in [1, 2] {
                let plain = try Transformer(config: c, source: p, matmul: MatMul(threads: threads, compute: compute))
                var timed = MatMul(threads: threads, compute: compute)
                let timer = ProductTimer()
                timed.productTimer = timer
                let model = try Transformer(config: c, source: p, matmul: timed)
                XCTAssertEqual(timer.seconds, 0)
                let t0 = monotonicSeconds()
                let out = try model.forward(ids: ids, batch: 2, length: 40)
                let whole = monotonicSeconds() - t0
                XCTAssertEqual(out.map(\.bitPattern), try plain.forward(ids: ids, batch: 2, length: 40).map(\.bitPattern))
                XCTAssertGreaterThan(timer.seconds, 0, "\(compute) \(threads) thread(s)")
                XCTAssertLessThanOrEqual(timer.seconds, whole * 1.01 + 1e-4, "\(compute) \(threads) thread(s)")
                timer.reset()
                XCTAssertEqual(timer.seconds, 0)
                XCTAssertNil(plain.matmul.productTimer)
            }
        }
    }
}

final class BatchIndependenceTests: XCTestCase {
    /// A sequence's outputs are bit-identical whether it is run alone, with one requested
    /// position or many, or inside a batch of other sequences (our backend): samplers can
    /// then promise that a sample does not depend on the batch it was drawn in.
    func testOutputsDoNotDependOnTheBatch() throws {
        let (c, p) = try TransformerTests.randomModel()
        let model = try Transformer(config: c, source: p, matmul: MatMul(threads: 2))
        var rng = SplitMix64(seed: 12)
        let seqs = (0..<7).map { _ in (0..<37).map { _ in Int(rng.next() % 299) } }
        let V = c.vocabSize
        // Row 36 of a 37-row sequence is in an edge tile alone (37 = 3·12 + 1) and in a full
        // tile inside the batch (3·37 + 36 = 147); row 5 is in a full tile both times.
        for pos in [5, 36] {
            let alone = try model.forward(ids: seqs[3], batch: 1, length: 37, positions: [pos])
            let batched = try model.forward(ids: seqs.flatMap { $0 }, batch: 7, length: 37,
                                            positions: (0..<7).map { $0 * 37 + pos })
            XCTAssertEqual(alone.map(\.bitPattern), Array(batched[(3 * V)..<(4 * V)]).map(\.bitPattern), "position \(pos)")
            let all = try model.forward(ids: seqs[3], batch: 1, length: 37)
            XCTAssertEqual(alone.map(\.bitPattern), Array(all[(pos * V)..<((pos + 1) * V)]).map(\.bitPattern), "position \(pos)")
        }
    }
}

/// Changing a loaded model's compute makes the copies the new arithmetic reads and frees
/// those of the old one: a model holds one reduced copy of its weights, never one per
/// compute it has had (on an 8 B model each is gigabytes).
final class ComputeChangeTests: XCTestCase {
    func testChangingTheComputeFreesTheOldCopies() throws {
        guard Int8GEMM.available, BF16GEMM.available else { throw XCTSkip("needs the int8 and bf16 kernels") }
        let c = ModelConfig(vocabSize: 300, dModel: 64, nLayers: 2, nHeads: 4, dFF: 96, contextLength: 40, maskTokenId: 299)
        let model = try Transformer(config: c, source: ParameterBuffer.random(config: c, seed: 1), matmul: MatMul(compute: .int8))
        let weights = model.layers.flatMap { [$0.qkv, $0.out, $0.up, $0.down] } + [model.head]
        XCTAssertTrue(weights.allSatisfy { $0.int8 != nil && $0.bf16 == nil })
        model.matmul = MatMul(compute: .bf16)
        XCTAssertTrue(weights.allSatisfy { $0.int8 == nil && $0.bf16 != nil })
        model.matmul = MatMul(compute: .fp32)
        XCTAssertTrue(weights.allSatisfy { $0.int8 == nil && $0.bf16 == nil })
        // Threads alone keep the copies.
        model.matmul = MatMul(threads: 2, compute: .int8)
        model.matmul = MatMul(threads: 1, compute: .int8)
        XCTAssertTrue(weights.allSatisfy { $0.int8 != nil })
    }
}
