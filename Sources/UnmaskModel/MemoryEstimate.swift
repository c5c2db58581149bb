import UnmaskKernels
import UnmaskSupport

/// What running a model takes in memory, in bytes: the one estimate behind every check
/// that refuses, before any large allocation, a model too big for the machine, a batch
/// that cannot fit or a training step that would abort mid-way.
///
///  * the weights' source: F32 values in memory (training's parameter buffer, a
///    benchmark's random weights; 4 bytes a parameter), or a mapped file, of which only the
///    tables and vectors the layers read as F32 are counted (position table, norms and
///    biases: mapped F32, or widened from BF16/F16); a file's matrices are not, their pages
///    are dropped once packed, and neither is its embedding table, read in place a row per
///    looked-up token;
///  * each engine's copies of the weight matrices its products read (`Weight`): our fp32
///    panels, 4 bytes a parameter (2 for BF16 panels); OpenBLAS's F32 view, free for F32 in
///    memory and 4 bytes a parameter otherwise; the int8 panels, 1 byte a parameter, and
///    the bf16 panels, 2, the head included in both. A tied head's panels are made from
///    the embedding table;
///  * each engine's activation arena for a shape, sized by the arena's own layout
///    (`ActivationArena.bytes`);
///  * in training, the gradients and AdamW's two moments (12 bytes a parameter).
/// Lazily made copies a path may add on top (a few-rows transposed head, a quantized
/// activation) are small beside these and left out.
public struct MemoryEstimate: Sendable {
    /// Where the weights are read from.
    public enum Source: Sendable {
        /// F32 values in memory, read in place.
        case memory
        /// A mapped safetensors file, ours or a Hugging Face folder's.
        case file
    }

    /// The source's bytes, shared by every engine.
    public let sourceBytes: Double
    /// Every engine's copies of the weight matrices.
    public let copyBytes: Double
    /// Every engine's activation arena.
    public let arenaBytes: Double
    /// Training's gradients and optimiser moments.
    public let optimizerBytes: Double

    /// The weights as the products read them: the source and the engines' copies.
    public var weightBytes: Double { sourceBytes + copyBytes }
    public var totalBytes: Double { weightBytes + arenaBytes + optimizerBytes }

    /// `engines` model instances over one `source` (one per engine), each with its own
    /// arena laid out for `arena` (none when nil: the weights alone), as a training arena
    /// with the optimiser's state when `training`. `halfPanels`: the weights are stored in
    /// BF16 (`Transformer.peekHalfPanels` for a model directory); our fp32 products keep
    /// them in BF16 panels under the AVX-512 kernel (`Weight.halfPanels`).
    public init(config c: ModelConfig, source: Source, engines: [Engine], halfPanels: Bool = false,
                arena: ActivationArena.Shape? = nil, training: Bool = false) {
        let halfFP32Panels = halfPanels && MicroKernel.selected == .avx512
        var blockMatrices = 0, tablesAndVectors = 0
        for t in c.tensorShapes {
            let n = t.shape.reduce(1, *)
            if t.shape.count == 2 && t.name != "embed.weight" && t.name != "pos_embed.weight" && t.name != "head.weight" {
                blockMatrices += n
            } else if t.name != "head.weight" && t.name != "embed.weight" {
                tablesAndVectors += n
            }
        }
        let head = Double(c.dModel * (c.head == .tokens ? c.vocabSize : 1))
        let blocks = Double(blockMatrices)
        sourceBytes = 4 * Double(source == .memory ? c.parameterCount : tablesAndVectors)
        var copies = 0.0
        for e in engines {
            switch (e.compute, e.backend) {
            case (.int8, _): copies += blocks + head
            case (.bf16, _): copies += 2 * (blocks + head)
            case (.fp32, .openblas): copies += source == .memory ? 0 : 4 * (blocks + head)
            case (.fp32, .unmask): copies += (halfFP32Panels ? 2 : 4) * (blocks + head)
            }
        }
        copyBytes = copies
        arenaBytes = arena.map { Double(engines.count * ActivationArena.bytes(config: c, training: training, shape: $0)) } ?? 0
        optimizerBytes = training ? 12 * Double(c.parameterCount) : 0
    }

    /// One training step at `batch` × context on the parameter buffer: our fp32 panels, the
    /// training arena with every position in the head (the most a step reads), and the
    /// optimiser's state. The validation forward's inference arena (a few sequences) is
    /// small beside it and left out.
    public static func trainingStep(config c: ModelConfig, batch: Int, threads: Int = 1, dropout: Bool = true) -> MemoryEstimate {
        let L = c.contextLength
        return MemoryEstimate(config: c, source: .memory, engines: [.fp32],
                              arena: ActivationArena.Shape(batch: batch, length: L, headRows: batch * L, threads: threads,
                                                           dropout: dropout),
                              training: true)
    }

    /// The weights of one model read from its file, for one engine: what a command checks
    /// before it loads a model (the batch is not known yet, so no arena).
    public static func weightBytes(config c: ModelConfig, engine: Engine, halfPanels: Bool) -> Double {
        MemoryEstimate(config: c, source: .file, engines: [engine], halfPanels: halfPanels).weightBytes
    }

    /// Whether `bytes` fit in `fraction` of this machine's memory (`physicalMemoryBytes`);
    /// true when the system does not say how much it has.
    public static func fits(_ bytes: Double, fraction: Double, available: Int = physicalMemoryBytes()) -> Bool {
        available <= 0 || bytes <= fraction * Double(available)
    }
}
