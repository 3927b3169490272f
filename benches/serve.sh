#!/usr/bin/env bash
# The docker CLI building through `rbuild serve` against the docker CLI
# building through dockerd, side by side in one run, alternating.
#
#   benches/serve.sh [CASE] [RUNS]      (default basic, 5)
#
# Each round times, on the bench corpus's CASE:
#   rbuild cold   `DOCKER_BUILDKIT=0 docker build` to `rbuild serve` on a fresh
#                 store that holds only busybox:local
#   rbuild noop   the same build again
#   native cold   `rbuild build -H` to a fresh `rbuild serve` (the thin stream)
#   native noop   the same build again
#   docker cold   `docker build` to dockerd (the reference: docker 26.1 with its
#                 BuildKit, DOCKER="docker -H unix:///run/docker26.sock"), after
#                 `docker builder prune -af`
#   docker noop   the same build again
# and prints the rounds, the medians and the ratios; then, after the case's
# change.sh, the bytes of context each client sent for the rebuild: the
# classic tar (the docker CLI's "Sending build context") and the thin stream. The client is the CLI at
# CLIENT (default /usr/bin/docker, Debian's 20.10) for rbuild and $DOCKER for
# dockerd. Needs the bench corpus (../shared/bench) and a release build of
# rbuild (RBUILD); not part of the tests.
set -euo pipefail
CASE=${1:-basic}
RUNS=${2:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$HERE/../shared/bench}
RBUILD=${RBUILD:-$HERE/target/release/rbuild}
CLIENT=${CLIENT:-/usr/bin/docker}
DOCKER=${DOCKER:-docker -H unix:///run/docker26.sock}
[ -x "$RBUILD" ] || { echo "build it first: cargo build --release" >&2; exit 2; }
[ -x "$BENCH/$CASE/gen.sh" ] || { echo "no bench case $BENCH/$CASE" >&2; exit 2; }
WORK=$(mktemp -d /tmp/rbuild-bench-serve.XXXXXX)
# shellcheck source=benches/common.sh
. "$HERE/benches/common.sh"
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

CTX=$WORK/ctx
bash "$BENCH/$CASE/gen.sh" "$CTX" >/dev/null
busybox_base "$WORK/seed"
$DOCKER load -i "$WORK/base.tar" >/dev/null

SOCK=$WORK/rbuild.sock
start_server() {
  [ -n "$SERVER" ] && { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; }
  rm -rf "$WORK/store"
  RBUILD_ROOT=$WORK/store "$RBUILD" load -i "$WORK/base.tar" >/dev/null
  RBUILD_ROOT=$WORK/store "$RBUILD" serve -H "unix://$SOCK" 2>"$WORK/serve.log" &
  SERVER=$!
  until grep -q DOCKER_HOST "$WORK/serve.log" 2>/dev/null; do sleep 0.02; done
}
timed() { local t0 t1; t0=$(now); "$@" >"$WORK/round.log" 2>&1 || { cat "$WORK/round.log" >&2; exit 1; }; t1=$(now); elapsed "$t0" "$t1"; }
through_rbuild() { DOCKER_HOST=unix://$SOCK DOCKER_BUILDKIT=0 $CLIENT build -t "bench-$CASE" "$CTX"; }
through_docker() { $DOCKER build -t "bench-$CASE" "$CTX"; }
through_native() { "$RBUILD" build -H "unix://$SOCK" --progress=plain --report "$WORK/native.json" -t "bench-$CASE" "$CTX"; }

RC=() RN=() NC=() NN=() DC=() DN=()
for i in $(seq "$RUNS"); do
  start_server
  rc=$(timed through_rbuild); rn=$(timed through_rbuild)
  start_server
  nc=$(timed through_native); nn=$(timed through_native)
  $DOCKER builder prune -af >/dev/null
  dc=$(timed through_docker); dn=$(timed through_docker)
  echo "round $i: docker CLI→rbuild cold ${rc}s noop ${rn}s   rbuild -H cold ${nc}s noop ${nn}s   docker CLI→dockerd cold ${dc}s noop ${dn}s"
  RC+=("$rc") RN+=("$rn") NC+=("$nc") NN+=("$nn") DC+=("$dc") DN+=("$dn")
done
mrc=$(median "${RC[@]}") mrn=$(median "${RN[@]}") mnc=$(median "${NC[@]}") mnn=$(median "${NN[@]}") mdc=$(median "${DC[@]}") mdn=$(median "${DN[@]}")
echo "median: docker CLI→rbuild serve cold ${mrc}s noop ${mrn}s; rbuild -H cold ${mnc}s noop ${mnn}s; docker CLI→dockerd cold ${mdc}s noop ${mdn}s"
python3 -c "print(f'ratio to dockerd: docker CLI→rbuild cold {$mrc/$mdc:.2f}x noop {$mrn/$mdn:.2f}x; rbuild -H cold {$mnc/$mdc:.2f}x noop {$mnn/$mdn:.2f}x')"

# One change: the context bytes each client sends for the rebuild.
if [ -x "$BENCH/$CASE/change.sh" ]; then
  start_server
  through_rbuild >/dev/null 2>&1; through_native >/dev/null 2>&1
  bash "$BENCH/$CASE/change.sh" "$CTX" >/dev/null
  through_rbuild >"$WORK/classic.log" 2>&1
  classic=$(grep -o 'Sending build context to Docker daemon *[0-9.]*[kMG]*B' "$WORK/classic.log" | awk '{print $NF}')
  through_native >/dev/null 2>&1
  thin=$(python3 -c "import json; c=json.load(open('$WORK/native.json'))['context']; print(f\"{c['bytes_sent']} bytes in {c['files_sent']} file(s), {c['files_skipped']} held\")")
  echo "one change: the classic tar sends $classic; the thin stream $thin"
fi
