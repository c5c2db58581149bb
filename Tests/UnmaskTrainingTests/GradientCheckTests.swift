import XCTest
@testable import UnmaskTraining
import UnmaskModel
import UnmaskKernels
import UnmaskSupport

/// Gradient check: the analytic gradients of TrainingStep (Float, our GEMM) against central
/// finite differences of the loss computed by the naive Double reference forward, for
/// every parameter tensor and every objective's head and loss.
///
/// Threshold: |analytic − numeric| ≤ 2e-3·max(|numeric|, 0.05·RMS of that tensor's
/// gradient). The numeric side is accurate to ~1e-7 relative (Double, ε = 1e-3 on the
/// actual float perturbation, truncation O(ε²)); the analytic side carries Float rounding
/// of ~1e-5 relative through a few layers. The floor keeps entries whose gradient is
/// nearly zero from being judged by relative error alone.
final class GradientCheckTests: XCTestCase {
    enum Objective { case mdm, ar, corruptionDetector }

    func lossFromReference(_ c: ModelConfig, _ p: ParameterBuffer, ids: [Int], B: Int, L: Int, targets: TrainingTargets,
                           branchFactors: [[Double]]? = nil) throws -> Double {
        let out = try referenceForward(config: c, source: p, ids: ids, batch: B, length: L, branchFactors: branchFactors)
        switch targets {
        case let .tokens(positions, targetIds, weights, excluded):
            let V = c.vocabSize
            var loss = 0.0
            for (j, pos) in positions.enumerated() {
                let row = (0..<V).filter { $0 != excluded }.map { out[pos * V + $0] }
                let mx = row.max()!
                let logZ = mx + log(row.reduce(0) { $0 + exp($1 - mx) })
                loss += Double(weights[j]) * (logZ - out[pos * V + targetIds[j]])
            }
            return loss
        case let .binary(labels, weights):
            var loss = 0.0
            for r in 0..<labels.count where weights[r] != 0 {
                let z = out[r], y = Double(labels[r])
                loss += Double(weights[r]) * (max(z, 0) - z * y + log(1 + exp(-abs(z))))
            }
            return loss
        }
    }

    func check(_ objective: Objective, dropout: Float = 0, _ mutate: (inout ModelConfig) -> Void) throws {
        var c = ModelConfig(vocabSize: 13, dModel: 8, nLayers: 2, nHeads: 2, dFF: 12, contextLength: 6, maskTokenId: 12)
        mutate(&c)
        let p = ParameterBuffer.random(config: c, seed: 21)
        // Larger than the init scale so every path carries signal.
        var rng = SplitMix64(seed: 5)
        for i in 0..<p.count { p.data[i] += Float((rng.nextDouble() - 0.5) * 0.6) }
        let B = 2, L = 5
        let clean = (0..<(B * L)).map { ($0 * 5 + 3) % 12 }
        var ids = clean
        let targets: TrainingTargets
        switch objective {
        case .mdm:
            let masked = [1, 3, 4, 6, 9]
            for pos in masked { ids[pos] = c.maskTokenId }
            targets = .tokens(positions: masked, targets: masked.map { clean[$0] }, weights: [0.5, 1.5, 1, 2, 0.25], excluded: c.maskTokenId)
        case .ar:
            let positions = (0..<B).flatMap { b in (0..<(L - 1)).map { b * L + $0 } }
            targets = .tokens(positions: positions, targets: positions.map { clean[$0 + 1] }, weights: positions.map { _ in 0.125 }, excluded: c.maskTokenId)
        case .corruptionDetector:
            targets = .binary(labels: (0..<(B * L)).map { Float($0 % 3 == 0 ? 1 : 0) }, weights: (0..<(B * L)).map { _ in 0.1 })
        }
        let bp = TrainingStep(params: p)
        bp.dropout = dropout
        bp.dropoutKey = 77
        // With dropout, the reference gets the same factors: the masks TrainingStep draws for
        // this key, read back by dropping out a block of ones.
        var factors: [[Double]]? = nil
        if dropout > 0 {
            factors = (0..<(2 * c.nLayers)).map { site in
                var ones = [Float](repeating: 1, count: B * L * c.dModel)
                return bp.applyDropout(&ones, rows: B * L, site: site).map(Double.init)
            }
            let all = factors!.joined()
            let dropped = all.filter { $0 == 0 }.count
            XCTAssertGreaterThan(dropped, 0)
            XCTAssertLessThan(dropped, all.count)
        }
        bp.zeroGradients()
        let loss = try bp.step(ids: ids, batch: B, length: L, targets: targets)
        func lossFromReference(_ c: ModelConfig, _ p: ParameterBuffer, ids: [Int], B: Int, L: Int, targets: TrainingTargets) throws -> Double {
            try self.lossFromReference(c, p, ids: ids, B: B, L: L, targets: targets, branchFactors: factors)
        }
        let refLoss = try lossFromReference(c, p, ids: ids, B: B, L: L, targets: targets)
        XCTAssertEqual(loss, refLoss, accuracy: 1e-4 * max(1, abs(refLoss)), "loss")
        let worst = try assertGradientsMatch(p, bp.grads, label: "\(objective)") {
            try lossFromReference(c, p, ids: ids, B: B, L: L, targets: targets)
        }
        print("gradient check \(objective)\(dropout > 0 ? " with dropout \(dropout)" : ""): \(p.layout.count) tensors, worst relative error \(worst)")
    }

    /// Every tensor's analytic gradient in `grads` against central differences of `loss`
    /// (ε = 1e-3 on the actual float perturbation) at six entries per tensor, with the
    /// threshold above; a tensor with no gradient at all fails. Returns the worst relative error.
    func assertGradientsMatch(_ p: ParameterBuffer, _ grads: ParameterBuffer, label: String,
                              loss: () throws -> Double) throws -> Double {
        var worst = 0.0
        for t in p.layout {
            let n = t.shape.reduce(1, *)
            let grad = grads.data + t.offset
            var rms = 0.0
            for i in 0..<n { rms += Double(grad[i]) * Double(grad[i]) }
            rms = (rms / Double(n)).squareRoot()
            XCTAssertGreaterThan(rms, 0, "\(label): \(t.name) got no gradient at all")
            for k in 0..<min(n, 6) {
                let i = t.offset + (k * 7919) % n
                let original = p.data[i]
                p.data[i] = original + 1e-3
                let up = Double(p.data[i]), lossUp = try loss()
                p.data[i] = original - 1e-3
                let down = Double(p.data[i]), lossDown = try loss()
                p.data[i] = original
                let numeric = (lossUp - lossDown) / (up - down), analytic = Double(grads.data[i])
                let scale = max(abs(numeric), 0.05 * rms)
                worst = max(worst, abs(analytic - numeric) / scale)
                XCTAssertLessThanOrEqual(abs(analytic - numeric), 2e-3 * scale, "\(label) \(t.name)[\(i - t.offset)]: analytic \(analytic) numeric \(numeric)")
            }
        }
        return worst
    }

    func testMaskedDiffusionObjective() throws { try check(.mdm) { _ in } }
    func testAutoregressiveObjectiveWithLayerNormLearnedPositionsUntiedHead() throws {
        try check(.ar) { $0.attention = .causal; $0.norm = .layernorm; $0.activation = .silu; $0.positions = .learned; $0.tiedEmbeddings = false }
    }
    /// Dropout's backward: the reference forward multiplied by the same 0 or 1/(1−p)
    /// factors, differentiated numerically, with the same threshold.
    func testDropout() throws { try check(.ar, dropout: 0.3) { _ in } }
    /// GPT-2's block: LayerNorm with bias, learned positions, causal, biases on every linear map.
    /// MDLM's DiT as Unmask runs it: LayerNorm with bias (the folded modulation), biases,
    /// an untied head with a bias.
    func testDiTShapeWithHeadBias() throws {
        try check(.mdm) {
            $0.linearBias = true
            $0.norm = .layernorm
            $0.tiedEmbeddings = false
            $0.headBias = true
        }
    }
    func testLinearBiasesGPT2Block() throws {
        try check(.ar, dropout: 0.2) {
            $0.linearBias = true
            $0.norm = .layernorm
            $0.positions = .learned
            $0.attention = .causal
        }
    }
    /// Block diffusion's training layout (x_t ⊕ x_0, one forward): its gradient against
    /// finite differences of what the layout stands for — the reference forward run block
    /// by block on the clean blocks before b and block b's noisy tokens, the losses of the
    /// masked positions summed — so both the mask and the shared positions are checked.
    /// Same threshold as above.
    func testBlockDiffusionObjective() throws {
        var c = ModelConfig(vocabSize: 13, dModel: 8, nLayers: 2, nHeads: 2, dFF: 12, contextLength: 6, maskTokenId: 12)
        c.attention = .blockCausal
        c.blockSize = 2
        let p = ParameterBuffer.random(config: c, seed: 23)
        var rng = SplitMix64(seed: 6)
        for i in 0..<p.count { p.data[i] += Float((rng.nextDouble() - 0.5) * 0.6) }
        let L = 6, K = 2
        let clean = (0..<L).map { ($0 * 5 + 3) % 12 }
        var noisy = clean
        let masked = [0, 3, 4, 5]
        for i in masked { noisy[i] = 12 }
        let weights: [Float] = [0.5, 1.5, 1, 2]
        let targets = TrainingTargets.tokens(positions: masked, targets: masked.map { clean[$0] }, weights: weights, excluded: 12)
        let bp = TrainingStep(params: p)
        bp.zeroGradients()
        let loss = try bp.step(ids: noisy + clean, batch: 1, length: 2 * L, targets: targets, pattern: .blockDiffusionTraining(K))
        func blockwiseLoss() throws -> Double {
            var total = 0.0
            for (j, i) in masked.enumerated() {
                let b = i / K
                let text = Array(clean[0..<(b * K)]) + Array(noisy[(b * K)..<((b + 1) * K)])
                let row = try referenceForward(config: c, source: p, ids: text, batch: 1, length: text.count)
                let V = c.vocabSize
                let logits = (0..<V).filter { $0 != 12 }.map { row[i * V + $0] }
                let mx = logits.max()!
                total += Double(weights[j]) * (mx + log(logits.reduce(0) { $0 + exp($1 - mx) }) - row[i * V + clean[i]])
            }
            return total
        }
        XCTAssertEqual(loss, try blockwiseLoss(), accuracy: 1e-4 * max(1, abs(loss)), "loss")
        let worst = try assertGradientsMatch(p, bp.grads, label: "bd3", loss: blockwiseLoss)
        print("gradient check bd3 (training layout vs block-by-block reference): \(p.layout.count) tensors, worst relative error \(worst)")
    }
    func testCorruptionDetectorObjective() throws { try check(.corruptionDetector) { $0.head = .binary; $0.tiedEmbeddings = false } }
    func testOpenBLASBackendGivesTheSameGradients() throws {
        let c = ModelConfig(vocabSize: 13, dModel: 8, nLayers: 1, nHeads: 2, dFF: 12, contextLength: 6, maskTokenId: 12)
        let p = ParameterBuffer.random(config: c, seed: 3)
        let targets = TrainingTargets.tokens(positions: [0, 2, 5], targets: [1, 2, 3], weights: [1, 1, 1], excluded: 12)
        let ids = [12, 4, 12, 5, 6, 12]
        let ours = TrainingStep(params: p), blas = TrainingStep(params: p, matmul: MatMul(backend: .openblas))
        ours.zeroGradients(); blas.zeroGradients()
        let l1 = try ours.step(ids: ids, batch: 1, length: 6, targets: targets)
        let l2 = try blas.step(ids: ids, batch: 1, length: 6, targets: targets)
        XCTAssertEqual(l1, l2, accuracy: 1e-5)
        for i in 0..<p.count { XCTAssertEqual(ours.grads.data[i], blas.grads.data[i], accuracy: 1e-5) }
    }
}

final class TrainingStepDeterminismTests: XCTestCase {
    /// Loss and every gradient are bit-identical for 1, 2 and 3 threads (3 splits the
    /// norm-gradient blocks and element-wise chunks unevenly), for both attention masks
    /// and both norms (layer norm adds the bias-gradient partials and learned positions).
    func testThreadCountDoesNotChangeAnything() throws {
        var c = ModelConfig(vocabSize: 300, dModel: 64, nLayers: 2, nHeads: 4, dFF: 128, contextLength: 32, maskTokenId: 299)
        for attention in ModelConfig.Attention.allCases {
            for norm in [ModelConfig.Norm.rmsnorm, .layernorm] {
                c.attention = attention
                // Block-causal models train on block diffusion's layout: 2 sequences of 2·32 rows.
                c.blockSize = attention == .blockCausal ? 8 : nil
                let (batch, length) = attention == .blockCausal ? (2, 64) : (4, 32)
                let pattern: AttentionPattern? = attention == .blockCausal ? .blockDiffusionTraining(8) : nil
                c.norm = norm
                c.positions = norm == .layernorm ? .learned : .rotary
                let p = ParameterBuffer.random(config: c, seed: 8)
                let ids = (0..<(4 * 32)).map { ($0 * 37) % 299 }
                let positions = Array(stride(from: 0, to: 128, by: 3))
                let targets = TrainingTargets.tokens(positions: positions, targets: positions.map { ($0 * 11) % 299 },
                                                     weights: positions.map { _ in 0.01 }, excluded: 299)
                let one = TrainingStep(params: p, matmul: MatMul(threads: 1))
                one.zeroGradients()
                let l1 = try one.step(ids: ids, batch: batch, length: length, targets: targets, pattern: pattern)
                let g1 = Array(UnsafeBufferPointer(start: one.grads.data, count: p.count)).map(\.bitPattern)
                for threads in [2, 3] {
                    let many = TrainingStep(params: p, matmul: MatMul(threads: threads))
                    many.zeroGradients()
                    let l2 = try many.step(ids: ids, batch: batch, length: length, targets: targets, pattern: pattern)
                    XCTAssertEqual(l1.bitPattern, l2.bitPattern, "\(attention) \(norm) \(threads) threads")
                    XCTAssertEqual(g1, Array(UnsafeBufferPointer(start: many.grads.data, count: p.count)).map(\.bitPattern),
                                   "\(attention) \(norm) \(threads) threads")
                }
            }
        }
    }

    /// AdamW's update and its gradient norm (fixed 2^16-element blocks) are bit-identical
    /// for 1, 2 and 3 threads, on a model big enough for several norm blocks and threaded
    /// tensors.
    func testAdamWThreadCountDoesNotChangeAnything() {
        let c = ModelConfig(vocabSize: 1000, dModel: 128, nLayers: 1, nHeads: 4, dFF: 256, contextLength: 16, maskTokenId: 999)
        var results: [[UInt32]] = [], norms: [UInt64] = []
        for threads in [1, 2, 3] {
            let p = ParameterBuffer.random(config: c, seed: 4), g = ParameterBuffer.random(config: c, seed: 5)
            XCTAssertGreaterThan(p.count, 3 << 16)
            let opt = AdamW(params: p, learningRate: 1e-3, warmupSteps: 1, totalSteps: 10, clipNorm: 0.5)
            opt.threads = threads
            var norm = 0.0
            for _ in 0..<3 { norm = opt.update(params: p, grads: g) }
            results.append(Array(UnsafeBufferPointer(start: p.data, count: p.count)).map(\.bitPattern))
            norms.append(norm.bitPattern)
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2])
        XCTAssertEqual(Set(norms).count, 1)
    }
}

final class DropoutTests: XCTestCase {
    /// The masks drop a fraction p of entries and scale the rest by 1/(1−p). 200 000 draws
    /// at p = 0.1: the dropped fraction's standard error is sqrt(0.1·0.9/2e5) = 6.7e-4, so
    /// the 5-sigma tolerance is 3.4e-3. Different keys give different masks; the same key
    /// gives the same mask (bit for bit) on 1 and 2 threads.
    func testRateScaleAndDeterminism() {
        let c = ModelConfig(vocabSize: 50, dModel: 100, nLayers: 1, nHeads: 2, dFF: 16, contextLength: 8, maskTokenId: 49)
        let p = ParameterBuffer.random(config: c, seed: 1)
        func mask(key: UInt64, threads: Int) -> [Float] {
            let bp = TrainingStep(params: p, matmul: MatMul(threads: threads))
            bp.dropout = 0.1
            bp.dropoutKey = key
            var ones = [Float](repeating: 1, count: 2000 * 100)
            return bp.applyDropout(&ones, rows: 2000, site: 1)
        }
        let a = mask(key: 5, threads: 1)
        let fraction = Double(a.filter { $0 == 0 }.count) / Double(a.count)
        XCTAssertEqual(fraction, 0.1, accuracy: 5 * (0.1 * 0.9 / Double(a.count)).squareRoot())
        XCTAssertTrue(a.allSatisfy { $0 == 0 || $0 == Float(1) / Float(0.9) })
        XCTAssertEqual(a.map(\.bitPattern), mask(key: 5, threads: 2).map(\.bitPattern))
        XCTAssertNotEqual(a, mask(key: 6, threads: 1))
    }
}
