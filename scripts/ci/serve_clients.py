#!/usr/bin/env python3
"""unmask-serve driven by the official `openai` Python client (pip install openai).

Starts the server on loopback (port 0) twice: with the bundled denoiser for completions,
and with the tiny LLaDA fixture plus a tokenizer_config.json holding LLaDA-Instruct's chat
template for chat. For each: streamed and not, frames on and off. Checks that the client
yields text only (frames ride in an extension field it ignores), that the streamed deltas
concatenate to the non-streamed text for the same seed, and that usage counts add up.
Exits non-zero on the first failure. Usage: python3 scripts/ci/serve_clients.py SERVE_BINARY
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import openai

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LLADA_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
)


def start(binary, model):
    p = subprocess.Popen([binary, "--port", "0", "--model", model], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    line = p.stdout.readline()
    loaded = p.stdout.readline()  # it listens first, then says when the model is open
    if "listening on" not in line or "model loaded" not in loaded:
        p.kill()
        sys.exit(f"unmask-serve did not start: {line!r} {loaded!r}")
    return p, line.strip().rsplit(" ", 1)[-1]


def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")


def completions(url):
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused")
    args = dict(model="denoiser", prompt="It is a truth universally acknowledged,", max_tokens=40, seed=21)
    whole = client.completions.create(**args)
    text = whole.choices[0].text
    check(len(text) > 0 and whole.usage.completion_tokens == 40 and whole.usage.prompt_tokens > 0, "completion, not streamed: text and usage")
    for frames in [None, "diff", "full"]:
        extra = {"unmask": {"frames": frames}} if frames else {}
        chunks = list(client.completions.create(**args, stream=True, stream_options={"include_usage": True}, extra_body=extra))
        streamed = "".join(c.choices[0].text for c in chunks if c.choices)
        check(streamed == text, f"completion streamed (frames={frames}) = not streamed for the seed")
        check(all(isinstance(c.choices[0].text, str) for c in chunks if c.choices), f"frames={frames}: the client yields text only")
        check(chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 40, f"frames={frames}: the usage chunk")
    n2 = client.completions.create(**args, n=2)
    check(n2.choices[0].text == text and len(n2.choices) == 2, "n=2: choice 0 is the n=1 text (sample i uses stream i)")
    try:
        client.completions.create(**args, logit_bias={"1": 5})
        check(False, "logit_bias refused")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and e.param == "logit_bias", "logit_bias: 400 naming it")
    try:
        client.completions.create(**{**args, "max_tokens": 500})
        check(False, "context_length_exceeded")
    except openai.BadRequestError as e:
        check(e.code == "context_length_exceeded", "max_tokens past the context: context_length_exceeded")
    models = client.models.list()
    check(models.data[0].id == "denoiser", "models.list")


def chat(url, model_id):
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused")
    # The fixture's context is 64 tokens and its tiny tokenizer spells the template's
    # special tokens out as text (about 110 tokens): generated in windows of 16, past the context.
    args = dict(model=model_id, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}],
                max_tokens=12, seed=5, temperature=0.9)
    block = {"window": 16}
    whole = client.chat.completions.create(**args, extra_body={"unmask": block})
    # `block` is the old spelling of `window`, still read: the same text for the seed.
    old = client.chat.completions.create(**args, extra_body={"unmask": {"block": 16}})
    check(old.choices[0].message.content == whole.choices[0].message.content, "unmask.block = unmask.window")
    text = whole.choices[0].message.content
    check(whole.choices[0].message.role == "assistant" and isinstance(text, str), "chat, not streamed")
    for frames in [None, "diff"]:
        extra = {"unmask": {**block, "frames": frames} if frames else block}
        chunks = list(client.chat.completions.create(**args, stream=True, extra_body=extra))
        streamed = "".join((c.choices[0].delta.content or "") for c in chunks if c.choices)
        check(streamed == text, f"chat streamed (frames={frames}) = not streamed for the seed")
    try:
        client.chat.completions.create(**args, extra_body={"unmask": block}, tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
        check(False, "tools refused")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and e.param == "tools", "tools: 400 naming it")


def main():
    binary = sys.argv[1]
    p, url = start(binary, os.path.join(ROOT, "models/denoiser"))
    try:
        completions(url)
    finally:
        p.terminate()
        p.wait(10)
    folder = tempfile.mkdtemp()
    try:
        chat_model = os.path.join(folder, "llada-chat")
        shutil.copytree(os.path.join(ROOT, "Tests/UnmaskModelTests/Fixtures/hf/llada-tiny"), chat_model)
        with open(os.path.join(chat_model, "tokenizer_config.json"), "w") as f:
            json.dump({"chat_template": LLADA_CHAT_TEMPLATE, "bos_token": "<|startoftext|>"}, f)
        p, url = start(binary, chat_model)
        try:
            chat(url, "llada-chat")
        finally:
            p.terminate()
            p.wait(10)
    finally:
        shutil.rmtree(folder)
    print("all openai-client checks passed")


if __name__ == "__main__":
    main()
