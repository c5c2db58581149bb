#!/usr/bin/env bash
# Two unmask-serve replicas behind nginx (Debian's) on loopback: the server keeps no state
# between requests, so an ordinary round-robin load balancer scales it. Checks that the
# same seed gives the same text from either replica (nginx's X-Upstream header says which
# answered), streamed through the proxy too (proxy_buffering off for server-sent events).
# Usage: bash scripts/ci/serve_replicas.sh SERVE_BINARY
set -euo pipefail
cd "$(dirname "$0")/../.."
serve=${1:-Server/.build/debug/unmask-serve}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
ports=()
for i in 0 1; do
  "$serve" --port 0 --model models/denoiser > "$dir/serve$i.log" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 300); do grep -q "model loaded" "$dir/serve$i.log" && break; sleep 0.1; done
  ports+=("$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$dir/serve$i.log" | head -1)")
done
front=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/nginx.conf" <<CONF
pid $dir/nginx.pid;
error_log $dir/error.log;
worker_processes 1;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
  upstream unmask { server 127.0.0.1:${ports[0]}; server 127.0.0.1:${ports[1]}; }
  server {
    listen 127.0.0.1:$front;
    location / {
      proxy_pass http://unmask;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 300s;
      add_header X-Upstream \$upstream_addr always;
    }
  }
}
CONF
nginx=$(command -v nginx || echo /usr/sbin/nginx)
"$nginx" -c "$dir/nginx.conf"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$front/health" >/dev/null && break; sleep 0.1; done
body='{"prompt":"It is a truth universally acknowledged,","max_tokens":32,"seed":5}'
declare -A seen
first=""
for k in 1 2 3 4; do
  out=$(curl -s -D "$dir/h$k" "http://127.0.0.1:$front/v1/completions" -H 'Content-Type: application/json' -d "$body")
  upstream=$(sed -n 's/^X-Upstream: *\([^\r]*\).*/\1/Ip' "$dir/h$k")
  text=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["choices"][0]["text"])' "$out")
  seen[$upstream]=1
  if [ -z "$first" ]; then first=$text; elif [ "$text" != "$first" ]; then echo "FAIL: $upstream gave different text"; exit 1; fi
  echo "replica $upstream: same text for seed 5"
done
[ "${#seen[@]}" -eq 2 ] || { echo "FAIL: nginx used ${#seen[@]} replica(s), expected 2"; exit 1; }
streamed=$(curl -sN "http://127.0.0.1:$front/v1/completions" -H 'Content-Type: application/json' -d "${body%\}},\"stream\":true}" |
  python3 -c 'import json,sys
t=""
for line in sys.stdin:
    if line.startswith("data: {"): t+="".join(c["text"] for c in json.loads(line[6:])["choices"])
print(t)')
[ "$streamed" = "$first" ] || { echo "FAIL: streamed through nginx differs"; exit 1; }
echo "ok: two replicas behind nginx give the same text for a seed, streamed or not"
