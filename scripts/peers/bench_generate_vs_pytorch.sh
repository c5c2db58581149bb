#!/usr/bin/env bash
# Generation speed, ours against PyTorch, side by side on this machine: the bundled
# denoiser, first-hitting sampling of 128 tokens at batch 1 (128 network calls, the head
# only at the drawn position, float64 draw), time per call. Ours comes from
# `unmask bench samplers --sampler fhs` (seconds per sample / NFE), once per compute path;
# PyTorch from scripts/peers/pytorch_generate_call.py, eager fp32 and torch.compile fp32.
# Rounds alternate the engines so that drift in a shared VM's speed falls on all alike;
# the summary prints medians per engine and thread count. Needs a quiet machine.
#
#   bash scripts/peers/bench_generate_vs_pytorch.sh [ROUNDS]
#
# PyTorch goes into scratch/torchenv on first use (pip, from PyPI; several GB with its CUDA
# dependencies). Not part of CI or the tests.
set -euo pipefail
rounds=${1:-3}
cd "$(dirname "$0")/../.."
source scripts/peers/bench_setup.sh
out=$(mktemp)
computes=$(.build/release/unmask bench samplers --help | grep -q -- '--compute' && echo "fp32 int8" || echo "fp32")
for round in $(seq "$rounds"); do
  for threads in 1 2; do
    for compute in $computes; do
      flag=""; [ "$compute" != fp32 ] && flag="--compute $compute"
      # shellcheck disable=SC2086
      .build/release/unmask bench samplers --sampler fhs --samples 2 --threads "$threads" $flag --json |
        python3 -c "import json,sys; r=json.loads(sys.stdin.readline()); print(json.dumps({'engine':'unmask','compute':'$compute','threads':$threads,'ms_per_call':round(1e3*r['seconds_per_sample']/r['nfe'],3)}))" >> "$out"
    done
    scratch/torchenv/bin/python scripts/peers/pytorch_generate_call.py --threads "$threads" --rounds 2 >> "$out"
  done
done
# torch.compile once per thread count (it compiles for a while first; the timing excludes that).
for threads in 1 2; do
  scratch/torchenv/bin/python scripts/peers/pytorch_generate_call.py --threads "$threads" --rounds 3 --compile >> "$out"
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
groups = {}
for r in rows:
    groups.setdefault((r["threads"], r["engine"], r["compute"]), []).append(r["ms_per_call"])
print("torch", next((r["torch"] for r in rows if "torch" in r), "?"))
for threads in (1, 2):
    eager = statistics.median(groups.get((threads, "pytorch eager", "fp32"), [float("nan")]))
    for (t, engine, compute), v in sorted(groups.items()):
        if t != threads:
            continue
        m = statistics.median(v)
        print(f"threads {t}  {engine:22s} {compute:5s} {m:7.2f} ms/call  (n={len(v)})  eager/this {eager / m:5.2f}x")
PY
rm -f "$out"
