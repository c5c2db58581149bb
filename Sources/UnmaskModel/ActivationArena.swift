import UnmaskKernels

/// Every buffer one forward pass — and in training its backward pass — uses, carved from
/// a single allocation sized from the config and the batch shape (llm.c's acts_memory).
/// It grows to the largest shape asked for and is reused: a forward allocates nothing.
///
/// Inference needs one set of layer buffers, reused by every layer, and one (L, L)
/// attention buffer per thread. Training keeps every layer's inputs, norm statistics,
/// attention probabilities and pre-activation for the backward pass (`Slot` per layer),
/// plus the gradient scratch. Shapes, with R = B·L rows:
public final class ActivationArena {
    /// One block's buffers. In inference every layer gets the same slot, and the fields
    /// only the backward pass reads are nil.
    struct Slot {
        var xIn: UnsafeMutablePointer<Float>?       // (R, d)     block input (training)
        var h1: UnsafeMutablePointer<Float>         // (R, d)     attn_norm(xIn)
        var rstd1: UnsafeMutablePointer<Float>?     // (R)        its 1/std (training)
        var mean1: UnsafeMutablePointer<Float>?     // (R)        its mean (training; 0 for RMSNorm)
        var qkv: UnsafeMutablePointer<Float>        // (R, 3d)    after rotary and q scale
        var probs: UnsafeMutablePointer<Float>      // (B·H, L, L) training; (threads, L, L) inference
        var att: UnsafeMutablePointer<Float>        // (R, d)     heads side by side
        var xMid: UnsafeMutablePointer<Float>?      // (R, d)     xIn + attention branch (training)
        var h2: UnsafeMutablePointer<Float>         // (R, d)     mlp_norm(xMid)
        var rstd2: UnsafeMutablePointer<Float>?     // (R)
        var mean2: UnsafeMutablePointer<Float>?     // (R)
        var uPre: UnsafeMutablePointer<Float>       // (R, d_ff)  h2·W_up
        var u: UnsafeMutablePointer<Float>          // (R, d_ff)  act(uPre); uPre itself in inference
        var keepAttn: UnsafeMutablePointer<Float>?  // (R, d)     dropout factors, attention branch
        var keepMLP: UnsafeMutablePointer<Float>?   // (R, d)     dropout factors, MLP branch
        var gate: UnsafeMutablePointer<Float>? = nil  // (R, d_ff)  h2·W_gate (gated MLP, inference)
    }

    public let config: ModelConfig
    public let training: Bool
    /// Dropout factors are stored (training with dropout only); the trainer fills them.
    public private(set) var dropout = false

    private(set) var rows = 0, length = 0, headRows = 0, threads = 0
    private var memory: UnsafeMutablePointer<Float>?
    private var capacity = 0
    private(set) var slots: [Slot] = []

    var x: UnsafeMutablePointer<Float>!            // (R, d)     residual stream
    var branch: UnsafeMutablePointer<Float>!       // (R, d)     a block's branch output before dropout (training)
    var finalIn: UnsafeMutablePointer<Float>!      // (P, d)     residual rows the head reads, gathered
    var finalOut: UnsafeMutablePointer<Float>!     // (P, d)     final_norm(finalIn)
    var finalRstd: UnsafeMutablePointer<Float>!    // (P)
    var finalMean: UnsafeMutablePointer<Float>!    // (P)
    public internal(set) var logits: UnsafeMutablePointer<Float>!  // (P, outputSize); the loss's gradient in place
    // Backward scratch (training only).
    var dx: UnsafeMutablePointer<Float>!           // (R, d)     gradient of the residual stream
    var dy: UnsafeMutablePointer<Float>!           // (R, d)     a branch's gradient after dropout
    var dh: UnsafeMutablePointer<Float>!           // (R, d)     gradient of a norm's output / attention output
    var dff: UnsafeMutablePointer<Float>!          // (R, d_ff)  gradient of the MLP hidden layer
    var dqkv: UnsafeMutablePointer<Float>!         // (R, 3d)
    var dScores: UnsafeMutablePointer<Float>!      // (threads, L, L)
    var reductionScratch: UnsafeMutablePointer<Float>!  // partial sums of the norm and bias gradients

    public init(config: ModelConfig, training: Bool) {
        self.config = config
        self.training = training
    }

    deinit { memory?.deallocate() }

    /// Floats the arena needs for this shape: what `estimatedBytes` reports.
    static func floats(config c: ModelConfig, training: Bool, dropout: Bool, batch: Int, length L: Int, headRows: Int,
                       threads: Int) -> Int {
        var total = 0
        layout(config: c, training: training, dropout: dropout, batch: batch, length: L, headRows: headRows, threads: threads) {
            total += align($0)
            return nil
        }
        return total
    }

    /// Makes room for a batch × length forward whose head reads `headRows` rows. Grows (one
    /// new allocation) only when the shape exceeds what the arena already holds.
    func reserve(batch: Int, length L: Int, headRows: Int, threads: Int, dropout: Bool = false) {
        let r = batch * L
        // Buffers are read from their start with row strides d, 3d, d_ff or L·L, so a
        // smaller shape fits in a larger one's layout.
        if r <= rows, L <= length, headRows <= self.headRows, threads <= self.threads, dropout == self.dropout {
            return
        }
        let needed = ActivationArena.floats(config: config, training: training, dropout: dropout, batch: batch, length: L,
                                            headRows: headRows, threads: threads)
        if needed > capacity {
            memory?.deallocate()
            memory = .allocate(capacity: needed + 16)
            memory!.initialize(repeating: 0, count: needed + 16)
            capacity = needed
        }
        // 64-byte aligned pieces: whole cache lines, aligned vector loads.
        let start = UnsafeMutablePointer<Float>(bitPattern: (Int(bitPattern: memory!) + 63) & ~63)!
        var offset = 0
        var pieces: [UnsafeMutablePointer<Float>] = []
        ActivationArena.layout(config: config, training: training, dropout: dropout, batch: batch, length: L,
                               headRows: headRows, threads: threads) { n in
            pieces.append(start + offset)
            offset += ActivationArena.align(n)
            return nil
        }
        var next = pieces.makeIterator()
        func take() -> UnsafeMutablePointer<Float> { next.next()! }
        x = take(); branch = take(); finalIn = take(); finalOut = take(); finalRstd = take(); finalMean = take(); logits = take()
        if training {
            dx = take(); dy = take(); dh = take(); dff = take(); dqkv = take(); dScores = take(); reductionScratch = take()
        }
        slots = []
        for _ in 0..<(training ? config.nLayers : 1) {
            if training {
                let xIn = take(), h1 = take(), rstd1 = take(), mean1 = take(), qkv = take(), probs = take(), att = take()
                let xMid = take(), h2 = take(), rstd2 = take(), mean2 = take(), uPre = take(), u = take()
                let keepAttn = dropout ? take() : nil, keepMLP = dropout ? take() : nil
                slots.append(Slot(xIn: xIn, h1: h1, rstd1: rstd1, mean1: mean1, qkv: qkv, probs: probs, att: att, xMid: xMid,
                                  h2: h2, rstd2: rstd2, mean2: mean2, uPre: uPre, u: u, keepAttn: keepAttn, keepMLP: keepMLP))
            } else {
                let h = take(), qkv = take(), probs = take(), att = take(), u = take()
                let gate = config.gatedMLP ? take() : nil
                slots.append(Slot(xIn: nil, h1: h, rstd1: nil, mean1: nil, qkv: qkv, probs: probs, att: att, xMid: nil,
                                  h2: h, rstd2: nil, mean2: nil, uPre: u, u: u, keepAttn: nil, keepMLP: nil, gate: gate))
            }
        }
        precondition(next.next() == nil)
        (rows, length, self.headRows, self.threads, self.dropout) = (r, L, headRows, threads, dropout)
    }

    func slot(_ layer: Int) -> Slot { slots[training ? layer : 0] }

    /// The dropout factors of `layer`'s two branches, (R, d) each, for the trainer to fill.
    public func dropoutFactors(layer: Int) -> (attention: UnsafeMutablePointer<Float>, mlp: UnsafeMutablePointer<Float>)? {
        guard training, dropout else { return nil }
        return (slots[layer].keepAttn!, slots[layer].keepMLP!)
    }

    private static func align(_ n: Int) -> Int { (max(n, 1) + 15) & ~15 }

    /// Calls `piece(floats)` for every buffer in the order `reserve` takes them.
    private static func layout(config c: ModelConfig, training: Bool, dropout: Bool, batch: Int, length L: Int,
                               headRows P: Int, threads: Int, _ piece: (Int) -> Void?) {
        let d = c.dModel, R = batch * L, out = c.head == .tokens ? c.vocabSize : 1
        for n in [R * d, training ? R * d : 0, P * d, P * d, P, P, P * out] { _ = piece(n) }
        if training {
            for n in [R * d, R * d, R * d, R * c.dFF, R * 3 * d, threads * L * L, max(NormLayer.scratchFloats(rows: max(R, P), d: d),
                                                                                    BiasLayer.scratchFloats(rows: max(R, P), n: max(3 * d, c.dFF, out)))] {
                _ = piece(n)
            }
        }
        for _ in 0..<(training ? c.nLayers : 1) {
            if training {
                for n in [R * d, R * d, R, R, R * 3 * d, batch * c.nHeads * L * L, R * d, R * d, R * d, R, R, R * c.dFF, R * c.dFF] {
                    _ = piece(n)
                }
                if dropout { _ = piece(R * d); _ = piece(R * d) }
            } else {
                for n in [R * d, R * c.qkvWidth, threads * L * L, R * d, R * c.dFF] { _ = piece(n) }
                if c.gatedMLP { _ = piece(R * c.dFF) }
            }
        }
    }
}
