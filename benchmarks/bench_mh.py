"""rma_mh_batch vs a metafor rma.mh loop on the same simulated 2x2 tables.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_mh.py [--m 10000] [--k 10] [--r-subset 500]
        [--measure OR] [--out benchmarks/results/mh.txt]

Simulates ``M`` meta-analyses of ``k`` 2x2 tables (group sizes 20-200, control risk
0.05-0.4, log odds ratios N(-0.3, 0.3^2)), times :func:`metaparity.rma_mh_batch` on all of
them (best of 3) and a loop of ``metafor::rma.mh`` in one Rscript process on the first
``--r-subset`` tables (timed inside R with ``proc.time``, so R start-up and I/O are not
charged to metafor), scaled linearly to ``M``; prints both, their ratio and the largest
relative difference of b, se, QE, MH and TA over the subset.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from metaparity import rma_mh_batch

R_LOOP = r"""
suppressPackageStartupMessages(library(metafor))
a <- commandArgs(TRUE); d <- read.csv(a[1]); k <- as.integer(a[3]); meas <- a[4]
m <- nrow(d) / k
A <- matrix(d$ai, ncol = k, byrow = TRUE); B <- matrix(d$bi, ncol = k, byrow = TRUE)
C <- matrix(d$ci, ncol = k, byrow = TRUE); D <- matrix(d$di, ncol = k, byrow = TRUE)
out <- matrix(NA_real_, m, 5)
t0 <- proc.time()[[3]]
for (i in seq_len(m)) {
  r <- suppressWarnings(rma.mh(ai = A[i, ], bi = B[i, ], ci = C[i, ], di = D[i, ],
                               measure = meas))
  out[i, ] <- c(r$beta, r$se, r$QE, if (is.null(r$MH)) NA else r$MH,
                if (is.null(r$TA)) NA else r$TA)
}
sec <- proc.time()[[3]] - t0
write.csv(out, a[2], row.names = FALSE)
cat(sprintf('{"seconds": %.6f, "metafor": "%s", "R": "%s"}\n', sec,
            as.character(packageVersion("metafor")), R.version.string))
"""


def simulate(m: int, k: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    n1, n2 = rng.integers(20, 201, (m, k)), rng.integers(20, 201, (m, k))
    p2 = rng.uniform(0.05, 0.4, (m, k))
    lor = rng.normal(-0.3, 0.3, (m, k))
    p1 = 1 / (1 + np.exp(-(np.log(p2 / (1 - p2)) + lor)))
    a, c = rng.binomial(n1, p1), rng.binomial(n2, p2)
    return [x.astype(float) for x in (a, n1 - a, c, n2 - c)]


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--r-subset", type=int, default=500)
    ap.add_argument("--measure", default="OR")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    A, B, C, D = simulate(args.m, args.k)
    meas = args.measure
    t_py = best_of(lambda: rma_mh_batch(ai=A, bi=B, ci=C, di=D, measure=meas))
    res = rma_mh_batch(ai=A, bi=B, ci=C, di=D, measure=meas)
    s = min(args.r_subset, args.m)
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp, script = Path(tmp, "in.csv"), Path(tmp, "out.csv"), Path(tmp, "loop.R")
        rows = np.column_stack([x[:s].ravel() for x in (A, B, C, D)])
        np.savetxt(inp, rows, delimiter=",", header="ai,bi,ci,di", comments="", fmt="%d")
        script.write_text(R_LOOP)
        cp = subprocess.run(["Rscript", str(script), str(inp), str(outp), str(args.k), meas],
                            capture_output=True, text=True, check=True)  # fmt: skip
        info = json.loads(cp.stdout.strip().splitlines()[-1])
        theirs = np.genfromtxt(outp, delimiter=",", skip_header=1).reshape(s, 5)
    ours = np.column_stack([res.b[:s], res.se[:s], res.QE[:s], res.MH[:s], res.TA[:s]])
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(ours - theirs) / np.abs(theirs)
    worst = {n: float(np.nanmax(rel[:, j])) for j, n in enumerate("b se QE MH TA".split())}
    t_r = info["seconds"] * args.m / s
    lines = [
        f"rma_mh_batch vs metafor rma.mh loop: measure={meas}, M={args.m}, k={args.k}",
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}; "
        f"{info['R']}, metafor {info['metafor']}, numpy {np.__version__}",
        f"metaparity rma_mh_batch: {t_py:.4f} s for {args.m} fits "
        f"({args.m / t_py:,.0f} fits/s, best of 3)",
        f"metafor rma.mh loop:     {info['seconds']:.3f} s for {s} fits, scaled x{args.m / s:g} "
        f"to {t_r:.1f} s for {args.m} ({args.m / t_r:,.0f} fits/s)",
        f"ratio (metafor / metaparity): {t_r / t_py:,.0f}x",
        "max rel diff over the R subset: " + ", ".join(f"{n} {v:.1e}" for n, v in worst.items()),
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
