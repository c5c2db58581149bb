#!/usr/bin/env bash
# CI stage 8: every fuzz target for 20 s from its committed seeds (libFuzzer +
# AddressSanitizer), two at a time (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# .ci/run builds the targets beside stage 7 and leaves Fuzz/.build/ci-build.done ("0 …"
# when it succeeded); alone, this stage builds them itself.
if [ "$(cut -d' ' -f1 Fuzz/.build/ci-build.done 2>/dev/null)" = 0 ]; then
    bash scripts/ci/fuzz.sh --skip-build 20
else
    bash scripts/ci/fuzz.sh 20
fi
