"""The numpy reference engine: every row of ``(n, k)`` arrays fitted at once.

:func:`fit` is the one implementation of ``metafor::rma.uni`` without moderators:
:func:`metaparity.rma` calls it with one row, :func:`metaparity.rma_batch` (through
:mod:`metaparity.engine.dispatch`) with many.  The compiled engine
(:mod:`metaparity.engine.numba`) reproduces its numbers bit for bit.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from metaparity._core.distributions import t_two_sided
from metaparity._core.names import METHOD_ALIASES, estimating_method, estimating_test
from metaparity.engine.control import CONTROL_METHODS, MetaforControl, control_tau2, emit
from metaparity.engine.estimators import TauFit, estimate_tau2, others_sum, zero_v

__all__ = ["prepare", "fit", "TINY_V", "tiny_rows", "wide_rows"]

#: rows whose smallest sampling variance is below this are fitted on rescaled data
#: (``v / min(v)``, ``y / sqrt(min(v))``): the weights ``1/v`` and their squares and
#: cubes would overflow (vi = 1e-300: ``1/v**2`` is inf, and inf - inf gives NaN)
TINY_V = 1e-50


def tiny_rows(v: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Rows (n,) whose smallest (present) sampling variance is positive and below TINY_V."""
    vmin = np.where(m > 0, v, np.inf).min(-1)
    return (vmin > 0) & (vmin < TINY_V)


def prepare(Y: np.ndarray, V: np.ndarray, W: np.ndarray | None):
    """Flatten ``(..., k)`` to ``(n, k)``, build the mask, neutralise padding."""
    lead = Y.shape[:-1]
    k = Y.shape[-1]
    y = Y.reshape(-1, k)
    v = V.reshape(-1, k)
    present = np.isfinite(y) & np.isfinite(v)
    m = present.astype(float)
    y = np.where(present, y, 0.0)
    v = np.where(present, v, 1.0)
    w = None
    if W is not None:
        w = np.where(present, W.reshape(-1, k), 0.0)
    return lead, y, v, m, w


def wide_rows(v: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Rows (n,) whose max(v)/min(v) >= 1e7 (metafor's warning), or with a v below TINY_V:
    the rows whose heterogeneity statistics take the cancellation-free forms."""
    vmax = np.where(m > 0, v, 0.0).max(-1)
    vmin = np.where(m > 0, v, np.inf).min(-1)
    return (vmax >= 1e7 * vmin) | tiny_rows(v, m)


def fit(
    y: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    *,
    method: str,
    test: str,
    level: float,
    weights: np.ndarray | None = None,
    weighted: bool = True,
    tau2_fix: np.ndarray | None = None,
    control: MetaforControl | None = None,
) -> dict[str, np.ndarray]:
    """Fit every row of ``(n, k)`` arrays; returns a dict of ``(n,)`` arrays.

    ``m`` is 1 for a study, 0 for padding (``y = 0``, ``v = 1`` there, see
    :func:`prepare`).  The steps: tau^2 (:func:`estimate_tau2`, or with ``control``
    metafor's own iteration, :func:`metaparity.engine.control.control_tau2`), the pooled
    estimate and its variance, the test (z, t, Knapp-Hartung, ad hoc), and the
    heterogeneity statistics of the equal-effects fit.

    ``weighted=False`` pools with equal weights (metafor's unweighted estimation: the
    mean, with variance ``sum(v + tau2) / k^2``; user weights then only enter GENQ's
    tau^2).  ``tau2_fix`` holds tau^2 at the given values (metafor's ``tau2=``; no
    iteration, so ``control`` is not used).  Sampling variances of 0 are allowed: QE,
    QEp, I2, H2 and s2typ are NaN for those rows (metafor: NA), and ``div0`` flags the
    rows that would need an infinite inverse-variance weight (metafor stops there; the
    numbers of such rows are void).
    """
    tiny = tiny_rows(v, m)
    if tiny.any():
        return _fit_rescaled(tiny, y, v, m, method=method, test=test, level=level,
                             weights=weights, weighted=weighted, tau2_fix=tau2_fix,
                             control=control)  # fmt: skip
    given = method
    method, test = estimating_method(method), estimating_test(test)
    k = m.sum(-1).astype(np.int64)
    df = k.astype(float) - 1.0
    controlled = METHOD_ALIASES.get(given, given) in CONTROL_METHODS and tau2_fix is None
    if control is not None and controlled:
        tf = _controlled(given, y, v, m, k, control)
    else:
        tf = estimate_tau2(method, y, v, m, k, weights=weights, tau2_fix=tau2_fix)
    tau2 = tf.tau2
    pool_w = weights if weighted else m
    zv = zero_v(v, m)
    # 1/(v + tau2) is needed for the pooling (inverse-variance weights) and for the
    # Knapp-Hartung factor; with v = 0 and tau2 = 0 it is infinite (metafor stops)
    iv_needed = pool_w is None or test in ("knha", "adhoc")
    div0 = np.zeros(k.shape, dtype=bool) if tf.div0 is None else tf.div0.copy()
    if iv_needed:
        div0 |= ((v + np.nan_to_num(tau2)[:, None] == 0) & (m > 0)).any(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        b, vb, wre, r = _pooled(y, v, m, tau2, pool_w)
        if test in ("knha", "adhoc"):
            vb = vb * _knha_factor(y, m, wre, r, k, df, test, pool_w)
    se = np.sqrt(vb)
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = b / se  # se = 0 (identical yi under knha): Inf or NaN, as metafor
    pval, crit, dfs = _inference(zval, k, df, test, level)
    qe, qep, i2, h2, s2typ = _heterogeneity(y, v, m, k, df, tau2, method, zv)
    return dict(
        b=b, se=se, zval=zval, pval=pval, ci_lb=b - crit * se, ci_ub=b + crit * se,
        tau2=tau2, se_tau2=tf.se_tau2, I2=i2, H2=h2, QE=qe, QEp=qep, k=k, dfs=dfs,
        s2typ=s2typ, converged=tf.converged, iterations=tf.iterations,
        set_to_zero=np.zeros(b.shape, bool) if tf.set_to_zero is None else tf.set_to_zero,
        div0=div0,
    )  # fmt: skip


#: the fields that scale with the unit of y (sqrt(c)) and of v (c) under y/sqrt(c), v/c
_SCALE_Y = ("b", "se", "ci_lb", "ci_ub")
_SCALE_V = ("tau2", "se_tau2", "s2typ")


def _fit_rescaled(tiny, y, v, m, *, tau2_fix, weights, **settings):
    """:func:`fit` with the rows of ``tiny`` fitted in the unit of their smallest variance.

    The model is equivariant under ``y -> y / sqrt(c)``, ``v -> v / c`` (b and se scale by
    ``sqrt(c)``, tau^2 by ``c``; z, p, QE, I^2, H^2 are unchanged), so fitting with
    ``c = min(v)`` and scaling back gives the same estimates without overflowing the
    weights.  The other rows are fitted as they are (the same bits as without them).
    """
    c = np.where(tiny, np.where(m > 0, v, np.inf).min(-1), 1.0)
    ys = np.where(m > 0, y / np.sqrt(c)[:, None], y)
    vs = np.where(m > 0, v / c[:, None], v)
    ts = None if tau2_fix is None else tau2_fix / c
    ws = weights
    if weights is not None:  # b, its variance and GENQ's tau^2 do not depend on their scale
        wmax = np.where(m > 0, weights, 0.0).max(-1, keepdims=True)
        ws = np.where(tiny[:, None] & (wmax > 0), weights / np.where(wmax > 0, wmax, 1.0), weights)
    out = fit(ys, vs, m, tau2_fix=ts, weights=ws, **settings)
    for f in _SCALE_Y:
        out[f] = out[f] * np.sqrt(c)
    for f in _SCALE_V:
        out[f] = out[f] * c
    rest = ~tiny
    if rest.any():
        plain = fit(y[rest], v[rest], m[rest], weights=None if weights is None else weights[rest],
                    tau2_fix=None if tau2_fix is None else tau2_fix[rest], **settings)  # fmt: skip
        for f, arr in out.items():
            arr[rest] = plain[f]
    return out


def _controlled(method, y, v, m, k, control) -> TauFit:
    """tau^2 of every row by metafor's iteration (rows with k = 1: tau^2 = 0, as metafor)."""
    n = y.shape[0]
    tau2, se = np.zeros(n), np.full(n, np.nan)
    iters, zeroed = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    for i in np.flatnonzero(k > 1):
        keep = m[i] > 0
        fit = control_tau2(method, y[i, keep], v[i, keep], np.ones((int(k[i]), 1)), control)
        emit(fit, stacklevel=5)
        tau2[i], se[i], iters[i], zeroed[i] = fit.tau2, fit.se_tau2, fit.iterations, fit.set_to_zero
    return TauFit(tau2, se, np.ones(n, dtype=bool), iters, zeroed)


def _pooled(y, v, m, tau2, weights):
    """Pooled estimate and its variance: inverse-variance weights, or the user's weights."""
    wre = m / (v + tau2[:, None])
    a = wre if weights is None else weights
    sa = a.sum(-1)
    b = (a * y).sum(-1) / sa
    r = (y - b[:, None]) * m
    if weights is None:
        vb = 1.0 / sa
    else:
        vb = (a * a * (v + tau2[:, None]) * m).sum(-1) / (sa * sa)
    return b, vb, wre, r


def _knha_factor(y, m, wre, r, k, df, test, weights):
    """The Knapp-Hartung factor ``s2`` (``max(1, s2)`` for the ad hoc test)."""
    rr = r
    if weights is not None:
        rr = (y - ((wre * y).sum(-1) / wre.sum(-1))[:, None]) * m
    rss = (wre * rr * rr).sum(-1)
    # metafor 3.8 treats a weighted residual sum of squares below machine epsilon
    # as 0 (identical studies up to rounding): the SE becomes 0, z = Inf
    rss = np.where(rss < np.finfo(float).eps, 0.0, rss)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = rss / df
    s2 = np.where(k > 1, s2, 1.0)
    if test == "adhoc":
        s2 = np.maximum(s2, 1.0)
    return s2


def _inference(zval, k, df, test, level):
    """p-values, critical values and df of the test of the pooled estimate."""
    alpha = 1.0 - level / 100.0
    # metafor: with k = 1 the test is set to "z" (there are no df for a t-test)
    use_z = np.full(zval.shape, test == "z") | (k <= 1)
    dft = np.maximum(df, 1.0)
    pval = np.where(use_z, 2.0 * stats.norm.sf(np.abs(zval)), t_two_sided(zval, dft))
    crit = np.where(use_z, stats.norm.isf(alpha / 2.0), stats.t.isf(alpha / 2.0, dft))
    dfs = np.where(use_z, np.nan, df)
    return pval, crit, dfs


def _heterogeneity(y, v, m, k, df, tau2, method, zv=None):
    """QE, QEp (always from the equal-effects fit, as metafor), I^2, H^2 and s^2.

    Rows with a sampling variance of 0 (``zv``) get NaN for all of them (metafor: NA,
    "Cannot compute Q-test, I^2, or H^2 when there are non-positive sampling variances").
    """
    if zv is not None and zv.any():
        v = np.where(zv[:, None], 1.0, v)  # keeps the arithmetic finite; masked below
    wfe = m / v
    swf = wfe.sum(-1)
    bfe = (wfe * y).sum(-1) / swf
    rfe = (y - bfe[:, None]) * m
    qe = (wfe * rfe * rfe).sum(-1)
    qe = np.where(k > 1, qe, 0.0)
    qep = np.where(k > 1, stats.chi2.sf(qe, np.maximum(df, 1.0)), 1.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # QE ~ 0: I2 -> 0
        s2typ = df * swf / (swf * swf - (wfe * wfe).sum(-1))
        # sum(w)^2 - sum(w^2) = sum_i w_i sum_{j != i} w_j: the form without cancellation,
        # for rows with vi ratios >= 1e7 (metafor's warning), where the difference of the
        # two sums loses every digit (and s2typ turns infinite); other rows keep their bits
        wide = wide_rows(v, m)
        if wide.any():
            s2typ = np.where(wide, df * swf / (wfe * others_sum(wfe)).sum(-1), s2typ)
        if method in ("EE", "FE"):
            i2 = np.where(qe > 0, np.maximum(0.0, 100.0 * (qe - df) / qe), 0.0)
            h2 = qe / df
        else:
            i2 = 100.0 * tau2 / (tau2 + s2typ)
            h2 = (tau2 + s2typ) / s2typ
    single = k <= 1
    i2 = np.where(single, 0.0, i2)
    h2 = np.where(single, 1.0, h2)
    s2typ = np.where(single, np.nan, s2typ)
    if zv is not None and zv.any():
        qe, qep, i2, h2, s2typ = (np.where(zv, np.nan, a) for a in (qe, qep, i2, h2, s2typ))
    return qe, qep, i2, h2, s2typ
