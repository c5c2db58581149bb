#!/usr/bin/env bash
# CI stage 4: the README's test command (stage 3 built what it runs), with an xunit report
# read back into one closing line: `tests: N passed, N failed, N skipped`.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
swift test --parallel --disable-swift-testing --xunit-output .build/tests.xml || status=$?
python3 - .build/tests.xml <<'PY' | tee .build/tests-summary.txt
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
tests = sum(int(s.get("tests", 0)) for s in root.iter("testsuite"))
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in root.iter("testsuite"))
skipped = sum(1 for c in root.iter("testcase") if c.find("skipped") is not None)
print(f"tests: {tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
PY
exit $status
