import UnmaskSupport

/// The three jobs a model file can do, told apart by its config alone:
///
/// | role      | attention     | head   |
/// |-----------|---------------|--------|
/// | denoiser  | bidirectional or block_causal | tokens |
/// | evaluator | causal        | tokens |
/// | corruption-detector | bidirectional | binary |
///
/// Every command checks the role of each model it loads, when it loads it, so that a model
/// in the wrong place (the causal evaluator passed as `--model`, say) is an error before
/// any work, not garbage text or a meaningless number after it.
public enum ModelRole: String, Sendable, CaseIterable {
    /// The corruption detector is DDPD's learned planner: one logit per position, "corrupted?".
    case denoiser, evaluator, corruptionDetector = "corruption-detector"

    /// The role a config is built for.
    public static func of(_ config: ModelConfig) -> ModelRole? {
        switch (config.attention, config.head) {
        case (.bidirectional, .tokens), (.blockCausal, .tokens): return .denoiser
        case (.causal, .tokens): return .evaluator
        case (.bidirectional, .binary): return .corruptionDetector
        case (.causal, .binary), (.blockCausal, .binary): return nil
        }
    }

    /// `config` made into a model for this role: its attention and head set, and a binary
    /// head untied from the embeddings (it cannot be tied). Everything else is kept, a
    /// denoiser's block-causal attention too. The one place this rule is written (training's
    /// objectives use it too).
    public func configure(_ config: ModelConfig) -> ModelConfig {
        var c = config
        if !(self == .denoiser && c.attention == .blockCausal) {
            c.attention = self == .evaluator ? .causal : .bidirectional
            c.blockSize = nil
        }
        c.head = self == .corruptionDetector ? .binary : .tokens
        if c.head == .binary { c.tiedEmbeddings = false }
        return c
    }

    /// The role as a message names it ("a corruption detector").
    public var withArticle: String {
        switch self {
        case .denoiser: return "a denoiser"
        case .evaluator: return "an evaluator"
        case .corruptionDetector: return "a corruption detector"
        }
    }

    var requirement: String {
        switch self {
        case .denoiser: return "bidirectional or block-causal attention and a token head"
        case .evaluator: return "causal attention and a token head"
        case .corruptionDetector: return "bidirectional attention and a binary head"
        }
    }

    /// Throws unless `config` is a model for this role; the message names the model (by
    /// `name`, its directory) and what it is instead.
    public func check(_ config: ModelConfig, name: String) throws {
        let actual = ModelRole.of(config)
        if actual == self, self == .denoiser, config.maskTokenId == ModelConfig.noMaskToken {
            throw UnmaskError("\(name) has no mask token, so it cannot be a denoiser")
        }
        guard actual != self else { return }
        let what = actual.map { $0.withArticle } ?? "neither a denoiser, an evaluator nor a corruption detector"
        throw UnmaskError("\(name) is \(what) (\(config.attention.rawValue) attention, \(config.head.rawValue) head), not \(withArticle): \(withArticle) needs \(requirement)")
    }
}

extension ModelConfig {
    /// Throws unless this model reads and writes the ids of a tokenizer with `vocabularySize`
    /// tokens and the mask at `maskTokenId`. Pairing a model with another vocabulary gives
    /// numbers that mean nothing, without any other sign of trouble.
    /// `padded`: the model may have more output ids than the tokenizer (published
    /// checkpoints pad their vocabulary: Dream's 152064 rows for 151667 ids); the samplers
    /// then never draw the padding ids (`TransformerDenoiser.tokenizerSize`).
    public func checkVocabulary(size vocabularySize: Int, maskTokenId mask: Int, modelName: String, tokenizerName: String,
                                padded: Bool = false) throws {
        guard fitsVocabulary(size: vocabularySize, maskTokenId: mask, padded: padded) else {
            throw UnmaskError("\(modelName) has a vocabulary of \(vocabSize) tokens (mask \(maskTokenId)), but the tokenizer \(tokenizerName) has \(vocabularySize) (mask \(mask)): they do not belong together")
        }
    }

    /// Whether `checkVocabulary` passes.
    public func fitsVocabulary(size vocabularySize: Int, maskTokenId mask: Int, padded: Bool = false) -> Bool {
        (vocabSize == vocabularySize || (padded && vocabularySize < vocabSize)) && maskTokenId == mask
    }
}
