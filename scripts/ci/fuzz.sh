#!/usr/bin/env bash
# Coverage-guided fuzzing of every input Unmask reads (docs/fuzzing.md).
#   bash scripts/ci/fuzz.sh [SECONDS] [TARGET ...]     default: 60 s each, every target
#   bash scripts/ci/fuzz.sh --build-only               the build alone (CI starts it early)
#   bash scripts/ci/fuzz.sh --skip-build [SECONDS]     run what that build left (this build
#                                                      is never incremental: with the fuzzer
#                                                      flags every file compiles again)
# Builds Fuzz/ with libFuzzer and AddressSanitizer (LeakSanitizer included), Unmask's
# modules instrumented for coverage as well as the targets, then runs each target from its
# committed seeds (Fuzz/Corpus/TARGET) for SECONDS, two targets at a time. New inputs go to
# a scratch corpus under .build, never into the committed seeds. A crash, a property violation, a
# leak or an input slower than 10 s stops the target: the input is saved under
# Fuzz/.build/artifacts/TARGET/ and the script exits 1.
set -euo pipefail
cd "$(dirname "$0")/../../Fuzz"
build_only=false; skip_build=false
[ "${1:-}" = --build-only ] && { build_only=true; shift; }
[ "${1:-}" = --skip-build ] && { skip_build=true; shift; }
seconds=${1:-60}; shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(FuzzJSON FuzzSafetensors FuzzTokenizerFile FuzzEncode FuzzHuggingFaceConfig FuzzSpecs FuzzSampleFile FuzzServerRequest)
fi
# The linker warns about every ASan helper symbol it cannot export (harmless): keep the
# build's output in a log and show it only if the build fails.
mkdir -p .build
# --sanitize instruments only this package's own targets; the -Xswiftc/-Xcc flags carry
# coverage and ASan into Unmask's modules (Swift and C), which are what is being fuzzed.
if ! $skip_build && ! swift build --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address \
        -Xcc -fsanitize=fuzzer-no-link > .build/fuzz-build.log 2>&1; then
    grep -v "Cannot export local symbol" .build/fuzz-build.log | tail -30; exit 1
fi
$build_only && exit 0
# One target per core, two at a time: each is one process, and a campaign of N targets
# takes N/2 rounds of SECONDS. A target's summary is printed when its pair is done.
run_target() {
    local t=$1 work=.build/corpus/$1 artifacts=.build/artifacts/$1
    mkdir -p "$work" "$artifacts"
    .build/debug/"$t" "$work" "Corpus/$t" -dict=json.dict -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=4096 -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" 2> ".build/$t.log"
}
report() {
    local t=$1 code=$2
    echo "== $t: $seconds s"
    if [ "$code" -ne 0 ]; then echo "$t FAILED: see Fuzz/.build/$t.log and .build/artifacts/$t/"; status=1; fi
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|cov: " ".build/$t.log" | tail -5
}
status=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
    first=${targets[i]}; second=${targets[i + 1]:-}
    run_target "$first" & p1=$!
    if [ -n "$second" ]; then run_target "$second" & p2=$!; fi
    c1=0; wait $p1 || c1=$?
    report "$first" $c1
    if [ -n "$second" ]; then c2=0; wait $p2 || c2=$?; report "$second" $c2; fi
done
exit $status
