"""The benchmark suite: ``python benchmarks/run.py [--quick] [--max-m 1e5] [--k 10] ...``.

A thin wrapper around :mod:`metaparity.bench` (also ``metaparity bench``; ``bash
scripts/bench.sh`` installs the ``bench`` extra first). On identical data written
once to ``benchmarks/results/data/`` it times rma_batch (every estimator and
engine), a metafor ``rma()`` loop in Rscript, PyMARE's batch estimators,
statsmodels' ``combine_effects`` in a loop and an einsum memory-bandwidth floor,
and writes ``bench.json``, ``bench.md`` and ``scaling.png`` to
``benchmarks/results/``.
"""

from __future__ import annotations

import sys

from metaparity.bench import main

if __name__ == "__main__":
    sys.exit(main())
