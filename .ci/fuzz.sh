#!/usr/bin/env bash
# CI stage 8: every fuzz target for 20 s from its committed seeds (libFuzzer +
# AddressSanitizer), two at a time (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ci/fuzz.sh 20
