#!/usr/bin/env python3
"""A random-weight LLaDA folder at full size, laid out as `huggingface-cli download
GSAI-ML/LLaDA-8B-Base` leaves it: config.json with LLaDA's keys, BF16 weights under LLaDA's
tensor names in shards listed by model.safetensors.index.json. For measuring what the real
checkpoint cannot be downloaded to show here: the memory and time of `unmask generate` on
an 8 B LLaDA folder, through the same loader the real one takes.

    scratch/torchenv/bin/python scripts/make_random_llada_folder.py /tmp/llada-8b-random
    /usr/bin/time -v .build/release/unmask generate --model /tmp/llada-8b-random --compute int8 \
        --length 32 --samples 1 --sampler fhs --threads 2

Only numpy is needed. The weights are uniform with standard deviation 0.02 (norms 1): the
text is noise, the shapes and the work are LLaDA-8B's. The tokenizer is the tiny Llama-3-style
test fixture (609 ids, `<|mask|>` at id 1), so config.json names mask_token_id 1 where the
real one has 126336; the 126464 logits are padded past the tokenizer's ids, as they are in
the real model (126464 rows for fewer tokenizer ids), and Unmask never samples the padding.
--small writes a 2-layer, d 256 folder of the same layout, for a quick check.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER = os.path.join(HERE, "..", "Tests", "UnmaskModelTests", "Fixtures", "hf", "llada-tiny", "tokenizer.json")


def bf16_bytes(x):
    """float32 array -> BF16 little-endian bytes, rounded to nearest even."""
    bits = x.astype(np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16).tobytes()


def write_shard(path, tensors):
    """tensors: list of (name, shape, bytes) in BF16."""
    header, offset = {}, 0
    for name, shape, data in tensors:
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, data in tensors:
            f.write(data)
    os.replace(path + ".tmp", path)


def main():
    out = sys.argv[1]
    small = "--small" in sys.argv
    d, layers, heads, hidden, vocab = (256, 2, 4, 512, 126464) if small else (4096, 32, 32, 12288, 126464)
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1)
    half_width = 0.02 * 3 ** 0.5

    def matrix(rows, cols):
        return bf16_bytes((rng.random((rows, cols), dtype=np.float32) * 2 - 1) * half_width)

    def ones(n):
        return bf16_bytes(np.ones(n, dtype=np.float32))

    t = "model.transformer."
    count = layers + 2
    weight_map = {}

    def shard(i, tensors):
        # Written as soon as it is drawn: the whole model is never in memory.
        name = f"model-{i + 1:05d}-of-{count:05d}.safetensors"
        write_shard(os.path.join(out, name), tensors)
        for tensor_name, _, _ in tensors:
            weight_map[tensor_name] = name

    shard(0, [(t + "wte.weight", (vocab, d), matrix(vocab, d))])
    for layer in range(layers):
        b = f"{t}blocks.{layer}."
        shard(layer + 1, [
            (b + "attn_norm.weight", (d,), ones(d)),
            (b + "q_proj.weight", (d, d), matrix(d, d)),
            (b + "k_proj.weight", (d, d), matrix(d, d)),
            (b + "v_proj.weight", (d, d), matrix(d, d)),
            (b + "attn_out.weight", (d, d), matrix(d, d)),
            (b + "ff_norm.weight", (d,), ones(d)),
            (b + "ff_proj.weight", (hidden, d), matrix(hidden, d)),
            (b + "up_proj.weight", (hidden, d), matrix(hidden, d)),
            (b + "ff_out.weight", (d, hidden), matrix(d, hidden)),
        ])
        print(f"layer {layer + 1}/{layers}", flush=True)
    shard(layers + 1, [(t + "ln_f.weight", (d,), ones(d)), (t + "ff_out.weight", (vocab, d), matrix(vocab, d))])
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2)
    config = {
        "activation_type": "silu", "alibi": False, "architectures": ["LLaDAModelLM"], "attention_layer_norm": False,
        "block_type": "llama", "d_model": d, "embedding_size": vocab, "eos_token_id": 0, "include_bias": False,
        "include_qkv_bias": False, "input_emb_norm": False, "layer_norm_type": "rms", "layer_norm_with_affine": True,
        "mask_token_id": 1, "max_sequence_length": 4096, "mlp_hidden_size": hidden, "mlp_ratio": 4, "model_type": "llada",
        "n_heads": heads, "n_kv_heads": heads, "n_layers": layers, "pad_token_id": 0, "rms_norm_eps": 1e-05, "rope": True,
        "rope_theta": 500000.0, "scale_logits": False, "vocab_size": vocab, "weight_tying": False,
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    shutil.copy(TOKENIZER, os.path.join(out, "tokenizer.json"))
    print("wrote", out)


if __name__ == "__main__":
    main()
