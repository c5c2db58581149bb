import UnmaskKernels
import UnmaskSupport

/// A transformer's shape and variant, stored as `config.json` beside `model.safetensors`.
/// One architecture serves three roles: the bidirectional denoiser (head "tokens"), the
/// causal evaluator (attention "causal") and the DDPD planner (head "binary").
public struct ModelConfig: Equatable, Sendable {
    public enum Norm: String, Sendable, CaseIterable { case rmsnorm, layernorm }
    public enum Activation: String, Sendable, CaseIterable { case gelu, silu }
    public enum Positions: String, Sendable, CaseIterable { case rotary, learned }
    /// Which keys a query sees: every one; those at or before it; or those in its block of
    /// `blockSize` positions and every block before it (block diffusion, BD3-LM: token i sees
    /// token j iff ⌊j/B⌋ ≤ ⌊i/B⌋, so a finished block's keys never change again and can be
    /// cached exactly).
    public enum Attention: String, Sendable, CaseIterable {
        case bidirectional, causal
        case blockCausal = "block_causal"
    }
    public enum Head: String, Sendable, CaseIterable { case tokens, binary }
    /// Where a block-causal model's blocks start at generation: at position 0 (BD3-LM, SDAR,
    /// Fast-dLLM v2), or so that a block ends where the prompt ends (the Qwen3 A2D
    /// checkpoints' sampler left-pads the prompt to a whole number of blocks; the pads are
    /// neither keys nor positions, which is the same as blocks shifted by the pad count).
    public enum BlockAlignment: String, Sendable, CaseIterable {
        case position0 = "position_0"
        case promptEnd = "prompt_end"
    }

    public var vocabSize: Int
    public var dModel: Int
    public var nLayers: Int
    public var nHeads: Int
    public var dFF: Int
    public var contextLength: Int
    public var norm: Norm = .rmsnorm
    public var normEps: Double = 1e-5
    public var activation: Activation = .gelu
    public var positions: Positions = .rotary
    public var ropeTheta: Double = 10_000
    public var tiedEmbeddings: Bool = true
    public var attention: Attention = .bidirectional
    public var head: Head = .tokens
    /// Biases on the four linear maps of every block (qkv, out, up, down), as GPT-2 has.
    public var linearBias = false
    /// A bias on the untied token head (MDLM's output layer has one).
    public var headBias = false
    /// Key/value heads (grouped-query attention when fewer than `nHeads`; LLaMA, Qwen2).
    public var nKVHeads: Int
    /// Gated MLP (SwiGLU with SiLU): act(h·W_gate) ⊙ (h·W_up), then W_down.
    public var gatedMLP = false
    /// Biases on the query/key/value projection only (Qwen2).
    public var qkvBias = false
    /// Output i − 1 predicts token i (Dream; position 0 reads output 0).
    public var shiftedLogits = false
    /// Positions per block of block-causal attention (nil for the other attentions).
    public var blockSize: Int?
    /// Where generation starts the blocks (block-causal models only).
    public var blockAlignment: BlockAlignment = .position0
    /// The size of one attention head when a family sets it apart from d_model / n_heads
    /// (Qwen3: head_dim 128 with d 2560 and 32 heads); nil: d_model / n_heads.
    public var explicitHeadDim: Int?
    /// RMSNorm over each query and key head vector (weights of head_dim), after the
    /// projection and before rotary (Qwen3's q_norm / k_norm).
    public var qkNorm = false
    public var maskTokenId: Int

    public init(vocabSize: Int, dModel: Int, nLayers: Int, nHeads: Int, dFF: Int, contextLength: Int,
                maskTokenId: Int) {
        self.vocabSize = vocabSize
        self.dModel = dModel
        self.nLayers = nLayers
        self.nHeads = nHeads
        self.dFF = dFF
        self.contextLength = contextLength
        self.maskTokenId = maskTokenId
        nKVHeads = nHeads
    }

    /// Columns of the fused query|key|value projection, W_qkv = (n_heads + 2·n_kv_heads)·d_head:
    /// n_heads query vectors, then n_kv_heads key and n_kv_heads value vectors (3d without
    /// grouped-query attention and with d_head = d / n_heads).
    public var qkvWidth: Int { (nHeads + 2 * nKVHeads) * headDim }

    /// Columns of the attention's output, n_heads·d_head: the output projection's input
    /// (d itself unless `explicitHeadDim` sets another head size).
    public var attentionWidth: Int { nHeads * headDim }

    /// What the training step does not implement yet, or nil.
    public var trainingUnsupported: String? {
        if nKVHeads != nHeads { return "grouped-query attention" }
        if gatedMLP { return "a gated MLP" }
        if shiftedLogits { return "shifted logits" }
        if explicitHeadDim != nil { return "a head size apart from d_model / n_heads" }
        if qkNorm { return "query/key norms" }
        return nil
    }

    /// The size the bundled models use: 6 layers, d=256, 4 heads, context 128, vocab 4096.
    public static let standard = ModelConfig(vocabSize: 4096, dModel: 256, nLayers: 6, nHeads: 4, dFF: 1024,
                                             contextLength: 128, maskTokenId: 4095)

    public var headDim: Int { explicitHeadDim ?? dModel / nHeads }

    /// `maskTokenId` of a model that has no mask token (a Hugging Face evaluator). The
    /// denoiser role requires a real one.
    public static let noMaskToken = -1

    /// Checks the numbers make a model; every message names the offending field.
    public func validate() throws {
        func need(_ ok: Bool, _ message: String) throws { if !ok { throw UnmaskError("config: \(message)") } }
        try need(vocabSize >= 2 && vocabSize <= 1 << 20, "vocab_size \(vocabSize) must be in 2...\(1 << 20)")
        try need(dModel >= 2 && dModel <= 1 << 14, "d_model \(dModel) must be in 2...\(1 << 14)")
        try need(nLayers >= 1 && nLayers <= 256, "n_layers \(nLayers) must be in 1...256")
        if let h = explicitHeadDim {
            try need(nHeads >= 1 && nHeads <= 1024, "n_heads \(nHeads) must be in 1...1024")
            try need(h >= 2 && h <= 1024, "head_dim \(h) must be in 2...1024")
        } else {
            try need(nHeads >= 1 && dModel % nHeads == 0, "n_heads \(nHeads) must divide d_model \(dModel)")
        }
        try need(nKVHeads >= 1 && nHeads % nKVHeads == 0, "n_kv_heads \(nKVHeads) must divide n_heads \(nHeads)")
        try need(positions != .rotary || headDim % 2 == 0, "rotary positions need an even head size (d_model / n_heads = \(headDim))")
        try need(dFF >= 1 && dFF <= 1 << 16, "d_ff \(dFF) must be in 1...\(1 << 16)")
        try need(contextLength >= 1 && contextLength <= 1 << 16, "context_length \(contextLength) must be in 1...\(1 << 16)")
        try need(maskTokenId == ModelConfig.noMaskToken || (maskTokenId >= 0 && maskTokenId < vocabSize),
                 "mask_token_id \(maskTokenId) is outside the vocabulary")
        try need(normEps > 0 && normEps < 1, "norm_eps \(normEps) must be in (0, 1)")
        try need(ropeTheta > 1 && ropeTheta.isFinite, "rope_theta \(ropeTheta) must be > 1")
        try need(head == .tokens || !tiedEmbeddings, "a binary head cannot be tied to the embeddings")
        try need(!headBias || (head == .tokens && !tiedEmbeddings), "head_bias needs an untied token head")
        if attention == .blockCausal {
            guard let b = blockSize else { throw UnmaskError("config: block_causal attention needs a block_size") }
            try need(b >= 1 && contextLength % b == 0, "block_size \(b) must divide context_length \(contextLength)")
        } else {
            try need(blockSize == nil, "block_size is for block_causal attention (this model's is \(attention.rawValue))")
            try need(blockAlignment == .position0, "block_alignment is for block_causal attention (this model's is \(attention.rawValue))")
        }
    }

    public var json: JSONValue {
        .object([
            ("architecture", .string("unmask-transformer")),
            ("vocab_size", .int(vocabSize)), ("d_model", .int(dModel)), ("n_layers", .int(nLayers)),
            ("n_heads", .int(nHeads)), ("d_ff", .int(dFF)), ("context_length", .int(contextLength)),
            ("norm", .string(norm.rawValue)), ("norm_eps", .double(normEps)),
            ("activation", .string(activation.rawValue)), ("positions", .string(positions.rawValue)),
            ("rope_theta", .double(ropeTheta)), ("tied_embeddings", .bool(tiedEmbeddings)),
            ("attention", .string(attention.rawValue)), ("head", .string(head.rawValue)),
            ("mask_token_id", .int(maskTokenId)), ("linear_bias", .bool(linearBias)),
            ("head_bias", .bool(headBias)), ("n_kv_heads", .int(nKVHeads)), ("gated_mlp", .bool(gatedMLP)),
            ("qkv_bias", .bool(qkvBias)), ("shifted_logits", .bool(shiftedLogits)),
            ("weight_layout", .string("in_out")),
        ] + (blockSize.map { [("block_size", JSONValue.int($0))] } ?? [])
          + (explicitHeadDim.map { [("head_dim", JSONValue.int($0))] } ?? [])
          + (qkNorm ? [("qk_norm", JSONValue.bool(true))] : [])
          + (blockAlignment != .position0 ? [("block_alignment", JSONValue.string(blockAlignment.rawValue))] : []))
    }

    public static func parse(_ value: JSONValue) throws -> ModelConfig {
        guard value.objectPairs != nil else { throw UnmaskError("config: not a JSON object") }
        func int(_ key: String) throws -> Int {
            guard let v = value[key] else { throw UnmaskError("config: missing \"\(key)\"") }
            guard let i = v.intValue else { throw UnmaskError("config: \"\(key)\" must be an integer") }
            return i
        }
        func choice<E: RawRepresentable & CaseIterable>(_ key: String, _ fallback: E) throws -> E where E.RawValue == String {
            guard let v = value[key] else { return fallback }
            guard let s = v.stringValue, let e = E(rawValue: s) else {
                let options = E.allCases.map(\.rawValue).joined(separator: "|")
                throw UnmaskError("config: \"\(key)\" must be one of \(options)")
            }
            return e
        }
        func double(_ key: String, _ fallback: Double) throws -> Double {
            guard let v = value[key] else { return fallback }
            guard let d = v.doubleValue else { throw UnmaskError("config: \"\(key)\" must be a number") }
            return d
        }
        if let layout = value["weight_layout"], layout.stringValue != "in_out" {
            throw UnmaskError("config: weight_layout must be \"in_out\"")
        }
        var c = ModelConfig(vocabSize: try int("vocab_size"), dModel: try int("d_model"), nLayers: try int("n_layers"),
                            nHeads: try int("n_heads"), dFF: try int("d_ff"), contextLength: try int("context_length"),
                            maskTokenId: try int("mask_token_id"))
        c.norm = try choice("norm", c.norm)
        c.normEps = try double("norm_eps", c.normEps)
        c.activation = try choice("activation", c.activation)
        c.positions = try choice("positions", c.positions)
        c.ropeTheta = try double("rope_theta", c.ropeTheta)
        if let t = value["tied_embeddings"] {
            guard let b = t.boolValue else { throw UnmaskError("config: \"tied_embeddings\" must be true or false") }
            c.tiedEmbeddings = b
        }
        c.attention = try choice("attention", c.attention)
        c.blockAlignment = try choice("block_alignment", c.blockAlignment)
        c.head = try choice("head", c.head)
        if let k = value["n_kv_heads"] {
            guard let i = k.intValue else { throw UnmaskError("config: \"n_kv_heads\" must be an integer") }
            c.nKVHeads = i
        }
        if let b = value["block_size"] {
            guard let i = b.intValue else { throw UnmaskError("config: \"block_size\" must be an integer") }
            c.blockSize = i
        }
        if let h = value["head_dim"] {
            guard let i = h.intValue else { throw UnmaskError("config: \"head_dim\" must be an integer") }
            c.explicitHeadDim = i
        }
        for (key, path) in [("linear_bias", \ModelConfig.linearBias), ("head_bias", \ModelConfig.headBias),
                            ("gated_mlp", \ModelConfig.gatedMLP), ("qkv_bias", \ModelConfig.qkvBias),
                            ("shifted_logits", \ModelConfig.shiftedLogits), ("qk_norm", \ModelConfig.qkNorm)] {
            guard let t = value[key] else { continue }
            guard let b = t.boolValue else { throw UnmaskError("config: \"\(key)\" must be true or false") }
            c[keyPath: path] = b
        }
        try c.validate()
        return c
    }

    public static func load(path: String) throws -> ModelConfig {
        let bytes = try Files.read(path, limit: 1 << 20)
        do {
            return try parse(try JSON.parse(bytes))
        } catch let e as JSONParseError {
            throw UnmaskError("\(path): \(e)")
        } catch let e as UnmaskError {
            throw UnmaskError("\(path): \(e.message)")
        }
    }

    /// Every tensor the model has, with its shape, in a fixed order.
    /// Weights of linear maps are stored (in, out): y = x·W.
    public var tensorShapes: [(name: String, shape: [Int])] {
        var t: [(String, [Int])] = [("embed.weight", [vocabSize, dModel])]
        if positions == .learned { t.append(("pos_embed.weight", [contextLength, dModel])) }
        func norm(_ prefix: String) {
            t.append(("\(prefix).weight", [dModel]))
            if self.norm == .layernorm { t.append(("\(prefix).bias", [dModel])) }
        }
        for l in 0..<nLayers {
            norm("layers.\(l).attn_norm")
            func linear(_ name: String, _ nIn: Int, _ nOut: Int, bias: Bool = linearBias) {
                t.append(("layers.\(l).\(name).weight", [nIn, nOut]))
                if bias { t.append(("layers.\(l).\(name).bias", [nOut])) }
            }
            linear("attn.qkv", dModel, qkvWidth, bias: linearBias || qkvBias)
            if qkNorm {
                t.append(("layers.\(l).attn.q_norm.weight", [headDim]))
                t.append(("layers.\(l).attn.k_norm.weight", [headDim]))
            }
            linear("attn.out", attentionWidth, dModel)
            norm("layers.\(l).mlp_norm")
            if gatedMLP { linear("mlp.gate", dModel, dFF, bias: false) }
            linear("mlp.up", dModel, dFF)
            linear("mlp.down", dFF, dModel)
        }
        norm("final_norm")
        switch head {
        case .tokens:
            if !tiedEmbeddings { t.append(("head.weight", [dModel, vocabSize])) }
            if headBias { t.append(("head.bias", [vocabSize])) }
        case .binary:
            t.append(("head.weight", [dModel, 1]))
            t.append(("head.bias", [1]))
        }
        return t
    }

    public var parameterCount: Int {
        tensorShapes.reduce(0) { $0 + $1.shape.reduce(1, *) }
    }
}
