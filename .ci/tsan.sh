#!/usr/bin/env bash
# CI stage 9: ThreadSanitizer on the tests where threads hand work to one another: the
# GEMM scratch pool and worker pool, thread counts against one thread, the server's
# scheduler (the whole suite under TSan takes 40 minutes: scripts/ci/sanitize.sh thread,
# docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ci/sanitize.sh thread "GEMMConcurrencyTests|SchedulerTests|TrainingStepDeterminismTests|TransformerTests|BatchIndependenceTests|testDeterminismAndBatchIndependence"
