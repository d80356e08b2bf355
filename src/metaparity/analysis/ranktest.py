"""Begg & Mazumdar's rank correlation test for funnel plot asymmetry (metafor ``ranktest``).

Kendall's tau between the standardised deviations from the equal-effects estimate and
the sampling variances, with R's ``cor.test(method="kendall", exact=TRUE)`` p-value:
exact without ties (any k), else the normal approximation with the tie-corrected
variance of S.

From k = 171 on R's exact p-value is not available: its count of the permutations is
divided by ``gamma(k + 1) = Inf``, which gives 0 when the summed counts stay below the
largest double and NaN otherwise (always when tau > 0).  metafor before 5.0 returns
that NaN (or 0) as the p-value, without a warning; metafor 5.0 (``ranktest_normal`` in
:data:`metaparity._core.mfversion.CHANGES`) then repeats the test with
``exact=FALSE``, the normal approximation.  The 0 stays 0 in every release.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from metaparity._core.mfversion import since
from metaparity.analysis._bias_common import _check_k, _yi_vi
from metaparity.models.results import RmaResult

__all__ = ["ranktest", "RankTestResult"]


@dataclass(frozen=True)
class RankTestResult:
    """Begg & Mazumdar's rank correlation test (what ``metafor::ranktest`` returns).

    Attributes
    ----------
    tau : float
        Kendall's tau (tau-b when there are ties).
    pval : float
        Its two-sided p-value.
    k : int
        The number of studies.
    exact : bool
        Whether the p-value is exact (no ties) or the normal approximation.

    Examples
    --------
    >>> RankTestResult(tau=0.8, pval=0.0833, k=5, exact=True).to_dict()
    {'tau': 0.8, 'pval': 0.0833, 'k': 5, 'exact': True}
    """

    tau: float
    pval: float
    k: int
    exact: bool

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (metafor's names)."""
        return {"tau": self.tau, "pval": self.pval, "k": self.k, "exact": self.exact}


@functools.lru_cache(maxsize=64)
def _kendall_cdf(n: int) -> np.ndarray:
    """``P(T <= q)``, q = 0..n(n-1)/2, for the number T of concordant pairs among n
    untied pairs under independence (the Mahonian numbers over n!).

    The counts follow the recursion ``c_n(q) = sum_{i=0}^{n-1} c_{n-1}(q - i)``, summed
    in double precision for i = 0, 1, ... (R's ``cor.test`` does the same, so the
    rounding of counts above 2^53 is R's); n! is the running product 2 * 3 * ... * n,
    as R's ``gamma(n + 1)`` for n < 50 (above, R's gamma differs from n! by ~1e-14).
    For n > 150 the window sums are formed from cumulative sums (fast; the rounding
    then differs from R's in the last bits only).
    """
    c = np.ones(1)
    for m in range(2, n + 1):
        new = np.zeros(c.size + m - 1)
        if n > 150:
            cs = np.concatenate([[0.0], np.cumsum(c)])
            q = np.arange(new.size)
            new = cs[np.minimum(q + 1, c.size)] - cs[np.clip(q - m + 1, 0, c.size)]
        else:
            for i in range(m):
                new[i : i + c.size] += c
        c = new
    fact = 1.0
    if n < 50:
        for i in range(2, n + 1):
            fact *= i
    else:
        fact = float(math.factorial(n))
    return np.cumsum(c) / fact


#: the largest n whose n! is a finite double (R's gamma(n + 1) is Inf above it)
_N_FINITE_FACTORIAL = 170


def _log_count_upto(q: int, n: int) -> float:
    """log of the number of permutations of n with at most q inversions.

    The recursion of :func:`_kendall_cdf` truncated to 0..q (the lower counts do not
    depend on the higher ones), rescaled at every step so that nothing overflows.
    """
    c = np.ones(1)
    log_scale = 0.0
    for m in range(2, n + 1):
        size = min(c.size + m - 1, q + 1)
        cs = np.concatenate([[0.0], np.cumsum(c)])
        j = np.arange(size)
        c = cs[np.minimum(j + 1, c.size)] - cs[np.clip(j - m + 1, 0, c.size)]
        top = float(c.max())
        c = c / top
        log_scale += math.log(top)
    return math.log(float(c.sum())) + log_scale


def _pkendall(q: int, n: int) -> float:
    """P(T <= q) for the number of concordant pairs T of n untied pairs under H0, as R's
    ``cor.test`` gets it: for n > 170 the summed count divided by ``gamma(n + 1) = Inf``,
    i.e. 0 while the sum is a finite double, else NaN."""
    if q < 0:
        return 0.0
    if q > n * (n - 1) // 2:
        return 1.0
    if n > _N_FINITE_FACTORIAL:
        big = _log_count_upto(q, n) >= math.log(np.finfo(float).max)
        return math.nan if big else 0.0
    return float(_kendall_cdf(n)[q])


def _ties(x: np.ndarray) -> np.ndarray:
    """Sizes of the groups of tied values in ``x`` (groups of 2 or more)."""
    _, cnt = np.unique(x, return_counts=True)
    return cnt[cnt > 1].astype(float)


def _kendall(x: np.ndarray, y: np.ndarray) -> tuple[float, float, bool]:
    """Kendall's tau(-b) and the two-sided p-value as metafor gets them from R's
    ``cor.test``: exact whenever there are no ties (any n), else the normal
    approximation with the tie-corrected variance of S (no continuity correction)."""
    n = x.size
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    iu = np.triu_indices(n, 1)
    s = float((dx * dy)[iu].sum())  # concordant - discordant
    t0 = n * (n - 1) / 2.0
    tx, ty = _ties(x), _ties(y)
    t1 = float((tx * (tx - 1)).sum()) / 2.0
    t2 = float((ty * (ty - 1)).sum()) / 2.0
    den = math.sqrt((t0 - t1) * (t0 - t2))
    tau = s / den if den > 0 else float("nan")
    ties = tx.size > 0 or ty.size > 0
    if not ties:
        q = round((tau + 1.0) * n * (n - 1) / 4.0)
        if q > n * (n - 1) / 4.0:
            p = 1.0 - _pkendall(q - 1, n)
        else:
            p = _pkendall(q, n)
        # 1 - P(T <= q - 1) cancels for tiny p (k >~ 20): R then returns rounding noise,
        # even slightly negative values; metaparity returns the same noise, floored at 0.
        # NaN (k > 170, see _pkendall) stays NaN, as R's min(2 * p, 1)
        if math.isnan(p):
            return tau, math.nan, True
        return tau, max(0.0, min(1.0, 2.0 * p)), True
    return tau, _normal_pvalue(n, tau, den, tx, ty), False


def _normal_pvalue(n: int, tau: float, den: float, tx: np.ndarray, ty: np.ndarray) -> float:
    """``cor.test(method="kendall", exact=FALSE)``: S over the tie-corrected sd of S, no
    continuity correction, two-sided."""
    v0 = n * (n - 1) * (2 * n + 5)
    vt = float((tx * (tx - 1) * (2 * tx + 5)).sum())
    vu = float((ty * (ty - 1) * (2 * ty + 5)).sum())
    v1 = float((tx * (tx - 1)).sum()) * float((ty * (ty - 1)).sum())
    v2 = float((tx * (tx - 1) * (tx - 2)).sum()) * float((ty * (ty - 1) * (ty - 2)).sum())
    var_s = (v0 - vt - vu) / 18.0 + v1 / (2.0 * n * (n - 1)) + v2 / (9.0 * n * (n - 1) * (n - 2))
    z = tau * den / math.sqrt(var_s)
    return float(2.0 * min(stats.norm.cdf(z), stats.norm.sf(z)))


def ranktest(
    x: RmaResult | ArrayLike, vi: ArrayLike | None = None, *, sei: ArrayLike | None = None
) -> RankTestResult:
    """Rank correlation test for funnel plot asymmetry (Begg & Mazumdar 1994).

    Equivalent to ``metafor::ranktest(res)`` (or ``ranktest(yi, vi)``): Kendall's tau
    between the standardised deviations ``(yi - b_EE) / sqrt(vi - 1 / sum(1/vi))``
    from the equal-effects estimate ``b_EE`` and the sampling variances ``vi``.  The
    result does not depend on the model that was fitted.

    Parameters
    ----------
    x : RmaResult or array_like
        A fitted model (:func:`metaparity.rma`) or the effect sizes ``yi``.
    vi, sei : array_like, optional
        Sampling variances or standard errors (when ``x`` holds effect sizes).

    Returns
    -------
    RankTestResult
        ``tau``, ``pval`` (two-sided; exact whenever there are no ties, as metafor
        -- also for k >= 50, where R's ``cor.test`` default would switch to the
        normal approximation; with ties the normal approximation with the
        tie-corrected variance; for k > 170 without ties NaN or 0 before metafor 5.0,
        from 5.0 the normal approximation where that is NaN), ``k``, ``exact``.

    Raises
    ------
    ValueError
        k < 3 (with k = 2 tau is always +-1 and the p-value 1: metafor returns that
        without a warning; metaparity refuses).

    Examples
    --------
    >>> # metafor: ranktest(c(.1,.3,.5,.2,.4), c(.01,.02,.03,.015,.08)) -> tau 0.8, p 0.0833
    >>> r = ranktest([0.1, 0.3, 0.5, 0.2, 0.4], [0.01, 0.02, 0.03, 0.015, 0.08])
    >>> round(r.tau, 4), round(r.pval, 4), r.exact
    (0.8, 0.0833, True)
    """
    y, v = _yi_vi(x, vi, sei, "ranktest")
    k = y.size
    _check_k(k, "ranktest", "rank correlation", "tau = +-1 and p = 1 for k = 2")
    w = 1.0 / v
    b = (w * y).sum() / w.sum()
    vstar = v - 1.0 / w.sum()
    ystar = (y - b) / np.sqrt(vstar)
    tau, p, exact = _kendall(ystar, v)
    if math.isnan(p) and since("ranktest_normal"):
        # metafor >= 5.0: the exact p-value is NA (k > 170), so cor.test(exact=FALSE)
        n = y.size
        den = n * (n - 1) / 2.0  # no ties here (with ties the p-value is never NaN)
        p, exact = _normal_pvalue(n, tau, den, np.empty(0), np.empty(0)), False
    return RankTestResult(tau=float(tau), pval=float(p), k=int(k), exact=exact)
