#!/usr/bin/env bash
# Start/stop/status of the real services the tests use: dockerd (only if none answers), a CNCF registry on
# 127.0.0.1:5000 (anonymous) and 127.0.0.1:5001 (htpasswd: faktory / faktory-test), redis on 127.0.0.1:6390.
# State (configs, data, pid files, logs) lives in .state/; `start` writes .state/services.env.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
exec "$PY" tests/support/services.py "${1:-status}"
