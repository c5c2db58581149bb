import UnmaskKernels
import UnmaskModel
import UnmaskSupport

/// One step of block diffusion on the exact cache, timed: B query rows (a block) at
/// positions P ..< P + B, attending to the P cached positions before them and to each
/// other, with the head on all B rows (a confidence decoder reads every masked row of the
/// block). On a CPU such a call is bound by reading the weights, as one autoregressive
/// decode step is; `bench block-step` sets it beside llama.cpp decoding the same-shaped
/// autoregressive model (scripts/peers/block_step_vs_llama_cpp.py).
public enum BlockStepBenchmark {
    public struct Row: Sendable {
        public let engine: Engine
        public let block: Int
        public let prefix: Int
        public let threads: Int
        /// Median seconds of one step, and every round's.
        public let seconds: Double
        public let rounds: [Double]
        /// The cache's bytes (keys and values of prefix + block positions, fp32).
        public let cacheBytes: Int
    }

    /// Times `engines` side by side: each round runs one step of every engine in turn, so
    /// that drift in the machine falls on all of them alike. Each engine has its own model
    /// (its own reduced copy of the weights) and cache, filled once with the prefix.
    public static func run(source: TensorSource, config c: ModelConfig, engines: [Engine], block B: Int, prefix P: Int,
                           threads: Int, rounds: Int, seed: UInt64 = 1) throws -> [Row] {
        guard B >= 1, P >= 0, P + B <= c.contextLength else {
            throw UnmaskError("a block of \(B) after \(P) cached positions does not fit the model's context of \(c.contextLength)")
        }
        var rng = SplitMix64(seed: seed)
        let ids = (0..<(P + B)).map { _ in Int(rng.next() % UInt64(c.vocabSize)) }   // (P + B)
        var runs: [(engine: Engine, model: Transformer, cache: KeyValueCache)] = []
        for e in engines {
            let model = try Transformer(config: c, source: source, matmul: e.matmul(threads: threads))
            let cache = try KeyValueCache(model: model, slots: 1, capacity: P + B)
            if P > 0 {
                // The prefix's keys and values, written once (a prompt's prefill), causally
                // visible row by row: what the step attends to does not depend on how it was made.
                _ = try model.forwardCached(ids: Array(ids[0..<P]), slots: [0], length: P, first: 0, visible: (1...P).map { $0 },
                                            positions: [P - 1], cache: cache)
            }
            runs.append((e, model, cache))
        }
        let block = Array(ids[P...]), visible = [Int](repeating: P + B, count: B), heads = Array(0..<B)
        var times = [[Double]](repeating: [], count: runs.count)
        for round in 0...rounds {
            for (i, r) in runs.enumerated() {
                let t0 = monotonicSeconds()
                _ = try r.model.forwardCached(ids: block, slots: [0], length: B, first: P, visible: visible, positions: heads, cache: r.cache)
                if round > 0 { times[i].append(monotonicSeconds() - t0) }   // round 0 warms the caches and packs
            }
        }
        return runs.indices.map { i in
            let sorted = times[i].sorted()
            return Row(engine: runs[i].engine, block: B, prefix: P, threads: threads, seconds: sorted[sorted.count / 2],
                       rounds: times[i], cacheBytes: KeyValueCache.bytes(config: c, slots: 1, capacity: P + B))
        }
    }
}
