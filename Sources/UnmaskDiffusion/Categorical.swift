#if canImport(Glibc)
import Glibc
#endif
import UnmaskSupport

/// Float precision of categorical sampling.
public enum SamplingPrecision: String, Sendable, CaseIterable {
    /// 53-bit uniforms, log-domain arithmetic in Double: exact to rounding. The default.
    case float64
    /// 24-bit uniforms and Float arithmetic, as float32 reference code does. Kept as an
    /// explicit switch so its known low-temperature bias can be measured; never the default.
    case float32
}

/// How a categorical draw turns uniforms into a token.
public enum CategoricalMethod: String, Sendable, CaseIterable {
    /// argmax_j (log p_j + G_j), G_j standard Gumbel: one uniform per candidate token.
    case gumbel
    /// Inverse CDF: one uniform, a scan of the cumulative probabilities.
    case icdf
}

/// Temperature, top-k, top-p and precision of a categorical draw.
public struct CategoricalOptions: Sendable, Equatable {
    public var temperature: Double = 1
    public var topK: Int? = nil
    public var topP: Double? = nil
    public var precision: SamplingPrecision = .float64
    public var method: CategoricalMethod = .gumbel

    public init(temperature: Double = 1, topK: Int? = nil, topP: Double? = nil,
                precision: SamplingPrecision = .float64, method: CategoricalMethod = .gumbel) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.precision = precision
        self.method = method
    }

    /// Every positive finite temperature is accepted. Below about 1e-300 every draw is
    /// the argmax (the T → 0 limit; equal best logits are drawn evenly), computed without
    /// overflow (see `Categorical.logProbabilities`).
    public func validate() throws {
        guard temperature.isFinite, temperature > 0 else {
            throw UnmaskError("temperature must be a positive number, got \(temperature)")
        }
        if let k = topK, k < 1 { throw UnmaskError("top-k must be at least 1, got \(k)") }
        if let p = topP, !(p > 0 && p <= 1) { throw UnmaskError("top-p must be in (0, 1], got \(p)") }
        if precision == .float32 && method == .icdf {
            throw UnmaskError("precision=float32 is the float32 Gumbel-max draw; method=icdf is float64 only")
        }
    }
}

/// Sampling one token from a row of logits. The mask token is never sampled: its logit
/// is removed before anything else ("SUBS": the denoiser puts no mass on [MASK]).
public enum Categorical {
    /// Log-probabilities after temperature, top-k, top-p and removing `forbidden`,
    /// normalised; excluded tokens get −∞. Float64 throughout.
    public static func logProbabilities(_ logits: UnsafeBufferPointer<Float>, options: CategoricalOptions,
                                        forbidden: Int?) -> [Double] {
        let V = logits.count
        var lp = [Double](repeating: 0, count: V)
        let invT = 1 / options.temperature
        var top = -Double.infinity  // the largest, forbidden token excluded: see below
        let excluded = forbidden ?? -1
        for j in 0..<V {
            lp[j] = j == excluded ? -.infinity : Double(logits[j]) * invT
            if lp[j] > top { top = lp[j] }
        }
        // A tiny temperature (1e-308, or any below 1/Double.greatestFiniteMagnitude) makes
        // logit / T overflow to ±∞, and the normalisation then yields NaN everywhere, which
        // used to draw id 0. Dividing the gap to the best logit instead is exact at every
        // temperature: the best token(s) get 0, the others (gap / T), which goes to −∞ as
        // T → 0. So a vanishing temperature is the argmax (ties split evenly), its limit.
        // Only this case takes the second path; ordinary temperatures keep the product
        // above, so their draws are unchanged bit for bit.
        if !top.isFinite && !(top == -.infinity && lp.allSatisfy { $0 == -.infinity }) {
            var best = -Float.infinity
            for j in 0..<V where j != forbidden && logits[j] > best { best = logits[j] }
            for j in 0..<V { lp[j] = j == forbidden ? -.infinity : (Double(logits[j]) - Double(best)) / options.temperature }
        }
        if let k = options.topK, k < V {
            // Keep the k largest (ties at the threshold keep the lower ids, deterministically):
            // the first k of the order (value descending, id ascending), found with a heap of
            // k in one pass rather than by sorting the vocabulary (greedy decoding, top_k 1,
            // on a 152k vocabulary sorted it at every draw).
            let keep = Self.firstInOrder(lp, count: k)
            var kept = [Bool](repeating: false, count: V)
            for j in keep { kept[j] = true }
            for j in 0..<V where !kept[j] { lp[j] = -.infinity }
        }
        normalise(&lp)
        if let p = options.topP, p < 1 {
            // Smallest set of most probable tokens whose probability reaches p.
            let order = (0..<V).sorted { lp[$0] != lp[$1] ? lp[$0] > lp[$1] : $0 < $1 }
            var cumulative = 0.0
            var keep = 0
            for j in order {
                keep += 1
                cumulative += exp(lp[j])
                if cumulative >= p { break }
            }
            for j in order[keep...] { lp[j] = -.infinity }
            normalise(&lp)
        }
        return lp
    }

    /// The ids of the first `count` entries of `values` in the order (value descending, id
    /// ascending), in no particular order: a min-heap of the best so far, its root the worst
    /// kept. The same set the sorted order's prefix is.
    static func firstInOrder(_ values: [Double], count k: Int) -> [Int] {
        // a precedes b in the order
        @inline(__always) func before(_ a: Int, _ b: Int) -> Bool { values[a] != values[b] ? values[a] > values[b] : a < b }
        var heap: [Int] = []
        heap.reserveCapacity(k)
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var worst = i
                if l < heap.count && before(heap[worst], heap[l]) { worst = l }
                if r < heap.count && before(heap[worst], heap[r]) { worst = r }
                if worst == i { return }
                heap.swapAt(i, worst)
                i = worst
            }
        }
        for j in values.indices {
            if heap.count < k {
                heap.append(j)
                var i = heap.count - 1
                while i > 0 {
                    let parent = (i - 1) / 2
                    guard before(heap[parent], heap[i]) else { break }
                    heap.swapAt(i, parent)
                    i = parent
                }
            } else if before(j, heap[0]) {
                heap[0] = j
                siftDown(0)
            }
        }
        return heap
    }

    /// Log-sum-exp normalisation in place.
    static func normalise(_ lp: inout [Double]) {
        var mx = -Double.infinity
        for v in lp where v > mx { mx = v }
        var sum = 0.0
        for v in lp where v > -.infinity { sum += exp(v - mx) }
        let logZ = mx + log(sum)
        for j in 0..<lp.count { lp[j] -= logZ }
    }

    /// One draw. Consumes the generator in a fixed pattern for a given method/precision
    /// and vocabulary size (Gumbel: one uniform per token, in id order; inverse CDF: one).
    public static func sample(_ logits: UnsafeBufferPointer<Float>, options: CategoricalOptions, forbidden: Int?,
                              rng: inout Philox) -> Int {
        let lp = logProbabilities(logits, options: options, forbidden: forbidden)
        return sample(logProbabilities: lp, options: options, rng: &rng)
    }

    public static func sample(logProbabilities lp: [Double], options: CategoricalOptions, rng: inout Philox) -> Int {
        switch (options.precision, options.method) {
        case (.float32, _):
            // Gumbel-max with 24-bit uniforms in Float: the noise cannot exceed
            // −log(−log(1 − 2⁻²⁴)) ≈ 16.6, which starves tokens far below the leader.
            // (u = 0 gives −∞: that candidate loses, as it should.)
            var best = 0
            var bestScore = -Float.infinity
            for j in 0..<lp.count {
                let u = rng.uniform32()
                let g = -logf(-logf(u))
                let score = Float(lp[j]) + g
                if score > bestScore { bestScore = score; best = j }
            }
            return best
        case (.float64, .gumbel):
            var best = 0
            var bestScore = -Double.infinity
            for j in 0..<lp.count {
                let g = rng.gumbel64()
                let score = lp[j] + g
                if score > bestScore { bestScore = score; best = j }
            }
            return best
        case (.float64, .icdf):
            let u = rng.uniform64()
            var cumulative = 0.0
            var last = 0
            for j in 0..<lp.count where lp[j] > -.infinity {
                cumulative += exp(lp[j])
                last = j
                if u < cumulative { return j }
            }
            return last  // u beyond the rounded total: the last token with mass
        }
    }
}
