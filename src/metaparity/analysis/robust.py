"""Cluster-robust inference for fitted models: :func:`robust` (``metafor::robust``).

The sandwich ``vb = B meat B'`` with the bread ``B = (X'WX)^-1 X'W`` of the fit (``W`` the
inverse marginal covariance of an :func:`~metaparity.rma_mv` fit, the inverse-variance
weights ``1 / (vi + tau2)`` of an :func:`~metaparity.rma` fit, or its user weights) and the
meat ``sum_c e_c e_c'`` over clusters, ``e = y - X b`` (CR0).  ``adjust=True`` multiplies by
``n / (n - p)`` (``n`` clusters: CR1, metafor's default); ``"Stata1"`` by
``n / (n - 1) (k - 1) / (k - p)``, ``"Stata2"`` by ``n / (n - 1)``.  Tests use t(n - p) and the
omnibus test ``F(m, n - p)``, as metafor's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from metaparity.models.mv import MvResult
from metaparity.models.results import RmaResult

__all__ = ["robust", "RobustResult"]

_ADJUST = {True: "CR1", False: "CR0", "Stata": "CR1.S1", "Stata1": "CR1.S1", "Stata2": "CR1.S2"}


@dataclass(frozen=True, kw_only=True, repr=False)
class RobustResult:
    """A fit with cluster-robust standard errors and tests (metafor's ``robust.rma``)."""

    b: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    vb: np.ndarray
    coef_names: tuple[str, ...]
    QM: float
    QMp: float
    QMdf: tuple[int, int]
    btt: tuple[int, ...]
    dfs: int
    n: int
    vbest: str
    level: float
    cluster: np.ndarray = field(repr=False)
    tcl: dict[str, int] = field(repr=False)
    meat: np.ndarray = field(repr=False)
    model: Any = field(repr=False)
    test: str = "t"

    def __repr__(self) -> str:
        shown = "b se zval pval ci_lb ci_ub QM QMp dfs n vbest".split()
        return f"RobustResult({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

    def to_dict(self) -> dict[str, Any]:
        """Numbers and settings as a JSON-ready dict."""
        out: dict[str, Any] = {q: np.asarray(getattr(self, q), dtype=float).tolist()
                               for q in ("b", "se", "zval", "pval", "ci_lb", "ci_ub", "vb")}  # fmt: skip
        out.update(QM=float(self.QM), QMp=float(self.QMp), QMdf=list(self.QMdf), dfs=self.dfs,
                   n=self.n, vbest=self.vbest, coef_names=list(self.coef_names))  # fmt: skip
        return out

    def summary(self, digits: int = 4) -> str:
        """The model's printout with the robust coefficient table (as metafor prints it)."""
        lines = [f"Number of estimates:   {len(self.cluster)}",
                 f"Number of clusters:    {self.n}",
                 f"Estimates per cluster: {min(self.tcl.values())}-{max(self.tcl.values())} "
                 f"(mean: {np.mean(list(self.tcl.values())):.2f}, median: "
                 f"{np.median(list(self.tcl.values())):g})", "",
                 f"Test of Moderators (coefficient(s) {','.join(str(i + 1) for i in self.btt)}):",
                 f"F(df1 = {self.QMdf[0]}, df2 = {self.QMdf[1]}) = {self.QM:.{digits}f}, "
                 f"p-val = {self.QMp:.{digits}f}", "", "Model Results:", ""]  # fmt: skip
        w = max(len(n) for n in self.coef_names)
        lines.append(" " * w + "  estimate      se    tval   df    pval   ci.lb   ci.ub")
        for j, n in enumerate(self.coef_names):
            lines.append(
                f"{n:<{w}}  {self.b[j]:8.{digits}f}  {self.se[j]:.{digits}f}  "
                f"{self.zval[j]:.{digits}f}  {self.dfs:3d}  {self.pval[j]:.{digits}f}  "
                f"{self.ci_lb[j]:.{digits}f}  {self.ci_ub[j]:.{digits}f}"
            )
        lines += ["", f"1) results based on cluster-robust inference (var-cov estimator: "
                      f"{self.vbest},", "   approx t/F-tests and confidence intervals, "
                      "df: residual method)"]  # fmt: skip
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _bread(res: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bread p x k, X, y, b) of a fit."""
    if isinstance(res, MvResult):
        X, y, b = res.X, res.yi, np.asarray(res.b, dtype=float)
        W = np.linalg.inv(res.M)
        return res.vb @ X.T @ W, X, y, b
    if isinstance(res, RmaResult):
        y = np.asarray(res.yi, dtype=float)
        X = np.ones((y.size, 1)) if res.X is None else np.asarray(res.X, dtype=float)
        b = np.atleast_1d(np.asarray(res.b, dtype=float))
        if not res.weighted:
            return np.linalg.solve(X.T @ X, X.T), X, y, b
        if res.weights is not None:
            a = np.asarray(res.weights, dtype=float)
            return np.linalg.solve(X.T @ (a[:, None] * X), X.T * a), X, y, b
        # metafor: bread = vb X'W with the fit's vb (as fitted, also under test="knha")
        vb = np.atleast_2d(np.asarray(res.vb if res.vb is not None else res.se**2, dtype=float))
        w = 1.0 / (np.asarray(res.vi, dtype=float) + float(res.tau2))
        return vb @ (X.T * w), X, y, b
    raise TypeError(
        f"robust() takes a fit of rma(), rma_mods() or rma_mv(), not {type(res).__name__}"
    )


def _cluster(res: Any, cluster: Any, k: int) -> np.ndarray:
    if isinstance(cluster, str):
        groups = getattr(res, "groups", None)
        if groups is not None and cluster in groups.columns:
            return groups[cluster].to_numpy()
        raise ValueError(
            f"cluster={cluster!r}: give the cluster of each estimate (one value per estimate), "
            "or the name of a grouping column of the model's random effects"
        )
    cl = pd.Series(np.asarray(cluster, dtype=object).ravel())
    rows = getattr(res, "rows", None)
    if cl.size != k and rows is not None and cl.size > int(np.max(rows)):
        cl = cl.iloc[rows].reset_index(drop=True)
    if cl.size != k:
        raise ValueError(
            f"cluster has {cl.size} values but the model has {k} estimates: give one cluster "
            "per estimate used in the fit"
        )
    miss = cl.isna().to_numpy()
    if miss.any():
        raise ValueError(
            f"cluster is missing for estimate {int(np.flatnonzero(miss)[0]) + 1}: every estimate "
            "needs a cluster"
        )
    return cl.to_numpy()


def robust(res: Any, cluster: Any, adjust: bool | str = True) -> RobustResult:
    """Cluster-robust tests and confidence intervals for a fitted model.

    Equivalent to ``metafor::robust(x, cluster, adjust=TRUE)`` (its default, not the
    clubSandwich route).

    Parameters
    ----------
    res : RmaResult or MvResult
        A fit of :func:`metaparity.rma`, :func:`metaparity.rma_mods` or
        :func:`metaparity.rma_mv`.
    cluster : array_like or str
        The cluster of each estimate (one value per estimate in the fit; for an rma_mv fit
        with omitted rows, also one per row of the data), or the name of a grouping column
        of an rma_mv fit's random effects.
    adjust : bool or {"Stata1", "Stata2"}
        ``True`` (default): CR1, the sandwich times ``n / (n - p)``; ``False``: CR0;
        ``"Stata1"``: ``n / (n - 1) * (k - 1) / (k - p)``; ``"Stata2"``: ``n / (n - 1)``.

    Returns
    -------
    RobustResult
        ``b`` (unchanged), robust ``se``, ``zval`` (t statistics), ``pval`` (t(n - p)),
        ``ci_lb``/``ci_ub``, ``vb``, ``QM``/``QMp`` (``F(m, n - p)``), ``dfs``, ``n``.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.2, 0.5, 0.4, 0.0], [0.02] * 6, method="EE")
    >>> rob = robust(res, cluster=[1, 1, 2, 2, 3, 3])
    >>> rob.n, rob.dfs, rob.vbest
    (3, 2, 'CR1')
    """
    if adjust not in _ADJUST:
        raise ValueError(f"adjust={adjust!r}: use True, False, 'Stata1' or 'Stata2'")
    bread, X, y, b = _bread(res)
    k, p = X.shape
    cl = _cluster(res, cluster, k)
    codes, uniq = pd.factorize(pd.Series(cl), sort=True)
    n = len(uniq)
    dfs = n - p
    if dfs <= 0:
        raise ValueError(
            f"{n} clusters for {p} coefficients: robust inference needs more clusters than "
            "coefficients (metafor: 'Number of clusters must be larger than the number of "
            "coefficients')"
        )
    e = y - X @ b
    same = codes[:, None] == codes[None, :]
    meat = np.outer(e, e) * same
    vb = bread @ meat @ bread.T
    factor = {"CR0": 1.0, "CR1": n / dfs, "CR1.S1": n / (n - 1) * (k - 1) / (k - p),
              "CR1.S2": n / (n - 1)}[_ADJUST[adjust]]  # fmt: skip
    vb = factor * vb
    is0 = np.diag(vb) < 100 * np.finfo(float).eps
    vb[is0, :] = np.nan
    vb[:, is0] = np.nan
    se = np.sqrt(np.diag(vb))
    zval = b / se
    pval = 2 * stats.t.sf(np.abs(zval), dfs)
    level = float(res.level)
    crit = stats.t.isf((1 - level / 100) / 2, dfs)
    btt = tuple(getattr(res, "btt", ()) or range(p))
    if isinstance(res, RmaResult) and res.X is None:
        btt = (0,)
    idx = list(btt)
    try:
        QM = float(b[idx] @ np.linalg.solve(vb[np.ix_(idx, idx)], b[idx])) / len(idx)
    except np.linalg.LinAlgError:
        QM = float("nan")
    QMp = float(stats.f.sf(QM, len(idx), dfs))
    names = tuple(getattr(res, "coef_names", ("intrcpt",)))
    tcl = {str(u): int((codes == i).sum()) for i, u in enumerate(uniq)}
    return RobustResult(
        b=b, se=se, zval=zval, pval=pval, ci_lb=b - crit * se, ci_ub=b + crit * se, vb=vb,
        coef_names=names, QM=QM, QMp=QMp, QMdf=(len(idx), dfs), btt=btt, dfs=dfs, n=n,
        vbest=_ADJUST[adjust], level=level, cluster=cl, tcl=tcl, meat=meat, model=res,
    )  # fmt: skip
