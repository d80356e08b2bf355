"""rma_batch vs a metafor loop on the same simulated data, measured side by side.

    .venv/bin/python benchmarks/bench_batch.py [--n 2000] [--k 10] [--methods DL,REML,PM]

Prints fits/s for metaparity's rma_batch, for a Python loop of rma(), and for a
metafor loop run in the same process through rpy2 (the R loop runs inside R, so
no Python overhead is charged to metafor), and their ratios. Timings are wall
clock on this machine; ratios measured in one run are what to compare.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from metaparity import rma, rma_batch


def simulate(n: int, k: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.2, (n, k))
    y = rng.normal(0.3, np.sqrt(v + 0.05))
    return y, v


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--methods", default="DL,REML,PM")
    args = ap.parse_args()
    Y, V = simulate(args.n, args.k)
    try:
        from metaparity.parity.rbridge import get_bridge

        bridge = get_bridge()
        ro = bridge._ro
        ro.r(
            "mp_bench <- function(Y, V, method) { n <- nrow(Y); t0 <- proc.time()[[3]]; "
            "for (i in seq_len(n)) try(rma(Y[i,], V[i,], method=method), silent=TRUE); proc.time()[[3]] - t0 }"
        )
        ry = ro.r.matrix(ro.FloatVector(Y.ravel(order="F")), nrow=args.n)
        rv = ro.r.matrix(ro.FloatVector(V.ravel(order="F")), nrow=args.n)
    except Exception as err:  # noqa: BLE001 - report and continue without R
        print(f"metafor unavailable: {err}")
        bridge = None
    print(f"n = {args.n} meta-analyses of k = {args.k} studies")
    print(
        f"{'method':7s} {'rma_batch fits/s':>17s} {'rma loop fits/s':>16s} {'metafor fits/s':>15s} {'batch/metafor':>14s}"
    )
    for method in args.methods.split(","):
        tb = best_of(lambda method=method: rma_batch(Y, V, method=method))
        m = min(args.n, 300)
        tl = best_of(
            lambda method=method, m=m: [rma(Y[i], V[i], method=method) for i in range(m)], 1
        )
        fb, fl = args.n / tb, m / tl
        fr = ratio = float("nan")
        if bridge is not None:
            tr = float(ro.r["mp_bench"](ry, rv, method)[0])
            fr = args.n / tr
            ratio = fb / fr
        print(f"{method:7s} {fb:17.0f} {fl:16.0f} {fr:15.0f} {ratio:14.1f}")


if __name__ == "__main__":
    main()
