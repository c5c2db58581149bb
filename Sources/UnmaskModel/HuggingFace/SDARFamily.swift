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
        guard let mask = config.optionalInt("mask_token_id") ?? QwenBody.addedTokenId("<|MASK|>", directory: config.directory) else {
            throw config.error("an SDAR config needs \"mask_token_id\" (or a tokenizer with <|MASK|>)")
        }
        var c = try QwenBody.config(config, weights: weights, kind: .qwen3, maskId: mask, family: "SDAR")
        let block = config.optionalInt("block_size") ?? defaultBlockSize
        guard block >= 1 && block <= 1024 else { throw config.error("block_size \(block) must be in 1...1024") }
        c.attention = .blockCausal
        c.blockSize = block
        c.contextLength = c.contextLength / block * block
        guard c.contextLength >= block else {
            throw config.error("max_position_embeddings \(c.contextLength) is shorter than one block of \(block)")
        }
        return try QwenBody.folder(config, weights: weights, family: .sdar, config: c)
    }
}
