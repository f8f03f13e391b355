#!/usr/bin/env bash
# `make setup`: create .venv with the pinned Python dependencies, then build
# (or find) the Pulumi toolchain, then create the example stacks on the repository's
# local backend if they are missing. Idempotent and fast when nothing changed.
# `scripts/setup.sh --test-tools` (make test) also builds the Kyverno CLI.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}

stamp=.venv/.gpu-caas-deps
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] creating .venv with the pinned Python dependencies"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python scripts/python_deps.py dev > .venv/requirements.lock.txt
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r .venv/requirements.lock.txt
  echo "$want" > "$stamp"
else
  echo "[setup] .venv is up to date"
fi
scripts/build-toolchain.sh "$@"
scripts/init-example-stacks.sh
