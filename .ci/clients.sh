#!/usr/bin/env bash
# CI stage 7: unmask-serve against real clients: the official openai client, the live page
# in headless Chromium, two replicas behind nginx, hostile clients (slowloris, slow bodies,
# slow readers) and a soak.
set -euo pipefail
cd "$(dirname "$0")/.."
serve=.build/debug/unmask-serve
python3 scripts/ci/serve_clients.py "$serve"
/usr/bin/python3 scripts/ci/serve_browser.py "$serve"
bash scripts/ci/serve_replicas.sh "$serve"
bash scripts/ci/serve_faults.sh "$serve"
