#!/usr/bin/env bash
# CI stage 3: the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
swift test --disable-swift-testing
