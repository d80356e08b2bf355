"""Conditional GLMMs for 2x2 tables (``metafor::rma.glmm(measure="OR", model="CM.EL")``).

The model (van Houwelingen, Zwinderman & Stijnen 1993; Stijnen, Hamza & Özdemir 2010):
conditional on its margins, study ``i``'s count ``a_i`` follows Fisher's noncentral
hypergeometric law with log odds ratio ``theta_i ~ N(x_i' beta, tau^2)``; fitted by
maximum likelihood, the integral over ``theta_i`` by adaptive Gauss-Hermite quadrature
(:mod:`metaparity.models.glmm_cm_lik`).  We maximise over ``(beta, tau)`` with ``tau``
free (the likelihood is even in ``tau``) by Newton's method on the analytic Hessian,
and check the boundary ``tau = 0`` explicitly.

What metafor reports, and how it is reproduced here:

* ``b``, ``tau2`` -- the ML estimates.
* ``se`` -- from the inverse of the observed information in *all* parameters
  (metafor: a ``numDeriv`` Hessian in ``(beta, log tau^2)``; the ``beta`` block of the
  inverse does not depend on how ``tau`` is parameterised).  ``se_tau2`` is the delta
  method on the same inverse.
* ``QE_LRT`` -- ``-2 (ll_EE - ll_sat)``: the equal-effects conditional likelihood
  against the saturated one (each study its own log odds ratio; a table with a zero
  cell has an infinite conditional MLE and contributes its supremum, 0).
* ``QE_Wld`` -- the Wald test of the saturated model's study effects, which (being the
  test of a linear hypothesis) is ``sum w_i (theta_i - x_i' b_w)^2`` with the
  conditional MLEs ``theta_i``, the conditional information ``w_i = Var(a_i | theta_i)``
  and ``b_w`` their weighted least-squares fit; a zero-cell table contributes its
  limit, 0.
* ``I2``, ``H2`` -- ``tau^2`` against the typical within-study variance of the
  ``escalc("OR")`` log odds ratios (1/2 added to zero cells, ``drop00``).
* ``logLik`` -- the maximised marginal log-likelihood; ``deviance`` is
  ``-2 (logLik - ll_sat)``; AIC/BIC/AICc with ``p + 1`` parameters.

Tables with no events or no non-events in both groups (double zeros) carry no
information and are dropped, as metafor's ``drop00=TRUE`` does.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from scipy import optimize, stats

from metaparity._core.mfversion import since
from metaparity._core.names import TestName
from metaparity._core.validation import as_float_array, check_level, column, study_label
from metaparity.effects.escalc import escalc
from metaparity.models.design import design_matrix
from metaparity.models.glmm_cm_al import BinomialNormal
from metaparity.models.glmm_cm_lik import Tables, cm_study_terms, conditional_mle, fe_terms
from metaparity.models.results import ModelResult

__all__ = ["rma_glmm_cm", "GlmmCmResult", "cm_loglik"]


# --------------------------------------------------------------------------- #
# the objective in (beta, tau)
# --------------------------------------------------------------------------- #
def _terms(tab: Tables, X: np.ndarray, th: np.ndarray, derivs: bool):
    beta, tau = th[:-1], float(th[-1])
    eta = X @ beta
    if tau == 0.0:
        lf, g, h, htt = fe_terms(tab, eta)
        if not derivs:
            return float(lf.sum())
        zero = np.zeros_like(g)
        return float(lf.sum()), (g, zero, h, zero, htt)
    res = cm_study_terms(tab, eta, abs(tau), derivs=derivs)
    if not derivs:
        return float(res.sum())
    ll, (ge, gt, hee, het, htt) = res
    sgn = math.copysign(1.0, tau)
    return float(ll.sum()), (ge, sgn * gt, hee, sgn * het, htt)


def _loglik(tab, X, th) -> float:
    return _terms(tab, X, th, False)


def _grad_hess(tab, X, th) -> tuple[float, np.ndarray, np.ndarray]:
    ll, (ge, gt, hee, het, htt) = _terms(tab, X, th, True)
    p = X.shape[1]
    g = np.concatenate([X.T @ ge, [gt.sum()]])
    H = np.empty((p + 1, p + 1))
    H[:p, :p] = X.T @ (hee[:, None] * X)
    H[:p, p] = H[p, :p] = X.T @ het
    H[p, p] = htt.sum()
    return ll, g, H


def cm_loglik(ai, bi, ci, di, beta, tau2: float, mods: Any = None) -> float:
    """The marginal log-likelihood of the conditional (CM.EL) model at ``(beta, tau2)``.

    As metafor's ``rma.glmm(model="CM.EL")`` reports it (``fit.stats["ll", "ML"]``):
    the log of the integrated noncentral hypergeometric probabilities, all constants
    included.  ``mods`` is the design matrix (default: an intercept).
    """
    tab = Tables(*(np.asarray(v, dtype=float).ravel() for v in (ai, bi, ci, di)))
    X = np.ones((tab.k, 1)) if mods is None else np.asarray(mods, dtype=float).reshape(tab.k, -1)
    th = np.concatenate([np.atleast_1d(np.asarray(beta, dtype=float)), [math.sqrt(tau2)]])
    return _loglik(tab, X, th)


def _fe_fit(tab: Tables, X: np.ndarray) -> np.ndarray:
    """Equal-effects conditional MLE of ``beta`` (concave: Newton with step halving)."""
    beta = np.zeros(X.shape[1])
    f = _loglik(tab, X, np.append(beta, 0.0))
    for _ in range(200):
        _, g, H = _grad_hess(tab, X, np.append(beta, 0.0))
        step = -np.linalg.solve(H[:-1, :-1], g[:-1])
        lam = 1.0
        while lam > 1e-10:
            fn = _loglik(tab, X, np.append(beta + lam * step, 0.0))
            if fn >= f - 1e-13 * abs(f):
                break
            lam *= 0.5
        beta, f = beta + lam * step, fn
        if np.all(np.abs(lam * step) <= 1e-13 * (1.0 + np.abs(beta))):
            break
    return beta


def _newton(tab, X, th, maxiter: int = 100) -> tuple[np.ndarray, bool]:
    f = _loglik(tab, X, th)
    for _ in range(maxiter):
        _, g, H = _grad_hess(tab, X, th)
        try:
            step = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            return th, False
        if not np.all(np.linalg.eigvalsh(H) < 0) or g @ step < 0:
            step = 0.1 * g / max(1.0, float(np.linalg.norm(g)))
        lam = 1.0
        while lam > 1e-10:
            new = th + lam * step
            fn = _loglik(tab, X, new)
            if fn >= f - 1e-13 * abs(f):
                break
            lam *= 0.5
        done = np.all(np.abs(lam * step) <= 1e-12 * (1.0 + np.abs(th)))
        th, f = new, fn
        if done:
            return th, True
    return th, False


def _fit(tab: Tables, X: np.ndarray) -> tuple[np.ndarray, bool, np.ndarray]:
    beta_fe = _fe_fit(tab, X)
    best = None
    for tau0 in (0.3, 1.0):
        r = optimize.minimize(
            lambda t: -_loglik(tab, X, t),
            np.append(beta_fe, tau0),
            jac=lambda t: -_grad_hess(tab, X, t)[1],
            hess=lambda t: -_grad_hess(tab, X, t)[2],
            method="trust-exact",
            options={"gtol": 1e-10, "maxiter": 500},
        )
        if best is None or -r.fun > _loglik(tab, X, best):
            best = r.x
    assert best is not None
    th, conv = _newton(tab, X, np.asarray(best, dtype=float))
    th[-1] = abs(th[-1])
    th0 = np.append(beta_fe, 0.0)
    _, _, H0 = _grad_hess(tab, X, th0)
    if _loglik(tab, X, th0) >= _loglik(tab, X, th) or (th[-1] < 1e-7 and H0[-1, -1] <= 0):
        th, conv = th0, True
    return th, conv, beta_fe


# --------------------------------------------------------------------------- #
# result
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class GlmmCmResult(ModelResult):
    """A fitted ``rma.glmm(measure="OR", model="CM.EL")``: metafor's names."""

    b: Any
    se: Any
    zval: Any
    pval: Any
    ci_lb: Any
    ci_ub: Any
    vb: np.ndarray
    tau2: float
    se_tau2: float
    I2: float
    H2: float
    vt: float
    QE_Wld: float
    QEp_Wld: float
    QE_LRT: float
    QEp_LRT: float
    QM: float
    QMp: float
    logLik: float
    deviance: float
    AIC: float
    BIC: float
    AICc: float
    k: int
    p: int
    test: TestName
    level: float
    converged: bool
    coef_names: tuple[str, ...] = ("intrcpt",)
    measure: str = "OR"
    model: str = "CM.EL"
    method: str = "ML"
    dropped: tuple = field(default=(), repr=False)
    #: condition of metafor's Wald solve for QE_Wld (glm-based models; see wald_condition)
    QE_Wld_cond: float = field(repr=False, default=1.0)

    @property
    def int_only(self) -> bool:
        return self.p == 1 and self.coef_names == ("intrcpt",)

    @property
    def dfs(self) -> float:
        return float("nan") if self.test == "z" else float(self.k - self.p)

    def fit_stats(self) -> dict[str, float]:
        """``metafor::fitstats``: logLik, deviance, AIC, BIC, AICc."""
        return dict(logLik=self.logLik, deviance=self.deviance, AIC=self.AIC, BIC=self.BIC,
                    AICc=self.AICc)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"tau": self.tau}


def _read_tables(ai, bi, ci, di, n1i, n2i, data, slab):
    vals = {nm: column(nm, v, data) for nm, v in
            dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i, slab=slab).items()}  # fmt: skip
    if vals["bi"] is None and vals["n1i"] is not None:
        vals["bi"] = as_float_array("n1i", vals["n1i"]) - as_float_array("ai", vals["ai"])
    if vals["di"] is None and vals["n2i"] is not None:
        vals["di"] = as_float_array("n2i", vals["n2i"]) - as_float_array("ci", vals["ci"])
    if any(vals[c] is None for c in ("ai", "bi", "ci", "di")):
        raise ValueError("give ai, bi, ci, di (or ai, n1i, ci, n2i) for measure='OR'")
    cells = [np.atleast_1d(as_float_array(c, vals[c])).ravel() for c in ("ai", "bi", "ci", "di")]
    labels = None if vals["slab"] is None else tuple(np.asarray(vals["slab"], object).ravel())
    for i in range(cells[0].size):
        row = [c[i] for c in cells]
        if any(np.isnan(v) for v in row):
            continue  # a missing cell: the study is omitted (metafor's na.omit)
        if any((not np.isfinite(v)) or v < 0 or v != round(v) for v in row):
            raise ValueError(
                f"{study_label(i, labels)} has cells {row}; the conditional model needs whole, "
                "non-negative counts"
            )
    return cells, labels


def rma_glmm_cm(
    ai: Any = None,
    bi: Any = None,
    ci: Any = None,
    di: Any = None,
    n1i: Any = None,
    n2i: Any = None,
    x1i: Any = None,
    t1i: Any = None,
    x2i: Any = None,
    t2i: Any = None,
    *,
    measure: str = "OR",
    model: str = "CM.EL",
    mods: Any = None,
    data: Any = None,
    slab: Any = None,
    level: float = 95,
    test: TestName = "z",
) -> GlmmCmResult:
    """Random-effects meta-analysis of 2x2 tables or rates with a conditional likelihood.

    Equivalent to ``metafor::rma.glmm(measure="OR", model="CM.EL", ai, bi, ci, di,
    mods=)`` (method "ML"): noncentral hypergeometric (Fisher) probabilities of each
    table given its margins, with a normal random effect on the log odds ratio.

    Parameters
    ----------
    ai, bi, ci, di : array_like or str
        The 2x2 cells (events / non-events in group 1, then group 2), or column names in
        ``data``; ``n1i``/``n2i`` may replace ``bi``/``di``.
    x1i, t1i, x2i, t2i : array_like or str
        Events and person-time per group, for ``measure="IRR"``.
    measure, model : {"OR", "IRR"}, {"CM.EL", "CM.AL"}
        OR with CM.EL (exact noncentral hypergeometric likelihood) or CM.AL (its binomial
        approximation, as ``glmer``); IRR with CM.EL (the exact conditional binomial with
        offset ``log(t1/t2)``; CM.AL means the same, as in metafor).
    mods : str or array_like, optional
        Moderators: a formula (``"~ ablat"``) on ``data`` or a matrix (an intercept is added).
    level : float
        Confidence level in percent.
    test : {"z", "t"}
        Normal (default) or t with k - p df.

    Returns
    -------
    GlmmCmResult

    Examples
    --------
    >>> res = rma_glmm_cm([4, 6, 3, 62, 33, 180], [119, 300, 228, 13536, 5036, 1361],
    ...                   [11, 29, 11, 248, 47, 372], [128, 274, 209, 12619, 5761, 1079])
    >>> round(res.b, 4), round(res.tau2, 4)
    (-1.0596, 0.1751)
    """
    model = _check_model(measure, model, test)
    lv = check_level(level)
    if measure == "IRR":
        x1, t1, x2, t2, labels = _read_rates(x1i, t1i, x2i, t2i, data, slab)
        keep = ~((x1 == 0) & (x2 == 0))
        cells = (x1, t1, x2, t2)
    else:
        (a, b, c, d), labels = _read_tables(ai, bi, ci, di, n1i, n2i, data, slab)
        keep = ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
        keep &= ~(np.isnan(a) | np.isnan(b) | np.isnan(c) | np.isnan(d))
        cells = (a, b, c, d)
    k_all = keep.size
    names: tuple[str, ...] = ("intrcpt",)
    if mods is None:
        X = np.ones((k_all, 1))
    else:
        X, names = design_matrix(mods, data=data, k=k_all)
    dropped = tuple(study_label(int(i), labels) for i in np.flatnonzero(~keep))
    if dropped:
        n = len(dropped)  # metafor >= 4.2 counts them (4.8.0: "1 study with NAs omitted ...")
        msg = (f"{n} {'studies' if n > 1 else 'study'} with NAs omitted from model fitting."
               if since("mh_na_count") else "Studies with NAs omitted from model fitting.")  # fmt: skip
        warnings.warn(msg, UserWarning, stacklevel=2)
    cells = tuple(v[keep] for v in cells)
    X = X[keep]
    k, p = X.shape
    if k <= p:
        raise ValueError(f"k = {k} informative studies for {p} coefficients: too few to fit")
    if measure == "OR" and model == "CM.EL":
        fit = _fit_el(Tables(*cells), X)
        vi = _vi_or(*cells)
    else:
        if measure == "IRR":
            x1, t1, x2, t2 = cells
            bn = BinomialNormal(x1, x1 + x2, np.log(t1 / t2), X)
            vi = _vi_irr(x1, x2)
        else:
            a, b, c, d = cells
            bn = BinomialNormal(a, a + c, np.log((a + b) / (c + d)), X)
            vi = _vi_or(*cells)
        fit = _fit_al(bn)
    return _assemble(fit, X, names, vi, lv, test, dropped, measure, model)


def _check_model(measure: str, model: str, test: str) -> str:
    if test not in ("z", "t"):
        raise ValueError(f"test={test!r} must be 'z' or 't'")
    if measure == "IRR" and model in ("CM.EL", "CM.AL"):
        return "CM.EL"  # metafor: for IRR the conditional binomial likelihood is exact
    if measure == "OR" and model in ("CM.EL", "CM.AL"):
        return model
    raise ValueError(
        f"measure={measure!r}, model={model!r}: rma_glmm_cm fits measure='OR' with "
        "model='CM.EL' or 'CM.AL', and measure='IRR' with model='CM.EL'"
    )


def _read_rates(x1i, t1i, x2i, t2i, data, slab):
    vals = {nm: column(nm, v, data) for nm, v in
            dict(x1i=x1i, t1i=t1i, x2i=x2i, t2i=t2i, slab=slab).items()}  # fmt: skip
    if any(vals[c] is None for c in ("x1i", "t1i", "x2i", "t2i")):
        raise ValueError("give x1i, t1i, x2i, t2i (events and person-time) for measure='IRR'")
    cols = [np.atleast_1d(as_float_array(c, vals[c])).ravel() for c in ("x1i", "t1i", "x2i", "t2i")]
    labels = None if vals["slab"] is None else tuple(np.asarray(vals["slab"], object).ravel())
    for i in range(cols[0].size):
        x1, t1, x2, t2 = (c[i] for c in cols)
        if not (x1 >= 0 and x2 >= 0 and x1 == round(x1) and x2 == round(x2) and t1 > 0 and t2 > 0):
            raise ValueError(
                f"{study_label(i, labels)} has x1i={x1:g}, t1i={t1:g}, x2i={x2:g}, t2i={t2:g}; "
                "events must be whole and >= 0, person-time > 0"
            )
    return (*cols, labels)


def _vi_or(a, b, c, d) -> np.ndarray:
    """``escalc("OR")`` sampling variances, 1/2 added to the cells of a table with a zero."""
    es = escalc("OR", ai=a, bi=b, ci=c, di=d, add=0.5, to="only0")
    return es["vi"].to_numpy()


def _vi_irr(x1, x2) -> np.ndarray:
    """``escalc("IRR")`` sampling variances ``1/x1 + 1/x2``, 1/2 added where a count is 0."""
    zero = (x1 == 0) | (x2 == 0)
    add = np.where(zero, 0.5, 0.0)
    return 1.0 / (x1 + add) + 1.0 / (x2 + add)


def _fit_el(tab: Tables, X: np.ndarray) -> dict[str, Any]:
    th, conv, beta_fe = _fit(tab, X)
    ll, _, H = _grad_hess(tab, X, th)
    qw, qlrt, ll_sat = _het_el(tab, X, beta_fe)
    return dict(th=th, conv=conv, H=H, ll=ll, ll_sat=ll_sat, QE_Wld=qw, QE_LRT=qlrt)


def _fit_al(bn: BinomialNormal) -> dict[str, Any]:
    th, conv, beta_fe = bn.fit()
    qw, qlrt, dev, kappa = bn.heterogeneity(beta_fe)
    # metafor: ll.QE (glm's saturated logLik) = exact - dev / 2; logLik = ll.QE - dev(glmer) / 2
    return dict(th=th, conv=conv, H=bn.hess(th), ll=bn.conditional_ll(th) - dev / 2,
                ll_sat=bn.ll_sat() - dev / 2, QE_Wld=qw, QE_LRT=qlrt,
                QE_Wld_cond=kappa)  # fmt: skip


def _assemble(fit, X, names, vi, level, test, dropped, measure, model) -> GlmmCmResult:
    th, H, ll, ll_sat = fit["th"], fit["H"], fit["ll"], fit["ll_sat"]
    k, p = X.shape
    tau = float(th[-1])
    if tau > 0:
        V = np.linalg.inv(-H)
        vb = V[:p, :p]
        se_tau2 = 2.0 * tau * math.sqrt(V[p, p])
    else:
        vb = np.linalg.inv(-H[:p, :p])
        se_tau2 = float("nan")
    beta = th[:p]
    se = np.sqrt(np.diag(vb))
    zval = beta / se
    if test == "z":
        pval = 2 * stats.norm.sf(np.abs(zval))
        crit = stats.norm.isf((1 - level / 100) / 2)
    else:
        pval = 2 * stats.t.sf(np.abs(zval), k - p)
        crit = stats.t.isf((1 - level / 100) / 2, k - p)
    btt = slice(1, p) if names[0] == "intrcpt" and p > 1 else slice(0, p)
    bt = beta[btt]
    QM = float(bt @ np.linalg.solve(vb[btt, btt], bt))
    m = bt.size
    QMp = float(stats.chi2.sf(QM, m) if test == "z" else stats.f.sf(QM / m, m, k - p))
    if test == "t":
        QM = QM / m
    het = _het_common(X, vi, tau * tau, fit["QE_Wld"], fit["QE_LRT"])
    npar = p + 1
    kk = max(k, npar + 2)

    def out(v):
        return float(v[0]) if p == 1 else v

    return GlmmCmResult(
        b=out(beta), se=out(se), zval=out(zval), pval=out(pval), ci_lb=out(beta - crit * se),
        ci_ub=out(beta + crit * se), vb=vb, tau2=tau * tau, se_tau2=se_tau2, **het, QM=QM,
        QMp=QMp, logLik=ll, deviance=-2.0 * (ll - ll_sat), AIC=-2 * ll + 2 * npar,
        BIC=-2 * ll + npar * math.log(k), AICc=-2 * ll + 2 * npar * kk / (kk - npar - 1),
        k=k, p=p, test=test, level=level, converged=bool(fit["conv"]), coef_names=tuple(names),
        measure=measure, model=model, dropped=dropped,
        QE_Wld_cond=float(fit.get("QE_Wld_cond", 1.0)),
    )  # fmt: skip


def _het_el(tab, X, beta_fe) -> tuple[float, float, float]:
    """Wald and LR tests of the saturated conditional model; its log-likelihood."""
    ll_fe = _loglik(tab, X, np.append(beta_fe, 0.0))
    th_i, w = conditional_mle(tab)
    inner = ~tab.edge
    lf = fe_terms(tab, np.where(inner, th_i, 0.0))[0]
    ll_sat = float(np.where(inner, lf, 0.0).sum())
    Xi, ti, wi = X[inner], th_i[inner], w[inner]
    qw = 0.0
    if inner.sum() > 0:
        bw = np.linalg.lstsq(Xi * np.sqrt(wi)[:, None], ti * np.sqrt(wi), rcond=None)[0]
        qw = float((wi * (ti - Xi @ bw) ** 2).sum())
    return qw, max(0.0, -2.0 * (ll_fe - ll_sat)), ll_sat


def _het_common(X, vi, tau2, qw, qlrt) -> dict[str, Any]:
    k, p = X.shape
    df = k - p
    # tr(P), P = W - W X (X'WX)^-1 X'W, as sum w_i (1 - h_i) with the leverages h_i of
    # sqrt(W) X from its QR decomposition (stable for a moderator such as a year)
    w = 1.0 / vi
    Q = np.linalg.qr(np.sqrt(w)[:, None] * X, mode="reduced")[0]
    vt = (k - p) / float((w * (1.0 - (Q * Q).sum(1))).sum())
    return dict(
        I2=float(100 * tau2 / (vt + tau2)), H2=float(tau2 / vt + 1), vt=float(vt),
        QE_Wld=qw, QEp_Wld=float(stats.chi2.sf(qw, df)) if df > 0 else 1.0,
        QE_LRT=qlrt, QEp_LRT=float(stats.chi2.sf(qlrt, df)) if df > 0 else 1.0,
    )  # fmt: skip
