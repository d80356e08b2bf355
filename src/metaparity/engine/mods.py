"""The meta-regression engine: ``n`` mixed-effects models at once (``metafor::rma.uni``, ``mods``).

The model is ``y = X beta + u + e``, ``u ~ N(0, tau^2 I)``, ``e ~ N(0, diag(v))``, with
``X`` the ``k x p`` design (intercept first when present).  With ``W = diag(1/(v + tau^2))``
(Raudenbush 2009; Viechtbauer 2005; ``?rma.uni``)

* ``b = (X'WX)^-1 X'W y``, ``vb = (X'WX)^-1``;
* ``QE = y' P y`` with ``P = W - W X (X'WX)^-1 X'W`` at ``tau^2 = 0`` (df ``k - p``);
* ``QM = b[btt]' vb[btt, btt]^-1 b[btt]`` (chi^2 with ``m`` df; under t-based tests
  ``QM / m`` against ``F(m, k - p)``);
* Knapp-Hartung: ``vb`` scaled by ``s2 = y' P y / (k - p)`` with ``P`` at the estimate.

Every projection is formed from a complete QR decomposition of ``W^(1/2) X``:
``P = B B'`` with ``B = W^(1/2) Q2`` (``Q2`` the orthonormal complement of the
column space), so ``y'Py``, ``tr(P)``, ``tr(PP)`` and ``tr(PSPS)`` are sums of
squares -- no difference of large sums, even with sampling variances 1e4 apart.
The root finders are :mod:`metaparity.engine.estimators`'s.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from metaparity._core.distributions import t_two_sided
from metaparity._core.mfversion import since
from metaparity._core.names import METHOD_ALIASES, estimating_method, estimating_test
from metaparity.engine.control import (
    CONTROL_METHODS,
    ConvergenceError,
    MetaforControl,
    control_tau2,
    emit,
)
from metaparity.engine.estimators import _refine, _sel, solve_decreasing
from metaparity.engine.projection import _Proj

__all__ = ["fit_mods", "MODS_METHODS"]

#: tau^2 estimators supported with moderators (metafor names).
MODS_METHODS: tuple[str, ...] = (
    "EE", "FE", "DL", "DLIT", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML", "EB", "PM", "PMM",
    "CE", "MP", "CO", "VC",
)  # fmt: skip

_EPS = float(np.finfo(float).eps)
_KNHA_RAW = True


def _tau2(method: str, y, v, X, df, k):
    """tau^2, se(tau^2), converged, iterations, set_to_zero -- arrays (n,)."""
    n = y.shape[0]
    zero = np.zeros(n)
    conv = np.ones(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    nan = np.full(n, np.nan)
    no = np.zeros(n, dtype=bool)
    if method in ("EE", "FE"):
        return zero, nan, conv, iters, no
    if method in ("DL", "HE"):
        a = 1.0 / v if method == "DL" else np.ones_like(v)
        pr = _Proj(X, a)
        qa, trp = pr.quad(y), pr.trp()
        trpv = df if method == "DL" else (pr.B * pr.B * v[..., None]).sum((-1, -2))
        tau2 = np.maximum((qa - trpv) / trp, 0.0)
        if method == "DL":
            se = _se_dl_form(pr, df, tau2)
        else:
            se = np.sqrt(2.0 * pr.trpsps(v + tau2[:, None])) / trp
        return tau2, se, conv, iters, no
    if method in ("HS", "HSk"):
        w = 1.0 / v
        pr = _Proj(X, w)
        q = pr.quad(y)
        sw = w.sum(-1)
        scale = k / df if method == "HSk" else np.ones(n)
        tau2 = np.maximum((q * scale - k) / sw, 0.0)
        se = _se_dl_form(pr, df, tau2) * pr.trp() * scale / sw
        return tau2, se, conv, iters, no
    if method == "SJ":
        # metafor starts SJ from the variance of y about its unweighted mean (the
        # intercept-only start, divisor k) even with moderators -- not from the OLS
        # residuals of the meta-regression (measured on dat.bcg, ~ ablat)
        r0 = y - y.mean(-1, keepdims=True)
        tau0 = (r0 * r0).sum(-1) / k
        a = 1.0 / (v + tau0[:, None])
        pr = _Proj(X, a)
        tau2 = tau0 * pr.quad(y) / df
        se = tau0 * np.sqrt(2.0 * pr.trpsps(v + tau2[:, None])) / df
        return tau2, se, conv, iters, no
    if method in ("PM", "EB", "SJIT", "PMM"):
        target = df if method != "PMM" else stats.chi2.ppf(0.5, df)

        def f(t, sel):
            pr = _Proj(X[sel], 1.0 / (v[sel] + t[:, None]))
            return pr.quad(y[sel]) - target[sel], -pr.py2(y[sel])

        tau2, conv, iters = solve_decreasing(f, zero.copy(), np.ones(n, bool), newton=True)
        w = 1.0 / (v + tau2[:, None])
        se = k * np.sqrt(2.0 / df) / w.sum(-1)
        return tau2, se, conv, iters, no
    if method == "DLIT":

        def g(t, sel):
            pr = _Proj(X[sel], 1.0 / (v[sel] + t[:, None]))
            return (pr.quad(y[sel]) - df[sel]) / pr.trp() - t, None

        tau2, conv, iters = solve_decreasing(g, zero.copy(), np.ones(n, bool))
        pr = _Proj(X, 1.0 / (v + tau2[:, None]))
        se = _se_dl_form(pr, df, tau2)
        return tau2, se, conv, iters, no
    if method in ("ML", "REML"):
        return _likelihood(method, y, v, X, k)
    raise ValueError(
        f"method={method!r} is not supported with moderators; supported: {', '.join(MODS_METHODS)}"
    )


def _se_dl_form(pr: _Proj, df, tau2):
    """``sqrt(2(k-p) + 4 tau2 tr(P) + 2 tau2^2 tr(PP)) / tr(P)`` (P from ``a``)."""
    trp, trpp = pr.trp(), pr.trpp()
    return np.sqrt(2.0 * df + 4.0 * tau2 * trp + 2.0 * tau2 * tau2 * trpp) / trp


def _likelihood(method, y, v, X, k):
    """ML / REML: Fisher scoring from the HE estimate (as metafor), then the root."""
    n = y.shape[0]
    pr_he = _Proj(X, np.ones_like(v))
    df = k - X.shape[-1]
    trpv = (pr_he.B * pr_he.B * v[..., None]).sum((-1, -2))
    tau2 = np.maximum(np.nan_to_num((pr_he.quad(y) - trpv) / df, nan=0.0), 0.0)

    def score_info(t, sel):
        vv = v[sel]
        w = 1.0 / (vv + t[:, None])
        pr = _Proj(X[sel], w)
        if method == "ML":
            b = pr.coef(y[sel])
            r = y[sel] - np.einsum("nkp,np->nk", X[sel], b)
            return (w * w * r * r).sum(-1) - w.sum(-1), (w * w).sum(-1)
        return pr.py2(y[sel]) - pr.trp(), pr.trpp()

    conv = np.zeros(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    for _ in range(100):
        idx = np.flatnonzero(~conv)
        if idx.size == 0:
            break
        s_, info = score_info(tau2[idx], _sel(n, idx))
        new = np.maximum(tau2[idx] + s_ / info, 0.0)
        iters[idx] += 1
        step = np.abs(new - tau2[idx])
        conv[idx] = (step <= 1e-10 * np.maximum(new, 1e-300)) | ((new == 0) & (tau2[idx] == 0))
        tau2[idx] = new
    # polish: the root of the score next to the Fisher-scoring point
    sel = np.ones(n, dtype=bool)
    t = tau2
    s0 = score_info(t, sel)[0]
    scale = np.maximum(t, 1e-12 * v.sum(-1) / k)
    delta = 1e-6 * scale
    a = np.where(s0 > 0, t, np.maximum(t - delta, 0.0))
    b = np.where(s0 > 0, t + delta, t)
    for _ in range(200):
        fa = score_info(a, sel)[0]
        fb = score_info(b, sel)[0]
        need_a = (fa <= 0) & (a > 0)
        need_b = fb > 0
        if not (need_a | need_b).any():
            break
        delta = delta * 4.0
        a = np.where(need_a, np.maximum(a - delta, 0.0), a)
        b = np.where(need_b, b + delta, b)
    at_zero = (score_info(a, sel)[0] <= 0) & (a == 0)
    root, ok, it = _refine(score_info, a, b, sel, newton=False)
    tau2 = np.where(at_zero, 0.0, root)
    conv = ok | at_zero
    iters += it
    switched = (tau2 > 0) & (_loglik(method, y, v, X, np.zeros(n)) > _loglik(method, y, v, X, tau2))
    tau2 = np.where(switched, 0.0, tau2)
    _, info = score_info(tau2, sel)
    return tau2, np.sqrt(2.0 / info), conv, iters, switched


def _loglik(method, y, v, X, tau2):
    s = v + tau2[:, None]
    pr = _Proj(X, 1.0 / s)
    ll = -0.5 * np.log(s).sum(-1) - 0.5 * pr.quad(y)
    if method == "REML":
        # log det(X'WX) = 2 sum log |diag R|
        ll -= np.log(np.abs(np.diagonal(pr.R, axis1=-2, axis2=-1))).sum(-1)
    return ll


def fit_mods(y, v, X, *, method, test, level, btt, intercept, control=None):
    """Fit every row; ``y, v`` (n, k), ``X`` (n, k, p); returns a dict of arrays.

    ``control`` (a :class:`~metaparity.engine.control.MetaforControl`) runs metafor's own
    iteration for tau^2 (and for the intercept-only fit behind R^2) instead of the root.
    """
    given = method
    method, test = estimating_method(method), estimating_test(test)
    n, k_ = y.shape
    p = X.shape[-1]
    k = np.full(n, float(k_))
    df = k - p
    # metafor 3.8 estimates tau^2 and computes QE from the outcomes centred at their
    # unweighted mean (b itself from the raw outcomes).  With an intercept in the column
    # space this changes nothing; without one (``~ x - 1``) it changes tau^2 and QE --
    # measured (dat.bcg, mods = ablat, intercept = FALSE): QE 209.69, not sum w r^2 = 48.70.
    yc = y - y.mean(-1, keepdims=True)
    ctl = control if METHOD_ALIASES.get(given, given) in CONTROL_METHODS else None
    with np.errstate(divide="ignore", invalid="ignore"):
        if ctl is None:
            tau2, se_tau2, conv, iters, switched = _tau2(method, yc, v, X, df, k)
        else:
            tau2, se_tau2, conv, iters, switched = _controlled(given, y, v, X, ctl)
    pr = _Proj(X, 1.0 / (v + tau2[:, None]))
    b = pr.coef(y)
    vb = pr.vb()
    with np.errstate(divide="ignore", invalid="ignore"):
        if test in ("knha", "adhoc"):
            vb = vb * _knha_factor(pr, y, yc, df, test)[:, None, None]
        se = np.sqrt(np.diagonal(vb, axis1=-2, axis2=-1))
        zval = b / se
    pval, crit, dfs = _coef_tests(zval, df, test, level)
    qm, qmp = _omnibus(b, vb, btt, df, test)
    qe, qep, i2, h2 = _residual_heterogeneity(yc, v, X, df, tau2, method)
    r2 = np.full(n, np.nan)
    if p > 1 or not intercept:  # (an intercept-only model has none)
        has_r2 = _r2_defined(X, intercept)
        if has_r2.any():
            full = (
                _pseudo_r2(yc, v, k, df, tau2, qe, method)
                if ctl is None
                else _pseudo_r2_controlled(given, y, v, tau2, ctl)
            )
            r2 = np.where(has_r2, full, np.nan)
    return dict(
        b=b, se=se, zval=zval, pval=pval, ci_lb=b - crit[:, None] * se,
        ci_ub=b + crit[:, None] * se, vb=vb, tau2=tau2, se_tau2=se_tau2, I2=i2, H2=h2, R2=r2,
        QE=qe, QEp=qep, QM=qm, QMp=qmp, dfs=dfs, converged=conv, iterations=iters,
        set_to_zero=switched,
    )  # fmt: skip


def _controlled(method: str, y, v, X, ctl: MetaforControl):
    """tau^2 of every row by metafor's iteration (:func:`control_tau2`)."""
    n = y.shape[0]
    tau2, se = np.zeros(n), np.zeros(n)
    iters, zeroed = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    for i in range(n):
        fit = control_tau2(method, y[i], v[i], X[i], ctl)
        emit(fit, stacklevel=5)
        tau2[i], se[i], iters[i], zeroed[i] = fit.tau2, fit.se_tau2, fit.iterations, fit.set_to_zero
    return tau2, se, np.ones(n, dtype=bool), iters, zeroed


def _pseudo_r2_controlled(method: str, y, v, tau2, ctl: MetaforControl):
    """metafor's pseudo R^2 with the intercept-only model refitted under the same control.

    metafor refits quietly; when that fit fails R^2 is NA, when its tau^2 is exactly 0
    R^2 is 0, else ``max(0, 100 (tau2_RE - tau2) / tau2_RE)``.
    """
    n, k_ = y.shape
    out = np.full(n, np.nan)
    for i in range(n):
        try:
            t0 = control_tau2(method, y[i], v[i], np.ones((k_, 1)), ctl).tau2
        except ConvergenceError:
            continue
        out[i] = 0.0 if t0 == 0 else max(0.0, 100.0 * (t0 - tau2[i]) / t0)
    return out


def _knha_factor(pr, y, yc, df, test):
    """Knapp-Hartung ``s2`` (``max(1, s2)`` for the ad hoc test)."""
    rss = pr.quad(y if _KNHA_RAW else yc)
    # metafor 3.8: a weighted RSS below machine epsilon counts as 0
    rss = np.where(rss < _EPS, 0.0, rss)
    s2 = np.where(rss == 0, 0.0, rss / df)
    if test == "adhoc":
        s2 = np.maximum(s2, 1.0)
    return s2


def _coef_tests(zval, df, test, level):
    """p-values, critical values and df of the coefficient tests (z, or t with k - p df)."""
    n = zval.shape[0]
    alpha = 1.0 - level / 100.0
    use_z = test == "z"
    dfs = np.where(use_z, np.nan, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        if use_z:
            pval = 2.0 * stats.norm.sf(np.abs(zval))
            crit = np.full(n, stats.norm.isf(alpha / 2.0))
        else:
            dfc = np.where(df > 0, df, np.nan)
            pval = t_two_sided(zval, dfc[:, None])
            pval = np.where(df[:, None] > 0, pval, np.nan)
            crit = stats.t.isf(alpha / 2.0, dfc)
    return pval, crit, dfs


def _omnibus(b, vb, btt, df, test):
    """QM and its p-value for the coefficients ``btt`` (chi^2, or F(m, k - p) of QM / m)."""
    bt = b[:, btt]
    vt = vb[:, btt][:, :, btt]
    m = len(btt)
    with np.errstate(divide="ignore", invalid="ignore"):
        try:
            qm = np.einsum("np,np->n", bt, np.linalg.solve(vt, bt[..., None])[..., 0])
        except np.linalg.LinAlgError:  # vb scaled by s2 = 0 (knha, RSS 0)
            qm = np.full(b.shape[0], np.nan)
        if test == "z":
            qmp = stats.chi2.sf(qm, m)
        else:
            qm = qm / m
            # k == p: metafor reports QM / m but no p-value (F with 0 denominator df)
            qmp = np.where(df > 0, stats.f.sf(qm, m, np.where(df > 0, df, 1.0)), np.nan)
    return qm, qmp


def _residual_heterogeneity(yc, v, X, df, tau2, method):
    """QE (equal-effects weights), its p-value, I^2 and H^2 of the residual heterogeneity."""
    pfe = _Proj(X, 1.0 / v)
    qe = np.where(df > 0, pfe.quad(yc), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        qep = np.where(df > 0, stats.chi2.sf(qe, np.maximum(df, 1.0)), 1.0)
        if method in ("EE", "FE"):
            i2 = np.where(qe > 0, np.maximum(0.0, 100.0 * (qe - df) / qe), 0.0)
            h2 = np.where(df > 0, qe / df, 1.0)
        else:
            s2typ = df / pfe.trp()
            i2 = 100.0 * tau2 / (tau2 + s2typ)
            h2 = (tau2 + s2typ) / s2typ
    return qe, qep, i2, h2


def _r2_defined(X, intercept):
    """Rows whose model gets an R^2: with an intercept column (every metafor), or --
    metafor >= 5.0 (``r2_nested``) -- whenever the intercept-only model is nested in it,
    i.e. the column of ones lies in the column space of ``X`` (rank of ``[X, 1]`` equals
    rank of ``X``, as metafor's ``.is.nested`` asks; e.g. a full set of group dummies)."""
    n, _, p = X.shape
    if intercept:  # with p = 1 the model is the intercept-only one: no R^2
        return np.full(n, p > 1)
    if not since("r2_nested"):
        return np.zeros(n, dtype=bool)
    ones = np.ones(X.shape[:2] + (1,))
    r_x = np.linalg.matrix_rank(X)
    r_x1 = np.linalg.matrix_rank(np.concatenate([X, ones], axis=-1))
    return np.asarray(np.maximum(r_x, 1) == r_x1)


def _pseudo_r2(yc, v, k, df, tau2, qe, method):
    """Pseudo R^2 against the intercept-only model fitted with the same estimator."""
    n, k_ = yc.shape
    ones = np.ones((n, k_, 1))
    wfe = 1.0 / v
    with np.errstate(divide="ignore", invalid="ignore"):
        if method in ("EE", "FE"):
            q0 = _Proj(ones, wfe).quad(yc)
            h0 = q0 / (k - 1.0)
            r2 = np.where(h0 > 0, np.maximum(0.0, 100.0 * (h0 - qe / df) / h0), 0.0)
            return np.where(df > 0, r2, np.nan)  # metafor: 0 when Q0 = 0, NaN when k = p
        t0 = _tau2(method, yc, v, ones, k - 1.0, k)[0]
        return np.where(t0 > 0, np.maximum(0.0, 100.0 * (t0 - tau2) / t0), 0.0)
