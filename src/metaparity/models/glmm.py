"""Binomial-normal random-effects model for proportions (``metafor::rma.glmm(measure="PLO")``).

The model (Hamza, van Houwelingen & Stijnen 2008; Stijnen, Hamza & Özdemir 2010)::

    x_i ~ Binomial(n_i, p_i),   logit(p_i) = mu + u_i,   u_i ~ N(0, tau^2)

fitted by maximum likelihood.  Study ``i`` contributes the marginal likelihood
``L_i(mu, tau) = int Binom(x_i | n_i, ilogit(mu + tau z)) phi(z) dz``; the integral
is approximated by adaptive Gauss-Hermite quadrature (Pinheiro & Bates 1995): the
``nAGQ`` nodes are centred at the mode ``z_i`` of the study's integrand (Newton on
its log, which is strictly concave) and scaled by its curvature
``c_i = 1 + tau^2 n_i p_i (1 - p_i)``, so ``nAGQ = 1`` is the Laplace
approximation.  metafor passes ``nAGQ = 7`` (its default) to ``lme4::glmer``,
which evaluates this same approximation with the random effect on the spherical
scale ``u = tau z`` (so ``tau`` is lme4's ``theta``); the default here is 7 too.
At ``tau = 0`` the approximation is exact: the likelihood of the equal-effects
binomial model.

The log-likelihood is maximised over ``(mu, tau)`` with ``tau`` unconstrained
(the likelihood is even in ``tau``, so the boundary ``tau^2 = 0`` is an ordinary
stationary point): BFGS on the analytic gradient, then Newton steps on a
Richardson-extrapolated finite-difference Hessian of that gradient until the
step is below ``1e-12``.  lme4 stops its derivative-free optimiser (bobyqa /
Nelder-Mead) much earlier, so metafor's estimates agree with ours only to the
precision of its optimiser; the likelihood itself agrees to rounding (see
``docs/glmm.md`` and :data:`metaparity.parity.tolerances.GLMM_TOLERANCES`).

Standard error of ``b``: lme4 (and so metafor) computes ``vcov`` for GLMMs with
``nAGQ > 0`` from the Hessian of the deviance in *all* parameters ``(theta,
beta)``, i.e. ``se(b)^2 = [(-H)^{-1}]_{mu,mu}`` with ``H`` the Hessian of the
log-likelihood in ``(mu, tau)``: the uncertainty in ``tau`` is propagated, not
conditioned on.  This block of the inverse does not depend on how ``tau`` is
parameterised (``tau`` or ``tau^2``), so it is computed in ``(mu, tau)``.
At ``tau^2 = 0`` the standard error is the equal-effects one, ``1 / sqrt(-H_mumu)``.

Heterogeneity tests as metafor reports them: ``QE.LRT`` is the likelihood-ratio
statistic of the equal-effects against the saturated binomial model (the
binomial deviance of ``mu = logit(sum x / sum n)``); ``QE.Wld`` is the Wald test
of the saturated model's study dummies, i.e. ``sum w_i (eta_i - eta_w)^2`` with
``eta_i`` the study logits and ``w_i = n_i p_i (1 - p_i)`` at the saturated fit
(metafor fits it by IRLS, ``glm``, stopping at ``epsilon = 1e-8``: agreement ~1e-7;
a study with 0 or n_i events has no finite logit -- glm leaves it near -27 with a
weight ~1e-10 and the Wald solve loses digits, 2e-6 relative on the sCR data --
while here it contributes its limit, 0).  ``I2``/``H2`` relate
``tau^2`` to the typical within-study variance (Higgins & Thompson 2002) of the
logits of :func:`metaparity.escalc` with metafor's ``add=1/2, to="only0"``.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from metaparity._core.io import InputError
from metaparity._core.names import MethodName, TestName
from metaparity._core.validation import (
    as_float_array,
    check_level,
    check_same_length,
    column,
    study_label,
)
from metaparity.effects.escalc import escalc
from metaparity.effects.transforms import ilogit
from metaparity.models._glm_saturated import saturated_glm, wald_condition, wald_residual
from metaparity.models._glmm_common import _expit_parts, _gh_rule
from metaparity.models.glmm_twogroup import rma_glmm_um
from metaparity.models.predict import Prediction
from metaparity.models.results import ModelResult
from metaparity.models.uni import rma

__all__ = [
    "rma_glmm", "GlmmResult", "GlmmPrediction", "glmm_loglik", "conditional_loglik",
    "glmm_vs_wald", "GLMM_FIT_FIELDS", "wald_heterogeneity",
]  # fmt: skip

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


# --------------------------------------------------------------------------- #
# the likelihood
# --------------------------------------------------------------------------- #
def _modes(x, n, mu, tau, maxiter: int = 200):
    """Mode ``z`` of ``h(z) = log Binom(x | n, ilogit(mu + tau z)) - z^2/2`` per study.

    ``h`` is strictly concave (``h'' = -(1 + tau^2 n p q) <= -1``), so Newton with
    step halving (on ``h``) converges from 0; it stops when the step is below
    ``1e-14 (1 + |z|)``.
    """
    z = np.zeros(np.broadcast(x, mu, tau).shape)

    def hval(z):
        eta = mu + tau * z
        _, _, sp = _expit_parts(eta)
        return x * eta - n * sp - 0.5 * z * z

    hz = hval(z)
    for _ in range(maxiter):
        eta = mu + tau * z
        p, q, _ = _expit_parts(eta)
        grad = tau * (x - n * p) - z
        c = 1.0 + tau * tau * n * p * q
        step = grad / c
        znew = z + step
        hnew = hval(znew)
        for _ in range(60):  # halve where the full Newton step went downhill
            bad = hnew < hz - 1e-12 * np.abs(hz)
            if not bad.any():
                break
            step = np.where(bad, 0.5 * step, step)
            znew = z + step
            hnew = hval(znew)
        z, hz = znew, hnew
        if np.all(np.abs(step) <= 1e-14 * (1.0 + np.abs(z))):
            break
    return z


def _study_loglik(x, n, lchoose, mu, tau, q: int, grad: bool = False):
    """Adaptive Gauss-Hermite log-likelihood of each study (and its gradient).

    ``x, n, lchoose`` have shape ``(..., k)``; ``mu, tau`` shape ``(..., 1)``.
    Returns ``ll`` (``(..., k)``) and, with ``grad``, ``(dll/dmu, dll/dtau)``.
    """
    t, logw = _gh_rule(q)
    zh = _modes(x, n, mu, tau)
    etah = mu + tau * zh
    ph, qh, _ = _expit_parts(etah)
    vh = n * ph * qh
    c = 1.0 + tau * tau * vh
    s = 1.0 / np.sqrt(c)
    zj = zh[..., None] + s[..., None] * t  # (..., k, q)
    eta = mu[..., None] + tau[..., None] * zj
    pj, _, sp = _expit_parts(eta)
    hj = x[..., None] * eta - n[..., None] * sp - 0.5 * zj * zj
    a = hj + 0.5 * t * t + logw
    amax = a.max(-1, keepdims=True)
    ea = np.exp(a - amax)
    se = ea.sum(-1)
    ll = lchoose - _LOG_SQRT_2PI + amax[..., 0] + np.log(se) + np.log(s)
    if not grad:
        return ll
    pi = ea / se[..., None]  # softmax weights of the nodes
    rj = x[..., None] - n[..., None] * pj
    hz = tau[..., None] * rj - zj  # dh/dz at the nodes
    rh = x - n * ph
    dvh = vh * (qh - ph)  # d(n p q)/d eta
    out = []
    for dh_dtheta, hzt, deta_direct, dtau in (
        (rj, -tau * vh, 1.0, 0.0),  # mu
        (zj * rj, rh - tau * zh * vh, zh, 1.0),  # tau
    ):
        dzh = hzt / c  # implicit derivative of the mode
        deta = deta_direct + tau * dzh
        dc = 2.0 * tau * dtau * vh + tau * tau * dvh * deta
        ds_over_s = -0.5 * dc / c
        dz = dzh[..., None] + (s * ds_over_s)[..., None] * t
        out.append((pi * (dh_dtheta + hz * dz)).sum(-1) + ds_over_s)
    return ll, out[0], out[1]


def _lchoose(x, n):
    return special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)


def glmm_loglik(xi: Any, ni: Any, mu: float, tau2: float, *, nAGQ: int = 7) -> float:
    """Marginal log-likelihood of the binomial-normal model at ``(mu, tau2)``.

    With the binomial coefficients included, as ``logLik`` of ``rma.glmm`` (and
    ``glmer``) reports it; ``tau2 = 0`` gives the equal-effects binomial one.
    """
    x = np.asarray(xi, dtype=float).ravel()
    n = np.asarray(ni, dtype=float).ravel()
    if tau2 < 0:
        raise ValueError(f"tau2={tau2!r} must be >= 0")
    ll = _study_loglik(
        x, n, _lchoose(x, n), np.asarray([float(mu)]), np.asarray([math.sqrt(tau2)]), int(nAGQ)
    )
    return float(ll.sum())


# --------------------------------------------------------------------------- #
# the fit
# --------------------------------------------------------------------------- #
class _Objective:
    def __init__(self, x, n, q):
        self.x, self.n, self.q = x, n, q
        self.lc = _lchoose(x, n)

    def ll(self, th):
        mu, tau = np.asarray([th[0]]), np.asarray([th[1]])
        return float(_study_loglik(self.x, self.n, self.lc, mu, tau, self.q).sum())

    def grad(self, th):
        mu, tau = np.asarray([th[0]]), np.asarray([th[1]])
        _, gm, gt = _study_loglik(self.x, self.n, self.lc, mu, tau, self.q, grad=True)
        return np.array([gm.sum(), gt.sum()])

    def hess(self, th, h: float = 1e-3):
        """Hessian from the analytic gradient: Richardson-extrapolated central differences."""
        th = np.asarray(th, dtype=float)
        H = np.empty((2, 2))
        for j in range(2):
            e = np.zeros(2)
            e[j] = 1.0

            def d(step, e=e):
                return (self.grad(th + step * e) - self.grad(th - step * e)) / (2 * step)

            H[:, j] = (4.0 * d(h / 2) - d(h)) / 3.0
        return 0.5 * (H + H.T)


def _fit(x, n, q):
    obj = _Objective(x, n, q)
    # equal-effects (tau = 0) MLE: closed form
    mu_fe = math.log(x.sum() / (n - x).sum())
    # start: DL-like tau from the logits with 1/2 added to zero cells
    xc = np.where((x == 0) | (x == n), x + 0.5, x)
    nc = np.where((x == 0) | (x == n), n + 1.0, n)
    yi = np.log(xc / (nc - xc))
    vi = 1 / xc + 1 / (nc - xc)
    w = 1 / vi
    yb = (w * yi).sum() / w.sum()
    Q = (w * (yi - yb) ** 2).sum()
    tau2_dl = max(0.0, (Q - (x.size - 1)) / (w.sum() - (w * w).sum() / w.sum()))
    starts = [(mu_fe, max(math.sqrt(tau2_dl), 0.3)), (yb, 1.0)]
    best = None
    for s in starts:
        r = optimize.minimize(
            lambda th: -obj.ll(th),
            np.asarray(s, dtype=float),
            jac=lambda th: -obj.grad(th),
            method="BFGS",
            options={"gtol": 1e-9, "maxiter": 1000},
        )
        th = np.array([r.x[0], abs(r.x[1])])
        if best is None or obj.ll(th) > obj.ll(best):
            best = th
    assert best is not None  # the search loop above runs at least once
    th, converged = _newton(obj, best)
    # the boundary tau = 0 (mu at the equal-effects MLE, exact): taken when it is at least
    # as good, or when the search ended at tau ~ 0 and tau = 0 is a local maximum in tau
    th0 = np.array([mu_fe, 0.0])
    better = obj.ll(th0) >= obj.ll(th)
    if better or (th[1] < 1e-7 and obj.hess(th0)[1, 1] <= 0):
        th, converged = th0, True
    return obj, th, converged


def _newton(obj: _Objective, th: np.ndarray, maxiter: int = 50):
    f = obj.ll(th)
    for _ in range(maxiter):
        g = obj.grad(th)
        H = obj.hess(th)
        try:
            step = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            return th, False
        if not np.all(np.linalg.eigvalsh(H) < 0) or g @ step < 0:
            # not a concave region: a gradient-ascent step of length <= 0.1 instead
            step = 0.1 * g / max(1.0, float(np.linalg.norm(g)))
        lam = 1.0
        while lam > 1e-8:
            new = th + lam * step
            fn = obj.ll(new)
            if fn >= f - 1e-13 * abs(f):
                break
            lam *= 0.5
        done = np.all(np.abs(lam * step) <= 1e-12 * (1.0 + np.abs(th)))
        th, f = new, fn
        if done:
            return np.array([th[0], abs(th[1])]), True
    return np.array([th[0], abs(th[1])]), False


# --------------------------------------------------------------------------- #
# result
# --------------------------------------------------------------------------- #
#: ``predict()`` on a GLMM returns the same record as on an ``rma`` fit
GlmmPrediction = Prediction


@dataclass(frozen=True)
class GlmmResult(ModelResult):
    """A fitted ``rma.glmm(measure="PLO")``: metafor's names (``QE_Wld`` is ``QE.Wld``)."""

    b: float
    se: float
    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    tau2: float
    I2: float
    H2: float
    vt: float
    QE_Wld: float
    QEp_Wld: float
    QE_LRT: float
    QEp_LRT: float
    logLik: float
    logLik_marginal: float
    deviance: float
    AIC: float
    BIC: float
    AICc: float
    k: int
    nAGQ: int
    test: TestName
    level: float
    converged: bool
    measure: str = "PLO"
    method: MethodName = "ML"
    xi: np.ndarray | None = field(repr=False, default=None)
    ni: np.ndarray | None = field(repr=False, default=None)
    slab: tuple | None = field(repr=False, default=None)
    vb_conditional: float = field(repr=False, default=float("nan"))
    #: condition of metafor's Wald solve for QE_Wld (its rounding, not ours; see wald_condition)
    QE_Wld_cond: float = field(repr=False, default=1.0)

    @property
    def dfs(self) -> float:
        return float("nan") if self.test == "z" else float(self.k - 1)

    def fit_stats(self) -> dict[str, float]:
        """``metafor::fitstats``: logLik, deviance, AIC, BIC, AICc."""
        return dict(logLik=self.logLik, deviance=self.deviance, AIC=self.AIC, BIC=self.BIC,
                    AICc=self.AICc)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        keys = [f.name for f in fields(self) if f.name not in ("xi", "ni", "slab")]
        return {k: getattr(self, k) for k in keys} | {"tau": self.tau}

    def predict(self, transf: Any = None, level: float | None = None) -> GlmmPrediction:
        """Pooled log odds (or, with ``transf=True``/``"ilogit"``, proportion) with CI and PI.

        ``pi = b +/- crit * sqrt(se^2 + tau2)`` (metafor 3.8's ``predict.rma``), ``crit``
        normal for ``test="z"``, t with k - 1 df otherwise.  A transform is applied to
        the bounds; ``se`` is then NaN.
        """
        lv = self.level if level is None else check_level(level)
        alpha = 1 - lv / 100
        crit = (
            stats.norm.isf(alpha / 2)
            if self.test == "z"
            else stats.t.isf(alpha / 2, max(self.k - 1, 1))
        )
        spi = math.sqrt(self.se**2 + self.tau2)
        vals = [self.b, self.b - crit * self.se, self.b + crit * self.se,
                self.b - crit * spi, self.b + crit * spi]  # fmt: skip
        name = None
        se = self.se
        if transf is True or transf == "ilogit":
            vals = [float(ilogit(v)) for v in vals]
            name, se = "ilogit", float("nan")
        elif callable(transf):
            vals = [float(transf(v)) for v in vals]
            name, se = getattr(transf, "__name__", "custom"), float("nan")
        elif transf not in (None, False):
            raise ValueError(f"transf={transf!r}: use True/'ilogit' or a callable")
        return GlmmPrediction(vals[0], se, vals[1], vals[2], vals[3], vals[4], name)


def _check_counts(x: np.ndarray, n: np.ndarray, labels) -> None:
    for i in range(x.size):
        lab = study_label(i, labels)
        if not (np.isfinite(x[i]) and np.isfinite(n[i])):
            raise ValueError(f"{lab} has xi={x[i]!r}, ni={n[i]!r}; counts must be finite")
        if n[i] <= 0:
            raise ValueError(
                f"{lab} has ni={n[i]:g}; a study needs at least one participant -- fix the "
                "count or drop the study"
            )
        if x[i] < 0:
            raise ValueError(f"{lab} has xi={x[i]:g} < 0; event counts must be >= 0")
        if x[i] > n[i]:
            raise ValueError(
                f"{lab} has xi={x[i]:g} > ni={n[i]:g}; events cannot exceed the group size "
                "-- check the extraction"
            )
        if x[i] != round(x[i]) or n[i] != round(n[i]):
            raise ValueError(
                f"{lab} has xi={x[i]:g}, ni={n[i]:g}; the binomial model needs whole counts"
            )


def wald_heterogeneity(x: np.ndarray, n: np.ndarray) -> tuple[float, float, float]:
    """Wald test of the saturated model's study logits: ``sum w (eta - eta_w)^2`` at the
    stopping point of metafor's saturated glm, iterated as glm.fit does
    (:mod:`metaparity.models._glm_saturated`).  A study with 0 or n events has no finite
    logit; glm stops at a large one with a tiny weight, and its contribution (~1e-7, 0 in
    the limit) is the one metafor reports.  Also returns glm's residual deviance there and
    the condition of metafor's Wald solve (:func:`~metaparity.models._glm_saturated.wald_condition`).
    """
    eta, v, dev = saturated_glm(x, n)
    return wald_residual(eta, v, np.ones((eta.size, 1))), dev, wald_condition(v)


def conditional_loglik(x, n, mu: float, tau: float) -> float:
    """``sum_i log Binom(x_i | n_i, ilogit(mu + tau z_i))`` at the conditional modes ``z_i``.

    This is the ``logLik`` in metafor's ``fit.stats`` for ``rma.glmm``: metafor takes
    ``deviance()`` of the glmer fit, which lme4 defines as the sum of the binomial
    deviance residuals at the conditional modes, and reports ``ll = ll_sat - dev / 2``
    (verified to 1e-12 against metafor 3.8-1/lme4 1.1-31).  It is *not* the maximised
    marginal likelihood (``GlmmResult.logLik_marginal``).
    """
    z = _modes(x, n, np.asarray([mu]), np.asarray([tau]))
    eta = mu + tau * z
    _, _, sp = _expit_parts(eta)  # log(1 + e^eta): log p = eta - sp, log(1 - p) = -sp
    return float((_lchoose(x, n) + x * eta - n * sp).sum())


def _binom_ll(x, n, p):
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.where(x > 0, x * np.log(p), 0.0)
        lq = np.where(x < n, (n - x) * np.log1p(-p), 0.0)
    return _lchoose(x, n) + lp + lq


def rma_glmm(
    xi: Any = None,
    ni: Any = None,
    *,
    measure: str = "PLO",
    nAGQ: int | None = None,
    level: float = 95,
    test: TestName = "z",
    slab: Any = None,
    data: Any = None,
    model: str | None = None,
    mods: Any = None,
    **counts: Any,
) -> Any:
    """Binomial-normal (random-intercept logistic) meta-analysis of proportions.

    Equivalent to ``metafor::rma.glmm(measure="PLO", xi=, ni=, nAGQ=7)`` (method
    "ML").  No continuity correction: studies with 0 or n_i events enter the
    binomial likelihood as they are.

    Parameters
    ----------
    xi, ni : array_like or str
        Events and group sizes (or column names in ``data``).
    measure : "PLO"
        The logit link (the only measure implemented).
    nAGQ : int, optional
        Adaptive Gauss-Hermite points per study; ``None`` is metafor's default, 7.
        ``1`` is the Laplace approximation.
    level : float
        Confidence level in percent.
    test : {"z", "t"}
        Normal (default) or t with k - 1 df for the test and CI of ``b``.
    slab : array_like or str, optional
        Study labels (used in messages).

    model : str, optional
        For two-group data (``measure="OR"`` with ``ai, bi, ci, di`` or ``n1i, n2i``;
        ``"IRR"`` with ``x1i, t1i, x2i, t2i``): ``"UM.FS"`` (default) / ``"UM.RS"``
        (:func:`metaparity.models.glmm_twogroup.rma_glmm_um`) or ``"CM.EL"`` / ``"CM.AL"``
        (``metaparity.models.glmm_conditional.rma_glmm_cm``).
    mods : array_like, optional
        Moderators (two-group models only).
    **counts
        The two-group count columns (``ai=``, ``bi=``, ..., ``t2i=``).

    Returns
    -------
    GlmmResult or GlmmUMResult
        metafor's fields (``b, se, zval, pval, ci_lb, ci_ub, tau2, I2, H2``, the Wald and
        likelihood-ratio tests for heterogeneity ``QE_Wld``/``QE_LRT``, ``logLik``, ``AIC``
        ...), ``predict()`` and ``summary()``.

    Examples
    --------
    >>> res = rma_glmm([39, 16, 150, 25, 9, 14], [122, 78, 195, 40, 18, 21])
    >>> round(res.b, 4), round(res.tau2, 4)  # metafor: 0.0401, 0.7555
    (0.0401, 0.7555)
    >>> round(res.predict(transf=True).pred, 4)  # pooled proportion
    0.51
    """

    if (
        str(measure).upper() in ("OR", "IRR", "IRLN")
        or model is not None
        or mods is not None
        or counts
    ):
        if str(measure).upper() == "IRLN":
            counts = dict(counts, xi=xi)
        return _dispatch(measure, model, mods, nAGQ, level, test, slab, data, counts)
    q, level = _check_settings(measure, test, level, nAGQ)
    x, n, labels = _read_counts(xi, ni, slab, data)
    obj, th, converged = _fit(x, n, q)
    mu, tau = float(th[0]), float(th[1])
    k = x.size
    se, vb_cond = _standard_errors(obj, th, tau)
    zval = mu / se
    pval, crit = _test(zval, test, level, k)
    tau2 = tau * tau
    het, dev_glm = _heterogeneity(x, n, tau2)
    # metafor: logLik = ll.QE - deviance(glmer) / 2 with ll.QE the logLik of its saturated
    # glm at glm's stopping point (the exact saturated value - dev_glm / 2)
    ll = conditional_loglik(x, n, mu, tau) - dev_glm / 2
    return GlmmResult(
        b=mu, se=se, zval=zval, pval=float(pval), ci_lb=mu - crit * se, ci_ub=mu + crit * se,
        tau2=tau2, **het, **_fit_stats(x, n, ll, dev_glm), logLik_marginal=obj.ll(th), k=k, nAGQ=q,
        test=test, level=level, converged=bool(converged), xi=x, ni=n, slab=labels,
        vb_conditional=vb_cond,
    )  # fmt: skip


_TWO_GROUP = ("ai", "bi", "ci", "di", "n1i", "n2i", "x1i", "t1i", "x2i", "t2i", "ti")


def _dispatch(measure, model, mods, nAGQ, level, test, slab, data, counts) -> Any:
    """rma_glmm for the two-group models (UM.FS/UM.RS here, CM.EL/CM.AL in glmm_conditional)."""
    unknown = sorted(set(counts) - set(_TWO_GROUP) - {"xi"})
    if unknown:
        raise InputError(f"rma_glmm got unexpected arguments {unknown}")
    mdl = "UM.FS" if model is None else str(model).upper()
    kw = dict(measure=str(measure).upper(), model=mdl, mods=mods, level=level, test=test,
              slab=slab, data=data, **counts)  # fmt: skip
    if mdl in ("CM.EL", "CM.AL"):
        # imported here, by name: glmm_conditional builds on this module (an import cycle)
        rma_glmm_cm = importlib.import_module("metaparity.models.glmm_conditional").rma_glmm_cm
        return rma_glmm_cm(nAGQ=nAGQ, **kw) if nAGQ is not None else rma_glmm_cm(**kw)
    return rma_glmm_um(nAGQ=nAGQ, **kw)


def _check_settings(measure: str, test: str, level: float, nAGQ: int | None) -> tuple[int, float]:
    if str(measure).upper() != "PLO":
        raise ValueError(f"measure={measure!r}: rma_glmm implements measure='PLO' only")
    if test not in ("z", "t"):
        raise ValueError(f"test={test!r} must be 'z' or 't'")
    lv = check_level(level)
    q = 7 if nAGQ is None else int(nAGQ)
    if nAGQ is not None and (q != nAGQ or q < 1):
        raise ValueError(f"nAGQ={nAGQ!r} must be a positive integer (1 = Laplace)")
    return q, lv


def _read_counts(xi: Any, ni: Any, slab: Any, data: Any) -> tuple[np.ndarray, np.ndarray, Any]:
    """Events and group sizes as float vectors, checked (k >= 2, some events, some non-events)."""
    xi, ni, slab = (column(nm, v, data) for nm, v in (("xi", xi), ("ni", ni), ("slab", slab)))
    if xi is None or ni is None:
        raise ValueError("give xi (events) and ni (group sizes)")
    x = np.atleast_1d(as_float_array("xi", xi)).ravel()
    n = np.atleast_1d(as_float_array("ni", ni)).ravel()
    labels = None if slab is None else tuple(np.asarray(slab, dtype=object).ravel().tolist())
    check_same_length(xi=x, ni=n, slab=None if labels is None else np.asarray(labels))
    if x.size == 0:
        raise ValueError("no studies given (k = 0)")
    _check_counts(x, n, labels)
    if x.size < 2:
        raise ValueError(
            f"only one study ({study_label(0, labels)}): tau^2 cannot be estimated from k = 1; "
            "a random-effects model needs at least two studies"
        )
    if x.sum() == 0 or (n - x).sum() == 0:
        what = "no events" if x.sum() == 0 else "only events"
        raise ValueError(
            f"{what} in every study: the pooled logit has no finite maximum-likelihood "
            "estimate (the binomial-normal model cannot be fitted)"
        )
    return x, n, labels


def _standard_errors(obj: _Objective, th: np.ndarray, tau: float) -> tuple[float, float]:
    """se(mu) from the inverse observed information (conditional on tau when tau = 0)."""
    H = obj.hess(th)
    if tau == 0.0:
        vb = -1.0 / H[0, 0]
    else:
        vb = float(np.linalg.inv(-H)[0, 0])
    return math.sqrt(vb), -1.0 / H[0, 0]


def _test(zval: float, test: str, level: float, k: int) -> tuple[float, float]:
    """p-value and critical value: normal, or t with k - 1 df."""
    alpha = 1 - level / 100
    if test == "z":
        return 2 * stats.norm.sf(abs(zval)), stats.norm.isf(alpha / 2)
    return 2 * stats.t.sf(abs(zval), k - 1), stats.t.isf(alpha / 2, k - 1)


def _heterogeneity(x: np.ndarray, n: np.ndarray, tau2: float) -> tuple[dict[str, Any], float]:
    """I^2, H^2 (from the typical within-study variance of the logits), Wald and LRT tests."""
    k = x.size
    dat = escalc("PLO", xi=x, ni=n)
    w = 1.0 / dat["vi"].to_numpy()
    vt = (k - 1) * w.sum() / (w.sum() ** 2 - (w * w).sum())
    I2 = 100.0 * tau2 / (tau2 + vt)
    H2 = (tau2 + vt) / vt
    with np.errstate(divide="ignore", invalid="ignore"):
        ll_sat = float(_binom_ll(x, n, np.true_divide(x, n, dtype=float)).sum())
    ll_fe = float(_binom_ll(x, n, np.full(k, float(x.sum()) / float(n.sum()))).sum())
    qe_wld, dev_glm, kappa = wald_heterogeneity(x, n)
    qe_lrt = max(0.0, 2.0 * (ll_sat - dev_glm / 2 - ll_fe))  # metafor's ll.QE: glm's logLik
    df = k - 1
    return dict(
        I2=float(I2), H2=float(H2), vt=float(vt),
        QE_Wld=qe_wld, QEp_Wld=float(stats.chi2.sf(qe_wld, df)),
        QE_LRT=qe_lrt, QEp_LRT=float(stats.chi2.sf(qe_lrt, df)), QE_Wld_cond=kappa,
    ), dev_glm  # fmt: skip


def _fit_stats(x: np.ndarray, n: np.ndarray, ll: float, dev_glm: float = 0.0) -> dict[str, Any]:
    """logLik, deviance (against metafor's saturated glm: the exact saturated binomial
    log-likelihood minus half of that glm's residual deviance ``dev_glm``), AIC, BIC, AICc."""
    k = x.size
    with np.errstate(divide="ignore", invalid="ignore"):
        ll_sat = float(_binom_ll(x, n, np.true_divide(x, n, dtype=float)).sum()) - dev_glm / 2
    npar = 2
    return dict(
        logLik=ll,
        deviance=-2.0 * (ll - ll_sat),
        AIC=-2.0 * ll + 2 * npar,
        BIC=-2.0 * ll + npar * math.log(k),
        AICc=-2.0 * ll + 2 * npar * max(k, npar + 2) / (max(k, npar + 2) - npar - 1),
    )


def glmm_vs_wald(
    xi: Any,
    ni: Any,
    slab: Any = None,
    *,
    method: MethodName = "DL",
    level: float = 95,
    nAGQ: int = 7,
):
    """One analysis of proportions pooled three ways, for a sensitivity column.

    Rows (a pandas DataFrame, proportions on the 0-1 scale):

    * ``"Wald, raw proportions"`` -- ``escalc("PR")`` + ``rma(method=method)`` (the seed
      paper's approach: inverse-variance weights ``n / (p (1 - p))``, a symmetric Wald CI;
      a study with 0 or n events gets variance 0 and cannot be pooled, so it is dropped
      and counted in ``dropped``);
    * ``"Wald, logit"`` -- ``escalc("PLO")`` (1/2 added to 0 cells) + ``rma(method)``,
      back-transformed;
    * ``"GLMM (binomial-normal, ML)"`` -- :func:`rma_glmm`, back-transformed; no
      continuity correction and no study dropped.

    Columns: ``model``, ``estimate``, ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub`` (the
    prediction interval as metafor's ``predict`` gives it: equal to the CI when
    tau^2 = 0), ``tau2`` (on the model's own scale), ``I2``, ``k``, ``dropped``.

    >>> t = glmm_vs_wald([32, 16], [122, 78])  # selinexor SEL+DEX ORR (Chari, Vogl)
    >>> [round(v, 3) for v in t.loc[0, ["estimate", "ci_lb", "ci_ub"]]]  # the paper: 24% (18-30)
    [0.238, 0.179, 0.296]
    """

    x = np.atleast_1d(np.asarray(xi, dtype=float)).ravel()
    n = np.atleast_1d(np.asarray(ni, dtype=float)).ravel()
    labels = None if slab is None else list(np.asarray(slab, dtype=object).ravel())
    rows = []
    inner = (x > 0) & (x < n)
    dropped = int((~inner).sum())
    if inner.sum() >= 1:
        d = escalc("PR", xi=x[inner], ni=n[inner])
        r = rma(data=d, method=method, level=level)
        p = r.predict()
        rows.append(dict(model=f"Wald, raw proportions ({method})", estimate=p.pred,
                         ci_lb=p.ci_lb, ci_ub=p.ci_ub, pi_lb=p.pi_lb, pi_ub=p.pi_ub,
                         tau2=r.tau2, I2=r.I2, k=r.k, dropped=dropped))  # fmt: skip
    r = rma(data=escalc("PLO", xi=x, ni=n), method=method, level=level)
    p = r.predict(transf="ilogit")
    rows.append(dict(model=f"Wald, logit ({method})", estimate=p.pred, ci_lb=p.ci_lb,
                     ci_ub=p.ci_ub, pi_lb=p.pi_lb, pi_ub=p.pi_ub, tau2=r.tau2, I2=r.I2,
                     k=r.k, dropped=0))  # fmt: skip
    g = rma_glmm(x, n, slab=labels, level=level, nAGQ=nAGQ)
    p = g.predict(transf=True)
    rows.append(dict(model="GLMM (binomial-normal, ML)", estimate=p.pred, ci_lb=p.ci_lb,
                     ci_ub=p.ci_ub, pi_lb=p.pi_lb, pi_ub=p.pi_ub, tau2=g.tau2, I2=g.I2,
                     k=g.k, dropped=0))  # fmt: skip
    return pd.DataFrame(rows)


GLMM_FIT_FIELDS = (
    "b se zval pval ci_lb ci_ub tau2 I2 H2 vt QE_Wld QEp_Wld QE_LRT QEp_LRT "
    "logLik deviance AIC BIC AICc k"
).split()
