"""Unconditional GLMMs for two-group data (``metafor::rma.glmm(model="UM.FS"/"UM.RS")``).

Each study contributes its two groups (treatment ``j = 1``, control ``j = 2``) as two
observations: events ``ai`` of ``n1i`` and ``ci`` of ``n2i`` (``measure="OR"``, binomial,
logit link), or events ``x1i``/``x2i`` over person-time ``t1i``/``t2i`` (``measure="IRR"``,
Poisson, log link, offset ``log t``).  With ``g_1 = 1/2, g_2 = -1/2`` (metafor's default
``coding = 1/2``) and ``X_i`` the study's row of the moderator matrix (intercept first):

* **UM.FS** (fixed study effects; Stijnen, Hamza & Özdemir 2010, Turner et al. 2000):
  ``eta_ij = alpha_i + [j = 1] X_i beta + g_j u_i``, ``u_i ~ N(0, tau^2)``, one intercept
  ``alpha_i`` per study.  One random effect per study: adaptive Gauss-Hermite quadrature
  with ``nAGQ`` points (metafor's default 7).
* **UM.RS** (random study effects): ``eta_ij = gamma + [j = 1] X_i beta + v_i + g_j u_i``,
  ``v_i ~ N(0, sigma^2)`` independent of ``u_i`` (metafor's ``cor = FALSE``).  Two random
  effects per study, so lme4 (and metafor, which warns and sets ``nAGQ = 1``) use the
  Laplace approximation; so does this module.

Both are fitted by maximum likelihood with our own Newton optimiser (module
``_glmm_engine``) to the optimum; ``lme4::glmer`` (used by metafor) stops its
derivative-free search earlier, see ``docs/glmm.md``.

What metafor reports, reproduced here:

* ``b``, ``se``: the ML estimates and ``sqrt`` of the diagonal of the inverse of minus the
  Hessian of the log-likelihood in *all* parameters (variance components, fixed effects and,
  for UM.FS, the study intercepts), as lme4's ``vcov``.
* ``QE_LRT``: ``-2 (ll_FE - ll_sat)`` with ``ll_FE`` the model without the random
  treatment effect and ``ll_sat`` the model with a treatment effect per study (UM.FS: both
  are glm fits, ``ll_sat`` the saturated binomial/Poisson likelihood; UM.RS: both keep the
  random study effect and are Laplace fits).
* ``QE_Wld``: the Wald test, in the model with a treatment effect per study, that those
  effects follow ``X beta``.  UM.FS: ``theta_hat' (W - W X (X'WX)^-1 X'W) theta_hat`` with the
  study log ORs / log IRRs and ``W`` their inverse variances ``(1/a + 1/b + 1/c + 1/d)^-1``
  (``(1/x1 + 1/x2)^-1``), both at the stopping point of metafor's saturated glm, iterated
  as glm.fit does (:mod:`metaparity.models._glm_saturated`): a study with a zero cell has
  no finite effect and contributes what glm's last iterate gives (~1e-7, 0 in the limit).
* ``I2``/``H2``/``vt``: from ``vt = (k - p) / tr(P)`` of the ``escalc`` sampling variances
  with 1/2 added to zero cells (``add = 1/2, to = "only0"``).
* ``fit_stats``: UM.FS ``ll = ll_sat - deviance(glmer) / 2``, the log-likelihood at the
  conditional modes (as for ``measure="PLO"``), parameters ``p + k + 1``; UM.RS the
  Laplace log-likelihood, parameters ``p + 3``; both with ``2k`` observations for BIC/AICc.
* Studies with zero events in both groups, or only events in both groups (``drop00``),
  are dropped with metafor's warning; the likelihood of the others uses the raw counts.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from scipy import stats

from metaparity._core.io import InputError
from metaparity._core.mfversion import since
from metaparity._core.names import TestName
from metaparity._core.validation import check_level, column, study_label
from metaparity.effects.escalc import escalc
from metaparity.models import _glmm_engine as eng
from metaparity.models._glm_saturated import saturated_glm, wald_condition, wald_residual
from metaparity.models.results import ModelResult

__all__ = ["rma_glmm_um", "GlmmUMResult", "glmm_um_loglik", "glmm_um_rs_wald_rx"]

_G = np.array([0.5, -0.5])
_COUNTS = ("ai", "bi", "ci", "di", "n1i", "n2i", "x1i", "t1i", "x2i", "t2i", "xi", "ti")
_RS_WARNING = (
    "Not possible to fit RE/ME model='UM.RS' with nAGQ > 1 with glmer(). "
    "nAGQ automatically set to 1."
)


@dataclass(frozen=True)
class GlmmUMResult(ModelResult):
    """A fitted ``rma.glmm(measure="OR"/"IRR", model="UM.FS"/"UM.RS")`` (metafor's names)."""

    b: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    vb: np.ndarray
    tau2: float
    sigma2: float
    I2: float
    H2: float
    vt: float
    QE_Wld: float
    QEp_Wld: float
    QE_LRT: float
    QEp_LRT: float
    QE_df: int
    QM: float
    QMp: float
    logLik: float
    logLik_marginal: float
    deviance: float
    AIC: float
    BIC: float
    AICc: float
    k: int
    k_all: int
    p: int
    nAGQ: int
    measure: str
    model: str
    test: TestName
    level: float
    converged: bool
    coef_names: tuple[str, ...] = ()
    se_rx: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    QE_Wld_rx: float = float("nan")
    #: condition of metafor's Wald solve for QE_Wld (its rounding; see wald_condition)
    QE_Wld_cond: float = field(repr=False, default=1.0)
    theta: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    fixef: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    dropped: tuple = field(repr=False, default=())
    method: str = "ML"

    def fit_stats(self) -> dict[str, float]:
        """``metafor::fitstats``: logLik, deviance, AIC, BIC, AICc."""
        return dict(logLik=self.logLik, deviance=self.deviance, AIC=self.AIC, BIC=self.BIC,
                    AICc=self.AICc)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"tau": self.tau}


# --------------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------------- #
def _vec(name: str, v: Any, data: Any) -> np.ndarray | None:
    v = column(name, v, data)
    return None if v is None else np.atleast_1d(np.asarray(v, dtype=float)).ravel()


def _read(measure: str, cols: dict[str, Any], data: Any, slab: Any):
    """Cells, sizes/offsets, the escalc inputs and a validity check, per study."""
    c = {k: _vec(k, v, data) for k, v in cols.items()}
    if measure == "OR":
        ai, ci = c["ai"], c["ci"]
        bi = c["bi"] if c["bi"] is not None else _diff(c["n1i"], ai, "n1i", "ai")
        di = c["di"] if c["di"] is not None else _diff(c["n2i"], ci, "n2i", "ci")
        if ai is None or ci is None or bi is None or di is None:
            raise InputError("measure='OR' needs ai, ci and bi, di (or n1i, n2i)")
        tab = np.stack([ai, bi, ci, di], 1)
        names: tuple[str, ...] = ("ai", "bi", "ci", "di")
    else:
        need: tuple[str, ...] = ("x1i", "t1i", "x2i", "t2i") if measure == "IRR" else ("xi", "ti")
        if any(c.get(n) is None for n in need):
            raise InputError(f"measure={measure!r} needs {', '.join(need)}")
        tab = np.stack([np.asarray(c[n]) for n in need], 1)
        names = need
    labels = None if slab is None else tuple(np.asarray(column("slab", slab, data), dtype=object))
    for i in range(tab.shape[0]):
        bad = [f"{n}={v:g}" for n, v in zip(names, tab[i], strict=True) if v < 0]
        if bad:
            raise InputError(f"{study_label(i, labels)} has {', '.join(bad)}; counts must be >= 0")
    return tab, labels


def _diff(n: np.ndarray | None, x: np.ndarray | None, nn: str, xn: str) -> np.ndarray | None:
    if n is None or x is None:
        return None
    return n - x


def _design(mods: Any, data: Any, k: int) -> tuple[np.ndarray, tuple[str, ...]]:
    if mods is None:
        return np.ones((k, 1)), ("intrcpt",)
    if isinstance(mods, str):
        mods = [mods]
    if isinstance(mods, (list, tuple)) and mods and all(isinstance(m, str) for m in mods):
        cols = [np.asarray(column("mods", m, data), dtype=float) for m in mods]
        names = tuple(mods)
    else:
        arr = np.asarray(mods, dtype=float)
        arr = arr.reshape(k, -1) if arr.ndim == 1 else arr
        cols = [arr[:, j] for j in range(arr.shape[1])]
        names = tuple(f"mods{j + 1}" if arr.shape[1] > 1 else "mods" for j in range(arr.shape[1]))
    return np.column_stack([np.ones(k)] + cols), ("intrcpt",) + names


# --------------------------------------------------------------------------- #
# the fits
# --------------------------------------------------------------------------- #
def _um_fs(cells: eng.Cells, X: np.ndarray, q: int, off: np.ndarray):
    """UM.FS: globals (beta, tau), locals alpha_i.  Returns the fit and the FE fit."""
    k, p = X.shape

    def f_tau(tau):
        def f(g, loc):
            eta0 = loc[:, :1] + off + np.column_stack([X @ g[:p], np.zeros(k)])
            a = np.broadcast_to(g[p] * _G if tau is None else tau * _G, (k, 2))
            return eng.agq_1d(cells, eta0, a, q)

        return f

    f_fe, f_ml = f_tau(0.0), f_tau(None)
    rate = (cells.x[:, 1] + 0.5) / (cells.n[:, 1] + 1.0) if cells.n is not None else None
    a0 = np.log(rate / (1 - rate)) if rate is not None else np.log(cells.x[:, 1] + 0.5)
    a0 = a0 - (off[:, 1] if rate is None else 0.0)
    g, loc, _ = eng.newton(f_fe, np.zeros(p), a0[:, None].copy())
    fe = (g.copy(), loc.copy(), float(f_fe(g, loc).sum()))
    best = None
    for tau0 in (0.3, 1.0):
        gm, lm, conv = eng.newton(f_ml, np.append(fe[0], tau0), fe[1].copy())
        val = float(f_ml(gm, lm).sum())
        if best is None or val > best[3]:
            best = (gm, lm, conv, val)
    assert best is not None
    gm, lm, conv, val = best
    gm[p] = abs(gm[p])
    # the boundary tau = 0 (the FE fit): taken when it is as good up to rounding
    if fe[2] >= val - (1e-12 * abs(val) if gm[p] < 1e-6 else 0.0):
        gm, lm, conv, val = np.append(fe[0], 0.0), fe[1], True, fe[2]
    return f_ml, gm, lm, conv, val, fe


def _fs_results(cells, X, q, off):
    f, g, loc, conv, llm, fe = _um_fs(cells, X, q, off)
    k, p = X.shape
    tau = float(g[p])
    V = eng.vcov(f, g, loc, [p] if tau == 0.0 else [])
    eta0 = loc[:, :1] + off + np.column_stack([X @ g[:p], np.zeros(k)])
    ll_cond = eng.conditional_1d(cells, eta0, np.broadcast_to(tau * _G, (k, 2)))
    ll_sat = cells.saturated()
    return dict(
        b=g[:p], vb=V[:p, :p], tau2=tau * tau, sigma2=float("nan"), conv=conv, llm=llm,
        ll=ll_cond, ll_fe=fe[2], ll_sat=ll_sat, parms=p + k + 1,
        theta=np.array([tau]), fixef=np.concatenate([g[:p], loc[:, 0]]),
    )  # fmt: skip


def _rs_results(cells, X, off, tab, measure):
    k, p = X.shape
    ones = np.ones((k, 2))

    def model(g, tau):
        eta0 = g[p] + off + np.column_stack([X @ g[:p], np.zeros(k)])
        return eng.laplace_2d(cells, eta0, g[p + 1] * ones, tau * np.broadcast_to(_G, (k, 2)))

    def f_fe(g, loc):
        return model(g, 0.0)

    def f_ml(g, loc):
        return model(g[:-1], g[-1])

    none = np.zeros((k, 0))
    g0 = np.zeros(p + 2)
    g0[p] = float(np.log((cells.x.sum() + 0.5) / max(_scale(cells).sum() - cells.x.sum(), 0.5)))
    g0[p + 1] = 0.5
    gf, _, _ = eng.newton(f_fe, g0, none)
    gf[p + 1] = abs(gf[p + 1])
    ll_fe = float(f_fe(gf, none).sum())
    best = None
    for tau0 in (0.3, 1.0):
        gm, _, conv = eng.newton(f_ml, np.append(gf, tau0), none)
        val = float(f_ml(gm, none).sum())
        if best is None or val > best[2]:
            best = (gm, conv, val)
    assert best is not None
    g, conv, llm = best
    g[p + 1 :] = np.abs(g[p + 1 :])
    if ll_fe >= llm - (1e-12 * abs(llm) if g[p + 2] < 1e-6 else 0.0):
        g, conv, llm = np.append(gf, 0.0), True, ll_fe
    drop = [i for i in (p + 1, p + 2) if g[i] == 0.0]
    V = eng.vcov(f_ml, g, none, drop)
    eta0 = g[p] + off + np.column_stack([X @ g[:p], np.zeros(k)])
    a1, a2 = g[p + 1] * ones, g[p + 2] * np.broadcast_to(_G, (k, 2))
    _, z = eng.laplace_2d(cells, eta0, a1, a2, modes=True)
    D = np.zeros((k, 2, p + 1))
    D[:, 0, :p], D[:, :, p] = X, 1.0
    Vrx = eng.rx_vcov(cells, eta0 + a1 * z[:, :1] + a2 * z[:, 1:], np.stack([a1, a2], -1), D)
    ll_sat, qe_wld, qe_wld_rx = _rs_saturated(cells, X, off, gf)
    return dict(
        b=g[:p], vb=V[:p, :p], tau2=float(g[p + 2]) ** 2, sigma2=float(g[p + 1]) ** 2,
        conv=conv, llm=llm, ll=llm, ll_fe=ll_fe, ll_sat=ll_sat, parms=p + 3, qe_wld=qe_wld,
        qe_wld_rx=qe_wld_rx, vb_rx=Vrx[:p, :p],
        theta=np.array([g[p + 1], g[p + 2]]), fixef=g[: p + 1].copy(),
    )  # fmt: skip


def _irln_results(cells, X, q):
    """IRLN: ``log rate_i = X_i beta + u_i``, globals (beta, tau), no locals (like PLO)."""
    k, p = X.shape
    none = np.zeros((k, 0))

    def f_tau(tau):
        def f(g, loc):
            a = np.full((k, 1), g[p] if tau is None else tau)
            return eng.agq_1d(cells, cells.off + (X @ g[:p])[:, None], a, q)

        return f

    f_fe, f_ml = f_tau(0.0), f_tau(None)
    g0 = np.zeros(p)
    g0[0] = math.log(cells.x.sum() / np.exp(cells.off).sum())
    gf, _, _ = eng.newton(f_fe, g0, none)
    ll_fe = float(f_fe(gf, none).sum())
    best = None
    for tau0 in (0.3, 1.0):
        gm, _, conv = eng.newton(f_ml, np.append(gf, tau0), none)
        val = float(f_ml(gm, none).sum())
        if best is None or val > best[2]:
            best = (gm, conv, val)
    assert best is not None
    g, conv, llm = best
    g[p] = abs(g[p])
    if ll_fe >= llm - (1e-12 * abs(llm) if g[p] < 1e-6 else 0.0):
        g, conv, llm = np.append(gf, 0.0), True, ll_fe
    tau = float(g[p])
    V = eng.vcov(f_ml, g, none, [p] if tau == 0.0 else [])
    a = np.full((k, 1), tau)
    ll_cond = eng.conditional_1d(cells, cells.off + (X @ g[:p])[:, None], a)
    th_sat, v_sat, dev_glm = saturated_glm(cells.x[:, 0], offset=cells.off[:, 0])  # metafor's
    qe = wald_residual(th_sat, v_sat, X)
    kappa = wald_condition(v_sat)
    return dict(
        b=g[:p], vb=V[:p, :p], tau2=tau * tau, sigma2=float("nan"), conv=conv, llm=llm,
        ll=ll_cond - dev_glm / 2, ll_fe=ll_fe, ll_sat=cells.saturated() - dev_glm / 2,
        parms=p + 1, qe_wld=qe, qe_wld_cond=kappa,
        theta=np.array([tau]), fixef=g[:p].copy(),
    )  # fmt: skip


def _scale(cells):
    return cells.n if cells.n is not None else np.exp(cells.off)


def _rs_saturated(cells, X, off, gf):
    """UM.RS's model with a treatment effect per study (and the random study effect).

    Returns its log-likelihood and the Wald statistic from the full-Hessian ``vcov`` (from
    RX where that Hessian is not positive definite, as lme4 falls back) and from lme4's
    fallback ``vcov`` estimated from RX (see :func:`_glmm_engine.rx_vcov`).
    """
    k, p = X.shape

    def f(g, loc):
        eta0 = g[0] + off + np.column_stack([loc[:, 0], np.zeros(k)])
        return eng.laplace_2d(cells, eta0, g[1] * np.ones((k, 2)), np.zeros((k, 2)))

    d0 = np.full((k, 1), float(gf[0]))
    g, loc, _ = eng.newton(f, np.array([gf[p], gf[p + 1]]), d0)
    ll = float(f(g, loc).sum())
    th = loc[:, 0]
    qe_rx = _rs_wald_rx(cells, X, off, float(g[0]), float(g[1]), th)
    # lme4's rule: a Hessian that is not positive definite (a study with no events in one
    # group: its effect runs to -inf) gives way to the vcov estimated from RX
    try:
        V = eng.vcov(f, g, loc, [])[2:, 2:]
        np.linalg.cholesky(V)
    except np.linalg.LinAlgError:
        return ll, qe_rx, qe_rx
    return ll, _wald_residual(th, np.linalg.inv(V), X), qe_rx


def _rs_wald_rx(cells, X, off, const: float, sigma: float, loc: np.ndarray) -> float:
    """The Wald statistic of UM.RS's saturated model with lme4's fallback vcov "estimated
    from RX" (given sigma), at the point (const, sigma, per-study effects ``loc``)."""
    k = X.shape[0]
    eta0 = const + off + np.column_stack([loc, np.zeros(k)])
    _, z = eng.laplace_2d(cells, eta0, sigma * np.ones((k, 2)), np.zeros((k, 2)), modes=True)
    D = np.zeros((k, 2, k + 1))
    D[:, :, 0] = 1.0
    D[np.arange(k), 0, 1 + np.arange(k)] = 1.0
    A = np.full((k, 2, 1), sigma)
    # the inverse of vcov's block of the study effects is the Schur complement of the
    # intercept in the information: no inverse of the information itself, which is
    # singular to rounding when a study's effect runs to -inf (weight 0)
    info = eng.rx_info(cells, eta0 + sigma * z[:, :1], A, D)
    P = info[1:, 1:] - np.outer(info[1:, 0], info[0, 1:]) / info[0, 0]
    return _wald_residual(loc, P, X)


def glmm_um_rs_wald_rx(sigma: float, const: float, loc: Any, *, measure: str = "OR",
                       mods: Any = None, data: Any = None, **counts: Any) -> float:  # fmt: skip
    """UM.RS's saturated-model Wald statistic with lme4's RX vcov at lme4's own saturated
    optimum (``sigma``, ``const``, the treatment effect per study ``loc``): where lme4
    falls back to RX, metafor's ``QE.Wld`` is this function at that point."""
    cols = {n: counts.get(n) for n in _COUNTS}
    pre = _prepare(measure, "UM.RS", cols, mods, data, None, None, 95, "z", warn=False)
    _, _, cells, _, X, _, _, _, _, _ = pre
    loc = np.asarray(loc, float).ravel()
    return _rs_wald_rx(cells, X, cells.off, float(const), float(sigma), loc)


def _wald_residual(theta: np.ndarray, W: np.ndarray, X: np.ndarray) -> float:
    """``theta' (W - W X (X'WX)^-1 X'W) theta``: do the effects follow ``X beta``?"""
    WX = W @ X
    r = theta @ W @ theta - theta @ WX @ np.linalg.solve(X.T @ WX, WX.T @ theta)
    return float(max(r, 0.0))


def _glm_saturated_ll(r: dict, dev_glm: float) -> dict:
    """metafor's ``ll.QE`` is ``logLik()`` of its saturated glm, at glm's stopping point:
    the exact saturated log-likelihood minus half of glm's residual deviance (~1e-9 with a
    zero cell, 0 otherwise), and ``logLik = ll.QE - deviance(glmer) / 2``."""
    return r | {"ll_sat": r["ll_sat"] - dev_glm / 2, "ll": r["ll"] - dev_glm / 2}


def _fs_wald(tab: np.ndarray, X: np.ndarray, measure: str) -> tuple[float, float, float]:
    """UM.FS's Wald statistic from metafor's saturated glm (two cells per study), iterated as
    glm.fit does (:mod:`metaparity.models._glm_saturated`: a zero-cell study contributes
    what glm's stopping point gives, ~0), that glm's residual deviance and the condition of
    metafor's Wald solve (:func:`~metaparity.models._glm_saturated.wald_condition`)."""
    k = tab.shape[0]
    if measure == "OR":
        a, b, c, d = (tab[:, j] for j in range(4))
        th, v, dev = saturated_glm(np.r_[a, c], np.r_[a + b, c + d])
    else:
        x1, t1, x2, t2 = (tab[:, j] for j in range(4))
        th, v, dev = saturated_glm(np.r_[x1, x2], offset=np.log(np.r_[t1, t2]))
    return wald_residual(th[:k] - th[k:], v[:k] + v[k:], X), dev, wald_condition(v[:k] + v[k:])


def _vt(tab: np.ndarray, X: np.ndarray, measure: str) -> float:
    if measure == "OR":
        dat = escalc("OR", ai=tab[:, 0], bi=tab[:, 1], ci=tab[:, 2], di=tab[:, 3])
        vi = dat["vi"].to_numpy(dtype=float)
    elif measure == "IRLN":
        vi = 1 / np.where(tab[:, 0] == 0, 0.5, tab[:, 0])
    else:
        x = tab[:, [0, 2]]
        x = np.where((x == 0).any(1, keepdims=True), x + 0.5, x)
        vi = 1 / x[:, 0] + 1 / x[:, 1]
    W = np.diag(1 / vi)
    P = W - W @ X @ np.linalg.solve(X.T @ W @ X, X.T @ W)
    return float((X.shape[0] - X.shape[1]) / np.trace(P))


# --------------------------------------------------------------------------- #
# the public function
# --------------------------------------------------------------------------- #
def rma_glmm_um(
    ai: Any = None, bi: Any = None, ci: Any = None, di: Any = None, n1i: Any = None,
    n2i: Any = None, x1i: Any = None, t1i: Any = None, x2i: Any = None, t2i: Any = None,
    xi: Any = None, ti: Any = None, *,
    measure: str = "OR", model: str = "UM.FS", mods: Any = None, data: Any = None,
    slab: Any = None, nAGQ: int | None = None, level: float = 95, test: TestName = "z",
) -> GlmmUMResult:  # fmt: skip
    """Unconditional binomial-normal (OR) or Poisson-normal (IRR) model for two groups.

    Equivalent to ``metafor::rma.glmm(measure=, model="UM.FS"/"UM.RS", mods=)`` (method
    "ML", ``coding = 1/2``, ``cor = FALSE``, ``drop00 = TRUE``).  Usually called through
    :func:`metaparity.models.glmm.rma_glmm`.

    Parameters
    ----------
    ai, bi, ci, di, n1i, n2i : array_like or str
        ``measure="OR"``: events/non-events in the treatment and control groups (``bi``,
        ``di`` may be given as group sizes ``n1i``, ``n2i``).
    x1i, t1i, x2i, t2i : array_like or str
        ``measure="IRR"``: events and person-time per group.
    measure : {"OR", "IRR"}
    model : {"UM.FS", "UM.RS"}
        Fixed study effects (adaptive quadrature, ``nAGQ`` points, default 7) or random
        study effects (Laplace; ``nAGQ > 1`` warns and is set to 1, as metafor does).
    mods : array_like, str or list of str, optional
        Moderators of the treatment effect (an intercept is added).
    level, test : confidence level (percent) and ``"z"`` or ``"t"`` (k - p df).

    Returns
    -------
    GlmmUMResult

    Examples
    --------
    >>> r = rma_glmm_um(ai=[4, 6, 3, 62], bi=[119, 300, 228, 13536],
    ...                 ci=[11, 29, 11, 248], di=[128, 274, 209, 12619])
    >>> round(float(r.b[0]), 3)  # metafor: rma.glmm(measure="OR", model="UM.FS") gives -1.450215
    -1.45
    """
    cols = dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i, x1i=x1i, t1i=t1i, x2i=x2i,
                t2i=t2i, xi=xi, ti=ti)  # fmt: skip
    pre = _prepare(measure, model, cols, mods, data, slab, nAGQ, level, test, warn=True)
    measure, model, cells, tab, X, names, q, lv, k_all, dropped = pre
    off = cells.off
    T, Xs = _standardised(X)  # fitted on centred, scaled moderators (a raw year is cond ~1e13)
    if model == "IRLN":
        r = _irln_results(cells, Xs, q)
        qe_wld = r["qe_wld"]
    elif model == "UM.FS":
        r = _fs_results(cells, Xs, q, off)
        qe_wld, dev_glm, kappa = _fs_wald(tab, X, measure)
        r = _glm_saturated_ll(r, dev_glm) | {"qe_wld_cond": kappa}
    else:
        r = _rs_results(cells, Xs, off, tab, measure)
        qe_wld = r["qe_wld"]
    r = _unstandardised(r, T)
    return _assemble(r, qe_wld, tab, X, names, measure, model, q, lv, test, k_all, dropped)


def _standardised(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(T, Xs)`` with ``X b = Xs b_s`` for ``b = T b_s``: every moderator centred (when
    ``X`` has an intercept) and scaled to unit SD.  The model is the same; Newton's steps
    on a raw moderator such as a publication year (cond(X'X) ~ 1e13) are not."""
    p = X.shape[1]
    T, Xs = np.eye(p), X.astype(float).copy()
    icpt = bool(np.all(X[:, 0] == 1.0))
    for j in range(1 if icpt else 0, p):
        c = float(X[:, j].mean()) if icpt else 0.0
        sd = float(np.sqrt(np.mean((X[:, j] - c) ** 2)))
        if not sd > 0:
            continue
        Xs[:, j] = (X[:, j] - c) / sd
        T[j, j] = 1.0 / sd
        if icpt:
            T[0, j] = -c / sd
    return T, Xs


def _unstandardised(r: dict, T: np.ndarray) -> dict:
    """A fit on ``Xs`` (:func:`_standardised`) back on the scale of ``X``."""
    p = T.shape[0]
    out = dict(r)
    out["b"] = T @ r["b"]
    out["vb"] = T @ r["vb"] @ T.T
    fixef = np.array(r["fixef"], dtype=float)
    fixef[:p] = T @ fixef[:p]
    out["fixef"] = fixef
    if "vb_rx" in r:
        out["se_rx"] = np.sqrt(np.diag(T @ r["vb_rx"] @ T.T))
    return out


def _prepare(measure, model, cols, mods, data, slab, nAGQ, level, test, warn):
    """Checked settings, the retained studies' cells and design (metafor's drop00)."""
    measure, model = str(measure).upper(), str(model).upper()
    if measure not in ("OR", "IRR", "IRLN") or model not in ("UM.FS", "UM.RS"):
        raise InputError(
            f"measure={measure!r}, model={model!r}: use OR/IRR with UM.FS/UM.RS, or IRLN"
        )
    if measure == "IRLN":
        model = "IRLN"  # one group: metafor's model= does not apply
    if test not in ("z", "t"):
        raise InputError(f"test={test!r} must be 'z' or 't'")
    lv = check_level(level)
    tab, labels = _read(measure, cols, data, slab)
    k_all = tab.shape[0]
    X, names = _design(mods, data, k_all)
    q = _nagq(model, nAGQ, warn, measure)
    keep = _keep(tab, X, measure)
    dropped = tuple(study_label(int(i), labels) for i in np.flatnonzero(~keep))
    if (~keep).any() and warn:
        if not since("mh_na_count"):  # metafor 4.8.0 gives only the second warning here
            warnings.warn("Studies with NAs omitted from model fitting.", UserWarning, stacklevel=2)
        warnings.warn("Some yi/vi values are NA.", UserWarning, stacklevel=2)
    tab, X = tab[keep], X[keep]
    k, p = X.shape
    if k < 2:
        raise InputError(f"k = {k} studies remain after dropping {dropped}: need at least 2")
    if measure == "OR":
        cells = eng.Cells("binomial", tab[:, [0, 2]], tab[:, [0, 2]] + tab[:, [1, 3]],
                          np.zeros((k, 2)))  # fmt: skip
    elif measure == "IRLN":
        cells = eng.Cells("poisson", tab[:, [0]], None, np.log(tab[:, [1]]))
    else:
        cells = eng.Cells("poisson", tab[:, [0, 2]], None, np.log(tab[:, [1, 3]]))
    return measure, model, cells, tab, X, names, q, lv, k_all, dropped


def glmm_um_loglik(theta: Any, fixef: Any, *, measure: str = "OR", model: str = "UM.FS",
                   mods: Any = None, data: Any = None, nAGQ: int | None = None,
                   **counts: Any) -> float:  # fmt: skip
    """The marginal log-likelihood at lme4's parameters ``theta`` and ``fixef`` (all fixed
    effects in lme4's order: moderators, then study intercepts (UM.FS) or the intercept
    (UM.RS)); the quantity ``glmer(devFunOnly = TRUE)`` evaluates."""
    cols = {n: counts.get(n) for n in _COUNTS}
    pre = _prepare(measure, model, cols, mods, data, None, nAGQ, 95, "z", warn=False)
    _, model, cells, _, X, _, q, _, _, _ = pre
    k, p = X.shape
    th, fx = np.asarray(theta, float).ravel(), np.asarray(fixef, float).ravel()
    if model == "IRLN":
        return float(eng.agq_1d(cells, cells.off + (X @ fx[:p])[:, None],
                                np.full((k, 1), th[0]), q).sum())  # fmt: skip
    if model == "UM.FS":
        eta0 = fx[p:, None] + cells.off + np.column_stack([X @ fx[:p], np.zeros(k)])
        return float(eng.agq_1d(cells, eta0, np.broadcast_to(th[0] * _G, (k, 2)), q).sum())
    eta0 = fx[p] + cells.off + np.column_stack([X @ fx[:p], np.zeros(k)])
    a2 = th[1] * np.broadcast_to(_G, (k, 2))
    return float(eng.laplace_2d(cells, eta0, th[0] * np.ones((k, 2)), a2).sum())


def _nagq(model: str, nAGQ: int | None, warn: bool = True, measure: str = "OR") -> int:
    if nAGQ is not None and (int(nAGQ) != nAGQ or nAGQ < 1):
        raise InputError(f"nAGQ={nAGQ!r} must be a positive integer (1 = Laplace)")
    if model == "UM.RS" and measure != "IRLN":
        if warn and (nAGQ is None or nAGQ > 1):
            warnings.warn(_RS_WARNING, UserWarning, stacklevel=3)
        return 1
    return 7 if nAGQ is None else int(nAGQ)


def _keep(tab: np.ndarray, X: np.ndarray, measure: str) -> np.ndarray:
    """metafor's drop00 (both groups without events, or, for OR, only events) and NAs."""
    fin = np.isfinite(tab).all(1) & np.isfinite(X).all(1)
    if measure == "OR":
        d00 = ((tab[:, 0] == 0) & (tab[:, 2] == 0)) | ((tab[:, 1] == 0) & (tab[:, 3] == 0))
    elif measure == "IRLN":
        d00 = np.zeros(tab.shape[0], dtype=bool)
    else:
        d00 = (tab[:, 0] == 0) & (tab[:, 2] == 0)
    return fin & ~d00


def _assemble(r, qe_wld, tab, X, names, measure, model, q, lv, test, k_all, dropped):
    k, p = X.shape
    b, vb = np.asarray(r["b"], float), np.asarray(r["vb"], float)
    se = np.sqrt(np.diag(vb))
    zval = b / se
    alpha = 1 - lv / 100
    if test == "t":
        pval, crit = 2 * stats.t.sf(abs(zval), k - p), stats.t.isf(alpha / 2, k - p)
    else:
        pval, crit = 2 * stats.norm.sf(abs(zval)), stats.norm.isf(alpha / 2)
    btt = list(range(1, p)) if p > 1 else [0]
    QM = float(b[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], b[btt]))
    if test == "t":
        QM /= len(btt)
        QMp = float(stats.f.sf(QM, len(btt), k - p))
    else:
        QMp = float(stats.chi2.sf(QM, len(btt)))
    qe_lrt = max(0.0, -2.0 * (r["ll_fe"] - r["ll_sat"]))
    df = k - p
    vt = _vt(tab, X, measure)
    tau2 = float(r["tau2"])
    ll, parms, keff = float(r["ll"]), r["parms"], (k if model == "IRLN" else 2 * k)
    amax = max(keff, parms + 2)
    return GlmmUMResult(
        b=b, se=se, zval=zval, pval=pval, ci_lb=b - crit * se, ci_ub=b + crit * se, vb=vb,
        tau2=tau2, sigma2=float(r["sigma2"]), I2=100 * tau2 / (vt + tau2), H2=tau2 / vt + 1,
        vt=vt, QE_Wld=qe_wld, QEp_Wld=float(stats.chi2.sf(qe_wld, df)) if df > 0 else 1.0,
        QE_LRT=qe_lrt, QEp_LRT=float(stats.chi2.sf(qe_lrt, df)) if df > 0 else 1.0,
        QE_df=df, QM=QM, QMp=QMp, logLik=ll, logLik_marginal=float(r["llm"]),
        deviance=-2 * (ll - r["ll_sat"]), AIC=-2 * ll + 2 * parms,
        BIC=-2 * ll + parms * math.log(keff), AICc=-2 * ll + 2 * parms * amax / (amax - parms - 1),
        k=k, k_all=k_all, p=p, nAGQ=q, measure=measure, model=model, test=test, level=lv,
        converged=bool(r["conv"]), coef_names=names, theta=r["theta"], fixef=r["fixef"],
        dropped=dropped, se_rx=r.get("se_rx", np.zeros(0)),
        QE_Wld_rx=float(r.get("qe_wld_rx", float("nan"))),
        QE_Wld_cond=float(r.get("qe_wld_cond", 1.0)),
    )  # fmt: skip
