"""Q-profile confidence intervals for tau^2, tau, I^2 and H^2 (Viechtbauer 2007).

Equivalent to ``metafor::confint(res)`` for ``rma.uni`` models with or without
moderators: the bounds solve ``Q(tau2) = chi2_{k-p, 1-alpha/2}`` (lower) and
``Q(tau2) = chi2_{k-p, alpha/2}`` (upper) with the generalised Q statistic
``Q(tau2) = (y - X b)' W (y - X b)``, ``W = diag(1/(v + tau2))``, ``b`` the weighted
least-squares fit at ``tau2``; truncated at 0.  I^2 and H^2 bounds follow from the tau^2
bounds through the typical within-study variance ``vt = (k-p)/tr(P)``, as metafor does.

A bound is not capped (metafor's default search stops at ``tau2.max = max(100, 10
tau2)`` and prints ``>100``; the parity harness lifts that cap); when ``Q(0)`` is already
below the upper critical value both bounds are 0 (metafor's "null set").  ``fixed``: the coefficients with their Wald CIs at ``level`` (metafor's
``confint(res, fixed=TRUE)``: normal, or t with ``k - p`` df under t, knha, adhoc).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from metaparity._core.validation import check_level
from metaparity.engine.estimators import q_gen, solve_decreasing

if TYPE_CHECKING:  # pragma: no cover
    from metaparity.models.results import RmaResult

__all__ = ["ConfInt", "confint", "qprofile_tau2"]


@dataclass(frozen=True)
class ConfInt:
    """Estimates and bounds for the heterogeneity parameters."""

    tau2: float
    tau2_lb: float
    tau2_ub: float
    tau: float
    tau_lb: float
    tau_ub: float
    I2: float
    I2_lb: float
    I2_ub: float
    H2: float
    H2_lb: float
    H2_ub: float
    level: float
    #: the coefficients with their CIs at ``level`` (``estimate, ci_lb, ci_ub``, one row per
    #: coefficient), as ``confint(res, fixed=TRUE)$fixed``
    fixed: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "fixed"}

    def __str__(self) -> str:
        rows = [
            ("tau^2", self.tau2, self.tau2_lb, self.tau2_ub),
            ("tau", self.tau, self.tau_lb, self.tau_ub),
            ("I^2(%)", self.I2, self.I2_lb, self.I2_ub),
            ("H^2", self.H2, self.H2_lb, self.H2_ub),
        ]
        out = [f"{'':8s} {'estimate':>9s} {'ci.lb':>9s} {'ci.ub':>9s}"]
        out += [f"{n:8s} {e:9.4f} {lo:9.4f} {hi:9.4f}" for n, e, lo, hi in rows]
        return "\n".join(out)


def qprofile_tau2(
    y: np.ndarray, v: np.ndarray, m: np.ndarray, level: float = 95.0
) -> tuple[np.ndarray, np.ndarray]:
    """Q-profile bounds for tau^2 for every row of ``(n, k)`` arrays."""
    k = m.sum(-1)
    df = np.maximum(k - 1.0, 1.0)
    alpha = 1 - level / 100
    active = k > 1
    out = []
    for target in (stats.chi2.isf(alpha / 2, df), stats.chi2.ppf(alpha / 2, df)):

        def f(t, sel, target=target):
            q, dq = q_gen(y[sel], v[sel], m[sel], t)
            return q - target[sel], dq

        root, _, _ = solve_decreasing(f, np.zeros(y.shape[0]), active, newton=True)
        out.append(np.where(active, root, np.nan))
    return out[0], out[1]


def confint(res: RmaResult, level: float | None = None) -> ConfInt:
    """Q-profile CI for tau^2 (and tau, I^2, H^2) of a random-effects fit.

    Refused (``ValueError``, metafor's reason quoted) where ``metafor::confint`` stops:
    k = 1 (checked first, as metafor does, whatever the model), an equal-effects model,
    user weights, a fixed tau^2, sampling variances of 0.
    """
    if res.k <= 1:
        raise ValueError(
            f"confint(): the model has k = {res.k} study, so there is no heterogeneity to "
            "profile (metafor: 'Stopped because k = 1.'); a CI for tau^2 needs at least 2 "
            "studies"
        )
    if res.method in ("EE", "FE"):
        raise ValueError(
            "confint() needs a random-effects model; refit with a tau^2 estimator "
            "(e.g. method='REML' or 'DL')"
        )
    if res.weights is not None:
        raise ValueError("confint() is not available for models with user weights")
    if res.tau2_fix:
        raise ValueError(
            f"confint(): tau^2 was fixed at {res.tau2:g} (tau2=), not estimated; there is no "
            "interval for it (metafor: 'Model does not contain an estimated random-effects "
            "component.')"
        )
    if np.any(np.asarray(res.vi) <= 0):
        raise ValueError(
            "confint(): the model has sampling variances of 0; the Q-profile interval needs "
            "them positive (metafor: 'Cannot compute CI for tau^2 when there are non-positive "
            "sampling variances in the data.')"
        )
    lv = res.level if level is None else check_level(level)
    if res.X is None:
        y, v = res.yi[None, :], res.vi[None, :]
        lb, ub = qprofile_tau2(y, v, np.ones_like(y), lv)
        lo, hi = float(lb[0]), float(ub[0])
    else:
        lo, hi = qprofile_tau2_mods(res.yi, res.vi, res.X, lv, res.tau2)
    s2 = res.s2typ

    def i2(t: float) -> float:
        return 100 * t / (t + s2)

    def h2(t: float) -> float:
        return (t + s2) / s2

    return ConfInt(
        tau2=res.tau2,
        tau2_lb=lo,
        tau2_ub=hi,
        tau=float(np.sqrt(res.tau2)),
        tau_lb=float(np.sqrt(lo)),
        tau_ub=float(np.sqrt(hi)),
        I2=res.I2,
        I2_lb=i2(lo),
        I2_ub=i2(hi),
        H2=res.H2,
        H2_lb=h2(lo),
        H2_ub=h2(hi),
        level=lv,
        fixed=_fixed(res, lv),
    )


def _fixed(res: RmaResult, level: float) -> pd.DataFrame:
    """The coefficients and their Wald CIs at ``level`` (t(k-p) unless test="z")."""
    b = np.atleast_1d(np.asarray(res.b, dtype=float))
    se = np.atleast_1d(np.asarray(res.se, dtype=float))
    a = 1 - level / 100
    crit = stats.norm.isf(a / 2) if res.test == "z" else stats.t.isf(a / 2, res.k - res.p)
    return pd.DataFrame({"estimate": b, "ci_lb": b - crit * se, "ci_ub": b + crit * se},
                        index=list(res.coef_names))  # fmt: skip


def q_profile_mods(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """The generalised Q of a meta-regression at ``tau2``: ``min_b (y-Xb)' W (y-Xb)``."""
    w = 1.0 / (v + tau2)
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
    r = y - X @ coef
    return float(np.sum(w * r * r))


def qprofile_tau2_mods(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, level: float, tau2: float
) -> tuple[float, float]:
    """Q-profile bounds for tau^2 of one meta-regression (``k - p`` df), solved to rounding
    (Brent).  Q decreases from ``Q(0)`` to 0 as tau^2 grows, so each bound is 0 when ``Q(0)``
    is below its critical value, else the root, bracketed from ``max(100, 10 tau2)`` upwards
    (no cap, as the intercept-only :func:`qprofile_tau2`)."""
    k, p = X.shape
    a = 1 - level / 100
    q0 = q_profile_mods(y, v, X, 0.0)

    def bound(target: float) -> float:
        if q0 <= target:
            return 0.0
        hi = max(100.0, 10 * tau2)
        while q_profile_mods(y, v, X, hi) > target and hi < 1e300:
            hi *= 10.0
        return float(optimize.brentq(lambda t: q_profile_mods(y, v, X, t) - target, 0.0, hi,
                                     xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=1000))  # fmt: skip

    return bound(stats.chi2.isf(a / 2, k - p)), bound(stats.chi2.ppf(a / 2, k - p))
