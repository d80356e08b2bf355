"""Cumulative meta-analysis at parity with ``metafor::cumul``.

The ``k`` cumulative models are the rows of a lower-triangular NaN-padded batch
fitted by :func:`metaparity.rma_batch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from metaparity.analysis._diag_common import _data, _FitTable, _labels, _need_no_moderators, _table
from metaparity.models.results import RmaResult
from metaparity.models.uni import rma_batch

__all__ = ["Cumul", "cumul"]


@dataclass(frozen=True)
class Cumul(_FitTable):
    """Row ``j``: the model fitted to the first ``j + 1`` studies in ``order`` (what
    ``metafor::cumul`` returns).

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
        Label of the study added in each row (in ``order``).
    method, test : str
        Estimator and test of the model.
    level : float
        Confidence level in percent.
    ids : numpy.ndarray
        0-based position in the data of the study added in each row.

    Examples
    --------
    >>> import metaparity as mp
    >>> c = cumul(mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE"), order=[3, 1, 2])
    >>> c.ids.tolist(), list(c.to_frame().index)
    ([1, 2, 0], [2, 3, 1])
    """

    ids: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))


def cumul(res: RmaResult, order: ArrayLike | None = None) -> Cumul:
    """Cumulative meta-analysis: add one study at a time.

    Equivalent to ``metafor::cumul(res, order=)``.

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma`.
    order : array_like, optional
        A variable of length ``k`` by which the studies are sorted (stable, as R's
        ``order()``: ties keep data order), e.g. the publication year.  Default:
        data order.

    Returns
    -------
    Cumul
        Row ``j`` is the model fitted to the first ``j + 1`` studies; ``slab`` and
        ``ids`` give the study added in that row.  The first row (k = 1) uses a
        z-test, as metafor does.

    Raises
    ------
    TypeError
        ``res`` is not an intercept-only model from :func:`metaparity.rma`.
    ValueError
        ``order`` does not have one entry per study.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE")
    >>> [round(float(x), 4) for x in cumul(res).estimate]  # metafor: cumul(res)$estimate
    [0.1, 0.1667, 0.2273]
    >>> c = cumul(res, order=[2003, 2001, 2002])
    >>> c.ids.tolist(), [round(float(x), 4) for x in c.estimate]
    ([1, 2, 0], [0.3, 0.38, 0.2273])
    """
    _need_no_moderators(res, "cumul")
    k = res.k
    if order is None:
        idx = np.arange(k)
    else:
        o = np.asarray(order).ravel()
        if o.shape[0] != k:
            raise ValueError(f"order has length {o.shape[0]}; the model has k = {k} studies")
        idx = np.argsort(o, kind="stable")
    yi, vi = _data(res)
    lower = np.tril(np.ones((k, k), bool))
    Y = np.where(lower, yi[idx][None, :], np.nan)
    V = np.where(lower, vi[idx][None, :], np.nan)
    W = None if res.weights is None else np.where(lower, res.weights[idx][None, :], np.nan)
    fit = rma_batch(Y, V, method=res.method, test=res.test, level=res.level, weights=W)
    labels = _labels(res)
    return _table(Cumul, fit, res, tuple(labels[i] for i in idx), ids=idx)
