"""``rma_batch`` on dask arrays: a row-chunk fit mapped lazily over the chunks.

:func:`metaparity.rma_batch` hands over here when ``Y`` or ``V`` is a dask array
(checked by :func:`is_dask`, which never imports dask).  Each row chunk is fitted
by the numpy ``rma_batch`` itself (passed in as ``fit``) -- the same code, hence the
same numbers, as the in-memory path -- so 1e9 meta-analyses can stream from disk
(zarr, npy stacks, HDF5) or run on a ``dask.distributed`` cluster without any change
to the call.  The study axis (the last one) must be a single chunk; it is rechunked to
one automatically (studies per meta-analysis are few).

:func:`map_fit` returns the fields as lazy dask arrays that share one graph (one fit
per row chunk, whatever fields are asked for, as long as they are computed together);
:class:`metaparity.models.results.DaskBatchResult` wraps them.  Errors (a variance
<= 0, an all-NaN row) surface when the chunk is computed and name the global row index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import numpy as np

__all__ = ["is_dask", "map_fit"]


def is_dask(x: Any) -> bool:
    """True for a dask collection -- without importing dask."""
    return type(x).__module__.startswith("dask.")


def _index(flat: int, shape: tuple[int, ...], offset: tuple[int, ...]):
    """Global index of the ``flat``-th row of a chunk starting at ``offset``."""
    local = np.unravel_index(flat, shape) if shape else ()
    idx = tuple(int(i) + int(o) for i, o in zip(local, offset, strict=True))
    return idx[0] if len(idx) == 1 else idx


def _fit_block(y, v, *rest, fit, names, rec_dtype, has_w, block_info=None):
    """Fit one row chunk with the numpy engine; a structured array of all fields."""
    w = rest[0] if has_w else None
    lead = y.shape[:-1]
    loc = block_info[0]["array-location"] if block_info else [(0, n) for n in y.shape]
    offset = tuple(lo for lo, _ in loc[:-1])
    y2 = y.reshape(-1, y.shape[-1])
    v2 = v.reshape(y2.shape)
    present = np.isfinite(y2) & np.isfinite(v2)
    bad = present & ~(v2 > 0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        i = _index(int(r), lead, offset)
        raise ValueError(
            f"V[{i}, {int(c)}] = {float(v2[r, c]):g} <= 0 (meta-analysis {i}, study {int(c)}); "
            "rma_batch needs positive sampling variances (a vi of 0 is accepted by rma() for "
            "some estimators only); give a positive variance, or NaN to mark padding"
        )
    empty = ~present.any(-1)
    if empty.any():
        i = _index(int(np.flatnonzero(empty)[0]), lead, offset)
        raise ValueError(f"meta-analysis {i} has no studies (k = 0); remove the all-NaN row")
    try:
        res = fit(y, v, w)
    except ValueError as err:
        first = tuple(lo for lo, _ in loc[:-1])
        raise ValueError(
            f"{err} [in the dask chunk whose first row is {first if len(first) != 1 else first[0]}; "
            "row numbers above count from that row]"
        ) from err
    out = np.empty(lead, dtype=rec_dtype)
    for n in names:
        out[n] = getattr(res, n)
    return out


def map_fit(
    Y: Any,
    V: Any,
    weights: Any,
    *,
    fit: Callable[[np.ndarray, np.ndarray, np.ndarray | None], Any],
) -> dict[str, Any]:
    """Fit dask arrays chunk by chunk with ``fit(y, v, w)`` (a numpy batch fit).

    ``Y`` and ``V`` (and ``weights``) may mix dask and numpy; numpy inputs are
    wrapped with the chunks of the dask one.  ``fit`` returns a dataclass of
    per-row arrays (and settings); a one-row fit made first validates its settings
    now rather than at compute time.

    Returns
    -------
    dict
        The fields of ``fit``'s result: per-row fields as lazy dask arrays sharing
        one graph, settings as they are.
    """
    import dask.array as da  # optional heavy dependency (only for dask inputs)

    for name, x in (("Y", Y), ("V", V), ("weights", weights)):
        if is_dask(x) and not isinstance(x, da.Array):
            raise TypeError(
                f"{name} is a {type(x).__name__}; rma_batch takes dask *arrays* "
                "(e.g. ddf[cols].to_dask_array(lengths=True))"
            )
    y_is_dask = is_dask(Y)
    Y, V = (x if is_dask(x) else da.from_array(np.asarray(x, dtype=float)) for x in (Y, V))
    if any(np.isnan(s) for s in Y.shape + V.shape):
        raise ValueError(
            "Y or V has unknown chunk sizes (NaN in .shape); call .compute_chunk_sizes() first"
        )
    if Y.ndim == 0 or Y.shape != V.shape:
        raise ValueError(
            f"Y and V must be arrays of the same shape (..., k); got {Y.shape} and {V.shape}"
        )
    if not y_is_dask:  # numpy Y, dask V: follow V's row chunks
        Y = Y.rechunk(V.chunks)
    Y, V = Y.astype(float), V.astype(float)
    # the study axis must be one chunk: each meta-analysis is fitted as a whole
    # (and Y, V, weights must share row chunks)
    Y = Y.rechunk({Y.ndim - 1: -1})
    V = V.rechunk(Y.chunks)
    has_w = weights is not None
    if has_w:
        W = weights if is_dask(weights) else np.asarray(weights, dtype=float)
        W = da.broadcast_to(W, Y.shape).astype(float).rechunk(Y.chunks)

    # a one-row fit validates every keyword (method, test, level, engine, ...) now,
    # not at compute time, and tells which fields are arrays and of what dtype
    probe = fit(np.ones((1, 1)), np.ones((1, 1)), np.ones((1, 1)) if has_w else None)
    names = [f.name for f in fields(probe) if isinstance(getattr(probe, f.name), np.ndarray)]
    dtype = np.dtype([(n, getattr(probe, n).dtype) for n in names])
    args = (Y, V, W) if has_w else (Y, V)
    rec = da.map_blocks(
        _fit_block,
        *args,
        fit=fit,
        names=names,
        rec_dtype=dtype,
        dtype=dtype,
        has_w=has_w,
        drop_axis=Y.ndim - 1,
        meta=np.empty((0,) * (Y.ndim - 1), dtype=dtype),
        token="metaparity-rma_batch",
    )
    out = {f.name: getattr(probe, f.name) for f in fields(probe)}
    for n in names:
        out[n] = rec[n]
    return out
