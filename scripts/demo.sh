#!/usr/bin/env bash
# Set up (when needed) and run the flagship scenario: the negative-feedback optimizer learning
# the staircase of paper 000 Fig. 4a, in ngspice and in its PyTorch twin.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=${1:-results/nf_staircase}
.venv/bin/analogopt run nf_staircase --out "$out" --force
echo "demo: results are in $out (report.md, metrics.json, netlist.cir, *.png)"
