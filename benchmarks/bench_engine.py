"""rma_batch fits/s per estimator, numpy engine vs numba engine, and the read-once floor.

    .venv/bin/python benchmarks/bench_engine.py [--ms 1e5,1e6] [--k 10] [--numpy-max 2e5]

The floor is one ``np.einsum('ij,ij->i', Y, V)``: the time to read Y and V once.
The numpy engine is timed on at most ``--numpy-max`` rows (its rate does not
depend on M; timing REML on 1e6 rows takes minutes); rows timed are printed.
Timings are best of ``--repeat`` wall-clock runs, after one warm-up call (numba
compiles once per machine, then loads from its cache).
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np

from metaparity import rma_batch

METHODS = "EE DL HE HS HSk SJ GENQ DLIT SJIT ML REML EB PM PMM".split()


def simulate(n: int, k: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.2, (n, k))
    y = rng.normal(0.3, np.sqrt(v + 0.05))
    return y, v


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ms", default="1e5,1e6")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--numpy-max", type=float, default=2e5)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    k = args.k
    for M in (int(float(x)) for x in args.ms.split(",")):
        Y, V = simulate(M, k)
        W = np.broadcast_to(np.linspace(0.5, 2.0, k), Y.shape)
        rma_batch(Y[:2], V[:2], method="DL", engine="numba")  # load / compile
        floor = best_of(partial(np.einsum, "ij,ij->i", Y, V), args.repeat)
        mn = min(M, int(args.numpy_max))
        print(f"\nM = {M:,} meta-analyses, k = {k}; read-once floor {floor * 1e3:.1f} ms")
        print(f"  = {M / floor:,.0f} rows/s; numpy engine timed on {mn:,} rows")
        print(
            f"{'method':7s} {'numpy fits/s':>14s} {'numba fits/s':>14s} {'numba/numpy':>12s} "
            f"{'numba ms':>9s} {'x floor':>8s}"
        )
        for method in args.methods.split(","):
            w = W if method == "GENQ" else None
            wn = None if w is None else w[:mn]
            slow = mn >= 1e5 and method not in ("EE", "DL")
            tn = best_of(
                partial(rma_batch, Y[:mn], V[:mn], method=method, weights=wn, engine="numpy"),
                1 if slow else args.repeat,
            )
            tb = best_of(
                partial(rma_batch, Y, V, method=method, weights=w, engine="numba"), args.repeat
            )
            fn, fb = mn / tn, M / tb
            print(
                f"{method:7s} {fn:14,.0f} {fb:14,.0f} {fb / fn:12.1f} {tb * 1e3:9.1f} "
                f"{tb / floor:8.1f}"
            )


if __name__ == "__main__":
    main()
