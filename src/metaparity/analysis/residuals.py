"""Standardized residuals at parity with ``metafor::rstandard`` and ``metafor::rstudent``.

Internally standardized (marginal) residuals from the full model; externally
standardized (deleted) residuals from the leave-one-out fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metaparity.analysis._diag_common import (
    _data,
    _labels,
    _need_deletable,
    _need_unweighted,
)
from metaparity.analysis.deletion import deleted_fits, design
from metaparity.analysis.influence import _rstudent
from metaparity.models.results import RmaResult

__all__ = ["Residuals", "rstandard", "rstudent"]


@dataclass(frozen=True)
class Residuals:
    """Residuals, their standard errors and ``z = resid / se`` (what
    ``metafor::rstandard`` and ``metafor::rstudent`` return).

    Attributes
    ----------
    resid, se, z : numpy.ndarray
        Residual, its standard error and the standardized residual of each study.
    slab : tuple
        Study labels.

    Examples
    --------
    >>> import metaparity as mp
    >>> r = rstandard(mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE"))
    >>> r.to_frame().round(4).values.tolist()[0]  # metafor: rstandard(res)[1, ]
    [-0.1273, 0.0674, -1.8878]
    """

    resid: np.ndarray
    se: np.ndarray
    z: np.ndarray
    slab: tuple = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Columns resid, se, z, indexed by study label."""
        return pd.DataFrame(
            {"resid": self.resid, "se": self.se, "z": self.z},
            index=pd.Index(list(self.slab), name="slab"),
        )


def rstandard(res: RmaResult) -> Residuals:
    """Internally standardized residuals (marginal).

    Equivalent to ``metafor::rstandard(res)`` (``rstandard.rma.uni``):
    ``resid = y_i - x_i' b`` (below 100 eps: 0, as metafor) with ``se`` the square root
    of the diagonal of ``(I - H) M (I - H)'``, ``H = X (X'WX)^-1 X'W``,
    ``M = diag(v + tau2)``, ``W = M^-1`` (no Knapp-Hartung factor, as metafor); without
    moderators ``se = sqrt(v_i + tau2 - 1/sum(w))``.

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` (no user weights), with or without
        moderators.

    Returns
    -------
    Residuals
        ``resid``, ``se``, ``z`` per study.

    Raises
    ------
    TypeError
        ``res`` is not a model from :func:`metaparity.rma`.
    NotImplementedError
        The model was fitted with user weights.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE")
    >>> [round(float(z), 4) for z in rstandard(res).z]  # metafor: rstandard(res)$z
    [-1.8878, 0.603, 1.7408]
    """
    _need_deletable(res, "rstandard", k2=False)
    _need_unweighted(res, "rstandard")
    yi, vi = _data(res)
    X = design(res)
    m = vi + res.tau2
    e = yi - X @ np.atleast_1d(np.asarray(res.b, float))
    e = np.where(np.abs(e) < 100.0 * np.finfo(float).eps, 0.0, e)
    if res.int_only:
        se = np.sqrt(np.maximum(m - 1.0 / (1.0 / m).sum(), 0.0))
    else:
        H = X @ np.linalg.solve(X.T @ (X / m[:, None]), X.T) / m[None, :]
        ImH = np.eye(res.k) - H
        se = np.sqrt(np.maximum(np.einsum("ij,j,ij->i", ImH, m, ImH), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = e / se
    return Residuals(resid=e, se=se, z=z, slab=_labels(res))


def rstudent(res: RmaResult) -> Residuals:
    """Externally standardized (deleted) residuals.

    Equivalent to ``metafor::rstudent(res)`` (``rstudent.rma.uni``):
    ``resid = y_i - x_i' b_(i)`` (the prediction of the model fitted without study ``i``;
    below 100 eps: 0, as metafor), ``se = sqrt(s2_(i) (v_i + tau2_(i)) + x_i' vb_(i) x_i)``
    with ``s2`` the Knapp-Hartung factor of that fit (1 for tests z and t).  NaN where
    metafor's refit fails (see :func:`~metaparity.analysis.influence.influence`).

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` (no user weights) with ``k >= 2``, with or
        without moderators.

    Returns
    -------
    Residuals
        ``resid``, ``se``, ``z`` per study.

    Raises
    ------
    TypeError
        ``res`` is not a model from :func:`metaparity.rma`.
    ValueError
        k = 1 (metafor: "Stopped because k = 1.").
    NotImplementedError
        The model was fitted with user weights.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE")
    >>> [round(float(z), 4) for z in rstudent(res).z]  # = rstandard for EE models
    [-1.8878, 0.603, 1.7408]
    """
    _need_deletable(res, "rstudent")
    _need_unweighted(res, "rstudent")
    y, v = _data(res)
    e, se, z = _rstudent(y, v, design(res), deleted_fits(res))
    return Residuals(resid=e, se=se, z=z, slab=_labels(res))
