#if canImport(Glibc)
import Glibc
#endif
import UnmaskDiffusion
import UnmaskModel
import UnmaskTokenizer
import UnmaskSupport

extension Evaluation {
    /// Samples from a causal model, left to right at temperature 1 (float64 draws), each
    /// sample starting after `<|endoftext|>` and using Philox stream (seed, firstStream + i).
    public static func autoregressiveSamples(evaluator: CausalEvaluator, count: Int, length: Int, seed: UInt64,
                                             endOfText: Int, options: CategoricalOptions = CategoricalOptions(),
                                             firstStream: UInt64 = 0) throws -> [[Int]] {
        let L = evaluator.maxLength, V = evaluator.vocabSize
        guard length + 1 <= L else { throw UnmaskError("length \(length) + 1 exceeds the evaluator's context of \(L)") }
        var out: [[Int]] = []
        for i in 0..<count {
            var rng = Philox(seed: seed, stream: firstStream + UInt64(i))
            var seq = [endOfText]
            for _ in 0..<length {
                var row = try evaluator.logits(window: seq, positions: [seq.count - 1])
                // Neither the mask nor a second <|endoftext|>: the sample stays one document.
                for f in [evaluator.excludedToken, endOfText].compactMap({ $0 }) where f < V { row[f] = -.infinity }
                let next = row.withUnsafeBufferPointer { Categorical.sample($0, options: options, forbidden: nil, rng: &rng) }
                seq.append(next)
            }
            out.append(Array(seq.dropFirst()))
        }
        return out
    }
}
