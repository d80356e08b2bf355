"""rma_mv vs metafor rma.mv on the same simulated three-level data set, side by side.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_mv.py [--clusters 100] [--per 5]
        [--repeats 5] [--out benchmarks/results/mv_k500.txt]

Simulates one three-level data set (``--clusters`` x ``--per`` estimates, sigma2 = 0.05 and
0.03, one moderator), writes it to CSV, then in one run times
:func:`metaparity.rma_mv` (``random="~ 1 | cluster/esid", mods="~ x"``; best of
``--repeats``, each a full fit from the data frame) and ``metafor::rma.mv`` in one Rscript
process (timed inside R with ``proc.time``: default control -- dense, nlminb -- and
``sparse=TRUE``; best of ``--repeats``), and prints the times, their ratios and the
agreement of b, se and sigma2 with metafor's (default control).
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
import pandas as pd

import metaparity as mp

R_SIDE = r"""
suppressPackageStartupMessages(library(metafor))
a <- commandArgs(TRUE); d <- read.csv(a[1]); reps <- as.integer(a[2])
best <- function(sparse) {
  t <- Inf
  for (i in seq_len(reps)) {
    t0 <- proc.time()[[3]]
    r <- rma.mv(yi, vi, mods = ~ x, random = ~ 1 | cluster/esid, data = d, sparse = sparse)
    t <- min(t, proc.time()[[3]] - t0)
  }
  list(seconds = t, b = as.numeric(r$beta), se = r$se, sigma2 = r$sigma2, ll = logLik(r)[1])
}
out <- list(dense = best(FALSE), sparse = best(TRUE),
            metafor = as.character(packageVersion("metafor")), R = R.version.string)
cat(jsonlite::toJSON(out, digits = NA, auto_unbox = TRUE))
"""


def simulate(clusters: int, per: int, seed: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = clusters * per
    d = pd.DataFrame({"cluster": np.repeat(np.arange(clusters), per),
                      "esid": np.tile(np.arange(per), clusters)})  # fmt: skip
    d["vi"] = rng.uniform(0.01, 0.1, k)
    d["x"] = rng.normal(size=k)
    u = rng.normal(0, np.sqrt(0.05), clusters)[d["cluster"]]
    d["yi"] = 0.2 + 0.1 * d["x"] + u + rng.normal(0, np.sqrt(0.03), k) + rng.normal(
        0, np.sqrt(d["vi"]))  # fmt: skip
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=100)
    ap.add_argument("--per", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    d = simulate(a.clusters, a.per)
    ours_t = np.inf
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        res = mp.rma_mv("yi", "vi", random="~ 1 | cluster/esid", mods="~ x", data=d)
        ours_t = min(ours_t, time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "mv.csv"
        d.to_csv(csv, index=False)
        script = Path(tmp) / "mv.R"
        script.write_text(R_SIDE)
        out = subprocess.run(["Rscript", "--vanilla", str(script), str(csv), str(a.repeats)],
                             capture_output=True, text=True, check=True)  # fmt: skip
    r = json.loads(out.stdout)

    def rel(ours, theirs):
        o, t = np.atleast_1d(ours), np.atleast_1d(np.asarray(theirs, dtype=float))
        return float(np.max(np.abs(o - t) / np.abs(t)))

    lines = [
        f"rma_mv vs metafor rma.mv: k = {len(d)} ({a.clusters} clusters x {a.per}), "
        "random = ~ 1 | cluster/esid, mods = ~ x, REML; best of "
        f"{a.repeats}; metafor {r['metafor']} ({r['R']}), Python {platform.python_version()}",
        f"metaparity rma_mv                 {ours_t:8.3f} s",
        f"metafor rma.mv (default, dense)   {r['dense']['seconds']:8.3f} s   "
        f"ratio {r['dense']['seconds'] / ours_t:6.1f}x",
        f"metafor rma.mv (sparse=TRUE)      {r['sparse']['seconds']:8.3f} s   "
        f"ratio {r['sparse']['seconds'] / ours_t:6.1f}x",
        f"agreement with metafor's default fit: b {rel(res.b, r['dense']['b']):.1e}, "
        f"se {rel(res.se, r['dense']['se']):.1e}, sigma2 {rel(res.sigma2, r['dense']['sigma2']):.1e}"
        f"; logLik ours - metafor's {res.logLik - r['dense']['ll']:.2e}",
    ]
    text = "\n".join(lines)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
