import UnmaskModel
import UnmaskSupport

/// A left-to-right language model that scores text: what generative perplexity is measured
/// under. Implement it to score samples with another model; `TransformerEvaluator` is the
/// bundled kind.
///
/// Contract: row i of `logits(window:positions:)` is the distribution of token i + 1 given
/// tokens 0...i (so it must not look ahead). Logits need not be normalised: the scorer
/// takes a log-softmax over every id but `excludedToken`. Each call sees one window, at most
/// `maxLength` tokens; nothing may depend on earlier calls.
public protocol CausalEvaluator {
    var vocabSize: Int { get }
    /// Longest window it reads.
    var maxLength: Int { get }
    /// An id that is never a target and gets no probability (the mask token), or nil.
    var excludedToken: Int? { get }
    /// `positions.count` rows of `vocabSize` logits, row j for position `positions[j]`
    /// (or every position in order when `positions` is nil).
    func logits(window: [Int], positions: [Int]?) throws -> [Float]
}

/// The transformer with causal attention as the evaluator.
public final class TransformerEvaluator: CausalEvaluator {
    public let model: Transformer
    public var vocabSize: Int { model.config.vocabSize }
    public var maxLength: Int { model.config.contextLength }
    public var excludedToken: Int? { model.config.maskTokenId == ModelConfig.noMaskToken ? nil : model.config.maskTokenId }

    public init(model: Transformer) throws {
        try ModelRole.evaluator.check(model.config, name: "this model")
        self.model = model
    }

    public func logits(window: [Int], positions: [Int]?) throws -> [Float] {
        try model.forward(ids: window, batch: 1, length: window.count, positions: positions)
    }
}
