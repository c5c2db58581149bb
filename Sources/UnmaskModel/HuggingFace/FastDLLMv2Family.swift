/// Fast-dLLM v2 (NVlabs; Efficient-Large-Model/Fast_dLLM_v2_1.5B and _7B): a Qwen2.5 body
/// (QwenBody.swift: biases on q, k and v) fine-tuned as a block-diffusion model. Attention
/// is block-causal from absolute position 0; the block size is an argument of its
/// `generate()` (32 by default; `bd_size` in the config is read by its training only), so
/// Unmask takes `bd_size` as the block size. Its logits are shifted as an autoregressive
/// model's are: position j reads row j − 1, across block boundaries too (a block's first
/// token comes from the previous block's last row; `BlockCausalGeneration` draws it first,
/// alone). The config names no mask id: the mask is the tokenizer's `|<MASK>|` (151665 in
/// the published tokenizer). The 1.5B checkpoint ties its head to the embeddings, the 7B
/// does not; both are read.
enum FastDLLMv2Family {
    static let defaultBlockSize = 32
    static let maskToken = "|<MASK>|"

    static func open(_ config: HuggingFaceConfig, weights: ShardedSafetensors) throws -> HuggingFaceFolder {
        let mask = try QwenBody.maskId(config, token: maskToken, family: "Fast-dLLM v2")
        var c = try QwenBody.config(config, weights: weights, kind: .qwen2, maskId: mask, family: "Fast-dLLM v2")
        try QwenBody.blockCausal(&c, config, key: "bd_size", defaultSize: defaultBlockSize)
        c.shiftedLogits = true
        return try QwenBody.folder(config, weights: weights, family: .fastDLLMv2, config: c)
    }
}
