"""Small-study effects and publication bias: rank test, regression test, trim and fill,
fail-safe N -- at parity with metafor 3.8 (``ranktest``, ``regtest``, ``trimfill``, ``fsn``).

The behaviour follows metafor's documentation and the methods papers:

* :func:`ranktest` -- Begg & Mazumdar (1994): Kendall's tau between the standardised
  deviations from the equal-effects estimate and the sampling variances, with R's
  ``cor.test(method="kendall")`` p-value (exact without ties, else the tie-corrected
  normal approximation).
* :func:`regtest` -- Egger et al. (1997), Sterne & Egger (2005): a meta-regression of
  the outcomes on a predictor of precision (``model="rma"``, same estimator and test as
  the fitted model) or a weighted least-squares regression with a multiplicative
  dispersion term (``model="lm"``, the classical Egger test); the intercept is the
  "limit estimate" (PET for ``"sei"``, PEESE for ``"vi"``).
* :func:`trimfill` -- Duval & Tweedie (2000a, b): the L0 or R0 estimator of the number
  of suppressed studies, iterated to a fixed point; the filled (mirrored) studies and the
  model refitted on the augmented data with the same estimator.
* :func:`fsn` -- Rosenthal (1979, Stouffer's sum of z), Orwin (1983) and Rosenberg (2005).

None of these tests means much with few studies: with k = 2 to 6 (as in many clinical
meta-analyses) their power is negligible and a non-significant result is no evidence
of symmetry; Sterne et al. (2011) recommend k >= 10.  See ``docs/bias.md``.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from metaparity._core.distributions import t_two_sided
from metaparity._core.names import METHODS, TESTS, check_choice
from metaparity._core.validation import (
    as_float_array,
    check_level,
    check_same_length,
    check_yi_vi,
)
from metaparity.models.metareg import rma_mods
from metaparity.models.results import RmaResult
from metaparity.models.uni import rma

__all__ = [
    "ranktest",
    "regtest",
    "trimfill",
    "fsn",
    "RankTestResult",
    "RegTestResult",
    "TrimFillResult",
    "FsnResult",
    "PREDICTORS",
]

#: Predictors of :func:`regtest` (metafor's names).
PREDICTORS: tuple[str, ...] = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
#: Predictors for which the intercept is a limit estimate (infinite precision).
_LIMIT_PREDICTORS = ("sei", "vi", "ninv", "sqrtninv")
_SMALL_K = (
    "with k < 3 the {what} is not defined (metafor: {metafor}); and with k < 10 it has "
    "little power (Sterne et al. 2011)"
)


# --------------------------------------------------------------------------- #
# inputs
# --------------------------------------------------------------------------- #
def _is_rma(x: Any) -> bool:
    """A fitted intercept-only model of :func:`metaparity.rma` (not a meta-regression)."""
    return isinstance(x, RmaResult) and x.int_only


def _yi_vi(x: Any, vi: Any, sei: Any, fn: str) -> tuple[np.ndarray, np.ndarray]:
    if _is_rma(x):
        return np.asarray(x.yi, dtype=float), np.asarray(x.vi, dtype=float)
    if x is None:
        raise ValueError(f"{fn}: give a fitted model (metaparity.rma(...)) or yi with vi/sei")
    y = np.atleast_1d(as_float_array("yi", x)).ravel()
    if vi is None and sei is None:
        raise ValueError(f"{fn}: give vi (sampling variances) or sei (standard errors) with yi")
    if vi is None:
        s = np.atleast_1d(as_float_array("sei", sei)).ravel()
        check_same_length(yi=y, sei=s)
        v = s * s
    else:
        v = np.atleast_1d(as_float_array("vi", vi)).ravel()
    check_same_length(yi=y, vi=v)
    check_yi_vi(y, v)
    return y, v


def _check_k(k: int, fn: str, what: str, metafor: str) -> None:
    if k < 3:
        raise ValueError(f"{fn}: k = {k} studies; " + _SMALL_K.format(what=what, metafor=metafor))


def _check_plain(res: Any, fn: str) -> None:
    if res.weights is not None or res.method == "GENQ":
        raise ValueError(
            f"{fn}: the model was fitted with user weights (method={res.method!r}); "
            "metaparity supports inverse-variance weighted models only here"
        )


# --------------------------------------------------------------------------- #
# rank correlation test
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class RankTestResult:
    """Begg & Mazumdar's rank correlation test (metafor ``ranktest``).

    ``tau`` is Kendall's tau (tau-b when there are ties), ``pval`` its two-sided
    p-value, ``exact`` whether the p-value is exact (no ties) or the normal
    approximation, ``k`` the number of studies.
    """

    tau: float
    pval: float
    k: int
    exact: bool

    def to_dict(self) -> dict[str, Any]:
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


def _pkendall(q: int, n: int) -> float:
    """P(T <= q) for the number of concordant pairs T of n untied pairs under H0."""
    if q < 0:
        return 0.0
    cdf = _kendall_cdf(n)
    return 1.0 if q >= cdf.size else float(cdf[q])


def _ties(x: np.ndarray) -> np.ndarray:
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
        # even slightly negative values; metaparity returns the same noise, floored at 0
        return tau, max(0.0, min(1.0, 2.0 * p)), True
    v0 = n * (n - 1) * (2 * n + 5)
    vt = float((tx * (tx - 1) * (2 * tx + 5)).sum())
    vu = float((ty * (ty - 1) * (2 * ty + 5)).sum())
    v1 = float((tx * (tx - 1)).sum()) * float((ty * (ty - 1)).sum())
    v2 = float((tx * (tx - 1) * (tx - 2)).sum()) * float((ty * (ty - 1) * (ty - 2)).sum())
    var_s = (v0 - vt - vu) / 18.0 + v1 / (2.0 * n * (n - 1)) + v2 / (9.0 * n * (n - 1) * (n - 2))
    z = tau * den / math.sqrt(var_s)
    p = 2.0 * min(stats.norm.cdf(z), stats.norm.sf(z))
    return tau, p, False


def ranktest(x: Any, vi: Any = None, *, sei: Any = None) -> RankTestResult:
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
        3.8 -- also for k >= 50, where R's ``cor.test`` default would switch to the
        normal approximation; with ties the normal approximation with the
        tie-corrected variance), ``k``, ``exact``.

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
    return RankTestResult(tau=float(tau), pval=float(p), k=int(k), exact=exact)


# --------------------------------------------------------------------------- #
# regression test
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class RegTestResult:
    """Egger-type regression test (metafor ``regtest``).

    ``zval`` is the test statistic of the predictor's coefficient (a t statistic when
    ``dfs`` is finite: ``model="lm"`` or a t-based test of the fitted model), ``pval``
    its two-sided p-value.  ``est``, ``ci_lb``, ``ci_ub``: the limit estimate (the
    intercept) and its confidence interval, NaN for predictors ``"ni"`` and
    ``"sqrtni"`` (metafor: NULL).  ``fit`` is the fitted regression:
    a :class:`~metaparity.models.metareg.RmaModsResult` (``model="rma"``) or a dict with
    ``b``, ``se``, ``tval``, ``pval``, ``sigma2``, ``df`` (``model="lm"``).
    """

    model: str
    predictor: str
    zval: float
    pval: float
    dfs: float
    est: float
    ci_lb: float
    ci_ub: float
    k: int
    method: str | None
    test: str
    level: float
    fit: Any = field(repr=False, default=None)

    def to_dict(self) -> dict[str, Any]:
        keys = "model predictor zval pval dfs est ci_lb ci_ub k method test level".split()
        return {q: getattr(self, q) for q in keys}


def _predictor(predictor: str, v: np.ndarray, ni: np.ndarray | None) -> np.ndarray:
    if predictor == "sei":
        return np.sqrt(v)
    if predictor == "vi":
        return v.copy()
    if ni is None:
        raise ValueError(
            f"regtest: predictor={predictor!r} needs the sample sizes: pass ni=, or fit the "
            "model on escalc() output (which records them), as metafor"
        )
    if np.any(~np.isfinite(ni)) or np.any(ni <= 0):
        raise ValueError("regtest: the sample sizes ni must be positive and finite")
    return {
        "ni": ni,
        "ninv": 1.0 / ni,
        "sqrtni": np.sqrt(ni),
        "sqrtninv": 1.0 / np.sqrt(ni),
    }[predictor]


def _wls(y: np.ndarray, v: np.ndarray, X: np.ndarray, level: float) -> dict[str, Any]:
    """Weighted least squares with weights 1/v and a multiplicative dispersion term
    (R's ``lm(y ~ X - 1, weights = 1/v)``): coefficients, SEs, t tests, t-based CIs."""
    sw = 1.0 / np.sqrt(v)
    q, r = np.linalg.qr(X * sw[:, None])
    ys = y * sw
    b = np.linalg.solve(r, q.T @ ys)
    k, p = X.shape
    df = k - p
    res = ys - (X * sw[:, None]) @ b
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma2 = float(res @ res) / df if df > 0 else float("nan")
        rinv = np.linalg.solve(r, np.eye(p))
        se = np.sqrt(sigma2 * (rinv * rinv).sum(1))
        t = b / se
    pval = t_two_sided(t, float(df)) if df > 0 else np.full(p, np.nan)
    crit = stats.t.isf((1.0 - level / 100.0) / 2.0, df) if df > 0 else float("nan")
    return dict(b=b, se=se, tval=t, pval=pval, ci_lb=b - crit * se, ci_ub=b + crit * se,
                sigma2=sigma2, df=df)  # fmt: skip


def regtest(
    x: Any,
    vi: Any = None,
    *,
    sei: Any = None,
    ni: Any = None,
    model: str = "rma",
    predictor: str = "sei",
    method: str | None = None,
    test: str | None = None,
    level: float | None = None,
) -> RegTestResult:
    """Regression test for funnel plot asymmetry (Egger et al. 1997).

    Equivalent to ``metafor::regtest(res, model=, predictor=)``.  With
    ``model="rma"`` (default) a meta-regression of ``yi`` on the predictor is fitted
    with the estimator, test and level of the fitted model (``x``); with
    ``model="lm"`` a weighted regression with weights ``1/vi`` and a multiplicative
    dispersion term (the classical Egger test), t-based with ``k - 2`` df.

    Parameters
    ----------
    x : RmaResult or array_like
        A fitted model (:func:`metaparity.rma`) or the effect sizes ``yi``.
    vi, sei : array_like, optional
        Sampling variances or standard errors (when ``x`` holds effect sizes).
    ni : array_like, optional
        Sample sizes for the predictors ``"ni"``, ``"ninv"``, ``"sqrtni"``,
        ``"sqrtninv"``; default: those recorded by :func:`metaparity.escalc` in the model.
    model : {"rma", "lm"}
    predictor : {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}
    method, test, level
        Only when ``x`` holds effect sizes (metafor's defaults: ``"REML"``, ``"z"``,
        95); a fitted model brings its own.

    Returns
    -------
    RegTestResult
        ``zval``, ``pval``, ``dfs`` (NaN for z tests), the limit estimate ``est`` with
        ``ci_lb``/``ci_ub`` (NaN for predictors ``"ni"``/``"sqrtni"``) and ``fit``.

    Raises
    ------
    ValueError
        k < 3 (metafor: "Number of parameters to be estimated is larger than the
        number of observations" for ``model="rma"``; NaN with warnings for ``"lm"``).

    Examples
    --------
    >>> # metafor: regtest(c(.1,.3,.5,.2,.9), c(.01,.02,.03,.015,.08), model="lm")
    >>> r = regtest([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08], model="lm")
    >>> round(r.zval, 4), round(r.pval, 4), r.dfs, round(r.est, 4)
    (14.153, 0.0008, 3.0, -0.3578)
    """
    model = check_choice("model", model, ("rma", "lm"))
    predictor = check_choice("predictor", predictor, PREDICTORS)
    y, v = _yi_vi(x, vi, sei, "regtest")
    if _is_rma(x):
        _check_plain(x, "regtest")
        if method is not None or test is not None or level is not None:
            raise ValueError(
                "regtest: method=/test=/level= are taken from the fitted model; pass them "
                "only with yi/vi"
            )
        method, test, level = x.method, x.test, x.level
        if ni is None and x.ni is not None:
            ni = x.ni
    else:
        method = check_choice("method", "REML" if method is None else method, METHODS)
        test = check_choice("test", "z" if test is None else test, TESTS)
        level = check_level(95 if level is None else level)
    k = y.size
    _check_k(
        k,
        "regtest",
        "regression test (intercept + slope leave no residual df)",
        "an error for model='rma', NaN with warnings for 'lm'",
    )
    nia = None
    if ni is not None:
        nia = np.atleast_1d(as_float_array("ni", ni)).ravel()
        check_same_length(yi=y, ni=nia)
    pred = _predictor(predictor, v, nia)
    limit = predictor in _LIMIT_PREDICTORS
    nan = float("nan")
    if model == "lm":
        X = np.column_stack([np.ones(k), pred])
        f = _wls(y, v, X, level)
        return RegTestResult(
            model=model, predictor=predictor, zval=float(f["tval"][1]),
            pval=float(f["pval"][1]), dfs=float(f["df"]),
            est=float(f["b"][0]) if limit else nan,
            ci_lb=float(f["ci_lb"][0]) if limit else nan,
            ci_ub=float(f["ci_ub"][0]) if limit else nan,
            k=int(k), method=None, test="t", level=float(level), fit=f,
        )  # fmt: skip
    fit = rma_mods(y, v, pred, method=method, test=test, level=level)
    return RegTestResult(
        model=model, predictor=predictor, zval=float(fit.zval[1]), pval=float(fit.pval[1]),
        dfs=float(fit.dfs), est=float(fit.b[0]) if limit else nan,
        ci_lb=float(fit.ci_lb[0]) if limit else nan,
        ci_ub=float(fit.ci_ub[0]) if limit else nan,
        k=int(k), method=method, test=test, level=float(level), fit=fit,
    )  # fmt: skip


# --------------------------------------------------------------------------- #
# trim and fill
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class TrimFillResult:
    """Trim and fill (metafor ``trimfill``): the estimated number of missing studies,
    the filled studies and the model refitted on the augmented data.

    ``yi``/``vi`` are the observed studies (in their order) followed by the ``k0``
    filled ones; ``fill`` marks the filled ones; ``yi_fill``/``vi_fill`` are the filled
    ones alone.  ``se_k0`` is the standard error of ``k0`` (Duval & Tweedie 2000b),
    ``p_k0`` the p-value of H0: no missing studies (R0 only, NaN for L0).  ``fit`` is
    the :class:`~metaparity.models.uni.RmaResult` on the augmented data (the original model
    refitted when ``k0 = 0``); ``b``, ``se``, ``ci_lb``, ``ci_ub``, ``tau2``,
    ``pval`` are shortcuts to it.
    """

    k0: int
    side: str
    estimator: str
    se_k0: float
    p_k0: float
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    fill: np.ndarray = field(repr=False)
    fit: Any = field(repr=False)
    k0_raw: float = float("nan")
    iterations: int = 0

    @property
    def yi_fill(self) -> np.ndarray:
        return self.yi[self.fill]

    @property
    def vi_fill(self) -> np.ndarray:
        return self.vi[self.fill]

    def __getattr__(self, name: str) -> Any:
        if name in ("b", "se", "zval", "pval", "ci_lb", "ci_ub", "tau2", "k", "method"):
            return getattr(self.fit, name)
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        out = {q: getattr(self, q) for q in "k0 side estimator se_k0 p_k0 iterations".split()}
        out.update({q: getattr(self.fit, q) for q in "b se pval ci_lb ci_ub tau2 k".split()})
        out["yi_fill"] = self.yi_fill.tolist()
        out["vi_fill"] = self.vi_fill.tolist()
        return out


def _refit(y, v, method: str, test: str = "z", level: float = 95):
    return rma(y, v, method=method, test=test, level=level)


def _estimate_side(res) -> str:
    """Side of the missing studies: from the slope of the regression test with the
    standard errors as predictor (same estimator): a positive slope (small studies
    with larger outcomes) means studies missing on the left."""
    fit = rma_mods(res.yi, res.vi, np.sqrt(res.vi), method=res.method, test="z")
    return "right" if fit.b[1] < 0 else "left"


def _var_l0(n: int, g: float) -> float:
    """Var(L0) = 16 Var(T_n) / (2n - 1)^2 (Duval & Tweedie 2000b), Var(T_n) with g
    suppressed studies."""
    vt = (
        n * (n + 1) * (2 * n + 1)
        + 10 * g**3
        + 27 * g**2
        + 17 * g
        - 18 * n * g**2
        - 18 * n * g
        + 6 * n**2 * g
    ) / 24.0
    return 16.0 * vt / (2 * n - 1) ** 2


def trimfill(
    res: Any,
    estimator: str = "L0",
    side: str | None = None,
    *,
    maxiter: int = 100,
    test: str | None = None,
    level: float | None = None,
) -> TrimFillResult:
    """Trim and fill (Duval & Tweedie 2000a, b).

    Equivalent to ``metafor::trimfill(res, estimator=, side=)``: the outcomes are
    ranked by their distance from the pooled estimate; the ``k0`` most extreme on
    the side opposite to the missing studies are trimmed, the estimate is recomputed
    from the rest (same estimator as ``res``) and ``k0`` re-estimated with all
    studies, until ``k0`` no longer changes.  The trimmed studies are then mirrored
    about the last estimate (with their sampling variances) and the model is refitted
    on the augmented data.

    Parameters
    ----------
    res : RmaResult
        The fitted equal- or random-effects model (no user weights).
    estimator : {"L0", "R0"}
        ``L0 = (4 T_n - k(k + 1)) / (2k - 1)`` from the Wilcoxon signed-rank sum
        ``T_n``; ``R0 = gamma* - 1`` from the length of the rightmost run of ranks.
        ``k0`` is ``max(0, round(.))``.
    side : {"left", "right"}, optional
        Where the missing studies are.  Default, as metafor: from the sign of the
        slope in a regression test with the standard errors as predictor (same
        estimator as ``res``): a negative slope means "right", otherwise "left".
    maxiter : int
        Maximum number of iterations (a warning when reached, as metafor).
    test, level : optional
        Test and confidence level of the model refitted on the augmented data.
        Default, as metafor 3.8: ``"z"`` and 95, *whatever* ``res`` used (metafor's
        ``trimfill`` refits with the estimator of ``res`` only; measured: a
        ``test="knha", level=90`` model gives a z-based 95% CI after trim and fill);
        but when nothing is filled (``k0 = 0``) ``fit`` is ``res`` itself, as metafor.

    Returns
    -------
    TrimFillResult

    Raises
    ------
    ValueError
        k < 3 (metafor stops with "Number of parameters to be estimated is larger
        than the number of observations" from the regression test for the side).

    Examples
    --------
    >>> # metafor: trimfill(rma(yi, vi, method="EE")) on these data -> k0 = 2, side "left"
    >>> from metaparity import rma
    >>> res = rma([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08], method="EE")
    >>> tf = trimfill(res)
    >>> tf.k0, tf.side, [round(float(y), 4) for y in tf.yi_fill]
    (2, 'left', [-0.1462, -0.5462])
    """
    if not _is_rma(res):
        raise ValueError("trimfill: give a fitted model (metaparity.rma(...))")
    _check_plain(res, "trimfill")
    estimator = check_choice("estimator", estimator, ("L0", "R0"))
    refit_args = ("z" if test is None else test, 95 if level is None else level)
    y0 = np.asarray(res.yi, dtype=float)
    v0 = np.asarray(res.vi, dtype=float)
    k = y0.size
    _check_k(k, "trimfill", "trim and fill", "an error from the regression test for the side")
    if side is None:
        side = _estimate_side(res)
    side = check_choice("side", side, ("left", "right"))
    sign = -1.0 if side == "right" else 1.0  # work with the missing studies on the left
    ys = sign * y0
    order = np.argsort(ys, kind="stable")
    ys, vs = ys[order], v0[order]

    k0 = 0
    k0_raw = float("nan")
    it = 0
    b = float("nan")
    while True:
        it += 1
        prev = k0
        fit = _refit(sign * ys[: k - k0], vs[: k - k0], res.method)
        b = sign * fit.b
        dev = ys - b
        ranks = stats.rankdata(np.abs(dev))
        if estimator == "L0":
            tn = float(ranks[dev > 0].sum())
            k0_raw = (4.0 * tn - k * (k + 1)) / (2.0 * k - 1.0)
            k0 = max(0, int(round(k0_raw)))
        else:
            neg = ranks[dev < 0]
            gamma = k - (float(neg.max()) if neg.size else 0.0)
            k0_raw = gamma - 1.0
            k0 = max(0, int(round(k0_raw)))
        if k0 == prev:
            break
        if it >= maxiter:
            warnings.warn(
                f"trimfill: k0 did not converge in {maxiter} iterations (as metafor warns)",
                UserWarning,
                stacklevel=2,
            )
            break
    if estimator == "L0":
        var_l0 = _var_l0(k, k0_raw)
        if var_l0 < 0:
            # the variance formula is negative for small k with a negative unrounded L0:
            # metafor returns NaN (with R's warning "NaNs produced")
            warnings.warn(
                f"trimfill: the estimated variance of L0 is negative (k = {k}, "
                f"L0 = {k0_raw:.4g}); se_k0 is NaN (metafor: NaN, 'NaNs produced')",
                UserWarning,
                stacklevel=2,
            )
            se_k0 = float("nan")
        else:
            se_k0 = math.sqrt(var_l0)
        p_k0 = float("nan")
    else:
        se_k0 = math.sqrt(2.0 * max(0, k0) + 2.0)
        # P(R0 >= k0) = 2^-(k0+1) under H0 (Duval & Tweedie 2000b), formed as metafor's
        # value is: 1 - (1 - 2^-(k0+1)), which is exactly 0 from k0 = 53 on
        p_k0 = 1.0 - (1.0 - 0.5 ** (k0 + 1))
    if k0 > 0:
        yf = sign * (2.0 * b - ys[k - k0 :])
        vf = vs[k - k0 :]
        yi = np.concatenate([y0, yf])
        vi = np.concatenate([v0, vf])
    else:
        yi, vi = y0.copy(), v0.copy()
    if k0 == 0 and test is None and level is None:
        out_fit = res  # nothing filled: metafor returns the model as fitted (its test/level)
    else:
        out_fit = _refit(yi, vi, res.method, *refit_args)
    fill = np.r_[np.zeros(k, bool), np.ones(yi.size - k, bool)]
    return TrimFillResult(
        k0=int(k0), side=side, estimator=estimator, se_k0=float(se_k0), p_k0=float(p_k0),
        yi=yi, vi=vi, fill=fill, fit=out_fit, k0_raw=float(k0_raw), iterations=it,
    )  # fmt: skip


# --------------------------------------------------------------------------- #
# fail-safe N
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class FsnResult:
    """Fail-safe N (metafor ``fsn``).

    ``fsnum`` is the number of studies averaging null results needed to bring the
    combined p-value above ``alpha`` (Rosenthal, Rosenberg) or the average outcome
    down to ``target`` (Orwin); ``pval`` is the p-value of the observed results (NaN
    for Orwin), ``meanes`` the average outcome (NaN for Rosenthal), ``target`` the
    target (NaN unless Orwin).
    """

    type: str
    fsnum: int
    alpha: float
    pval: float
    meanes: float
    target: float
    k: int

    def to_dict(self) -> dict[str, Any]:
        return {q: getattr(self, q) for q in "type fsnum alpha pval meanes target k".split()}


#: metafor counts a fail-safe N within ~1.5e-8 of an integer as that integer (measured with
#: Orwin's N: 7 + 1e-8 -> 7, 7 + 2e-8 -> 8, the same at 700 and 70000: an absolute margin)
_FSN_SNAP = math.sqrt(np.finfo(float).eps)


def _ceil(x: float) -> int:
    """``max(0, ceil(x))`` with values within sqrt(eps) above an integer taken as it."""
    return max(0, math.ceil(x - _FSN_SNAP))


def fsn(
    yi: Any,
    vi: Any = None,
    *,
    sei: Any = None,
    type: str = "Rosenthal",  # noqa: A002 - metafor's name
    alpha: float = 0.05,
    target: float | None = None,
    weighted: bool = False,
) -> FsnResult:
    """Fail-safe N (file drawer analysis).

    Equivalent to ``metafor::fsn(yi, vi, type=, alpha=, target=, weighted=)``.

    * ``"Rosenthal"`` (1979): Stouffer's combination ``Z = sum(z_i) / sqrt(k)`` of
      ``z_i = yi / sqrt(vi)``; ``pval`` is the one-sided p-value of ``|Z|``;
      ``fsnum = ceil((sum z_i / z_alpha)^2 - k)`` with the one-sided
      ``z_alpha = Phi^-1(1 - alpha)`` (0 when ``pval > alpha``).
    * ``"Orwin"`` (1983): ``fsnum = ceil(k (meanes - target) / target)`` with ``meanes``
      the mean outcome (weighted by 1/vi when ``weighted``), ``target`` default
      ``meanes / 2``; a target of the opposite sign is flipped (as metafor); 0 when
      ``|meanes| <= |target|``.
    * ``"Rosenberg"`` (2005): studies with outcome 0 and the mean weight added to an
      equal-effects model until its two-sided p-value reaches ``alpha``:
      ``fsnum = ceil(k (sum w y)^2 / (z_{alpha/2}^2 sum w) - k)``.

    Parameters
    ----------
    yi : array_like or RmaResult
        Effect sizes (or a fitted model, whose ``yi``/``vi`` are used).
    vi, sei : array_like, optional
        Sampling variances or standard errors (not needed for unweighted Orwin).
    type : {"Rosenthal", "Orwin", "Rosenberg"}
    alpha : float
        Target alpha level (Rosenthal: one-sided; Rosenberg: two-sided).
    target : float, optional
        Orwin's target average outcome.
    weighted : bool
        Orwin with the inverse-variance weighted mean.

    Returns
    -------
    FsnResult

    Examples
    --------
    >>> # metafor: fsn(c(.1,.3,.5,.2,.9), c(.01,.02,.03,.015,.08)) -> fsnum 39
    >>> f = fsn([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08])
    >>> f.fsnum, f"{f.pval:.3g}"
    (39, '6.49e-07')
    """
    type = check_choice("type", type, ("Rosenthal", "Orwin", "Rosenberg"))  # noqa: A001
    if not 0 < float(alpha) < 1:
        raise ValueError(f"fsn: alpha={alpha!r} must lie in (0, 1)")
    alpha = float(alpha)
    nan = float("nan")
    if type == "Orwin" and not weighted and vi is None and sei is None and not _is_rma(yi):
        y = np.atleast_1d(as_float_array("yi", yi)).ravel()
        if y.size == 0 or not np.all(np.isfinite(y)):
            raise ValueError("fsn: yi must be finite and non-empty")
        v = np.ones_like(y)
    else:
        y, v = _yi_vi(yi, vi, sei, "fsn")
    k = y.size
    if type == "Rosenthal":
        zi = y / np.sqrt(v)
        zsum = float(zi.sum())
        p = float(stats.norm.sf(abs(zsum) / math.sqrt(k)))
        za = float(stats.norm.isf(alpha))
        n = _ceil((zsum / za) ** 2 - k)
        return FsnResult(type, int(n), alpha, p, nan, nan, int(k))
    if type == "Orwin":
        if weighted:
            w = 1.0 / v
            meanes = float((w * y).sum() / w.sum())
        else:
            meanes = float(y.mean())
        tgt = meanes / 2.0 if target is None else float(target)
        if np.sign(tgt) != np.sign(meanes):
            tgt = -tgt
        if tgt == 0:
            raise ValueError("fsn: Orwin's target must not be 0 (the fail-safe N is infinite)")
        n = _ceil(k * meanes / tgt - k)
        return FsnResult(type, int(n), alpha, nan, meanes, tgt, int(k))
    w = 1.0 / v
    sw = float(w.sum())
    swy = float((w * y).sum())
    meanes = swy / sw
    zval = swy / math.sqrt(sw)
    p = float(2.0 * stats.norm.sf(abs(zval)))
    za = float(stats.norm.isf(alpha / 2.0))
    n = _ceil(k * swy * swy / (za * za * sw) - k)
    return FsnResult(type, int(n), alpha, p, meanes, nan, int(k))
