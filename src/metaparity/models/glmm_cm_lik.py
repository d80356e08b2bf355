"""The exact conditional likelihood of a 2x2 table with a normal random effect.

Given the margins of study ``i`` (``n1 = a + b``, ``n2 = c + d``, ``m1 = a + c``), the
count ``a`` follows Fisher's noncentral hypergeometric distribution with log odds
ratio ``theta``::

    P(a | theta) = C(n1, a) C(n2, m1 - a) e^(a theta) / sum_x C(n1, x) C(n2, m1 - x) e^(x theta)

over the support ``max(0, m1 - n2) <= x <= min(n1, m1)`` (computed in log space, a
log-sum-exp over the whole support: exact to rounding, no series or recursion
approximations).  In the random-effects model (van Houwelingen, Zwinderman & Stijnen
1993) ``theta_i ~ N(x_i' beta, tau^2)`` and study ``i`` contributes
``L_i = int P(a_i | theta) N(theta; eta_i, tau^2) dtheta``.

The integral is computed by adaptive Gauss-Hermite quadrature with ``Q`` nodes
centred at the mode of the integrand and scaled by its curvature
``Var(X | theta_hat) + 1 / tau^2``; the integrand is smooth and log-concave, and
``Q = 40`` agrees with ``Q = 120`` to ~1e-15 relative on every data set tried (see
``docs/glmm.md``).  Derivatives in ``(eta, tau)`` are posterior moments (Louis'
identity), so the gradient and the Hessian are analytic and as accurate as the
integral itself.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special

__all__ = ["Tables", "fnc_moments", "cm_study_terms", "fe_terms", "conditional_mle"]

#: Gauss-Hermite nodes of the adaptive rule
NODES = 40


@functools.lru_cache(maxsize=8)
def _gh(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``t`` and ``log w + t^2/2`` for ``int f(t) dt = sum w e^{t^2/2} f(t)``."""
    t, w = special.roots_hermitenorm(q)
    return t, np.log(w) + 0.5 * t * t


class Tables:
    """The support of each study's noncentral hypergeometric law, padded to a rectangle."""

    def __init__(self, ai: np.ndarray, bi: np.ndarray, ci: np.ndarray, di: np.ndarray):
        n1, n2, m1 = ai + bi, ci + di, ai + ci
        lo = np.maximum(0.0, m1 - n2)
        hi = np.minimum(n1, m1)
        size = int((hi - lo).max()) + 1
        j = np.arange(size, dtype=float)
        xs = lo[:, None] + j[None, :]
        ok = xs <= hi[:, None]
        xs = np.where(ok, xs, lo[:, None])
        # log C(n1, x) C(n2, m1 - x) relative to x = lo, by the cumulative sum of the log
        # ratios of consecutive terms: no large log-factorials (gammaln(1e5) carries an
        # absolute rounding error of ~1e-10, which would pass into the likelihood)
        xr = xs[:, :-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            step = np.log((n1[:, None] - xr) * (m1[:, None] - xr)) - np.log(
                (xr + 1.0) * (n2[:, None] - m1[:, None] + xr + 1.0)
            )
        step = np.where(ok[:, 1:], step, 0.0)
        lc = np.concatenate([np.zeros((ai.size, 1)), np.cumsum(step, axis=1)], axis=1)
        self.a = ai.astype(float)
        self.xs = xs
        self.logc = np.where(ok, lc, -np.inf)
        self.lo, self.hi = lo, hi
        # the numerator's constant, on the same relative scale
        self.logc_a = np.take_along_axis(lc, (ai - lo).astype(int)[:, None], 1)[:, 0]
        self.edge = (ai == lo) | (ai == hi)

    @property
    def k(self) -> int:
        return int(self.a.size)


def fnc_moments(tab: Tables, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log P(a | theta)``, ``E(X | theta)`` and ``Var(X | theta)``; ``theta`` is ``(k, ...)``."""
    th = np.asarray(theta, dtype=float)
    extra = th.ndim - 1
    shp = (tab.k,) + (1,) * extra + (-1,)
    xs, logc = tab.xs.reshape(shp), tab.logc.reshape(shp)
    u = logc + xs * th[..., None]
    m = u.max(-1, keepdims=True)
    e = np.exp(u - m)
    s = e.sum(-1, keepdims=True)
    lse = (m + np.log(s))[..., 0]
    w = e / s
    mean = (w * xs).sum(-1)
    var = (w * (xs - mean[..., None]) ** 2).sum(-1)
    a = tab.a.reshape((tab.k,) + (1,) * extra)
    lca = tab.logc_a.reshape((tab.k,) + (1,) * extra)
    return lca + a * th - lse, mean, np.maximum(var, 0.0)


def _modes(tab: Tables, eta: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Mode of ``log P(a | theta) - (theta - eta)^2 / (2 tau^2)`` (strictly concave) and Var there."""
    th = eta.copy()
    prec = 1.0 / (tau * tau)
    for _ in range(200):
        _, mean, var = fnc_moments(tab, th)
        step = ((tab.a - mean) - (th - eta) * prec) / (var + prec)
        # a Newton step on a concave function with curvature >= 1/tau^2 never overshoots
        # by more than the bound below; limit it to keep the e^(x theta) terms tame
        step = np.clip(step, -5.0, 5.0)
        th = th + step
        if np.all(np.abs(step) <= 1e-13 * (1.0 + np.abs(th))):
            break
    _, _, var = fnc_moments(tab, th)
    return th, var


def cm_study_terms(tab: Tables, eta: np.ndarray, tau: float, q: int = NODES, derivs: bool = False):
    """Each study's log-likelihood at ``(eta_i, tau > 0)``; with ``derivs`` also
    ``(g_eta, g_tau, H_eta_eta, H_eta_tau, H_tau_tau)`` per study."""
    t, lw = _gh(q)
    mode, var = _modes(tab, eta, tau)
    s = 1.0 / np.sqrt(var + 1.0 / (tau * tau))
    th = mode[:, None] + s[:, None] * t[None, :]
    lf, _, _ = fnc_moments(tab, th)
    r = th - eta[:, None]
    lnorm = -0.5 * np.log(2 * np.pi) - np.log(tau) - 0.5 * r * r / (tau * tau)
    u = lf + lnorm + lw[None, :]
    m = u.max(1, keepdims=True)
    e = np.exp(u - m)
    tot = e.sum(1)
    ll = m[:, 0] + np.log(tot) + np.log(s)
    if not derivs:
        return ll
    pw = e / tot[:, None]
    t2, t3 = tau * tau, tau**3
    er, er2 = (pw * r).sum(1), (pw * r * r).sum(1)
    vr = (pw * (r - er[:, None]) ** 2).sum(1)
    cr = (pw * (r - er[:, None]) * (r * r - er2[:, None])).sum(1)
    vr2 = (pw * (r * r - er2[:, None]) ** 2).sum(1)
    g_eta = er / t2
    g_tau = er2 / t3 - 1.0 / tau
    h_ee = vr / t2**2 - 1.0 / t2
    h_et = cr / (t2 * t3) - 2.0 * er / t3
    h_tt = vr2 / t3**2 - 3.0 * er2 / t2**2 + 1.0 / t2
    return ll, (g_eta, g_tau, h_ee, h_et, h_tt)


def fe_terms(tab: Tables, eta: np.ndarray):
    """The equal-effects (``tau = 0``) conditional log-likelihood per study, its
    derivatives in ``eta`` and ``d^2 ll / d tau^2`` at ``tau = 0`` (the first derivative is 0)."""
    lf, mean, var = fnc_moments(tab, eta)
    g = tab.a - mean
    return lf, g, -var, g * g - var


def conditional_mle(tab: Tables) -> tuple[np.ndarray, np.ndarray]:
    """Each study's conditional MLE of the log odds ratio and ``Var(X)`` there
    (NaN and 0 for a table at the edge of its support, whose MLE is infinite)."""
    inner = ~tab.edge
    th = np.zeros(tab.k)
    for _ in range(200):
        _, mean, var = fnc_moments(tab, th)
        step = np.where(inner, (tab.a - mean) / np.where(inner, var, 1.0), 0.0)
        step = np.clip(step, -2.0, 2.0)
        th = th + step
        if np.all(np.abs(step) <= 1e-14 * (1.0 + np.abs(th))):
            break
    _, _, var = fnc_moments(tab, th)
    return np.where(inner, th, np.nan), np.where(inner, var, 0.0)
