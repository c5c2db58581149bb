#if canImport(Glibc)
import Glibc
#endif
import UnmaskModel
import UnmaskSupport

/// DDPD's planner model (Liu et al. 2024), which is not a `Planner`: it does not choose
/// positions itself, it gives each position the probability that its token is corrupted
/// (noise) and should be (re)generated, and the `ddpd` sampler draws from those.
public protocol CorruptionDetector {
    func corruptionProbabilities(sequences: [[Int]]) throws -> [[Double]]
    /// The special ids of the vocabulary it was trained on (end of text, mask, …): its
    /// training noise never drew them (`OrdinaryIds`). The sampler adds the denoiser's mask.
    var specialIds: Set<Int> { get }
}

extension CorruptionDetector {
    public var specialIds: Set<Int> { [] }
}

/// The ordinary ids of a vocabulary: every id but its special tokens, wherever they sit.
/// DDPD's planner is trained on corruption that replaces tokens by uniform draws from these
/// ids (`Objective.corruptionDetector`), and the `ddpd` sampler shows it masked positions as such
/// draws, so both read this one rule.
public struct OrdinaryIds: Sendable {
    /// (count,) ascending.
    public let ids: [Int]
    public let specials: Set<Int>
    public let vocabSize: Int

    public init(vocabSize: Int, specials: Set<Int>) throws {
        ids = (0..<vocabSize).filter { !specials.contains($0) }
        guard !ids.isEmpty else { throw UnmaskError("a vocabulary of \(vocabSize) special tokens only has no ordinary ids") }
        self.specials = specials
        self.vocabSize = vocabSize
    }

    /// A uniform ordinary id by index: one `int(below: count)`.
    public func draw(_ rng: inout Philox) -> Int { ids[rng.int(below: ids.count)] }

    /// A uniform ordinary id by rejection: `int(below: vocabSize)` until it is ordinary.
    /// The same law as `draw`, consuming the stream differently; the training objective
    /// draws this way so that its runs (and the bundled planner's) stay reproducible.
    public func drawByRejection(_ rng: inout Philox) -> Int {
        while true {
            let id = rng.int(below: vocabSize)
            if !specials.contains(id) { return id }
        }
    }
}

/// A transformer with a binary head as DDPD's planner model, the corruption detector
/// (`--corruption-detector`, `models/corruption-detector`):
/// σ(logit) per position.
public final class TransformerCorruptionDetector: CorruptionDetector {
    public let model: Transformer
    public let specialIds: Set<Int>

    /// `specialIds`: the special tokens of its tokenizer (`Tokenizer.specialTokens`).
    public init(model: Transformer, specialIds: Set<Int>) throws {
        try ModelRole.corruptionDetector.check(model.config, name: "this model")
        self.model = model
        self.specialIds = specialIds
    }

    public func corruptionProbabilities(sequences: [[Int]]) throws -> [[Double]] {
        guard let length = sequences.first?.count else { return [] }
        let out = try model.forward(ids: sequences.flatMap { $0 }, batch: sequences.count, length: length)
        var result: [[Double]] = []
        for b in 0..<sequences.count {
            var row: [Double] = []
            for i in 0..<length {
                let logit = Double(out[b * length + i])
                row.append(1 / (1 + exp(-logit)))
            }
            result.append(row)
        }
        return result
    }
}
