import XCTest
import UnmaskDiffusion
import UnmaskEvaluation
import UnmaskSupport

/// `ModelSet.open` on the committed Hugging Face fixtures and the bundled models: each
/// folder's tokenizer paired by its family's rule, a bundled default that does not fit the
/// model named left out with a note, and a named pair that does not fit refused.
final class ModelSetTests: XCTestCase {
    let repository: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()
    var fixtures: String { repository + "/Tests/UnmaskModelTests/Fixtures/hf" }

    /// The bundled files of this checkout, wherever the tests run from.
    func bundled(_ relative: String) -> String? {
        Files.exists(repository + "/" + relative) ? repository + "/" + relative : nil
    }

    func testTokenizersArePairedByFamily() throws {
        // LLaDA: the config's mask_token_id (1), one of the tokenizer's specials.
        let llada = try ModelSet.open(ModelSet.Sources(denoiser: fixtures + "/llada-tiny"), denoiser: .required, resources: bundled)
        XCTAssertEqual(llada.tokenizer.name, fixtures + "/llada-tiny/tokenizer.json")
        XCTAssertEqual(llada.tokenizer.tokenizer.maskId, 1)
        XCTAssertEqual(llada.denoiser?.maskId, 1)
        XCTAssertEqual(llada.tokenizer.tokenizer.endOfTextId, 0)
        XCTAssertNil(llada.evaluator)
        XCTAssertNil(llada.corruptionDetector)
        XCTAssertEqual(llada.notes, [])
        // MDLM: GPT-2's 300-id tokenizer has no mask, so <|mask|> is appended as id 300.
        let mdlm = try ModelSet.open(ModelSet.Sources(denoiser: fixtures + "/mdlm-tiny"), denoiser: .required, resources: bundled)
        XCTAssertEqual(mdlm.tokenizer.tokenizer.vocabSize, 301)
        XCTAssertEqual(mdlm.tokenizer.tokenizer.maskId, 300)
        XCTAssertEqual(mdlm.denoiser?.maskId, 300)
        // A GPT-2 evaluator reads its own tokenizer; the set's stays the bundled one.
        let gpt2 = try ModelSet.open(ModelSet.Sources(evaluator: fixtures + "/gpt2-tiny"), evaluator: .required, resources: bundled)
        let own = try XCTUnwrap(gpt2.evaluator?.ownTokenizer)
        XCTAssertEqual(own.vocabSize, 300)
        XCTAssertEqual(gpt2.evaluator?.endOfText, own.endOfTextId)
        XCTAssertEqual(gpt2.tokenizer.name, repository + "/vocab/tokenizer.json")
    }

    /// The bundled 4096-token evaluator beside a LLaDA folder (609 tokens): left out when the
    /// run can do without it, with one note; an error when it is named, or required.
    func testADefaultThatDoesNotFitIsLeftOutAndANamedOneIsRefused() throws {
        let llada = fixtures + "/llada-tiny"
        let set = try ModelSet.open(ModelSet.Sources(denoiser: llada), denoiser: .optional, evaluator: .optional, resources: bundled)
        XCTAssertNotNil(set.denoiser)
        XCTAssertNil(set.evaluator)
        XCTAssertEqual(set.notes, ["skipping the bundled \(repository)/models/evaluator: its vocabulary of 4096 tokens (mask 4095) does not fit the tokenizer \(llada)/tokenizer.json (609 tokens, mask 1); pass --evaluator DIR for one that does"])
        let mismatch = "has a vocabulary of 4096 tokens (mask 4095), but the tokenizer \(llada)/tokenizer.json has 609 (mask 1): they do not belong together"
        XCTAssertThrowsError(try ModelSet.open(ModelSet.Sources(denoiser: llada, evaluator: repository + "/models/evaluator"),
                                               denoiser: .optional, evaluator: .optional, resources: bundled)) {
            XCTAssertEqual($0 as? UnmaskError, UnmaskError("--evaluator \(repository)/models/evaluator " + mismatch))
        }
        XCTAssertThrowsError(try ModelSet.open(ModelSet.Sources(denoiser: llada), evaluator: .required, resources: bundled)) {
            XCTAssertEqual($0 as? UnmaskError, UnmaskError("the bundled \(repository)/models/evaluator " + mismatch))
        }
        // The other way round: the bundled denoiser beside a GPT-2 evaluator and a tokenizer
        // of 609 ids.
        let other = try ModelSet.open(ModelSet.Sources(evaluator: fixtures + "/gpt2-tiny", tokenizer: llada + "/tokenizer.json"),
                                      denoiser: .optional, evaluator: .optional, resources: bundled)
        XCTAssertNil(other.denoiser)
        XCTAssertNotNil(other.evaluator)
        XCTAssertEqual(other.notes.count, 1)
        XCTAssertTrue(other.notes[0].hasPrefix("skipping the bundled \(repository)/models/denoiser: "), other.notes[0])
    }

    /// With no model named, the bundled defaults are what was asked for: one that does not
    /// fit the tokenizer is an error, not left out. With none bundled, an optional role is
    /// absent and a required one says how to give it.
    func testWithNothingNamedTheDefaultsMustFit() throws {
        XCTAssertThrowsError(try ModelSet.open(ModelSet.Sources(tokenizer: fixtures + "/llada-tiny/tokenizer.json"),
                                               denoiser: .optional, evaluator: .optional, resources: bundled)) {
            XCTAssertTrue(($0 as? UnmaskError)?.message.hasSuffix("they do not belong together") == true, "\($0)")
        }
        let tokenizerOnly: (String) -> String? = { $0 == "vocab/tokenizer.json" ? self.bundled($0) : nil }
        let none = try ModelSet.open(ModelSet.Sources(), denoiser: .optional, evaluator: .optional, resources: tokenizerOnly)
        XCTAssertNil(none.denoiser)
        XCTAssertNil(none.evaluator)
        XCTAssertEqual(none.notes, [])
        XCTAssertThrowsError(try ModelSet.open(ModelSet.Sources(), corruptionDetector: .required, resources: tokenizerOnly)) {
            XCTAssertEqual($0 as? UnmaskError, UnmaskError("cannot find the bundled models/corruption-detector (pass --corruption-detector DIR)"))
        }
        XCTAssertThrowsError(try ModelSet.open(ModelSet.Sources(), resources: { _ in nil })) {
            XCTAssertEqual($0 as? SettingError, SettingError(.vocab, "cannot find vocab/tokenizer.json (run from the repository, or give ⟨vocab⟩ FILE)"))
            XCTAssertEqual(($0 as? SettingError)?.message(spelling: SettingError.commandLine),
                           "cannot find vocab/tokenizer.json (run from the repository, or give --vocab FILE)")
        }
    }
}
