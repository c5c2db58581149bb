import XCTest
import UnmaskSupport
import UnmaskTokenizer
@testable import UnmaskSteering

/// The classifier and the rewards, on hand-sized inputs whose answers are worked out here.
final class SteeringRewardTests: XCTestCase {
    /// 2 classes over ids 0...3, id 3 ignored (a "mask"). Counts: class a saw id 0 three
    /// times and id 1 once; class b saw id 1 once and id 2 three times.
    func smallClassifier() throws -> NaiveBayesClassifier {
        try NaiveBayesClassifier.train(classes: ["a", "b"], windows: [[[0, 0, 1, 3], [0]], [[2, 2, 1], [2, 3]]],
                                       vocabSize: 4, alpha: 1, ignored: [3])
    }

    func testNaiveBayesByHand() throws {
        let nb = try smallClassifier()
        XCTAssertEqual(nb.counts, [[3, 1, 0, 0], [0, 1, 3, 0]])
        // θ_a = (3+1, 1+1, 0+1)/(4 + 3) over the 3 ordinary ids; θ_b = (1, 2, 4)/7.
        let thetaA = [4.0 / 7, 2.0 / 7, 1.0 / 7], thetaB = [1.0 / 7, 2.0 / 7, 4.0 / 7]
        for v in 0..<3 {
            XCTAssertEqual(nb.logTheta[0][v], log(thetaA[v]), accuracy: 1e-15)
            XCTAssertEqual(nb.logTheta[1][v], log(thetaB[v]), accuracy: 1e-15)
        }
        XCTAssertEqual(nb.logTheta[0][3], -.infinity)
        // p(a | [0, 2, 0, 3]) = θa0²θa2 / (θa0²θa2 + θb0²θb2) = 16/(16 + 4) = 0.8; id 3 is not counted.
        XCTAssertEqual(exp(nb.logPosteriors([0, 2, 0, 3])[0]), 0.8, accuracy: 1e-14)
        XCTAssertEqual(nb.classify([2, 2, 0]), 1)
        // Candidates at position 2 of [2 (prompt, not counted), 0, M, M]: with v there,
        // p(a | 0, v) = θa0 θa(v) / Σ_c θc0 θc(v).
        let candidates = try nb.candidateLogPosteriors(sequence: [2, 0, 3, 3], position: 2, generated: [1, 2, 3], mask: 3,
                                                         classIndex: 0, vocabSize: 4)
        for v in 0..<3 {
            let a = thetaA[0] * thetaA[v], b = thetaB[0] * thetaB[v]
            XCTAssertEqual(exp(candidates[v]), a / (a + b), accuracy: 1e-14)
        }
        // The ratio reward is additive: Σ log θ_a(x)/θ̄(x) over the generated positions.
        let ratio = try ClassifierReward(classifier: nb, className: "a", kind: .ratio)
        let expected = log(thetaA[0] / ((thetaA[0] + thetaB[0]) / 2)) + log(thetaA[2] / ((thetaA[2] + thetaB[2]) / 2))
        XCTAssertEqual(try ratio.scores(sequences: [[1, 0, 2]], generated: [1, 2])[0], expected, accuracy: 1e-14)
        XCTAssertEqual(ratio.tokenScores![0] + ratio.tokenScores![2], expected, accuracy: 1e-14)
        XCTAssertThrowsError(try ClassifierReward(classifier: nb, className: "c"))
    }

    func testClassifierFileRoundTripsAndRefusesJunk() throws {
        let nb = try smallClassifier()
        let path = NSTemporaryDirectory() + "unmask-nb-\(getpid()).json"
        defer { unlink(path) }
        try Files.writeAtomically(Array(nb.serialized().utf8), to: path)
        let back = try NaiveBayesClassifier.load(path)
        XCTAssertEqual(back.counts, nb.counts)
        XCTAssertEqual(back.classes, nb.classes)
        XCTAssertEqual(back.logTheta, nb.logTheta)
        for junk in ["{}", "[1,2]", "{\"format\":\"unmask-naive-bayes\",\"classes\":[\"a\"],\"alpha\":1,\"vocab_size\":2,\"ignored_ids\":[],\"counts\":[[1,1]]}",
                     "{\"format\":\"unmask-naive-bayes\",\"classes\":[\"a\",\"b\"],\"alpha\":1,\"vocab_size\":2,\"ignored_ids\":[],\"counts\":[[1,1],[1]]}",
                     "{\"format\":\"unmask-naive-bayes\",\"classes\":[\"a\",\"b\"],\"alpha\":-1,\"vocab_size\":2,\"ignored_ids\":[],\"counts\":[[1,1],[1,1]]}",
                     "{\"format\":\"unmask-naive-bayes\",\"classes\":[\"a\",\"b\"],\"alpha\":1,\"vocab_size\":2,\"ignored_ids\":[],\"counts\":[[1,-1],[1,1]]}"] {
            try Files.writeAtomically(Array(junk.utf8), to: path)
            XCTAssertThrowsError(try NaiveBayesClassifier.load(path), junk) { print("\(junk.prefix(60)): \($0)") }
        }
    }

    func testRewardSpecsAreParsedAndRefused() throws {
        let resources = RewardSpec.Resources(
            tokenizer: try Tokenizer.load(path: cliRoot + "/vocab/tokenizer.json"), className: nil,
            classifierPath: { [root = cliRoot] in $0 ?? root + "/models/classifier" },
            evaluator: { throw UnmaskError("no evaluator here") }, timeout: 5)
        let words = try RewardSpec.make("words:include=Emma*2,Harriet:exclude=Knightley", resources)
        let table = words.tokenScores!
        let emma = resources.tokenizer.encode(" Emma")
        XCTAssertEqual(emma.count, 1)
        XCTAssertEqual(table[emma[0]], 2)
        XCTAssertEqual(table[resources.tokenizer.encode(" Knightley")[0]], -.infinity)
        XCTAssertEqual(try words.scores(sequences: [emma + emma], generated: [0, 1])[0], 4)
        for bad in ["words", "words:include=Emma*x", "words:weight=2", "classifier", "classifier:class=persuasion",
                    "classifier:class=emma:kind=odds", "classifier:class=emma:class=emma", "evaluator", "command:", "nonsense"] {
            XCTAssertThrowsError(try RewardSpec.make(bad, resources), bad) { print("\(bad): \($0)") }
        }
    }

    let cliRoot: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()
}
