#!/usr/bin/env bash
# CI stage 4: the README's test command (stage 3 built what it runs).
set -euo pipefail
cd "$(dirname "$0")/.."
swift test --disable-swift-testing
