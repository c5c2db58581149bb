#!/usr/bin/env python3
"""SDAR's own code (PyTorch, float32, its evaluation generate loop and KV cache) beside
`unmask generate` on the same SDAR folder, greedy, on the CPU, side by side.

    /tmp/torchenv/bin/python scripts/peers/sdar_generate_vs_pytorch.py --ref /tmp/sdar_ref \\
        --transformers-dir /tmp/sdar_tf452 --model /tmp/bench/sdar-1.7b \\
        --prompt-tokens 64 --gen 64 --threads 2 --rounds 3

Not part of the product or the tests (they never run Python). Nothing of SDAR's is copied
here: SDARForCausalLM (modeling_sdar.py, configuration_sdar.py) and the OpenCompass wrapper's
block_diffusion_generate (huggingface_bd3.py, the loop that produced SDAR's published
scores) are imported from --ref (JetAstra/SDAR at c2041a8, laid out as
scripts/fixtures/make_sdar_fixture.py's docstring says), with that script's stand-ins for
flash-attn / liger / kernels / opencompass / mmengine (imported from it, not repeated).

PyTorch side. The folder (config.json + safetensors, e.g. BF16 shards, + tokenizer.json) is
loaded with SDAR's SDARForCausalLM.from_pretrained(torch_dtype=float32), once; its load
time is reported apart. torch.set_num_threads(--threads). flash_attn_func, which SDAR's
attention calls at every decode step (its boolean mask is then all True), is stood in for
by torch's scaled_dot_product_attention with GQA (non-causal; --attention-stand-in einsum
gives the fixture's plain einsum/softmax version instead); the two are checked against
each other at start-up. SDAR's prefill attention is its own F.scaled_dot_product_attention
call; RMSNorm is the fixture's x * rsqrt(mean(x^2) + eps) * w (flash-attn's rms_norm_fn
computes the same in float32).
The run: huggingface_bd3.block_diffusion_generate(model, None, {input_ids, attention_mask},
mask_token_id, gen_length=GEN, block_length=B, denoising_steps=B, temperature=1.0, top_k=1,
top_p=1.0, remasking="low_confidence", threshold=1.0, stopping_criteria_idx=[-1]) with B the
config's block_size: greedy as SDAR's evaluation config gets it (top_k=1: multinomial over a
one-hot distribution), one token per step, the static path (threshold 1.0) committing the
masked position whose unfiltered softmax probability is highest; the stop id -1 never
occurs, so every run writes all GEN tokens. Timed: the whole call (prefill included), wall
clock. Its network calls are counted by wrapping model.forward: 1 prefill + per block B
denoise calls + 1 call that stores the finished block's keys and values.

Unmask side: `UNMASK generate TEXT --model FOLDER --length GEN --sampler confidence:k=1
--temperature 0 --compute fp32 --threads T --json`, one process per round; its JSON's
`seconds` (generation, prefill fused into the first block call, model load excluded) and
`nfe` (network calls: one per step; the prompt's and each finished block's keys and values
are written by the next block's first call, not by calls of their own). The process's wall
time (load included) is reported beside it.

Same input. `unmask generate` takes text, not ids, so the prompt is a text: whole words of a
fixed English passage (then single characters to land exactly) whose encoding by the
folder's tokenizer.json (the `tokenizers` package) has exactly --prompt-tokens ids; those
ids are what SDAR's side gets, and Unmask's JSON ids must begin with them (checked). Prompt
and GEN must be multiples of B: both sides then lay blocks from position 0 (SDAR's layout),
the prompt fills whole blocks, and both write the same positions.

Results: seconds per generated token (median over --rounds interleaved rounds, the side
that goes first alternating), network calls, the ratio PyTorch / Unmask, and whether the
generated ids are identical. On random weights greedy choices can sit on near-ties that two
float32 implementations break differently; a difference is reported with the top-1/top-2
gaps SDAR's model saw where the two first part (one extra untimed PyTorch run), not hidden.
"""
import argparse
import datetime
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "fixtures"))
import make_sdar_fixture as fixture  # noqa: E402  (stdlib-only at import)

# Any fixed English text; its words are taken in order, cyclically.
PASSAGE = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, "
           "must be in want of a wife. However little known the feelings or views of such a man may be "
           "on his first entering a neighbourhood, this truth is so well fixed in the minds of the "
           "surrounding families, that he is considered as the rightful property of some one or other "
           "of their daughters.")
FILLERS = [" a", " I", ",", ".", "a", "I", "!", "?", ";", "-"]
STOP_ID = -1  # never a token: SDAR's loop never stops early


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown"


def build_prompt(tok, n, forbidden):
    """A text of whole words (then single characters) whose encoding has exactly n ids."""
    def enc(t):
        return tok.encode(t, add_special_tokens=False).ids
    words = PASSAGE.split()
    text, count, i, guard = "", 0, 0, 0
    while count < n:
        guard += 1
        if guard > 100 * n + 1000:
            raise SystemExit(f"could not build a {n}-token prompt from the passage")
        w = words[i % len(words)]
        cand = w if not text else text + " " + w
        c = len(enc(cand))
        if c <= n:
            text, count, i = cand, c, i + 1
            continue
        for f in FILLERS:  # the next word overshoots: single characters to land on n
            cand = text + f if text else f.strip()
            c = len(enc(cand))
            if count < c <= n:
                text, count = cand, c
                break
        else:
            i += 1  # try the next word
    ids = enc(text)
    assert len(ids) == n
    bad = [t for t in ids if t in forbidden]
    if bad:
        raise SystemExit(f"the prompt's ids contain reserved ids {bad}; change PASSAGE")
    return text, ids


def sdpa_flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False, **kw):
    """flash_attn_func's contract (q (b, lq, hq, d), k/v (b, lk, hk, d), GQA, non-causal as
    SDAR calls it) on torch's scaled_dot_product_attention."""
    import torch.nn.functional as F
    assert not causal and dropout_p == 0.0 and tuple(kw.get("window_size", (-1, -1))) == (-1, -1)
    hq, hk = q.shape[2], k.shape[2]
    assert hq % hk == 0
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                         is_causal=False, scale=softmax_scale, enable_gqa=hq != hk)
    return out.transpose(1, 2)


def setup_sdar(ref, attention):
    import torch
    pkg = types.ModuleType("sdar_ref")
    pkg.__path__ = [ref]
    sys.modules["sdar_ref"] = pkg
    rms_stub, einsum_stub = fixture.install_stand_ins("sdar_ref")
    # The two stand-ins agree (float64, GQA, lq != lk) before one is chosen.
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 4, 8, 16, generator=g, dtype=torch.float64)
    k = torch.randn(1, 12, 2, 16, generator=g, dtype=torch.float64)
    v = torch.randn(1, 12, 2, 16, generator=g, dtype=torch.float64)
    dev = (sdpa_flash_attn_func(q, k, v, softmax_scale=0.25) - einsum_stub(q, k, v, softmax_scale=0.25)).abs().max().item()
    assert dev < 1e-12, f"sdpa stand-in deviates from the einsum one by {dev}"
    fa_stub = sdpa_flash_attn_func if attention == "sdpa" else einsum_stub
    sys.modules["flash_attn"].flash_attn_func = fa_stub
    modeling = importlib.import_module("sdar_ref.modeling_sdar")
    assert modeling.flash_rms_norm is rms_stub and modeling.flash_attn_func is fa_stub
    assert not modeling.liger_kernel_is_available
    assert modeling.SDARRMSNorm.forward.__module__ == "sdar_ref.modeling_sdar"
    fixture.install_opencompass_stubs()
    evalgen = fixture.load_module("sdar_eval_bd3", os.path.join(ref, "huggingface_bd3.py"))
    return modeling, evalgen, dev


class Counter:
    """Wraps model.forward: counts calls by kind; with `record`, keeps per denoise call the
    block start, its input and its logits' top-2 at the masked positions (diagnostics only)."""

    def __init__(self, model, mask_id):
        self.model, self.mask_id = model, mask_id
        self.orig = model.forward
        self.calls, self.record, self.steps = [], False, []
        model.forward = self

    def __call__(self, *a, **k):
        out = self.orig(*a, **k)
        x = k.get("input_ids", a[0] if a else None)
        kind = "store" if k.get("store_kv") else "denoise"
        if kind == "store" and k["past_key_values"].get_seq_length() == x.shape[1]:
            kind = "prefill"
        self.calls.append(kind)
        if self.record and kind == "denoise":
            import torch
            logits = out.logits[0].float()
            top = logits.topk(2, dim=-1)
            probs = torch.softmax(logits, dim=-1).max(dim=-1).values
            self.steps.append({"start": int(k["position_ids"][0, 0]), "input": x[0].tolist(),
                               "top1": top.indices[:, 0].tolist(), "top2": top.indices[:, 1].tolist(),
                               "gap": (top.values[:, 0] - top.values[:, 1]).tolist(), "p1": probs.tolist()})
        return out


def run_pytorch(evalgen, model, counter, ids, mask_id, gen, block):
    import torch
    prompt = torch.tensor([ids], dtype=torch.long)
    counter.calls = []
    t0 = time.perf_counter()
    out = evalgen.block_diffusion_generate(model, None, {"input_ids": prompt, "attention_mask": torch.ones_like(prompt)},
                                           mask_id, gen_length=gen, block_length=block, denoising_steps=block,
                                           temperature=1.0, top_k=1, top_p=1.0, remasking="low_confidence",
                                           threshold=1.0, stopping_criteria_idx=[STOP_ID])
    seconds = time.perf_counter() - t0
    return out[0].tolist(), seconds, list(counter.calls)


def run_unmask(unmask, folder, text, gen, threads, extra):
    cmd = [unmask, "generate", text, "--model", folder, "--length", str(gen), "--sampler", "confidence:k=1",
           "--temperature", "0", "--compute", "fp32", "--threads", str(threads), "--json"] + extra
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"unmask failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    assert len(rows) == 1, p.stdout
    return rows[0], wall


def diagnose(steps, first, ours, theirs, mask_id):
    """Where the two first part: the PyTorch denoise call that committed position `first`
    (the last call whose input still had it masked), its top-1/top-2 logit gap there, and
    how close the position order was (the chosen position's top-1 probability vs the best
    other masked position's) at that call."""
    lines = []
    deciding = None
    for s in steps:
        j = first - s["start"]
        if 0 <= j < len(s["input"]) and s["input"][j] == mask_id:
            deciding = s
    if deciding is None:
        return ["  (no PyTorch denoise call had that position masked)"]
    j = first - deciding["start"]
    lines.append(f"  PyTorch wrote {ours} there, Unmask {theirs}; PyTorch's logits there: top-1 {deciding['top1'][j]}, "
                 f"top-2 {deciding['top2'][j]}, gap {deciding['gap'][j]:.3g}")
    masked = [i for i, t in enumerate(deciding["input"]) if t == mask_id]
    others = sorted((deciding["p1"][i] for i in masked if i != j), reverse=True)
    if others:
        lines.append(f"  at that call the position's top-1 probability {deciding['p1'][j]:.6g}, the best other masked "
                     f"position's {others[0]:.6g} (difference {deciding['p1'][j] - others[0]:.3g})")
    gaps = [g for s in steps for i, (g, t) in enumerate(zip(s["gap"], s["input"])) if t == mask_id]
    lines.append(f"  over the whole PyTorch run: smallest top-1/top-2 logit gap at a masked position {min(gaps):.3g}")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", required=True, help="JetAstra/SDAR files (see make_sdar_fixture.py)")
    ap.add_argument("--transformers-dir", help="directory prepended to sys.path (transformers 4.52.4)")
    ap.add_argument("--model", required=True, help="SDAR folder: config.json, safetensors, tokenizer.json")
    ap.add_argument("--unmask", default=".build/release/unmask", help="the unmask binary")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed PyTorch generate calls of one block before the rounds (default 1)")
    ap.add_argument("--attention-stand-in", choices=["sdpa", "einsum"], default="sdpa",
                    help="flash_attn_func stand-in: torch's sdpa (default) or the fixture's einsum/softmax")
    ap.add_argument("--unmask-arg", action="append", default=[], help="extra argument for unmask generate")
    args = ap.parse_args()
    if args.transformers_dir:
        sys.path.insert(0, os.path.abspath(args.transformers_dir))
    import torch
    import transformers
    import tokenizers
    assert transformers.__version__.startswith("4.5"), (
        f"SDAR's code needs transformers 4.52.x, found {transformers.__version__}; see --transformers-dir")
    torch.set_num_threads(args.threads)
    folder, ref = os.path.abspath(args.model), os.path.abspath(args.ref)
    unmask = os.path.abspath(args.unmask)

    config = json.load(open(os.path.join(folder, "config.json")))
    block, mask_id = config["block_size"], config["mask_token_id"]
    if args.prompt_tokens % block or args.gen % block or args.prompt_tokens <= 0 or args.gen <= 0:
        raise SystemExit(f"--prompt-tokens and --gen must be positive multiples of the block size {block}")
    if args.prompt_tokens + args.gen > config["max_position_embeddings"]:
        raise SystemExit("prompt + gen exceeds the model's max_position_embeddings")

    tok = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    forbidden = {mask_id, config.get("eos_token_id"), config.get("bos_token_id")} - {None}
    text, ids = build_prompt(tok, args.prompt_tokens, forbidden)

    modeling, evalgen, stand_in_dev = setup_sdar(ref, args.attention_stand_in)
    t0 = time.perf_counter()
    model = modeling.SDARForCausalLM.from_pretrained(folder, torch_dtype=torch.float32).eval()
    load_seconds = time.perf_counter() - t0
    dtypes = {p.dtype for p in model.parameters()}
    assert dtypes == {torch.float32}, dtypes
    assert model.config.block_size == block and model.config.mask_token_id == mask_id
    counter = Counter(model, mask_id)
    for _ in range(args.warmup):
        run_pytorch(evalgen, model, counter, ids, mask_id, block, block)

    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"warning: load average {load_before:.2f} before the rounds: another process is using the CPU, "
              f"and both sides' threads will compete with it", file=sys.stderr)
    py_rounds, um_rounds, um_walls = [], [], []
    py_out = um_out = py_calls = um_row = None
    for r in range(args.rounds):
        order = ["pytorch", "unmask"] if r % 2 == 0 else ["unmask", "pytorch"]
        for side in order:
            if side == "pytorch":
                out, seconds, calls = run_pytorch(evalgen, model, counter, ids, mask_id, args.gen, block)
                py_rounds.append(seconds)
                if py_out is not None and out != py_out:
                    print(f"note: PyTorch round {r + 1} wrote other ids than round 1", file=sys.stderr)
                py_out, py_calls = py_out or out, calls
            else:
                row, wall = run_unmask(unmask, folder, text, args.gen, args.threads, args.unmask_arg)
                if row["ids"][:len(ids)] != ids:  # fail fast: both sides must start from the same ids
                    raise SystemExit(f"Unmask encoded the prompt differently: {row['ids'][:len(ids)]} vs {ids}")
                um_rounds.append(row["seconds"])
                um_walls.append(wall)
                if um_out is not None and row["ids"] != um_out:
                    print(f"note: Unmask round {r + 1} wrote other ids than round 1", file=sys.stderr)
                um_out, um_row = um_out or row["ids"], row
        print(f"round {r + 1}/{args.rounds}: pytorch {py_rounds[-1]:.3f} s, unmask {um_rounds[-1]:.3f} s "
              f"(process {um_walls[-1]:.2f} s)", file=sys.stderr)

    load_after = os.getloadavg()[0]
    P, G = args.prompt_tokens, args.gen
    assert py_out[:P] == ids and len(py_out) == P + G, (len(py_out), P + G)
    assert len(um_out) == P + G, (len(um_out), P + G)
    diff = [i for i in range(P, P + G) if py_out[i] != um_out[i]]

    py_med, um_med = statistics.median(py_rounds) / G, statistics.median(um_rounds) / G
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        if subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                          text=True).stdout.strip():
            commit += " (working tree modified)"
    except OSError:
        commit = "unknown"
    nparams = sum(p.numel() for p in model.parameters())
    kinds = {k: py_calls.count(k) for k in ("prefill", "denoise", "store")}
    print(f"# SDAR's own code (PyTorch) vs unmask generate, greedy, one token per step")
    print(f"# cpu: {cpu_model()} · date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')} · "
          f"unmask commit: {commit} · {args.threads} threads · 1-minute load average {load_before:.2f} before the "
          f"rounds, {load_after:.2f} after (both sides included)")
    print(f"# command: {' '.join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])}")
    print(f"# torch {torch.__version__} · transformers {transformers.__version__} · tokenizers {tokenizers.__version__} · "
          f"python {sys.version.split()[0]}")
    print(f"# model: {folder} ({config.get('num_hidden_layers')} layers, hidden {config.get('hidden_size')}, "
          f"{nparams / 1e6:.1f}M parameters, stored {config.get('torch_dtype')}; both sides compute in float32)")
    print(f"# prompt {P} tokens, {G} generated, block {block}, mask id {mask_id}; "
          f"medians of {args.rounds} interleaved rounds (first side alternating)")
    print(f"# PyTorch: SDARForCausalLM.from_pretrained(float32), load {load_seconds:.2f} s (not in the timings); "
          f"huggingface_bd3.block_diffusion_generate top_k=1, threshold 1.0, denoising_steps {block}; "
          f"flash_attn_func stand-in: {args.attention_stand_in} (vs einsum {stand_in_dev:.1e}); "
          f"{args.warmup} warm-up call(s) of one block")
    print(f"# Unmask: {os.path.relpath(unmask, ROOT) if unmask.startswith(ROOT) else unmask} generate --sampler "
          f"confidence:k=1 --temperature 0 --compute fp32 --threads {args.threads} (cache {um_row.get('cache')}); "
          f"its JSON seconds (load excluded); process wall incl. load median {statistics.median(um_walls):.2f} s")
    print()
    print(f"{'side':10s} {'s/token':>10s} {'s total':>10s} {'calls':>6s}  calls by kind")
    print(f"{'pytorch':10s} {py_med:10.4f} {statistics.median(py_rounds):10.3f} {len(py_calls):6d}  "
          f"{kinds['prefill']} prefill + {kinds['denoise']} denoise + {kinds['store']} store-block")
    print(f"{'unmask':10s} {um_med:10.4f} {statistics.median(um_rounds):10.3f} {um_row['nfe']:6d}  "
          f"{um_row['nfe']} steps (prompt and finished blocks written by the next block's first call)")
    print(f"ratio pytorch/unmask: {py_med / um_med:.2f} per generated token; "
          f"{len(py_calls) / max(1, um_row['nfe']):.3f} in calls")
    print()
    if not diff:
        print(f"generated ids: identical ({G} of {G} positions)")
    else:
        print(f"generated ids: {len(diff)} of {G} positions differ; first at position {diff[0]} "
              f"(generated token {diff[0] - P}, block {diff[0] // block}); later positions are conditioned on it")
        counter.record, counter.steps = True, []
        out, _, _ = run_pytorch(evalgen, model, counter, ids, mask_id, G, block)
        counter.record = False
        if out != py_out:
            print("  (the diagnostic PyTorch run wrote other ids than the timed runs)")
        for line in diagnose(counter.steps, diff[0], py_out[diff[0]], um_out[diff[0]], mask_id):
            print(line)
    print()
    print("raw rounds (seconds): pytorch " + " ".join(f"{x:.3f}" for x in py_rounds)
          + " · unmask " + " ".join(f"{x:.3f}" for x in um_rounds)
          + " · unmask process " + " ".join(f"{x:.2f}" for x in um_walls))
    print(f"prompt text ({P} ids): {json.dumps(text)}")
    print(f"pytorch generated ids: {py_out[P:]}")
    if diff:
        print(f"unmask  generated ids: {um_out[P:]}")


if __name__ == "__main__":
    main()
