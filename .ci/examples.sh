#!/usr/bin/env bash
# CI stage 5: the library as an outside package uses it (Examples/, a path dependency on
# this checkout): built once, then each program run. It builds in the main package's
# scratch folder, where stage 3 left Unmask's modules compiled with the same flags: only
# the three programs are compiled here.
set -euo pipefail
cd "$(dirname "$0")/../Examples"
swift build --scratch-path ../.build
# A denoiser and a planner of its own through Unmask's samplers.
swift run --skip-build --scratch-path ../.build CustomSampler
# A reward of its own steering the bundled denoiser (best-of-n, FK steering).
swift run --skip-build --scratch-path ../.build CustomReward
# A Hugging Face folder opened through the library's model set, and generated from.
swift run --skip-build --scratch-path ../.build HuggingFaceFolder
