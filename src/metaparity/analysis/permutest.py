"""Permutation tests of an rma fit: metafor's ``permutest()`` (Follmann and Proschan 1999;
Higgins and Thompson 2004; Viechtbauer et al. 2015).

* Intercept-only model: the signs of the ``yi`` are flipped (under H0 the true effect is 0
  and each estimate is as likely negative as positive); ``2^k`` sign patterns.
* Meta-regression: the rows of the design ``X`` are permuted against ``(yi, vi)``; the
  permutations of rows that are identical give the same fit, so there are
  ``k! / prod(n_g!)`` distinct ones for groups of ``n_g`` identical rows.

Each permuted data set is refitted with the model's estimator, test, level, weights and a
fixed tau^2 if it had one -- all of them at once, through the batch engines (the fit of
:func:`metaparity.rma` / :func:`metaparity.rma_mods` on every permutation).  The test is
**exact** (every distinct permutation) when ``exact=True`` or when their number is at most
``iter``; otherwise ``iter`` random permutations from ``numpy.random.default_rng(seed)``,
the first of them the observed data (so that no p-value is 0), as metafor.

p-values, as metafor's (with ``comptol = sqrt(machine eps)`` against rounding):
two-sided ``mean(|z_perm| >= |z| - comptol)`` per coefficient (``p2defn="abs"``; ``"px2"``:
twice the one-sided p-value on the side of the permutation median, capped at 1), or one
sided (``alternative="less"`` / ``"greater"``); ``stat="coef"`` uses the coefficients
instead of the test statistics; the omnibus ``QMp = mean(QM_perm >= QM - comptol)``.  A
permutation whose fit fails is left out (metafor: ``NA``, ``na.rm=TRUE``).

Random permutations draw other samples than R's ``sample()``, so an approximate test agrees
with metafor's within Monte-Carlo error only; the exact test agrees with it number for
number.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from metaparity._core.mfversion import get_metafor_version, since
from metaparity.analysis.anova import AnovaWald, anova, btt_indices
from metaparity.engine import reference
from metaparity.engine.mods import fit_mods
from metaparity.models.results import RmaResult

__all__ = ["permutest", "PermutestResult", "n_permutations"]

_COMPTOL = math.sqrt(np.finfo(float).eps)
_CHUNK = 65536


@dataclass(frozen=True)
class PermutestResult:
    """The permutation p-values of a fit and the permutation distribution behind them.

    ``pval`` per coefficient (a float for the intercept-only model), ``QMp`` of the omnibus
    test of ``btt``; ``zval_perm``, ``beta_perm`` (``iter x p``) and ``QM_perm`` hold every
    permutation's statistics (NaN where its fit failed); ``exact`` and ``iter`` say how
    many were run.  The observed ``b``, ``se``, ``zval``, ``QM`` are the model's.
    """

    pval: Any
    QMp: float
    exact: bool
    iter: int
    zval_perm: np.ndarray = field(repr=False)
    beta_perm: np.ndarray = field(repr=False)
    QM_perm: np.ndarray = field(repr=False)
    b: Any = None
    se: Any = None
    zval: Any = None
    QM: float = float("nan")
    QMdf: tuple = ()
    coef_names: tuple[str, ...] = ()
    btt: tuple[int, ...] = ()
    test: str = "z"
    seed: Any = None


def _row_groups(X: np.ndarray) -> np.ndarray:
    """A group label per row of ``X``: identical rows share one."""
    _, inv = np.unique(X, axis=0, return_inverse=True)
    return np.asarray(inv).ravel()


def n_permutations(res: RmaResult) -> float:
    """The number of distinct permutations of ``res``'s data: ``2^k`` sign patterns for the
    intercept-only model, ``k! / prod(n_g!)`` row orders of ``X`` otherwise (``inf`` beyond
    double range), as metafor's ``permutest(res, exact="i")``.

    Examples
    --------
    >>> import metaparity as mp
    >>> n_permutations(mp.rma([0.1, 0.3, 0.2, 0.5], [0.01, 0.02, 0.02, 0.03]))
    16.0
    >>> n_permutations(mp.rma([0.1, 0.3, 0.2, 0.5], [0.01, 0.02, 0.02, 0.03], mods=[0, 0, 1, 1]))
    6.0
    """
    if res.X is None:
        return float(2.0**res.k)
    counts = np.bincount(_row_groups(np.asarray(res.X)))
    try:
        n = math.factorial(res.k)
        for c in counts:
            n //= math.factorial(int(c))
        return float(n)
    except OverflowError:
        return math.inf


def _multiset_orders(groups: np.ndarray) -> np.ndarray:
    """The distinct arrangements of ``groups`` without visiting all k! orders (next
    lexicographic permutation of the sorted multiset)."""
    first: dict[int, int] = {}
    for i, g in enumerate(groups):
        first.setdefault(int(g), i)
    a = sorted(int(g) for g in groups)
    out = []
    while True:
        out.append([first[g] for g in a])
        i = len(a) - 2
        while i >= 0 and a[i] >= a[i + 1]:
            i -= 1
        if i < 0:
            break
        j = len(a) - 1
        while a[j] <= a[i]:
            j -= 1
        a[i], a[j] = a[j], a[i]
        a[i + 1 :] = reversed(a[i + 1 :])
    return np.array(out, dtype=int)


def _fit_rows(res: RmaResult, Y: np.ndarray | None, Xs: np.ndarray | None) -> dict[str, np.ndarray]:
    """Refit ``res`` on sign-flipped outcomes ``Y`` (n, k) or permuted designs ``Xs`` (n, k, p)."""
    v = np.asarray(res.vi, dtype=float)
    w = None if res.weights is None else np.asarray(res.weights, dtype=float).ravel()
    t2 = np.array([res.tau2]) if res.tau2_fix else None
    n = Y.shape[0] if Y is not None else Xs.shape[0]  # type: ignore[union-attr]
    parts = []
    for s in range(0, n, _CHUNK):
        sl = slice(s, min(n, s + _CHUNK))
        m = sl.stop - sl.start
        W = None if w is None else np.tile(w, (m, 1))
        T2 = None if t2 is None else np.repeat(t2, m)
        V = np.tile(v, (m, 1))
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if Y is not None:
                out = reference.fit(Y[sl], V, np.ones_like(V), method=res.method, test=res.test,
                                    level=res.level, weights=W, weighted=res.weighted,
                                    tau2_fix=T2)  # fmt: skip
                z, b = out["zval"][:, None], out["b"][:, None]
                qm = z[:, 0] ** 2
                bad = out["div0"] | ~np.isfinite(out["tau2"])
            else:
                y = np.tile(np.asarray(res.yi, dtype=float), (m, 1))
                out = fit_mods(y, V, Xs[sl], method=res.method, test=res.test, level=res.level,  # type: ignore[index]
                               btt=list(res.btt), intercept=res.intercept, weights=W,
                               weighted=res.weighted, tau2_fix=T2)  # fmt: skip
                z, b, qm = out["zval"], out["b"], out["QM"]
                bad = out["div0"] | ~np.isfinite(out["tau2"])
        z, b, qm = (np.where(bad.reshape(-1, *([1] * (a.ndim - 1))), np.nan, a) for a in (z, b, qm))
        parts.append((z, b, qm))
    return {"zval": np.concatenate([p[0] for p in parts]),
            "b": np.concatenate([p[1] for p in parts]),
            "QM": np.concatenate([p[2] for p in parts])}  # fmt: skip


def _pvalues(perm: np.ndarray, obs: np.ndarray, alternative: str, p2defn: str,
             comptol: float) -> np.ndarray:  # fmt: skip
    ok = ~np.isnan(perm)
    cnt = ok.sum(axis=0).astype(float)

    def frac(mask: np.ndarray) -> np.ndarray:
        return np.where(ok, mask, False).sum(axis=0) / cnt

    if alternative == "two.sided":
        if p2defn == "abs":
            p = frac(np.abs(perm) >= np.abs(obs) - comptol)
        else:
            med = np.nanmedian(perm, axis=0)
            p = np.where(
                obs > med, 2 * frac(perm >= obs - comptol), 2 * frac(perm <= obs + comptol)
            )
    elif alternative == "less":
        p = frac(perm <= obs + comptol)
    else:
        p = frac(perm >= obs - comptol)
    return np.minimum(p, 1.0)


def permutest(
    res: RmaResult, exact: bool = False, iter: int = 1000, *, seed: Any = None, btt: Any = None,
    alternative: str = "two.sided", p2defn: str = "abs", stat: str = "test",
    comptol: float = _COMPTOL,
) -> PermutestResult:  # fmt: skip
    """Permutation p-values for the coefficients and the omnibus test of an rma fit.

    Equivalent to ``metafor::permutest(res, exact=, iter=, btt=,
    control=list(alternative=, p2defn=, stat=, comptol=))`` (see the module's description).

    Parameters
    ----------
    res : RmaResult
        A fit of :func:`metaparity.rma`, with or without moderators.
    exact : bool
        Run every distinct permutation, however many.
    iter : int
        Random permutations for an approximate test (the test is exact when the distinct
        permutations are at most ``iter``).
    seed : int, numpy.random.Generator or None
        Seed of the random permutations (``numpy.random.default_rng(seed)``).
    btt : sequence of int, optional
        Coefficients (0-based) of the omnibus test (default: the model's); from metafor 4.8
        on (under an older metafor version setting it is disregarded with metafor's
        warning).
    alternative : {"two.sided", "less", "greater"}
        Direction of the coefficient tests.
    p2defn : {"abs", "px2"}
        Two-sided p-value: ``|z_perm| >= |z|``, or twice the one-sided one.
    stat : {"test", "coef"}
        Permute the test statistics or the coefficients.
    comptol : float
        Tolerance of the comparisons.

    Returns
    -------
    PermutestResult

    Raises
    ------
    ValueError
        ``iter < 2``, an unknown option, or an exact test with more permutations than can be
        run (metafor: "Too many iterations required for an exact permutation test.").

    Warns
    -----
    UserWarning
        An approximate test with fewer than 1000 permutations: its p-values carry a
        Monte-Carlo standard error of up to ``0.5 / sqrt(iter)``.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.2, 0.5, 0.4], [0.01, 0.02, 0.02, 0.03, 0.01])
    >>> pt = permutest(res)
    >>> pt.exact, pt.iter, pt.pval    # 2 of the 32 sign patterns are as extreme
    (True, 32, 0.0625)
    """
    if not isinstance(res, RmaResult):
        raise TypeError("permutest() takes a fit of rma() or rma_mods()")
    iter = int(round(iter))
    if iter < 2:
        raise ValueError(f"iter={iter}: give at least 2 permutations (metafor: 'Argument 'iter' "
                         "must be >= 2.')")  # fmt: skip
    for name, val, allowed in (("alternative", alternative, ("two.sided", "less", "greater")),
                               ("p2defn", p2defn, ("abs", "px2")), ("stat", stat, ("test", "coef"))):  # fmt: skip
        if val not in allowed:
            raise ValueError(f"{name}={val!r}; choose one of {', '.join(allowed)}")
    if btt is not None:
        if since("permutest_btt"):
            res = _with_btt(res, btt_indices(res, btt))
        else:
            warnings.warn(
                f"Extra argument ('btt') disregarded (as metafor {get_metafor_version()}: "
                "permutest() takes btt= from metafor 4.8 on; the omnibus test is the "
                "model's own)", UserWarning, stacklevel=2,
            )  # fmt: skip
    n_exact = n_permutations(res)
    run_exact = bool(exact) or n_exact <= iter
    if run_exact and n_exact > 5e7:
        raise ValueError(
            f"an exact permutation test of this model needs {n_exact:.4g} fits (metafor: 'Too "
            "many iterations required for an exact permutation test.'); run an approximate "
            "one with iter= random permutations"
        )
    rng = np.random.default_rng(seed)
    k = res.k
    yi = np.asarray(res.yi, dtype=float)
    if res.X is None:
        if run_exact:
            signs = 1.0 - 2.0 * ((np.arange(2**k)[:, None] >> np.arange(k)) & 1)
        else:
            signs = rng.choice(np.array([-1.0, 1.0]), size=(iter, k))
            signs[0] = 1.0
        fits = _fit_rows(res, signs * yi, None)
    else:
        X = np.asarray(res.X, dtype=float)
        if run_exact:
            orders = _multiset_orders(_row_groups(X))
        else:
            orders = np.argsort(rng.random((iter, k)), axis=1)
            orders[0] = np.arange(k)
        fits = _fit_rows(res, None, X[orders])
    n_run = fits["QM"].shape[0]
    if not run_exact and iter < 1000:
        warnings.warn(
            f"permutest: {iter} random permutations; the p-values carry a Monte-Carlo standard "
            f"error of up to {0.5 / math.sqrt(iter):.3f} (0.5/sqrt(iter)); use iter >= 1000 "
            "for two-digit precision, more for p-values near a threshold",
            UserWarning, stacklevel=2,
        )  # fmt: skip
    b_obs = np.atleast_1d(np.asarray(res.b, dtype=float))
    z_obs = np.atleast_1d(np.asarray(res.zval, dtype=float))
    perm, obs = (fits["zval"], z_obs) if stat == "test" else (fits["b"], b_obs)
    pval = _pvalues(perm, obs, alternative, p2defn, comptol)
    q = fits["QM"]
    QMp = float(np.mean(q[~np.isnan(q)] >= res.QM - comptol))
    return PermutestResult(
        pval=float(pval[0]) if res.int_only else pval, QMp=QMp, exact=run_exact, iter=n_run,
        zval_perm=fits["zval"], beta_perm=fits["b"], QM_perm=q, b=res.b, se=res.se,
        zval=res.zval, QM=res.QM, QMdf=res.QMdf, coef_names=res.coef_names, btt=res.btt,
        test=res.test, seed=seed,
    )  # fmt: skip


def _with_btt(res: RmaResult, bt: tuple[int, ...]) -> RmaResult:
    """``res`` with its omnibus test on ``bt`` (metafor refits the model with ``btt=``)."""
    a = anova(res, btt=list(bt))
    assert isinstance(a, AnovaWald)
    return replace(res, btt=bt, QM=a.QM, QMp=a.QMp, QMdf=a.QMdf)
