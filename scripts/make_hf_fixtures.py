"""One-off golden data for Hugging Face model folders: a tiny random-weight model per
family, written by the reference implementation itself, with its float32 logits and loss
on fixed ids. The Swift tests load each folder and must match without Python.

    python3 -m venv scratch/torchenv && scratch/torchenv/bin/pip install torch transformers
    scratch/torchenv/bin/python scripts/make_hf_fixtures.py

A tiny byte-level BPE tokenizer in GPT-2's configuration is trained with `tokenizers` on a
few Austen sentences and saved as the folder's tokenizer.json.

Families so far:
  gpt2-tiny   transformers.GPT2LMHeadModel (the GPT-2 evaluator family: learned positions,
              LayerNorm with bias, GELU-tanh "gelu_new", biases everywhere, Conv1D weights
              stored (in, out), tied head). Weights drawn with initializer_range 0.2 (the
              default 0.02 would make every logit nearly 0 and the test toothless).

Each folder gets config.json and model.safetensors from save_pretrained, and golden.json:
the transformers version, the ids (batch 2 x 16), the logits (2, 16, vocab) in float32, and
`loss`, transformers' own causal-LM loss with labels = ids (mean NLL of token i+1 given
the tokens up to i). No reference code is copied or vendored: the model comes from the
installed transformers package.
"""
import json
import os

import torch
import transformers

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "UnmaskModelTests", "Fixtures", "hf")


TEXT = """It is a truth universally acknowledged, that a single man in possession of a good fortune,
must be in want of a wife. However little known the feelings or views of such a man may be on his
first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding
families, that he is considered the rightful property of some one or other of their daughters.
"My dear Mr. Bennet," said his lady to him one day, "have you heard that Netherfield Park is let
at last?" Mr. Bennet replied that he had not. "But it is," returned she; "for Mrs. Long has just
been here, and she told me all about it." Mr. Bennet made no answer."""

# Samples for the generative-perplexity golden: plain text, one with an end of text in the
# middle (the recipe counts up to and including the first one), one longer than the tiny
# model's context of 32 tokens (scored in chunks).
SAMPLES = [
    "Mr. Bennet made no answer to his lady.",
    "She told me all about it.<|endoftext|>The rest is not counted.",
    "It is a truth universally acknowledged, that a single man in possession of a good fortune must be in want of a wife, and the feelings or views of such a man may be on his first entering a neighbourhood.",
]


def tiny_tokenizer():
    """A byte-level BPE in GPT-2's configuration (no normalizer, ByteLevel pre-tokenizer
    without prefix space, <|endoftext|> the only special), 300 ids, trained by `tokenizers`."""
    import tokenizers
    from tokenizers import decoders, models, pre_tokenizers, trainers
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([TEXT], trainer=trainer)
    return tok


def gpt2_tiny():
    torch.manual_seed(0)
    tok = tiny_tokenizer()
    config = transformers.GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=32, n_embd=32, n_layer=2, n_head=4,
                                     activation_function="gelu_new", layer_norm_epsilon=1e-5,
                                     initializer_range=0.2, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)
    model = transformers.GPT2LMHeadModel(config).eval()
    # LayerNorms start at (1, 0) and biases at 0; perturb them so the test sees them.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias") or "ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    out = os.path.join(OUT, "gpt2-tiny")
    model.save_pretrained(out, safe_serialization=True)
    tok.save(os.path.join(out, "tokenizer.json"))
    eos = tok.token_to_id("<|endoftext|>")
    # Generative perplexity by the recipe README documents: each sample's text encoded by
    # the evaluator's tokenizer, cut after its first end of text, scored in chunks of the
    # context (the first token of each chunk has no context and is not scored), corpus
    # level exp(sum NLL / tokens scored).
    nats, count = 0.0, 0
    for text in SAMPLES:
        ids = tok.encode(text).ids
        if eos in ids:
            ids = ids[: ids.index(eos) + 1]
        for start in range(0, len(ids), config.n_positions):
            chunk = torch.tensor([ids[start:start + config.n_positions]])
            if chunk.shape[1] < 2:
                continue
            with torch.no_grad():
                logits = model(chunk).logits.double()
            nll = torch.nn.functional.cross_entropy(logits[0, :-1], chunk[0, 1:], reduction="sum")
            nats += float(nll)
            count += chunk.shape[1] - 1
    with open(os.path.join(out, "samples.jsonl"), "w") as f:
        for text in SAMPLES:
            f.write(json.dumps({"text": text}) + "\n")
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, config.vocab_size, (2, 16), generator=g)
    with torch.no_grad():
        result = model(ids, labels=ids)
    golden = {"transformers": transformers.__version__, "torch": torch.__version__,
              "ids": ids.tolist(), "logits": result.logits.float().flatten().tolist(),
              "loss": float(result.loss),
              "gen_ppl": {"samples": "samples.jsonl", "tokens": count, "nats": nats,
                          "perplexity": float(torch.tensor(nats / count).exp())}}
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f)
    print("gpt2-tiny:", os.listdir(out), "loss", golden["loss"])


if __name__ == "__main__":
    gpt2_tiny()
