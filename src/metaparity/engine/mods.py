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
from metaparity.engine.estimators import (
    POSITIVE_V_ONLY,
    _refine,
    _sel,
    boundary_tau2,
    positive_lower_bracket,
    solve_decreasing,
)
from metaparity.engine.projection import _Proj

__all__ = ["fit_mods", "MODS_METHODS", "MODS_WEIGHTED_METHODS"]

#: tau^2 estimators supported with moderators (metafor names).
MODS_METHODS: tuple[str, ...] = (
    "EE", "FE", "DL", "DLIT", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML", "EB", "PM", "PMM",
    "CE", "MP", "CO", "VC",
)  # fmt: skip
#: estimators with moderators and user weights: the above and GENQ (metafor's weights=)
MODS_WEIGHTED_METHODS: tuple[str, ...] = (*MODS_METHODS, "GENQ")

_EPS = float(np.finfo(float).eps)
_KNHA_RAW = True


def _tau2(method: str, y, v, X, df, k, weights=None, tau2_fix=None):
    """tau^2, se(tau^2), converged, iterations, set_to_zero, div0 -- arrays (n,).

    ``tau2_fix`` holds tau^2 at the given values (metafor's ``tau2=``); the SE is the
    estimator's formula there.  ``div0`` flags rows where the estimator would need
    ``1/(v + tau^2)`` with ``v = 0`` at ``tau^2 = 0`` (metafor: "Division by zero ...") or
    refuses a ``v = 0`` (:data:`POSITIVE_V_ONLY`); their tau^2 and SE are NaN.
    """
    n = y.shape[0]
    conv = np.ones(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    nan = np.full(n, np.nan)
    no = np.zeros(n, dtype=bool)
    if method in ("EE", "FE"):
        return np.zeros(n), nan, conv, iters, no, no
    if method not in _ESTIMATORS:
        raise ValueError(
            f"method={method!r} is not supported with moderators; supported: "
            f"{', '.join(MODS_METHODS)}"
        )
    if method == "GENQ" and weights is None:
        raise ValueError("method='GENQ' needs weights= (the weights of the generalised Q)")
    zv = (v == 0).any(-1)
    bad = zv if method in POSITIVE_V_ONLY else no
    vs = np.where(bad[:, None], 1.0, v)  # refused rows: finite arithmetic, masked below
    switched = no
    if tau2_fix is not None:
        tau2 = np.broadcast_to(np.asarray(tau2_fix, dtype=float), (n,)).copy()
        div0 = bad.copy()
        if method in ("ML", "REML", "EB"):  # their iteration evaluates 1/(v + tau^2) there
            div0 |= zv & (tau2 <= 0)
        if method == "SJ":
            div0 |= zv & ~(_sj_start(y, k) > 0)
    else:
        tau2, conv, iters, switched, div0 = _ESTIMATORS[method](
            method, y, vs, X, df, k, weights, zv & ~bad
        )
        div0 = div0 | bad
    if div0.any():
        vs = np.where(div0[:, None], 1.0, vs)
    se = _se_tau2(method, y, vs, X, df, k, weights, np.where(div0, 0.0, tau2))
    se = np.where(div0 | ~(df > 0), np.nan, se)  # k == p (tau^2 fixed): no residual df
    return np.where(div0, np.nan, tau2), se, conv, iters, switched, div0


def _sj_start(y, k):
    """SJ's start: the variance of y about its unweighted mean, divisor k (as metafor, even
    with moderators -- not the OLS residuals of the meta-regression; measured on dat.bcg,
    ~ ablat)."""
    r0 = y - y.mean(-1, keepdims=True)
    return (r0 * r0).sum(-1) / k


def _moments(method, y, v, X, df, k, weights, zv):
    """DL (a = 1/v), HE (a = 1), GENQ (the user's a): the generalised Q's moment root."""
    n = y.shape[0]
    a = {"DL": lambda: 1.0 / v, "HE": lambda: np.ones_like(v), "GENQ": lambda: weights}[method]()
    pr = _Proj(X, a)
    qa, trp = pr.quad(y), pr.trp()
    trpv = df if method == "DL" else (pr.B * pr.B * v[..., None]).sum((-1, -2))
    tau2 = np.maximum((qa - trpv) / trp, 0.0)
    no = np.zeros(n, dtype=bool)
    return tau2, np.ones(n, dtype=bool), np.zeros(n, dtype=np.int64), no, no


def _hunter_schmidt(method, y, v, X, df, k, weights, zv):
    n = y.shape[0]
    w = 1.0 / v
    pr = _Proj(X, w)
    scale = k / df if method == "HSk" else np.ones(n)
    tau2 = np.maximum((pr.quad(y) * scale - k) / w.sum(-1), 0.0)
    no = np.zeros(n, dtype=bool)
    return tau2, np.ones(n, dtype=bool), np.zeros(n, dtype=np.int64), no, no


def _sidik_jonkman(method, y, v, X, df, k, weights, zv):
    n = y.shape[0]
    tau0 = _sj_start(y, k)
    div0 = zv & ~(tau0 > 0)  # identical outcomes and a v = 0: 1/(0 + 0)
    a = 1.0 / (v + np.where(div0, 1.0, tau0)[:, None])
    tau2 = tau0 * _Proj(X, a).quad(y) / df
    no = np.zeros(n, dtype=bool)
    return tau2, np.ones(n, dtype=bool), np.zeros(n, dtype=np.int64), no, div0


def _paule_mandel(method, y, v, X, df, k, weights, zv):
    """PM, EB, SJIT (Q_w = k - p) and PMM (Q_w = median of chi^2(k - p))."""
    n = y.shape[0]
    target = df if method != "PMM" else stats.chi2.ppf(0.5, df)

    def f(t, sel):
        pr = _Proj(X[sel], 1.0 / (v[sel] + t[:, None]))
        return pr.quad(y[sel]) - target[sel], -pr.py2(y[sel])

    lo = np.zeros(n)
    div0 = np.zeros(n, dtype=bool)
    if zv.any():  # Q(0) is not defined with a v = 0: start the bracket above 0
        lo, div0 = positive_lower_bracket(f, y, np.ones_like(y), zv)
        if method == "EB":  # metafor's EB iteration starts at max(0, HE): 1/(0 + 0) there
            pr = _Proj(X, np.ones_like(v))
            he = (pr.quad(y) - (pr.B * pr.B * v[..., None]).sum((-1, -2))) / df
            div0 |= zv & ~(he > 0)
    tau2, conv, iters = solve_decreasing(f, lo, ~div0, newton=True)
    div0 |= zv & boundary_tau2(tau2, v, np.ones_like(v))
    return tau2, conv, iters, np.zeros(n, dtype=bool), div0


def _dl_iterated(method, y, v, X, df, k, weights, zv):
    n = y.shape[0]

    def g(t, sel):
        pr = _Proj(X[sel], 1.0 / (v[sel] + t[:, None]))
        return (pr.quad(y[sel]) - df[sel]) / pr.trp() - t, None

    tau2, conv, iters = solve_decreasing(g, np.zeros(n), np.ones(n, bool))
    return tau2, conv, iters, np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)


def _se_tau2(method, y, v, X, df, k, weights, tau2):
    """The SE metafor reports for ``method``'s tau^2, evaluated at ``tau2``."""
    if method in ("DL", "HS", "HSk"):
        w = 1.0 / v
        pr = _Proj(X, w)
        se = _se_dl_form(pr, df, tau2)
        if method == "DL":
            return se
        scale = k / df if method == "HSk" else np.ones_like(k)
        return se * pr.trp() * scale / w.sum(-1)
    if method in ("HE", "GENQ"):
        pr = _Proj(X, np.ones_like(v) if method == "HE" else weights)
        return np.sqrt(2.0 * pr.trpsps(v + tau2[:, None])) / pr.trp()
    if method == "SJ":
        tau0 = _sj_start(y, k)
        pr = _Proj(X, 1.0 / (v + tau0[:, None]))
        return tau0 * np.sqrt(2.0 * pr.trpsps(v + tau2[:, None])) / df
    w = 1.0 / (v + tau2[:, None])
    if method in ("PM", "EB", "SJIT", "PMM"):
        return k * np.sqrt(2.0 / df) / w.sum(-1)
    if method == "DLIT":
        return _se_dl_form(_Proj(X, w), df, tau2)
    if method == "ML":
        return np.sqrt(2.0 / (w * w).sum(-1))
    return np.sqrt(2.0 / _Proj(X, w).trpp())  # REML


def _se_dl_form(pr: _Proj, df, tau2):
    """``sqrt(2(k-p) + 4 tau2 tr(P) + 2 tau2^2 tr(PP)) / tr(P)`` (P from ``a``)."""
    trp, trpp = pr.trp(), pr.trpp()
    return np.sqrt(2.0 * df + 4.0 * tau2 * trp + 2.0 * tau2 * tau2 * trpp) / trp


def _likelihood(method, y, v, X, k, weights=None, zv=None):
    """ML / REML: Fisher scoring from the HE estimate (as metafor), then the root.

    Rows with a sampling variance of 0 (``zv``): a Fisher step below 0 is halved until it
    lands at or above 0 (metafor's step-halving), the root is bracketed above 0, and a
    row that reaches tau^2 = 0 (where 1/(0 + tau^2) is infinite) is returned in
    ``div0``, as is one whose HE start is 0 (metafor: "Division by zero ...").
    """
    n = y.shape[0]
    zv = np.zeros(n, dtype=bool) if zv is None else zv
    pr_he = _Proj(X, np.ones_like(v))
    df = k - X.shape[-1]
    trpv = (pr_he.B * pr_he.B * v[..., None]).sum((-1, -2))
    tau2 = np.maximum(np.nan_to_num((pr_he.quad(y) - trpv) / df, nan=0.0), 0.0)
    div0 = zv & (tau2 <= 0)
    vv = np.where(div0[:, None], 1.0, v)  # rows not iterated: finite arithmetic

    def score_info(t, sel):
        w = 1.0 / (vv[sel] + t[:, None])
        pr = _Proj(X[sel], w)
        if method == "ML":
            b = pr.coef(y[sel])
            r = y[sel] - np.einsum("nkp,np->nk", X[sel], b)
            return (w * w * r * r).sum(-1) - w.sum(-1), (w * w).sum(-1)
        return pr.py2(y[sel]) - pr.trp(), pr.trpp()

    conv = div0.copy()
    iters = np.zeros(n, dtype=np.int64)
    for _ in range(100):
        idx = np.flatnonzero(~conv)
        if idx.size == 0:
            break
        s_, info = score_info(tau2[idx], _sel(n, idx))
        adj = s_ / info
        new = np.maximum(tau2[idx] + adj, 0.0)
        h = zv[idx]
        if h.any():  # metafor's step-halving: the step is halved until tau^2 stays >= 0
            for _ in range(1100):
                neg = h & (tau2[idx] + adj < 0)
                if not neg.any():
                    break
                adj = np.where(neg, adj / 2.0, adj)
            new = np.where(h, tau2[idx] + adj, new)
        iters[idx] += 1
        step = np.abs(new - tau2[idx])
        conv[idx] = (step <= 1e-10 * np.maximum(new, 1e-300)) | ((new == 0) & (tau2[idx] == 0))
        tau2[idx] = new
        dead = h & (new <= 0)  # halved onto 0 exactly: the next step divides by 0
        if dead.any():
            div0[idx[dead]] = True
            conv[idx[dead]] = True
    if div0.any():
        vv = np.where(div0[:, None], 1.0, v)
        tau2 = np.where(div0, 1.0, tau2)
    # polish: the root of the score next to the Fisher-scoring point (above 0 with a v = 0)
    sel = np.ones(n, dtype=bool)
    floor = np.where(zv & ~div0, 0.5 * tau2, 0.0)
    t = tau2
    s0 = score_info(t, sel)[0]
    scale = np.maximum(t, 1e-12 * v.sum(-1) / k)
    delta = 1e-6 * scale
    a = np.where(s0 > 0, t, np.maximum(t - delta, floor))
    b = np.where(s0 > 0, t + delta, t)
    for _ in range(200):
        fa = score_info(a, sel)[0]
        fb = score_info(b, sel)[0]
        need_a = (fa <= 0) & (a > floor)
        need_b = fb > 0
        if not (need_a | need_b).any():
            break
        delta = delta * 4.0
        a = np.where(need_a, np.maximum(a - delta, floor), a)
        b = np.where(need_b, b + delta, b)
    at_zero = (score_info(a, sel)[0] <= 0) & (a == floor)
    root, ok, it = _refine(score_info, a, b, sel, newton=False)
    tau2 = np.where(at_zero, 0.0, root)
    conv = ok | at_zero
    iters += it
    div0 = div0 | (zv & at_zero)  # the maximum is at tau^2 -> 0: infinite weights
    div0 |= zv & boundary_tau2(tau2, v, np.ones_like(v))
    # the switch to 0 is checked only when every v is positive (metafor)
    ll0 = _loglik(method, y, np.where(zv[:, None], 1.0, v), X, np.zeros(n))
    switched = (tau2 > 0) & ~zv & (ll0 > _loglik(method, y, vv, X, tau2))
    tau2 = np.where(switched, 0.0, tau2)
    return tau2, conv, iters, switched, div0


#: the estimator of each method with moderators
_ESTIMATORS = {
    "DL": _moments, "HE": _moments, "GENQ": _moments, "HS": _hunter_schmidt,
    "HSk": _hunter_schmidt, "SJ": _sidik_jonkman, "PM": _paule_mandel, "EB": _paule_mandel,
    "SJIT": _paule_mandel, "PMM": _paule_mandel, "DLIT": _dl_iterated,
    "ML": lambda m, y, v, X, df, k, w, zv: _likelihood(m, y, v, X, k, w, zv),
    "REML": lambda m, y, v, X, df, k, w, zv: _likelihood(m, y, v, X, k, w, zv),
}  # fmt: skip


def _loglik(method, y, v, X, tau2):
    s = v + tau2[:, None]
    pr = _Proj(X, 1.0 / s)
    ll = -0.5 * np.log(s).sum(-1) - 0.5 * pr.quad(y)
    if method == "REML":
        # log det(X'WX) = 2 sum log |diag R|
        ll -= np.log(np.abs(np.diagonal(pr.R, axis1=-2, axis2=-1))).sum(-1)
    return ll


def fit_mods(
    y, v, X, *, method, test, level, btt, intercept, weights=None, weighted=True,
    tau2_fix=None, control=None,
):  # fmt: skip
    """Fit every row; ``y, v`` (n, k), ``X`` (n, k, p); returns a dict of arrays.

    ``weights`` (n, k): user weights -- ``b = (X'AX)^-1 X'A y`` with the sandwich
    ``vb = (X'AX)^-1 X'A M A X (X'AX)^-1``, ``M = diag(v + tau2)`` (and GENQ's tau^2);
    ``weighted=False``: ordinary least squares with the same sandwich (A = I), user
    weights entering only GENQ's tau^2, as metafor.  ``tau2_fix`` (n,) holds tau^2.
    Rows with a sampling variance of 0 get NaN QE, QEp, I2, H2; ``div0`` flags rows that
    would need an infinite inverse-variance weight (metafor stops there).
    ``control`` (a :class:`~metaparity.engine.control.MetaforControl`) runs metafor's own
    iteration for tau^2 (and for the intercept-only fit behind R^2) instead of the root;
    with ``tau2_fix`` there is no iteration and it is not used.
    """
    vmin = v.min(-1)
    tiny = (vmin > 0) & (vmin < 1e-50)
    if tiny.any():  # 1/v**2 would overflow: fit in the unit of the smallest variance
        return _fit_mods_rescaled(
            tiny, y, v, X, method=method, test=test, level=level, btt=btt,
            intercept=intercept, weights=weights, weighted=weighted, tau2_fix=tau2_fix,
            control=control,
        )  # fmt: skip
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
    zv = (v == 0).any(-1)
    ctl = control if METHOD_ALIASES.get(given, given) in CONTROL_METHODS else None
    if tau2_fix is not None:
        ctl = None
    with np.errstate(divide="ignore", invalid="ignore"):
        if ctl is None:
            tau2, se_tau2, conv, iters, switched, div0 = _tau2(
                method, yc, v, X, df, k, weights, tau2_fix
            )
        else:
            tau2, se_tau2, conv, iters, switched = _controlled(given, y, v, X, ctl)
            div0 = np.zeros(n, dtype=bool)
    pool_w = weights if weighted else np.ones_like(v)
    # inverse-variance weights at tau2: for the pooling without user weights and for the
    # Knapp-Hartung factor; infinite with v = 0 at tau2 = 0 (metafor stops: div0)
    iv_needed = pool_w is None or test in ("knha", "adhoc")
    if iv_needed:
        div0 = div0 | (zv & ~(tau2 > 0))
    t = np.where(div0, 1.0, tau2)
    vs = np.where(div0[:, None], 1.0, v)  # void rows: finite arithmetic
    pr = _Proj(X, 1.0 / (vs + t[:, None]))
    if pool_w is None:
        b = pr.coef(y)
        vb = pr.vb()
    else:
        pa = _Proj(X, pool_w)
        b = pa.coef(y)
        G = pa.hat()
        vb = np.einsum("npk,nk,nqk->npq", G, vs + t[:, None], G)
    with np.errstate(divide="ignore", invalid="ignore"):
        if test in ("knha", "adhoc"):
            vb = vb * _knha_factor(pr, y, yc, df, test)[:, None, None]
        se = np.sqrt(np.diagonal(vb, axis1=-2, axis2=-1))
        zval = b / se
    pval, crit, dfs = _coef_tests(zval, df, test, level)
    qm, qmp = _omnibus(b, vb, btt, df, test)
    qe, qep, i2, h2 = _residual_heterogeneity(yc, v, X, df, tau2, method, zv)
    r2 = np.full(n, np.nan)
    if p > 1 or not intercept:  # (an intercept-only model has none)
        has_r2 = _r2_defined(X, intercept)
        if has_r2.any():
            full = (
                _pseudo_r2(yc, v, X, k, df, tau2, qe, method, weights, weighted, test)
                if ctl is None
                else _pseudo_r2_controlled(given, y, v, tau2, ctl)
            )
            r2 = np.where(has_r2, full, np.nan)
    return dict(
        b=b, se=se, zval=zval, pval=pval, ci_lb=b - crit[:, None] * se,
        ci_ub=b + crit[:, None] * se, vb=vb, tau2=tau2, se_tau2=se_tau2, I2=i2, H2=h2, R2=r2,
        QE=qe, QEp=qep, QM=qm, QMp=qmp, dfs=dfs, converged=conv, iterations=iters,
        set_to_zero=switched, div0=div0,
    )  # fmt: skip


def _fit_mods_rescaled(tiny, y, v, X, *, tau2_fix, weights, **settings):
    """:func:`fit_mods` with the rows of ``tiny`` fitted on ``y / sqrt(c)``, ``v / c``
    (``c`` = their smallest variance) and scaled back: coefficients and their SEs by
    ``sqrt(c)``, ``vb``, tau^2 and its SE by ``c``; tests, QE, I^2, H^2, R^2 unchanged
    (the model is equivariant).  Other rows are fitted as they are."""
    c = np.where(tiny, v.min(-1), 1.0)
    sc = np.sqrt(c)
    ws = weights
    if weights is not None:
        wmax = weights.max(-1, keepdims=True)
        ws = np.where(tiny[:, None] & (wmax > 0), weights / np.where(wmax > 0, wmax, 1.0), weights)
    out = fit_mods(y / sc[:, None], v / c[:, None], X, weights=ws,
                   tau2_fix=None if tau2_fix is None else tau2_fix / c, **settings)  # fmt: skip
    for f in ("b", "se", "ci_lb", "ci_ub"):
        out[f] = out[f] * sc[:, None]
    out["vb"] = out["vb"] * c[:, None, None]
    for f in ("tau2", "se_tau2"):
        out[f] = out[f] * c
    rest = ~tiny
    if rest.any():
        plain = fit_mods(y[rest], v[rest], X[rest],
                         weights=None if weights is None else weights[rest],
                         tau2_fix=None if tau2_fix is None else tau2_fix[rest], **settings)  # fmt: skip
        for f, arr in out.items():
            arr[rest] = plain[f]
    return out


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


def _residual_heterogeneity(yc, v, X, df, tau2, method, zv=None):
    """QE (equal-effects weights), its p-value, I^2 and H^2 of the residual heterogeneity.

    With k = p (possible with tau^2 fixed) there is no residual: QE = 0, QEp = 1, I2 = 0,
    H2 = 1, as metafor.  Rows with a sampling variance of 0 (``zv``): NaN (metafor: NA,
    "Cannot compute QE-test, I^2, or H^2 when there are non-positive sampling variances").
    """
    zv = np.zeros(yc.shape[0], dtype=bool) if zv is None else zv
    pfe = _Proj(X, 1.0 / np.where(zv[:, None], 1.0, v))
    qe = np.where(df > 0, pfe.quad(yc), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        qep = np.where(df > 0, stats.chi2.sf(qe, np.maximum(df, 1.0)), 1.0)
        if method in ("EE", "FE"):
            i2 = np.where(qe > 0, np.maximum(0.0, 100.0 * (qe - df) / qe), 0.0)
            h2 = np.where(df > 0, qe / df, 1.0)
        else:
            s2typ = df / pfe.trp()
            i2 = np.where(df > 0, 100.0 * tau2 / (tau2 + s2typ), 0.0)
            h2 = np.where(df > 0, (tau2 + s2typ) / s2typ, 1.0)
    return tuple(np.where(zv, np.nan, a) for a in (qe, qep, i2, h2))


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


def _pseudo_r2(yc, v, X, k, df, tau2, qe, method, weights=None, weighted=True, test="z"):
    """Pseudo R^2 against the intercept-only model fitted with the same estimator.

    EE: the adjusted R^2 of the weighted least-squares fit (metafor: ``lm(yi ~ X,
    weights=)`` with weights 1/v, the user's, or none when ``weighted=False``).  Otherwise
    ``(tau2_RE - tau2) / tau2_RE`` with ``tau2_RE`` re-estimated without moderators
    (never fixed, as metafor refits it); NaN where that refit would stop (division by
    zero with a v = 0), 0 when ``tau2_RE = 0``.
    """
    n, k_ = yc.shape
    ones = np.ones((n, k_, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        if method in ("EE", "FE"):
            a = (1.0 / v) if weights is None and weighted else (
                weights if weighted else np.ones_like(v))  # fmt: skip
            rss = qe if weights is None and weighted else _Proj(X, a).quad(yc)
            q0 = _Proj(ones, a).quad(yc)
            h0 = q0 / (k - 1.0)
            r2 = np.where(h0 > 0, np.maximum(0.0, 100.0 * (h0 - rss / df) / h0), 0.0)
            return np.where(df > 0, r2, np.nan)  # metafor: 0 when Q0 = 0, NaN when k = p
        t0, _, _, _, _, void = _tau2(method, yc, v, ones, k - 1.0, k, weights)
        zv = (v == 0).any(-1)
        if (weights is None and weighted) or test in ("knha", "adhoc"):
            void = void | (zv & ~(t0 > 0))
        r2 = np.where(t0 > 0, np.maximum(0.0, 100.0 * (t0 - tau2) / t0), 0.0)
        return np.where(void, np.nan, r2)
