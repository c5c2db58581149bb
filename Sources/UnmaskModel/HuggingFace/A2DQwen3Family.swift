/// The Qwen3 A2D checkpoints of the dLLM framework (dllm-hub/Qwen3-0.6B-diffusion-bd3lm-v0.1
/// and -mdlm-v0.1; `model_type` "a2d-qwen3"): Qwen3 turned into a diffusion model
/// ("autoregressive to diffusion"). The network is a Qwen3 body (QwenBody.swift) with
/// attention over every position; its bd3lm sampler makes it block-causal in blocks of 32
/// and left-pads the prompt to a whole number of blocks, the pads neither keys nor
/// positions, so the blocks end where the prompt ends (`BlockAlignment.promptEnd`) and the
/// prompt itself is block-causal across its blocks. Output i predicts token i (no shift).
/// The config is Qwen3's and names no mask id: the mask is the tokenizer's `<|mask|>`
/// (the framework adds it as the tokenizer's mask token). `block_size` in the config, when
/// a folder has one, replaces 32.
///
/// The -mdlm checkpoints share the model_type and config; their framework's mdlm sampler
/// runs the network over the whole canvas. Their config cannot be told apart, so every
/// a2d-qwen3 folder runs with the bd3lm sampler's attention.
enum A2DQwen3Family {
    static let defaultBlockSize = 32
    static let maskToken = "<|mask|>"

    static func open(_ config: HuggingFaceConfig, weights: ShardedSafetensors) throws -> HuggingFaceFolder {
        let mask = try QwenBody.maskId(config, token: maskToken, family: "a2d-qwen3")
        var c = try QwenBody.config(config, weights: weights, kind: .qwen3, maskId: mask, family: "a2d-qwen3")
        try QwenBody.blockCausal(&c, config, key: "block_size", defaultSize: defaultBlockSize)
        c.blockAlignment = .promptEnd
        return try QwenBody.folder(config, weights: weights, family: .a2dQwen3, config: c)
    }
}
