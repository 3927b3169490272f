#!/usr/bin/env bash
# A CI runner's cold build of a bench-corpus case with and without the shared
# cache another runner exported, in one run, alternating.
#
#   benches/shared_cache.sh [CASE] [RUNS]      (default parallel-stages, 5)
#
# Runner A builds CASE once with --cache-to type=registry,…,mode=max into a
# docker-registry on loopback. Each round then times, on a fresh store that
# holds only busybox:local:
#   cold      `rbuild build` with no cache at all
#   shared    `rbuild build --cache-from type=registry,ref=…`
# and, when DOCKER is set to a docker CLI whose daemon runs (the reference is
# docker 26.1: DOCKER="docker -H unix:///run/docker26.sock"), docker's own
# cold build with `--cache-from` of an inline-cache image A pushed, after
# `docker builder prune -af`. Prints each round, the medians and ratios.
# Needs the bench corpus (../shared/bench), docker-registry, and a build of
# rbuild (RBUILD, default target/release/rbuild); not part of the tests.
set -euo pipefail
CASE=${1:-parallel-stages}
RUNS=${2:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$HERE/../shared/bench}
RBUILD=${RBUILD:-$HERE/target/release/rbuild}
[ -x "$RBUILD" ] || { echo "build it first: cargo build --release" >&2; exit 2; }
[ -x "$BENCH/$CASE/gen.sh" ] || { echo "no bench case $BENCH/$CASE" >&2; exit 2; }
WORK=$(mktemp -d /tmp/rbuild-bench-shared.XXXXXX)
# shellcheck source=benches/common.sh
. "$HERE/benches/common.sh"
cleanup() { stop_registries; rm -rf "$WORK"; }
trap cleanup EXIT
export DOCKER_CONFIG=$WORK/docker RBUILD_CONFIG=$WORK/none.toml CONTAINERS_REGISTRIES_CONF=$WORK/none.conf
export SOURCE_DATE_EPOCH=1700000000
HOST=$(start_registry registry)

CTX=$WORK/ctx
bash "$BENCH/$CASE/gen.sh" "$CTX" >/dev/null
busybox_base "$WORK/a"
REF=$HOST/cache/$CASE:main
RBUILD_ROOT=$WORK/a "$RBUILD" build --progress=plain -t "bench-$CASE" --cache-to "type=registry,ref=$REF,mode=max" "$CTX" >"$WORK/a.log" 2>&1

fresh() { rm -rf "$WORK/b"; RBUILD_ROOT=$WORK/b "$RBUILD" load -i "$WORK/base.tar" >/dev/null; }
timed() { local t0 t1; t0=$(now); "$@" >"$WORK/round.log" 2>&1 || { cat "$WORK/round.log" >&2; exit 1; }; t1=$(now); elapsed "$t0" "$t1"; }

if [ -n "${DOCKER:-}" ]; then
  $DOCKER load -i "$WORK/base.tar" >/dev/null
  DOCKER_BUILDKIT=1 $DOCKER build -q --build-arg BUILDKIT_INLINE_CACHE=1 -t "$HOST/docker/$CASE:cache" "$CTX" >/dev/null
  $DOCKER push -q "$HOST/docker/$CASE:cache" >/dev/null
fi
COLD=() SHARED=() DOCKERS=()
for i in $(seq "$RUNS"); do
  fresh; c=$(timed env RBUILD_ROOT="$WORK/b" "$RBUILD" build --progress=plain -t "bench-$CASE" "$CTX")
  fresh; s=$(timed env RBUILD_ROOT="$WORK/b" "$RBUILD" build --progress=plain -t "bench-$CASE" --cache-from "type=registry,ref=$REF" "$CTX")
  grep -q "running" "$WORK/round.log" && { echo "round $i: the shared build ran a step" >&2; cat "$WORK/round.log" >&2; exit 1; }
  line="round $i: cold ${c}s  shared ${s}s"
  COLD+=("$c") SHARED+=("$s")
  if [ -n "${DOCKER:-}" ]; then
    $DOCKER rmi -f "$HOST/docker/$CASE:cache" "bench-$CASE" >/dev/null 2>&1 || true
    $DOCKER builder prune -af >/dev/null
    d=$(timed env DOCKER_BUILDKIT=1 $DOCKER build --progress=plain --cache-from "$HOST/docker/$CASE:cache" -t "bench-$CASE" "$CTX")
    DOCKERS+=("$d"); line="$line  docker --cache-from ${d}s"
  fi
  echo "$line"
done
mc=$(median "${COLD[@]}") ms=$(median "${SHARED[@]}")
echo "median: cold ${mc}s  shared ${ms}s  shared/cold $(python3 -c "print(f'{$ms/$mc:.2f}')")"
if [ -n "${DOCKER:-}" ]; then
  md=$(median "${DOCKERS[@]}")
  echo "median: docker --cache-from ${md}s  rbuild shared/docker $(python3 -c "print(f'{$ms/$md:.2f}')")"
fi
