#!/usr/bin/env python3
"""Checks that the documentation's links and the sources' pointers into the repository lead somewhere.

    python3 scripts/ci/check_docs.py              # the repository this script sits in
    python3 scripts/ci/check_docs.py --self-test  # shows that each check can fail

Prints one line per problem, `path:line: what is wrong`, and exits 1 when there is any.
Python 3 standard library only; runs from any directory.

What it checks:
- every Markdown file (tracked, or new and not ignored by git): each relative link `[text](target)`,
  `![alt](target)` or `[label]: target` names a file or folder that exists, and its
  `#anchor` (a same-page `#anchor` too) is a heading of the target Markdown file, by
  GitHub's rule (lowercase; punctuation other than `-` and `_` dropped; each space a `-`;
  the second of two equal headings gets `-1`, the third `-2`), or an `<a id>` in it;
- every source file (`*.swift`, `*.sh`, `*.py`, `*.c`, `*.h`, `.ci/*`) and every Markdown
  file, outside its fenced code blocks: a repository-relative path it names (`docs/samplers.md`, `Sources/UnmaskModel/`,
  `Benchmarks/results/x.txt`; its first folder is one of the repository's) exists; a
  section it points to, in the forms the sources use, is a heading of the file:
  `docs/x.md#anchor`, `docs/x.md § Heading`, `docs/x.md, "Heading"`, `(README, "Heading")`;
- a `File.swift:123` pointer names a tracked file that has that line, and a Swift file named
  alone (`KeyValueCache.swift`) is a tracked file's name.

Not checked, on purpose: paths that a run creates (under `.build`, `scratch/`, `/tmp`),
placeholders (a part in capitals such as DIR or FILE, or holding `<`, `{`, `*`, `$`, `\\(`),
URLs, and paths inside a URL. ALLOWED_FOLDERS, ALLOWED_PATHS and NOT_READ below list the
few other exceptions, each with why.
"""

import os
import re
import subprocess
import sys
import tempfile
import unicodedata
import urllib.parse

# Folders a source or a page may name although they are not in the repository: a run
# creates them. Each with why.
ALLOWED_FOLDERS = {
    ".build": "SwiftPM's build folder, created by `swift build`",
    ".build-tsan": "scripts/ci/sanitize.sh's build folder for ThreadSanitizer",
    ".build-asan": "scripts/ci/sanitize.sh's build folder for AddressSanitizer",
    "scratch": "where the docs' training commands write their runs (ignored by git)",
    ".swiftpm": "SwiftPM's workspace state, created by Xcode or swift package",
}
# Paths that look like this repository's but are not, each with why.
ALLOWED_PATHS = {
    "models/dit.py": "MDLM's own model code, in its repository (kuleshov-group/mdlm)",
    "models/__init__": "the package of MDLM's repository that models/dit.py sits in",
    "models/hf/modeling_bd3lm.py": "BD3-LM's own model code, in its repository (kuleshov-group/bd3lms)",
    "vocab/embedding": "prose in a comment: LLaDA's vocabulary and embedding sizes, not a path",
    "models/planner": "the corruption detector's folder before it was renamed, which the behaviour harness "
                      "(scripts/ci/behaviour) finds in a checkout from before the rename",
}
# Files not read for pointers, each with why.
NOT_READ = {
    "scripts/ci/check_docs.py": "its documentation and self-test name files of a made-up repository",
}

SOURCE_SUFFIXES = (".swift", ".sh", ".py", ".c", ".h")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
INLINE_LINK = re.compile(r"!?\[((?:[^\[\]`]|`[^`]*`|\[[^\]]*\])*)\]\(\s*(<[^>]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
# A path as prose or code writes it: parts of letters, digits, `_`, `.`, `-`, joined by `/`.
# It starts at a word boundary that is not inside another path or a URL, or an interpolation.
PATH = re.compile(r"(?<![\w./\\$)}@:~-])((?:\.?[A-Za-z0-9_][A-Za-z0-9_.-]*/)+(?:[A-Za-z0-9_][A-Za-z0-9_.-]*)?"
                  r"|README\.md)(?![\w/(<{*-])")
SWIFT_FILE = re.compile(r"(?<![\w./\\-])([A-Za-z0-9_+-]+\.swift)\b(?![/\w(])")
LINE_POINTER = re.compile(r"(?<![\w./-])((?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+\.(?:swift|py|sh|c|h)):(\d+)\b")
SECTION_SIGN = re.compile(r"((?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+\.md|README)\s*§\s*([^)`\"\n]+)")
QUOTED_SECTION = re.compile(r"((?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+\.md|README),\s*[\"“]([^\"”\n]+)[\"”]")
ANCHORED_PATH = re.compile(r"(?<![\w./-])((?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+\.md)#([A-Za-z0-9_-]+)")


def slug(text):
    """GitHub's anchor for a heading: its text as rendered, lowercased, punctuation dropped."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)                       # inline HTML
    text = text.replace("`", "").replace("*", "").replace("~~", "")
    text = re.sub(r"(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9])", "", text)  # _emphasis_, not snake_case
    kept = []
    for c in text.lower():
        if c in " -_" or unicodedata.category(c)[0] in "LNM":
            kept.append("-" if c == " " else c)
    return "".join(kept)


class Repository:
    def __init__(self, root):
        self.root = root
        self.files = self._list_files()
        self.tracked = set(self.files)
        self.folders = {os.path.dirname(f) for f in self.files}
        for f in list(self.folders):
            while f:
                f = os.path.dirname(f)
                self.folders.add(f)
        self.top_level = {f.split("/")[0] for f in self.files if "/" in f} | set(ALLOWED_FOLDERS)
        self.by_name = {}
        for f in self.files:
            self.by_name.setdefault(os.path.basename(f), []).append(f)
        self._lines = {}
        self._anchors = {}

    def _list_files(self):
        """Tracked files and new ones git does not ignore, that exist; every file without git."""
        try:
            out = subprocess.run(["git", "-C", self.root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                 capture_output=True, check=True).stdout.decode()
            if subprocess.run(["git", "-C", self.root, "rev-parse", "--show-toplevel"], capture_output=True,
                              text=True).stdout.strip() == os.path.realpath(self.root):
                return sorted({f for f in out.split("\0") if f and os.path.isfile(os.path.join(self.root, f))})
        except (OSError, subprocess.CalledProcessError):
            pass
        found = []
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = [d for d in dirs if d != ".git" and not d.startswith(".build")]
            found += [os.path.relpath(os.path.join(folder, n), self.root) for n in names]
        return sorted(found)

    def exists(self, path):
        path = path.rstrip("/")
        return path in self.tracked or path in self.folders or os.path.exists(os.path.join(self.root, path))

    def lines(self, path):
        if path not in self._lines:
            try:
                with open(os.path.join(self.root, path), encoding="utf-8", errors="replace") as f:
                    self._lines[path] = f.read().splitlines()
            except OSError:
                self._lines[path] = []
        return self._lines[path]

    def anchors(self, path):
        """The anchors of a Markdown file: its headings' slugs (with -1, -2 for repeats) and <a id>s."""
        if path not in self._anchors:
            anchors, seen = set(), {}
            for _, line in markdown_lines(self.lines(path)):
                anchors.update(HTML_ANCHOR.findall(line))
                heading = HEADING.match(line)
                if heading:
                    base = slug(heading.group(2))
                    count = seen.get(base, 0)
                    seen[base] = count + 1
                    anchors.add(base if count == 0 else f"{base}-{count}")
            # Setext headings (text underlined with === or ---).
            lines = self.lines(path)
            for i in range(1, len(lines)):
                if re.match(r"^ {0,3}(=+|-+)\s*$", lines[i]) and lines[i - 1].strip() and not lines[i - 1].startswith(("|", "-", "*")):
                    anchors.add(slug(lines[i - 1].strip()))
            self._anchors[path] = anchors
        return self._anchors[path]


def markdown_lines(lines):
    """(line number, text) of the lines outside fenced code blocks."""
    fence = None
    for number, line in enumerate(lines, 1):
        m = FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)[0] * len(m.group(1))
                continue
            if m.group(1).startswith(fence) and not m.group(2).strip():
                fence = None
                continue
        if fence is None:
            yield number, line


def without_code_spans(line):
    return re.sub(r"(`+)(.+?)\1", lambda m: " " * len(m.group(0)), line)


def is_placeholder(path):
    parts = [p for p in path.strip("/").split("/") if p]
    return any(c in path for c in "<>{}*$\\") or any(re.fullmatch(r"[A-Z][A-Z0-9_]*(\.[a-z]+)?", p) and len(p) > 1 for p in parts)


def check_link(repo, source, number, target, problems):
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
        return  # a URL
    path, _, anchor = target.partition("#")
    path = urllib.parse.unquote(path)
    here = os.path.dirname(source)
    if path:
        if path.startswith("/"):
            problems.append(f"{source}:{number}: link to {target}: an absolute path; links are relative to the page")
            return
        resolved = os.path.normpath(os.path.join(here, path))
        if resolved.startswith(".."):
            problems.append(f"{source}:{number}: link to {target}: outside the repository")
            return
        if not repo.exists(resolved):
            problems.append(f"{source}:{number}: link to {target}: no such file {resolved}")
            return
    else:
        resolved = source
    if anchor:
        check_anchor(repo, source, number, target, resolved, anchor, problems)


def check_anchor(repo, source, number, shown, resolved, anchor, problems):
    if resolved.endswith(".md"):
        if urllib.parse.unquote(anchor).lower() not in repo.anchors(resolved):
            problems.append(f"{source}:{number}: {shown}: no heading of {resolved} has the anchor #{anchor}")
    elif re.fullmatch(r"L\d+(-L\d+)?", anchor) and os.path.isfile(os.path.join(repo.root, resolved)):
        last = int(anchor.split("-")[-1][1:])
        if last > len(repo.lines(resolved)):
            problems.append(f"{source}:{number}: {shown}: {resolved} has {len(repo.lines(resolved))} lines")


def check_markdown_links(repo, path, problems):
    for number, line in markdown_lines(repo.lines(path)):
        text = without_code_spans(line)
        for m in INLINE_LINK.finditer(text):
            check_link(repo, path, number, m.group(2).strip("<>"), problems)
        m = REFERENCE_DEFINITION.match(text)
        if m:
            check_link(repo, path, number, m.group(1).strip("<>"), problems)


def document(name):
    return "README.md" if name == "README" else name


def section_matches(repo, target, heading):
    """A pointer's heading text against the target's headings: equal slugs, or the pointer's
    text goes on past a heading (`docs/x.md § Heading, which says`)."""
    wanted = slug(heading.strip().rstrip(".,;:").strip())
    for anchor in repo.anchors(target):
        if wanted == anchor or wanted.startswith(anchor + "-"):
            return True
    return False


def check_mentions(repo, path, numbered_lines, problems):
    """Repository paths, section pointers and File.swift:123 pointers named in text."""
    shell = path.endswith(".sh") or path.startswith(".ci/")
    for number, line in numbered_lines:
        for m in PATH.finditer(line):
            mentioned = m.group(1)
            if mentioned.startswith("./"):
                mentioned = mentioned[2:]
            first = mentioned.split("/")[0]
            if "/" in mentioned and first not in repo.top_level:
                continue  # not repository-relative (a folder of a run, a URL's host, a relative fixture path)
            if first in ALLOWED_FOLDERS or mentioned.rstrip("/") in ALLOWED_PATHS or is_placeholder(mentioned) \
                    or "/.build" in mentioned:
                continue
            if "://" in line[max(0, m.start() - 80):m.start()] and re.search(r"\S+://\S*$", line[:m.start()]):
                continue  # inside a URL
            trimmed = mentioned.rstrip(".")
            if shell and "." not in trimmed.split("/")[-1] and any(f.startswith(trimmed) for f in repo.files):
                continue  # the stem of names a script completes, as in out=Benchmarks/results/x then $out.txt
            if not repo.exists(trimmed):
                problems.append(f"{path}:{number}: names {trimmed}, which does not exist")
        for pattern in (SECTION_SIGN, QUOTED_SECTION):
            for m in pattern.finditer(line):
                if m.start() > 0 and re.match(r"[\w/.-]", line[m.start() - 1]):
                    continue
                target = document(m.group(1))
                if not target.endswith(".md") or not repo.exists(target):
                    continue  # a missing file is reported as a path
                if not section_matches(repo, target, m.group(2)):
                    problems.append(f"{path}:{number}: points to {target}, \"{m.group(2).strip()}\": no such heading there")
        for m in ANCHORED_PATH.finditer(line):
            target = m.group(1)
            if repo.exists(target):
                check_anchor(repo, path, number, m.group(0), target, m.group(2), problems)
        for m in SWIFT_FILE.finditer(line):
            if m.group(1) not in repo.by_name and not re.match(r":\d", line[m.end():]):  # File.swift:12 is below
                problems.append(f"{path}:{number}: names {m.group(1)}, which is no tracked file's name")
        for m in LINE_POINTER.finditer(line):
            name, wanted = m.group(1), int(m.group(2))
            if "/" in name:
                candidates = [name] if name in repo.tracked else []
            else:
                candidates = repo.by_name.get(name, [])
            if not candidates:
                problems.append(f"{path}:{number}: {m.group(0)}: no tracked file {name}")
            elif all(len(repo.lines(c)) < wanted for c in candidates):
                longest = max(len(repo.lines(c)) for c in candidates)
                problems.append(f"{path}:{number}: {m.group(0)}: {candidates[0]} has {longest} lines")


def run(root):
    repo = Repository(root)
    problems = []
    for path in repo.files:
        if path.endswith(".md"):
            check_markdown_links(repo, path, problems)
            check_mentions(repo, path, ((n, without_link_targets(l)) for n, l in markdown_lines(repo.lines(path))), problems)
        elif (path.endswith(SOURCE_SUFFIXES) or path.startswith(".ci/")) and path not in NOT_READ:
            check_mentions(repo, path, enumerate(repo.lines(path), 1), problems)
    return problems


def without_link_targets(line):
    """A Markdown line without its links' targets (checked as links), so a path is checked once."""
    return INLINE_LINK.sub(lambda m: "[" + m.group(1) + "]", line)


def self_test():
    """A tiny repository with one good link and three bad pointers: exactly the three are reported."""
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "docs"))
        os.makedirs(os.path.join(root, "scripts"))
        with open(os.path.join(root, "docs", "guide.md"), "w") as f:
            f.write("# Guide\n\n## Real section\n\ntext\n\n## Real section\n\nagain\n")
        with open(os.path.join(root, "README.md"), "w") as f:
            f.write("# Tiny\n\n"
                    "Good: [the guide](docs/guide.md#real-section-1).\n"
                    "Broken link: [gone](docs/missing.md).\n"
                    "Broken anchor: [nowhere](docs/guide.md#no-such-section).\n")
        with open(os.path.join(root, "scripts", "run.sh"), "w") as f:
            f.write("#!/bin/sh\n# Good: docs/guide.md § Real section.\n# Broken: docs/guide.md § Imaginary section\n")
        problems = run(root)
    expected = ["README.md:4: link to docs/missing.md", "README.md:5: docs/guide.md#no-such-section",
                "scripts/run.sh:3: points to docs/guide.md, \"Imaginary section\""]
    ok = len(problems) == 3 and all(any(p.startswith(e) for p in problems) for e in expected)
    for p in problems:
        print("  reported: " + p)
    print("self-test " + ("passed: the three broken pointers, and nothing else, are reported" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        return 0
    if "--self-test" in sys.argv[1:]:
        return self_test()
    root = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    problems = run(root)
    for p in sorted(set(problems), key=lambda p: (p.split(":")[0], int(p.split(":")[1]), p)):
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
