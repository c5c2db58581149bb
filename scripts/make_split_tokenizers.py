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
"""
import os
import sys

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_hf_reference_tokenizer import FIXTURES, training_texts  # noqa: E402
from make_tokenizer_goldens import write_goldens  # noqa: E402

PATTERNS = {
    "qwen2": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    "llama3": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
}


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
    path = os.path.join(FIXTURES, f"{family}_split_tokenizer.json")
    tok.save(path, pretty=True)
    n = write_goldens(Tokenizer.from_file(path), os.path.join(FIXTURES, f"{family}_split_goldens.jsonl"))
    print(f"{family}: {n} goldens, tokenizers {tokenizers.__version__}")


if __name__ == "__main__":
    for family in PATTERNS:
        build(family)
