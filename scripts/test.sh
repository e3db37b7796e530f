#!/usr/bin/env bash
# Set up (when needed) and run the whole test suite, slow tests included, on two workers (one per core;
# --dist loadfile keeps each file's module fixtures, the designed op-amps among them, in one process).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q -n 2 --dist loadfile "$@"
