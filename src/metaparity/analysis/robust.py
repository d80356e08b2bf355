"""Cluster-robust inference for fitted models: :func:`robust` (``metafor::robust``).

The sandwich ``vb = B meat B'`` with the bread ``B = (X'WX)^-1 X'W`` of the fit (``W`` the
inverse marginal covariance of an :func:`~metaparity.rma_mv` fit, the inverse-variance
weights ``1 / (vi + tau2)`` of an :func:`~metaparity.rma` fit, or its user weights) and the
meat ``sum_c e_c e_c'`` over clusters, ``e = y - X b`` (CR0).  ``adjust=True`` multiplies by
``n / (n - p)`` (``n`` clusters: CR1, metafor's default); ``"Stata1"`` by
``n / (n - 1) (k - 1) / (k - p)``, ``"Stata2"`` by ``n / (n - 1)``.  Tests use t(n - p) and the
omnibus test ``F(m, n - p)``, as metafor's.

``clubSandwich=True`` is metafor's route through the R package clubSandwich: the bias-reduced
CR2 estimator of Bell & McCaffrey (2002) for the fitted working model (Pustejovsky & Tipton
2018), Satterthwaite degrees of freedom per coefficient and the HTZ approximate Hotelling
test for the omnibus hypothesis (Tipton & Pustejovsky 2015).  With the inverse-variance
working model ``Phi_j`` (cluster ``j``'s block of the marginal covariance), ``W_j = Phi_j^-1``,
``M = (sum_j X_j' W_j X_j)^-1`` and ``Phi_j = U_j' U_j``:
``A_j = U_j' [U_j (I - X_j M X_j' W_j) Phi_j U_j']^(-1/2) U_j``, ``E_j = X_j' W_j A_j`` and
``vb = M (sum_j E_j e_j e_j' E_j') M``; for contrasts ``C`` the matrices
``G_j = C M E_j U_j'`` and ``H_j = C M E_j X_j L`` (``M = L L'``) give
``P_st[j, h] = [j = h] G_j[s] . G_j[t] - H_j[s] . H_h[t]``, the Satterthwaite df
``2 tr(P_ii)^2 / (2 sum P_ii^2)`` and HTZ's ``nu = q (q + 1) / sum_st Var_st`` with
``B = Omega^(-1/2) P Omega^(-1/2)``, ``Omega_st = tr P_st``,
``Var_st = sum B_st o B_ts + sum B_ss o B_tt``.
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
    QMdf: tuple
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
    #: per-coefficient denominator df (Satterthwaite with clubSandwich=True; else all dfs)
    ddf: np.ndarray | None = field(default=None, repr=False)

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


def robust(
    res: Any, cluster: Any, adjust: bool | str = True, clubSandwich: bool = False
) -> RobustResult:
    """Cluster-robust tests and confidence intervals for a fitted model.

    Equivalent to ``metafor::robust(x, cluster, adjust=TRUE, clubSandwich=FALSE)``.

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
        Ignored with ``clubSandwich=True``.
    clubSandwich : bool
        ``True``: metafor's clubSandwich route -- CR2, Satterthwaite t tests and CIs (``dfs``
        one per coefficient), the HTZ test for ``QM`` (see the module doc).

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
    if clubSandwich:
        return _club(res, X, y, b, cl, codes, uniq)
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


def _msqrt_inv(A: np.ndarray) -> np.ndarray:
    """``A^(-1/2)`` of a symmetric matrix, eigenvalues at or below 1e-12 taken as 0 (as
    clubSandwich's matrix power)."""
    w, Q = np.linalg.eigh(0.5 * (A + A.T))
    wp = np.where(w > 1e-12, np.abs(w) ** -0.5, 0.0)
    return (Q * wp) @ Q.T


def _working_blocks(res: Any, codes: np.ndarray, n: int) -> list[np.ndarray]:
    """Each cluster's block of the fitted working covariance (``M`` of rma_mv,
    ``diag(vi + tau2)`` of rma); refuses what clubSandwich refuses."""
    if isinstance(res, MvResult):
        if res.R:
            raise ValueError(
                "clubSandwich=True does not work with known correlation matrices (R=), as "
                "clubSandwich's vcovCR.rma.mv refuses them; use clubSandwich=False"
            )
        for term in list(res._problem.sig) + [g for g in res._problem.gts]:
            groups = [term.codes] if hasattr(term, "codes") else [term.ocodes]
            for g in groups:
                for lev in np.unique(g):
                    if len(np.unique(codes[g == lev])) > 1:
                        name = getattr(term, "name", getattr(term, "formula", "?"))
                        raise ValueError(
                            f"clubSandwich=True: the random effect {name!r} is not nested within "
                            "the clusters (clubSandwich: 'Random effects are not nested within "
                            "clustering variable'); cluster by it or by a coarser grouping"
                        )
        return [res.M[np.ix_(codes == j, codes == j)] for j in range(n)]
    if res.weights is not None or not res.weighted:
        raise ValueError(
            "clubSandwich=True with user weights or an unweighted fit is not supported here "
            "(clubSandwich's working model is then not the inverse-variance one)"
        )
    v = np.asarray(res.vi, dtype=float) + float(res.tau2)
    return [np.diag(v[codes == j]) for j in range(n)]


def _cr2(res: Any, X: np.ndarray, e: np.ndarray, codes: np.ndarray, n: int):
    """CR2 vb and, per cluster, (G_j, H_j) before the contrasts (see the module doc)."""
    Phi = _working_blocks(res, codes, n)
    Xs = [X[codes == j] for j in range(n)]
    es = [e[codes == j] for j in range(n)]
    Ws = [np.linalg.inv(f) for f in Phi]
    M = np.linalg.inv(sum(x.T @ w @ x for x, w in zip(Xs, Ws, strict=True)))
    L = np.linalg.cholesky(M)
    Es, Us = [], []
    for x, w, f in zip(Xs, Ws, Phi, strict=True):
        U = np.linalg.cholesky(f).T
        IH = np.eye(len(x)) - x @ M @ x.T @ w
        A = U.T @ _msqrt_inv(U @ IH @ f @ U.T) @ U
        Es.append(x.T @ w @ A)
        Us.append(U)
    comp = np.column_stack([E @ r for E, r in zip(Es, es, strict=True)])
    vb = M @ comp @ comp.T @ M
    G = [M @ E @ U.T for E, U in zip(Es, Us, strict=True)]
    H = [M @ E @ x @ L for E, x in zip(Es, Xs, strict=True)]
    return vb, G, H


def _p_array(G: list[np.ndarray], H: list[np.ndarray], C: np.ndarray) -> np.ndarray:
    """``P[s, t]`` (J x J) for the rows of ``C``: shape (q, q, J, J)."""
    Gc = [C @ g for g in G]
    Hc = np.stack([C @ h for h in H], axis=-1)  # q x p x J
    q, J = C.shape[0], len(G)
    P = np.empty((q, q, J, J))
    for s in range(q):
        for t in range(q):
            P[s, t] = -Hc[s].T @ Hc[t]
            P[s, t][np.diag_indices(J)] += [float(g[s] @ g[t]) for g in Gc]
    return P


def _satterthwaite(P: np.ndarray) -> float:
    return float(2 * np.trace(P) ** 2 / (2 * np.sum(P**2)))


def _htz(b: np.ndarray, vb: np.ndarray, P: np.ndarray, C: np.ndarray) -> tuple[float, float, float]:
    """(F, df_denom, p) of the HTZ test that ``C b = 0``."""
    q = C.shape[0]
    Omega = np.array([[np.trace(P[s, t]) for t in range(q)] for s in range(q)])
    On = _msqrt_inv(Omega)
    B = np.einsum("sa,abjh,bt->stjh", On, P, On)
    var = np.array([[np.sum(B[s, t] * B[t, s]) + np.sum(B[s, s] * B[t, t]) for t in range(q)]
                    for s in range(q)])  # fmt: skip
    nu = q * (q + 1) / float(var.sum())
    cb = C @ b
    Q = float(cb @ np.linalg.solve(C @ vb @ C.T, cb))
    delta = max((nu - q + 1) / nu, 0.0)
    df2 = nu - q + 1
    F = delta * Q / q
    return F, df2, float(stats.f.sf(F, q, df2)) if df2 > 0 else float("nan")


def _club(res, X, y, b, cl, codes, uniq) -> RobustResult:
    n, p = len(uniq), X.shape[1]
    if n < 2:
        raise ValueError("clubSandwich=True needs at least two clusters")
    e = y - X @ b
    vb, G, H = _cr2(res, X, e, codes, n)
    se = np.sqrt(np.diag(vb))
    zval = b / se
    ddf = np.array([_satterthwaite(_p_array(G, H, np.eye(p)[[j]])[0, 0]) for j in range(p)])
    pval = 2 * stats.t.sf(np.abs(zval), ddf)
    level = float(res.level)
    crit = stats.t.isf((1 - level / 100) / 2, ddf)
    btt = tuple(getattr(res, "btt", ()) or range(p))
    int_only = (isinstance(res, RmaResult) and res.X is None) or getattr(res, "int_only", False)
    if int_only:
        btt = (0,)
        QM, QMdf, QMp = float(max(0.0, zval[0] ** 2)), (1, float(ddf[0])), float(pval[0])
    else:
        C = np.eye(p)[list(btt)]
        F, df2, QMp = _htz(b, vb, _p_array(G, H, C), C)
        QM, QMdf = max(0.0, F), (len(btt), max(0.0, df2))
    same = codes[:, None] == codes[None, :]
    tcl = {str(u): int((codes == i).sum()) for i, u in enumerate(uniq)}
    return RobustResult(
        b=b, se=se, zval=zval, pval=pval, ci_lb=b - crit * se, ci_ub=b + crit * se, vb=vb,
        coef_names=tuple(getattr(res, "coef_names", ("intrcpt",))), QM=QM, QMp=QMp,
        QMdf=QMdf, btt=btt, dfs=n - p, n=n, vbest="CR2", level=level, cluster=cl, tcl=tcl,
        meat=np.outer(e, e) * same, model=res, ddf=ddf,
    )  # fmt: skip
