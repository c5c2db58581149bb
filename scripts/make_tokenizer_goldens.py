#!/usr/bin/env python3
"""Write golden token ids for a tokenizer.json, using Hugging Face `tokenizers`.

Usage:
    python3 scripts/make_tokenizer_goldens.py TOKENIZER_JSON OUT_JSONL

Output is JSONL, one line per golden string:
    {"text": "...", "ids": [1, 2, 3]}
with no header line.  `ensure_ascii=True` keeps the file pure ASCII so every
non-ASCII character, control byte and invisible code point is an explicit
\\uXXXX escape (astral characters become surrogate *pairs*, which any JSON
parser, including Foundation's, decodes back to one scalar).

This is a one-off generator for test fixtures; the Swift code never runs it.
"""

import json
import os
import sys

import tokenizers
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_golden_strings import golden_strings  # noqa: E402


def encode_all(tok, strings):
    """Return a list of (text, ids) pairs for `strings`."""
    # Literal "<|endoftext|>" / "<|mask|>" text in the input must be encoded as
    # ordinary bytes, not matched as special tokens: the Swift tokenizer only
    # ever emits special ids explicitly, never by parsing user text.
    tok.encode_special_tokens = True
    out = []
    for s in strings:
        # add_special_tokens=False: no post-processor templates, we want the
        # raw model output only.
        enc = tok.encode(s, add_special_tokens=False)
        out.append((s, list(enc.ids)))
    return out


def write_goldens(tok, out_path, strings=None):
    """Encode the golden strings with `tok` and write them as JSONL to `out_path`."""
    if strings is None:
        strings = golden_strings()
    pairs = encode_all(tok, strings)
    # newline="\n": identical bytes on every platform.
    with open(out_path, "w", encoding="ascii", newline="\n") as f:
        for text, ids in pairs:
            # Fail loudly instead of writing something Swift cannot decode.
            text.encode("utf-8")
            f.write(json.dumps({"text": text, "ids": ids}, ensure_ascii=True))
            f.write("\n")
    return len(pairs)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    tok_path, out_path = argv[1], argv[2]
    tok = Tokenizer.from_file(tok_path)
    n = write_goldens(tok, out_path)
    print(f"wrote {n} goldens to {out_path}")
    print(f"tokenizers version: {tokenizers.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
