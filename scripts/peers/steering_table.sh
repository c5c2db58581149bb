#!/usr/bin/env bash
# The steering tables of docs/steering.md, every method steered to "emma" on the bundled
# models, each row scored by the classifier it steers by, by a second classifier trained
# on the other half of the windows, and by the evaluator:
#   A. prompt-masked cfg on models/denoiser, the prompt being Emma's first line;
#   B. reward methods (best-of-n, FK steering, SVDD, classifier guidance) on
#      models/denoiser, from scratch;
#   C. label cfg on models/denoiser-labels, --class emma against its null label.
# Writes Benchmarks/results/steering_emma.txt (and a reward-vs-perplexity plot per table).
# Usage: bash scripts/peers/steering_table.sh [SAMPLES]   (default 64; about 25 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
samples="${1:-64}"
swift build -c release >/dev/null
out=Benchmarks/results/steering_emma
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo "-dirty")
common=(--length 48 --samples "$samples" --reward classifier --class emma --check-classifier models/classifier-odd)
a=(compare --prompt "Emma Woodhouse, handsome, clever, and rich," "${common[@]}" --sampler fhs
   --steer cfg:gamma=0.5 --steer cfg:gamma=0.5:mode=exact:tries=100000 --steer cfg:gamma=1.5 --steer cfg:gamma=1.5:mode=smc:particles=8 --steer cfg:gamma=3 --steer cfg:gamma=3:mode=smc:particles=8)
b=(compare "${common[@]}" --sampler fhs
   --steer bon:n=8 --steer smc:particles=8:lambda=2:every=8 --steer svdd:m=8 --steer cbg:gamma=1 --steer cbg:gamma=3)
c=(compare --model models/denoiser-labels "${common[@]}" --sampler fhs
   --steer cfg:gamma=1.5 --steer cfg:gamma=1.5:mode=smc:particles=8 --steer cfg:gamma=3 --steer cfg:gamma=3:mode=smc:particles=8)
{
  echo "# cpu: $cpu · date: $(date -u +%Y-%m-%d) · commit: $commit"
  for t in a b c; do
    declare -n args=$t
    echo
    echo "## ${t^^}"
    echo "# command: .build/release/unmask ${args[*]}"
    .build/release/unmask "${args[@]}" --plot "$out-$t.svg"
  done
} > "$out.txt.tmp"
mv "$out.txt.tmp" "$out.txt"
rm -f "$out.svg"
cat "$out.txt"
