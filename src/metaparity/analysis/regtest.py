"""Egger-type regression test for funnel plot asymmetry (metafor ``regtest``).

Egger et al. (1997), Sterne & Egger (2005): a meta-regression of the outcomes on a
predictor of precision (``model="rma"``, same estimator and test as the fitted model)
or a weighted least-squares regression with a multiplicative dispersion term
(``model="lm"``, the classical Egger test); the intercept is the "limit estimate"
(PET for ``"sei"``, PEESE for ``"vi"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from metaparity._core.distributions import t_two_sided
from metaparity._core.names import METHODS, TESTS, MethodName, TestName, check_choice
from metaparity._core.validation import check_level, check_same_length
from metaparity.analysis._bias_common import _check_k, _check_plain, _is_rma, _vector, _yi_vi
from metaparity.models.metareg import rma_mods
from metaparity.models.results import RmaResult

__all__ = ["regtest", "RegTestResult", "PREDICTORS", "Predictor", "RegModel"]

#: A predictor of :func:`regtest` (metafor's names).
Predictor = Literal["sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"]
#: The regression of :func:`regtest`: a meta-regression or weighted least squares.
RegModel = Literal["rma", "lm"]
#: Predictors of :func:`regtest` (metafor's names).
PREDICTORS: tuple[str, ...] = get_args(Predictor)
#: Predictors for which the intercept is a limit estimate (infinite precision).
_LIMIT_PREDICTORS = ("sei", "vi", "ninv", "sqrtninv")


@dataclass(frozen=True)
class RegTestResult:
    """Egger-type regression test (what ``metafor::regtest`` returns).

    Attributes
    ----------
    model, predictor : str
        The regression (``"rma"`` or ``"lm"``) and the predictor of precision.
    zval, pval : float
        The test statistic of the predictor's coefficient (a t statistic when ``dfs``
        is finite: ``model="lm"`` or a t-based test of the fitted model) and its
        two-sided p-value.
    dfs : float
        Degrees of freedom of the t test (NaN for z tests).
    est, ci_lb, ci_ub : float
        The limit estimate (the intercept) and its confidence interval; NaN for the
        predictors ``"ni"`` and ``"sqrtni"`` (metafor: NULL).
    k : int
        The number of studies.
    method : str or None
        The tau^2 estimator of the meta-regression (None for ``model="lm"``).
    test : str
        The test of the coefficients (``"t"`` for ``model="lm"``).
    level : float
        Confidence level in percent.
    fit : RmaResult or dict
        The fitted regression: an :class:`~metaparity.models.results.RmaResult` with
        moderators (``model="rma"``) or a dict with ``b``, ``se``, ``tval``, ``pval``,
        ``ci_lb``, ``ci_ub``, ``sigma2``, ``df`` (``model="lm"``).

    Examples
    --------
    >>> r = regtest([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08], model="lm")
    >>> sorted(r.to_dict())[:4]
    ['ci_lb', 'ci_ub', 'dfs', 'est']
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
    method: MethodName | None
    test: TestName
    level: float
    fit: RmaResult | dict[str, Any] | None = field(repr=False, default=None)

    def to_dict(self) -> dict[str, Any]:
        """The fields except ``fit``, as a dict (metafor's names)."""
        keys = "model predictor zval pval dfs est ci_lb ci_ub k method test level".split()
        return {q: getattr(self, q) for q in keys}


# --------------------------------------------------------------------------- #
# input handling
# --------------------------------------------------------------------------- #
def _settings(
    x: RmaResult | ArrayLike,
    ni: ArrayLike | None,
    method: MethodName | None,
    test: TestName | None,
    level: float | None,
) -> tuple[MethodName, TestName, float, ArrayLike | None]:
    """Estimator, test, level (and recorded sample sizes) of the regression: those of
    the fitted model ``x``, or the arguments with metafor's defaults for ``yi``/``vi``."""
    if _is_rma(x):
        _check_plain(x, "regtest")
        if method is not None or test is not None or level is not None:
            raise ValueError(
                "regtest: method=/test=/level= are taken from the fitted model; pass them "
                "only with yi/vi"
            )
        if ni is None and x.ni is not None:
            ni = x.ni
        return x.method, x.test, x.level, ni
    return (
        check_choice("method", "REML" if method is None else method, METHODS),
        check_choice("test", "z" if test is None else test, TESTS),
        check_level(95 if level is None else level),
        ni,
    )


def _predictor(predictor: str, v: np.ndarray, ni: np.ndarray | None) -> np.ndarray:
    """The predictor of precision for each study."""
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


# --------------------------------------------------------------------------- #
# estimator
# --------------------------------------------------------------------------- #
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


# --------------------------------------------------------------------------- #
# result assembly
# --------------------------------------------------------------------------- #
def _lm_result(
    y: np.ndarray, v: np.ndarray, pred: np.ndarray, predictor: str, level: float
) -> RegTestResult:
    """The classical Egger test: weighted least squares on ``[1, pred]``, t-based."""
    limit = predictor in _LIMIT_PREDICTORS
    nan = float("nan")
    f = _wls(y, v, np.column_stack([np.ones(y.size), pred]), level)
    return RegTestResult(
        model="lm", predictor=predictor, zval=float(f["tval"][1]),
        pval=float(f["pval"][1]), dfs=float(f["df"]),
        est=float(f["b"][0]) if limit else nan,
        ci_lb=float(f["ci_lb"][0]) if limit else nan,
        ci_ub=float(f["ci_ub"][0]) if limit else nan,
        k=int(y.size), method=None, test="t", level=float(level), fit=f,
    )  # fmt: skip


def _rma_result(
    y: np.ndarray,
    v: np.ndarray,
    pred: np.ndarray,
    predictor: str,
    settings: tuple[MethodName, TestName, float],
) -> RegTestResult:
    """The meta-regression test with the estimator, test and level in ``settings``."""
    method, test, level = settings
    limit = predictor in _LIMIT_PREDICTORS
    nan = float("nan")
    fit = rma_mods(y, v, pred, method=method, test=test, level=level)
    return RegTestResult(
        model="rma", predictor=predictor, zval=float(fit.zval[1]), pval=float(fit.pval[1]),
        dfs=float(fit.dfs), est=float(fit.b[0]) if limit else nan,
        ci_lb=float(fit.ci_lb[0]) if limit else nan,
        ci_ub=float(fit.ci_ub[0]) if limit else nan,
        k=int(y.size), method=method, test=test, level=float(level), fit=fit,
    )  # fmt: skip


def regtest(
    x: RmaResult | ArrayLike,
    vi: ArrayLike | None = None,
    *,
    sei: ArrayLike | None = None,
    ni: ArrayLike | None = None,
    model: RegModel = "rma",
    predictor: Predictor = "sei",
    method: MethodName | None = None,
    test: TestName | None = None,
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
        Meta-regression (``"rma"``) or weighted least squares (``"lm"``).
    predictor : {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}
        The predictor of precision.
    method : str, optional
        tau^2 estimator, only when ``x`` holds effect sizes (default ``"REML"``, as
        metafor); a fitted model brings its own.
    test : {"z", "t", "knha", "adhoc"}, optional
        Only when ``x`` holds effect sizes (default ``"z"``).
    level : float, optional
        Confidence level in percent, only when ``x`` holds effect sizes (default 95).

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
    >>> import metaparity as mp  # metafor: regtest(rma(yi, vi, method="EE")) -> z 3.1239
    >>> res = mp.rma([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08], method="EE")
    >>> g = regtest(res)
    >>> g.model, g.method, g.test, round(g.zval, 4)
    ('rma', 'EE', 'z', 3.1239)
    """
    model_ = check_choice("model", model, get_args(RegModel))
    predictor_ = check_choice("predictor", predictor, PREDICTORS)
    y, v = _yi_vi(x, vi, sei, "regtest")
    method_, test_, level_, ni = _settings(x, ni, method, test, level)
    _check_k(
        y.size,
        "regtest",
        "regression test (intercept + slope leave no residual df)",
        "an error for model='rma', NaN with warnings for 'lm'",
    )
    nia = None
    if ni is not None:
        nia = _vector("ni", ni)
        check_same_length(yi=y, ni=nia)
    pred = _predictor(predictor_, v, nia)
    if model_ == "lm":
        return _lm_result(y, v, pred, predictor_, level_)
    return _rma_result(y, v, pred, predictor_, (method_, test_, level_))
