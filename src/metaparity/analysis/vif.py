"""Variance inflation factors of a meta-regression: metafor's ``vif()`` (Fox and Monette 1992).

For a set ``B`` of ``m`` coefficients the generalised VIF is
``GVIF = det(R_BB) det(R_CC) / det(R)`` with ``R`` the correlation matrix of the
coefficients (``cov2cor(vb)``) without the intercept (unless ``intercept=True``) and ``C`` the
other coefficients; for one coefficient it is the usual VIF.  ``GSIF = GVIF^(1/(2m))``.  By
default each coefficient but the intercept is its own set; ``btt=`` names sets (0-based
indices or coefficient names, one set or a list of sets).

``reestimate=True`` refits the model with only the set's moderators (and the intercept) --
same estimator, test, weights and fixed tau^2 -- and takes
``GVIF = det(vb_BB) / det(vb_sub)`` (the sub-model's ``vb`` without its intercept), so that
tau^2 re-estimated without the other moderators enters, as metafor.  (metafor's ``sim=``,
the distribution of VIFs under permuted moderators, is not built.)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metaparity.analysis.anova import btt_indices
from metaparity.models.metareg import rma_mods
from metaparity.models.results import RmaResult

__all__ = ["vif", "VifResult"]


@dataclass(frozen=True)
class VifResult:
    """One row per set of coefficients: ``coefs`` (0-based indices), ``coefname`` (the
    coefficient's name for a set of one, else ""), ``m``, ``vif`` (the (G)VIF), ``sif``
    (the (G)SIF); :meth:`to_frame` is metafor's printed table."""

    coefs: tuple[tuple[int, ...], ...]
    coefname: tuple[str, ...]
    m: tuple[int, ...]
    vif: np.ndarray
    sif: np.ndarray
    reestimate: bool

    def to_frame(self) -> pd.DataFrame:
        """``coefs`` (1-based ranges, as metafor prints them), ``m``, ``vif``, ``sif``."""
        return pd.DataFrame({"coefs": [_fmt(c) for c in self.coefs], "m": list(self.m),
                             "vif": self.vif, "sif": self.sif},
                            index=[n or str(i + 1) for i, n in enumerate(self.coefname)])  # fmt: skip


def _fmt(c: tuple[int, ...]) -> str:
    one = [i + 1 for i in c]
    if len(one) > 1 and one == list(range(one[0], one[-1] + 1)):
        return f"{one[0]}:{one[-1]}"
    return ",".join(str(i) for i in one)


def _sets(res: RmaResult, btt: Any, intercept: bool) -> list[tuple[int, ...]]:
    if btt is None:
        first = 1 if res.intercept and not intercept else 0
        return [(j,) for j in range(first, res.p)]
    items = btt if isinstance(btt, list) and btt and isinstance(btt[0], (list, tuple)) else [btt]
    out = [btt_indices(res, b) for b in items]
    if res.intercept and not intercept and any(s == (0,) for s in out):
        raise ValueError("vif: cannot compute a VIF for the intercept alone (metafor: 'Cannot "
                         "compute VIF(s) for the specified 'btt' argument.'); use intercept=True")  # fmt: skip
    return out


def _refit(res: RmaResult, cols: list[int]) -> RmaResult:
    X = np.asarray(res.X, dtype=float)[:, cols]
    w = None if res.weights is None else np.asarray(res.weights, dtype=float).ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rma_mods(res.yi, res.vi, mods=X, intercept=False, method=res.method,
                        test=res.test, level=res.level, weights=w, weighted=res.weighted,
                        tau2=res.tau2 if res.tau2_fix else None)  # fmt: skip


def vif(res: RmaResult, btt: Any = None, *, intercept: bool = False,
        reestimate: bool = False) -> VifResult:  # fmt: skip
    """(Generalised) variance inflation factors of the coefficients of a meta-regression.

    Equivalent to ``metafor::vif(res, btt=, reestimate=)`` for an ``rma.uni`` fit
    (``btt`` 0-based here; ``intercept=`` is metafor's undocumented argument of the same
    name).

    Parameters
    ----------
    res : RmaResult
        A meta-regression (:func:`metaparity.rma` with ``mods=``).
    btt : int, str, sequence, or list of sequences, optional
        The set(s) of coefficients (default: each coefficient but the intercept).
    intercept : bool
        Keep the intercept in the correlation matrix.
    reestimate : bool
        Refit the model with only each set's moderators (see the module's description).

    Returns
    -------
    VifResult

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.5, 0.3, 0.9, 0.2, 0.4], [0.02, 0.03, 0.01, 0.04, 0.02, 0.03],
    ...              mods=[[1, 2], [2, 1], [3, 5], [4, 3], [5, 6], [6, 4]])
    >>> v = vif(res)
    >>> [round(float(x), 4) for x in v.vif], v.coefname
    ([1.7314, 1.7314], ('X1', 'X2'))
    """
    if not isinstance(res, RmaResult) or res.X is None:
        raise ValueError("vif: VIFs need a meta-regression (metafor: 'VIFs not applicable to "
                         "intercept-only models.')")  # fmt: skip
    sets = _sets(res, btt, intercept)
    vb = np.asarray(res.vb, dtype=float)
    drop = res.intercept and not intercept
    keep = list(range(1, res.p)) if drop else list(range(res.p))
    gv = []
    for s in sets:
        b = [j for j in s if j in keep]
        if not reestimate:
            sub = vb[np.ix_(keep, keep)]
            d = np.sqrt(np.diag(sub))
            R = sub / np.outer(d, d)
            pos = [keep.index(j) for j in b]
            rest = [i for i in range(len(keep)) if i not in pos]
            g = (np.linalg.det(R[np.ix_(pos, pos)]) * np.linalg.det(R[np.ix_(rest, rest)])
                 / np.linalg.det(R))  # fmt: skip
        else:
            cols = ([0] + b) if drop and b != [0] else b
            try:
                fit = _refit(res, cols)
                vsub = np.asarray(fit.vb, dtype=float)
                if drop:
                    vsub = vsub[1:, 1:]
                g = np.linalg.det(vb[np.ix_(b, b)]) / np.linalg.det(vsub)
            except ValueError:
                g = float("nan")
        gv.append(float(g))
    m = tuple(len([j for j in s if j in keep]) for s in sets)
    vifs = np.array(gv)
    return VifResult(
        coefs=tuple(tuple(s) for s in sets),
        coefname=tuple(res.coef_names[s[0]] if len(s) == 1 else "" for s in sets), m=m,
        vif=vifs, sif=vifs ** (1 / (2 * np.array(m, dtype=float))), reestimate=bool(reestimate),
    )  # fmt: skip
