#!/usr/bin/env python3
"""Unmask and llama.cpp side by side on the same LLaDA folder, the same job, the same machine.

llama.cpp is the one other local CPU runtime for LLaDA (its `llama-diffusion-cli`). This
script runs it as its PyPI package `llama-cpp-python` builds and installs it, driven through
that package's low-level API the way `llama-diffusion-cli` drives llama.cpp (non-causal
attention, the whole canvas decoded at every step, logits at every position), and runs
`unmask generate` on the folder itself. Nothing of llama.cpp is committed or vendored.

    python3 -m venv /tmp/lcpp && /tmp/lcpp/bin/pip install cmake ninja gguf numpy
    CMAKE_ARGS="-DGGML_NATIVE=ON" /tmp/lcpp/bin/pip install llama-cpp-python==0.3.36   # builds llama.cpp here
    python3 scripts/fixtures/make_random_llada_folder.py /tmp/llada-8b-random
    /tmp/lcpp/bin/python scripts/peers/compare_llama_cpp.py /tmp/llada-8b-random /tmp/llada-gguf \
        [--llama-source UNPACKED_SDIST] > Benchmarks/results/compare_llama_cpp.txt

What it does, in order:
  1. Writes the folder as GGUF with the `gguf` package (BF16 matrices as stored, F32 norms,
     q and k permuted to llama.cpp's rotary layout as llama.cpp's own converter does, the
     folder's tokenizer as a GPT-2 BPE vocabulary padded to the model's 126 464 rows), then
     Q8_0 from it by llama.cpp's `llama_model_quantize`. Both are kept in WORKDIR.
  2. For each pair (Q8_0 vs `--compute int8`; BF16 vs `--compute bf16` and vs fp32 on BF16
     panels), each sampler pair (llama.cpp CONFIDENCE vs `confidence`, ORIGIN vs `fhs`) and
     each canvas, one process per run, interleaved over --rounds rounds: seconds per step,
     per network call, total, load time and peak RSS (getrusage of that process).

Sampler semantics, both sides: the prompt ids are fixed, the answer starts fully masked,
every step is one network call over the whole canvas and commits length/steps tokens.
CONFIDENCE / `confidence`: a token is drawn at every masked position (temperature 1) and the
most probable draws are committed. ORIGIN / `fhs`: the positions to commit are chosen at
random and drawn there; Unmask's `fhs` then computes the vocabulary head at that one row
only. llama.cpp's draw is done here in numpy, outside the timed network call; its per-step
time is reported with and without it.

The models are random (make_random_llada_folder.py): the text is noise; the shapes, bytes
and work are LLaDA-8B's. Needs about 16 GB of RAM for the 16-bit runs and ~50 GB of disk.
"""
import argparse
import json
import os
import platform
import resource
import struct
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


# ---------------------------------------------------------------------------------------
# GGUF from the safetensors folder


def safetensors_tensors(path):
    """name -> (dtype, shape, numpy memmap of the raw bytes) for one shard."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        dtype = {"BF16": np.uint16, "F32": np.float32, "F16": np.float16}[info["dtype"]]
        count = (hi - lo) // np.dtype(dtype).itemsize
        arr = np.memmap(path, dtype=dtype, mode="r", offset=8 + n + lo, shape=(count,)).reshape(info["shape"])
        out[name] = (info["dtype"], info["shape"], arr)
    return out


def bf16_to_f32(raw):
    return (raw.astype(np.uint32) << 16).view(np.float32)


def rotary_permute(w, n_head):
    """(out, in) rows from the half-split rotary layout to llama.cpp's interleaved one, as
    llama.cpp's converter (LLaDAModel.permute) does for q_proj and k_proj."""
    out = w.shape[0]
    return w.reshape(n_head, 2, out // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(folder, path):
    import gguf

    cfg = json.load(open(os.path.join(folder, "config.json")))
    index = json.load(open(os.path.join(folder, "model.safetensors.index.json")))
    tensors = {}
    for shard in sorted(set(index["weight_map"].values())):
        tensors.update(safetensors_tensors(os.path.join(folder, shard)))
    d, layers, heads = cfg["d_model"], cfg["n_layers"], cfg["n_heads"]
    vocab = cfg["vocab_size"]

    w = gguf.GGUFWriter(path + ".tmp", "llada")
    w.add_name("random weights, LLaDA-8B shape")
    w.add_context_length(cfg["max_sequence_length"])
    w.add_embedding_length(d)
    w.add_block_count(layers)
    w.add_feed_forward_length(cfg["mlp_hidden_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(cfg.get("n_kv_heads", heads))
    w.add_rope_dimension_count(d // heads)
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_vocab_size(vocab)
    w.add_causal_attention(False)
    w.add_diffusion_shift_logits(False)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16)

    tok = json.load(open(os.path.join(folder, "tokenizer.json")))
    ids = dict(tok["model"]["vocab"])
    for t in tok["added_tokens"]:
        ids[t["content"]] = t["id"]
    special = {t["id"] for t in tok["added_tokens"] if t.get("special")}
    by_id = {i: s for s, i in ids.items()}
    tokens, types = [], []
    for i in range(vocab):  # the logits have more rows than the tokenizer has ids
        if i in by_id:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg.get("eos_token_id", 0))
    w.add_eos_token_id(cfg.get("eos_token_id", 0))
    w.add_pad_token_id(cfg.get("pad_token_id", 0))
    w.add_mask_token_id(cfg["mask_token_id"])
    w.add_add_bos_token(False)

    t = "model.transformer."

    def matrix(name, permute=False):
        raw = tensors[name][2]
        if permute:
            raw = rotary_permute(np.asarray(raw), heads)
        return raw

    def vector(name):
        return np.ascontiguousarray(bf16_to_f32(np.asarray(tensors[name][2])))

    w.add_tensor("token_embd.weight", matrix(t + "wte.weight"), raw_dtype=gguf.GGMLQuantizationType.BF16)
    for i in range(layers):
        b = f"{t}blocks.{i}."
        w.add_tensor(f"blk.{i}.attn_norm.weight", vector(b + "attn_norm.weight"))
        w.add_tensor(f"blk.{i}.attn_q.weight", matrix(b + "q_proj.weight", True), raw_dtype=gguf.GGMLQuantizationType.BF16)
        w.add_tensor(f"blk.{i}.attn_k.weight", matrix(b + "k_proj.weight", True), raw_dtype=gguf.GGMLQuantizationType.BF16)
        w.add_tensor(f"blk.{i}.attn_v.weight", matrix(b + "v_proj.weight"), raw_dtype=gguf.GGMLQuantizationType.BF16)
        w.add_tensor(f"blk.{i}.attn_output.weight", matrix(b + "attn_out.weight"), raw_dtype=gguf.GGMLQuantizationType.BF16)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", vector(b + "ff_norm.weight"))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", matrix(b + "ff_proj.weight"), raw_dtype=gguf.GGMLQuantizationType.BF16)
        w.add_tensor(f"blk.{i}.ffn_up.weight", matrix(b + "up_proj.weight"), raw_dtype=gguf.GGMLQuantizationType.BF16)
        w.add_tensor(f"blk.{i}.ffn_down.weight", matrix(b + "ff_out.weight"), raw_dtype=gguf.GGMLQuantizationType.BF16)
    w.add_tensor("output_norm.weight", vector(t + "ln_f.weight"))
    w.add_tensor("output.weight", matrix(t + "ff_out.weight"), raw_dtype=gguf.GGMLQuantizationType.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(path + ".tmp", path)


def quantize_q8_0(src, dst, threads):
    import llama_cpp as L

    params = L.llama_model_quantize_default_params()
    params.nthread = threads
    params.ftype = L.LLAMA_FTYPE_MOSTLY_Q8_0
    status = L.llama_model_quantize(src.encode(), (dst + ".tmp").encode(), params)
    if status != 0:
        sys.exit(f"llama_model_quantize failed ({status})")
    os.replace(dst + ".tmp", dst)


# ---------------------------------------------------------------------------------------
# One llama.cpp run, in its own process (--llama-run): prints one JSON line


def llama_run(gguf_path, prompt, length, steps, threads, algorithm, seed):
    import ctypes

    import llama_cpp as L

    L.llama_log_set(ctypes.cast(0, L.llama_log_callback), ctypes.c_void_p(0)) if hasattr(L, "llama_log_callback") else None
    L.llama_backend_init()
    t0 = time.perf_counter()
    mp = L.llama_model_default_params()
    mp.use_mmap = True
    model = L.llama_model_load_from_file(gguf_path.encode(), mp)
    if not model:
        sys.exit("llama.cpp could not load " + gguf_path)
    canvas = len(prompt) + length
    cp = L.llama_context_default_params()
    cp.n_ctx = canvas
    cp.n_batch = canvas
    cp.n_ubatch = canvas
    cp.n_threads = threads
    cp.n_threads_batch = threads
    cp.no_perf = True
    ctx = L.llama_init_from_model(model, cp)
    if not ctx:
        sys.exit("llama.cpp could not make a context")
    L.llama_set_causal_attn(ctx, False)
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    mask = L.llama_vocab_mask(vocab)
    load_seconds = time.perf_counter() - t0

    rng = np.random.default_rng(seed)
    tokens = list(prompt) + [mask] * length
    batch = L.llama_batch_init(canvas, 0, 1)
    per_step = length // steps
    calls, draws = [], []
    start = time.perf_counter()
    for step in range(steps):
        batch.n_tokens = canvas
        for i, tk in enumerate(tokens):
            batch.token[i] = tk
            batch.pos[i] = i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = 1
        c0 = time.perf_counter()
        if L.llama_decode(ctx, batch) != 0:
            sys.exit(f"llama_decode failed at step {step}")
        logits_ptr = L.llama_get_logits(ctx)
        logits = np.ctypeslib.as_array(logits_ptr, shape=(canvas * n_vocab,)).reshape(canvas, n_vocab)
        c1 = time.perf_counter()
        masked = [i for i, tk in enumerate(tokens) if tk == mask]
        k = per_step if step < steps - 1 else len(masked)
        if algorithm == "origin":
            chosen = rng.choice(masked, size=k, replace=False)
            for i in chosen:
                p = np.exp(logits[i] - logits[i].max())
                tokens[i] = int(rng.choice(n_vocab, p=p / p.sum()))
        else:  # confidence: a draw at every masked position, the k most probable committed
            rows = logits[masked]
            p = np.exp(rows - rows.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            u = rng.random((len(masked), 1))
            drawn = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), n_vocab - 1)
            conf = p[np.arange(len(masked)), drawn]
            for j in np.argsort(-conf)[:k]:
                tokens[masked[j]] = int(drawn[j])
        draws.append(time.perf_counter() - c1)
        calls.append(c1 - c0)
    total = time.perf_counter() - start
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    L.llama_model_free(model)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"load_s": load_seconds, "total_s": total, "steps": steps, "call_s": float(np.median(calls)),
                      "draw_s": float(np.median(draws)), "step_s": total / steps, "peak_rss": rss}))


def run_llama(args, gguf_path, prompt, length, steps, algorithm, seed):
    cmd = [sys.executable, os.path.abspath(__file__), "--llama-run", gguf_path, "--prompt-ids", ",".join(map(str, prompt)),
           "--length", str(length), "--steps", str(steps), "--threads", str(args.threads), "--algorithm", algorithm,
           "--seed", str(seed)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("llama.cpp run failed: " + out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_unmask(args, folder, prompt_text, length, steps, compute, sampler, seed, cache=None):
    spec = f"{sampler}:k={length // steps}" if length // steps != 1 else sampler
    cmd = ["/usr/bin/time", "-f", "%M %e", args.unmask, "generate", "--model", folder, "--compute", compute,
           "--length", str(length), "--samples", "1", "--sampler", spec,
           "--threads", str(args.threads), "--seed", str(seed), "--json", prompt_text]
    if cache:
        cmd[5:5] = ["--cache", cache]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("unmask run failed: " + out.stderr[-2000:])
    rec = json.loads([l for l in out.stdout.splitlines() if l.startswith("{") and '"nfe"' in l][-1])
    rss_kb, wall = out.stderr.strip().splitlines()[-1].split()
    gen = rec["seconds"]
    return {"load_s": float(wall) - gen, "total_s": gen, "steps": rec["nfe"], "call_s": gen / rec["nfe"],
            "step_s": gen / rec["nfe"], "peak_rss": int(rss_kb) * 1024}


def per_token(args, ggufs, prompt_of):
    """The block-generation job at one token per step: seconds per generated token."""
    job, block = args.job.split(":")
    p, a = (int(x) for x in job.split("+"))
    block = int(block)
    prompt_text, prompt_ids = prompt_of(p)
    pairs = [x.split(":") for x in args.pairs.split(",")]
    caches = args.caches.split(",")
    results = {}
    for r in range(args.rounds):
        for ltype, compute in pairs:
            key = ("llama.cpp " + ltype, "none")
            if ltype and (key not in results or len(results[key]) <= r):
                run = run_llama(args, ggufs[ltype], prompt_ids, a, args.llama_steps, "confidence", r + 1)
                run["token_s"] = run["step_s"]          # one token per step: a step per token
                run["answer_s"] = run["step_s"] * a      # projected: every step decodes the same canvas
                results.setdefault(key, []).append(run)
                print("# " + json.dumps({"run": key, **run}), flush=True)
            for cache in caches:
                steps = a // block if cache == "off" else a
                run = run_unmask(args, args.folder, prompt_text, a, steps, compute, f"confidence:block={block}", r + 1, cache)
                run["token_s"] = run["step_s"] if cache == "off" else run["total_s"] / a
                run["answer_s"] = run["step_s"] * a if cache == "off" else run["total_s"]
                key = ("unmask --compute " + compute, cache)
                results.setdefault(key, []).append(run)
                print("# " + json.dumps({"run": key, **run}), flush=True)
    print(f"| job | runtime | cache | s per step | s per generated token | s per answer | peak RSS GB |")
    print("|---|---|---|---|---|---|---|")
    rng = lambda v: f"{min(v):.3f}–{max(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"
    for (name, cache), runs in results.items():
        projected = name.startswith("llama.cpp") or cache == "off"
        print(f"| {p}+{a}, blocks of {block} | {name} | {cache} | {rng([x['step_s'] for x in runs])} | "
              f"{rng([x['token_s'] for x in runs])} | {rng([x['answer_s'] for x in runs])}{' (steps × s/step)' if projected else ''} | "
              f"{max(x['peak_rss'] for x in runs) / 1e9:.1f} |")
    print()
    print("| pair | cache | llama.cpp s/token ÷ Unmask s/token |")
    print("|---|---|---|")
    for ltype, compute in pairs:
        if not ltype:
            continue
        lt = float(np.median([x["token_s"] for x in results[("llama.cpp " + ltype, "none")]]))
        for cache in caches:
            ut = float(np.median([x["token_s"] for x in results[("unmask --compute " + compute, cache)]]))
            print(f"| {ltype} / {compute} | {cache} | {lt / ut:.1f}x |")


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?")
    ap.add_argument("workdir", nargs="?")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--canvases", default="16+8,16+64", help="prompt+answer tokens, comma-separated")
    ap.add_argument("--steps", default="", help="steps per canvas (default: one token per step), comma-separated")
    ap.add_argument("--pairs", default="q8_0:int8,bf16:bf16,bf16:fp32", help="llama.cpp type : unmask --compute")
    ap.add_argument("--samplers", default="confidence:confidence,origin:fhs", help="llama.cpp algorithm : unmask sampler")
    ap.add_argument("--unmask", default=os.path.join(ROOT, ".build", "release", "unmask"))
    ap.add_argument("--llama-source", help="the unpacked llama-cpp-python source distribution: its vendor/llama.cpp "
                    "is a git checkout, whose commit is then printed (the installed package does not record it)")
    ap.add_argument("--job", help="PROMPT+ANSWER:BLOCK, e.g. 128+256:32: the per-token comparison instead of the tables "
                    "above: one token per step in blocks, llama.cpp (no cache: every step decodes the whole canvas, "
                    "timed over --llama-steps steps) beside Unmask with --cache off (timed over answer/block steps of "
                    "a block each, the same work per step) and prefix and dual (the whole answer, one token per step)")
    ap.add_argument("--llama-steps", type=int, default=4)
    ap.add_argument("--caches", default="off,prefix,dual")
    ap.add_argument("--llama-run", help=argparse.SUPPRESS)
    ap.add_argument("--prompt-ids", help=argparse.SUPPRESS)
    ap.add_argument("--length", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--algorithm", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.llama_run:
        llama_run(args.llama_run, [int(x) for x in args.prompt_ids.split(",")], args.length, int(args.steps),
                  args.threads, args.algorithm, args.seed)
        return
    if not args.folder or not args.workdir:
        ap.error("give FOLDER and WORKDIR")
    os.makedirs(args.workdir, exist_ok=True)
    import llama_cpp

    bf16_path = os.path.join(args.workdir, "llada-bf16.gguf")
    q8_path = os.path.join(args.workdir, "llada-q8_0.gguf")
    if not os.path.exists(bf16_path):
        t = time.perf_counter()
        write_gguf(args.folder, bf16_path)
        print(f"# wrote {bf16_path} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    if "q8_0" in args.pairs and not os.path.exists(q8_path):
        t = time.perf_counter()
        quantize_q8_0(bf16_path, q8_path, args.threads)
        print(f"# wrote {q8_path} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    ggufs = {"bf16": bf16_path, "q8_0": q8_path}

    # A prompt of N tokens: the start of a fixed text, cut at N ids by the folder's tokenizer.
    text = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, "
            "must be in want of a wife. However little known the feelings or views of such a man may be "
            "on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding "
            "families, that he is considered the rightful property of some one or other of their daughters. "
            "My dear Mr. Bennet, said his lady to him one day, have you heard that Netherfield Park is let at last?")
    vocab = os.path.join(args.folder, "tokenizer.json")

    def prompt_of(n):
        words = text.split(" ")
        for w in range(1, len(words) + 1):
            candidate = " ".join(words[:w])
            ids = subprocess.run([args.unmask, "tokenize", "--vocab", vocab], input=candidate, capture_output=True,
                                 text=True, check=True).stdout.split()
            if len(ids) == n:
                return candidate, [int(x) for x in ids]
        sys.exit(f"no prefix of the text is exactly {n} tokens")

    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# cpu: {cpu_model()} · date: {time.strftime('%Y-%m-%d')} · commit: {commit} · threads: {args.threads}")
    print(f"# llama.cpp: llama-cpp-python {llama_cpp.__version__} (vendored llama.cpp as that release carries it), "
          f"system info: {llama_cpp.llama_print_system_info().decode().strip()}")
    if args.llama_source:
        head = subprocess.run(["git", "-C", os.path.join(args.llama_source, "vendor", "llama.cpp"), "log", "-1",
                               "--format=%H %cs"], capture_output=True, text=True).stdout.strip()
        print(f"# llama.cpp commit carried by that package: {head or 'unknown (no git checkout there)'}")
    print(f"# model: {args.folder} (random weights, LLaDA-8B shape); GGUF {bf16_path}, {q8_path}")
    if args.job:
        per_token(args, ggufs, prompt_of)
        return
    canvases = [tuple(int(x) for x in c.split("+")) for c in args.canvases.split(",")]
    steps_list = [int(s) for s in args.steps.split(",")] if args.steps else [a for _, a in canvases]
    pairs = [p.split(":") for p in args.pairs.split(",")]
    samplers = [s.split(":") for s in args.samplers.split(",")]
    results = {}
    for r in range(args.rounds):
        for (p, a), steps in zip(canvases, steps_list):
            prompt_text, prompt_ids = prompt_of(p)
            for algorithm, sampler in samplers:
                for ltype, compute in pairs:
                    key_l = ("llama.cpp " + ltype, algorithm, p, a)
                    key_u = ("unmask --compute " + compute, sampler, p, a)
                    if key_l not in results or len(results[key_l]) <= r:
                        results.setdefault(key_l, []).append(run_llama(args, ggufs[ltype], prompt_ids, a, steps, algorithm, r + 1))
                        print("# " + json.dumps({"run": key_l, **results[key_l][-1]}), flush=True)
                    results.setdefault(key_u, []).append(run_unmask(args, args.folder, prompt_text, a, steps, compute, sampler, r + 1))
                    print("# " + json.dumps({"run": key_u, **results[key_u][-1]}), flush=True)
    print("| canvas | sampler | runtime | s per call | s per step | total s | load s | peak RSS GB |")
    print("|---|---|---|---|---|---|---|---|")
    for key, runs in results.items():
        name, sampler, p, a = key
        calls = [x["call_s"] for x in runs]
        steps = [x["step_s"] for x in runs]
        rng = lambda v: f"{min(v):.3f}–{max(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"
        print(f"| {p}+{a} | {sampler} | {name} | {rng(calls)} | {rng(steps)} | {rng([x['total_s'] for x in runs])} | "
              f"{rng([x['load_s'] for x in runs])} | {max(x['peak_rss'] for x in runs) / 1e9:.1f} |")
    # Ratios per network call: llama.cpp's median over Unmask's, per pair, canvas and sampler.
    print()
    print("| canvas | samplers | pair | llama.cpp s/call ÷ Unmask s/call | peak RSS llama.cpp / Unmask GB |")
    print("|---|---|---|---|---|")
    for (p, a), _ in zip(canvases, steps_list):
        for algorithm, sampler in samplers:
            for ltype, compute in pairs:
                lr = results[("llama.cpp " + ltype, algorithm, p, a)]
                ur = results[("unmask --compute " + compute, sampler, p, a)]
                ratio = float(np.median([x["call_s"] for x in lr])) / float(np.median([x["call_s"] for x in ur]))
                print(f"| {p}+{a} | {algorithm} / {sampler} | {ltype} / {compute} | {ratio:.2f}x | "
                      f"{max(x['peak_rss'] for x in lr) / 1e9:.1f} / {max(x['peak_rss'] for x in ur) / 1e9:.1f} |")


if __name__ == "__main__":
    main()
