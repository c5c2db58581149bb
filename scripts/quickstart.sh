#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine that has Swift, builds Unmask in release mode and
# runs the main job. Installing the system packages needs root: run as root, or as a user
# with sudo (you will be asked for your password). Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenblas-dev libutf8proc-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
  elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "error: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]} ..." >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "building (release) ..." >&2
# The build's own exit status decides, never the binary's presence: a failed rebuild can
# leave an older .build/release/unmask in place, and running that would hide the failure.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! swift build -c release --product unmask >"$log" 2>&1; then
  grep -E "error" "$log" >&2 || tail -n 20 "$log" >&2
  echo "error: the release build failed (the full log: swift build -c release --product unmask)" >&2
  exit 1
fi
grep -E "warning: unre|Build complete" "$log" >&2 || true

# The main job: text from the bundled denoiser (models/denoiser), after a prompt, with the
# default sampler. Same seed, same text; try --seed, --sampler, --show or --template.
prompt="It is a truth universally acknowledged"
echo "$ .build/release/unmask generate \"$prompt\" --samples 3" >&2
.build/release/unmask generate "$prompt" --samples 3
