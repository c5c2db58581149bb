import XCTest
@testable import UnmaskTraining
import UnmaskModel

final class AdamWTests: XCTestCase {
    /// Three AdamW steps on f(θ) = ½θ² (gradient θ) from θ = 1 on a decaying matrix entry,
    /// derived by hand from the update rule (lr 0.1, β1 0.9, β2 0.999, ε 0, wd 0.1, no
    /// warmup, constant rate, no clipping):
    ///   step 1: m = 0.1, v = 0.001, m̂ = 1, v̂ = 1 → θ = 1 − 0.1·(1 + 0.1·1) = 0.89
    ///   step 2: g = 0.89; m = 0.09 + 0.089 = 0.179, v = 0.000999 + 0.000792 1 = 0.001791 1;
    ///           m̂ = 0.179/0.19 = 0.942105, v̂ = 0.0017911/0.001999 = 0.895998, √v̂ = 0.946572;
    ///           θ = 0.89 − 0.1·(0.995281 + 0.089) = 0.781572
    ///   step 3: g = 0.781572; m = 0.1611 + 0.078157 = 0.239257, v = 0.001789 309 + 0.000610 854
    ///           = 0.002400 163; m̂ = 0.239257/0.271 = 0.882868, v̂ = 0.002400163/0.002997001
    ///           = 0.800855, √v̂ = 0.894905; θ = 0.781572 − 0.1·(0.986549 + 0.078157) = 0.675101
    /// and a norm weight (no decay) in the same run: step 1 gives 1 − 0.1 = 0.9.
    /// Tolerances: the moments are stored in Float, so ~1e-7 relative per step.
    func testHandDerivedTrajectory() {
        let c = ModelConfig(vocabSize: 4, dModel: 2, nLayers: 1, nHeads: 1, dFF: 2, contextLength: 2, maskTokenId: 3)
        let p = ParameterBuffer(config: c), g = ParameterBuffer(config: c)
        let opt = AdamW(params: p, learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 0, weightDecay: 0.1,
                        warmupSteps: 0, totalSteps: 1000, minLearningRateFraction: 1, clipNorm: nil)
        let w = try! p.mutablePointer("layers.0.mlp.up.weight"), gw = try! g.mutablePointer("layers.0.mlp.up.weight")
        let n = try! p.mutablePointer("final_norm.weight"), gn = try! g.mutablePointer("final_norm.weight")
        w[0] = 1; n[0] = 1
        var trajectory: [Float] = []
        for _ in 0..<3 {
            gw[0] = w[0]; gn[0] = n[0]
            opt.update(params: p, grads: g)
            trajectory.append(w[0])
            if trajectory.count == 1 { XCTAssertEqual(n[0], 0.9, accuracy: 1e-6) }
        }
        XCTAssertEqual(trajectory.count, 3)
        XCTAssertEqual(trajectory[0], 0.89, accuracy: 1e-6)
        XCTAssertEqual(trajectory[1], 0.781572, accuracy: 2e-6)
        XCTAssertEqual(trajectory[2], 0.675101, accuracy: 2e-6)
    }

    /// Global-norm clipping, by hand (clip 1, lr 0.1, β1 0.9, β2 0.999, ε 0, no decay, no
    /// warmup, constant rate). Gradients on two entries of different tensors, all others 0:
    ///   step 1: g = (3, 4), global norm 5 > 1 → scaled by 1/5 to (0.6, 0.8). Adam's first
    ///           step is scale-free (m̂/√v̂ = ±1), so both go 1 → 0.9 with or without clipping.
    ///   step 2: g = (0.3, 0.4), norm 0.5 ≤ 1 → not scaled. Matrix entry:
    ///           m = 0.9·0.06 + 0.1·0.3 = 0.084, v = 0.999·0.00036 + 0.001·0.09 = 0.000449 64;
    ///           m̂ = 0.084/0.19 = 0.442105, v̂ = 0.00044964/0.001999 = 0.224932, √v̂ = 0.474270;
    ///           θ = 0.9 − 0.1·0.932180 = 0.806782. The norm entry has the same ratio
    ///           (0.8 and 0.4 are proportional to 0.6 and 0.3), so also 0.806782.
    /// Unclipped, step 1 would have stored m = 0.3, v = 0.009 and step 2 would give
    /// m̂ = 1.578947, √v̂ = 2.131378, θ = 0.825919: 0.019 away, so the check tells them apart.
    /// The returned norm is the pre-clipping one, and the gradient buffer is left as given.
    func testGradientIsClippedToTheGlobalNorm() {
        let c = ModelConfig(vocabSize: 4, dModel: 2, nLayers: 1, nHeads: 1, dFF: 2, contextLength: 2, maskTokenId: 3)
        let p = ParameterBuffer(config: c), g = ParameterBuffer(config: c)
        let opt = AdamW(params: p, learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 0, weightDecay: 0,
                        warmupSteps: 0, totalSteps: 1000, minLearningRateFraction: 1, clipNorm: 1)
        let w = try! p.mutablePointer("layers.0.mlp.up.weight"), gw = try! g.mutablePointer("layers.0.mlp.up.weight")
        let n = try! p.mutablePointer("final_norm.weight"), gn = try! g.mutablePointer("final_norm.weight")
        w[0] = 1; n[0] = 1
        gw[0] = 3; gn[0] = 4
        XCTAssertEqual(opt.update(params: p, grads: g), 5, accuracy: 1e-12)
        XCTAssertEqual(gw[0], 3)
        XCTAssertEqual(gn[0], 4)
        XCTAssertEqual(w[0], 0.9, accuracy: 1e-6)
        XCTAssertEqual(n[0], 0.9, accuracy: 1e-6)
        gw[0] = 0.3; gn[0] = 0.4
        XCTAssertEqual(opt.update(params: p, grads: g), 0.5, accuracy: 1e-7)
        XCTAssertEqual(w[0], 0.806782, accuracy: 2e-6)
        XCTAssertEqual(n[0], 0.806782, accuracy: 2e-6)
    }

    /// The learning-rate schedule, the returned pre-clipping global norm, and the decay
    /// groups. (That clipping scales the update is checked in testGradientIsClippedToTheGlobalNorm.)
    func testScheduleAndClipping() {
        let c = ModelConfig(vocabSize: 4, dModel: 2, nLayers: 1, nHeads: 1, dFF: 2, contextLength: 2, maskTokenId: 3)
        let p = ParameterBuffer(config: c), g = ParameterBuffer(config: c)
        let opt = AdamW(params: p, learningRate: 1e-3, warmupSteps: 10, totalSteps: 110, minLearningRateFraction: 0.1, clipNorm: 1)
        XCTAssertEqual(opt.learningRate(at: 5), 5e-4, accuracy: 1e-12)
        XCTAssertEqual(opt.learningRate(at: 10), 1e-3, accuracy: 1e-12)
        XCTAssertEqual(opt.learningRate(at: 60), 1e-3 * (0.1 + 0.9 * 0.5), accuracy: 1e-12)
        XCTAssertEqual(opt.learningRate(at: 110), 1e-4, accuracy: 1e-12)
        for i in 0..<g.count { g.data[i] = 3 }
        let norm = opt.update(params: p, grads: g)
        XCTAssertEqual(norm, 3 * Double(g.count).squareRoot(), accuracy: 1e-6)
        XCTAssertTrue(AdamW.decays("layers.0.attn.qkv.weight", shape: [2, 6]))
        XCTAssertFalse(AdamW.decays("embed.weight", shape: [4, 2]))
        XCTAssertFalse(AdamW.decays("final_norm.weight", shape: [2]))
    }
}
