#!/usr/bin/env bash
# The steering table of docs/steering.md: every method steered to "emma" on the bundled
# denoiser, scored by the classifier it steers by, by a second classifier trained on the
# other half of the windows, and by the evaluator. Writes Benchmarks/results/steering_emma.txt
# (and the reward-vs-perplexity plot, .svg). Usage: bash scripts/steering_table.sh [SAMPLES]   (default 64)
set -euo pipefail
cd "$(dirname "$0")/.."
samples="${1:-64}"
swift build -c release >/dev/null
out=Benchmarks/results/steering_emma
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo "-dirty")
args=(compare --prompt "Emma Woodhouse, handsome, clever, and rich," --length 48 --samples "$samples"
      --reward classifier --class emma --check-classifier models/classifier-odd
      --sampler fhs
      --steer cfg:gamma=1.5 --steer cfg:gamma=1.5:mode=smc:particles=8
      --steer cfg:gamma=3 --steer cfg:gamma=3:mode=smc:particles=8
      --steer bon:n=8 --steer smc:particles=8:lambda=2:every=8 --steer svdd:m=8 --steer cbg:gamma=1)
{
  echo "# cpu: $cpu · date: $(date -u +%Y-%m-%d) · commit: $commit"
  echo "# command: .build/release/unmask ${args[*]}"
  .build/release/unmask "${args[@]}" --plot "$out.svg"
} > "$out.txt.tmp"
mv "$out.txt.tmp" "$out.txt"
cat "$out.txt"
