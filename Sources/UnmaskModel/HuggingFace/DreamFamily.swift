/// Dream (Dream-org/Dream-v0-Base-7B, -Instruct-7B): a Qwen2 body (QwenBody.swift) run
/// with attention over every position as a masked-diffusion denoiser, its logits shifted
/// so that output i − 1 predicts token i (position 0 reads output 0). The mask id comes
/// from config.json (`mask_token_id`), never from the position of an id in the
/// vocabulary. Biases on q, k and v are read when the folder has them (Dream's do).
enum DreamFamily {
    static func open(_ config: HuggingFaceConfig, weights: ShardedSafetensors) throws -> HuggingFaceFolder {
        guard let mask = config.optionalInt("mask_token_id") else {
            throw config.error("a Dream config needs \"mask_token_id\"")
        }
        var c = try QwenBody.config(config, weights: weights, kind: .qwen2, maskId: mask, family: "Dream")
        c.contextLength = min(config.optionalInt("max_position_embeddings") ?? 4096, 1 << 16)
        c.qkvBias = Set(weights.names).contains("model.layers.0.self_attn.q_proj.bias")
        c.shiftedLogits = true
        return try QwenBody.folder(config, weights: weights, family: .dream, config: c)
    }
}
