/// SDAR (JetAstra/SDAR: JetLM/SDAR-1.7B/4B/8B-Chat) and TraDo (the same architecture):
/// a Qwen3 body (QwenBody.swift) trained as a block-diffusion model. Attention is
/// block-causal in blocks of the config's `block_size` (4 by default; checkpoints are
/// published at 4 to 64) aligned at absolute position 0: token i sees token j iff
/// ⌊j/B⌋ ≤ ⌊i/B⌋. At generation the prompt's partial last block is denoised together
/// with the first generated tokens, both ways inside the block, which is what
/// `BlockCausalGeneration` does with any canvas. Output i predicts token i (no shift).
///
/// The mask is `<|MASK|>` (151669 in the published tokenizer), which the published
/// `tokenizer_config.json` does not mark special: the id is the config's
/// `mask_token_id`, or, when a config has none, the tokenizer's `<|MASK|>`.
enum SDARFamily {
    static let defaultBlockSize = 4

    static func open(_ config: HuggingFaceConfig, weights: ShardedSafetensors) throws -> HuggingFaceFolder {
        let mask = try QwenBody.maskId(config, token: "<|MASK|>", family: "SDAR")
        var c = try QwenBody.config(config, weights: weights, kind: .qwen3, maskId: mask, family: "SDAR")
        try QwenBody.blockCausal(&c, config, key: "block_size", defaultSize: defaultBlockSize)
        return try QwenBody.folder(config, weights: weights, family: .sdar, config: c)
    }
}
