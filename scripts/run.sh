#!/usr/bin/env bash
# Install suanli into .venv and run the platform on this machine (SQLite, local engine).
# Extra arguments go to `suanli up` (e.g. --port 9000 --data-dir /tmp/suanli).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/suanli up "$@"
