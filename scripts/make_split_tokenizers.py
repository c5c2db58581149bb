#!/usr/bin/env python3
"""Tokenizers in the Qwen2 (Dream) and Llama-3 configurations, trained with Hugging Face
`tokenizers`, and their golden ids, for the Swift `Split` pre-tokenizer's parity tests.

Usage (from the repository root, with `tokenizers` installed):
    python3 scripts/make_split_tokenizers.py

Writes Tests/UnmaskTokenizerTests/Fixtures/{qwen2,llama3}_split_tokenizer.json and
..._goldens.jsonl. The pre-tokenizer is what those families' tokenizer.json files hold: a
Sequence of Split (the family's regular expression, behavior Isolated) and ByteLevel
without its own regex. Qwen2's normalizer is NFC; Llama-3 has none. The patterns are the
published ones (as in the families' tokenizer.json files); the vocabularies are tiny,
trained here on the same prose as the other fixtures.

The BPE model flag `ignore_merges` is what the families ship: false for Qwen2, true for
Llama-3. With it true, `tokenizers` gives a pre-tokenized word (after the byte-level
mapping) that is itself in the model's vocabulary that one id, without applying merges.
A trained vocabulary never shows the difference (every one of its tokens is what the
merges build, and here they rebuild each one), so the Llama-3 file also gets a few
whole words from the golden texts appended as ordinary vocabulary entries after the
trained ids (the specials stay at 0 and 1), with no merges building them, and its
goldens include a few extra strings around those words (prefixes, suffixes, case,
decomposed forms). The script checks that the goldens differ from what the same file
with `ignore_merges: false` gives.
"""
import json
import os
import sys

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_hf_reference_tokenizer import FIXTURES, training_texts  # noqa: E402
from make_tokenizer_goldens import write_goldens  # noqa: E402
from tokenizer_golden_strings import golden_strings  # noqa: E402

PATTERNS = {
    "qwen2": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    "llama3": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
}

# Llama-3 only: whole pre-tokenized words of the golden texts (as text; stored in their
# byte-level form, e.g. " neighbourhood" -> "\u0120neighbourhood") added to the vocabulary
# without merges, so that only `ignore_merges: true` ever emits them.
WHOLE_WORDS = {
    "llama3": [
        " neighbourhood", " acknowledged", " universally", " Netherfield",
        "Elizabeth",  # no leading space: text-initial
        "antidisestablishmentarianism",
        "\u0645\u0631\u062d\u0628\u0627",  # Arabic "marhaba", no leading space
        " Vi\u1ec7t",  # precomposed; no normalizer, so the decomposed spelling must not match
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # ZWJ emoji sequence (a punctuation run)
    ],
}

# Llama-3 only: golden strings (after the shared ones) around the whole words: only an
# exact whole pre-token matches; prefixes, extensions, other case, other spacing and the
# decomposed form go through the merges.
EXTRA_STRINGS = {
    "llama3": [
        "neighbourhood neighbourhoods Neighbourhood  neighbourhood\n neighbourhood.",
        "acknowledged, unacknowledged; Acknowledged acknowledgedly acknowledged",
        "Elizabeth Elizabeth's ELIZABETH (Elizabeth)",
        "antidisestablishmentarianism antidisestablishmentarianisms",
        "\u0645\u0631\u062d\u0628\u0627 \u0645\u0631\u062d\u0628\u0627\u0645\u0631\u062d\u0628\u0627",
        "Ti\u1ebfng Vi\u1ec7t / Tie\u0302\u0301ng Vie\u0323\u0302t / Vi\u1ec7tnam",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f468\u200d\U0001f469\u200d\U0001f467\U0001f468\u200d\U0001f469\u200d\U0001f467",
        "<|endoftext|> universally acknowledged<|mask|>",
    ],
}


def byte_level(text):
    """`text` in the byte-level alphabet, as `ByteLevel` maps a pre-tokenized word."""
    (word, _), = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False).pre_tokenize_str(text)
    return word


def add_whole_words(tok, words):
    """`tok` with `words` appended to its BPE vocabulary (no merges) and ignore_merges on."""
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    next_id = max(list(vocab.values()) + [t["id"] for t in spec["added_tokens"]]) + 1
    for text in words:
        token = byte_level(text)
        assert token not in vocab, f"{token!r} is already a trained token"
        vocab[token] = next_id
        next_id += 1
    spec["model"]["ignore_merges"] = True
    return Tokenizer.from_str(json.dumps(spec))


def with_ignore_merges(path, flag):
    spec = json.load(open(path, encoding="utf-8"))
    spec["model"]["ignore_merges"] = flag
    return Tokenizer.from_str(json.dumps(spec))


def build(family):
    tok = Tokenizer(models.BPE())
    if family == "qwen2":
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PATTERNS[family]), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<|mask|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(training_texts(), trainer=trainer)
    if family in WHOLE_WORDS:
        tok = add_whole_words(tok, WHOLE_WORDS[family])
    path = os.path.join(FIXTURES, f"{family}_split_tokenizer.json")
    tok.save(path, pretty=True)
    strings = golden_strings() + EXTRA_STRINGS.get(family, [])
    n = write_goldens(Tokenizer.from_file(path), os.path.join(FIXTURES, f"{family}_split_goldens.jsonl"), strings)
    print(f"{family}: {n} goldens, tokenizers {tokenizers.__version__}")
    if family in WHOLE_WORDS:
        # The flag must matter: count the goldens that merges alone would encode differently.
        on, off = with_ignore_merges(path, True), with_ignore_merges(path, False)
        for t in (on, off):
            t.encode_special_tokens = True
        differ = [s for s in strings
                  if on.encode(s, add_special_tokens=False).ids != off.encode(s, add_special_tokens=False).ids]
        emitted = {i for s in strings for i in on.encode(s, add_special_tokens=False).ids}
        added = [on.token_to_id(byte_level(w)) for w in WHOLE_WORDS[family]]
        assert differ and all(i in emitted for i in added), (len(differ), added, emitted)
        print(f"{family}: ignore_merges true; whole-word ids {added[0]}..{added[-1]}; "
              f"{len(differ)} goldens differ with it false")


if __name__ == "__main__":
    for family in PATTERNS:
        build(family)
