#!/usr/bin/env python3
"""Train a small reference byte-level BPE tokenizer with Hugging Face `tokenizers`.

Usage (from the repository root):
    python3 scripts/make_hf_reference_tokenizer.py

Writes:
    Tests/UnmaskTokenizerTests/Fixtures/hf_trained_tokenizer.json
    Tests/UnmaskTokenizerTests/Fixtures/hf_trained_goldens.jsonl

Why: the Swift tokenizer must load a tokenizer.json produced by the HF library
and give identical ids.  This fixture is built in the same configuration as
the project's own vocabulary (BPE, NFC, ByteLevel pre-tokenizer without
prefix space, ByteLevel decoder, the two special tokens) but is tiny and
trained only on text in this repository, so the tests do not depend on the
project's real training corpus.

Training is deterministic for a fixed `tokenizers` version and input (ties
between equally frequent pairs are broken by the pair's content), so rerunning
this script should reproduce the same files; the version used is recorded in
Tests/UnmaskTokenizerTests/Fixtures/README.md.
"""

import os
import sys

import tokenizers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_tokenizer_goldens import write_goldens  # noqa: E402
from tokenizer_golden_strings import golden_strings  # noqa: E402

ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "Tests", "UnmaskTokenizerTests", "Fixtures")
TOKENIZER_OUT = os.path.join(FIXTURES, "hf_trained_tokenizer.json")
GOLDENS_OUT = os.path.join(FIXTURES, "hf_trained_goldens.jsonl")

# Public-domain English prose (Jane Austen, "Pride and Prejudice", 1813,
# chapter 1) so that the learned merges look like real English merges
# (" the", "ing", ...) and the goldens exercise multi-level merge chains.
PROSE = """\
It is a truth universally acknowledged, that a single man in possession of a
good fortune, must be in want of a wife.

However little known the feelings or views of such a man may be on his first
entering a neighbourhood, this truth is so well fixed in the minds of the
surrounding families, that he is considered the rightful property of some one
or other of their daughters.

"My dear Mr. Bennet," said his lady to him one day, "have you heard that
Netherfield Park is let at last?"

Mr. Bennet replied that he had not.

"But it is," returned she; "for Mrs. Long has just been here, and she told me
all about it."

Mr. Bennet made no answer.

"Do you not want to know who has taken it?" cried his wife impatiently.

"You want to tell me, and I have no objection to hearing it."

This was invitation enough.

"Why, my dear, you must know, Mrs. Long says that Netherfield is taken by a
young man of large fortune from the north of England; that he came down on
Monday in a chaise and four to see the place, and was so much delighted with
it, that he agreed with Mr. Morris immediately; that he is to take possession
before Michaelmas, and some of his servants are to be in the house by the end
of next week."

"What is his name?"

"Bingley."

"Is he married or single?"

"Oh! Single, my dear, to be sure! A single man of large fortune; four or five
thousand a year. What a fine thing for our girls!"

"How so? How can it affect them?"

"My dear Mr. Bennet," replied his wife, "how can you be so tiresome! You must
know that I am thinking of his marrying one of them."

"Is that his design in settling here?"

"Design! Nonsense, how can you talk so! But it is very likely that he may fall
in love with one of them, and therefore you must visit him as soon as he
comes."

"I see no occasion for that. You and the girls may go, or you may send them by
themselves, which perhaps will be still better, for as you are as handsome as
any of them, Mr. Bingley may like you the best of the party."

"My dear, you flatter me. I certainly have had my share of beauty, but I do
not pretend to be anything extraordinary now. When a woman has five grown-up
daughters, she ought to give over thinking of her own beauty."

"In such cases, a woman has not often much beauty to think of."

"But, my dear, you must indeed go and see Mr. Bingley when he comes into the
neighbourhood."

"It is more than I engage for, I assure you."

"But consider your daughters. Only think what an establishment it would be
for one of them. Sir William and Lady Lucas are determined to go, merely on
that account, for in general, you know, they visit no newcomers. Indeed you
must go, for it will be impossible for us to visit him if you do not."

"You are over-scrupulous, surely. I dare say Mr. Bingley will be very glad to
see you; and I will send a few lines by you to assure him of my hearty
consent to his marrying whichever he chooses of the girls; though I must throw
in a good word for my little Lizzy."

"I desire you will do no such thing. Lizzy is not a bit better than the
others; and I am sure she is not half so handsome as Jane, nor half so
good-humoured as Lydia. But you are always giving her the preference."

"They have none of them much to recommend them," replied he; "they are all
silly and ignorant like other girls; but Lizzy has something more of
quickness than her sisters."

"Mr. Bennet, how can you abuse your own children in such a way? You take
delight in vexing me. You have no compassion for my poor nerves."

"You mistake me, my dear. I have a high respect for your nerves. They are my
old friends. I have heard you mention them with consideration these last
twenty years at least."

Mr. Bennet was so odd a mixture of quick parts, sarcastic humour, reserve,
and caprice, that the experience of three-and-twenty years had been
insufficient to make his wife understand his character. Her mind was less
difficult to develop. She was a woman of mean understanding, little
information, and uncertain temper. When she was discontented, she fancied
herself nervous. The business of her life was to get her daughters married;
its solace was visiting and news.
"""


def training_texts():
    # The prose is repeated so English merges dominate the 342 merge slots;
    # the golden strings are included so that some non-English byte pairs
    # (CJK, emoji, accents) also get merges and the goldens exercise them.
    paragraphs = [p for p in PROSE.split("\n\n") if p.strip()]
    texts = paragraphs * 20
    texts += golden_strings() * 2
    return texts


def build_tokenizer():
    tok = Tokenizer(models.BPE())  # no unk token, no dropout
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def main():
    tok = build_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<|endoftext|>", "<|mask|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(training_texts(), trainer=trainer)
    os.makedirs(FIXTURES, exist_ok=True)
    tok.save(TOKENIZER_OUT, pretty=True)
    # Reload from disk so the goldens come from exactly what the Swift tests
    # will load, not from the in-memory trained object.
    reloaded = Tokenizer.from_file(TOKENIZER_OUT)
    n = write_goldens(reloaded, GOLDENS_OUT)
    print(f"vocab size: {reloaded.get_vocab_size(with_added_tokens=True)}")
    print(f"wrote {TOKENIZER_OUT}")
    print(f"wrote {n} goldens to {GOLDENS_OUT}")
    print(f"tokenizers version: {tokenizers.__version__}")


if __name__ == "__main__":
    main()
