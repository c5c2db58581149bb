"""One-off golden data for the transformer forward pass, independent of the Swift code.

Writes tiny models (config.json + model.safetensors written by the Python `safetensors`
library) and the logits a float64 NumPy forward pass computes for fixed inputs, into
Tests/UnmaskModelTests/Fixtures/. The Swift test loads each model and must match to 1e-4.

    pip install numpy safetensors
    python3 scripts/make_model_golden.py

The forward pass below is written from the architecture description (pre-norm blocks,
RMSNorm or LayerNorm, GELU-tanh or SiLU MLP, rotary "rotate-half" or learned positions,
bidirectional or causal attention, tied or untied token head, or a binary head), not
from the Swift implementation. Weights are stored (in, out): y = x @ W.
"""
import json, os
import numpy as np
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "UnmaskModelTests", "Fixtures")


def norm(x, w, b, kind, eps):
    if kind == "rmsnorm":
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def rope(v, theta):  # v: (L, dh)
    L, dh = v.shape
    half = dh // 2
    pos = np.arange(L)[:, None]
    inv = theta ** (-2.0 * np.arange(half) / dh)
    ang = pos * inv[None, :]
    c, s = np.cos(ang), np.sin(ang)
    a, b = v[:, :half], v[:, half:]
    return np.concatenate([a * c - b * s, b * c + a * s], axis=1)


def forward(cfg, W, ids):  # ids: (B, L) -> (B*L, out)
    B, L = ids.shape
    d, H = cfg["d_model"], cfg["n_heads"]
    dh = d // H
    x = W["embed.weight"][ids.reshape(-1)].copy()
    if cfg["positions"] == "learned":
        x += np.tile(W["pos_embed.weight"][:L], (B, 1))
    g = lambda k: W.get(k)
    for l in range(cfg["n_layers"]):
        p = f"layers.{l}"
        h = norm(x, W[f"{p}.attn_norm.weight"], g(f"{p}.attn_norm.bias"), cfg["norm"], cfg["norm_eps"])
        qkv = h @ W[f"{p}.attn.qkv.weight"]
        att = np.zeros((B * L, d))
        for b in range(B):
            rows = slice(b * L, (b + 1) * L)
            for hd in range(H):
                q = qkv[rows, hd * dh:(hd + 1) * dh]
                k = qkv[rows, d + hd * dh:d + (hd + 1) * dh]
                v = qkv[rows, 2 * d + hd * dh:2 * d + (hd + 1) * dh]
                if cfg["positions"] == "rotary":
                    q, k = rope(q, cfg["rope_theta"]), rope(k, cfg["rope_theta"])
                s = q @ k.T / np.sqrt(dh)
                if cfg["attention"] == "causal":
                    s = np.where(np.tril(np.ones((L, L))) > 0, s, -np.inf)
                s = np.exp(s - s.max(-1, keepdims=True))
                s /= s.sum(-1, keepdims=True)
                att[rows, hd * dh:(hd + 1) * dh] = s @ v
        x = x + att @ W[f"{p}.attn.out.weight"]
        h = norm(x, W[f"{p}.mlp_norm.weight"], g(f"{p}.mlp_norm.bias"), cfg["norm"], cfg["norm_eps"])
        u = h @ W[f"{p}.mlp.up.weight"]
        if cfg["activation"] == "gelu":
            u = 0.5 * u * (1 + np.tanh(np.sqrt(2 / np.pi) * (u + 0.044715 * u ** 3)))
        else:
            u = u / (1 + np.exp(-u))
        x = x + u @ W[f"{p}.mlp.down.weight"]
    x = norm(x, W["final_norm.weight"], g("final_norm.bias"), cfg["norm"], cfg["norm_eps"])
    if cfg["head"] == "binary":
        return x @ W["head.weight"] + W["head.bias"]
    return x @ (W["embed.weight"].T if cfg["tied_embeddings"] else W["head.weight"])


def shapes(cfg):
    d, V, F = cfg["d_model"], cfg["vocab_size"], cfg["d_ff"]
    t = [("embed.weight", (V, d))]
    if cfg["positions"] == "learned":
        t.append(("pos_embed.weight", (cfg["context_length"], d)))
    def nrm(p):
        t.append((f"{p}.weight", (d,)))
        if cfg["norm"] == "layernorm":
            t.append((f"{p}.bias", (d,)))
    for l in range(cfg["n_layers"]):
        nrm(f"layers.{l}.attn_norm")
        t += [(f"layers.{l}.attn.qkv.weight", (d, 3 * d)), (f"layers.{l}.attn.out.weight", (d, d))]
        nrm(f"layers.{l}.mlp_norm")
        t += [(f"layers.{l}.mlp.up.weight", (d, F)), (f"layers.{l}.mlp.down.weight", (F, d))]
    nrm("final_norm")
    if cfg["head"] == "binary":
        t += [("head.weight", (d, 1)), ("head.bias", (1,))]
    elif not cfg["tied_embeddings"]:
        t.append(("head.weight", (d, V)))
    return t


BASE = dict(architecture="unmask-transformer", vocab_size=37, d_model=16, n_layers=2, n_heads=2, d_ff=24,
            context_length=8, norm="rmsnorm", norm_eps=1e-5, activation="gelu", positions="rotary",
            rope_theta=10000.0, tied_embeddings=True, attention="bidirectional", head="tokens",
            mask_token_id=36, weight_layout="in_out")
VARIANTS = {
    "tiny_denoiser": {},
    "tiny_evaluator": dict(norm="layernorm", activation="silu", positions="learned", tied_embeddings=False,
                           attention="causal"),
    "tiny_planner": dict(head="binary", tied_embeddings=False),
}

for seed, (name, over) in enumerate(VARIANTS.items()):
    cfg = dict(BASE, **over)
    rng = np.random.default_rng(1000 + seed)
    W = {}
    for n, s in shapes(cfg):
        if n.endswith("norm.weight"):
            W[n] = (1 + 0.1 * rng.standard_normal(s)).astype(np.float32)
        else:
            W[n] = (0.3 * rng.standard_normal(s)).astype(np.float32)
    ids = rng.integers(0, cfg["vocab_size"], size=(2, 7))
    W64 = {k: v.astype(np.float64) for k, v in W.items()}
    logits = forward(cfg, W64, ids)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    save_file(W, os.path.join(d, "model.safetensors"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(d, "golden.json"), "w") as f:
        json.dump({"batch": 2, "length": 7, "ids": ids.reshape(-1).tolist(),
                   "outputs": logits.reshape(-1).tolist(), "output_size": int(logits.shape[1])}, f)
    print(name, "params", sum(v.size for v in W.values()), "outputs", logits.shape)
