"""Leave-one-out refits at parity with ``metafor::leave1out``.

The ``k`` leave-one-out models of a meta-analysis are the rows of a NaN-padded
``(k, k)`` batch fitted by :func:`metaparity.rma_batch` (one engine, batch first); the
fits are shared with ``influence``, ``rstudent`` and ``baujat``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from metaparity._core.names import MethodName, TestName
from metaparity._core.validation import as_float_array
from metaparity.analysis._diag_common import _data, _FitTable, _labels, _need_k2, _table
from metaparity.models.results import BatchResult, RmaResult
from metaparity.models.uni import rma_batch

__all__ = ["Leave1Out", "leave1out", "leave1out_batch"]


@dataclass(frozen=True)
class Leave1Out(_FitTable):
    """Row ``i``: the model refitted without study ``i`` (what ``metafor::leave1out``
    returns).

    Attributes
    ----------
    estimate, se, zval, pval, ci_lb, ci_ub : numpy.ndarray
        The pooled estimate of each refit with its standard error, test statistic
        (a t statistic for t-based tests), p-value and confidence interval.
    Q, Qp : numpy.ndarray
        The test for heterogeneity of each refit and its p-value.
    tau2, I2, H2 : numpy.ndarray
        Heterogeneity of each refit (``tau2`` is 0 for equal-effects models).
    slab : tuple
        Study labels, one per row.
    method, test : str
        Estimator and test of the model.
    level : float
        Confidence level in percent.

    Examples
    --------
    >>> import metaparity as mp
    >>> l1o = leave1out(mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL"))
    >>> list(l1o.to_frame().columns)
    ['estimate', 'se', 'zval', 'pval', 'ci.lb', 'ci.ub', 'Q', 'Qp', 'tau2', 'I2', 'H2']
    """


def _drop_each(A: np.ndarray) -> np.ndarray:
    """``(..., k)`` -> ``(..., k, k)`` with row ``i`` = ``A`` with entry ``i`` set to NaN."""
    k = A.shape[-1]
    out = np.broadcast_to(A[..., None, :], A.shape[:-1] + (k, k)).copy()
    idx = np.arange(k)
    out[..., idx, idx] = np.nan
    return out


def leave1out_batch(
    Y: ArrayLike,
    V: ArrayLike,
    *,
    method: MethodName = "REML",
    test: TestName = "z",
    level: float = 95,
    weights: ArrayLike | None = None,
) -> BatchResult:
    """Leave-one-out refits of many meta-analyses at once.

    Equivalent to ``metafor::leave1out(rma(yi, vi, method=, test=, level=))`` for
    each meta-analysis (row) of ``Y``/``V``, with all refits in one batch.

    Parameters
    ----------
    Y, V : array_like, shape (..., k)
        Effect sizes and sampling variances, NaN-padded as in
        :func:`metaparity.rma_batch`.
    method : str
        tau^2 estimator, as in :func:`metaparity.rma_batch`.
    test : {"z", "t", "knha", "adhoc"}
        Test of the pooled estimate.
    level : float
        Confidence level in percent.
    weights : array_like, optional
        User weights, shaped as ``Y``.

    Returns
    -------
    BatchResult
        Arrays shaped ``Y.shape`` (``(..., k)``): entry ``[..., i]`` is the fit
        without study ``i``; NaN where study ``i`` is padding.

    Raises
    ------
    ValueError
        When a meta-analysis has fewer than 2 studies (metafor stops: k = 1).

    Examples
    --------
    >>> import numpy as np
    >>> out = leave1out_batch([[0.1, 0.3, 0.5]], [[0.01, 0.02, 0.03]], method="EE")
    >>> np.round(out.b, 4).tolist()  # metafor: leave1out(rma(..., method="EE"))$estimate
    [[0.38, 0.2, 0.1667]]
    """
    return _leave1out_fits(Y, V, method, test, level, weights)


def _leave1out_fits(
    Y: ArrayLike,
    V: ArrayLike,
    method: MethodName,
    test: TestName,
    level: float,
    weights: ArrayLike | None,
) -> BatchResult:
    """:func:`leave1out_batch` for estimator and test names already checked (a model's)."""
    Yf = as_float_array("Y", Y)
    Vf = as_float_array("V", V)
    if Yf.ndim == 0 or Yf.shape != Vf.shape:
        raise ValueError(
            f"Y and V must be arrays of the same shape (..., k); got {Yf.shape} and {Vf.shape}"
        )
    present = np.isfinite(Yf) & np.isfinite(Vf)
    kk = present.sum(-1)
    if (kk < 2).any():
        row = int(np.flatnonzero(np.ravel(kk < 2))[0])
        raise ValueError(
            f"meta-analysis {row} has k = {int(np.ravel(kk)[row])} studies; leave-one-out "
            "needs k >= 2 (metafor: 'Stopped because k = 1.')"
        )
    Wl = None
    if weights is not None:
        Wl = _drop_each(np.broadcast_to(as_float_array("weights", weights), Yf.shape))
    out = rma_batch(
        _drop_each(Yf), _drop_each(Vf), method=method, test=test, level=level, weights=Wl
    )
    if present.all():
        return out
    gone = ~present
    upd: dict[str, Any] = {}
    for f in fields(out):
        val = getattr(out, f.name)
        if isinstance(val, np.ndarray) and val.dtype.kind == "f":
            upd[f.name] = np.where(gone, np.nan, val)
    return replace(out, **upd)


def _loo(res: RmaResult) -> BatchResult:
    """The leave-one-out fits of one model: a batch of one row, squeezed."""
    yi, vi = _data(res)
    w = None if res.weights is None else res.weights[None, :]
    out = _leave1out_fits(yi[None, :], vi[None, :], res.method, res.test, res.level, w)
    arrays = {f.name: getattr(out, f.name) for f in fields(out)}
    return replace(out, **{n: a[0] for n, a in arrays.items() if isinstance(a, np.ndarray)})


def leave1out(res: RmaResult) -> Leave1Out:
    """Refit the model leaving out one study at a time.

    Equivalent to ``metafor::leave1out(res)``.

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` with ``k >= 2``; the refits use its
        method, test and level (and weights).

    Returns
    -------
    Leave1Out
        Arrays ``estimate se zval pval ci_lb ci_ub Q Qp tau2 I2 H2`` (entry ``i``:
        without study ``i``); ``to_frame()`` gives metafor's columns.  Rows with
        ``k - 1 = 1`` studies use a z-test, as metafor does.

    Raises
    ------
    TypeError
        ``res`` is not an intercept-only model from :func:`metaparity.rma`.
    ValueError
        k = 1 (metafor: "Stopped because k = 1.").

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL")
    >>> l1o = leave1out(res)
    >>> [round(float(x), 4) for x in l1o.estimate]  # metafor: leave1out(res)$estimate
    [0.3, 0.2293, 0.1769, 0.2674]
    """
    _need_k2(res, "leave1out")
    return _table(Leave1Out, _loo(res), res, _labels(res))
