#!/usr/bin/env bash
# Set up (without running the demo), lint (ruff, mypy), then run the test suite
# (which includes tests/layout: layering, import cycles, the facade, numpydoc).
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail

cd "$(dirname "$0")/.."

bash scripts/setup.sh --no-run

echo "[test] ruff check src tests benchmarks"
.venv/bin/ruff check src tests benchmarks scripts
echo "[test] ruff format --check src tests benchmarks"
.venv/bin/ruff format --check src tests benchmarks scripts

echo "[test] mypy (config in pyproject.toml: the whole package)"
.venv/bin/python -m mypy

echo "[test] pytest $*"
rc=0
.venv/bin/python -m pytest "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    echo "[test] ERROR: pytest collected no tests (exit code 5)" >&2
fi
exit "$rc"
