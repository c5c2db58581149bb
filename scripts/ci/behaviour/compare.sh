#!/usr/bin/env bash
# Behaviour comparison of two builds of unmask / unmask-serve, run by hand around a
# restructuring: the same commands (every sampler, steering method, family fixture,
# server route and precision, and their errors) with both builds, outputs diffed.
#
#   bash scripts/ci/behaviour/compare.sh BEFORE_CHECKOUT AFTER_CHECKOUT [options]
#
# Each checkout must hold .build/debug/unmask and Server/.build/debug/unmask-serve (this
# script builds nothing). Every command of commands.txt and every request of
# server_requests.py runs once per side, sequentially, with that checkout as the working
# directory; outputs are normalised (time fields, checkout paths, ports, the chunking of
# streams) and diffed. One line per command: `same` or `DIFF` and the command, then the
# first lines of a unified diff for each DIFF; the last line is `N same, M differ`.
#
# Options:
#   --canonical      judge after mapping the refactor's known renames (reuse= -> cache=,
#                    --window -> --block, corruption-detector -> planner, window -> block);
#                    raw and canonical counts are printed either way
#   --out DIR        where raw outputs go (default $TMPDIR/unmask-behaviour): DIR/before, DIR/after
#   --reuse-before   do not run BEFORE again if DIR/before came from the same binaries and
#                    the same command lists
#   --diff-only      no runs: diff DIR/before and DIR/after as they are
#   --diff-lines N   diff lines shown per DIFF (default 14)
# Exit status: 0 when nothing differs (in the chosen mode), 1 otherwise, 2 on usage errors.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

pos=(); canonical=""; out="${TMPDIR:-/tmp}/unmask-behaviour"; reuse=0; diffonly=0; dl=14
while [ $# -gt 0 ]; do
  case "$1" in
    --canonical) canonical="--canonical" ;;
    --out) out="$2"; shift ;;
    --reuse-before) reuse=1 ;;
    --diff-only) diffonly=1 ;;
    --diff-lines) dl="$2"; shift ;;
    -h|--help) usage ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) pos+=("$1") ;;
  esac
  shift
done
[ ${#pos[@]} -eq 2 ] || usage
before="$(realpath "${pos[0]}")"; after="$(realpath "${pos[1]}")"

stamp() {  # identifies a side's run: binaries (path, size, mtime) and the harness files
  { for b in "$1/.build/debug/unmask" "$1/Server/.build/debug/unmask-serve"; do stat -c '%n %s %Y' "$b"; done
    cat "$HERE/commands.txt" "$HERE/server_requests.py" "$HERE/harness.py" "$HERE/heldout.txt" "$HERE"/fixtures/*; } | sha256sum | cut -d' ' -f1
}

for side in "$before" "$after"; do
  for b in .build/debug/unmask Server/.build/debug/unmask-serve; do
    [ -x "$side/$b" ] || { echo "missing $side/$b (build it first; this script builds nothing)" >&2; exit 2; }
  done
done

run_side() {  # label checkout
  local label="$1" dir="$2" t0 t1
  t0=$(date +%s.%N)
  echo "== running $label: $dir" >&2
  python3 "$HERE/harness.py" run "$dir" "$out/$label" 2> "$out/$label.log" || { echo "harness failed on $label; see $out/$label.log" >&2; exit 2; }
  t1=$(date +%s.%N)
  stamp "$dir" > "$out/$label/stamp"
  printf '%s run time: %.1f s\n' "$label" "$(echo "$t1 - $t0" | bc)" > "$out/$label.time"
}

mkdir -p "$out"
if [ $diffonly -eq 0 ]; then
  if [ $reuse -eq 1 ] && [ -f "$out/before/stamp" ] && [ "$(cat "$out/before/stamp")" = "$(stamp "$before")" ]; then
    echo "== reusing the BEFORE run in $out/before ($(cat "$out/before.time" 2>/dev/null))" >&2
  else
    run_side before "$before"
  fi
  run_side after "$after"
fi
[ -f "$out/before.time" ] && cat "$out/before.time"
[ -f "$out/after.time" ] && cat "$out/after.time"
python3 "$HERE/harness.py" diff "$out/before" "$out/after" $canonical --diff-lines "$dl"
