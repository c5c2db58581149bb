import XCTest
@testable import UnmaskTraining
import UnmaskModel

final class AdamWTests: XCTestCase {
    /// Three AdamW steps on f(θ) = ½θ² (gradient θ) from θ = 1 on a decaying matrix entry,
    /// derived by hand from the update rule (lr 0.1, β1 0.9, β2 0.999, ε 0, wd 0.1, no
    /// warmup, constant rate):
    ///   step 1: m = 0.1, v = 0.001, m̂ = 1, v̂ = 1 → θ = 1 − 0.1·(1 + 0.1·1) = 0.89
    ///   step 2: g = 0.89; m = 0.09 + 0.089 = 0.179, v = 0.000999 + 0.000792 1 = 0.001791 1;
    ///           m̂ = 0.179/0.19 = 0.942105, v̂ = 0.0017911/0.001999 = 0.895998, √v̂ = 0.946572;
    ///           θ = 0.89 − 0.1·(0.995290 + 0.089) = 0.781571
    /// and a norm weight (no decay) in the same run: step 1 gives 1 − 0.1 = 0.9.
    func testHandDerivedTrajectory() {
        let c = ModelConfig(vocabSize: 4, dModel: 2, nLayers: 1, nHeads: 1, dFF: 2, contextLength: 2, maskTokenId: 3)
        let p = ParameterBuffer(config: c), g = ParameterBuffer(config: c)
        let opt = AdamW(params: p, learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 0, weightDecay: 0.1,
                        warmupSteps: 0, totalSteps: 1000, minLearningRateFraction: 1, clipNorm: nil)
        let w = try! p.mutablePointer("layers.0.mlp.up.weight"), gw = try! g.mutablePointer("layers.0.mlp.up.weight")
        let n = try! p.mutablePointer("final_norm.weight"), gn = try! g.mutablePointer("final_norm.weight")
        w[0] = 1; n[0] = 1
        var trajectory: [Float] = []
        for _ in 0..<2 {
            gw[0] = w[0]; gn[0] = n[0]
            opt.update(params: p, grads: g)
            trajectory.append(w[0])
            if trajectory.count == 1 { XCTAssertEqual(n[0], 0.9, accuracy: 1e-6) }
        }
        XCTAssertEqual(trajectory[0], 0.89, accuracy: 1e-6)
        XCTAssertEqual(trajectory[1], 0.781571, accuracy: 2e-6)
    }

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
