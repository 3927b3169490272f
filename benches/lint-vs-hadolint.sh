#!/usr/bin/env bash
# rbuild lint and hadolint, side by side, on the real-world corpus: both as
# one process over all 66 files, then as one process per file. Prints the
# best of N wall-clock times of each and the ratio.
# Usage: benches/lint-vs-hadolint.sh [RBUILD] [HADOLINT] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
RBUILD=${1:-target/release/rbuild}
HADOLINT=${2:-$(command -v hadolint)}
N=${3:-10}
CORPUS=../shared/conformance/real-world
mapfile -t FILES < <(ls -d "$CORPUS"/*/ | sed 's,/$,/Dockerfile,')
EMPTY=$(mktemp -d)
trap 'rm -rf "$EMPTY"' EXIT
export HOME=$EMPTY XDG_CONFIG_HOME=$EMPTY

best() { # best wall time in ms of N runs of "$@"
  local best=999999999 t0 t1 ms
  for _ in $(seq "$N"); do
    t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000 ))
    (( ms < best )) && best=$ms
  done
  echo "$best"
}
each() { local tool=$1; shift; for f in "${FILES[@]}"; do "$tool" "$@" "$f" >/dev/null 2>&1 || true; done; }

echo "files: ${#FILES[@]}, best of $N runs (microseconds)"
r1=$(best "$RBUILD" lint --format json "${FILES[@]}")
h1=$(best "$HADOLINT" --no-color --format json --no-fail "${FILES[@]}")
echo "one process, all files: rbuild $r1  hadolint $h1  ratio rbuild/hadolint $(awk "BEGIN{printf \"%.3f\", $r1/$h1}")"
r2=$(best each "$RBUILD" lint --format json)
h2=$(best each "$HADOLINT" --no-color --format json --no-fail)
echo "one process per file:   rbuild $r2  hadolint $h2  ratio rbuild/hadolint $(awk "BEGIN{printf \"%.3f\", $r2/$h2}")"
