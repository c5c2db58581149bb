#!/usr/bin/env bash
# CI stage 6: the server (its own package, so Hummingbird stays out of `unmask`): built in
# the main package's scratch folder, so Unmask's modules are not compiled again, and its
# live tests on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --package-path Server --scratch-path .build --build-tests
swift test --package-path Server --scratch-path .build --skip-build
