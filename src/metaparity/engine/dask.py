"""``rma_batch`` on dask arrays: the numpy engine mapped over row chunks.

:func:`metaparity.rma_batch` hands over here when ``Y`` or ``V`` is a dask array
(checked by :func:`is_dask`, which never imports dask).  Each row chunk is fitted
by the numpy ``rma_batch`` itself -- the same code, hence the same numbers, as
the in-memory path -- so 1e9 meta-analyses can stream from disk (zarr, npy
stacks, HDF5) or run on a ``dask.distributed`` cluster without any change to the
call.  The study axis (the last one) must be a single chunk; it is rechunked to
one automatically (studies per meta-analysis are few).

The result is a :class:`DaskBatchResult`: a :class:`~metaparity.models.uni.BatchResult`
whose array fields are lazy dask arrays that share one graph (one fit per row
chunk, whatever fields are asked for, as long as they are computed together:
``res.compute()`` or ``dask.compute(res.b, res.se)``).  Errors (a variance <= 0,
an all-NaN row) surface when the chunk is computed and name the global row index.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from metaparity.models.uni import BatchResult, rma_batch

__all__ = ["is_dask", "rma_batch_dask", "DaskBatchResult"]


def is_dask(x: Any) -> bool:
    """True for a dask collection -- without importing dask."""
    return type(x).__module__.startswith("dask.")


@dataclass(frozen=True)
class DaskBatchResult(BatchResult):
    """:class:`BatchResult` whose array fields are dask arrays (lazy).

    ``compute()`` runs the graph once and returns an ordinary, numpy-backed
    :class:`BatchResult`; ``persist()`` keeps the fitted chunks in (cluster)
    memory; ``to_npy_stack(dirname)`` streams every field to disk.  Computing
    fields one by one (``res.b.compute()``, then ``res.se.compute()``) fits
    every chunk again each time -- compute them together.
    """

    def _arrays(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if is_dask(getattr(self, f.name))
        }

    def _replace(self, values: dict[str, Any], cls: type) -> Any:
        out = self.to_dict()
        out.update(values)
        return cls(**out)

    def compute(self, **kwargs: Any) -> BatchResult:
        """Every field as numpy arrays, computed in one pass (``dask.compute(**kwargs)``)."""
        import dask

        arrays = self._arrays()
        values = dask.compute(*arrays.values(), **kwargs)
        return self._replace(dict(zip(arrays, values, strict=True)), BatchResult)

    def persist(self, **kwargs: Any) -> DaskBatchResult:
        """Fit now and keep the results in memory (with distributed: on the workers)."""
        import dask

        arrays = self._arrays()
        values = dask.persist(*arrays.values(), **kwargs)
        return self._replace(dict(zip(arrays, values, strict=True)), type(self))

    def to_npy_stack(self, dirname: str, **kwargs: Any) -> None:
        """Write each field to ``dirname/<field>/`` in :func:`dask.array.to_npy_stack`'s
        layout (read back with :func:`dask.array.from_npy_stack`), all fields in one
        pass over the data: one fit per chunk, nothing held in memory."""
        import os
        import pickle

        import dask

        writes = []
        for name, arr in self._arrays().items():
            arr = arr.reshape(1) if arr.ndim == 0 else arr
            sub = os.path.join(dirname, name)
            os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, "info"), "wb") as f:
                pickle.dump({"chunks": arr.chunks, "dtype": arr.dtype, "axis": 0}, f)
            arr = arr.rechunk({i: -1 for i in range(1, arr.ndim)})
            # optimize_graph=False: one graph for all fields, so each chunk is fitted once
            for i, block in enumerate(arr.to_delayed(optimize_graph=False).ravel()):
                writes.append(dask.delayed(np.save)(os.path.join(sub, f"{i}.npy"), block))
        dask.compute(*writes, **kwargs)

    def to_frame(self):
        """Computes, then :meth:`BatchResult.to_frame` (pandas: must fit in memory)."""
        return self.compute().to_frame()


def _index(flat: int, shape: tuple[int, ...], offset: tuple[int, ...]):
    """Global index of the ``flat``-th row of a chunk starting at ``offset``."""
    local = np.unravel_index(flat, shape) if shape else ()
    idx = tuple(int(i) + int(o) for i, o in zip(local, offset, strict=True))
    return idx[0] if len(idx) == 1 else idx


def _fit_block(y, v, *rest, fit_kwargs, names, rec_dtype, has_w, block_info=None):
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
            "sampling variances must be positive; use NaN to mark padding"
        )
    empty = ~present.any(-1)
    if empty.any():
        i = _index(int(np.flatnonzero(empty)[0]), lead, offset)
        raise ValueError(f"meta-analysis {i} has no studies (k = 0); remove the all-NaN row")
    try:
        res = rma_batch(y, v, weights=w, **fit_kwargs)
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


def rma_batch_dask(Y: Any, V: Any, *, weights: Any = None, **kwargs: Any):
    """:func:`metaparity.rma_batch` for dask arrays (called by it; same arguments).

    ``Y`` and ``V`` (and ``weights``) may mix dask and numpy; numpy inputs are
    wrapped with the chunks of the dask one.  Every keyword argument other than
    ``weights`` is passed unchanged to the numpy ``rma_batch`` of each chunk.

    Returns
    -------
    DaskBatchResult
        Lazy; ``.compute()`` gives a numpy :class:`~metaparity.models.uni.BatchResult`.
    """
    import dask.array as da

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
    probe = rma_batch(
        np.ones((1, 1)), np.ones((1, 1)), weights=np.ones((1, 1)) if has_w else None, **kwargs
    )
    names = [f.name for f in fields(probe) if isinstance(getattr(probe, f.name), np.ndarray)]
    dtype = np.dtype([(n, getattr(probe, n).dtype) for n in names])
    args = (Y, V, W) if has_w else (Y, V)
    rec = da.map_blocks(
        _fit_block,
        *args,
        fit_kwargs=kwargs,
        names=names,
        rec_dtype=dtype,
        dtype=dtype,
        has_w=has_w,
        drop_axis=Y.ndim - 1,
        meta=np.empty((0,) * (Y.ndim - 1), dtype=dtype),
        token="metaparity-rma_batch",
    )
    out = probe.to_dict()
    for n in names:
        out[n] = rec[n]
    return DaskBatchResult(**out)
