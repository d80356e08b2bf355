"""The saturated glm behind rma.glmm's Wald test for heterogeneity (``QE.Wld``), iterated as
R's ``glm.fit`` iterates it.

metafor fits the saturated model (one parameter per cell: per study, or per study and
group) with ``glm()`` and takes the Wald test of the study-specific effects from its
coefficients and ``vcov()``.  A study with 0 (or all) events in a cell has no finite
saturated estimate: glm stops where its convergence rule stops it, with a large finite
logit and a tiny weight, and that study's contribution to ``QE.Wld`` is what that stopping
point gives (~1e-7 on small data; 0 only in the limit).  The exact limit therefore differs
from metafor by up to ~1e-6 relative, and absolutely where ``QE.Wld`` itself is ~0.

This module runs glm.fit's iteration on the saturated design, where the weighted least
squares step reproduces the working response cell by cell, so no matrix is solved:

* start (binomial) ``mu = (n y + 1/2) / (n + 1)``, (Poisson) ``mu = y + 0.1``, ``eta =
  link(mu)`` (the offset inside it), deviance ``dev0``;
* repeat: ``W = n mu.eta^2 / V(mu)``, ``eta += (y - mu) / mu.eta``, ``dev``; stop when
  ``|dev - dev_old| / (|dev| + 0.1) < epsilon`` (1e-8) or after ``maxit`` (25) steps;
* the estimates are the last ``eta - offset``, their covariance ``diag(1 / W)`` with the
  weights of the *last step* (glm's ``vcov`` comes from the QR of that step's weighted
  fit), with R's own link functions (logit clamped at |eta| > 30, ``mu.eta`` and the
  Poisson mean floored at machine epsilon).

The Wald statistic of "the effects follow ``X beta``" is then
``theta' (W - W X (X'WX)^-1 X'W) theta`` (invariant to which aliased columns glm drops).
On the toy data of tests/models/test_glm_saturated.py this reproduces metafor's 1.8804078e-07 where
the exact limit is 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["saturated_glm", "wald_residual", "wald_condition"]

_EPS = float(np.finfo(float).eps)
_THRESH = 30.0


def _logit_parts(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R's binomial()$linkinv, $mu.eta and $variance (C code logit_linkinv / logit_mu_eta)."""
    with np.errstate(over="ignore"):
        e = np.exp(eta)
    tmp = np.where(eta < -_THRESH, _EPS, np.where(eta > _THRESH, 1.0 / _EPS, e))
    mu = tmp / (1.0 + tmp)
    opexp = 1.0 + e
    with np.errstate(over="ignore", invalid="ignore"):
        me = np.where((eta > _THRESH) | (eta < -_THRESH), _EPS, e / (opexp * opexp))
    return mu, me, mu * (1.0 - mu)


def _ylogy(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    out = np.zeros_like(y)
    pos = y != 0
    out[pos] = y[pos] * np.log(y[pos] / mu[pos])
    return out


def saturated_glm(
    x: np.ndarray, n: np.ndarray | None = None, offset: np.ndarray | None = None, *,
    epsilon: float = 1e-8, maxit: int = 25,
) -> tuple[np.ndarray, np.ndarray, float]:  # fmt: skip
    """glm.fit's saturated estimates, their variances and its residual deviance.

    Parameters
    ----------
    x : array
        Events per cell.
    n : array, optional
        Binomial trials per cell (``cbind(x, n - x)``); None for Poisson counts.
    offset : array, optional
        The offset per cell (Poisson: log person-time).
    epsilon, maxit : float, int
        ``glm.control()``'s (metafor's ``glmCtrl`` defaults).

    Returns
    -------
    theta, var : arrays
        ``eta - offset`` at glm's stopping point and ``1 / W`` (the diagonal of ``vcov``).
    deviance : float
        glm's residual deviance there (0 in the limit; metafor's ``logLik`` of the
        saturated model is the exact saturated log-likelihood minus half of it, which
        enters ``QE.LRT``).

    Examples
    --------
    >>> th, v, dev = saturated_glm(np.array([3.0, 7.0]), np.array([10.0, 10.0]))
    >>> np.allclose(th, np.log([3 / 7, 7 / 3])), np.allclose(v, [1 / 2.1, 1 / 2.1]), dev < 1e-12
    (True, True, True)
    """
    x = np.asarray(x, dtype=float)
    off = np.zeros_like(x) if offset is None else np.asarray(offset, dtype=float)
    if n is not None:
        wt = np.asarray(n, dtype=float)
        y = x / wt
        mu = (wt * y + 0.5) / (wt + 1.0)
        eta = np.log(mu / (1.0 - mu))

        def parts(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return _logit_parts(eta)

        def dev(mu: np.ndarray) -> float:
            return float(np.sum(2.0 * wt * (_ylogy(y, mu) + _ylogy(1.0 - y, 1.0 - mu))))
    else:
        wt = np.ones_like(x)
        y = x
        eta = np.log(y + 0.1)

        def parts(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            m = np.maximum(np.exp(eta), _EPS)
            return m, m, m

        def dev(mu: np.ndarray) -> float:
            r = mu * wt
            pos = y > 0
            r[pos] = (wt * (y * np.log(np.where(pos, y, 1.0) / mu) - (y - mu)))[pos]
            return float(np.sum(2.0 * r))

    mu, me, var = parts(eta)
    d = dev_old = dev(mu)
    W = wt * me**2 / var
    for _ in range(maxit):
        W = wt * me**2 / var
        eta = eta + (y - mu) / me
        mu, me, var = parts(eta)
        d = dev(mu)
        if abs(d - dev_old) / (abs(d) + 0.1) < epsilon:
            break
        dev_old = d
    return eta - off, 1.0 / W, d


def wald_condition(var: np.ndarray) -> float:
    """``max(var) / min(var)`` of the saturated estimates: metafor inverts their ``vcov``
    in its own (dummy-coded) parametrisation, whose condition number this is, so its
    ``QE.Wld`` carries a relative rounding error of up to ~``eps * ratio`` (2e-6 on data
    with 0-event studies, whose glm variances are ~1e9; exact arithmetic agrees with ours:
    docs/glmm.md).  1.0 when there is nothing to compare."""
    v = np.asarray(var, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return float(v.max() / v.min()) if v.size > 1 else 1.0


def wald_residual(theta: np.ndarray, var: np.ndarray, X: np.ndarray) -> float:
    """``theta' (W - W X (X'WX)^-1 X'W) theta`` with ``W = diag(1 / var)``: do the effects
    follow ``X beta``?  (0 when there are no more effects than columns of ``X``.)"""
    theta, w = np.asarray(theta, float), 1.0 / np.asarray(var, float)
    X = np.asarray(X, float).reshape(theta.size, -1)
    if theta.size <= np.linalg.matrix_rank(X):
        return 0.0
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(X * sw[:, None], theta * sw, rcond=None)[0]
    return float(np.sum(w * (theta - X @ beta) ** 2))
