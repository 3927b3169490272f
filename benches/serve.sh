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
#   docker cold   `docker build` to dockerd (the reference: docker 26.1 with its
#                 BuildKit, DOCKER="docker -H unix:///run/docker26.sock"), after
#                 `docker builder prune -af`
#   docker noop   the same build again
# and prints the rounds, the medians and the ratios. The client is the CLI at
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
mkdir -p "$WORK/base"
cp /bin/busybox "$WORK/base/busybox"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nENV PATH=/bin\n' >"$WORK/base/Dockerfile"
RBUILD_ROOT=$WORK/seed "$RBUILD" build -t busybox:local "$WORK/base" >/dev/null 2>&1
RBUILD_ROOT=$WORK/seed "$RBUILD" save -o "$WORK/base.tar" busybox:local
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

RC=() RN=() DC=() DN=()
for i in $(seq "$RUNS"); do
  start_server
  rc=$(timed through_rbuild); rn=$(timed through_rbuild)
  $DOCKER builder prune -af >/dev/null
  dc=$(timed through_docker); dn=$(timed through_docker)
  echo "round $i: rbuild cold ${rc}s noop ${rn}s   docker cold ${dc}s noop ${dn}s"
  RC+=("$rc") RN+=("$rn") DC+=("$dc") DN+=("$dn")
done
mrc=$(median "${RC[@]}") mrn=$(median "${RN[@]}") mdc=$(median "${DC[@]}") mdn=$(median "${DN[@]}")
echo "median: rbuild serve cold ${mrc}s noop ${mrn}s; dockerd cold ${mdc}s noop ${mdn}s"
python3 -c "print(f'ratio rbuild/docker: cold {$mrc/$mdc:.2f}x  noop {$mrn/$mdn:.2f}x')"
