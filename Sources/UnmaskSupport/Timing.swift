#if canImport(Glibc)
import Glibc
#endif

/// Geometric mean of positive values.
public func geometricMean(_ xs: [Double]) -> Double {
    guard !xs.isEmpty else { return .nan }
    var s = 0.0
    for x in xs { s += log(x) }
    return exp(s / Double(xs.count))
}

/// Times several alternatives fairly on a noisy machine: each is calibrated to batches of
/// about `batchSeconds`, then the batches are interleaved round-robin for `rounds` rounds,
/// and the median seconds per call of each is returned. Interleaving puts slow drifts of
/// the machine (frequency, neighbours) on every alternative alike, so ratios stay honest.
/// `between` runs after each alternative's batch (e.g. to let another library's threads idle).
public func interleavedMedianSeconds(_ bodies: [() -> Void], rounds: Int = 7, batchSeconds: Double = 0.02,
                                     between: (Int) -> Void = { _ in }) -> [Double] {
    var reps = [Int](repeating: 1, count: bodies.count)
    for (i, body) in bodies.enumerated() {
        body()  // warm up: page faults, caches, lazy initialisation
        var n = 1
        while true {
            let t0 = monotonicSeconds()
            for _ in 0..<n { body() }
            let dt = monotonicSeconds() - t0
            if dt >= batchSeconds || n >= 1 << 20 { break }
            n = dt <= 0 ? n * 16 : max(n * 2, Int(Double(n) * batchSeconds / dt * 1.1))
        }
        reps[i] = n
        between(i)
    }
    var samples = [[Double]](repeating: [], count: bodies.count)
    for _ in 0..<rounds {
        for (i, body) in bodies.enumerated() {
            let t0 = monotonicSeconds()
            for _ in 0..<reps[i] { body() }
            samples[i].append((monotonicSeconds() - t0) / Double(reps[i]))
            between(i)
        }
    }
    return samples.map { s in
        let sorted = s.sorted()
        return sorted[sorted.count / 2]
    }
}
