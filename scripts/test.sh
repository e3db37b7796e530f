#!/usr/bin/env bash
# Set up (when needed) and run the whole test suite, slow tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Two workers, one test file each at a time (a file's module fixtures stay in one process): the suite's
# simulations are single-threaded, and this machine has two cores.
exec .venv/bin/python -m pytest -q -n 2 --dist loadfile "$@"
