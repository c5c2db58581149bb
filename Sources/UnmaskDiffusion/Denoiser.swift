#if canImport(Glibc)
import Glibc
#endif
import UnmaskModel
import UnmaskSupport

/// Anything that maps partially masked sequences to per-position token distributions:
/// the transformer, the exact toy (`ExactToyDenoiser.swift`), or a model of your own (a struct or a class).
/// Time-agnostic: there is no t input (masked diffusion needs none; Zheng et al. 2024).
///
/// The contract every sampler and `Evaluation.denoiserELBO` rely on:
/// - **Rows.** `logits(sequences:positions:)` returns one row of `vocabSize` logits per
///   requested position: sequence by sequence, positions in the order given. A sequence
///   with no requested position contributes no rows.
/// - **Not normalised.** Rows are logits: any additive constant per row is allowed, and
///   −∞ means "impossible". The samplers take a log-softmax in Double and exclude `maskId`
///   themselves, so its logit is ignored.
/// - **Masked positions** get p(x_i | the unmasked tokens): the denoiser's prediction of
///   the clean token there.
/// - **Unmasked positions** may be requested too (only the `p2` sampler does, to score the
///   tokens it has committed): the row is the denoiser's distribution for that position
///   with its current token visible, i.e. the network's output there. A model trained only
///   on masked positions (as MDLM's and ours are) has untrained rows there, which is why
///   `p2` degrades on it; an exact model of the data returns the point mass on the token.
/// - **No batch effects.** A sequence's rows depend on that sequence alone: not on the
///   others in the call, their number, or their order. Samplers batch samples freely, and
///   a sample's text must not depend on its batch (same seed, same text).
/// - **Float.** Logits are Float because the network computes in Float; every probability
///   a sampler forms from them is computed in Double.
public protocol Denoiser {
    /// Size of each output row (ordinary tokens plus the mask id, which samplers exclude).
    var vocabSize: Int { get }
    var maskId: Int { get }
    /// Longest sequence it accepts.
    var maxLength: Int { get }
    /// Logits at the requested positions. `sequences`: B sequences of one length;
    /// `positions[b]`: positions wanted in sequence b (may be empty: that sequence is
    /// skipped). Returns the rows in order, each `vocabSize` floats.
    func logits(sequences: [[Int]], positions: [[Int]]) throws -> [Float]
}

/// The transformer as a denoiser: one forward over the sequences that want something,
/// the vocabulary head only at the wanted positions.
public final class TransformerDenoiser: Denoiser {
    public let model: Transformer
    public var vocabSize: Int { model.config.vocabSize }
    public var maskId: Int { model.config.maskTokenId }
    public var maxLength: Int { model.config.contextLength }
    /// Ids at and past this are padding rows of the model's vocabulary that no token of
    /// the tokenizer stands for: their logits are set to −∞, so no sampler draws them.
    public let tokenizerSize: Int

    public init(model: Transformer, tokenizerSize: Int? = nil) throws {
        try ModelRole.denoiser.check(model.config, name: "this model")
        let size = tokenizerSize ?? model.config.vocabSize
        guard size >= 1, size <= model.config.vocabSize, model.config.maskTokenId < size else {
            throw UnmaskError("a tokenizer of \(size) ids does not fit this model's \(model.config.vocabSize) outputs (mask \(model.config.maskTokenId))")
        }
        self.model = model
        self.tokenizerSize = size
    }

    public func logits(sequences: [[Int]], positions: [[Int]]) throws -> [Float] {
        var ids: [Int] = []
        var flat: [Int] = []
        var row = 0
        guard let length = sequences.first?.count else { return [] }
        for (b, seq) in sequences.enumerated() where !positions[b].isEmpty {
            ids.append(contentsOf: seq)
            for p in positions[b] { flat.append(row * length + p) }
            row += 1
        }
        if row == 0 { return [] }
        var out = try model.forward(ids: ids, batch: row, length: length, positions: flat)
        maskPadding(&out, rows: flat.count)
        return out
    }

    /// Sets the padding ids' logits of `rows` output rows to −∞.
    public func maskPadding(_ out: inout [Float], rows: Int) {
        let v = vocabSize
        if tokenizerSize < v {
            for r in 0..<rows { for i in tokenizerSize..<v { out[r * v + i] = -.infinity } }
        }
    }
}
