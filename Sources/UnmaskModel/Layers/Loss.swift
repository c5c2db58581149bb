#if canImport(Glibc)
import Glibc
#endif
import UnmaskKernels
import UnmaskSupport

/// What the loss looks at, for one batch.
public enum TrainingTargets: Sendable {
    /// Token head: cross-entropy at these flat positions (b·L + i), each with its target
    /// token and weight. loss = Σ weight·(−log p(target)). The excluded token (the mask)
    /// gets no probability: the softmax runs over the other ids ("SUBS").
    case tokens(positions: [Int], targets: [Int], weights: [Float], excluded: Int?)
    /// Binary head: binary cross-entropy per flat position, label 0/1, with weights.
    case binary(labels: [Float], weights: [Float])

    /// The flat positions whose head output the loss reads, in the order `Loss` expects.
    public func positions(rows: Int) -> [Int] {
        switch self {
        case let .tokens(positions, _, _, _): return positions
        case .binary: return Array(0..<rows)
        }
    }
}

/// The losses on the head's output, forward and backward in one pass: each returns the
/// loss and leaves its gradient with respect to the logits in their place.
public enum Loss {
    /// logits: (positions.count, outputSize) for `targets.positions(rows:)`, overwritten by
    /// dLoss/dlogits. Rows are independent and spread over the threads; the per-row losses
    /// are added in row order afterwards, in Double, so the total does not depend on the
    /// thread count.
    public static func apply(_ targets: TrainingTargets, logits: UnsafeMutablePointer<Float>, outputSize: Int,
                             threads: Int) throws -> Double {
        switch targets {
        case let .tokens(positions, ids, weights, excluded):
            guard ids.count == positions.count, weights.count == positions.count else {
                throw UnmaskError("token targets: \(positions.count) positions, \(ids.count) targets, \(weights.count) weights")
            }
            for id in ids where id < 0 || id >= outputSize {
                throw UnmaskError("target token \(id) is outside the vocabulary (0..<\(outputSize))")
            }
            var rowLoss = [Double](repeating: 0, count: positions.count)
            rowLoss.withUnsafeMutableBufferPointer { rl in
                let out = rl.baseAddress!
                Parallel.rows(positions.count, width: outputSize, threads: threads) { range in
                    for j in range {
                        out[j] = Double(weights[j]) * VectorMath.softmaxCrossEntropy(
                            logits + j * outputSize, count: outputSize, target: ids[j], excluded: excluded, weight: weights[j])
                    }
                }
            }
            return rowLoss.reduce(0, +)
        case let .binary(labels, weights):
            guard outputSize == 1 else { throw UnmaskError("binary targets need a binary head") }
            var loss = 0.0
            for r in 0..<labels.count {
                guard weights[r] != 0 else { logits[r] = 0; continue }
                // BCE with logits, stable form: max(z,0) − z·y + log(1 + e^−|z|)
                let z = Double(logits[r]), y = Double(labels[r])
                loss += Double(weights[r]) * (max(z, 0) - z * y + log(1 + exp(-abs(z))))
                logits[r] = Float(Double(weights[r]) * (1 / (1 + exp(-z)) - y))
            }
            return loss
        }
    }
}
