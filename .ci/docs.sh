#!/usr/bin/env bash
# CI stage 2: the docs checker shown able to fail (its self-test), then on the tree: every
# Markdown link and every pointer in a comment names a file and section that exist.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/ci/check_docs.py --self-test
python3 scripts/ci/check_docs.py
