import XCTest
@testable import UnmaskModel
import UnmaskKernels

/// The activation arena's layout and the memory estimate built on it.
final class MemoryEstimateTests: XCTestCase {
    /// A grouped-query, gated, untied model and a GPT-2-like one, in both arena kinds.
    let configs: [ModelConfig] = {
        var llama = ModelConfig(vocabSize: 300, dModel: 64, nLayers: 3, nHeads: 4, dFF: 96, contextLength: 24, maskTokenId: 299)
        llama.nKVHeads = 2
        llama.gatedMLP = true
        llama.tiedEmbeddings = false
        var gpt2 = ModelConfig(vocabSize: 280, dModel: 48, nLayers: 2, nHeads: 3, dFF: 192, contextLength: 16, maskTokenId: 279)
        gpt2.norm = .layernorm
        gpt2.positions = .learned
        gpt2.linearBias = true
        return [llama, gpt2]
    }()

    /// Every buffer has a name of its own, lies inside the allocation the arena's size
    /// promises, starts on a cache line, and overlaps no other.
    func testArenaBuffersAreNamedAlignedAndDisjoint() {
        for c in configs {
            for training in [false, true] where !training || c.trainingUnsupported == nil {
                let shape = ActivationArena.Shape(batch: 3, length: c.contextLength, headRows: 5, threads: 2, dropout: training)
                let arena = ActivationArena(config: c, training: training)
                arena.reserve(batch: shape.batch, length: shape.length, headRows: shape.headRows, threads: shape.threads,
                              dropout: shape.dropout)
                let buffers = arena.buffers, total = ActivationArena.floats(config: c, training: training, shape: shape)
                XCTAssertEqual(Set(buffers.map(\.name)).count, buffers.count, "names repeat")
                var end = 0
                for b in buffers.sorted(by: { $0.offset < $1.offset }) {
                    XCTAssertGreaterThanOrEqual(b.offset, end, "\(b.name) overlaps the buffer before it")
                    XCTAssertEqual(b.offset % 16, 0, "\(b.name) is not on a cache line")
                    end = b.offset + b.floats
                }
                XCTAssertLessThanOrEqual(end, total)
                XCTAssertEqual(ActivationArena.bytes(config: c, training: training, shape: shape), 4 * (total + 16))
                let layers = training ? c.nLayers : 1
                XCTAssertEqual(buffers.filter { $0.name.hasSuffix("qkv") && !$0.name.hasPrefix("d") }.map(\.floats),
                               Array(repeating: shape.batch * shape.length * c.qkvWidth, count: layers))
            }
        }
    }

    /// From a file, an untied model in fp32 needs 4 bytes a parameter but its embedding
    /// table's (read in place): the F32 vectors as read and panels of every matrix; BF16
    /// panels halve the matrices; int8 and bf16 copy every matrix, the head included, at 1
    /// and 2 bytes.
    func testWeightsOfAnUntiedModelFromAFile() {
        let c = configs[0]
        let p = Double(c.parameterCount), table = Double(c.vocabSize * c.dModel), matrices = Double(products(c))
        let fp32 = MemoryEstimate(config: c, source: .file, engines: [.fp32])
        XCTAssertEqual(fp32.weightBytes, 4 * (p - table))
        XCTAssertEqual(fp32.arenaBytes, 0)
        XCTAssertEqual(fp32.totalBytes, fp32.weightBytes)
        if MicroKernel.selected == .avx512 {
            XCTAssertEqual(MemoryEstimate(config: c, source: .file, engines: [.fp32], halfPanels: true).weightBytes,
                           4 * (p - table - matrices) + 2 * matrices)
        }
        XCTAssertEqual(MemoryEstimate(config: c, source: .file, engines: [.openblas]).weightBytes, 4 * (p - table))
        XCTAssertEqual(MemoryEstimate(config: c, source: .file, engines: [.int8]).weightBytes,
                       4 * (p - table - matrices) + matrices)
        XCTAssertEqual(MemoryEstimate(config: c, source: .file, engines: [.bf16]).weightBytes,
                       4 * (p - table - matrices) + 2 * matrices)
    }

    /// A training step: the parameters, gradients and two moments (16 bytes a parameter),
    /// the panels of every product (a tied head's from the embedding table), and the
    /// training arena with every position in the head.
    func testTrainingStep() {
        let c = configs[1], batch = 4, L = c.contextLength
        let e = MemoryEstimate.trainingStep(config: c, batch: batch, threads: 2, dropout: false)
        XCTAssertEqual(e.weightBytes + e.optimizerBytes, 16 * Double(c.parameterCount) + 4 * Double(products(c)))
        let shape = ActivationArena.Shape(batch: batch, length: L, headRows: batch * L, threads: 2)
        XCTAssertEqual(e.arenaBytes, Double(ActivationArena.bytes(config: c, training: true, shape: shape)))
        XCTAssertGreaterThan(MemoryEstimate.trainingStep(config: c, batch: batch, threads: 2).arenaBytes, e.arenaBytes)  // dropout factors
        XCTAssertTrue(MemoryEstimate.fits(1e9, fraction: 0.8, available: 0))  // the system does not say
        XCTAssertFalse(MemoryEstimate.fits(0.9e9, fraction: 0.8, available: 1_000_000_000))
    }

    /// Parameters the products multiply by: the blocks' matrices and the head (for a tied
    /// head, the embedding table once more).
    func products(_ c: ModelConfig) -> Int {
        let blocks = c.tensorShapes.filter { $0.shape.count == 2 && $0.name.hasPrefix("layers.") }.reduce(0) { $0 + $1.shape.reduce(1, *) }
        return blocks + c.dModel * (c.head == .tokens ? c.vocabSize : 1)
    }
}
