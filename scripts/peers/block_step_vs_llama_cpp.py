#!/usr/bin/env python3
"""A block-diffusion step on Unmask's exact cache beside llama.cpp decoding the
same-shaped autoregressive model: the physical anchor for block diffusion on a CPU.

On a CPU a call over a few rows is bound by reading the weights, so one block step (B
query rows after P cached positions, `unmask bench block-step`) should cost about one
autoregressive decode step (`llama-bench` tg at depth P) of a model of the same shape
and the same bytes per weight: Q8_0 against `--compute int8`, BF16 against `--compute
bf16`. Both sides run with the same threads, one process per measurement, interleaved
over --rounds rounds; the medians are compared.

    python3 scripts/fixtures/make_random_qwen3_folder.py --shape qwen3-0.6b-bd3lm DIR_DIFF
    python3 scripts/fixtures/make_random_qwen3_folder.py --shape qwen3-0.6b-bd3lm --autoregressive DIR_AR
    (convert DIR_AR to GGUF BF16 and Q8_0 with llama.cpp's converter and llama-quantize,
     as make_random_qwen3_folder.py's docstring says)
    python3 scripts/peers/block_step_vs_llama_cpp.py \\
        --llama-bench LLAMA_CPP/build/bin/llama-bench \\
        --pair DIR_DIFF:AR-q8_0.gguf:int8 --pair DIR_DIFF:AR-bf16.gguf:bf16 \\
        --block 4 --block 8 --prefix 128 --rounds 5 > Benchmarks/results/block_step_vs_llama_cpp.txt

Per generated token a block step costs its seconds / TPF (tokens written per step): at
TPF 1 (one token per call) the ratio below is the whole story; at the TPF a decoder
reaches, the step's cost is shared. Random weights give no meaningful TPF: the TPF
column uses the figures named in the output.
"""
import argparse
import json
import platform
import statistics
import subprocess
import sys


def unmask_step(unmask, folder, engine, block, prefix, threads, rounds):
    out = subprocess.run([unmask, "bench", "block-step", "--model", folder, "--engines", engine, "--block", str(block),
                          "--prefix", str(prefix), "--threads", str(threads), "--rounds", str(rounds), "--json"],
                         check=True, capture_output=True, text=True).stdout
    rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    return rows[-1]["seconds_per_step"], rows[0]


def llama_token(bench, gguf, prefix, threads, tokens):
    out = subprocess.run([bench, "-m", gguf, "-p", "0", "-n", str(tokens), "-d", str(prefix), "-t", str(threads), "-r", "1",
                          "-o", "json"], check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)
    return 1.0 / rows[0]["avg_ts"], rows[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unmask", default=".build/release/unmask")
    ap.add_argument("--llama-bench", required=True)
    ap.add_argument("--pair", action="append", required=True, help="DIFFUSION_FOLDER:AR_GGUF:ENGINE (int8 or bf16)")
    ap.add_argument("--block", action="append", type=int)
    ap.add_argument("--prefix", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tg-tokens", type=int, default=16, help="tokens llama-bench decodes per measurement")
    ap.add_argument("--step-rounds", type=int, default=5, help="steps unmask times per measurement (median)")
    ap.add_argument("--tpf", type=float, action="append", default=[], help="TPF figures to show the per-token cost at")
    args = ap.parse_args()
    blocks = args.block or [4, 8]
    results = {}
    header = None
    for r in range(args.rounds):
        for pair in args.pair:
            folder, gguf, engine = pair.rsplit(":", 2)
            for b in blocks:
                s, row = unmask_step(args.unmask, folder, engine, b, args.prefix, args.threads, args.step_rounds)
                header = header or row
                results.setdefault((pair, b, "unmask"), []).append(s)
            t, lrow = llama_token(args.llama_bench, gguf, args.prefix, args.threads, args.tg_tokens)
            results.setdefault((pair, 0, "llama"), []).append(t)
            lhead = lrow
            print(f"round {r + 1}/{args.rounds} {pair}: done", file=sys.stderr)
    print(f"# cpu: {header.get('cpu')} (family {header.get('cpu_family')} model {header.get('cpu_model')}) · date: {header.get('date')} · commit: {header.get('commit')}")
    print(f"# llama.cpp: {lhead.get('build_commit')} build {lhead.get('build_number')}, cpu_info {lhead.get('cpu_info')}; python {platform.python_version()}")
    print(f"# {args.threads} threads, {args.prefix} positions before the step (llama-bench -d {args.prefix}), medians of {args.rounds} interleaved rounds")
    print()
    print(f"{'model and precision':58s} {'rows':>4s} {'unmask s/step':>14s} {'llama.cpp s/token':>18s} {'ratio':>6s}  per token at TPF " + " ".join(f"{t:g}" for t in [1] + args.tpf))
    for pair in args.pair:
        folder, gguf, engine = pair.rsplit(":", 2)
        llama = statistics.median(results[(pair, 0, "llama")])
        for b in blocks:
            step = statistics.median(results[(pair, b, "unmask")])
            per = " ".join(f"{step / t * 1000:.1f} ms" for t in [1] + args.tpf)
            name = f"{folder.rstrip('/').split('/')[-1]} --compute {engine} vs {gguf.split('/')[-1]}"
            print(f"{name:58s} {b:4d} {step:14.4f} {llama:18.4f} {step / llama:6.2f}  {per}")
    print()
    print("raw rounds (seconds):")
    for k, v in sorted(results.items()):
        print(f"  {k[0]} rows={k[1]} {k[2]}: " + " ".join(f"{x:.4f}" for x in v))


if __name__ == "__main__":
    main()
