#if canImport(Glibc)
import Glibc
#endif
import UnmaskSupport

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
