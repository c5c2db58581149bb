"""Server requests compare.sh sends to each side's unmask-serve (fixed seeds, sent one at
a time, so that no two jobs share network calls and every count is deterministic).

SERVERS: name -> the model argument (None: the bundled default, no --model flag;
"@CHAT@": a copy of the side's llada-tiny fixture plus a tokenizer_config.json holding
LLaDA-Instruct's chat template, made in the side's scratch directory, as
scripts/ci/serve_clients.py does).

REQUESTS: (server, method, path, body) with body a dict (sent as JSON), a str (sent as
is: malformed bodies) or None. Old spellings only (unmask.block, native block,
sampler key cache=): the AFTER build takes them as hidden aliases.
"""

PROMPT = "It is a truth universally acknowledged,"

SERVERS = {
    "denoiser": None,
    "labels": "models/denoiser-labels",
    "chat": "@CHAT@",
}

LLADA_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
)

C = "/v1/completions"
CHAT = "/v1/chat/completions"
N = "/unmask/v1/generate"
MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]

REQUESTS = [
    # --- the bundled denoiser
    ("denoiser", "GET", "/health", None),
    ("denoiser", "GET", "/v1/models", None),
    ("denoiser", "GET", "/unmask/v1/status", None),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "n": 2, "temperature": 0.8, "top_p": 0.9}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "temperature": 0}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "top_k": 20}),
    ("denoiser", "POST", C, {"prompt": [1009, 362, 258, 1865], "max_tokens": 16, "seed": 7}),
    ("denoiser", "POST", C, {"prompt": ["It was"], "suffix": " said Emma.", "max_tokens": 12, "seed": 7}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 32, "seed": 7, "stop": [",", "."]}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "stream": True, "stream_options": {"include_usage": True}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "n": 2, "stream": True, "unmask": {"frames": "diff"}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "unmask": {"sampler": "confidence:block=8"}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "unmask": {"sampler": "ancestral:steps=50:cache=off"}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "unmask": {"sampler": "p2", "steps": 30}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "unmask": {"sampler": "confidence", "tokens_per_call": 2}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "unmask": {"sampler": "confidence", "threshold": 0.9}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "unmask": {"sampler": "fhs:remask=0.1"}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 160, "seed": 7, "unmask": {"block": 64}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 160, "seed": 7, "stream": True, "unmask": {"block": 64}}),
    ("denoiser", "POST", CHAT, {"messages": MSGS, "max_tokens": 12, "seed": 5}),
    ("denoiser", "POST", N, {"prompt": "It was", "length": 24, "seed": 7, "stream": False}),
    ("denoiser", "POST", N, {"prompt": "It was", "length": 24, "seed": 7}),
    ("denoiser", "POST", N, {"prompt": "It was", "length": 24, "seed": 7, "samples": 2, "sampler": "confidence:k=2", "frames": "full"}),
    ("denoiser", "POST", N, {"template": "It is a truth [___ x6] that a single man", "sampler": "confidence", "seed": 3, "stream": False}),
    ("denoiser", "POST", N, {"template": "Mr. Darcy [___ x6] Elizabeth ___ the", "seed": 3}),
    ("denoiser", "POST", N, {"prompt": "It was", "length": 160, "block": 64, "seed": 7, "stream": False}),
    ("denoiser", "POST", N, {"prompt": "It was", "length": 24, "seed": 7, "sampler": "ddpd", "stream": False}),
    ("denoiser", "POST", N, {"prompt": "It was", "length": 24, "seed": 7, "sampler": "ancestral:steps=40:cache=off", "stream": False}),
    ("denoiser", "POST", N, {"length": 24, "seed": 7, "steer": "smc:particles=4:lambda=2:every=8", "reward": "classifier", "class": "emma", "stream": False}),
    ("denoiser", "POST", N, {"length": 24, "seed": 7, "steer": "tilt:lambda=1:mode=exact", "reward": "words:exclude=the,and"}),
    ("denoiser", "POST", N, {"length": 24, "seed": 7, "steer": "cbg:gamma=1", "class": "emma", "stream": False}),
    ("denoiser", "POST", N, {"prompt": "Emma Woodhouse, handsome,", "length": 24, "seed": 7, "steer": "cfg:gamma=2", "stream": False}),
    # errors
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "foo": 1}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "unmask": {"bar": 1}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "unmask": {"sampler": "nosuch"}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "unmask": {"sampler": "fhs:cache=off"}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "unmask": {"sampler": "ancestral:cache=maybe"}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "unmask": {"block": 0}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 160, "seed": 7, "unmask": {"block": 500}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "unmask": {"block": "x"}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 500, "seed": 7}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "logit_bias": {"1": 5}}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "logit_bias": {}, "presence_penalty": 0}),
    ("denoiser", "POST", C, {"prompt": PROMPT, "max_tokens": 24, "seed": 7, "n": 17}),
    ("denoiser", "POST", C, '{"prompt": "It was", "max_tokens": 4,'),
    ("denoiser", "POST", N, {"prompt": "It was", "length": 24, "seed": 7, "block": 0, "stream": False}),
    ("denoiser", "POST", N, {"prompt": "It was", "length": 24, "seed": 7, "block": "x", "stream": False}),
    ("denoiser", "POST", N, {"prompt": "It was", "length": 24, "seed": 7, "sampler": "nosuch", "stream": False}),
    ("denoiser", "POST", N, {"prompt": "It was", "length": 24, "seed": 7, "qux": True}),
    ("denoiser", "POST", N, {"length": 24, "seed": 7, "steer": "smc:particles=4", "reward": "command:/bin/true"}),
    ("denoiser", "POST", N, {"length": 24, "seed": 7, "class": "emma", "stream": False}),
    ("denoiser", "GET", "/no/such/path", None),
    ("denoiser", "GET", C, None),
    ("denoiser", "DELETE", "/unmask/v1/jobs/no-such-job", None),
    ("denoiser", "GET", "/unmask/v1/status", None),
    # --- the label-conditional denoiser
    ("labels", "GET", "/v1/models", None),
    ("labels", "POST", N, {"length": 24, "seed": 7, "class": "emma", "stream": False}),
    ("labels", "POST", N, {"length": 24, "seed": 7, "class": "pride_and_prejudice", "sampler": "confidence"}),
    ("labels", "POST", N, {"length": 24, "seed": 7, "class": "emma", "steer": "cfg:gamma=2", "stream": False}),
    ("labels", "POST", N, {"length": 24, "seed": 7, "class": "nobody", "stream": False}),
    ("labels", "POST", C, {"prompt": PROMPT, "max_tokens": 16, "seed": 7}),
    # --- the LLaDA fixture with a chat template
    ("chat", "GET", "/v1/models", None),
    ("chat", "POST", CHAT, {"messages": MSGS, "max_tokens": 12, "seed": 5, "temperature": 0.9, "unmask": {"block": 16}}),
    ("chat", "POST", CHAT, {"messages": MSGS, "max_tokens": 12, "seed": 5, "temperature": 0.9, "stream": True, "unmask": {"block": 16}}),
    ("chat", "POST", CHAT, {"messages": MSGS, "max_completion_tokens": 12, "seed": 5, "n": 2, "stream": True,
                            "stream_options": {"include_usage": True}, "unmask": {"block": 16, "frames": "diff"}}),
    ("chat", "POST", CHAT, {"messages": MSGS, "max_tokens": 12, "seed": 5}),
    ("chat", "POST", CHAT, {"messages": MSGS, "max_tokens": 12, "seed": 5, "unmask": {"block": 16},
                            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}),
    ("chat", "POST", CHAT, {"messages": [{"role": "robot", "content": "hi"}], "max_tokens": 12, "seed": 5, "unmask": {"block": 16}}),
    ("chat", "POST", C, {"prompt": "hello", "max_tokens": 12, "seed": 5}),
    ("chat", "POST", N, {"prompt": "hello", "length": 12, "seed": 5, "sampler": "confidence:block=4", "stream": False}),
]

# Servers that must fail to start: (name, arguments); their output lines and exit code are compared.
BAD_STARTS = [
    ("no such model", ["--model", "/nonexistent"]),
    ("an evaluator", ["--model", "Tests/UnmaskModelTests/Fixtures/hf/gpt2-tiny"]),
]
