#if canImport(Glibc)
import Glibc
#endif
import UnmaskKernels
import UnmaskSupport

/// The transformer: pre-norm blocks (norm → attention → residual, norm → MLP → residual),
/// a final norm and a head. One implementation runs all three roles:
///  * denoiser: bidirectional attention, token head (logits over the vocabulary);
///  * evaluator: causal attention, token head;
///  * planner: bidirectional attention, binary head (one logit per position: "corrupted?").
/// There is no time input: the absorbing-state denoiser is time-agnostic.
///
/// Weights are read in place from the source (the mmapped safetensors file in its stored
/// dtype, or training's parameter buffer) and packed for our GEMM on first use, or
/// quantized for the int8 path at construction (`Weight`); `refreshWeights` repacks after
/// the values change. This is the only forward pass: inference calls `forward`,
/// training calls `forwardForTraining` (the same code, saving what the backward needs into
/// a training `ActivationArena`) and then `backward` (TransformerBackward.swift). Each op's
/// forward and backward sit side by side in Layers/. `forward` reuses a workspace, so one
/// instance must not run two forwards at once; make one per thread if needed (they can
/// share a source). Opening a model from disk is TransformerLoading.swift.
public final class Transformer {
    public let config: ModelConfig
    /// How the products run. Setting another compute makes the weights' copies for it
    /// then (int8: quantized; bf16: rounded) and frees those of the compute before, so a
    /// model holds one reduced copy of its weights, never one per compute it had.
    public var matmul: MatMul {
        didSet {
            matmul = matmul.withOwnScratch()  // (no observer call from inside didSet)
            if oldValue.compute != matmul.compute {
                for w in computeWeights { w.releaseCopies(keeping: matmul.compute) }
            }
            prepareCompute()
        }
    }
    let source: TensorSource  // keeps the mapping (or buffer) alive

    struct Norm {
        let weight: UnsafePointer<Float>  // (d)
        let bias: UnsafePointer<Float>?   // (d), layer norm only
    }

    struct Layer {
        let attnNorm: Norm
        let qkv: Weight   // (d, W_qkv), W_qkv = (n_heads + 2·n_kv_heads)·d_head (`config.qkvWidth`; 3d without GQA)
        let qNorm: UnsafePointer<Float>?  // (d_head), per-head RMSNorm of the queries (config.qkNorm)
        let kNorm: UnsafePointer<Float>?  // (d_head), of the keys
        let out: Weight   // (n_heads·d_head, d): `config.attentionWidth` rows, d unless head_dim is set apart
        let mlpNorm: Norm
        let up: Weight    // (d, d_ff)
        let gate: Weight? // (d, d_ff), gated MLP only
        let down: Weight  // (d_ff, d)
        // Biases (config.linearBias), nil otherwise.
        let qkvBias: UnsafePointer<Float>?   // (W_qkv)
        let outBias: UnsafePointer<Float>?   // (d)
        let upBias: UnsafePointer<Float>?    // (d_ff)
        let downBias: UnsafePointer<Float>?  // (d)
    }

    let embed: StoredMatrix                // (V, d) as stored: rows widened as they are looked up
    let posEmbed: UnsafePointer<Float>?    // (context, d), learned positions only
    let layers: [Layer]
    let finalNorm: Norm
    let head: Weight                       // (d, V) — Eᵀ when tied — or (d, 1) for the binary head
    let headBias: UnsafePointer<Float>?    // (outputSize): the binary head's, or a token head's (config.headBias)
    let rotary: RotaryLayer?               // tables (context, dh/2), rotary positions only
    /// The inference arena, grown on demand and reused across calls.
    let workspace: ActivationArena

    public var outputSize: Int { config.head == .tokens ? config.vocabSize : 1 }

    public init(config: ModelConfig, source: TensorSource, matmul: MatMul = MatMul()) throws {
        try config.validate()
        self.config = config
        self.source = source
        self.matmul = matmul.withOwnScratch()
        let d = config.dModel, c = config
        func tensor(_ name: String, _ shape: [Int]) throws -> UnsafePointer<Float> { try source.float32(name, shape: shape) }
        func norm(_ prefix: String) throws -> Norm {
            Norm(weight: try tensor("\(prefix).weight", [d]),
                 bias: c.norm == .layernorm ? try tensor("\(prefix).bias", [d]) : nil)
        }
        // The table is read where it lies (a BF16 checkpoint's stays BF16, mapped: LLaDA's is
        // 1 GB stored, 2 GB widened, and a call reads a few of its rows).
        guard case .inOut(let table) = try source.weight("embed.weight", rows: c.vocabSize, cols: d) else {
            throw UnmaskError("internal: the embedding table is not stored as (vocab, d)")
        }
        embed = table
        posEmbed = c.positions == .learned ? try tensor("pos_embed.weight", [c.contextLength, d]) : nil
        func weight(_ name: String, _ rows: Int, _ cols: Int) throws -> Weight {
            Weight(rows: rows, cols: cols, storage: try source.weight(name, rows: rows, cols: cols))
        }
        var layers: [Layer] = []
        for l in 0..<c.nLayers {
            let p = "layers.\(l)"
            func bias(_ name: String, _ n: Int) throws -> UnsafePointer<Float>? {
                c.linearBias ? try tensor("\(p).\(name).bias", [n]) : nil
            }
            layers.append(Layer(
                attnNorm: try norm("\(p).attn_norm"),
                qkv: try weight("\(p).attn.qkv.weight", d, c.qkvWidth),
                qNorm: c.qkNorm ? try tensor("\(p).attn.q_norm.weight", [c.headDim]) : nil,
                kNorm: c.qkNorm ? try tensor("\(p).attn.k_norm.weight", [c.headDim]) : nil,
                out: try weight("\(p).attn.out.weight", c.attentionWidth, d),
                mlpNorm: try norm("\(p).mlp_norm"),
                up: try weight("\(p).mlp.up.weight", d, c.dFF),
                gate: c.gatedMLP ? try weight("\(p).mlp.gate.weight", d, c.dFF) : nil,
                down: try weight("\(p).mlp.down.weight", c.dFF, d),
                qkvBias: c.linearBias || c.qkvBias ? try tensor("\(p).attn.qkv.bias", [c.qkvWidth]) : nil, outBias: try bias("attn.out", d),
                upBias: try bias("mlp.up", c.dFF), downBias: try bias("mlp.down", d)))
        }
        self.layers = layers
        finalNorm = try norm("final_norm")
        switch c.head {
        case .tokens where c.tiedEmbeddings:
            // W = Eᵀ: the table (V, d) as stored is the head's (out, in).
            head = Weight(rows: d, cols: c.vocabSize, storage: .outIn([embed]))
            headBias = nil
        case .tokens:
            head = try weight("head.weight", d, c.vocabSize)
            headBias = c.headBias ? try tensor("head.bias", [c.vocabSize]) : nil
        case .binary:
            head = try weight("head.weight", d, 1)
            headBias = try tensor("head.bias", [1])
        }
        rotary = c.positions == .rotary ? RotaryLayer(length: c.contextLength, headDim: c.headDim, theta: c.ropeTheta) : nil
        workspace = ActivationArena(config: c, training: false)
        prepareCompute()
    }

    // MARK: Forward

    /// Runs the network on `ids` (batch, length), row-major, and returns the head's output
    /// at the requested flat positions (b·length + i), in that order: (positions.count,
    /// outputSize). `positions == nil` means every position. Only the requested rows go
    /// through the final norm and the head — the vocabulary projection is the largest
    /// matrix of a small model, and the first-hitting sampler needs one row per call.
    ///
    /// `pattern` (default: the config's attention) may be block diffusion's training layout,
    /// whose sequences are 2L rows (x_t then x_0) for L positions: `Evaluation` scores a
    /// block-causal model's bound with it.
    ///
    /// `positionsAreRows`: the positions name the hidden rows the head reads, with a shifted
    /// model's shift already applied by the caller (block-causal generation reads a block's
    /// first token from the row before the block).
    public func forward(ids: [Int], batch: Int, length: Int, positions: [Int]? = nil,
                        pattern: AttentionPattern? = nil, positionsAreRows: Bool = false) throws -> [Float] {
        let wanted = positions ?? Array(0..<(batch * length))
        let pattern = try checkPattern(pattern)
        try check(ids: ids, batch: batch, length: length, positions: wanted, rowsPerPosition: pattern.rowsPerPosition)
        workspace.reserve(batch: batch, length: length, headRows: wanted.count, threads: matmul.threads)
        run(ids: ids, batch: batch, length: length, positions: wanted, pattern: pattern, arena: workspace,
            positionsAreRows: positionsAreRows)
        return Array(UnsafeBufferPointer(start: workspace.logits, count: wanted.count * outputSize))
    }

    /// The training forward: the same pass as `forward`, keeping every layer's activations
    /// in `arena` (a training arena) for `backward`. Returns the head's output at
    /// `positions`, (positions.count, outputSize), inside the arena: the loss overwrites it
    /// with its gradient. Dropout factors, when the arena has them, must be filled first.
    public func forwardForTraining(ids: [Int], batch: Int, length: Int, positions: [Int], arena: ActivationArena,
                                   dropout: Bool = false, pattern: AttentionPattern? = nil) throws -> UnsafeMutablePointer<Float> {
        let pattern = try checkPattern(pattern)
        precondition(arena.training, "forwardForTraining needs a training arena")
        guard matmul.compute == .fp32 else {
            throw SettingError(.compute, "training runs in fp32 (⟨compute⟩ \(matmul.compute.rawValue) is for inference)")
        }
        if let what = config.trainingUnsupported { throw UnmaskError("training does not support \(what) yet (inference does)") }
        try check(ids: ids, batch: batch, length: length, positions: positions, rowsPerPosition: pattern.rowsPerPosition)
        guard positions.count <= batch * length else {
            throw UnmaskError("training: \(positions.count) head rows for a \(batch)x\(length) batch")
        }
        arena.reserve(batch: batch, length: length, headRows: positions.count, threads: matmul.threads, dropout: dropout)
        run(ids: ids, batch: batch, length: length, positions: positions, pattern: pattern, arena: arena)
        return arena.logits
    }

    /// Makes room in a training arena (and its dropout factors) before they are filled.
    public func prepare(arena: ActivationArena, batch: Int, length: Int, headRows: Int, dropout: Bool) {
        arena.reserve(batch: batch, length: length, headRows: headRows, threads: matmul.threads, dropout: dropout)
    }

    /// The int8 and bf16 paths make their copy of the four weight products of every block
    /// and of the head. The head is the largest single weight of the field's models (2 GB
    /// in fp32 for LLaDA's 126 464 × 4096) and in a sampler's call it often multiplies one
    /// row, where reading a quarter (int8) or half (bf16) of the bytes is the whole gain.
    /// Its quality cost is measured in docs/performance.md.
    ///
    /// On the fp32 path, weights kept in BF16 panels (a published BF16 checkpoint) are packed
    /// here too, at load, rather than by the first call that needs them: packing an 8 B model
    /// takes tens of seconds, and a first network call that paid for it would be counted as
    /// generation time (it was: on a random LLaDA folder in BF16, 8 calls took 0.287 s and
    /// 32 calls 0.567 s, so the first call carried 0.19 s of packing). Other weights stay lazy: their forms depend on the row
    /// count of the call (`Weight`).
    private func prepareCompute() {
        switch matmul.compute {
        case .fp32:
            if matmul.backend == .unmask { for w in computeWeights where w.halfPanels { _ = w.packed } }
        case .int8: for w in computeWeights { w.prepareInt8() }
        case .bf16: for w in computeWeights { w.prepareBF16() }
        }
    }

    /// The weights the compute applies to: every block's four products and the head.
    private var computeWeights: [Weight] {
        layers.flatMap { [$0.qkv, $0.out, $0.up, $0.down] + [$0.gate].compactMap { $0 } } + [head]
    }

    /// Repacks every weight from its source, after training changed the values in place.
    public func refreshWeights() {
        for layer in layers { for w in [layer.qkv, layer.out, layer.up, layer.down] + [layer.gate].compactMap({ $0 }) { w.refresh() } }
        head.refresh()
    }

    /// The pattern a forward runs: the config's, or block diffusion's training layout for a
    /// block-causal model of the same block size.
    func checkPattern(_ pattern: AttentionPattern?) throws -> AttentionPattern {
        let own = AttentionPattern(config)
        guard let pattern, pattern != own else { return own }
        if case .blockDiffusionTraining(let b) = pattern, b == config.blockSize { return pattern }
        if case .blockCausal(let b, let o) = pattern, b == config.blockSize, o >= 0, o < b { return pattern }
        throw UnmaskError("forward: attention \(pattern) does not fit this model's \(config.attention.rawValue) attention")
    }

    func check(ids: [Int], batch: Int, length: Int, positions: [Int], rowsPerPosition: Int = 1) throws {
        let c = config
        guard batch >= 1, length >= 1 else { throw UnmaskError("forward: empty batch") }
        guard length % rowsPerPosition == 0, length / rowsPerPosition <= c.contextLength else {
            throw UnmaskError("sequence length \(length / rowsPerPosition) exceeds the model's context of \(c.contextLength)")
        }
        guard ids.count == batch * length else { throw UnmaskError("forward: \(ids.count) ids for a \(batch)x\(length) batch") }
        for id in ids where id < 0 || id >= c.vocabSize {
            throw UnmaskError("token id \(id) is outside the model's vocabulary (0..<\(c.vocabSize))")
        }
        let rows = batch * length
        for p in positions where p < 0 || p >= rows { throw UnmaskError("forward: position \(p) outside 0..<\(rows)") }
    }

    /// The forward pass. Pre-norm blocks; in training the block input, the norms'
    /// statistics and the pre-activation are kept (the arena's slots say where).
    /// Positions are row mod (L / pattern.rowsPerPosition): a training layout's x_0 copy
    /// sits at the positions of its x_t.
    /// With `cached`, the L rows of each sequence are positions first ..< first + L of a
    /// longer text whose keys and values live in the cache (KeyValueCache.swift): the rows'
    /// own are written there, and their queries attend to the cache.
    func run(ids: [Int], batch B: Int, length L: Int, positions: [Int], pattern: AttentionPattern, arena a: ActivationArena,
             cached: CachedRows? = nil, positionsAreRows: Bool = false) {
        let c = config, d = c.dModel, rows = B * L, threads = matmul.threads
        let period = L / pattern.rowsPerPosition, first = cached?.first ?? 0
        let X = a.x!
        EmbeddingLayer.forward(ids: ids, table: embed, positions: posEmbed.map { $0 + first * d }, x: X, length: period, d: d,
                               threads: threads)
        let scale = 1 / Float(c.headDim).squareRoot()
        for (l, layer) in layers.enumerated() {
            let s = a.slot(l)
            // Attention branch: x ← x + drop(attn(norm(x))·Wo)
            s.xIn?.update(from: X, count: rows * d)
            norm(layer.attnNorm, X, s.h1, rows: rows, rstd: s.rstd1, mean: s.mean1)
            matmul.linear(m: rows, a: s.h1, lda: d, weight: layer.qkv, c: s.qkv, ldc: c.qkvWidth)
            if let b = layer.qkvBias { BiasLayer.forward(s.qkv, bias: b, rows: rows, n: c.qkvWidth, threads: threads) }
            if let qn = layer.qNorm, let kn = layer.kNorm {
                NormLayer.headsForward(qkv: s.qkv, rows: rows, headDim: c.headDim, heads: c.nHeads, kvHeads: c.nKVHeads,
                                       qWeight: qn, kWeight: kn, eps: Float(c.normEps), threads: threads)
            }
            RotaryLayer.forward(cached?.rotary ?? rotary, qkv: s.qkv, rows: rows, length: period, offset: first, headDim: c.headDim,
                                heads: c.nHeads, kvHeads: c.nKVHeads, scale: scale, threads: threads)
            if let cached {
                cached.cache.store(layer: l, qkv: s.qkv, ld: c.qkvWidth, queryWidth: c.attentionWidth, slots: cached.slots, first: cached.cacheRow, rows: L)
                AttentionLayer.forwardRows(q: s.qkv, ldq: c.qkvWidth, kv: cached.slots.map { cached.cache.rows(layer: l, slot: $0) },
                                           kvStride: cached.cache.width, visible: cached.visible, headDim: c.headDim,
                                           heads: c.nHeads, kvHeads: c.nKVHeads, out: s.att, scratch: cached.cache.scores,
                                           maxKeys: cached.cache.capacity, threads: threads)
            } else if case .blockCausal = pattern, !a.training {
                // Row by row, as a cached step computes it (KeyValueCache.swift), so that
                // cached and uncached generation give the same bits.
                let ld = c.qkvWidth
                AttentionLayer.forwardRows(q: s.qkv, ldq: ld, kv: (0..<B).map { UnsafePointer(s.qkv + $0 * L * ld + c.attentionWidth) }, kvStride: ld,
                                           visible: (0..<L).map { pattern.visible($0, rows: L).0.upperBound },
                                           headDim: c.headDim, heads: c.nHeads, kvHeads: c.nKVHeads, out: s.att,
                                           scratch: s.probs, maxKeys: L, threads: threads)
            } else {
                AttentionLayer.forward(qkv: s.qkv, out: s.att, probs: s.probs, probsPerUnit: a.training, batch: B, length: L,
                                       headDim: c.headDim, heads: c.nHeads, kvHeads: c.nKVHeads, pattern: pattern, matmul: matmul)
            }
            addBranch(input: s.att, weight: layer.out, bias: layer.outBias, keep: s.keepAttn, into: X, rows: rows, arena: a)
            // MLP branch: x ← x + drop(act(norm(x)·W_up)·W_down)
            s.xMid?.update(from: X, count: rows * d)
            norm(layer.mlpNorm, X, s.h2, rows: rows, rstd: s.rstd2, mean: s.mean2)
            matmul.linear(m: rows, a: s.h2, lda: d, weight: layer.up, c: s.uPre, ldc: c.dFF)
            if let b = layer.upBias { BiasLayer.forward(s.uPre, bias: b, rows: rows, n: c.dFF, threads: threads) }
            if let gate = layer.gate, let g = s.gate {
                // SwiGLU: u = act(h·W_gate) ⊙ (h·W_up), in place over the up projection.
                matmul.linear(m: rows, a: s.h2, lda: d, weight: gate, c: g, ldc: c.dFF)
                ActivationLayer.gatedForward(c.activation, gate: g, up: s.u, count: rows * c.dFF, threads: threads)
            } else {
                ActivationLayer.forward(c.activation, x: s.uPre, y: s.u, count: rows * c.dFF, threads: threads)
            }
            addBranch(input: s.u, weight: layer.down, bias: layer.downBias, keep: s.keepMLP, into: X, rows: rows, arena: a)
        }
        // Gather the rows the head reads, normalise them, project.
        let P = positions.count
        // Shifted logits (Dream): position p reads the output of p − 1 (p itself at a
        // sequence's start).
        for (j, p) in positions.enumerated() {
            let row = c.shiftedLogits && !positionsAreRows && p % period != 0 ? p - 1 : p
            (a.finalIn + j * d).update(from: X + row * d, count: d)
        }
        norm(finalNorm, a.finalIn, a.finalOut, rows: P, rstd: a.training ? a.finalRstd : nil, mean: a.training ? a.finalMean : nil)
        matmul.linear(m: P, a: a.finalOut, lda: d, weight: head, c: a.logits, ldc: outputSize)
        if let b = headBias { BiasLayer.forward(a.logits, bias: b, rows: P, n: outputSize, threads: threads) }
    }

    /// x ← x + (input·W + b), or x ← x + (input·W + b) ⊙ keep with dropout factors.
    private func addBranch(input: UnsafePointer<Float>, weight: Weight, bias: UnsafePointer<Float>?, keep: UnsafeMutablePointer<Float>?,
                           into x: UnsafeMutablePointer<Float>, rows: Int, arena: ActivationArena) {
        let d = config.dModel
        guard let keep else {
            matmul.linear(m: rows, a: input, lda: weight.rows, weight: weight, c: x, ldc: d, accumulate: true)
            if let bias { BiasLayer.forward(x, bias: bias, rows: rows, n: d, threads: matmul.threads) }
            return
        }
        let t = arena.branch!
        matmul.linear(m: rows, a: input, lda: weight.rows, weight: weight, c: t, ldc: d)
        if let bias { BiasLayer.forward(t, bias: bias, rows: rows, n: d, threads: matmul.threads) }
        DropoutLayer.apply(t, keep: keep, count: rows * d, threads: matmul.threads)
        Parallel.chunks(rows * d, threads: matmul.threads) { range in for i in range { x[i] += t[i] } }
    }

    func norm(_ n: Norm, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows: Int,
              rstd: UnsafeMutablePointer<Float>?, mean: UnsafeMutablePointer<Float>?) {
        NormLayer.forward(config.norm, x: src, y: dst, rows: rows, d: config.dModel, weight: n.weight, bias: n.bias,
                          eps: Float(config.normEps), rstd: rstd, mean: mean, threads: matmul.threads)
    }
}
