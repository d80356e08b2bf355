"""Likelihood and optimiser for two-row-per-study GLMMs (``rma.glmm`` UM.FS / UM.RS).

Each study ``s`` has two cells ``j`` (treatment, control) with counts ``x[s, j]`` and, for
the binomial family, sizes ``n[s, j]``; for the Poisson family the log person-time enters
the fixed linear predictor as an offset.  Given the fixed part ``eta0[s, j]`` and the
random-effect loadings ``a[s, j, r]`` (lme4's ``Z Lambda``: the random effects are on the
spherical scale, ``z_s ~ N(0, I)``), the study's marginal likelihood
``int prod_j f(x_sj | eta0_sj + a_sj' z) phi(z) dz`` is approximated

* for one random effect by adaptive Gauss-Hermite quadrature with ``q`` nodes, centred at
  the mode of the integrand and scaled by its curvature (Pinheiro & Bates 1995; lme4's
  ``nAGQ``; ``q = 1`` is the Laplace approximation);
* for two random effects by the Laplace approximation
  ``h(z_hat) - log det(-h''(z_hat)) / 2`` (lme4 allows only ``nAGQ = 1`` there).

The optimiser is Newton on finite-difference derivatives (a fourth-order central stencil
for the gradient, Richardson-extrapolated differences of it for the Hessian) with a
line search, exploiting that a study's likelihood depends only on the global parameters
and its own local ones (UM.FS's study intercepts), so one vectorised evaluation gives
every study's partial derivatives at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special

from metaparity.models._glmm_common import _expit_parts, _gh_rule

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class Cells:
    """The counts of ``k`` studies x 2 groups and their family (``binomial``/``poisson``)."""

    def __init__(self, family: str, x: np.ndarray, n: np.ndarray | None, off: np.ndarray):
        self.family, self.x, self.n, self.off = family, x, n, off
        if family == "binomial":
            assert n is not None
            self.const = (
                special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
            ).sum(-1)
        else:
            self.const = (-special.gammaln(x + 1)).sum(-1)

    def parts(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """log f without constants, its derivative in eta and minus the second derivative."""
        x = self.x.reshape(self.x.shape + (1,) * (eta.ndim - self.x.ndim))
        if self.family == "binomial":
            assert self.n is not None
            n = self.n.reshape(x.shape)
            p, q, sp = _expit_parts(eta)
            return x * eta - n * sp, x - n * p, n * p * q
        with np.errstate(over="ignore"):  # a trial step far out: -inf, rejected by the search
            mu = np.exp(eta)
        return x * eta - mu, x - mu, mu

    def saturated(self) -> float:
        """The saturated log-likelihood (each cell at its observed rate; 0 log 0 = 0)."""
        x = self.x
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.family == "binomial":
                assert self.n is not None
                n = self.n
                lp = np.where(x > 0, x * np.log(x / n), 0.0)
                lq = np.where(x < n, (n - x) * np.log1p(-x / n), 0.0)
                return float(self.const.sum() + (lp + lq).sum())
            ll = np.where(x > 0, x * np.log(x) - x, 0.0)
        return float(self.const.sum() + ll.sum())


def _mode_1d(cells: Cells, eta0: np.ndarray, a: np.ndarray, maxiter: int = 200) -> np.ndarray:
    """Mode of ``h(z) = sum_j log f(x_j | eta0_j + a_j z) - z^2 / 2`` per study (Newton)."""
    z = np.zeros(eta0.shape[0])

    def hval(z):
        return cells.parts(eta0 + a * z[:, None])[0].sum(-1) - 0.5 * z * z

    hz = hval(z)
    for _ in range(maxiter):
        _, d1, w = cells.parts(eta0 + a * z[:, None])
        step = ((a * d1).sum(-1) - z) / (1.0 + (a * a * w).sum(-1))
        znew = z + step
        hnew = hval(znew)
        for _ in range(60):
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


def agq_1d(cells: Cells, eta0: np.ndarray, a: np.ndarray, q: int) -> np.ndarray:
    """Adaptive Gauss-Hermite log-likelihood of each study (one random effect)."""
    t, logw = _gh_rule(q)
    zh = _mode_1d(cells, eta0, a)
    _, _, w = cells.parts(eta0 + a * zh[:, None])
    s = 1.0 / np.sqrt(1.0 + (a * a * w).sum(-1))
    zj = zh[:, None] + s[:, None] * t  # (k, q)
    eta = eta0[:, :, None] + a[:, :, None] * zj[:, None, :]  # (k, 2, q)
    hj = cells.parts(eta)[0].sum(1) - 0.5 * zj * zj
    arg = hj + 0.5 * t * t + logw
    return cells.const - _LOG_SQRT_2PI + special.logsumexp(arg, axis=-1) + np.log(s)


def conditional_1d(cells: Cells, eta0: np.ndarray, a: np.ndarray) -> float:
    """``sum log f(x | eta0 + a z_hat)`` at the conditional modes (metafor's UM.FS logLik)."""
    zh = _mode_1d(cells, eta0, a)
    return float((cells.const + cells.parts(eta0 + a * zh[:, None])[0].sum(-1)).sum())


def laplace_2d(
    cells: Cells, eta0: np.ndarray, a1: np.ndarray, a2: np.ndarray, modes: bool = False
) -> Any:
    """Laplace log-likelihood of each study with two independent spherical random effects
    (with ``modes``: also the conditional modes ``(k, 2)``)."""
    k = eta0.shape[0]
    z = np.zeros((k, 2))

    def state(z):
        eta = eta0 + a1 * z[:, :1] + a2 * z[:, 1:]
        ll, d1, w = cells.parts(eta)
        h = ll.sum(-1) - 0.5 * (z * z).sum(-1)
        g = np.stack([(a1 * d1).sum(-1), (a2 * d1).sum(-1)], -1) - z
        m11 = 1.0 + (a1 * a1 * w).sum(-1)
        m22 = 1.0 + (a2 * a2 * w).sum(-1)
        m12 = (a1 * a2 * w).sum(-1)
        return h, g, m11, m12, m22

    h, g, m11, m12, m22 = state(z)
    for _ in range(200):
        det = m11 * m22 - m12 * m12
        step = np.stack([(m22 * g[:, 0] - m12 * g[:, 1]), (m11 * g[:, 1] - m12 * g[:, 0])], -1)
        step /= det[:, None]
        for _ in range(60):
            hn, gn, n11, n12, n22 = state(z + step)
            bad = hn < h - 1e-12 * np.abs(h)
            if not bad.any():
                break
            step = np.where(bad[:, None], 0.5 * step, step)
        z = z + step
        h, g, m11, m12, m22 = hn, gn, n11, n12, n22
        if np.all(np.abs(step) <= 1e-14 * (1.0 + np.abs(z))):
            break
    ll = cells.const + h - 0.5 * np.log(m11 * m22 - m12 * m12)
    return (ll, z) if modes else ll


def rx_vcov(cells: Cells, eta: np.ndarray, A: np.ndarray, D: np.ndarray) -> np.ndarray:
    """lme4's fallback ``vcov`` "estimated from RX": the inverse fixed-effect information
    given the variance parameters, ``sum_s D'WD - D'WA (I + A'WA)^-1 A'WD`` at the modes.

    ``eta`` (k, 2) the linear predictor at the modes, ``A`` (k, 2, q) the loadings,
    ``D`` (k, 2, P) the fixed-effect design of each study's two cells.
    """
    return np.linalg.inv(rx_info(cells, eta, A, D))


def rx_info(cells: Cells, eta: np.ndarray, A: np.ndarray, D: np.ndarray) -> np.ndarray:
    """The fixed-effect information behind :func:`rx_vcov` (its inverse)."""
    w = cells.parts(eta)[2]
    WD = w[:, :, None] * D
    WA = w[:, :, None] * A
    q = A.shape[2]
    M = np.eye(q) + np.einsum("sjq,sjr->sqr", A, WA)
    C = np.einsum("sjq,sjp->sqp", WA, D)  # A'WD
    return np.einsum("sjp,sjr->pr", D, WD) - np.einsum("sqp,sqr->pr", C, np.linalg.solve(M, C))


# --------------------------------------------------------------------------- #
# the optimiser: globals g (m,) and per-study locals l (k, r)
# --------------------------------------------------------------------------- #
StudyLL = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _shift(g, loc, d, m):
    return g + d[:m], loc + d[m:]


def study_derivs(f: StudyLL, g: np.ndarray, loc: np.ndarray, h: float = 1e-3):
    """Per-study gradient ``(k, m + r)`` and Hessian ``(k, m + r, m + r)`` in (g, own locals).

    Gradient: fourth-order central differences (step ``h``); Hessian: central differences
    of that gradient at steps ``h`` and ``h/2``, Richardson-extrapolated and symmetrised.
    """
    m, r = g.size, loc.shape[1]
    dim = m + r

    def grad(g0, l0):
        out = []
        for i in range(dim):
            e = np.zeros(dim)
            e[i] = h
            fp1, fm1 = f(*_shift(g0, l0, e, m)), f(*_shift(g0, l0, -e, m))
            fp2, fm2 = f(*_shift(g0, l0, 2 * e, m)), f(*_shift(g0, l0, -2 * e, m))
            out.append((8.0 * (fp1 - fm1) - (fp2 - fm2)) / (12.0 * h))
        return np.stack(out, -1)

    G = grad(g, loc)
    H = np.empty((G.shape[0], dim, dim))
    for j in range(dim):

        def d(step, j=j):
            e = np.zeros(dim)
            e[j] = step
            return (grad(*_shift(g, loc, e, m)) - grad(*_shift(g, loc, -e, m))) / (2 * step)

        H[:, :, j] = (4.0 * d(h / 2) - d(h)) / 3.0
    return G, 0.5 * (H + np.swapaxes(H, 1, 2))


def assemble(G: np.ndarray, H: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Full gradient and Hessian in ``(g, l[0], l[1], ...)`` from the per-study pieces."""
    k, dim = G.shape
    r = dim - m
    n = m + k * r
    grad = np.empty(n)
    hess = np.zeros((n, n))
    grad[:m] = G[:, :m].sum(0)
    hess[:m, :m] = H[:, :m, :m].sum(0)
    for s in range(k):
        ix = slice(m + s * r, m + (s + 1) * r)
        grad[ix] = G[s, m:]
        hess[:m, ix] = H[s, :m, m:]
        hess[ix, :m] = H[s, m:, :m]
        hess[ix, ix] = H[s, m:, m:]
    return grad, hess


def newton(f: StudyLL, g: np.ndarray, loc: np.ndarray, maxiter: int = 200):
    """Maximise ``sum_s f(g, l)_s`` by damped Newton; returns ``(g, l, converged)``."""
    m, k, r = g.size, loc.shape[0], loc.shape[1]
    val = float(f(g, loc).sum())
    lam = 0.0
    for _ in range(maxiter):
        G, H = study_derivs(f, g, loc)
        grad, hess = assemble(G, H, m)
        ev = np.linalg.eigvalsh(hess)
        top = float(np.max(ev))
        lam = max(0.0, 1.1 * top + 1e-8 * float(np.max(np.abs(ev)))) if top >= 0 else 0.0
        try:
            step = -np.linalg.solve(hess - lam * np.eye(hess.shape[0]), grad)
        except np.linalg.LinAlgError:
            return g, loc, False
        t = 1.0
        while t > 1e-10:
            d = t * step
            gn, ln = g + d[:m], loc + d[m:].reshape(k, r)
            # a trial step may overshoot (a study effect running to -inf): a non-finite value
            # is rejected below, without numpy's warnings reaching the user
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                vn = float(f(gn, ln).sum())
            if vn >= val - 1e-13 * abs(val):
                break
            t *= 0.5
        theta = np.concatenate([g, loc.ravel()])
        small = np.all(np.abs(t * step) <= 1e-10 * (1.0 + np.abs(theta)))
        g, loc, val = gn, ln, vn
        if small and lam == 0.0:
            return g, loc, True
    return g, loc, False


def vcov(f: StudyLL, g: np.ndarray, loc: np.ndarray, drop: list[int]) -> np.ndarray:
    """Inverse of minus the full Hessian, with the global parameters ``drop`` (e.g. a
    variance component at 0) held fixed; rows/columns in ``(g, l)`` order, NaN for dropped."""
    m = g.size
    G, H = study_derivs(f, g, loc)
    _, hess = assemble(G, H, m)
    keep = [i for i in range(hess.shape[0]) if i not in drop]
    out = np.full(hess.shape, np.nan)
    out[np.ix_(keep, keep)] = np.linalg.inv(-hess[np.ix_(keep, keep)])
    return out
