#if canImport(Glibc)
import Glibc
#endif
import UnmaskModel
import UnmaskSupport

/// Anything that maps partially masked sequences to per-position token distributions:
/// the transformer, the exact toy below, or a model of your own (a struct or a class).
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
        let v = vocabSize
        if tokenizerSize < v {
            for r in 0..<flat.count { for i in tokenizerSize..<v { out[r * v + i] = -.infinity } }
        }
        return out
    }
}

/// The DDPD planner's view: for each position, the probability that its token is
/// corrupted (noise) and should be (re)generated.
public protocol CorruptionPlanner {
    func corruptionProbabilities(sequences: [[Int]]) throws -> [[Double]]
}

/// A transformer with a binary head as the DDPD planner: σ(logit) per position.
public final class TransformerPlanner: CorruptionPlanner {
    public let model: Transformer

    public init(model: Transformer) throws {
        try ModelRole.planner.check(model.config, name: "this model")
        self.model = model
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

/// The exact toy denoiser: the true conditionals of an enumerable joint distribution over
/// sequences of length L with tokens 0..<V (mask id = V). For a partially masked sequence
/// it returns log P(x_i = v | the unmasked positions), summing the joint over all
/// completions. Samplers that are exact must reproduce the joint from it.
public final class ExactToyDenoiser: Denoiser {
    public let tokens: Int      // V
    public let length: Int      // L
    public let joint: [Double]  // V^L probabilities, sequence index = Σ x_i·V^(L−1−i)
    public var vocabSize: Int { tokens + 1 }
    public var maskId: Int { tokens }
    public var maxLength: Int { length }
    private var cache: [Int: [Float]] = [:]  // partial-state index -> (L, V+1) logits

    public init(tokens: Int, length: Int, joint: [Double]) {
        precondition(joint.count == Int(pow(Double(tokens), Double(length))))
        let z = joint.reduce(0, +)
        self.tokens = tokens
        self.length = length
        self.joint = joint.map { $0 / z }
    }

    /// A fixed random joint with a few rare sequences, so low-probability events matter.
    public static func random(tokens: Int, length: Int, seed: UInt64) -> ExactToyDenoiser {
        var rng = Philox(seed: seed)
        let n = Int(pow(Double(tokens), Double(length)))
        let joint = (0..<n).map { _ in pow(rng.uniform64(), 3) + 0.002 }
        return ExactToyDenoiser(tokens: tokens, length: length, joint: joint)
    }

    public func sequence(index: Int) -> [Int] {
        var x = [Int](repeating: 0, count: length)
        var r = index
        for i in (0..<length).reversed() { x[i] = r % tokens; r /= tokens }
        return x
    }

    public func index(of x: [Int]) -> Int { x.reduce(0) { $0 * tokens + $1 } }

    public func logits(sequences: [[Int]], positions: [[Int]]) throws -> [Float] {
        var out: [Float] = []
        for (b, seq) in sequences.enumerated() where !positions[b].isEmpty {
            let table = conditionals(seq)
            for p in positions[b] { out.append(contentsOf: table[(p * vocabSize)..<((p + 1) * vocabSize)]) }
        }
        return out
    }

    func conditionals(_ seq: [Int]) -> [Float] {
        let key = seq.reduce(0) { $0 * (tokens + 1) + $1 }
        if let hit = cache[key] { return hit }
        var marginal = [Double](repeating: 0, count: length * tokens)
        for s in 0..<joint.count {
            let x = sequence(index: s)
            if zip(seq, x).allSatisfy({ $0 == maskId || $0 == $1 }) {
                for i in 0..<length { marginal[i * tokens + x[i]] += joint[s] }
            }
        }
        var table = [Float](repeating: -.infinity, count: length * vocabSize)
        for i in 0..<length {
            let z = (0..<tokens).reduce(0.0) { $0 + marginal[i * tokens + $1] }
            for v in 0..<tokens where marginal[i * tokens + v] > 0 {
                table[i * vocabSize + v] = Float(log(marginal[i * tokens + v] / z))
            }
        }
        cache[key] = table
        return table
    }
}
