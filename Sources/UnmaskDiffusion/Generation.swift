import UnmaskModel
import UnmaskSupport

/// Generating many samples, and samples longer than the model's context: what
/// `unmask generate` runs.
///
/// **Batches.** Samples are generated `batch` at a time and handed to `emit` as soon as
/// their batch is done, so memory depends on the batch, not on the number of samples.
/// Sample i always uses Philox stream i of the seed (see `DiffusionSampler`), so its text
/// is the same for any batch size and any thread count.
///
/// **Past the context: windows.** A canvas longer than the denoiser's context (or any canvas
/// when `window` is given) is generated span by span, left to right: each span of `window`
/// positions, starting at the first position still masked, is denoised with the sampler
/// inside a window of the context's length that ends with the span, so it sees the last
/// context − window tokens already written (prompt, template text or generated) and nothing
/// after it. This is MDLM's semi-autoregressive scheme, and it is an approximation: each
/// span is drawn from the model's conditional given a window, not given the whole text,
/// so no sampler is exact across spans. Fixed text inside a span (a template's) is kept.
/// Span k of sample i uses stream i of a seed derived from (seed, k). (docs/long-text.md
/// contrasts this window with a sampler's block schedule and a model's block size.)
///
/// **Block-causal models** (block diffusion) are always generated in their own blocks,
/// with a key-value cache unless `caching` is off, and past the context by `pastContext`
/// (BlockCausalGeneration.swift). There `window`, if given, must be the model's block size.
public enum Generation {
    /// Samples `first ..< first + count` (a shard of a larger run writes exactly the samples
    /// the whole run would write at its indices). `emit(i, sequence, nfe, seconds)`: sample i
    /// finished (in order), with its network calls and its share of its batch's wall time.
    /// `observer(firstSample, sequences)`: after every step, the batch's full sequences.
    public static func run(sampler: DiffusionSampler, denoiser: Denoiser, canvas: [Int], count: Int, batch: Int,
                           seed: UInt64, window: Int? = nil, first start: Int = 0,
                           caching: KeyValueCaching? = nil, pastContext: PastContext = .recompute,
                           cacheError: CacheError? = nil,
                           observer: ((Int, [[Int]]) -> Void)? = nil,
                           emit: (Int, [Int], Int, Double) throws -> Void) throws {
        guard count >= 1, batch >= 1 else { throw UnmaskError("count and batch must be at least 1") }
        let L = denoiser.maxLength
        if let window, !(1...L).contains(window) {
            throw SettingError(.window, "⟨window⟩ \(window) must be in 1...\(L) (the model's context)")
        }
        let blockCausal = blockCausalModel(denoiser)
        if let size = blockCausal?.model.config.blockSize, let window, window != size {
            throw SettingError(.window, "⟨window⟩ \(window) does not match the model's block layout: it is block-causal in blocks of \(size)")
        }
        // Fast-dLLM's caches wrap the denoiser; they need the LLaDA schedule inside the context.
        var fastCache: FastDLLMCache?
        if blockCausal == nil, let caching, caching != .off {
            guard caching != .exact else {
                throw SettingError(.cache, "⟨cache⟩ exact needs a block-causal model (block diffusion); for a bidirectional one, ⟨cache⟩ prefix or dual is Fast-dLLM's approximate cache")
            }
            guard let t = denoiser as? TransformerDenoiser else { throw SettingError(.cache, "⟨cache⟩ \(caching.rawValue) needs a transformer denoiser") }
            guard sampler.spec.kind != .speculative else {
                throw SettingError(.cache, "⟨cache⟩ \(caching.rawValue) keeps one cache row per sample; sampler speculative's verification canvases have none: use ⟨cache⟩ off")
            }
            guard let size = sampler.spec.block else {
                throw SettingError(.cache, "⟨cache⟩ \(caching.rawValue) is refreshed at each block: give a planner ⟨sampler⟩ with block=K (e.g. confidence:block=32)")
            }
            guard canvas.count <= L, window == nil else {
                throw SettingError(.cache, "⟨cache⟩ \(caching.rawValue) runs inside the context (\(canvas.count) tokens > \(L), or ⟨window⟩ given): past it, text is written in windows")
            }
            fastCache = try FastDLLMCache(denoiser: t, mode: caching, blockSize: size)
            fastCache!.meter = cacheError
        }
        guard canvas.contains(denoiser.maskId) else { throw UnmaskError("nothing to generate: the canvas has no masked position") }
        guard start >= 0 else { throw UnmaskError("the first sample index must be at least 0") }
        var first = start
        while first < start + count {
            let b = min(batch, start + count - first)
            let (sequences, nfe, seconds) = try blockCausal.map {
                try BlockCausalGeneration.generateBatch(sampler: sampler, denoiser: $0, canvas: canvas, size: b, firstSample: first,
                                                        seed: seed, caching: caching ?? .exact, pastContext: pastContext,
                                                        observer: observer)
            } ?? generateBatch(sampler: sampler, denoiser: fastCache ?? denoiser, canvas: canvas, size: b,
                               firstSample: first, seed: seed, window: window, observer: observer)
            fastCache?.reset()
            for j in 0..<b { try emit(first + j, sequences[j], nfe[j], seconds / Double(b)) }
            first += b
        }
    }

    /// The denoiser as a block-causal transformer, or nil.
    public static func blockCausalModel(_ denoiser: Denoiser) -> TransformerDenoiser? {
        guard let t = denoiser as? TransformerDenoiser, t.model.config.attention == .blockCausal else { return nil }
        return t
    }

    /// The seed of span k: span 0 of a canvas that fits is the plain seed, so text that
    /// fits in the context is what `DiffusionSampler` alone would give.
    static func blockSeed(_ seed: UInt64, _ k: Int) -> UInt64 {
        if k == 0 { return seed }
        var mix = SplitMix64(seed: seed ^ (0xB10C_0000_0000_0000 &+ UInt64(k)))
        return mix.next()
    }

    static func generateBatch(sampler: DiffusionSampler, denoiser: Denoiser, canvas: [Int], size: Int, firstSample: Int,
                              seed: UInt64, window: Int?, observer: ((Int, [[Int]]) -> Void)?)
        throws -> (sequences: [[Int]], nfe: [Int], seconds: Double) {
        let L = denoiser.maxLength, N = canvas.count, mask = denoiser.maskId
        var sequences = [[Int]](repeating: canvas, count: size)
        if N <= L && window == nil {
            let r = try sampler.sample(canvases: sequences, denoiser: denoiser, seed: seed, firstStream: UInt64(firstSample),
                                       observer: observer.map { o in { o(firstSample, $0) } })
            return (r.sequences, r.nfe, r.seconds)
        }
        let K = window ?? max(1, L / 2)
        var nfe = [Int](repeating: 0, count: size)
        var seconds = 0.0
        var k = 0
        var position = 0
        while let start = (position..<N).first(where: { canvas[$0] == mask }) {
            let end = min(N, start + K)
            let windowStart = max(0, end - L)
            let windows = sequences.map { Array($0[windowStart..<end]) }
            let r = try sampler.sample(canvases: windows, denoiser: denoiser, seed: blockSeed(seed, k), firstStream: UInt64(firstSample),
                                       observer: observer.map { o in { partial in
                                           var full = sequences
                                           for j in 0..<size { full[j].replaceSubrange(windowStart..<end, with: partial[j]) }
                                           o(firstSample, full)
                                       } })
            for j in 0..<size {
                sequences[j].replaceSubrange(windowStart..<end, with: r.sequences[j])
                nfe[j] += r.nfe[j]
            }
            seconds += r.seconds
            position = end
            k += 1
        }
        return (sequences, nfe, seconds)
    }
}
