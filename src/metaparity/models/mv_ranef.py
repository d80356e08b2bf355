"""Best linear unbiased predictions of rma_mv's random effects (``metafor::ranef.rma.mv``).

A ``~ inner | outer`` term (G, or H for the second) has effects with covariance
``C = (Z_i G Z_i') * S`` at the rows (``S``: same outer level); ``u = C W e`` with
``var = C - C W (I - H) C``, one row per (inner, outer) combination present, named
``"inner | outer"`` and ordered by outer then inner level as metafor; under ``test="t"`` the
df are ``k - p`` or (``"contain"``) the number of outer levels minus ``p``.

For a ``~ 1 | f`` term with ``D = sigma2 R`` over the levels of ``f`` and indicators ``Z``:
``u = D Z' W e`` (``W = M^-1``, ``e = y - X b``) with ``var = D - D Z' W (I - H) Z D``,
``H = X (X'WX)^-1 X'W``; prediction intervals ``u +/- crit se`` with the normal quantile, or
t with ``k - p`` (``dfs="residual"``) or ``levels(f) - p`` (``"contain"``) df under
``test="t"``.  Values below ``100 eps`` in absolute value are 0, as metafor's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from metaparity._core.validation import check_level

if TYPE_CHECKING:  # pragma: no cover
    from metaparity.models.mv import MvResult

__all__ = ["ranef_mv"]


def ranef_mv(res: MvResult, level: float | None = None) -> dict[str, pd.DataFrame]:
    """BLUPs of the random effects, one DataFrame per term.

    Equivalent to ``metafor::ranef(res)`` for an ``rma.mv`` fit.

    Parameters
    ----------
    res : MvResult
        A fit of :func:`metaparity.rma_mv`.
    level : float, optional
        Level of the prediction intervals (default: the model's).

    Returns
    -------
    dict of str to pandas.DataFrame
        Keyed by the term's name (``"district"``, ``"district/school"``, ``"~outcome |
        trial"``): columns ``intrcpt``, ``se``, ``pi_lb``, ``pi_ub``, one row per level
        (per inner | outer combination).
    """
    lv = res.level if level is None else check_level(level)
    alpha = 1 - lv / 100
    W = np.linalg.inv(res.M)
    X = res.X
    H = X @ np.linalg.solve(X.T @ W @ X, X.T @ W)
    e = res.yi - X @ res.b
    IH = np.eye(res.k) - H
    out: dict[str, pd.DataFrame] = {}
    for s2, term in zip(res.sigma2, res._problem.sig, strict=True):
        L = len(term.levels)
        Z = np.zeros((res.k, L))
        Z[np.arange(res.k), term.codes] = 1.0
        R = np.eye(L) if term.Rmat is None else term.Rmat
        D = s2 * R
        DZtW = D @ Z.T @ W
        u = DZtW @ e
        u[np.abs(u) < 100 * np.finfo(float).eps] = 0.0
        vu = D - DZtW @ IH @ Z @ D
        se = np.sqrt(np.maximum(np.diag(vu), 0.0))
        if res.test == "t":
            ddf = res.k - res.p if res.dfs == "residual" else L - res.p
            crit = stats.t.isf(alpha / 2, max(ddf, 1))
        else:
            crit = stats.norm.isf(alpha / 2)
        out[term.name] = pd.DataFrame({"intrcpt": u, "se": se, "pi_lb": u - crit * se,
                                       "pi_ub": u + crit * se}, index=list(term.levels))  # fmt: skip
    for g, G in zip(res._problem.gts, res.g_matrices(), strict=True):
        out[f"~{g.inner} | {g.outer}"] = _g_blups(res, g, G, W, e, IH, alpha)
    return out


def _g_blups(res: MvResult, g: Any, G: np.ndarray, W: np.ndarray, e: np.ndarray,
             IH: np.ndarray, alpha: float) -> pd.DataFrame:  # fmt: skip
    """One ``~ inner | outer`` term: a BLUP per (inner, outer) combination present, rows
    named ``"inner | outer"`` (inner right-aligned, as metafor) in (outer, inner) order."""
    C = (g.Zi @ G @ g.Zi.T) * g.S2  # covariance of the term's effects at the k rows
    CW = C @ W
    u = CW @ e
    u[np.abs(u) < 100 * np.finfo(float).eps] = 0.0
    se = np.sqrt(np.maximum(np.diag(C - CW @ IH @ C), 0.0))
    if res.test == "t":
        ddf = res.k - res.p if res.dfs == "residual" else len(set(g.ocodes.tolist())) - res.p
        crit = stats.t.isf(alpha / 2, max(ddf, 1))
    else:
        crit = stats.norm.isf(alpha / 2)
    inner = [g.levels[i] for i in g.icodes]
    width = max(len(s) for s in inner)
    names = [f"{s:>{width}} | {g.olevels[o]}" for s, o in zip(inner, g.ocodes, strict=True)]
    first: dict[str, int] = {}
    for i, nm in enumerate(names):
        first.setdefault(nm, i)
    rows = sorted(first.values(), key=lambda i: (g.ocodes[i], g.icodes[i]))
    return pd.DataFrame({"intrcpt": u[rows], "se": se[rows], "pi_lb": u[rows] - crit * se[rows],
                         "pi_ub": u[rows] + crit * se[rows]}, index=[names[i] for i in rows])  # fmt: skip
