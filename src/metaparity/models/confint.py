"""Q-profile confidence intervals for tau^2, tau, I^2 and H^2 (Viechtbauer 2007).

Equivalent to ``metafor::confint(res)`` for ``rma.uni`` models without
moderators: the bounds solve ``Q(tau2) = chi2_{k-1, 1-alpha/2}`` (lower) and
``Q(tau2) = chi2_{k-1, alpha/2}`` (upper) with the generalised Q statistic,
truncated at 0.  I^2 and H^2 bounds follow from the tau^2 bounds through the
typical within-study variance, as metafor does.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

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

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

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
    y, v = res.yi[None, :], res.vi[None, :]
    lb, ub = qprofile_tau2(y, v, np.ones_like(y), lv)
    lo, hi = float(lb[0]), float(ub[0])
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
    )
