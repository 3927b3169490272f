#!/usr/bin/env bash
# Pull and push of one image (8 layers of incompressible data, 200 MB in all)
# against a docker-registry on loopback: rbuild side by side with skopeo, in
# one run, alternating, so both see the same machine.
#
#   benches/registry.sh [RUNS]      (default 5)
#
# pull: `rbuild pull` into an empty store   vs  `skopeo copy docker://… oci:DIR`
# push: `rbuild push` to an empty registry  vs  `skopeo copy oci:DIR docker://…`
# Prints each round's wall seconds, then the medians and rbuild/skopeo ratios.
# Needs docker-registry and skopeo (.ci/setup installs both) and a release build
# (`cargo build --release`); not part of the tests.
set -euo pipefail
RUNS=${1:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
RBUILD=${RBUILD:-$HERE/target/release/rbuild}
[ -x "$RBUILD" ] || { echo "build it first: cargo build --release" >&2; exit 2; }
WORK=$(mktemp -d /tmp/rbuild-bench-registry.XXXXXX)
# shellcheck source=benches/common.sh
. "$HERE/benches/common.sh"
cleanup() { stop_registries; rm -rf "$WORK"; }
trap cleanup EXIT
export DOCKER_CONFIG=$WORK/docker RBUILD_CONFIG=$WORK/none.toml CONTAINERS_REGISTRIES_CONF=$WORK/none.conf

# The image: 8 layers of 25 MB from /dev/urandom (gzip cannot shrink them).
CTX=$WORK/ctx
mkdir -p "$CTX"
{ echo "FROM scratch"; for i in 1 2 3 4 5 6 7 8; do
    head -c 25000000 /dev/urandom >"$CTX/layer$i.bin"; echo "COPY layer$i.bin /"; done; } >"$CTX/Dockerfile"
SRC=$(start_registry source)
IMAGE=$SRC/bench/big:1
RBUILD_ROOT=$WORK/build-store "$RBUILD" build --progress=plain -t "$IMAGE" "$CTX" >/dev/null 2>&1
RBUILD_ROOT=$WORK/build-store "$RBUILD" push -q "$IMAGE" >/dev/null
echo "image $IMAGE: $(du -sh "$WORK/source/storage" | cut -f1) in the registry"

declare -a RP SP RU SU
for round in $(seq "$RUNS"); do
  rm -rf "$WORK/pull-store" "$WORK/oci"
  t0=$(now); RBUILD_ROOT=$WORK/pull-store "$RBUILD" pull -q "$IMAGE" >/dev/null; t1=$(now)
  skopeo copy -q --src-tls-verify=false "docker://$IMAGE" "oci:$WORK/oci:big" ; t2=$(now)
  RP+=("$(elapsed "$t0" "$t1")"); SP+=("$(elapsed "$t1" "$t2")")
  got=$(du -sm "$WORK/pull-store/blobs" | cut -f1)
  [ "$got" -ge 190 ] || { echo "rbuild pull stored only ${got} MB" >&2; exit 1; }

  DST=$(start_registry "push-$round-a"); DST2=$(start_registry "push-$round-b")
  # A cached rebuild names the image for the new registry (untimed).
  RBUILD_ROOT=$WORK/build-store "$RBUILD" build --progress=plain -t "$DST/bench/big:1" "$CTX" >/dev/null 2>&1
  t0=$(now); RBUILD_ROOT=$WORK/build-store "$RBUILD" push -q "$DST/bench/big:1" >/dev/null; t1=$(now)
  skopeo copy -q --dest-tls-verify=false "oci:$WORK/oci:big" "docker://$DST2/bench/big:1"; t2=$(now)
  RU+=("$(elapsed "$t0" "$t1")"); SU+=("$(elapsed "$t1" "$t2")")
  echo "round $round: pull rbuild ${RP[-1]}s skopeo ${SP[-1]}s | push rbuild ${RU[-1]}s skopeo ${SU[-1]}s"
done
mp_r=$(median "${RP[@]}"); mp_s=$(median "${SP[@]}"); mu_r=$(median "${RU[@]}"); mu_s=$(median "${SU[@]}")
echo "median pull: rbuild ${mp_r}s skopeo ${mp_s}s ratio $(python3 -c "print(f'{$mp_r/$mp_s:.2f}')")"
echo "median push: rbuild ${mu_r}s skopeo ${mu_s}s ratio $(python3 -c "print(f'{$mu_r/$mu_s:.2f}')")"
