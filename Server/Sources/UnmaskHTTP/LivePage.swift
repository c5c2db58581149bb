/// The page at `/`: one HTML file with its script and style inline (no external assets),
/// driving the native route. It draws the canvas as the denoiser fills it: masked positions
/// as ░, the tokens revealed by the latest step highlighted, step, NFE and ms per call; the
/// final text is the `done` event's, i.e. the API's for that seed.
enum LivePage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Unmask: live denoising</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.3rem; margin-bottom: .2rem; }
  .row { display: flex; gap: .8rem; flex-wrap: wrap; align-items: end; margin: .6rem 0; }
  label { display: flex; flex-direction: column; font-size: .8rem; color: #555; }
  input, select, textarea { font: inherit; padding: .3rem .4rem; }
  textarea { width: 100%; box-sizing: border-box; }
  button { font: inherit; padding: .35rem 1rem; }
  #canvas { font: 15px/1.6 ui-monospace, monospace; white-space: pre-wrap; border: 1px solid #ccc; padding: .8rem; min-height: 6rem; background: #fafafa; }
  .mask { color: #bbb; }
  .new { background: #ffe38a; }
  .fixed { color: #1f4fa0; }
  #stats { font: 13px ui-monospace, monospace; color: #444; }
  #final { white-space: pre-wrap; border-left: 3px solid #2ca02c; padding-left: .8rem; }
  #error { color: #b00020; }
</style>
</head>
<body>
<h1>Unmask: watch a masked diffusion model write</h1>
<div>Every position starts masked (░); each step the sampler reveals some. Same seed, same text as the API.</div>
<div class="row">
  <label style="flex:1 1 100%">Prompt, or a template with ___ blanks ([___ x12] is twelve)
    <textarea id="prompt" rows="2">It is a truth universally acknowledged,</textarea></label>
</div>
<div class="row">
  <label>Mode <select id="mode"><option value="prompt">prompt + length</option><option value="template">template</option></select></label>
  <label>Sampler <input id="sampler" value="fhs:top_p=0.9" size="22"></label>
  <label>Length <input id="length" type="number" value="48" min="1" max="4096" style="width:5rem"></label>
  <label>Seed <input id="seed" type="number" value="1" min="0" style="width:7rem"></label>
  <label>API key <input id="key" type="password" placeholder="(if the server has one)" size="14"></label>
  <button id="start">Start</button>
  <button id="stop" disabled>Stop</button>
</div>
<div id="stats">idle</div>
<div id="canvas"></div>
<h2 style="font-size:1rem">Final text</h2>
<div id="final"></div>
<div id="error"></div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let controller = null, jobId = null, tokens = [], fresh = new Set();

function headers() {
  const h = { "Content-Type": "application/json" };
  if ($("key").value) h["Authorization"] = "Bearer " + $("key").value;
  return h;
}

function draw(prompt) {
  const c = $("canvas");
  c.textContent = "";
  const p = document.createElement("span");
  p.className = "fixed"; p.textContent = prompt; c.appendChild(p);
  tokens.forEach((t, i) => {
    const s = document.createElement("span");
    if (t === null) { s.className = "mask"; s.textContent = "░"; }
    else { s.textContent = t; if (fresh.has(i)) s.className = "new"; }
    c.appendChild(s);
  });
  c.dataset.masked = String(tokens.filter((t) => t === null).length);
}

function handle(event, data, state) {
  const d = JSON.parse(data);
  if (event === "start") {
    jobId = d.job; state.prompt = d.prompt;
    tokens = new Array(d.span[1] - d.span[0]).fill(null);
    $("canvas").dataset.job = d.job;
    $("stats").textContent = `job ${d.job} · seed ${d.seed} · ${d.sampler} · ${d.masked} masked`;
    draw(state.prompt);
  } else if (event === "step") {
    fresh = new Set();
    const choice = d.choices[0];
    if (choice && choice.revealed) for (const [i, t] of choice.revealed) { tokens[i] = t; if (t !== null) fresh.add(i); }
    if (choice && choice.tokens) { choice.tokens.forEach((t, i) => { if (t !== null && tokens[i] === null) fresh.add(i); tokens[i] = t; }); }
    const ms = d.ms_per_call === null ? "-" : d.ms_per_call.toFixed(1);
    $("stats").textContent = `job ${jobId} · step ${d.step} · NFE ${d.nfe} · ${ms} ms per call · ${d.masked} masked`;
    $("stats").dataset.masked = String(d.masked);
    draw(state.prompt);
  } else if (event === "done") {
    fresh = new Set(); draw(state.prompt);
    $("final").textContent = d.choices[0].full_text;
    $("final").dataset.done = "1";
    $("stats").textContent += " · done";
  } else if (event === "error") {
    $("error").textContent = d.error ? d.error.message : data;
    $("stats").dataset.cancelled = d.error && d.error.code ? d.error.code : "error";
  }
}

async function start() {
  $("error").textContent = ""; $("final").textContent = ""; delete $("final").dataset.done;
  delete $("stats").dataset.cancelled;
  const body = { sampler: $("sampler").value, seed: Number($("seed").value), stream: true, frames: "diff" };
  if ($("mode").value === "template") body.template = $("prompt").value;
  else { body.prompt = $("prompt").value; body.length = Number($("length").value); }
  controller = new AbortController();
  $("start").disabled = true; $("stop").disabled = false;
  const state = { prompt: "" };
  try {
    const res = await fetch("/unmask/v1/generate", { method: "POST", headers: headers(), body: JSON.stringify(body), signal: controller.signal });
    if (!res.ok) { const e = await res.json(); throw new Error(e.error ? e.error.message : res.statusText); }
    const reader = res.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        let event = "message", data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        if (data.length) handle(event, data.join("\n"), state);
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") $("error").textContent = String(e.message || e);
  } finally {
    $("start").disabled = false; $("stop").disabled = true; controller = null;
  }
}

async function stop() {
  if (jobId) {
    const res = await fetch("/unmask/v1/jobs/" + encodeURIComponent(jobId), { method: "DELETE", headers: headers() });
    $("stats").dataset.stopped = res.ok ? "1" : "0";
  }
}

$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
</script>
</body>
</html>
"""#
}
