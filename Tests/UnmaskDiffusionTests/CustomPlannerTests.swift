import XCTest
@testable import UnmaskDiffusion

/// The sampler API as an outside package uses it: a struct denoiser, a custom planner.
final class CustomPlannerTests: XCTestCase {
    /// Point-mass conditionals: token i is always (i mod 3). A struct, as the protocol allows.
    struct PositionDenoiser: Denoiser {
        let vocabSize = 4, maskId = 3, maxLength = 10
        func logits(sequences: [[Int]], positions: [[Int]]) throws -> [Float] {
            var rows: [Float] = []
            for wanted in positions { for i in wanted { rows += (0..<4).map { $0 == i % 3 ? 0 : -.infinity } } }
            return rows
        }
    }

    /// Records the order in which it chose positions.
    final class RightToLeft: Planner {
        var chosen: [Int] = []
        var needsDenoiserEverywhere: Bool { true }
        func choose(masked: [Int], logProbabilities: [[Double]]?, count: Int, rng: inout Philox) -> [Int] {
            XCTAssertEqual(logProbabilities?.count, masked.count)
            let pick = Array(masked.suffix(count).reversed())
            chosen += pick
            return pick
        }
    }

    struct Wrong: Planner {
        let answer: ([Int]) -> [Int]
        var needsDenoiserEverywhere: Bool { false }
        func choose(masked: [Int], logProbabilities: [[Double]]?, count: Int, rng: inout Philox) -> [Int] { answer(masked) }
    }

    func testCustomPlannerDrivesTheLoop() throws {
        let planner = RightToLeft()
        let canvas = [3, 3, 1, 3, 3, 3]  // position 2 fixed
        let r = try DiffusionSampler(planner: planner, tokensPerCall: 2).sample(canvases: [canvas], denoiser: PositionDenoiser(), seed: 1)
        XCTAssertEqual(r.sequences[0], [0, 1, 1, 0, 1, 2])   // fixed text kept, the rest from the denoiser
        XCTAssertEqual(planner.chosen, [5, 4, 3, 1, 0])       // right to left, two per call
        XCTAssertEqual(r.nfe[0], 3)
    }

    func testAPlannerThatBreaksTheContractIsAnErrorNotATrap() {
        let canvas = [3, 3, 0, 3]
        for (name, answer) in [("empty", { (_: [Int]) in [Int]() }), ("unmasked position", { _ in [2] }),
                               ("repeated position", { m in [m[0], m[0]] }), ("too many", { m in m })] {
            let sampler = try! DiffusionSampler(planner: Wrong(answer: answer), tokensPerCall: 1)
            XCTAssertThrowsError(try sampler.sample(canvases: [canvas], denoiser: PositionDenoiser(), seed: 1), name)
        }
        XCTAssertThrowsError(try DiffusionSampler(planner: RightToLeft(), tokensPerCall: 0))
    }
}
