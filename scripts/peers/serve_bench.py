#!/usr/bin/env python3
"""unmask-serve measured against the CLI on the bundled denoiser, side by side in one run
(release builds; a benchmark, not a test). Writes Benchmarks/results/serve.txt.

- requests per minute at 1, 4 and 8 concurrent clients (each client sends its share of
  the requests back to back) against the same requests as back-to-back `unmask generate`
  runs (one process per request, as a shell loop would);
- time to the first frame and to the first committed text (native route, one client);
- the server's overhead per network call: one client, requests one after another, wall
  time per call (HTTP, JSON, sampling and all) against one CLI process generating the same
  shape (its --json "seconds" / nfe), and the server's own time inside calls (/metrics).
Usage: python3 scripts/peers/serve_bench.py [REQUESTS]   (default 24; about 5 minutes)
"""
import datetime
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(ROOT, ".build/release/unmask")
SERVE = os.path.join(ROOT, "Server/.build/release/unmask-serve")
PROMPT = "It is a truth universally acknowledged,"
LENGTH = 64


def post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data)


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def main():
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    lines = []
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "Sources", "Server/Sources"], cwd=ROOT).returncode != 0
    lines.append(f"# cpu: {cpu} · date: {datetime.date.today()} · commit: {commit}{'-dirty' if dirty else ''}")
    lines.append(f"# {requests} requests of {LENGTH} tokens after {PROMPT!r}, sampler fhs:top_p=0.9 (one token per call), seeds 1..{requests}; 2 threads for matrix products")

    # The CLI, back to back: one process per request.
    start = time.monotonic()
    cli_per_call = []
    cli_texts = {}
    for s in range(1, requests + 1):
        out = subprocess.run([CLI, "generate", PROMPT, "--length", str(LENGTH), "--seed", str(s), "--json"],
                             capture_output=True, text=True, cwd=ROOT, check=True).stdout
        j = json.loads(out)
        cli_per_call.append(j["seconds"] / j["nfe"])
        cli_texts[s] = j["text"]
    cli_wall = time.monotonic() - start
    lines.append(f"back-to-back CLI runs: {requests} requests in {cli_wall:.2f} s = {60 * requests / cli_wall:.1f} requests/min "
                 f"(generation alone {sum(cli_per_call) * LENGTH:.2f} s: {statistics.median(cli_per_call) * 1e3:.2f} ms per call, median)")

    server = subprocess.Popen([SERVE, "--port", "0", "--metrics", "--max-running", "8", "--max-queued", "64"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    port = int(server.stdout.readline().strip().rsplit(":", 1)[-1])
    server.stdout.readline()  # "model loaded: …": it listens first
    try:
        # Warm-up (first-touch of the weights' pages).
        post(port, "/v1/completions", {"prompt": PROMPT, "max_tokens": LENGTH, "seed": 999})
        mismatches = 0
        for clients in [1, 4, 8]:
            calls_before = metric(port, "unmask_network_calls_total")
            seeds = list(range(1, requests + 1))
            lock = threading.Lock()
            texts = {}

            def client():
                nonlocal mismatches
                while True:
                    with lock:
                        if not seeds:
                            return
                        s = seeds.pop(0)
                    status, v = post(port, "/v1/completions", {"prompt": PROMPT, "max_tokens": LENGTH, "seed": s})
                    assert status == 200, v
                    texts[s] = v["choices"][0]["text"]

            start = time.monotonic()
            threads = [threading.Thread(target=client) for _ in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.monotonic() - start
            calls = metric(port, "unmask_network_calls_total") - calls_before
            # The CLI's "text" is the whole sequence, prompt included; the API's the completion.
            same = sum(cli_texts[s] == PROMPT + texts[s] for s in texts)
            mismatches += requests - same
            lines.append(f"server, {clients} client(s): {requests} requests in {wall:.2f} s = {60 * requests / wall:.1f} requests/min, "
                         f"{cli_wall / wall:.2f}x the CLI runs; {int(calls)} network calls for {requests * LENGTH} sequence evaluations; "
                         f"text = CLI's for {same}/{requests} seeds")

        # Time to first frame / first committed text, native route, one client.
        firsts = []
        for s in range(1, 6):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            t0 = time.monotonic()
            c.request("POST", "/unmask/v1/generate", json.dumps({"prompt": PROMPT, "length": LENGTH, "seed": s}),
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            first_step = first_commit = None
            while True:
                line = r.fp.readline()
                if not line:
                    break
                now = time.monotonic() - t0
                if line.startswith(b"event: step") and first_step is None:
                    first_step = now
                if line.startswith(b"event: commit") and first_commit is None:
                    first_commit = now
                if line.startswith(b"event: done"):
                    r.fp.readline()
                    break
            done = time.monotonic() - t0
            c.close()
            firsts.append((first_step, first_commit, done))
        med = lambda i: statistics.median(f[i] for f in firsts) * 1e3
        lines.append(f"native route, one client (median of 5): first frame {med(0):.1f} ms, first committed text {med(1):.1f} ms, done {med(2):.1f} ms")

        # The CLI in one process (no start-up per request): its seconds per call, the
        # reference for the server's overhead.
        out = subprocess.run([CLI, "generate", PROMPT, "--length", str(LENGTH), "--seed", "1", "--samples", "9", "--batch", "1", "--json"],
                             capture_output=True, text=True, cwd=ROOT, check=True).stdout
        in_process = [j["seconds"] / j["nfe"] for j in map(json.loads, out.splitlines())][1:]  # the first warms up
        # Overhead per call: one client, one request after another.
        in_calls_before = metric(port, "unmask_network_call_seconds_total")
        calls_before = metric(port, "unmask_network_calls_total")
        per_call = []
        for s in range(1, 9):
            t0 = time.monotonic()
            status, v = post(port, "/v1/completions", {"prompt": PROMPT, "max_tokens": LENGTH, "seed": s})
            per_call.append((time.monotonic() - t0) / v["unmask"]["nfe"])
        in_calls = (metric(port, "unmask_network_call_seconds_total") - in_calls_before) / (metric(port, "unmask_network_calls_total") - calls_before)
        cli_med = statistics.median(in_process)
        srv_med = statistics.median(per_call)
        lines.append(f"overhead per network call, one client: {srv_med * 1e3:.2f} ms per call through HTTP (wall) vs {cli_med * 1e3:.2f} ms in one CLI process generating the same shape (--samples 9 --batch 1, median of the last 8) "
                     f"= {100 * (srv_med / cli_med - 1):+.1f}% (goal: under 5%); the server's own time inside calls {in_calls * 1e3:.2f} ms")
        if mismatches:
            lines.append(f"WARNING: {mismatches} texts differ from the CLI's")
    finally:
        server.terminate()
        server.wait(10)
    out = os.path.join(ROOT, "Benchmarks/results/serve.txt")
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(out + ".tmp", out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
