"""Row-chunked execution of :func:`metaparity.rma_batch` on the numpy or the numba engine.

* ``"numpy"`` -- the reference: :func:`metaparity.engine.reference.fit` on chunks of rows
  (the chunks only bound the memory of its ``(rows, k)`` temporaries; rows are
  independent, so chunking does not change a single bit).
* ``"numba"`` -- :mod:`metaparity.engine.numba.lanes` (blocks of 64 rows in SIMD lanes,
  every estimator and test, K <= 128 studies) or :mod:`metaparity.engine.numba.kernels`
  (one compiled pass per row, for wider rows): the same numbers (see those modules), in
  threads over slices of each chunk.
* ``"auto"`` -- numba when it can be imported and the batch has at least
  ``AUTO_NUMBA_ROWS`` rows (the kernel compiles once per machine, ~1.5 min of CPU,
  cached afterwards: a small batch is done by numpy long before), numpy otherwise.

numba is imported only when the numba engine is used.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from metaparity._core.names import estimating_method, estimating_test
from metaparity.engine.facts import FLOAT_FIELDS
from metaparity.engine.reference import fit, prepare, wide_rows

__all__ = ["ENGINES", "DEFAULT_CHUNK", "resolve_engine", "fit_batch"]

ENGINES = ("auto", "numba", "numpy")
#: "auto" takes numba from this many rows on
AUTO_NUMBA_ROWS = 200_000
#: rows per chunk: numpy temporaries of ~25 (rows, k) arrays stay ~50 MB at k = 10
DEFAULT_CHUNK = 1 << 16

_numba_ok: bool | None = None
_pool: ThreadPoolExecutor | None = None


def numba_available() -> bool:
    """True when numba (and so the compiled engine) can be imported."""
    global _numba_ok
    if _numba_ok is None:
        try:
            import numba  # noqa: F401
        except ImportError:
            _numba_ok = False
        else:
            _numba_ok = True
    return _numba_ok


def resolve_engine(engine: str, rows: int | None = None) -> str:
    """``"auto"`` -> ``"numba"`` if importable (and ``rows >= AUTO_NUMBA_ROWS`` when the
    row count is given) else ``"numpy"``; checks the name."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine == "auto":
        big = rows is None or rows >= AUTO_NUMBA_ROWS
        return "numba" if big and numba_available() else "numpy"
    if engine == "numba" and not numba_available():
        raise ImportError(
            "engine='numba' needs numba: pip install 'metaparity[fast]' (or engine='numpy')"
        )
    return engine


def _threads() -> int:
    from numba import get_num_threads  # optional heavy dependency

    return max(1, int(get_num_threads()))


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool
    if _pool is None or _pool._max_workers != n:  # noqa: SLF001
        _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="metaparity")
    return _pool


# --------------------------------------------------------------------------- #
# input errors, with the reference's messages and precedence
# --------------------------------------------------------------------------- #
def _raise_bad_v(V2: np.ndarray, row: int, col: int):
    raise ValueError(
        f"V[{row}, {col}] = {float(V2[row, col]):g} <= 0 (meta-analysis {row}, study {col}); "
        "rma_batch needs positive sampling variances (a vi of 0 is accepted by rma() for some "
        "estimators only); give a positive variance, or NaN to mark padding"
    )


def _check_infinite(Y2: np.ndarray, V2: np.ndarray, chunk: int) -> None:
    """The first +-inf in Y or V (row-major order; Y before V within a row): an error.

    NaN marks padding; an infinite value is no estimate (as :func:`metaparity.rma`
    refuses it), so it is not silently dropped as padding.
    """
    for lo in range(0, Y2.shape[0], chunk):
        y, v = Y2[lo : lo + chunk], V2[lo : lo + chunk]
        bad = np.isinf(y) | np.isinf(v)
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            name, arr, what = (
                ("Y", y, "effect size") if np.isinf(y[row, col]) else ("V", v, "sampling variance")
            )
            raise ValueError(
                f"{name}[{lo + row}, {col}] = {float(arr[row, col]):g} (meta-analysis {lo + row}, "
                f"study {col}) is not finite; NaN marks padding, +-inf is not a valid {what}: "
                "remove the study (set it to NaN) or supply a finite value"
            )


def _raise_empty(row: int):
    raise ValueError(f"meta-analysis {row} has no studies (k = 0); remove the all-NaN row")


def _validate(Y2: np.ndarray, V2: np.ndarray, chunk: int) -> None:
    """A V <= 0 anywhere first (row-major order), then an all-padding row."""
    n = Y2.shape[0]
    first_empty = None
    for lo in range(0, n, chunk):
        y, v = Y2[lo : lo + chunk], V2[lo : lo + chunk]
        present = np.isfinite(y) & np.isfinite(v)
        bad = present & ~(v > 0)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            _raise_bad_v(V2, lo + int(row), int(col))
        if first_empty is None:
            empty = ~present.any(-1)
            if empty.any():
                first_empty = lo + int(np.flatnonzero(empty)[0])
    if first_empty is not None:
        _raise_empty(first_empty)


def _genq_check(method: str, W2) -> None:
    if method == "GENQ" and W2 is None:
        raise ValueError("method='GENQ' needs weights= (the weights of the generalised Q)")


# --------------------------------------------------------------------------- #
# the two engines
# --------------------------------------------------------------------------- #
def fit_batch(Y2, V2, W2, *, method, test, level, engine="auto", chunk_size=None):
    """Fit every row of the ``(n, k)`` arrays; returns a dict of ``(n,)`` arrays.

    ``W2`` is None or weights broadcast to ``(n, k)``.  Raises the errors of
    :func:`metaparity.rma_batch` for V <= 0, rows without studies and GENQ
    without weights.
    """
    method, test = estimating_method(method), estimating_test(test)
    eng = resolve_engine(engine, Y2.shape[0])
    chunk = DEFAULT_CHUNK if chunk_size is None else int(chunk_size)
    if chunk < 1:
        raise ValueError(f"chunk_size={chunk_size!r} must be a positive number of rows")
    _check_infinite(Y2, V2, chunk)
    if eng == "numpy":
        return _fit_numpy(Y2, V2, W2, method=method, test=test, level=level, chunk=chunk)
    return _fit_numba(Y2, V2, W2, method=method, test=test, level=level, chunk=chunk)


def _empty_out(n: int) -> dict[str, np.ndarray]:
    out = {f: np.empty(n) for f in FLOAT_FIELDS}
    out["k"] = np.empty(n, np.int64)
    out["converged"] = np.empty(n, bool)
    out["iterations"] = np.empty(n, np.int64)
    return out


def _fit_numpy(Y2, V2, W2, *, method, test, level, chunk):
    _validate(Y2, V2, chunk)
    _genq_check(method, W2)
    n = Y2.shape[0]
    out = _empty_out(n)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        _, y, v, m, w = prepare(Y2[lo:hi], V2[lo:hi], None if W2 is None else W2[lo:hi])
        res = fit(y, v, m, method=method, test=test, level=level, weights=w)
        for f, arr in out.items():
            arr[lo:hi] = res[f]
    return out


def _fit_numba(Y2, V2, W2, *, method, test, level, chunk):
    if method == "GENQ" and W2 is None:
        _validate(Y2, V2, chunk)  # the reference reports bad V / empty rows first
        _genq_check(method, W2)
    # optional heavy dependency: numba (the kernels compile on first use)
    from metaparity.engine.numba import kernels as _kernels
    from metaparity.engine.numba import lanes as _lanes  # optional heavy dependency

    n, K = Y2.shape
    F = np.empty((len(FLOAT_FIELDS), n))
    KO = np.empty(n, np.int64)
    CONV = np.empty(n, bool)
    ITERS = np.empty(n, np.int64)
    tabs = _kernels.tables(method, test, level, K)
    mcode, tcode = _kernels.METHOD_CODES[method], _kernels.TEST_CODES[test]
    lanes = K <= _lanes.MAX_K  # every estimator; wider rows: the row kernel
    nthreads = _threads()
    pool = _executor(nthreads) if nthreads > 1 else None
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        y = np.ascontiguousarray(Y2[lo:hi], dtype=float)
        v = np.ascontiguousarray(V2[lo:hi], dtype=float)
        w = None if W2 is None else np.ascontiguousarray(W2[lo:hi], dtype=float)
        m = hi - lo

        def run(a, b, y=y, v=v, w=w, lo=lo):
            if lanes:
                _lanes.fit_lanes(
                    y, v, w, method_code=mcode, test_code=tcode, tabs=tabs,
                    lo=a, hi=b, off=lo, out=(F, KO, CONV, ITERS),
                )  # fmt: skip
                return
            _kernels.fit_rows(
                y,
                v,
                w,
                method=method,
                test=test,
                tabs=tabs,
                lo=a,
                hi=b,
                off=lo,
                out=(F, KO, CONV, ITERS),
            )

        if pool is None or m < 2048:
            run(0, m)
        else:
            # a few slices per thread: rows that iterate longer do not hold up the chunk
            edges = np.linspace(0, m, 4 * nthreads + 1).astype(int)
            list(pool.map(run, edges[:-1], edges[1:]))
    if (KO <= 0).any():
        bad = np.flatnonzero(KO < 0)
        if bad.size:
            row = int(bad[0])
            _raise_bad_v(V2, row, int(-1 - KO[row]))
        _raise_empty(int(np.flatnonzero(KO == 0)[0]))
    out = {f: F[c] for c, f in enumerate(FLOAT_FIELDS)}
    out["k"] = KO
    out["converged"] = CONV
    out["iterations"] = ITERS
    # rows with a sampling variance below TINY_V (the reference fits them rescaled; the
    # kernels would overflow 1/v^2) or a vi ratio >= 1e7 (the reference's I2/H2 take the
    # cancellation-free form there): those few rows are fitted by numpy
    present = np.isfinite(Y2) & np.isfinite(V2)
    tiny = np.flatnonzero(wide_rows(np.where(present, V2, 1.0), present.astype(float)))
    if tiny.size:
        sub = _fit_numpy(Y2[tiny], V2[tiny], None if W2 is None else W2[tiny], method=method,
                         test=test, level=level, chunk=chunk)  # fmt: skip
        for f, arr in out.items():
            arr[tiny] = sub[f]
    return out
