#!/usr/bin/env python3
"""Behaviour harness for unmask / unmask-serve: run a fixed list of commands and server
requests with one build (`run`), then diff two runs (`diff`). Driven by compare.sh.

  harness.py run  CHECKOUT OUTDIR        # runs commands.txt + server_requests.py
  harness.py diff OUT_BEFORE OUT_AFTER [--canonical] [--diff-lines N]

Raw outputs are stored untouched in OUTDIR (cli/NNN.{out,err,rc}, srv/NNN.{json,body});
normalisation happens only at diff time, so it can be changed without running again.
"""
import difflib
import hashlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import server_requests as SR  # noqa: E402

HF = "Tests/UnmaskModelTests/Fixtures/hf"
CLI_TIMEOUT = 300
HTTP_TIMEOUT = 300


def read_commands():
    cmds = []
    with open(os.path.join(HERE, "commands.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.strip() and not line.lstrip().startswith("#"):
                cmds.append(line)
    return cmds


# ----------------------------------------------------------------------------- run

def side_env(checkout, work):
    env = dict(os.environ)
    planner = "models/planner" if os.path.isdir(os.path.join(checkout, "models/planner")) else "models/corruption-detector"
    env.update({
        "U": os.path.join(checkout, ".build/debug/unmask"),
        "HF": HF,
        "PLANNER": planner,
        "FIX": os.path.join(HERE, "fixtures"),
        "HELDOUT": os.path.join(HERE, "heldout.txt"),
        "WORK": work,
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
    })
    env.pop("OPENBLAS_CORETYPE", None)
    return env


def run_cli(checkout, out, env):
    d = os.path.join(out, "cli")
    os.makedirs(d)
    cmds = read_commands()
    t0 = time.monotonic()
    for i, cmd in enumerate(cmds):
        t = time.monotonic()
        try:
            p = subprocess.run(["bash", "-c", cmd], cwd=checkout, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=CLI_TIMEOUT)
            rc, so, se = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            rc, so, se = 124, e.stdout or b"", (e.stderr or b"") + b"\n[harness: timed out after %d s]\n" % CLI_TIMEOUT
        base = os.path.join(d, "%03d" % i)
        with open(base + ".cmd", "w") as f:
            f.write(cmd)
        with open(base + ".out", "wb") as f:
            f.write(so)
        with open(base + ".err", "wb") as f:
            f.write(se)
        with open(base + ".rc", "w") as f:
            f.write(str(rc))
        dt = time.monotonic() - t
        with open(base + ".secs", "w") as f:
            f.write("%.2f" % dt)
        print("  [%3d/%d] rc=%-3d %6.2fs  %s" % (i + 1, len(cmds), rc, dt, cmd[:110]), file=sys.stderr, flush=True)
    return time.monotonic() - t0


class Server:
    def __init__(self, binary, checkout, args, log):
        self.log = open(log, "wb")
        self.p = subprocess.Popen([binary, "--port", "0"] + args, cwd=checkout, stdout=subprocess.PIPE,
                                  stderr=self.log, stdin=subprocess.DEVNULL)
        self.lines = []
        self.port = None

    def wait_ready(self, timeout=180):
        """Reads stdout lines until 'model loaded', an error, or the process ends."""
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.p.stdout.fileno()
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    s = line.decode("utf-8", "backslashreplace")
                    self.lines.append(s)
                    m = re.search(r"listening on http://[^:]+:(\d+)", s)
                    if m:
                        self.port = int(m.group(1))
                    if s.startswith("model loaded"):
                        return True
            elif self.p.poll() is not None:
                break
        if buf:
            self.lines.append(buf.decode("utf-8", "backslashreplace"))
        return False

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        rest = self.p.stdout.read().decode("utf-8", "backslashreplace")
        self.lines += [s for s in rest.split("\n") if s]
        self.log.close()
        return self.p.returncode


def http_request(port, method, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    headers = {"Connection": "close"}
    data = None
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        payload = r.read()
        hdr = {k.lower(): v for k, v in r.getheaders()}
        return r.status, hdr, payload
    except Exception as e:  # noqa: BLE001
        return -1, {}, ("[harness: %s: %s]" % (type(e).__name__, e)).encode()
    finally:
        conn.close()


def make_chat_model(checkout, work):
    d = os.path.join(work, "llada-chat")
    shutil.copytree(os.path.join(checkout, HF, "llada-tiny"), d)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"chat_template": SR.LLADA_CHAT_TEMPLATE, "bos_token": "<|startoftext|>"}, f)
    return d


def run_server(checkout, out, work):
    d = os.path.join(out, "srv")
    os.makedirs(d)
    binary = os.path.join(checkout, "Server/.build/debug/unmask-serve")
    t0 = time.monotonic()
    n = 0

    def record(kind, desc, meta, body):
        nonlocal n
        base = os.path.join(d, "%03d" % n)
        n += 1
        with open(base + ".json", "w") as f:
            json.dump({"kind": kind, "desc": desc, **meta}, f, ensure_ascii=False)
        with open(base + ".body", "wb") as f:
            f.write(body)

    for name, model in SR.SERVERS.items():
        args = []
        if model == "@CHAT@":
            args = ["--model", make_chat_model(checkout, work)]
        elif model:
            args = ["--model", model]
        t = time.monotonic()
        s = Server(binary, checkout, args, os.path.join(d, "server-%s.stderr" % name))
        ready = s.wait_ready()
        print("  server %-8s ready=%s port=%s (%.1fs)" % (name, ready, s.port, time.monotonic() - t), file=sys.stderr, flush=True)
        for (srv, method, path, body) in SR.REQUESTS:
            if srv != name:
                continue
            desc = "serve[%s] %s %s %s" % (name, method, path, body if isinstance(body, str) else json.dumps(body) if body is not None else "")
            t = time.monotonic()
            if ready:
                status, hdr, payload = http_request(s.port, method, path, body)
            else:
                status, hdr, payload = -2, {}, b"[harness: the server did not start]"
            print("  [srv] %3s %5.2fs %s" % (status, time.monotonic() - t, desc[:110]), file=sys.stderr, flush=True)
            record("http", desc.strip(), {"status": status, "headers": hdr}, payload)
        rc = s.stop()
        record("start", "serve[%s] start + SIGTERM (%s)" % (name, " ".join(args).replace(work, "<WORK>") or "bundled model"),
               {"rc": rc, "ready": ready, "lines": s.lines}, b"")
    for name, args in SR.BAD_STARTS:
        s = Server(binary, checkout, args, os.path.join(d, "bad-%d.stderr" % n))
        ready = s.wait_ready(60)
        rc = s.stop()
        with open(s.log.name, "rb") as f:
            err = f.read()
        record("badstart", "serve %s (%s): must fail" % (" ".join(args), name), {"rc": rc, "ready": ready, "lines": s.lines}, err)
    return time.monotonic() - t0


def cmd_run(checkout, out):
    checkout = os.path.realpath(checkout)
    for b in [".build/debug/unmask", "Server/.build/debug/unmask-serve"]:
        if not os.access(os.path.join(checkout, b), os.X_OK):
            sys.exit("harness: %s/%s is missing (build it first)" % (checkout, b))
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    work = os.path.join(out, "work")
    os.makedirs(work)
    with open(os.path.join(out, "checkout"), "w") as f:
        f.write(checkout)
    with open(os.path.join(out, "work_path"), "w") as f:
        f.write(work)
    env = side_env(checkout, work)
    cli = run_cli(checkout, out, env)
    srv = run_server(checkout, out, work)
    with open(os.path.join(out, "timing"), "w") as f:
        f.write("cli %.1f s, server %.1f s, total %.1f s\n" % (cli, srv, cli + srv))
    print("  %s: cli %.1f s, server %.1f s, total %.1f s" % (checkout, cli, srv, cli + srv), file=sys.stderr)


# ---------------------------------------------------------------------------- diff

TIME_KEYS = r'(?:[A-Za-z_]*seconds[A-Za-z_]*|created|ms_per_call|eta|elapsed)'
NUM = r'(?:-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|null)'
TIME_RE = re.compile(r'"(%s)"\s*:\s*%s' % (TIME_KEYS, NUM))
PORT_RE = re.compile(r'(https?://(?:127\.0\.0\.1|localhost|0\.0\.0\.0)):\d+')

# Known renames of the refactor, mapped back to the old spellings under --canonical.
CANONICAL = [
    (re.compile(r'corruption[-_ ]detector', re.I), "planner"),
    (re.compile(r'CorruptionDetector'), "Planner"),
    (re.compile(r'--window\b'), "--block"),
    (re.compile(r'\bunmask\.window\b'), "unmask.block"),
    (re.compile(r'"window"'), '"block"'),
    (re.compile(r'\bwindow\b'), "block"),
    (re.compile(r'\breuse='), "cache="),
    (re.compile(r'\breuse\b'), "cache"),
]


def base_norm(text, roots):
    for r, tag in roots:
        if r:
            text = text.replace(r, tag)
    text = TIME_RE.sub(lambda m: '"%s":"<t>"' % m.group(1), text)
    text = PORT_RE.sub(r"\1:<port>", text)
    return text


def canon(text):
    for r, s in CANONICAL:
        text = r.sub(s, text)
    return text


def dec(b):
    return b.decode("utf-8", "backslashreplace")


def norm_sse(body, roots):
    """Server-sent events: chunk boundaries (and so the number of deltas, frames, commits,
    keep-alives) depend on timing, the text does not. Deltas are concatenated per choice;
    frame chunks and step events are dropped (their presence is kept); other events are
    kept whole."""
    out = []
    deltas = {}
    commits = {}
    kinds = []
    event = None
    data_lines = []
    events = []
    for line in dec(body).split("\n"):
        if line.startswith(":"):
            continue
        if line == "":
            if data_lines or event:
                events.append((event, "\n".join(data_lines)))
            event, data_lines = None, []
            continue
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data_lines.append(line[5:].lstrip(" "))
        else:
            out.append("?? " + line)
    if data_lines or event:
        events.append((event, "\n".join(data_lines)))
    frames = 0
    for ev, data in events:
        if ev in ("step",):
            frames += 1
            continue
        if ev == "commit":
            try:
                o = json.loads(data)
                commits[o["index"]] = commits.get(o["index"], "") + o["text"]
            except Exception:  # noqa: BLE001
                out.append("commit ?? " + data)
            continue
        if ev is None and data.startswith("{"):
            try:
                o = json.loads(data)
            except Exception:  # noqa: BLE001
                out.append("data ?? " + data)
                continue
            if isinstance(o, dict) and "unmask" in o and isinstance(o.get("choices"), list) \
                    and all((c.get("text", "") == "" and not (c.get("delta") or {}).get("content")) for c in o["choices"]):
                frames += 1  # a frame chunk
                continue
            chs = o.get("choices") if isinstance(o, dict) else None
            if isinstance(chs, list) and chs and all(c.get("finish_reason") is None for c in chs):
                plain = True
                for c in chs:
                    if "text" in c:
                        t = c["text"]
                    else:
                        dlt = c.get("delta") or {}
                        t = dlt.get("content") or ""
                        if "role" in dlt:  # the chat role chunk: keep it whole
                            plain = False
                            break
                    deltas[c["index"]] = deltas.get(c["index"], "") + t
                if plain:
                    kinds.append("delta")
                    continue
        out.append("%s%s" % ("event: %s | " % ev if ev else "", base_norm(data, roots)))
    head = []
    if deltas:
        head.append("deltas concatenated: " + json.dumps({str(k): v for k, v in sorted(deltas.items())}, ensure_ascii=False))
    if commits:
        head.append("commits concatenated: " + json.dumps({str(k): v for k, v in sorted(commits.items())}, ensure_ascii=False))
    head.append("frames present: %s" % (frames > 0))
    return "\n".join(head + out) + "\n"


def entries(out):
    """(key, description, normalised text) for every command of a run, in order."""
    with open(os.path.join(out, "checkout")) as f:
        checkout = f.read().strip()
    with open(os.path.join(out, "work_path")) as f:
        work = f.read().strip()
    roots = [(work, "<WORK>"), (checkout, "<ROOT>")]
    res = []
    d = os.path.join(out, "cli")
    for name in sorted(os.listdir(d)):
        if not name.endswith(".cmd"):
            continue
        base = os.path.join(d, name[:-4])
        cmd = open(base + ".cmd").read()
        rc = int(open(base + ".rc").read())
        so = dec(open(base + ".out", "rb").read())
        text = "exit %d\n--- stdout\n%s" % (rc, base_norm(so, roots))
        if rc != 0:
            se = dec(open(base + ".err", "rb").read())
            text += "\n--- stderr\n" + base_norm(se, roots)
        res.append(("cli " + cmd, cmd, text))
    d = os.path.join(out, "srv")
    for name in sorted(os.listdir(d)):
        if not name.endswith(".json"):
            continue
        base = os.path.join(d, name[:-5])
        meta = json.load(open(base + ".json"))
        body = open(base + ".body", "rb").read()
        if meta["kind"] == "http":
            h = meta["headers"]
            ct = h.get("content-type", "")
            text = "HTTP %s\ncontent-type: %s\n" % (meta["status"], ct)
            if "retry-after" in h:
                text += "retry-after: %s\n" % h["retry-after"]
            if "event-stream" in ct:
                text += norm_sse(body, roots)
            else:
                text += base_norm(dec(body), roots) + "\n"
        else:
            lines = [base_norm(s, roots) for s in meta["lines"]]
            text = "exit %s ready %s\n%s\n" % (meta["rc"], meta["ready"], "\n".join(lines))
            if meta["kind"] == "badstart":
                text += "--- stderr\n" + base_norm(dec(body), roots)
        res.append(("srv " + meta["desc"], meta["desc"], text))
    return res


def first_difference(x, y):
    """Where two texts first differ: line, column and a few characters around it."""
    xl, yl = x.splitlines(), y.splitlines()
    for i, (p, q) in enumerate(zip(xl, yl)):
        if p != q:
            c = next((k for k, (s, t) in enumerate(zip(p, q)) if s != t), min(len(p), len(q)))
            lo = max(0, c - 40)
            return "first difference: line %d, column %d: before …%s… | after …%s…" % (
                i + 1, c + 1, p[lo:c + 40], q[lo:c + 40])
    if len(xl) != len(yl):
        return "first difference: line count %d before, %d after" % (len(xl), len(yl))
    return ""


def cmd_diff(before, after, canonical, diff_lines):
    a = entries(before)
    b = {k: t for k, _, t in entries(after)}
    raw_same = raw_diff = can_same = can_diff = 0
    for key, desc, ta in a:
        tb = b.get(key)
        if tb is None:
            tb = "[harness: missing from the AFTER run]\n"
        raw_ok = ta == tb
        ca, cb = canon(ta), canon(tb)
        can_ok = ca == cb
        raw_same += raw_ok
        raw_diff += not raw_ok
        can_same += can_ok
        can_diff += not can_ok
        ok = can_ok if canonical else raw_ok
        note = ""
        if raw_ok != can_ok:
            note = "   [renames only: same with --canonical]" if not canonical else "   [raw output differs by known renames only]"
        print("%-4s  %s%s" % ("same" if ok else "DIFF", desc, note))
        if not raw_ok and (not ok or not canonical):
            x, y = (ca, cb) if canonical else (ta, tb)
            if x == y:
                x, y = ta, tb
            lines = list(difflib.unified_diff(x.splitlines(), y.splitlines(), "before", "after", n=1, lineterm=""))
            for line in lines[:diff_lines]:
                print("      " + (line if len(line) <= 400 else line[:400] + " …"))
            if len(lines) > diff_lines:
                print("      … (%d more diff lines)" % (len(lines) - diff_lines))
            hint = first_difference(x, y)
            if hint:
                print("      " + hint)
    print("raw:       %d same, %d differ" % (raw_same, raw_diff))
    print("canonical: %d same, %d differ  (known renames mapped: reuse=→cache=, --window→--block, corruption-detector→planner, window→block)" % (can_same, can_diff))
    if canonical:
        print("%d same, %d differ" % (can_same, can_diff))
    else:
        print("%d same, %d differ" % (raw_same, raw_diff))
    return 0 if (can_diff if canonical else raw_diff) == 0 else 1


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "run":
        cmd_run(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 4 and sys.argv[1] == "diff":
        canonical = "--canonical" in sys.argv
        n = 14
        if "--diff-lines" in sys.argv:
            n = int(sys.argv[sys.argv.index("--diff-lines") + 1])
        sys.exit(cmd_diff(sys.argv[2], sys.argv[3], canonical, n))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
