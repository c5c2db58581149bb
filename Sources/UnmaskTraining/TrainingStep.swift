#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import UnmaskDiffusion
import UnmaskKernels
import UnmaskModel
import UnmaskSupport

/// One training step on the model's single forward pass: `Transformer.forwardForTraining`
/// into a training arena, the loss, and `Transformer.backward`, which accumulates
/// gradients into a buffer laid out exactly like the parameters. The transformer reads
/// its weights from the ParameterBuffer that the optimiser updates in place between
/// steps, and repacks them at the start of each step. What this class adds is the
/// trainer's side: the gradient buffer, the dropout draws, and a forward-only validation
/// loss.
public final class TrainingStep {
    public let config: ModelConfig
    public let params: ParameterBuffer
    public let grads: ParameterBuffer
    public let model: Transformer
    let arena: ActivationArena
    public var matmul: MatMul {
        get { model.matmul }
        set { model.matmul = newValue }
    }
    /// Residual dropout rate, 0 ≤ p < 1 (0: off). Where GPT-2 puts it: on each block's
    /// attention output and MLP output, before they join the residual stream; kept
    /// activations are scaled by 1/(1 − p), so nothing changes at evaluation time. A
    /// regulariser for the small corpus, on which an undropped model overfits.
    public var dropout: Float = 0
    /// Key of the current step's dropout masks. The trainer sets it from (seed, step), so
    /// masks, like batches, are a function of (seed, step) and a resumed run redraws the
    /// same ones.
    public var dropoutKey: UInt64 = 0

    /// Throws unless a step at `batch` fits in this machine's memory, with a clear message
    /// instead of the allocator aborting mid-step (`MemoryEstimate.trainingStep`: the
    /// training arena with dropout factors unless `dropout` is false, the parameters, their
    /// panels, gradients and AdamW moments).
    public static func checkFits(config: ModelConfig, batch: Int, threads: Int = 1, dropout: Bool = true) throws {
        let need = MemoryEstimate.trainingStep(config: config, batch: batch, threads: threads, dropout: dropout).totalBytes
        let have = Double(physicalMemoryBytes())
        guard MemoryEstimate.fits(need, fraction: 0.8) else {
            throw SettingError(.batch, "⟨batch⟩ \(batch) needs about \(fixed(need / 1e9, 1)) GB per training step at context \(config.contextLength); this machine has \(fixed(have / 1e9, 1)) GB: use a smaller ⟨batch⟩")
        }
    }

    public init(params: ParameterBuffer, matmul: MatMul = MatMul()) {
        config = params.config
        self.params = params
        grads = ParameterBuffer(config: params.config)
        // The buffer holds a valid config's tensors under their own names and shapes.
        model = try! Transformer(config: params.config, source: params, matmul: matmul)
        arena = ActivationArena(config: params.config, training: true)
    }

    public func zeroGradients() { grads.data.update(repeating: 0, count: grads.count) }

    /// One forward and backward pass; returns the loss. Gradients are added to `grads`
    /// (call `zeroGradients` first for a fresh step).
    /// `pattern`: the attention of the forward (block diffusion's training layout for bd3,
    /// whose sequences are 2L rows); default the model's.
    public func step(ids: [Int], batch B: Int, length L: Int, targets: TrainingTargets,
                     pattern: AttentionPattern? = nil) throws -> Double {
        let positions = try checkedPositions(targets, batch: B, length: L)
        model.refreshWeights()
        model.prepare(arena: arena, batch: B, length: L, headRows: positions.count, dropout: dropout > 0)
        if let _ = arena.dropoutFactors(layer: 0) { drawDropoutFactors(rows: B * L) }
        let logits = try model.forwardForTraining(ids: ids, batch: B, length: L, positions: positions, arena: arena,
                                                  dropout: dropout > 0, pattern: pattern)
        let loss = try Loss.apply(targets, logits: logits, outputSize: model.outputSize, threads: matmul.threads)
        try model.backward(ids: ids, batch: B, length: L, positions: positions, arena: arena, grads: grads, pattern: pattern)
        return loss
    }

    /// The loss alone, from the inference forward: no activations kept, no gradients, no
    /// dropout (validation sees the whole model).
    public func validationLoss(ids: [Int], batch B: Int, length L: Int, targets: TrainingTargets,
                               pattern: AttentionPattern? = nil) throws -> Double {
        let positions = try checkedPositions(targets, batch: B, length: L)
        model.refreshWeights()
        var logits = try model.forward(ids: ids, batch: B, length: L, positions: positions, pattern: pattern)
        return try logits.withUnsafeMutableBufferPointer { lb in
            try Loss.apply(targets, logits: lb.baseAddress!, outputSize: model.outputSize, threads: matmul.threads)
        }
    }

    private func checkedPositions(_ targets: TrainingTargets, batch B: Int, length L: Int) throws -> [Int] {
        switch (targets, config.head) {
        case (.tokens, .binary): throw UnmaskError("token targets need a token head")
        case (.binary, .tokens): throw UnmaskError("binary targets need a binary head")
        case let (.binary(labels, weights), _) where labels.count != B * L || weights.count != B * L:
            throw UnmaskError("binary targets: \(labels.count) labels and \(weights.count) weights for \(B * L) positions")
        default: return targets.positions(rows: B * L)
        }
    }

    /// Fills the arena's dropout factors: each entry 0 with probability p, else 1/(1 − p).
    /// Row r of branch `site` (2l: attention, 2l+1: MLP) draws from its own Philox stream
    /// (site, r) under this step's key, so any thread can draw any row with the same
    /// result, and a resumed run redraws the same masks.
    func drawDropoutFactors(rows: Int) {
        for l in 0..<config.nLayers {
            let (attention, mlp) = arena.dropoutFactors(layer: l)!
            drawDropoutFactors(into: attention, rows: rows, site: 2 * l)
            drawDropoutFactors(into: mlp, rows: rows, site: 2 * l + 1)
        }
    }

    /// One branch's factors, (rows, d), for `site`.
    func drawDropoutFactors(into keep: UnsafeMutablePointer<Float>, rows: Int, site: Int) {
        let d = config.dModel, key = dropoutKey
        let threshold = UInt32(min(Double(dropout) * 4294967296.0, 4294967295.0))  // drop if next32 < p·2³²
        let scale = 1 / (1 - dropout)
        WorkerPool.shared.forEachRange(rows, threads: matmul.threads) { _, range in
            for r in range {
                var rng = Philox(seed: key, stream: UInt64(site) << 32 | UInt64(r))
                for i in 0..<d { keep[r * d + i] = rng.next32() < threshold ? 0 : scale }
            }
        }
    }

    /// y ← y ⊙ factors of `site` (rows, d); returns the factors. For tests, which hand the
    /// same factors to the Double reference.
    func applyDropout(_ y: inout [Float], rows: Int, site: Int) -> [Float] {
        var keep = [Float](repeating: 0, count: rows * config.dModel)
        keep.withUnsafeMutableBufferPointer { drawDropoutFactors(into: $0.baseAddress!, rows: rows, site: site) }
        for i in 0..<keep.count { y[i] *= keep[i] }
        return keep
    }
}
