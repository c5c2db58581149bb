#!/usr/bin/env bash
# The test suite under a sanitizer (docs/fuzzing.md § Sanitizers).
#   bash scripts/ci/sanitize.sh thread  [FILTER]   ThreadSanitizer
#   bash scripts/ci/sanitize.sh address [FILTER]   AddressSanitizer (LeakSanitizer included),
#                                               then the CLI's main paths for leaks
#   bash scripts/ci/sanitize.sh KIND --build-only      the build alone (CI starts it early)
# FILTER is a `swift test --filter` pattern (default: every test). Each sanitizer builds
# in its own scratch directory (.build-tsan, .build-asan), so the ordinary build is left
# alone. Any report fails the run: the sanitizer's own exit code is not trusted for that
# (a report inside a test that still passes leaves XCTest's exit 0), so the log is read.
set -euo pipefail
cd "$(dirname "$0")/../.."
kind=${1:?usage: sanitize.sh thread|address [FILTER]}
filter=${2:-}
build_only=false
[ "$filter" = --build-only ] && { build_only=true; filter=; }
case $kind in
    thread)  scratch=.build-tsan; marker="WARNING: ThreadSanitizer" ;;
    address) scratch=.build-asan; marker="ERROR: (AddressSanitizer|LeakSanitizer)" ;;
    *) echo "error: sanitize.sh takes thread or address, got $kind" >&2; exit 2 ;;
esac
mkdir -p "$scratch"
log=$scratch/sanitize-$kind.log
echo "== building the tests with --sanitize=$kind ($scratch)"
# The linker's warnings about ASan helper symbols it cannot export are noise: keep the
# build's output in a log and show it only if the build fails.
if ! swift build --build-tests --sanitize="$kind" --scratch-path "$scratch" > "$scratch/build.log" 2>&1; then
    grep -v "Cannot export local symbol" "$scratch/build.log" | tail -30; exit 1
fi
$build_only && exit 0
# halt_on_error=0: report every race, not only the first. report_signal_unsafe=0: TSan
# also flags calls inside signal handlers, and XCTest's own crash handler makes them.
export TSAN_OPTIONS="halt_on_error=0 report_signal_unsafe=0 ${TSAN_OPTIONS:-}"
export ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}"
args=(--skip-build --sanitize="$kind" --scratch-path "$scratch" --disable-swift-testing)
[ -n "$filter" ] && args+=(--filter "$filter")
echo "== swift test ${args[*]}"
status=0
swift test "${args[@]}" > "$log" 2>&1 || status=$?
grep -E "Executed [0-9]+ tests" "$log" | tail -1
if [ "$kind" = thread ]; then
    reports=$(grep -cE "$marker" "$log" || true)
else
    # XCTest leaks one object of its own (a weak reference taken in awaitUsingExpectation),
    # and through it every test case it ran and what they hold: LeakSanitizer reports that
    # as one direct leak and many indirect ones. A leak of ours is a direct leak whose
    # allocation stack is not XCTest's, so those are counted (anything reachable only from
    # XCTest's object is XCTest's), with every AddressSanitizer error.
    errors=$(grep -c "ERROR: AddressSanitizer" "$log" || true)
    ours=$(awk '/^Direct leak/ { block = 1; xctest = 0; frames = 0; next }
                block && /^$/ { if (!xctest) n++; block = 0; next }
                block && / #[0-9]+ / { frames++; if (frames <= 8 && /XCTest/) xctest = 1 }
                END { if (block && !xctest) n++; print n + 0 }' "$log")
    xct=$(grep -c "^Direct leak" "$log" || true)
    echo "LeakSanitizer: $((xct - ours)) direct leak(s) of XCTest's own, $ours of ours"
    reports=$((errors + ours))
fi
echo "$reports sanitizer reports (log: $log)"
if [ "$kind" = address ]; then
    # The CLI's main paths, each a process of its own, so LeakSanitizer checks it at exit.
    swift build --product unmask --sanitize=address --scratch-path "$scratch" > "$scratch/build-cli.log" 2>&1 \
        || { tail -20 "$scratch/build-cli.log"; exit 1; }
    bin=$scratch/debug/unmask
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    expect=0
    run() {
        echo "== unmask $*"
        local rc=0
        "$bin" "$@" > "$tmp/out" 2> "$tmp/err" || rc=$?
        if [ $((rc != 0)) -ne "$expect" ]; then echo "exit $rc"; tail -5 "$tmp/err"; status=1; fi
        # No XCTest here: every report is ours.
        if grep -qE "$marker" "$tmp/err"; then grep -E -A12 "$marker" "$tmp/err" | head -40; reports=$((reports + 1)); fi
    }
    run info --model models/denoiser
    echo "It is a truth universally acknowledged" > "$tmp/text"
    run tokenize < "$tmp/text"
    run generate --length 32 --samples 2 --seed 1 --json
    cp "$tmp/out" "$tmp/samples.jsonl"
    run eval "$tmp/samples.jsonl"
    run compare --length 24 --samples 2 --sampler fhs --sampler ancestral
    run generate --length 24 --seed 2 --steer smc:particles=4 --reward words:include=love,happy
    run generate --model models/denoiser --length 16 --seed 3 --compute int8
    expect=1   # error paths: refused with one line, and nothing leaked on the way out
    run info --model /nonexistent-folder
    run generate --length 16 --sampler "fhs:top_p=2"
    expect=0
    echo "$reports sanitizer reports in all"
fi
[ "$reports" -eq 0 ] && [ "$status" -eq 0 ]
