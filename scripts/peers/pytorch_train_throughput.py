"""PyTorch side of `unmask bench train`: the same model, batch and step, timed the same way.

Not part of the product or the tests (they never run Python). It exists so the training
throughput claim in docs/performance.md, "Measured", is a side-by-side measurement rather than a quoted number:

    python3 -m venv venv && venv/bin/pip install torch
    venv/bin/python scripts/peers/pytorch_train_throughput.py --threads 2
    .build/release/unmask bench train --threads 2

The model mirrors ModelConfig.standard: 6 pre-norm blocks, d_model 256, 4 heads, d_ff 1024,
RMSNorm (eps 1e-5), rotary positions (theta 10^4, rotate-half pairing), GELU (tanh form),
tied embeddings, vocabulary 4096, context 128, no biases, float32. One step is what ours
times: forward, next-token cross-entropy over the first 127 positions of each row, backward,
AdamW with global-norm clipping at 1. Random tokens, one warm-up step, then the mean of
`--steps` steps.
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F


class Block(torch.nn.Module):
    def __init__(self, d, heads, d_ff):
        super().__init__()
        self.heads = heads
        self.attn_norm = torch.nn.RMSNorm(d, eps=1e-5)
        self.qkv = torch.nn.Linear(d, 3 * d, bias=False)
        self.out = torch.nn.Linear(d, d, bias=False)
        self.mlp_norm = torch.nn.RMSNorm(d, eps=1e-5)
        self.up = torch.nn.Linear(d, d_ff, bias=False)
        self.down = torch.nn.Linear(d_ff, d, bias=False)

    def forward(self, x, cos, sin):
        B, L, d = x.shape
        dh = d // self.heads
        q, k, v = self.qkv(self.attn_norm(x)).view(B, L, 3, self.heads, dh).permute(2, 0, 3, 1, 4)

        def rotate(t):
            a, b = t[..., : dh // 2], t[..., dh // 2 :]
            return torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)

        att = F.scaled_dot_product_attention(rotate(q), rotate(k), v, is_causal=True)
        x = x + self.out(att.transpose(1, 2).reshape(B, L, d))
        return x + self.down(F.gelu(self.up(self.mlp_norm(x)), approximate="tanh"))


class Model(torch.nn.Module):
    def __init__(self, vocab=4096, d=256, layers=6, heads=4, d_ff=1024, context=128):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, d)
        self.blocks = torch.nn.ModuleList(Block(d, heads, d_ff) for _ in range(layers))
        self.final_norm = torch.nn.RMSNorm(d, eps=1e-5)
        dh = d // heads
        inv = 1.0 / (10000.0 ** (torch.arange(0, dh // 2, dtype=torch.float64) * 2 / dh))
        angles = torch.arange(context, dtype=torch.float64)[:, None] * inv[None, :]
        self.register_buffer("cos", angles.cos().float())
        self.register_buffer("sin", angles.sin().float())

    def forward(self, ids):
        L = ids.shape[1]
        x = self.embed(ids)
        cos, sin = self.cos[:L], self.sin[:L]
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.final_norm(x) @ self.embed.weight.T


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model first")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = Model()
    params = sum(p.numel() for p in model.parameters())
    step_model = torch.compile(model) if args.compile else model
    decay = [p for p in model.parameters() if p.dim() == 2 and p is not model.embed.weight]
    no_decay = [p for p in model.parameters() if not any(p is q for q in decay)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    L = 128

    def one_step():
        ids = torch.randint(0, 4094, (args.batch, L))
        logits = step_model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, 4096), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    one_step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        one_step()
    seconds = (time.perf_counter() - t0) / args.steps
    tokens = args.batch * L
    flops = 6 * params * tokens + 12 * 6 * args.batch * L * L * 256
    print(f"pytorch {torch.__version__} ({params} parameters), batch {args.batch}x{L}, {args.threads} thread(s)"
          f"{', compiled' if args.compile else ''}: {seconds:.3f} s/step, {tokens / seconds:.0f} tokens/s, "
          f"{flops / seconds / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
