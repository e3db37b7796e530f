#!/usr/bin/env bash
# Idempotent set-up: ngspice (+ its shared library) from Debian packages when missing,
# a virtual environment in .venv, and the package installed in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v ngspice >/dev/null 2>&1 || need_apt+=(ngspice)
ldconfig -p 2>/dev/null | grep -q 'libngspice\.so' || need_apt+=(libngspice0-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]} from Debian packages" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

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
