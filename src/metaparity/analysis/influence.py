"""Outlier and influence diagnostics at parity with ``metafor::influence.rma.uni``.

The definitions (Viechtbauer & Cheung 2010) are listed in
:mod:`metaparity.analysis.diagnostics`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from metaparity.analysis._diag_common import _labels, _need_deletable, _need_unweighted
from metaparity.analysis.anova import _coef, btt_indices
from metaparity.analysis.deletion import Deleted, deleted_fits, design
from metaparity.models.results import RmaResult

__all__ = ["Influence", "influence", "cooks_distance", "dfbetas", "hatvalues"]


@dataclass(frozen=True)
class Influence:
    """Outlier and influence diagnostics (what ``metafor::influence.rma.uni`` returns),
    one entry per study; the formulas are in
    :mod:`metaparity.analysis.diagnostics`.

    Attributes
    ----------
    rstudent : numpy.ndarray
        Externally standardized residuals.
    dffits, cook_d, cov_r : numpy.ndarray
        DFFITS, Cook's distances, covariance ratios.
    tau2_del, QE_del : numpy.ndarray
        tau^2 and QE of the model without the study (``tau2_del`` 0 for EE/FE).
    hat, weight : numpy.ndarray
        Hat values and weights in percent.
    dfbs : numpy.ndarray
        DFBETAS: of the intercept (k,) for a model without moderators, else (k, p), one
        column per coefficient (``dfbetas()`` gives them as a table).
    inf : numpy.ndarray of bool
        Whether the study is flagged as influential (also ``is_infl``).
    slab : tuple
        Study labels.
    coef_names : tuple
        The coefficients (the columns of ``dfbs``).

    Examples
    --------
    >>> import metaparity as mp
    >>> inf = influence(mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL"))
    >>> list(inf.to_frame().columns)
    ['rstudent', 'dffits', 'cook.d', 'cov.r', 'tau2.del', 'QE.del', 'hat', 'weight', 'dfbs', 'inf']
    """

    rstudent: np.ndarray
    dffits: np.ndarray
    cook_d: np.ndarray
    cov_r: np.ndarray
    tau2_del: np.ndarray
    QE_del: np.ndarray
    hat: np.ndarray
    weight: np.ndarray
    dfbs: np.ndarray
    inf: np.ndarray
    slab: tuple = field(repr=False)
    coef_names: tuple = field(default=("intrcpt",), repr=False)

    @property
    def is_infl(self) -> np.ndarray:
        """Alias of ``inf`` (metafor's ``is.infl``)."""
        return self.inf

    def to_frame(self) -> pd.DataFrame:
        """Columns as metafor prints them: rstudent dffits cook.d cov.r tau2.del QE.del
        hat weight dfbs inf (bool); ``dfbs`` only for a model without moderators (a
        meta-regression's are in :meth:`dfbetas`, as metafor prints them apart)."""
        names = {"cook_d": "cook.d", "cov_r": "cov.r", "tau2_del": "tau2.del", "QE_del": "QE.del"}
        cols = {
            names.get(f.name, f.name): np.asarray(getattr(self, f.name))
            for f in fields(self)
            if f.name not in ("slab", "coef_names")
            and not (f.name == "dfbs" and self.dfbs.ndim > 1)
        }
        return pd.DataFrame(cols, index=pd.Index(list(self.slab), name="slab"))

    def dfbetas(self) -> pd.DataFrame:
        """DFBETAS, one column per coefficient (``metafor::dfbetas``)."""
        d = self.dfbs.reshape(len(self.slab), -1)
        return pd.DataFrame(d, columns=list(self.coef_names),
                            index=pd.Index(list(self.slab), name="slab"))  # fmt: skip


def influence(res: RmaResult, btt: Any = None) -> Influence:
    """Outlier and influence diagnostics, with or without moderators.

    Equivalent to ``metafor::influence(res)`` (``influence.rma.uni``).

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` (no user weights) with ``k >= 2``; with or
        without moderators.
    btt : int, str or sequence, optional
        The coefficients (0-based indices or names) entering Cook's distances and the
        covariance ratios; default all of them, intercept included (metafor's default).

    Returns
    -------
    Influence
        ``rstudent dffits cook_d cov_r tau2_del QE_del hat weight dfbs inf``; the
        formulas are listed in :mod:`metaparity.analysis.diagnostics`.  ``inf``
        flags a study when ``|dffits| > 3 sqrt(p/(k-p))``,
        ``P(chi2_m <= cook.d) > 0.5`` (m coefficients in ``btt``), ``hat > 3p/k`` or
        any ``|dfbs| > 1`` (metafor's rule).  Where metafor's refit without a study
        fails (a coefficient becomes inestimable, or no degrees of freedom are left for
        tau^2) the study's deleted quantities are NaN and it is not flagged.

    Raises
    ------
    TypeError
        ``res`` is not a model from :func:`metaparity.rma`.
    ValueError
        k = 1 (metafor: "Stopped because k = 1."); ``btt`` out of range or unknown.
    NotImplementedError
        The model was fitted with user weights.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL")
    >>> inf = influence(res)
    >>> [round(float(x), 4) for x in inf.cook_d], inf.inf.tolist()  # metafor: influence(res)
    ([0.6526, 0.0084, 0.5752, 0.1542], [True, False, True, False])
    """
    _need_deletable(res, "influence")
    _need_unweighted(res, "influence")
    D = deleted_fits(res)
    X = design(res)
    y, v = np.asarray(res.yi, float), np.asarray(res.vi, float)
    k, p = X.shape
    b, vb = _coef(res)
    bt = list(range(p)) if btt is None else list(btt_indices(res, btt))
    w = 1.0 / (v + res.tau2)
    hat = _hat(X, w)
    delpred, _ = _deleted_prediction(X, D)
    ok = np.isfinite(D.tau2)
    t2 = np.where(ok, D.tau2, 0.0)  # failed refits: finite arithmetic, NaN below
    # the full model's (X'WX)^-1 with each deleted fit's tau^2
    vb_t2 = np.linalg.inv(np.einsum("kp,nk,kq->npq", X, 1.0 / (v[None, :] + t2[:, None]), X))
    dfb = b[None, :] - D.b
    with np.errstate(divide="ignore", invalid="ignore"):
        dffits = (X @ b - delpred) / np.sqrt(D.s2w * hat * (D.tau2 + v))
        dfbs = dfb / np.sqrt(D.s2w[:, None] * np.diagonal(vb_t2, axis1=-2, axis2=-1))
        sub = np.ix_(bt, bt)
        d = dfb[:, bt]
        cook = np.einsum("ip,pq,iq->i", d, np.linalg.inv(vb[sub]), d)
        covr = np.linalg.det(D.vb[:, bt][:, :, bt]) / np.linalg.det(vb[sub])
    m = len(bt)
    with np.errstate(invalid="ignore"):
        inf = (
            (np.abs(dffits) > 3.0 * np.sqrt(p / (k - p)))
            | (stats.chi2.cdf(cook, m) > 0.5)
            | (hat > 3.0 * p / k)
            | (np.abs(dfbs) > 1.0).any(-1)
        )
    return Influence(
        rstudent=_rstudent(y, v, X, D)[2],
        dffits=dffits,
        cook_d=cook,
        cov_r=covr,
        tau2_del=D.tau2,
        QE_del=D.QE,
        hat=hat,
        weight=100.0 * w / w.sum(),
        dfbs=dfbs[:, 0] if res.int_only else dfbs,
        inf=inf,
        slab=_labels(res),
        coef_names=tuple(res.coef_names),
    )


def _hat(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The diagonal of ``X (X'WX)^-1 X'W``, values within 10 eps of 1 set to 1 (metafor's
    ``hatvalues``)."""
    G = np.linalg.solve(X.T @ (w[:, None] * X), X.T)  # (X'WX)^-1 X' (p, k)
    h = np.einsum("kp,pk->k", X, G) * w
    return np.where(h > 1.0 - 10.0 * np.finfo(float).eps, 1.0, h)


def _deleted_prediction(X: np.ndarray, D: Deleted) -> tuple[np.ndarray, np.ndarray]:
    """``x_i' b_(i)`` and its variance ``x_i' vb_(i) x_i``."""
    return np.einsum("kp,kp->k", X, D.b), np.einsum("kp,kpq,kq->k", X, D.vb, X)


def _rstudent(y: np.ndarray, v: np.ndarray, X: np.ndarray,
              D: Deleted) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Deleted residuals ``y_i - x_i' b_(i)`` (below 100 eps: 0, as metafor), their SEs
    ``sqrt(s2_(i) (v_i + tau2_(i)) + x_i' vb_(i) x_i)`` and the ratio."""
    pred, vpred = _deleted_prediction(X, D)
    e = y - pred
    e = np.where(np.abs(e) < 100.0 * np.finfo(float).eps, 0.0, e)
    se = np.sqrt(D.s2w * (v + D.tau2) + vpred)
    with np.errstate(divide="ignore", invalid="ignore"):
        return e, se, e / se


def cooks_distance(res: RmaResult, btt: Any = None) -> np.ndarray:
    """Cook's distances, as :func:`influence` computes them.

    Equivalent to ``metafor::cooks.distance(res)``.

    Parameters
    ----------
    res : RmaResult
        As for :func:`influence`.
    btt : int, str or sequence, optional
        The coefficients the distances are over (default all).

    Returns
    -------
    numpy.ndarray
        One distance per study (NaN where the refit without it fails).
    """
    return influence(res, btt=btt).cook_d


def dfbetas(res: RmaResult) -> pd.DataFrame:
    """DFBETAS, one column per coefficient.

    Equivalent to ``metafor::dfbetas(res)``.

    Parameters
    ----------
    res : RmaResult
        As for :func:`influence`.

    Returns
    -------
    pandas.DataFrame
        Rows by study label, columns the coefficients.
    """
    return influence(res).dfbetas()


def hatvalues(res: RmaResult) -> np.ndarray:
    """Hat values: the diagonal of ``X (X'WX)^-1 X'W``, ``W = diag(1/(v + tau2))``.

    Equivalent to ``metafor::hatvalues(res)``: values within 10 eps of 1 are 1.

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` (no user weights), with or without moderators.

    Returns
    -------
    numpy.ndarray
        One hat value per study; they sum to the number of coefficients.

    Examples
    --------
    >>> import metaparity as mp
    >>> hatvalues(mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.04], method="EE")).round(4).tolist()
    [0.5714, 0.2857, 0.1429]
    """
    _need_deletable(res, "hatvalues", k2=False)
    _need_unweighted(res, "hatvalues")
    return _hat(design(res), 1.0 / (np.asarray(res.vi, float) + res.tau2))
