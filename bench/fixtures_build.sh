#!/usr/bin/env bash
# Cold and warm fixture build times. Runs against a private dockerd, an empty cache and two private registries,
# so the shared engine, cache and registries are left alone. Usage: bench/fixtures_build.sh [--only NAME...]
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d /tmp/faktory-bench-fixtures.XXXXXX)"
sock="$work/docker.sock"
dockerd --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" -H "unix://$sock" \
  --iptables=false --bridge=none >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
cleanup() {
  .venv/bin/python - "$work" <<'PY' || true
import sys
from pathlib import Path
sys.path.insert(0, ".")
from tests.support.services import _read_pid, _terminate
for name in ("reg", "auth-reg"):
    pid = _read_pid(Path(sys.argv[1]) / name / "registry.pid")
    if pid:
        _terminate(pid)
PY
  kill "$dockerd_pid" 2>/dev/null && wait "$dockerd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export DOCKER_HOST="unix://$sock"
for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.3; done
ports="$(.venv/bin/python - "$work" <<'PY'
import socket, sys
from pathlib import Path
sys.path.insert(0, ".")
from tests.support.services import start_registry
ports = []
for _ in range(2):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); ports.append(s.getsockname()[1])
start_registry(ports[0], Path(sys.argv[1]) / "reg")
start_registry(ports[1], Path(sys.argv[1]) / "auth-reg", htpasswd=("faktory", "faktory-test"))
print(*ports)
PY
)"
read -r reg auth_reg <<<"$ports"
export FAKTORY_FIXTURES_CACHE="$work/cache"
args=(--registry "127.0.0.1:$reg" --auth-registry "127.0.0.1:$auth_reg" "$@")
t0=$(date +%s.%N); .venv/bin/python -m fixtures.build "${args[@]}" >"$work/cold.log" 2>&1 || { tail -40 "$work/cold.log"; exit 1; }
t1=$(date +%s.%N); .venv/bin/python -m fixtures.build "${args[@]}" >"$work/warm.log" 2>&1 || { tail -40 "$work/warm.log"; exit 1; }
t2=$(date +%s.%N)
grep -E "ready in|built in" "$work/cold.log" | sed 's/^/  /'
awk -v a="$t0" -v b="$t1" 'BEGIN{printf "fixtures cold build: %.1f s (debootstrap, wheels, builds, exports, pushes)\n", b-a}'
awk -v a="$t1" -v b="$t2" 'BEGIN{printf "fixtures warm build: %.1f s\n", b-a}'
echo "images: $(docker images --format '{{.Repository}}' | grep -c faktory-fixture/), cache: $(du -sh "$work/cache" | cut -f1)"
