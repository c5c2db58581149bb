import XCTest
@testable import UnmaskTraining
import UnmaskDiffusion
import UnmaskModel
import UnmaskTokenizer
import UnmaskKernels
import UnmaskSupport

final class TrainerTests: XCTestCase {
    var dir = ""
    override func setUp() {
        dir = NSTemporaryDirectory() + "unmask-train-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func corpusFile() throws -> String {
        let text = (0..<400).map { "Sentence number \($0) is about Mr. Darcy and Miss Bennet, who walk to Netherfield.\n" }.joined()
        let path = dir + "/corpus.txt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func tokenizer(_ corpus: String) throws -> Tokenizer {
        try BPETrainer(vocabSize: 300).train(texts: [Files.read(corpus)])
    }

    func trainer(_ objective: Objective, out: String, steps: Int, stopAfter: Int? = nil, dropout: Double = 0) throws -> Trainer {
        let corpus = try corpusFile()
        let tok = try tokenizer(corpus)
        let c = try objective.configure(ModelConfig(vocabSize: tok.vocabSize, dModel: 16, nLayers: 1, nHeads: 2, dFF: 24,
                                                contextLength: 16, maskTokenId: tok.maskId), blockSize: objective == .bd3 ? 4 : nil)
        var s = TrainingSettings(objective: objective)
        s.batch = 4
        s.steps = steps
        s.warmupSteps = 5
        s.learningRate = 3e-3
        s.stopAfterSteps = stopAfter
        s.validationWindows = 4
        s.dropout = dropout
        let data = try TrainingData(corpus: [corpus], tokenizer: tok, window: c.contextLength)
        return try Trainer(config: c, data: data, settings: s, outputDirectory: out, matmul: MatMul(threads: 2))
    }

    /// Killed at step 20 and resumed, a 40-step run ends bit-identical to an uninterrupted
    /// one (ar also with dropout: its masks are a function of (seed, step) too).
    func testResumeIsBitExact() throws {
        for (objective, dropout) in Objective.allCases.map({ ($0, 0.0) }) + [(.ar, 0.2)] {
            let straight = try trainer(objective, out: dir + "/a-\(objective)-\(dropout)", steps: 40, dropout: dropout)
            try straight.run()
            let first = try trainer(objective, out: dir + "/b-\(objective)-\(dropout)", steps: 40, stopAfter: 20, dropout: dropout)
            try first.run()
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/b-\(objective)-\(dropout)/model.safetensors"))
            let second = try trainer(objective, out: dir + "/b-\(objective)-\(dropout)", steps: 40, dropout: dropout)
            try second.resume()
            try second.run()
            let a = Array(UnsafeBufferPointer(start: straight.params.data, count: straight.params.count))
            let b = Array(UnsafeBufferPointer(start: second.params.data, count: second.params.count))
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(objective)")
        }
    }

    /// A few hundred steps on a tiny repetitive corpus must lower the validation loss a lot.
    func testLossGoesDown() throws {
        let t = try trainer(.ar, out: dir + "/ar", steps: 150)
        let before = try t.validationLoss()
        try t.run()
        let after = try t.validationLoss()
        print("ar validation loss: \(before) -> \(after)")
        XCTAssertLessThan(after, before - 2)
        let log = try String(contentsOfFile: dir + "/ar/log.jsonl", encoding: .utf8)
        XCTAssertTrue(log.contains("\"val_loss\""))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/ar/loss.svg"))
        XCTAssertNoThrow(try Transformer.load(directory: dir + "/ar"))
    }

    /// `ar` trains all L positions of a window: position i's target is token i + 1, so the
    /// window's extra last token is the last position's target (without it the last
    /// position would never be trained).
    func testAutoregressiveTargetsCoverEveryPosition() throws {
        let c = ModelConfig(vocabSize: 50, dModel: 8, nLayers: 1, nHeads: 2, dFF: 8, contextLength: 4, maskTokenId: 49)
        let windows = [[1, 2, 3, 4, 5], [11, 12, 13, 14, 15]]
        let (ids, targets) = Objective.ar.batch(windows, length: 4, config: c, schedule: .linear, seed: 1, step: 0)
        XCTAssertEqual(ids, [1, 2, 3, 4, 11, 12, 13, 14])
        guard case let .tokens(positions, next, weights, _) = targets else { return XCTFail("token targets expected") }
        XCTAssertEqual(positions, Array(0..<8))
        XCTAssertEqual(next, [2, 3, 4, 5, 12, 13, 14, 15])
        XCTAssertEqual(weights.map(Double.init).reduce(0, +), 1, accuracy: 1e-6)
    }

    /// A label token at position 0 (`fixedPrefix: 1`) is never masked nor scored, and the
    /// weights are per token of the rest.
    func testLabelPrefixIsNeverMasked() throws {
        let c = ModelConfig(vocabSize: 60, dModel: 8, nLayers: 1, nHeads: 2, dFF: 8, contextLength: 8, maskTokenId: 49)
        let windows = (0..<64).map { b in [50 + b % 3] + (1...8).map { ($0 + b) % 40 } }
        for step in 0..<20 {
            let (ids, targets) = Objective.mdm.batch(windows, length: 8, config: c, schedule: .linear, seed: 2, step: step, fixedPrefix: 1)
            guard case let .tokens(positions, _, _, _) = targets else { return XCTFail("token targets expected") }
            XCTAssertFalse(positions.contains { $0 % 8 == 0 }, "step \(step)")
            for b in 0..<64 { XCTAssertEqual(ids[b * 8], 50 + b % 3) }
        }
    }

    /// Labeled training: each window starts with its file's class token, or the null label
    /// at the dropout rate (0.25 here: 2 000 windows, the count's 5-sigma band is
    /// 500 ± 97); validation windows always carry their class; a resumed run's labels are
    /// a function of (seed, step).
    func testLabeledWindowsCarryTheirFilesClass() throws {
        let a = dir + "/a.txt", b = dir + "/b.txt"
        try String(repeating: "alpha beta gamma delta. ", count: 400).write(toFile: a, atomically: true, encoding: .utf8)
        try String(repeating: "one two three four five. ", count: 400).write(toFile: b, atomically: true, encoding: .utf8)
        let tok = try BPETrainer(vocabSize: 300).train(texts: [Files.read(a), Files.read(b)])
        let labels = try ClassLabels(classes: ["a", "b"], firstId: tok.vocabSize)
        let c = try Objective.mdm.configure(ModelConfig(vocabSize: tok.vocabSize + 3, dModel: 8, nLayers: 1, nHeads: 2, dFF: 8,
                                                    contextLength: 16, maskTokenId: tok.maskId))
        let data = try TrainingData(corpus: [a, b], tokenizer: tok, window: 16, labeled: true)
        var s = TrainingSettings(objective: .mdm)
        s.labels = labels
        s.labelDropout = 0.25
        s.batch = 100
        let trainer = try Trainer(config: c, data: data, settings: s, outputDirectory: dir + "/out", matmul: MatMul(threads: 1))
        let aTokens = Set(tok.encode("alpha beta gamma delta."))
        var nulls = 0
        for step in 0..<20 {
            let windows = trainer.trainingBatchWindows(step: step)
            XCTAssertEqual(windows, trainer.trainingBatchWindows(step: step))
            for w in windows {
                XCTAssertEqual(w.count, 17)
                if w[0] == labels.nullId { nulls += 1; continue }
                // A window of file a's text (not crossing into b) carries a's label.
                if w[1...].allSatisfy({ aTokens.contains($0) }) { XCTAssertEqual(w[0], labels.firstId) }
                if w[1...].allSatisfy({ !aTokens.contains($0) }) { XCTAssertEqual(w[0], labels.firstId + 1) }
            }
        }
        XCTAssertGreaterThan(nulls, 500 - 97)
        XCTAssertLessThan(nulls, 500 + 97)
        XCTAssertTrue(trainer.validationBatchWindows().allSatisfy { $0[0] != labels.nullId && $0.count == 17 })
    }

    /// A vocabulary that grew (label ids added) starts from its parent's rows.
    func testGrownEmbeddingKeepsTheParentsRows() throws {
        let parent = ModelConfig(vocabSize: 20, dModel: 8, nLayers: 1, nHeads: 2, dFF: 8, contextLength: 8, maskTokenId: 19)
        var child = parent
        child.vocabSize = 23
        let p = ParameterBuffer.random(config: parent, seed: 4)
        try p.save(directory: dir + "/parent")
        let (q, copied) = try TrainingSetup.initialParameters(config: child, seed: 5, initFrom: dir + "/parent")
        XCTAssertEqual(copied, p.layout.count)
        let pe = p.layout.first { $0.name == "embed.weight" }!, qe = q.layout.first { $0.name == "embed.weight" }!
        XCTAssertEqual(Array(UnsafeBufferPointer(start: q.data + qe.offset, count: 20 * 8)),
                       Array(UnsafeBufferPointer(start: p.data + pe.offset, count: 20 * 8)))
    }

    /// The corruption detector's noise is uniform over the ordinary ids wherever the specials sit
    /// (here ids 0 and 1, where a loaded Hugging Face tokenizer may put them); it used to
    /// assume they were the last two. 64 windows × 32 tokens, about half of them noised.
    func testCorruptionDetectorNoiseAvoidsSpecialsAnywhere() throws {
        var c = ModelConfig(vocabSize: 12, dModel: 8, nLayers: 1, nHeads: 2, dFF: 8, contextLength: 32, maskTokenId: 0)
        c.head = .binary
        let windows = (0..<64).map { b in (0...32).map { 2 + ($0 + b) % 10 } }
        let (ids, targets) = Objective.corruptionDetector.batch(windows, length: 32, config: c, schedule: .linear, seed: 3, step: 0,
                                                     specialIds: [0, 1])
        guard case let .binary(labels, _) = targets else { return XCTFail("binary targets expected") }
        XCTAssertFalse(ids.contains(0) || ids.contains(1))
        // The top ids (10, 11) are ordinary here and must be drawn as noise too.
        let noised = zip(ids, labels).filter { $0.1 == 1 }.map(\.0)
        XCTAssertTrue(noised.contains(10) && noised.contains(11), "\(Set(noised).sorted())")
    }

    /// A held-out split shorter than a window is said to be one, not silently replaced.
    func testShortValidationSplitIsReported() throws {
        let corpus = try corpusFile()
        let tok = try tokenizer(corpus)
        let long = try TrainingData(corpus: [corpus], tokenizer: tok, window: 16)
        XCTAssertTrue(long.validationHeldOut)
        XCTAssertFalse(long.validationDescription.contains("NOT"))
        let short = try TrainingData(corpus: [corpus], tokenizer: tok, window: long.heldOutTokens + 5)
        XCTAssertFalse(short.validationHeldOut)
        XCTAssertTrue(short.validationDescription.contains("NOT held out"), short.validationDescription)
    }

    func testBadInputs() throws {
        let corpus = try corpusFile()
        let tok = try tokenizer(corpus)
        let empty = dir + "/empty.txt"
        try "".write(toFile: empty, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainingData(corpus: [empty], tokenizer: tok, window: 16)) { XCTAssertTrue("\($0)".contains("empty")) }
        let short = dir + "/short.txt"
        try "Hi there.".write(toFile: short, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainingData(corpus: [short], tokenizer: tok, window: 16)) { XCTAssertTrue("\($0)".contains("too short")) }
        let bad = dir + "/bad.txt"
        try Data([0x61, 0xFF, 0x62]).write(to: URL(fileURLWithPath: bad))
        XCTAssertThrowsError(try TrainingData(corpus: [bad], tokenizer: tok, window: 16)) { XCTAssertTrue("\($0)".contains("not valid UTF-8")) }
        XCTAssertThrowsError(try trainer(.ar, out: "/proc/unmask-cannot-write", steps: 1))
        // Resuming with another objective's checkpoint is refused.
        let t = try trainer(.ar, out: dir + "/r", steps: 3)
        try t.run()
        let other = try trainer(.mdm, out: dir + "/r", steps: 3)
        XCTAssertThrowsError(try other.resume()) { XCTAssertTrue("\($0)".contains("another")) }
        // So is resuming with another dropout rate.
        let dropped = try trainer(.ar, out: dir + "/r", steps: 3, dropout: 0.1)
        XCTAssertThrowsError(try dropped.resume()) { XCTAssertTrue(($0 as? SettingError)?.message(spelling: SettingError.commandLine).contains("--dropout") ?? false, "\($0)") }
    }
}
