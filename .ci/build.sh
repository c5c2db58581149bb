#!/usr/bin/env bash
# CI stage 3: the library, the CLI and every test target, in debug (the kernels -O always).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
