import UnmaskKernels

/// Every buffer one forward pass — and in training its backward pass — uses, carved from
/// a single allocation sized from the config and the batch shape (llm.c's acts_memory).
/// It grows to the largest shape asked for and is reused: a forward allocates nothing.
///
/// Inference needs one set of layer buffers, reused by every layer, and one (L, L)
/// attention buffer per thread. Training keeps every layer's inputs, norm statistics,
/// attention probabilities and pre-activation for the backward pass (`Slot` per layer),
/// plus the gradient scratch. Shapes, with R = B·L rows, P head rows, H heads, and the
/// fused query|key|value width W_qkv = (H + 2·n_kv_heads)·d_head (`ModelConfig.qkvWidth`;
/// 3d without grouped-query attention).
///
/// `carve` is the only list of the buffers: it names, sizes and places each one in a
/// single pass, and the arena's size (`floats`, and so `MemoryEstimate`) is that same pass
/// run without memory.
public final class ActivationArena {
    /// One block's buffers. In inference every layer gets the same slot, and the fields
    /// only the backward pass reads are nil.
    struct Slot {
        var xIn: UnsafeMutablePointer<Float>?       // (R, d)      block input (training)
        var h1: UnsafeMutablePointer<Float>         // (R, d)      attn_norm(xIn)
        var rstd1: UnsafeMutablePointer<Float>?     // (R)         its 1/std (training)
        var mean1: UnsafeMutablePointer<Float>?     // (R)         its mean (training; 0 for RMSNorm)
        var qkv: UnsafeMutablePointer<Float>        // (R, W_qkv)  after rotary and q scale
        var probs: UnsafeMutablePointer<Float>      // (B·H, L, L) training; (threads, L, L) inference
        var att: UnsafeMutablePointer<Float>        // (R, H·dh)   heads side by side (d unless head_dim is set apart)
        var xMid: UnsafeMutablePointer<Float>?      // (R, d)      xIn + attention branch (training)
        var h2: UnsafeMutablePointer<Float>         // (R, d)      mlp_norm(xMid); h1's buffer in inference
        var rstd2: UnsafeMutablePointer<Float>?     // (R)
        var mean2: UnsafeMutablePointer<Float>?     // (R)
        var uPre: UnsafeMutablePointer<Float>       // (R, d_ff)   h2·W_up
        var u: UnsafeMutablePointer<Float>          // (R, d_ff)   act(uPre); uPre itself in inference
        var keepAttn: UnsafeMutablePointer<Float>?  // (R, d)      dropout factors, attention branch
        var keepMLP: UnsafeMutablePointer<Float>?   // (R, d)      dropout factors, MLP branch
        var gate: UnsafeMutablePointer<Float>?      // (R, d_ff)   h2·W_gate (gated MLP, inference)
    }

    /// The batch shape an arena is laid out for.
    public struct Shape: Equatable, Sendable {
        public var batch: Int
        public var length: Int
        /// Rows the head reads (P): one per sequence for a first-hitting sampler's call,
        /// every position (B·L) for an ancestral one or a training step's upper bound.
        public var headRows: Int
        /// Threads of the products: inference keeps one (L, L) attention buffer per thread.
        public var threads: Int
        /// Dropout factors are stored (training with dropout only).
        public var dropout: Bool

        public init(batch: Int, length: Int, headRows: Int, threads: Int, dropout: Bool = false) {
            (self.batch, self.length, self.headRows, self.threads, self.dropout) = (batch, length, headRows, threads, dropout)
        }
    }

    public let config: ModelConfig
    public let training: Bool
    /// Dropout factors are stored (training with dropout only); the trainer fills them.
    public private(set) var dropout = false

    private(set) var rows = 0, length = 0, headRows = 0, threads = 0
    private var memory: UnsafeMutablePointer<Float>?
    private var capacity = 0
    private(set) var slots: [Slot] = []
    /// Every buffer of the current layout by name, offset and size (floats), in order.
    private(set) var buffers: [ArenaLayout.Buffer] = []

    var x: UnsafeMutablePointer<Float>!            // (R, d)      residual stream
    var branch: UnsafeMutablePointer<Float>!       // (R, d)      a block's branch output before dropout (training)
    var finalIn: UnsafeMutablePointer<Float>!      // (P, d)      residual rows the head reads, gathered
    var finalOut: UnsafeMutablePointer<Float>!     // (P, d)      final_norm(finalIn)
    var finalRstd: UnsafeMutablePointer<Float>!    // (P)         its 1/std (training)
    var finalMean: UnsafeMutablePointer<Float>!    // (P)         its mean (training)
    public internal(set) var logits: UnsafeMutablePointer<Float>!  // (P, outputSize); the loss's gradient in place
    // Backward scratch (training only).
    var dx: UnsafeMutablePointer<Float>!           // (R, d)      gradient of the residual stream
    var dy: UnsafeMutablePointer<Float>!           // (R, d)      a branch's gradient after dropout
    var dh: UnsafeMutablePointer<Float>!           // (R, d)      gradient of a norm's output / attention output
    var dff: UnsafeMutablePointer<Float>!          // (R, d_ff)   gradient of the MLP hidden layer
    var dqkv: UnsafeMutablePointer<Float>!         // (R, W_qkv)
    var dScores: UnsafeMutablePointer<Float>!      // (threads, L, L)
    var reductionScratch: UnsafeMutablePointer<Float>!  // partial sums of the norm and bias gradients

    public init(config: ModelConfig, training: Bool) {
        self.config = config
        self.training = training
    }

    deinit { memory?.deallocate() }

    /// Floats an arena of this kind needs for `shape`, alignment included: `carve` run
    /// without memory. `MemoryEstimate` reports it.
    static func floats(config: ModelConfig, training: Bool, shape: Shape) -> Int {
        var layout = ArenaLayout(base: nil)
        _ = carve(config: config, training: training, shape: shape, &layout)
        return layout.floats
    }

    /// Bytes of the allocation `reserve` makes for `shape` (its 64-byte alignment slack included).
    public static func bytes(config: ModelConfig, training: Bool, shape: Shape) -> Int {
        4 * (floats(config: config, training: training, shape: shape) + 16)
    }

    /// Makes room for a batch × length forward whose head reads `headRows` rows. Grows (one
    /// new allocation) only when the shape exceeds what the arena already holds.
    func reserve(batch: Int, length L: Int, headRows: Int, threads: Int, dropout: Bool = false) {
        let r = batch * L
        // Buffers are read from their start with row strides d, W_qkv, d_ff or L·L, so a
        // smaller shape fits in a larger one's layout.
        if r <= rows, L <= length, headRows <= self.headRows, threads <= self.threads, dropout == self.dropout {
            return
        }
        let shape = Shape(batch: batch, length: L, headRows: headRows, threads: threads, dropout: dropout)
        let needed = ActivationArena.floats(config: config, training: training, shape: shape)
        if needed > capacity {
            memory?.deallocate()
            memory = .allocate(capacity: needed + 16)
            memory!.initialize(repeating: 0, count: needed + 16)
            capacity = needed
        }
        // 64-byte aligned pieces: whole cache lines, aligned vector loads.
        var layout = ArenaLayout(base: UnsafeMutablePointer<Float>(bitPattern: (Int(bitPattern: memory!) + 63) & ~63)!)
        let carved = ActivationArena.carve(config: config, training: training, shape: shape, &layout)
        precondition(layout.floats == needed)
        (x, branch, finalIn, finalOut, finalRstd, finalMean, logits) =
            (carved.x, carved.branch, carved.finalIn, carved.finalOut, carved.finalRstd, carved.finalMean, carved.logits)
        (dx, dy, dh, dff, dqkv, dScores, reductionScratch) =
            (carved.dx, carved.dy, carved.dh, carved.dff, carved.dqkv, carved.dScores, carved.reductionScratch)
        slots = carved.slots
        buffers = layout.buffers
        (rows, length, self.headRows, self.threads, self.dropout) = (r, L, headRows, threads, dropout)
    }

    func slot(_ layer: Int) -> Slot { slots[training ? layer : 0] }

    /// The dropout factors of `layer`'s two branches, (R, d) each, for the trainer to fill.
    public func dropoutFactors(layer: Int) -> (attention: UnsafeMutablePointer<Float>, mlp: UnsafeMutablePointer<Float>)? {
        guard training, dropout else { return nil }
        return (slots[layer].keepAttn!, slots[layer].keepMLP!)
    }

    /// The arena's pointers, as `carve` hands them out.
    private struct Carved {
        var x, finalIn, finalOut, logits: UnsafeMutablePointer<Float>
        var branch, finalRstd, finalMean: UnsafeMutablePointer<Float>?
        var dx, dy, dh, dff, dqkv, dScores, reductionScratch: UnsafeMutablePointer<Float>?
        var slots: [Slot] = []
    }

    /// Every buffer, named, sized and placed in one pass (see the shapes above).
    private static func carve(config c: ModelConfig, training: Bool, shape: Shape, _ a: inout ArenaLayout) -> Carved {
        let d = c.dModel, A = c.attentionWidth, F = c.dFF, W = c.qkvWidth, B = shape.batch, L = shape.length, R = B * L, P = shape.headRows
        let out = c.head == .tokens ? c.vocabSize : 1
        func trainingOnly(_ name: String, _ floats: Int) -> UnsafeMutablePointer<Float>? {
            training ? a.take(name, floats) : nil
        }
        var carved = Carved(
            x: a.take("x", R * d), finalIn: a.take("finalIn", P * d), finalOut: a.take("finalOut", P * d),
            logits: a.take("logits", P * out),
            branch: trainingOnly("branch", R * d), finalRstd: trainingOnly("finalRstd", P), finalMean: trainingOnly("finalMean", P))
        if training {
            carved.dx = a.take("dx", R * d)
            carved.dy = a.take("dy", R * d)
            carved.dh = a.take("dh", R * d)
            carved.dff = a.take("dff", R * F)
            carved.dqkv = a.take("dqkv", R * W)
            carved.dScores = a.take("dScores", shape.threads * L * L)
            carved.reductionScratch = a.take("reductionScratch", max(NormLayer.scratchFloats(rows: max(R, P), d: d),
                                                                     BiasLayer.scratchFloats(rows: max(R, P), n: max(W, F, out))))
            for l in 0..<c.nLayers {
                func take(_ name: String, _ floats: Int) -> UnsafeMutablePointer<Float> { a.take("layers.\(l).\(name)", floats) }
                let xIn = take("xIn", R * d), h1 = take("h1", R * d), rstd1 = take("rstd1", R), mean1 = take("mean1", R)
                let qkv = take("qkv", R * W), probs = take("probs", B * c.nHeads * L * L), att = take("att", R * A)
                let xMid = take("xMid", R * d), h2 = take("h2", R * d), rstd2 = take("rstd2", R), mean2 = take("mean2", R)
                let uPre = take("uPre", R * F), u = take("u", R * F)
                let keepAttn = shape.dropout ? take("keepAttn", R * d) : nil, keepMLP = shape.dropout ? take("keepMLP", R * d) : nil
                carved.slots.append(Slot(xIn: xIn, h1: h1, rstd1: rstd1, mean1: mean1, qkv: qkv, probs: probs, att: att,
                                         xMid: xMid, h2: h2, rstd2: rstd2, mean2: mean2, uPre: uPre, u: u,
                                         keepAttn: keepAttn, keepMLP: keepMLP, gate: nil))
            }
        } else {
            let h = a.take("h", R * d), qkv = a.take("qkv", R * W), probs = a.take("probs", shape.threads * L * L)
            let att = a.take("att", R * A), u = a.take("u", R * F)
            let gate = c.gatedMLP ? a.take("gate", R * F) : nil
            carved.slots = [Slot(xIn: nil, h1: h, rstd1: nil, mean1: nil, qkv: qkv, probs: probs, att: att, xMid: nil,
                                 h2: h, rstd2: nil, mean2: nil, uPre: u, u: u, keepAttn: nil, keepMLP: nil, gate: gate)]
        }
        return carved
    }
}

/// Hands out consecutive 64-byte aligned pieces of one allocation, each under a name.
/// Without a base it only counts: `take` then returns a placeholder that is never read,
/// so sizing and carving are the same code.
struct ArenaLayout {
    struct Buffer {
        let name: String
        let offset: Int  // floats from the start
        let floats: Int
    }

    private let base: UnsafeMutablePointer<Float>?
    /// Floats taken so far, alignment included.
    private(set) var floats = 0
    private(set) var buffers: [Buffer] = []

    init(base: UnsafeMutablePointer<Float>?) { self.base = base }

    /// The next `count` floats, rounded up to whole cache lines (16 floats; at least one line).
    mutating func take(_ name: String, _ count: Int) -> UnsafeMutablePointer<Float> {
        precondition(count >= 0, "arena buffer \(name) of \(count) floats")
        let offset = floats
        floats += (max(count, 1) + 15) & ~15
        guard let base else { return ArenaLayout.placeholder }
        buffers.append(Buffer(name: name, offset: offset, floats: count))
        return base + offset
    }

    /// What a counting layout returns: aligned, never dereferenced.
    private static var placeholder: UnsafeMutablePointer<Float> { UnsafeMutablePointer(bitPattern: 64)! }
}
