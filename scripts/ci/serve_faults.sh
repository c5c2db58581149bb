#!/usr/bin/env bash
# unmask-serve under hostile clients and a short soak, on loopback with the bundled model:
#   slow headers (slowloris), slow bodies (R-U-Dead-Yet) and slow readers, each with
#   slowhttptest (Debian's) for 8 s at 100 connections: meanwhile an ordinary request must
#   still be answered within 5 s, and afterwards /health at once;
#   a soak: hey (Debian's) with 8 concurrent clients for 10 s on short completions; no
#   errors, memory (RSS) and open descriptors back to their level before it.
# Usage: bash scripts/ci/serve_faults.sh SERVE_BINARY
set -euo pipefail
cd "$(dirname "$0")/../.."
serve=${1:-Server/.build/debug/unmask-serve}
dir=$(mktemp -d)
"$serve" --port 0 --model models/denoiser --max-running 4 --max-queued 64 > "$dir/serve.log" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 300); do grep -q "model loaded" "$dir/serve.log" && break; sleep 0.1; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$dir/serve.log" | head -1)
url="http://127.0.0.1:$port"
body='{"prompt":"It is a truth","max_tokens":16,"seed":1}'
fail() { echo "FAIL: $*"; exit 1; }
ordinary() {
  local t0 t1 code
  t0=$(date +%s.%N)
  code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 "$url/v1/completions" -H 'Content-Type: application/json' -d "$body") || code=timeout
  t1=$(date +%s.%N)
  [ "$code" = 200 ] || fail "$1: an ordinary request got $code"
  echo "  $1: an ordinary request answered 200 in $(python3 -c "print(f'{$t1-$t0:.2f}')") s"
}
fds() { ls /proc/$pid/fd | wc -l; }
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
ordinary "before"
for mode in H B X; do
  name=$( [ $mode = H ] && echo "slow headers" || { [ $mode = B ] && echo "slow body" || echo "slow reader"; } )
  extra=()
  [ $mode = B ] && extra=(-u "$url/v1/completions" -t POST -s 4096)
  [ $mode = X ] && extra=(-u "$url/" -k 4 -n 10 -w 1 -y 2 -z 8)
  [ $mode = H ] && extra=(-u "$url/health")
  slowhttptest -$mode -c 100 -r 50 -i 5 -l 8 "${extra[@]}" -p 3 > "$dir/slow$mode.log" 2>&1 &
  slow=$!
  # All 100 connections are open after 2 s at 50 a second: ask in the middle of the attack.
  sleep 4
  ordinary "during $name"
  wait $slow || true
  # slowhttptest's status lines (buffered until it ends): the most connections it held.
  held=$(sed 's/\x1b\[[0-9;]*m//g' "$dir/slow$mode.log" | grep -ao "connected: *[0-9]*" | grep -o "[0-9]*$" | sort -n | tail -1)
  [ "${held:-0}" -ge 50 ] || fail "$name: slowhttptest held only ${held:-0} connections open"
  echo "  $name: slowhttptest held $held connections open"
  code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 "$url/health") || code=timeout
  [ "$code" = 200 ] || fail "after $name: /health got $code"
  echo "  after $name: /health 200"
done
sleep 1
fd0=$(fds); rss0=$(rss)
hey -z 10s -c 8 -m POST -T application/json -d "$body" "$url/v1/completions" > "$dir/hey.log"
grep -E "Requests/sec|\[200\]" "$dir/hey.log" | sed 's/^/  soak: /'
if grep -E "^\s+\[[0-9]+\]" "$dir/hey.log" | grep -v "\[200\]" | grep -q .; then fail "non-200 answers in the soak: $(grep -A5 'Status code' "$dir/hey.log")"; fi
grep -q "Error distribution" "$dir/hey.log" && fail "errors in the soak: $(sed -n '/Error distribution/,$p' "$dir/hey.log")"
sleep 1
fd1=$(fds); rss1=$(rss)
echo "  descriptors $fd0 -> $fd1, RSS $rss0 kB -> $rss1 kB"
[ "$fd1" -le $((fd0 + 4)) ] || fail "descriptors grew from $fd0 to $fd1"
[ "$rss1" -le $((rss0 * 12 / 10 + 20480)) ] || fail "RSS grew from $rss0 kB to $rss1 kB"
echo "ok: slow clients never stall the others; the soak leaves memory and descriptors flat"
