#!/usr/bin/env bash
# Training throughput, ours against PyTorch, side by side on this machine: the standard
# 5.8M model, batch 32 x 128, forward + backward + AdamW (scripts/peers/pytorch_train_throughput.py
# builds the same model in torch). Runs alternate so that drift in a shared VM's speed
# falls on both sides alike. Needs a quiet machine: anything else running steals a core.
#
#   bash scripts/peers/bench_train_vs_pytorch.sh [ROUNDS] [THREADS]
#
# PyTorch goes into scratch/torchenv on first use (pip, CPU wheel from PyPI; several GB
# with its CUDA dependencies). Not part of CI or the tests.
set -euo pipefail
rounds=${1:-3}
threads=${2:-2}
cd "$(dirname "$0")/../.."
source scripts/peers/bench_setup.sh
for round in $(seq "$rounds"); do
  echo "round $round"
  scratch/torchenv/bin/python scripts/peers/pytorch_train_throughput.py --threads "$threads" --steps 5
  .build/release/unmask bench train --threads "$threads" --steps 5
  .build/release/unmask bench train --threads "$threads" --steps 5 --backend openblas
done
# torch.compile once (it compiles for about a minute first; the timing excludes that).
scratch/torchenv/bin/python scripts/peers/pytorch_train_throughput.py --threads "$threads" --steps 5 --compile
