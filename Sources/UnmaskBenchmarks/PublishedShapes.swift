import UnmaskModel

extension ForwardBenchmark {
    /// Random-weight stand-ins for published models, by name: the GPT-2 sizes (learned
    /// positions, LayerNorm, biases, causal, context 1024, vocabulary 50257), three
    /// LLaMA-family shapes (Llama-3.2-1B, LLaDA-8B, Dream-v0-7B) and MDLM-OWT's DiT once
    /// folded. Timing needs only the shapes; the weights are drawn locally.
    public static let presets: [String: ModelConfig] = {
        func gpt2(_ d: Int, _ layers: Int, _ heads: Int) -> ModelConfig {
            var c = ModelConfig(vocabSize: 50257, dModel: d, nLayers: layers, nHeads: heads, dFF: 4 * d, contextLength: 1024,
                                maskTokenId: ModelConfig.noMaskToken)
            c.norm = .layernorm
            c.positions = .learned
            c.attention = .causal
            c.linearBias = true
            return c
        }
        /// A LLaMA-family denoiser: RMSNorm, SwiGLU, rotary θ, attention over every
        /// position, an untied head (the config's defaults, but for these).
        func llama(vocab: Int, d: Int, layers: Int, heads: Int, kvHeads: Int, dFF: Int, theta: Double, mask: Int) -> ModelConfig {
            var c = ModelConfig(vocabSize: vocab, dModel: d, nLayers: layers, nHeads: heads, dFF: dFF, contextLength: 4096,
                                maskTokenId: mask)
            c.nKVHeads = kvHeads
            c.gatedMLP = true
            c.activation = .silu
            c.ropeTheta = theta
            c.tiedEmbeddings = false
            return c
        }
        // Llama-3.2-1B's shape: 16 layers, d 2048, 32 query and 8 key/value heads, d_ff 8192,
        // vocabulary 128256, θ 5·10⁵.
        let llama1b = llama(vocab: 128_256, d: 2048, layers: 16, heads: 32, kvHeads: 8, dFF: 8192, theta: 500_000, mask: 128_255)
        // LLaDA-8B-Base's: 32 layers, d 4096, 32 heads (no GQA), d_ff 12288, vocabulary 126464,
        // θ 5·10⁵, mask 126336.
        let llada = llama(vocab: 126_464, d: 4096, layers: 32, heads: 32, kvHeads: 32, dFF: 12_288, theta: 500_000, mask: 126_336)
        // Dream-v0-7B's (Qwen2.5-7B's blocks): 28 layers, d 3584, 28 query and 4 key/value
        // heads, qkv biases, d_ff 18944, vocabulary 152064, θ 10⁶, shifted logits.
        var dream = llama(vocab: 152_064, d: 3584, layers: 28, heads: 28, kvHeads: 4, dFF: 18_944, theta: 1_000_000, mask: 151_666)
        dream.qkvBias = true
        dream.shiftedLogits = true
        // MDLM-OWT's DiT once folded (σ = 0): GPT-2 small's size, LayerNorm with biases,
        // rotary, GELU, attention over every position, an untied head with a bias, the
        // GPT-2 vocabulary plus the mask.
        var mdlm = gpt2(768, 12, 12)
        mdlm.vocabSize = 50_258
        mdlm.maskTokenId = 50_257
        mdlm.positions = .rotary
        mdlm.attention = .bidirectional
        mdlm.tiedEmbeddings = false
        mdlm.headBias = true
        return ["gpt2": gpt2(768, 12, 12), "gpt2-medium": gpt2(1024, 24, 16), "gpt2-large": gpt2(1280, 36, 20),
                "gpt2-xl": gpt2(1600, 48, 25), "llama-1b": llama1b, "llada-8b": llada, "dream-7b": dream, "mdlm-owt": mdlm]
    }()
}
