#!/usr/bin/env bash
# CI stage 6: the server (its own package, so Hummingbird stays out of `unmask`): its live
# tests on loopback, the official openai client against it, the live page in headless
# Chromium, two replicas behind nginx, hostile clients and a soak. It builds in the main
# package's scratch folder, so Unmask's modules are not compiled again.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --package-path Server --scratch-path .build --build-tests
swift test --package-path Server --scratch-path .build --skip-build
serve=.build/debug/unmask-serve
python3 scripts/ci/serve_clients.py "$serve"
/usr/bin/python3 scripts/ci/serve_browser.py "$serve"
bash scripts/ci/serve_replicas.sh "$serve"
bash scripts/ci/serve_faults.sh "$serve"
