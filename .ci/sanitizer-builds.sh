#!/usr/bin/env bash
# The builds of stages 7 and 8, which .ci/run starts in the background after stage 3:
# the fuzz targets (libFuzzer + AddressSanitizer, Fuzz/.build) and the tests under
# ThreadSanitizer (.build-tsan). Each stage's own build then has nothing left to do.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ci/fuzz.sh --build-only
bash scripts/ci/sanitize.sh thread --build-only
