"""Baujat plot coordinates at parity with ``metafor::baujat``.

The plot itself is :func:`metaparity.plots.diagnostics.plot_baujat`'s concern; this
module computes what metafor returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from metaparity.analysis._diag_common import _data, _labels, _need_k2, _need_unweighted
from metaparity.analysis.leave1out import _loo
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
    ``x_i = (y_i - b)^2 / (v_i + tau2)`` (squared Pearson residual; for an
    equal-effects model the contribution of study ``i`` to QE) and
    ``y_i = (b - b_(i))^2 / vb_(i)`` (squared change of the pooled estimate when the
    study is left out, standardized by the variance of the leave-one-out estimate).

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` (no user weights) with ``k >= 2``.

    Returns
    -------
    Baujat
        ``x``, ``y``, ``ids`` (1-based) and ``slab`` per study.

    Raises
    ------
    TypeError
        ``res`` is not an intercept-only model from :func:`metaparity.rma`.
    ValueError
        k = 1 (metafor: "Stopped because k = 1.").
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
    _need_k2(res, "baujat")
    _need_unweighted(res, "baujat")
    L = _loo(res)
    yi, vi = _data(res)
    x = (yi - res.b) ** 2 / (vi + res.tau2)
    with np.errstate(divide="ignore", invalid="ignore"):
        yv = (res.b - L.b) ** 2 / L.se**2
    return Baujat(x=x, y=yv, ids=np.arange(1, res.k + 1), slab=_labels(res))
