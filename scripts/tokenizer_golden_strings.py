"""Deterministic list of test strings for tokenizer golden files.

The Swift byte-level BPE tokenizer must reproduce the ids of the Hugging Face
`tokenizers` library exactly.  The strings below are chosen to hit every part
of that pipeline where an independent implementation is likely to diverge:

* NFC normalisation (decomposed vs precomposed, Hangul jamo, ligatures that
  NFC must *not* touch),
* the GPT-2 pre-tokenizer regex
  `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`
  (contractions are lowercase-only and ASCII-apostrophe-only, Unicode
  categories of letters/numbers, what counts as `\\s`, the look-ahead split of
  whitespace runs),
* the byte-to-unicode mapping (control bytes, 4-byte UTF-8, emoji sequences),
* BPE merges on long words,
* special-token text appearing literally in ordinary input.

Only `golden_strings()` is public.  It always returns the same list (the
random part uses a private `random.Random(1234)`), so regenerated golden files
are byte-identical unless the tokenizer itself changed.
"""

import random

# --- Hand-written strings, grouped by the behaviour they exercise. ---------

_PROSE = [
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.",
    "However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families.",
    "\"My dear Mr. Bennet,\" said his lady to him one day, \"have you heard that Netherfield Park is let at last?\"",
    "Mr. Bennet replied that he had not.",
    "Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy disposition, seemed to unite some of the best blessings of existence.",
    "The family of Dashwood had long been settled in Sussex.",
    "There was no possibility of taking a walk that day.",
    "She was not fond of books; she preferred cricket, baseball, riding on horseback, and running about the country.",
    "Hello, world!",
    "hello world",
    "HELLO WORLD",
    "The quick brown fox jumps over the lazy dog.",
    "a",
    "A",
    " ",
    "Hello",
    " Hello",
    "the",
    " the",
    "The",
    "internationalization",
    "antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "I'm here.",
    "x",
    "?",
]

_CONTRACTIONS = [
    "It's",
    "don't",
    "they're",
    "we've",
    "I'm",
    "you'll",
    "she'd",
    "IT'S",
    "DON'T",
    "THEY'RE",
    "WE'VE",
    "I'M",
    "YOU'LL",
    "SHE'D",
    "It'S a test, you'Ll see, we'Ve been",
    "It\u2019s",  # curly apostrophe: not a contraction for the regex
    "don\u2019t",
    "they\u2019re and we\u2019ve and I\u2019m and you\u2019ll and she\u2019d",
    "'s",
    "'t",
    "'re",
    "'ve",
    "'m",
    "'ll",
    "'d",
    "''s",
    "'''",
    "'",
    " 's",
    "'sa",
    "'x",
    "'S",
    "'LL",
    "rock 'n' roll",
    "the dogs' bones",
    "O'Neill's",
    "'tis the season",
    "He said 'hello' and left.",
    "I'd've thought so",
    "y'all'd've",
    "'s's's",
    "'123",
    "'\u00e9t\u00e9",
]

_DIGITS = [
    "0",
    "1",
    "12",
    "123",
    "1234",
    "1234567890",
    "12345678901234567890123456789",
    "3.14",
    "3.14159265358979",
    "1,000,000",
    "-42",
    "+1 (555) 123-4567",
    "2024-01-31T12:34:56Z",
    "abc123def",
    "a1b2c3",
    "x86_64",
    "v1.2.3",
    "0x1F600",
    "1e-9",
    " 123",
    "  123",
    "page 7 of 12",
    "In 1811, there were 3 sisters and 2 brothers.",
    "100%",
    "$5.99",
    "\u0661\u0662\u0663",  # Arabic-Indic digits (Nd)
    "\u0967\u0968\u0969",  # Devanagari digits (Nd)
    "\uff11\uff12\uff13",  # fullwidth digits (Nd)
]

_PUNCTUATION = [
    "!!!",
    "...",
    "?!?",
    "--",
    "---",
    "\u2014",
    "a\u2014b",
    "<|mask|>",
    "<|endoftext|>",
    "The end.<|endoftext|>Next",
    "fill the <|mask|> here",
    "<|mask|><|mask|>",
    " <|endoftext|> ",
    "<|",
    "|>",
    "<|mask",
    "mask|>",
    "<|unknown|>",
    "<<||>>",
    "(a)",
    "[b]",
    "{c}",
    "\"quoted\"",
    "\u201ccurly quotes\u201d",
    "\u00abguillemets\u00bb",
    "a.b,c;d:e",
    "#hashtag @mention",
    "https://example.com/path?q=1&r=2#frag",
    "user@example.com",
    "C:\\Windows\\System32",
    "a_b_c",
    "__init__",
    "/* comment */",
    "def f(x): return x**2",
    "if (a != b && c >= d) { return; }",
    "~`!@#$%^&*()-_=+[]{}\\|;:'\",.<>/?",
    "!",
    " !",
    "  !",
]

_WHITESPACE = [
    "\t",
    "\n",
    "\r\n",
    "\r",
    "  ",
    "   ",
    "\n\n",
    "\n\n\n",
    " \n",
    "\n ",
    " \n ",
    "\t\t",
    "a\tb",
    "a\nb",
    "a\r\nb",
    "a\n\nb",
    "a  b",
    "a   b",
    "a    b",
    "a          b",
    "a  \n b",
    "  a",
    "a   ",
    "a ",
    " a",
    "\n\nx",
    "x\n\n",
    "line one \nline two",
    "trailing spaces   ",
    "   leading spaces",
    "  both  ",
    "tab\tseparated\tvalues",
    "para one.\n\nPara two.\n",
    "a \t b",
    "\u00a0",
    "a\u00a0b",
    "a \u00a0b",
    "100\u00a0km",
    "\u3000",
    "\u65e5\u672c\u3000\u8a9e",
    "a\u2009b",
    "a\u2028b",
    "a\u2029b",
    "a\u0085b",
    "\u0085",
    "\u2028",
    "a\x0bb",
    "a\x0cb",
    "a\x1cb\x1dc\x1ed\x1ff",
    "a\u180eb",
    "a\u202fb",
    "a\u205fb",
    "a\u1680b",
    "a\u2000b\u200ac",
    " \t\n\r ",
    " \u00a0 ",
]

_ACCENTS = [
    "caf\u00e9",  # precomposed e-acute
    "cafe\u0301",  # decomposed: NFC must compose to the line above
    "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e",
    "Cafe\u0301 cre\u0300me bru\u0302le\u0301e",
    "na\u00efve r\u00e9sum\u00e9",
    "nai\u0308ve re\u0301sume\u0301",
    "\u00c5ngstr\u00f6m",
    "A\u030angstro\u0308m",
    "\u212bngstr\u00f6m",  # ANGSTROM SIGN: NFC maps to U+00C5
    "Ti\u1ebfng Vi\u1ec7t",  # Vietnamese precomposed
    "Tie\u0302\u0301ng Vie\u0323\u0302t",  # Vietnamese decomposed, non-canonical order
    "Vi\u1ec7t Nam \u0111\u1eb9p l\u1eafm",
    "\u1ea0\u1eb6\u1ec6\u1ed8\u1ef0",
    "\u1100\u1161\u11a8",  # Hangul jamo L V T -> NFC composes to one syllable
    "\u1112\u1161\u11ab\u1100\u1173\u11af",  # decomposed "hangul"
    "\u1100\u1161",
    "\u1100",
    "e\u0301\u0301",
    "o\u0308\u0304",
    "a\u0327\u0301",
    "Z\u0335\u0321a\u0336\u0322l\u0337\u0328g\u0338o",  # zalgo-ish
    "\u00df",
    "STRA\u1e9eE",
    "\u0131\u0130",
    "\u00d8resund",
    "\u0141\u00f3d\u017a",
    "Cze\u015b\u0107, \u017c\u00f3\u0142w!",
    "Fran\u00e7ois",
    "\u00c9cole \u00e9l\u00e9mentaire",
    "\u0301",  # combining mark alone
    "\u0301abc",  # combining mark at start of string
    "\u0301\u0302 x",
    " \u0301",
    "1\u0301",
    "!\u0301",
    "\u0915\u093f",  # Devanagari consonant + vowel sign (Mc)
    "\u00f1",
    "n\u0303",
]

_LIGATURES = [
    "\ufb01",
    "\ufb02",
    "\ufb00",
    "\ufb03\ufb04",
    "\ufb01nance and \ufb02ow",
    "e\ufb00ect",
    "\ufb06",  # st ligature
    "\u0132sselmeer",  # IJ digraph
    "\u01c6",  # dz digraph
]

_SCRIPTS = [
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01",  # Chinese
    "\u4eca\u5929\u5929\u6c14\u5f88\u597d\u3002",
    "\u6211\u7231\u5317\u4eac\u5929\u5b89\u95e8",
    "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c",  # Japanese hiragana + kanji
    "\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a\u3068\u6f22\u5b57",
    "\u6771\u4eac\u306f\u65e5\u672c\u306e\u9996\u90fd\u3067\u3059\u3002",
    "\uff8a\uff9d\uff76\uff78",  # halfwidth katakana (NFC keeps them)
    "\ud55c\uad6d\uc5b4",  # Hangul syllables
    "\uc548\ub155\ud558\uc138\uc694, \uc138\uacc4!",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",  # Russian
    "\u0415\u0449\u0451 \u0440\u0430\u0437: \u0451\u043b\u043a\u0430",
    "\u0435\u0308\u043b\u043a\u0430",  # Cyrillic e + combining diaeresis -> NFC yo
    "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5",  # Greek with tonos
    "\u03ac\u03ad\u03ae\u03af\u03cc\u03cd\u03ce \u0390\u03b0",
    "\u03b1\u0301",  # alpha + combining acute -> NFC alpha-tonos
    "\u1f71",  # GREEK SMALL LETTER ALPHA WITH OXIA: NFC maps to U+03AC
    "\u037e",  # GREEK QUESTION MARK: NFC maps to ';'
    "\u0391\u0392\u0393 \u03b1\u03b2\u03b3 \u03a9",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",  # Hebrew
    "\u05e2\u05b4\u05d1\u05b0\u05e8\u05b4\u05d9\u05ea",  # Hebrew with niqqud
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",  # Arabic
    "\u0627\u0644\u0644\u063a\u0629 \u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "\u0628\u0650\u0633\u0652\u0645\u0650",  # Arabic with harakat
    "\u200f\u05e9\u05dc\u05d5\u05dd\u200f",  # RLM around Hebrew
    "abc \u200f\u0645\u0631\u062d\u0628\u0627\u200e def",
    "\u202eevil\u202c",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",  # Hindi
    "\u0939\u093f\u0928\u094d\u0926\u0940",
    "\u0915\u094d\u0937",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",  # Thai
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0",  # Georgian
    "\u0532\u0561\u0580\u0565\u0582",  # Armenian
    "\u13a0\u13a1\u13a2",  # Cherokee
    "\U00010348",  # Gothic letter hwair (4-byte UTF-8, Lo)
    "\U00020000",  # CJK Ext B (4-byte UTF-8)
    "\U0001d400\U0001d401",  # mathematical bold A B (Lu, NFC keeps)
    "mixed English \u4e2d\u6587 \u0440\u0443\u0441\u0441\u043a\u0438\u0439 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 123",
]

_EMOJI = [
    "\U0001f600",
    "\U0001f600\U0001f601\U0001f602",
    "I love it \U0001f60d!",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",  # family ZWJ
    "\U0001f469\u200d\U0001f4bb",
    "\U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag
    "\U0001f44d",
    "\U0001f44d\U0001f3fd",  # skin tone modifier
    "\U0001f44b\U0001f3fb\U0001f44b\U0001f3ff",
    "\U0001f1eb\U0001f1f7",  # flag FR
    "\U0001f1fa\U0001f1f8\U0001f1ef\U0001f1f5",
    "1\ufe0f\u20e3",  # keycap 1
    "#\ufe0f\u20e3",
    "\u2764\ufe0f",
    "\u2764\ufe0e",
    "\u263a",
    "\u2614\ufe0f rain",
    "ok\U0001f44c\U0001f3fcok",
    " \U0001f600",
    "\U0001f9d1\U0001f3fe\u200d\U0001f91d\u200d\U0001f9d1\U0001f3fb",
]

_ZERO_WIDTH_AND_CONTROL = [
    "a\u200bb",
    "a\u200cb",
    "a\u200db",
    "\ufeffBOM at start",
    "a\ufeffb",
    "a\u2060b",
    "\u200b",
    "\ufeff",
    "\u200b\u200b\u200b",
    "zero\u200bwidth\u200bspace",
    "\x00",
    "a\x00b",
    "\x07bell",
    "\x1b[31mred\x1b[0m",
    "\x01\x02\x03\x04\x05\x06\x08",
    "\x7f",
    "\x7fdel",
    "\u0080\u0081\u009f",
    "\x00\x00\x00",
    "nul\x00 after",
]

_SYMBOLS = [
    "\u2200x \u2208 \u211d: x\u00b2 \u2265 0",
    "\u222b\u2080\u00b9 f(x) dx \u2248 \u2211 f(x\u1d62)\u0394x",
    "\u03c0 \u2248 3.14159",
    "a \u00d7 b \u00f7 c \u00b1 d",
    "\u221a2 \u2260 1.5",
    "\u2190\u2191\u2192\u2193\u2194",
    "\u2605\u2606\u2665\u2660",
    "$100 \u20ac200 \u00a3300 \u00a5400 \u20b9500 \u20bf0.1",
    "\u00a2\u20a9\u20bd",
    "\u00b2\u00b3",
    "x\u00b2 + y\u00b3",
    "\u00bd",
    "\u00bc \u00be \u2153",
    "1\u00bd cups",
    "\u216b",  # Roman numeral twelve (Nl)
    "Chapter \u216b",
    "\u2160\u2161\u2162",
    "\u2460\u2461\u2462",  # circled digits (No)
    "\u2070\u2071\u207f",
    "H\u2082O",  # subscript two (No)
    "\u00a9 \u00ae \u2122",
    "\u00b0C",
    "\u2103",
    "\u2116 5",
    "\u00a7 4.2 \u00b6 3",
    "\u2026",
    "\u2022 bullet",
    "\u00b7",
]

_EDGE = [
    "",
    "a" * 300,
    "ab" * 150,
    "\u00e9" * 100,
    "\u4e2d" * 100,
    "1" * 300,
    "!" * 200,
    " " * 100,
    "\n" * 50,
    "\U0001f600" * 40,
    "Supercalifragilisticexpialidocious" * 5,
    "word " * 60,
    "x" * 1000,
]

# Fragments for the pseudo-random strings: a little of everything above,
# plus bare separators so that fragments collide in interesting ways
# (e.g. a space before a combining mark, digits glued to letters).
_FRAGMENTS = [
    "the", "The", " of", " and", "Elizabeth", "Darcy", " a", "Mr.", "Mrs",
    "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "\u2019s", "'",
    "0", "7", "42", "1234567890", "3.14", "1,000", "abc123", "x9",
    "!", "!!!", "...", "?!?", "--", "<|mask|>", "<|endoftext|>", "<|", "|>",
    ",", ".", ";", "(", ")", "\"", "-",
    " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", " \n",
    "\u00a0", "\u3000", "\u2009", "\u2028", "\u0085", "\x0b", "\x0c",
    "\u00e9", "e\u0301", "\u0301", "\u0308", "Vi\u1ec7t", "\u1100\u1161\u11a8",
    "\ufb01", "\ufb02", "\ufb00",
    "\u4e2d\u6587", "\u65e5\u672c\u8a9e", "\u3072\u3089\u304c\u306a", "\u30ab\u30bf",
    "\ud55c\uad6d", "\u041c\u043e\u0441\u043a\u0432\u0430", "\u03ba\u03cc\u03c3\u03bc\u03bf\u03c2",
    "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627", "\u200f",
    "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e44\u0e17\u0e22",
    "\U0001f600", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f44d\U0001f3fd", "\U0001f1eb\U0001f1f7", "1\ufe0f\u20e3", "\ufe0f",
    "\u200b", "\u200c", "\u200d", "\ufeff", "\u2060",
    "\x00", "\x07", "\x1b",
    "\u2211", "\u2248", "\u20ac", "$", "\u00b2", "\u00bd", "\u216b",
    "\U00010348",
]


def _random_strings(count=100):
    # Private generator with a fixed seed: the module must never touch the
    # global `random` state, and must give the same output on every run.
    rng = random.Random(1234)
    out = []
    for _ in range(count):
        n = rng.randint(1, 12)
        out.append("".join(rng.choice(_FRAGMENTS) for _ in range(n)))
    return out


def golden_strings():
    """Return the golden test strings (a fresh list; same content every call)."""
    strings = []
    for group in (
        _PROSE,
        _CONTRACTIONS,
        _DIGITS,
        _PUNCTUATION,
        _WHITESPACE,
        _ACCENTS,
        _LIGATURES,
        _SCRIPTS,
        _EMOJI,
        _ZERO_WIDTH_AND_CONTROL,
        _SYMBOLS,
        _EDGE,
    ):
        strings.extend(group)
    strings.extend(_random_strings())
    # Drop exact duplicates (keeping first occurrence) so every line of a
    # golden file is a distinct case.
    seen = set()
    strings = [s for s in strings if not (s in seen or seen.add(s))]
    # Every string must be encodable as UTF-8 (no lone surrogates), otherwise
    # the Swift side could not even represent it.
    for s in strings:
        s.encode("utf-8")
    return strings


if __name__ == "__main__":
    xs = golden_strings()
    print(len(xs), "strings,", len(set(xs)), "distinct")
