#!/usr/bin/env bash
# Idempotent set-up on Debian bookworm as root: the apt packages faktory and its tests use, then .venv with
# the package installed editable. apt runs only when a package is missing; pip only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  docker.io docker-registry skopeo qemu-system-x86 linux-image-amd64 libmagic1 debootstrap cpio xorriso
  apache2-utils redis-server strace bubblewrap binutils file chromium patchelf python3-venv ca-certificates
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing packages ${missing[*]} and not root: install them with apt-get" >&2
    exit 1
  fi
  echo "setup: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The package needs Python >= 3.11: the python3 on PATH if it is new enough, else Debian's.
pick_python() {
  for candidate in "${FAKTORY_PYTHON:-}" python3 /usr/bin/python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"; return
    fi
  done
  echo "setup: no Python >= 3.11 with the venv module found" >&2; exit 1
}

stamp=.venv/.faktory-setup
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ]; then
  python="$(pick_python)"
  echo "setup: creating .venv with $python" >&2
  "$python" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! .venv/bin/python -c 'import faktory' 2>/dev/null; then
  echo "setup: pip install -e '.[test]'" >&2
  if ! PIP_DISABLE_PIP_VERSION_CHECK=1 .venv/bin/pip install -e '.[test]' >.venv/pip-install.log 2>&1; then
    tail -30 .venv/pip-install.log >&2
    echo "setup: pip install failed (full log: .venv/pip-install.log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
