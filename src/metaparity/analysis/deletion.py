"""The deleted fits behind ``influence``, ``rstudent`` and ``baujat``, with and without
moderators.

Fit ``i`` is the model refitted without study ``i`` with the same method, test and level
(metafor refits ``rma.uni(..., mods = X, intercept = FALSE, subset = -i)``).  Models
without moderators take the ``k`` refits from the leave-one-out batch
(:mod:`metaparity.analysis.leave1out`); meta-regressions from the meta-regression engine
(:func:`metaparity.engine.mods.fit_mods`), one batch of ``k`` designs of ``k - 1`` rows.
Where metafor's refit fails -- a coefficient becomes inestimable (the design without the
study loses rank, e.g. the only study of a factor level), or ``k - 1 = p`` leaves no
degrees of freedom to estimate tau^2 -- the row is NaN, as metafor's NA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metaparity.analysis._diag_common import _data
from metaparity.analysis.leave1out import _loo
from metaparity.engine.mods import fit_mods
from metaparity.models.results import RmaResult

__all__: list[str] = []

_NO_TAU2 = ("EE", "FE", "CE")


@dataclass(frozen=True)
class Deleted:
    """Row ``i``: the fit without study ``i`` (NaN where metafor's refit fails).

    ``b`` (k, p) coefficients, ``vb`` (k, p, p) their variance (with the Knapp-Hartung
    factor), ``tau2`` and ``QE`` (k,), ``s2w`` (k,) the Knapp-Hartung factor (1 for tests
    z and t; ``max(1, s2)`` for adhoc)."""

    b: np.ndarray
    vb: np.ndarray
    tau2: np.ndarray
    QE: np.ndarray
    s2w: np.ndarray


def design(res: RmaResult) -> np.ndarray:
    """The model's design ``X`` (k, p) (a column of ones for a model without moderators)."""
    return np.ones((res.k, 1)) if res.int_only or res.X is None else np.asarray(res.X, float)


def deleted_fits(res: RmaResult) -> Deleted:
    """The ``k`` fits without one study each."""
    if res.int_only:
        return _deleted_int_only(res)
    return _deleted_mods(res)


def _deleted_int_only(res: RmaResult) -> Deleted:
    L = _loo(res)
    _, v = _data(res)
    tau2 = L.tau2 if res.method not in _NO_TAU2 else np.zeros(res.k)
    # 1 / sum_j 1/(v_j + tau2_(i)) over the k - 1 studies of each refit
    vz = 1.0 / ((1.0 / (v[None, :] + L.tau2[:, None])) * ~np.eye(res.k, dtype=bool)).sum(-1)
    return Deleted(b=L.b[:, None], vb=(L.se**2)[:, None, None], tau2=tau2, QE=L.QE,
                   s2w=L.se**2 / vz)  # fmt: skip


def _deleted_mods(res: RmaResult) -> Deleted:
    y, v = _data(res)
    X = design(res)
    k, p = X.shape
    keep = ~np.eye(k, dtype=bool)
    Xd = np.stack([X[keep[i]] for i in range(k)])
    yd = np.stack([y[keep[i]] for i in range(k)])
    vd = np.stack([v[keep[i]] for i in range(k)])
    ok = np.array([np.linalg.matrix_rank(Xd[i]) == p for i in range(k)])
    if k - 1 == p and res.method not in _NO_TAU2:
        ok[:] = False  # metafor: "Number of parameters to be estimated is larger than ..."
    b = np.full((k, p), np.nan)
    vb = np.full((k, p, p), np.nan)
    tau2, QE, s2w = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    if ok.any():
        out = fit_mods(
            yd[ok], vd[ok], Xd[ok], method=res.method, test=res.test, level=res.level,
            btt=list(range(p)), intercept=False,
        )  # fmt: skip
        b[ok], vb[ok], QE[ok] = out["b"], out["vb"], out["QE"]
        t2 = np.asarray(out["tau2"], float)
        tau2[ok] = t2 if res.method not in _NO_TAU2 else 0.0
        if res.test in ("knha", "adhoc"):
            W = 1.0 / (vd[ok] + t2[:, None])
            raw = np.linalg.inv(np.einsum("nkp,nk,nkq->npq", Xd[ok], W, Xd[ok]))
            s2w[ok] = np.trace(out["vb"], axis1=-2, axis2=-1) / np.trace(raw, axis1=-2, axis2=-1)
        else:
            s2w[ok] = 1.0
    return Deleted(b=b, vb=vb, tau2=tau2, QE=QE, s2w=s2w)
