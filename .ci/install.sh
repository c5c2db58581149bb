#!/usr/bin/env bash
# CI stage 1: the system packages the build and the tests need, and the test-side clients.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq libopenblas-dev libutf8proc-dev pkg-config >/dev/null
# For the server's tests: a real browser for the live page, nginx for two replicas,
# slowhttptest and hey for slow clients and a soak.
apt-get install -y -qq chromium chromium-driver python3-selenium nginx slowhttptest hey >/dev/null
pip install -q openai
swift --version
