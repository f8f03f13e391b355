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
# Compile the program's and the packs' own modules to bytecode next to the sources
# (__pycache__, git-ignored). Every preview starts three Python processes that import
# them (the program and two policy packs); where PYTHONDONTWRITEBYTECODE=1 is set, as
# in many CI images and on the CI machines, Python never writes these files itself and
# would compile about 130 modules from source in each of them on every run. Python
# checks each file's source timestamp, so an edited module is compiled afresh until the
# next setup. Quick when nothing changed.
.venv/bin/python -m compileall -q -j 0 components stacks policies bench sandbox
scripts/build-toolchain.sh "$@"
scripts/init-example-stacks.sh
