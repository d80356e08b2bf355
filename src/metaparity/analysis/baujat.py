"""Baujat plot coordinates at parity with ``metafor::baujat``.

The plot itself is :func:`metaparity.plots.diagnostics.plot_baujat`'s concern; this
module computes what metafor returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from metaparity.analysis._diag_common import _data, _labels, _need_deletable, _need_unweighted
from metaparity.analysis.deletion import deleted_fits, design
from metaparity.analysis.influence import _deleted_prediction
from metaparity.models.results import RmaResult

__all__ = ["Baujat", "baujat"]


@dataclass(frozen=True)
class Baujat:
    """Baujat plot coordinates (what ``metafor::baujat`` returns).

    Attributes
    ----------
    x : numpy.ndarray
        Contribution of each study to the (generalised) Q.
    y : numpy.ndarray
        Influence of each study on the pooled estimate.
    ids : numpy.ndarray
        1-based study numbers.
    slab : tuple
        Study labels.

    Examples
    --------
    >>> import metaparity as mp
    >>> bj = baujat(mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE"))
    >>> list(bj.to_frame().columns), bj.ids.tolist()
    (['x', 'y', 'ids', 'slab'], [1, 2, 3])
    """

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    slab: tuple

    def to_frame(self) -> pd.DataFrame:
        """Columns x, y, ids, slab (as metafor returns them)."""
        return pd.DataFrame({"x": self.x, "y": self.y, "ids": self.ids, "slab": list(self.slab)})


def baujat(res: RmaResult) -> Baujat:
    """Baujat plot coordinates.

    Equivalent to ``metafor::baujat(res)`` (the coordinates it returns):
    ``x_i = (y_i - x_i' b)^2 / (v_i + tau2)`` (squared Pearson residual; for an
    equal-effects model the contribution of study ``i`` to QE) and
    ``y_i = (x_i' b - x_i' b_(i))^2 / (x_i' vb_(i) x_i)`` (squared change of the fitted
    value when the study is left out, standardized by the variance of the deleted
    prediction; without moderators, of the pooled estimate).

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` (no user weights) with ``k >= 2``, with or
        without moderators.

    Returns
    -------
    Baujat
        ``x``, ``y``, ``ids`` (1-based) and ``slab`` per study.

    Raises
    ------
    TypeError
        ``res`` is not a model from :func:`metaparity.rma`.
    ValueError
        k = 1 (metafor: "Stopped because k = 1."), or no refit without a study can be
        fitted (metafor stops too).
    NotImplementedError
        The model was fitted with user weights.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE")
    >>> bj = baujat(res)  # metafor: baujat(res)
    >>> [round(float(x), 4) for x in bj.x], [round(float(y), 4) for y in bj.y]
    ([1.6198, 0.2645, 2.4793], [1.9438, 0.0992, 0.551])
    """
    _need_deletable(res, "baujat")
    _need_unweighted(res, "baujat")
    yi, vi = _data(res)
    X = design(res)
    fitted = X @ np.atleast_1d(np.asarray(res.b, float))
    e = yi - fitted
    e = np.where(np.abs(e) < 100.0 * np.finfo(float).eps, 0.0, e)  # metafor's resid()
    x = e**2 / (vi + res.tau2)
    pred, vpred = _deleted_prediction(X, deleted_fits(res))
    if np.isnan(pred).all():
        raise ValueError(
            f"baujat(): none of the {res.k} refits without one study can be fitted (with "
            f"k - 1 = {res.k - 1} studies and p = {res.p} coefficients: a coefficient becomes "
            "inestimable or no degrees of freedom are left for tau^2), so there is no "
            "influence to plot; metafor stops too ('need finite 'ylim' values')"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        yv = (pred - fitted) ** 2 / vpred
    return Baujat(x=x, y=yv, ids=np.arange(1, res.k + 1), slab=_labels(res))
