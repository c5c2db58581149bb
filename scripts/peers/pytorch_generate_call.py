"""PyTorch side of the generation benchmark (scripts/peers/bench_generate_vs_pytorch.sh): the
bundled denoiser run by PyTorch, one first-hitting sampler call at a time, timed the way
`unmask bench samplers --sampler fhs` times ours.

Not part of the product or the tests (they never run Python). The model mirrors
Transformer.forward for the bundled config: 6 pre-norm blocks, d 256, 4 heads, d_ff 1024,
RMSNorm (eps 1e-5), rotary (theta 1e4, rotate-half), GELU (tanh), tied embeddings,
bidirectional attention, no biases. Weights come from models/denoiser/model.safetensors
(F16, widened to float32), read with numpy (no safetensors package needed).

One call, as in the first-hitting sampler: the network on the 128-token sequence (batch 1)
under torch.inference_mode, the vocabulary head only at the drawn position, softmax and the
categorical draw in float64, the mask token excluded. A generation fills all 128 positions:
128 calls. Reports the median over --rounds generations of the time per call.
"""
import argparse
import json
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F16": np.float16, "F32": np.float32}[t["dtype"]]
        a, b = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dtype).reshape(t["shape"]).astype(np.float32))
    return out


class Denoiser(torch.nn.Module):
    def __init__(self, w, layers=6, heads=4, context=128):
        super().__init__()
        self.w, self.layers, self.heads = w, layers, heads
        d = w["embed.weight"].shape[1]
        dh = d // heads
        inv = 1.0 / (10000.0 ** (torch.arange(0, dh // 2, dtype=torch.float64) * 2 / dh))
        angles = torch.arange(context, dtype=torch.float64)[:, None] * inv[None, :]
        self.cos, self.sin = angles.cos().float(), angles.sin().float()

    def hidden(self, ids):
        w = self.w
        x = w["embed.weight"][ids]
        B, L, d = x.shape
        dh = d // self.heads
        cos, sin = self.cos[:L], self.sin[:L]

        def rotate(t):
            a, b = t[..., : dh // 2], t[..., dh // 2:]
            return torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)

        for l in range(self.layers):
            p = f"layers.{l}."
            h = F.rms_norm(x, (d,), w[p + "attn_norm.weight"], eps=1e-5)
            q, k, v = (h @ w[p + "attn.qkv.weight"]).view(B, L, 3, self.heads, dh).permute(2, 0, 3, 1, 4)
            att = F.scaled_dot_product_attention(rotate(q), rotate(k), v)
            x = x + att.transpose(1, 2).reshape(B, L, d) @ w[p + "attn.out.weight"]
            h = F.rms_norm(x, (d,), w[p + "mlp_norm.weight"], eps=1e-5)
            x = x + F.gelu(h @ w[p + "mlp.up.weight"], approximate="tanh") @ w[p + "mlp.down.weight"]
        return x

    def head(self, row):
        return F.rms_norm(row, (row.shape[-1],), self.w["final_norm.weight"], eps=1e-5) @ self.w["embed.weight"].T


def generate(model, hidden, length, mask_id, rng):
    ids = torch.full((1, length), mask_id, dtype=torch.long)
    masked = list(range(length))
    for _ in range(length):
        pos = masked.pop(rng.integers(len(masked)))
        with torch.inference_mode():
            logits = model.head(hidden(ids)[0, pos]).double()
            logits[mask_id] = -float("inf")
            p = torch.softmax(logits, dim=0).numpy()
        ids[0, pos] = int(min(np.searchsorted(np.cumsum(p), rng.random() * p.sum()), len(p) - 1))
    return ids


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="models/denoiser")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="torch.compile the network first")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = json.load(open(args.model + "/config.json"))
    model = Denoiser(load_safetensors(args.model + "/model.safetensors"), layers=config["n_layers"],
                     heads=config["n_heads"], context=config["context_length"])
    hidden = model.hidden
    if args.compile:
        hidden = torch.compile(model.hidden)
    L, mask = config["context_length"], config["mask_token_id"]
    rng = np.random.default_rng(1)
    generate(model, hidden, L, mask, rng)  # warm-up (and compilation)
    times = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        generate(model, hidden, L, mask, rng)
        times.append((time.perf_counter() - t0) / L)
    ms = 1e3 * float(np.median(times))
    mode = "torch.compile" if args.compile else "eager"
    print(json.dumps({"engine": f"pytorch {mode}", "compute": "fp32", "threads": args.threads, "ms_per_call": round(ms, 3),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
