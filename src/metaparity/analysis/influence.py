"""Outlier and influence diagnostics at parity with ``metafor::influence.rma.uni``.

The definitions (Viechtbauer & Cheung 2010) are listed in
:mod:`metaparity.analysis.diagnostics`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
from scipy import stats

from metaparity.analysis._diag_common import _labels, _need_k2, _need_unweighted
from metaparity.analysis.leave1out import _deleted
from metaparity.models.results import RmaResult

__all__ = ["Influence", "influence"]


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
        DFBETAS of the intercept.
    inf : numpy.ndarray of bool
        Whether the study is flagged as influential (also ``is_infl``).
    slab : tuple
        Study labels.

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

    @property
    def is_infl(self) -> np.ndarray:
        """Alias of ``inf`` (metafor's ``is.infl``)."""
        return self.inf

    def to_frame(self) -> pd.DataFrame:
        """Columns as metafor prints them: rstudent dffits cook.d cov.r tau2.del QE.del
        hat weight dfbs inf (bool)."""
        names = {"cook_d": "cook.d", "cov_r": "cov.r", "tau2_del": "tau2.del", "QE_del": "QE.del"}
        cols = {
            names.get(f.name, f.name): np.asarray(getattr(self, f.name))
            for f in fields(self)
            if f.name != "slab"
        }
        return pd.DataFrame(cols, index=pd.Index(list(self.slab), name="slab"))


def influence(res: RmaResult) -> Influence:
    """Outlier and influence diagnostics.

    Equivalent to ``metafor::influence(res)`` (``influence.rma.uni``).

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` (no user weights) with ``k >= 2``.

    Returns
    -------
    Influence
        ``rstudent dffits cook_d cov_r tau2_del QE_del hat weight dfbs inf``; the
        formulas are listed in :mod:`metaparity.analysis.diagnostics`.  ``inf``
        flags a study when ``|dffits| > 3 sqrt(1/(k-1))``,
        ``P(chi2_1 <= cook.d) > 0.5``, ``hat > 3/k`` or ``|dfbs| > 1`` (metafor's
        rule with p = 1).

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
    >>> res = mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL")
    >>> inf = influence(res)
    >>> [round(float(x), 4) for x in inf.cook_d], inf.inf.tolist()  # metafor: influence(res)
    ([0.6526, 0.0084, 0.5752, 0.1542], [True, False, True, False])
    """
    _need_k2(res, "influence")
    _need_unweighted(res, "influence")
    L, y, v, s2, vall = _deleted(res)
    k = res.k
    w = 1.0 / (v + res.tau2)
    hat = w / w.sum()
    vb = res.se**2
    d = res.b - L.b
    with np.errstate(divide="ignore", invalid="ignore"):
        rst = (y - L.b) / np.sqrt(s2 * (v + L.tau2) + L.se**2)
        dffits = d / np.sqrt(s2 * hat * (v + L.tau2))
        cook = d * d / vb
        covr = L.se**2 / vb
        dfbs = d / np.sqrt(s2 * vall)
    p = 1
    inf = (
        (np.abs(dffits) > 3.0 * np.sqrt(p / (k - p)))
        | (stats.chi2.cdf(cook, p) > 0.5)
        | (hat > 3.0 * p / k)
        | (np.abs(dfbs) > 1.0)
    )
    tau2_del = L.tau2 if res.method not in ("EE", "FE") else np.zeros(k)
    return Influence(
        rstudent=rst,
        dffits=dffits,
        cook_d=cook,
        cov_r=covr,
        tau2_del=tau2_del,
        QE_del=L.QE,
        hat=hat,
        weight=100.0 * hat,
        dfbs=dfbs,
        inf=inf,
        slab=_labels(res),
    )
