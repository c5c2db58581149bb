#!/usr/bin/env bash
# The tables of docs/long-text.md on the bundled models, each row generated and scored on
# the same seeds, from nothing:
#   A. the block-diffusion model (models/block-diffusion, exact cache) beside the MDLM
#      denoiser (models/denoiser), first-hitting with nucleus 0.9 at one token per call
#      (equal NFE), at 128 tokens and at 1024 (MDLM past its context in windows, blocks
#      of 64; block diffusion in its blocks, the window recomputed, and slid);
#   B. Fast-dLLM's caches on the MDLM denoiser: confidence in blocks of 32, no cache,
#      prefix and dual, plain, with the threshold rule and with the factor rule, each
#      cached row also run with the uncached forward beside every call (--cache-error).
# Writes Benchmarks/results/block_diffusion.txt.
# Usage: bash scripts/peers/block_diffusion_table.sh [SAMPLES] [LONG_SAMPLES]   (default 32 and 8)
set -euo pipefail
cd "$(dirname "$0")/../.."
samples="${1:-32}"
long="${2:-8}"
swift build -c release >/dev/null
out=Benchmarks/results/block_diffusion
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo "-dirty")
U=.build/release/unmask
run() {
  echo "# command: $U $*"
  "$U" "$@"
  echo
}
{
  echo "# cpu: $cpu · date: $(date -u +%Y-%m-%d) · commit: $commit · threads: 2"
  echo
  echo "## A. block diffusion beside MDLM, fhs:top_p=0.9, one token per call"
  run compare --model models/block-diffusion --sampler fhs:top_p=0.9 --length 128 --samples "$samples" --reference Benchmarks/heldout/persuasion.txt
  run compare --model models/denoiser --sampler fhs:top_p=0.9 --length 128 --samples "$samples"
  run compare --model models/block-diffusion --sampler fhs:top_p=0.9 --sampler fhs:top_p=0.9@off --length 1024 --samples "$long" --reference Benchmarks/heldout/persuasion.txt
  run compare --model models/block-diffusion --sampler fhs:top_p=0.9 --length 1024 --samples "$long" --past-context slide
  run compare --model models/denoiser --sampler fhs:top_p=0.9 --length 1024 --samples "$long" --block 64
  echo "## B. Fast-dLLM's caches on models/denoiser, confidence in blocks of 32"
  run compare --length 128 --samples "$samples" --cache-error \
    --sampler "confidence:block=32@off" --sampler "confidence:block=32@prefix" --sampler "confidence:block=32@dual" \
    --sampler "confidence:block=32:threshold=0.7@off" --sampler "confidence:block=32:threshold=0.7@dual" \
    --sampler "confidence:block=32:factor=1@off" --sampler "confidence:block=32:factor=1@dual"
} > "$out.txt.tmp"
mv "$out.txt.tmp" "$out.txt"
cat "$out.txt"
