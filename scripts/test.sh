#!/usr/bin/env bash
# Install suanli with its test extras into .venv, start the real engines the tests use
# (PostgreSQL, single-node Slurm, a Ray head, a Kubernetes control plane), and run every check: ruff, mypy, and the whole
# pytest suite (SQLite and PostgreSQL, real processes and engines). This is the README's
# test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,kubernetes]'

scripts/ensure-postgres.sh
# Debian's Chromium for the dashboard's browser tests (tests/e2e/browser), driven through
# Playwright's executable_path: nothing downloads a browser. A CJK font so that Chinese
# renders in the screenshots.
scripts/ensure-chromium.sh
# Real engines for the engine contract suite (tests/engines): a missing engine fails the
# tests, it never skips them. The Kubernetes control plane is built once (8-12 min) and
# cached outside the clone (~/.cache/suanli); later runs start it in seconds.
scripts/ensure-kube.sh start
scripts/ensure-slurm.sh start >/dev/null   # single node, fake GPUs, slurmdbd for sacct
scripts/ensure-ray.sh start      # installs ray[default] into .venv if missing

echo "== ruff"
.venv/bin/ruff check src tests bench examples
.venv/bin/ruff format --check src tests bench examples
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest -q "$@"
