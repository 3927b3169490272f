# Helpers the bench scripts share. Source it after setting WORK (a temp
# directory the script removes at exit) and call stop_registries at exit.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_registry NAME: a fresh docker-registry on loopback, its data in
# $WORK/NAME; prints HOST:PORT. Its pid goes to $WORK/registry.pids, so it is
# stopped even when started inside $(…).
start_registry() {
  local port dir
  port=$(free_port); dir=$WORK/$1
  mkdir -p "$dir"
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$dir/storage" "$port" >"$dir/config.yml"
  docker-registry serve "$dir/config.yml" >/dev/null 2>&1 &
  echo $! >>"$WORK/registry.pids"
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
  echo "127.0.0.1:$port"
}

stop_registries() {
  if [ -f "$WORK/registry.pids" ]; then xargs -r kill <"$WORK/registry.pids" 2>/dev/null || true; fi
}

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }
median() { python3 -c 'import sys,statistics; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")' "$@"; }

# busybox_base STORE: busybox:local, made as the tests make it (FROM scratch
# with Debian's static busybox), built into the store STORE with $RBUILD and
# saved to $WORK/base.tar for every fresh store.
busybox_base() {
  mkdir -p "$WORK/base"
  cp /bin/busybox "$WORK/base/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nENV PATH=/bin\n' >"$WORK/base/Dockerfile"
  RBUILD_ROOT=$1 "$RBUILD" build -t busybox:local "$WORK/base" >/dev/null 2>&1
  RBUILD_ROOT=$1 "$RBUILD" save -o "$WORK/base.tar" busybox:local
}
