import XCTest
import UnmaskSupport
import UnmaskTokenizer
import UnmaskModel
import UnmaskDiffusion
import UnmaskSteering
import UnmaskGeneration

/// The one generation setup: its rules (default sampler, overrides, canvas, labels, the
/// context, trust) checked on the bundled tokenizer with a stand-in denoiser of a 32-token
/// context, and its errors spelled by each front end from one setting.
final class GenerationSettingsTests: XCTestCase {
    static let repository: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()
    static let tokenizer = try! Tokenizer.load(path: repository + "/vocab/tokenizer.json")

    /// Uniform logits over the bundled vocabulary: only its shape matters here.
    struct FlatDenoiser: Denoiser {
        let vocabSize: Int
        let maskId: Int
        let maxLength: Int
        func logits(sequences: [[Int]], positions: [[Int]]) throws -> [Float] {
            [Float](repeating: 0, count: positions.reduce(0) { $0 + $1.count } * vocabSize)
        }
    }

    func models(labels: ClassLabels? = nil, context: Int = 32) -> GenerationSettings.Models {
        let t = Self.tokenizer
        let vocab = labels.map { $0.nullId + 1 } ?? t.vocabSize
        return GenerationSettings.Models(tokenizer: t, denoiser: FlatDenoiser(vocabSize: vocab, maskId: t.maskId, maxLength: context),
                                         labels: labels)
    }

    func settingError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> SettingError? {
        do { try body() } catch let e as SettingError { return e } catch {
            XCTFail("not a SettingError: \(error)", file: file, line: line)
            return nil
        }
        XCTFail("accepted", file: file, line: line)
        return nil
    }

    // MARK: The sampler

    func testDefaultSamplerAndTheSteeringDefault() throws {
        var s = GenerationSettings()
        XCTAssertEqual(try s.samplerSpec().description, "fhs:top_p=0.9")
        s.steer = "bon:n=2"
        XCTAssertEqual(try s.samplerSpec().description, "fhs")
        s.sampler = "fhs:top_k=5"
        XCTAssertEqual(try s.samplerSpec().description, "fhs:top_k=5")
    }

    /// A typed setting replaces the spec's key of the same name; temperature 0 is greedy.
    func testTypedSettingsOverrideTheSpec() throws {
        var s = GenerationSettings()
        s.sampler = "confidence:k=4:threshold=0.5:temperature=0.7"
        s.tokensPerCall = 2
        s.threshold = 0.9
        s.topP = 0.8
        var spec = try s.samplerSpec()
        XCTAssertEqual(spec.k, 2)
        XCTAssertEqual(spec.threshold, 0.9)
        XCTAssertEqual(spec.draw.temperature, 0.7)
        XCTAssertEqual(spec.draw.topP, 0.8)
        s.temperature = 0
        spec = try s.samplerSpec()
        XCTAssertEqual(spec.draw.topK, 1)
        XCTAssertEqual(spec.draw.temperature, 0.7)
        s.sampler = "ancestral"
        s.tokensPerCall = nil
        s.threshold = nil
        s.steps = 50
        XCTAssertEqual(try s.samplerSpec().steps, 50)
    }

    func testAKeyTheSamplerDoesNotTakeNamesTheSetting() {
        var s = GenerationSettings()
        s.steps = 10  // fhs has no steps
        let e = settingError { _ = try s.samplerSpec() }
        XCTAssertEqual(e?.setting, .steps)
        XCTAssertEqual(e?.message(spelling: SettingError.commandLine).hasPrefix("--steps does not apply to sampler fhs"), true)
        s.steps = nil
        s.topP = 1.5
        XCTAssertEqual(settingError { _ = try s.samplerSpec() }?.setting, .topP)
        s.topP = nil
        s.temperature = -1
        XCTAssertEqual(settingError { _ = try s.samplerSpec() }?.setting, .temperature)
    }

    // MARK: The canvas

    func testPromptLengthAndSuffix() throws {
        var s = GenerationSettings()
        s.prompt = "It is"
        s.suffix = " said."
        s.length = 5
        let run = try s.prepare(models())
        let p = Self.tokenizer.encode("It is"), q = Self.tokenizer.encode(" said.")
        XCTAssertEqual(run.canvas, p + [Int](repeating: Self.tokenizer.maskId, count: 5) + q)
        XCTAssertEqual(run.span, p.count..<(p.count + 5))
        XCTAssertEqual(run.promptTokens, p.count + q.count)
        XCTAssertNil(run.steering)
        XCTAssertEqual(run.cacheUsed, .off)
    }

    func testTemplateAndItsConflicts() throws {
        var s = GenerationSettings()
        s.template = "It is a [___ x3] truth"
        let run = try s.prepare(models())
        XCTAssertEqual(run.canvas.filter { $0 == Self.tokenizer.maskId }.count, 3)
        s.length = 4
        XCTAssertEqual(settingError { try s.validate() }?.setting, .length)
        s.length = nil
        s.prompt = "x"
        XCTAssertEqual(settingError { try s.validate() }?.setting, .template)
    }

    func testPromptIdsAreChecked() {
        var s = GenerationSettings()
        s.promptIds = [Self.tokenizer.maskId]
        s.length = 2
        XCTAssertEqual(settingError { _ = try s.prepare(models()) }?.setting, .promptIds)
    }

    func testNothingToGenerate() {
        var s = GenerationSettings()
        s.prompt = "x"
        s.length = 0
        let e = settingError { try s.validate() }
        XCTAssertEqual(e?.message(spelling: SettingError.commandLine), "nothing to generate: --length is 0")
    }

    // MARK: The context and windows

    /// One check, two spellings: the command line's flag and the server's field.
    func testWindowErrorsAreSpelledByEachFrontEnd() {
        var s = GenerationSettings()
        s.window = 40
        let e = settingError { _ = try s.prepare(models()) }
        XCTAssertEqual(e?.setting, .window)
        XCTAssertEqual(e?.message(spelling: SettingError.commandLine), "--window 40 must be in 1...32 (the model's context)")
        XCTAssertEqual(e?.message { $0 == .window ? "unmask.window" : $0.rawValue }, "unmask.window 40 must be in 1...32 (the model's context)")
        XCTAssertEqual(e?.description, "window 40 must be in 1...32 (the model's context)")
    }

    func testPastTheContext() throws {
        var s = GenerationSettings()
        s.length = 40
        XCTAssertEqual(try s.prepare(models()).canvas.count, 40)  // windows, as the command line writes
        s.windowsPastContext = false  // the server's OpenAI routes
        let e = settingError { _ = try s.prepare(models()) }
        XCTAssertEqual(e?.code, "context_length_exceeded")
        XCTAssertTrue(e?.description.contains("set window") ?? false, "\(String(describing: e))")
        s.window = 16
        XCTAssertEqual(try s.prepare(models()).window, 16)
        // Steered text must fit, windows or not.
        s.steer = "bon:n=2"
        s.reward = "words:include=the"
        s.window = nil
        s.windowsPastContext = true
        XCTAssertEqual(settingError { _ = try s.prepare(models()) }?.code, "context_length_exceeded")
    }

    // MARK: Labels and steering

    func testClassesAndLabels() throws {
        let labels = try ClassLabels(classes: ["emma", "persuasion"], firstId: Self.tokenizer.vocabSize)
        var s = GenerationSettings()
        s.length = 4
        // A label-conditional model without a class runs under its null label.
        var run = try s.prepare(models(labels: labels))
        XCTAssertEqual(run.label, labels.nullId)
        XCTAssertNil(run.unconditionalLabel)
        s.className = "persuasion"
        run = try s.prepare(models(labels: labels))
        XCTAssertEqual(run.label, labels.firstId + 1)
        XCTAssertEqual(run.unconditionalLabel, labels.nullId)
        // The label takes one position of the context.
        s.length = 32
        XCTAssertEqual(run.canvas.count, 4)
        XCTAssertEqual(try s.prepare(models(labels: labels)).canvas.count, 32)  // windows past 31
        s.length = 4
        s.className = "sense"
        XCTAssertEqual(settingError { _ = try s.prepare(models(labels: labels)) }?.setting, .className)
        // Without labels, a class needs steering (it names the classifier's class then).
        s.className = "emma"
        let e = settingError { _ = try s.prepare(models()) }
        XCTAssertEqual(e?.setting, .className)
        XCTAssertTrue(e?.message(spelling: SettingError.commandLine).contains("--steer") ?? false)
    }

    func testSteeringNeedsTheFirstHittingKernelAndItsReward() throws {
        var s = GenerationSettings()
        s.length = 4
        s.steer = "bon:n=2"
        XCTAssertEqual(settingError { _ = try s.prepare(models()) }?.setting, .reward)  // bon needs a reward
        s.reward = "words:include=the"
        let run = try s.prepare(models())
        XCTAssertNotNil(run.steering)
        XCTAssertEqual(run.spec.description, "fhs")
        s.sampler = "confidence"
        XCTAssertEqual(settingError { try s.validate() }?.setting, .sampler)
        s.sampler = nil
        s.steer = nil
        XCTAssertEqual(settingError { try s.validate() }?.setting, .reward)  // a reward alone
    }

    /// A stranger's request runs no commands and opens no files it names.
    func testRemoteTrust() {
        var s = GenerationSettings()
        s.trust = .remote(remedy: "this install is incomplete")
        s.steer = "bon:n=2"
        s.reward = "command:/bin/echo 1"
        XCTAssertEqual(settingError { try s.validate() }?.setting, .reward)
        s.reward = "classifier:model=/etc"
        XCTAssertEqual(settingError { try s.validate() }?.setting, .reward)
        s.trust = .local
        s.reward = "command:/bin/echo 1"
        XCTAssertNoThrow(try s.validate())
    }

    func testPastContextIsForBlockCausalModels() {
        var s = GenerationSettings()
        s.pastContext = .slide
        XCTAssertEqual(settingError { _ = try s.prepare(models()) }?.setting, .pastContext)
    }
}
