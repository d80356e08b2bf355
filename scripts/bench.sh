#!/usr/bin/env bash
# Benchmark suite: metaparity rma_batch vs a metafor loop, PyMARE, statsmodels and a
# memory-bandwidth floor, on identical data. Installs the `bench` extra (PyMARE,
# statsmodels, matplotlib) into the project venv, then runs benchmarks/run.py.
# Usage: bash scripts/bench.sh [--quick] [--max-m 1e5] [--k 10] [...]   (see --help)
# Results: benchmarks/results/ (bench.json, bench.md, scaling.png).
set -euo pipefail

cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import metaparity' >/dev/null 2>&1; then
    bash scripts/setup.sh --no-run
fi
if ! .venv/bin/python -c 'import pymare, statsmodels, matplotlib' >/dev/null 2>&1; then
    echo "[bench] installing .[bench] into .venv"
    .venv/bin/pip install --quiet -e ".[bench]"
fi
exec .venv/bin/python benchmarks/run.py "$@"
