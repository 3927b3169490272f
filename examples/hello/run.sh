#!/usr/bin/env bash
# Builds examples/hello with rbuild (its base is made FROM scratch with the
# static busybox of Debian's busybox-static), exports it as an OCI layout,
# unpacks it with umoci and runs it with runc. Needs root (namespaces,
# overlayfs, runc).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
cargo build --release --locked
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/hello "$work/ctx"
cp /bin/busybox "$work/ctx/busybox"
./target/release/rbuild build -t hello:latest --output "type=oci,dest=$work/oci" "$work/ctx"
umoci unpack --image "$work/oci:latest" "$work/bundle" >/dev/null
# No terminal: the output goes to this script's stdout.
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["process"]["terminal"] = False
json.dump(config, open(path, "w"))
PY
runc run --bundle "$work/bundle" "rbuild-hello-$$"
