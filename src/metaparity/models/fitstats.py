"""Fit statistics of a fitted model (metafor's ``fit.stats``): the log-likelihood, deviance,
AIC, BIC and AICc, each under ML and under REML.

* :func:`information_criteria` -- AIC, BIC, AICc from a log-likelihood, the number of
  parameters and the number of observations (``k`` for ML, ``k - p`` for REML), as every
  metafor fitting function computes them (Hurvich and Tsai's AICc with metafor's guard
  ``max(n, parms + 2)``); shared by rma and rma_mv.
* :func:`uni_fit_stats` -- the rma.uni statistics at the fitted ``(b, tau^2)``, with or
  without moderators, for every estimator (metafor reports them for DL, HE, ... as well,
  evaluated at that estimator's tau^2).  With ``w_i = 1 / (v_i + tau^2)`` and
  ``RSS = sum w_i (y_i - x_i'b)^2``:

  - ``ll_ML = -k/2 log(2 pi) - 1/2 sum log(v_i + tau^2) - RSS/2``;
  - ``ll_REML = -(k-p)/2 log(2 pi) + 1/2 log|X'X| - 1/2 sum log(v_i + tau^2)
    - 1/2 log|X'WX| - RSS/2`` (the full REML likelihood, metafor's ``REMLf=TRUE``);
  - ``dev_ML = -2 (ll_ML - ll_sat)`` with the saturated model's
    ``ll_sat = sum log dnorm(y_i; y_i, v_i)`` (``-2 ll_ML`` when some ``v_i = 0``, ``0``
    when ``k = p``); ``dev_REML = -2 ll_REML``.

  ``b`` is the reported coefficient vector: with user weights or ``weighted=False`` it is
  that estimator's, as metafor's ``RSS.f``.  ``parms = p + 1``, or ``p`` when tau^2 is not
  estimated (EE/FE/CE, or a fixed ``tau2=``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["information_criteria", "uni_fit_stats", "uni_parms", "FIT_STATS"]

#: the statistics, in metafor's row order
FIT_STATS = ("ll", "dev", "AIC", "BIC", "AICc")

_LOG2PI = math.log(2 * math.pi)


def information_criteria(ll: float, parms: int, n: int, dev: float) -> dict[str, float]:
    """``{"ll", "dev", "AIC", "BIC", "AICc"}`` for ``parms`` parameters and ``n``
    observations (BIC's and AICc's sample size: ``k`` under ML, ``k - p`` under REML).

    Examples
    --------
    >>> fs = information_criteria(-10.0, 2, 12, 5.0)
    >>> fs["AIC"], round(fs["BIC"], 6), round(fs["AICc"], 6)
    (24.0, 24.969813, 25.333333)
    """
    big = max(n, parms + 2)
    with np.errstate(divide="ignore"):
        bic = -2 * ll + parms * float(np.log(n)) if n > 0 else -math.inf
    return {"ll": float(ll), "dev": float(dev), "AIC": float(-2 * ll + 2 * parms),
            "BIC": float(bic), "AICc": float(-2 * ll + 2 * parms * big / (big - parms - 1))}  # fmt: skip


def uni_parms(p: int, method: str, tau2_fix: bool) -> int:
    """metafor's ``parms`` of an rma.uni fit: the coefficients, plus tau^2 when estimated."""
    return p + (0 if method in ("EE", "FE", "CE") or tau2_fix else 1)


def uni_fit_stats(
    yi: np.ndarray, vi: np.ndarray, X: np.ndarray | None, b: np.ndarray | float, tau2: float,
    parms: int,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """``{"ML": {...}, "REML": {...}}``: the fit statistics of an rma.uni fit at ``(b, tau2)``.

    Parameters
    ----------
    yi, vi : ndarray
        The estimates and sampling variances the model was fitted to.
    X : ndarray or None
        The ``k x p`` design; None for the intercept-only model.
    b : ndarray or float
        The reported coefficients.
    tau2 : float
        The reported tau^2.
    parms : int
        The number of parameters (:func:`uni_parms`).

    Returns
    -------
    dict
        ``"ML"`` and ``"REML"``, each ``{"ll", "dev", "AIC", "BIC", "AICc"}``.

    Examples
    --------
    >>> y, v = np.array([0.1, 0.3, 0.5]), np.array([0.01, 0.02, 0.03])
    >>> fs = uni_fit_stats(y, v, None, 0.25, 0.0, 1)
    >>> round(fs["ML"]["ll"], 6), round(fs["REML"]["ll"], 6)
    (1.025893, -0.111515)
    """
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    k = y.size
    Xd = np.ones((k, 1)) if X is None else np.asarray(X, dtype=float)
    p = Xd.shape[1]
    bv = np.atleast_1d(np.asarray(b, dtype=float))
    tv = v + tau2
    w = 1.0 / tv
    rss = float(np.sum(w * (y - Xd @ bv) ** 2))
    sum_log = float(np.sum(np.log(tv)))
    ll_ml = -0.5 * k * _LOG2PI - 0.5 * sum_log - 0.5 * rss
    logdet_xx = float(np.linalg.slogdet(Xd.T @ Xd)[1])
    logdet_xwx = float(np.linalg.slogdet((Xd * w[:, None]).T @ Xd)[1])
    ll_reml = (-0.5 * (k - p) * _LOG2PI + 0.5 * logdet_xx - 0.5 * sum_log - 0.5 * logdet_xwx
               - 0.5 * rss)  # fmt: skip
    if k > p:
        if bool(np.all(v > 0)):
            ll_sat = float(np.sum(-0.5 * (_LOG2PI + np.log(v))))
            dev_ml = -2 * (ll_ml - ll_sat)
        else:
            dev_ml = -2 * ll_ml
    else:
        dev_ml = 0.0
    return {
        "ML": information_criteria(ll_ml, parms, k, dev_ml),
        "REML": information_criteria(ll_reml, parms, k - p, -2 * ll_reml),
    }
