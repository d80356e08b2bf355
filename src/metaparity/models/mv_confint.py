"""Profile-likelihood confidence intervals of rma_mv's variance components
(``metafor::confint.rma.mv``).

For a component ``v`` (a ``sigma2``, ``tau2``, ``rho``, ``gamma2`` or ``phi``), the bounds are the
values where ``2 (ll_max - ll_profile(v))`` equals the ``chi^2_1`` quantile of ``level``; the
profile maximises the likelihood over all other components with ``v`` held fixed.  The
search intervals are metafor's: ``[0, max(10, 100 v)]`` for variances (``[0, 10]`` when
``v`` is ~0), ``[-1, 1]`` for correlations (``[0, 1]`` for CAR).  When the objective is
already inside at an end, that end is the bound (``lb_sign``/``ub_sign`` ``"<"``/``">"`` when
the end is not the parameter's limit); when the profile cannot be evaluated at an end (M
not positive definite), the end moves a tenth of the way towards the estimate, up to 10
times, as metafor's ``eptries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import optimize, stats

from metaparity._core.validation import check_level

if TYPE_CHECKING:  # pragma: no cover
    from metaparity.models.mv import MvResult

__all__ = ["MvConfInt", "confint_mv", "select_components"]

_NAMES = {"sigma2": "sigma^2", "tau2": "tau^2", "rho": "rho", "gamma2": "gamma^2", "phi": "phi"}


@dataclass(frozen=True)
class MvConfInt:
    """One component's estimate and profile CI (``sqrt_*``: for variances, of its root)."""

    component: str
    index: int
    estimate: float
    ci_lb: float
    ci_ub: float
    lb_sign: str = ""
    ub_sign: str = ""
    level: float = 95.0

    @property
    def label(self) -> str:
        """metafor's row name (``sigma^2.1``, ``rho`` ...)."""
        return f"{_NAMES[self.component]}.{self.index + 1}"

    @property
    def sqrt(self) -> tuple[float, float, float]:
        """(estimate, lb, ub) of the square root (variances only)."""
        return float(np.sqrt(self.estimate)), float(np.sqrt(self.ci_lb)), float(np.sqrt(self.ci_ub))


def _estimated(res: MvResult) -> list[tuple[str, int]]:
    prob = res._problem
    out = [("sigma2", j) for j in prob.free_sig]
    for t, g in enumerate(prob.gts):
        vn, cn = ("tau2", "rho") if t == 0 else ("gamma2", "phi")
        out += [(vn, i) for i in range(g.n_var) if np.isnan(g.var_fixed[i])]
        out += [(cn, i) for i in range(g.n_cor) if np.isnan(g.cor_fixed[i])]
    return out


def _interval(res: MvResult, comp: str, est: float) -> tuple[float, float, float]:
    """(lower end, upper end, parameter limit below) of metafor's search."""
    if comp in ("sigma2", "tau2", "gamma2"):
        hi = 10.0 if est <= np.finfo(float).eps ** 0.5 else max(10.0, 100 * est)
        return 0.0, max(hi, 0.0), 0.0
    t = 0 if comp == "rho" else 1
    struct = res.struct[t]
    lo = min(0.0, est) if struct == "CAR" else -1.0
    return lo, 1.0, (0.0 if struct == "CAR" else -1.0)


def _one(res: MvResult, comp: str, j: int, level: float) -> MvConfInt:
    est = float(np.atleast_1d(getattr(res, comp))[j])
    llmax = res.logLik
    crit = float(stats.chi2.isf(1 - level / 100, 1))

    def f(v: float) -> float:
        return 2 * (llmax - res.profile_loglik(comp, j, v)) - crit

    lo, hi, limit = _interval(res, comp, est)
    top = 1.0 if comp in ("rho", "phi") else np.inf
    bounds, signs = [], []
    for end, inner_end in ((lo, est), (hi, est)):
        step = abs(end - inner_end) / 10
        found, sign, x = False, "", end
        for _ in range(10):
            fx = f(x)
            if np.isfinite(fx):
                if fx < 0:  # already inside at the end of the search interval
                    bound = x
                    if (x < est and x > limit) or (x > est and x < top):
                        sign = "<" if x < est else ">"
                else:
                    a, b = (x, est) if x < est else (est, x)
                    bound = optimize.brentq(f, a, b, xtol=1e-12 * max(1.0, abs(est)),
                                            rtol=4 * np.finfo(float).eps, maxiter=1000)  # fmt: skip
                found = True
                break
            x = x + step if x < est else x - step
        bounds.append(bound if found else float("nan"))
        signs.append(sign)
    return MvConfInt(comp, j, est, bounds[0], bounds[1], signs[0], signs[1], level)


def confint_mv(
    res: MvResult,
    sigma2: int | None = None,
    tau2: int | None = None,
    rho: int | None = None,
    gamma2: int | None = None,
    phi: int | None = None,
    level: float | None = None,
) -> MvConfInt | list[MvConfInt]:
    """Profile-likelihood CIs of the variance components of an rma_mv fit.

    Equivalent to ``metafor::confint(res, sigma2=, tau2=, rho=, gamma2=, phi=, level=)`` for an
    ``rma.mv`` fit (metafor's component numbers are 1-based, these 0-based).

    Parameters
    ----------
    res : MvResult
        A fit of :func:`metaparity.rma_mv`.
    sigma2, tau2, rho, gamma2, phi : int, optional
        The component (0-based) to profile; none given: every estimated component.
    level : float, optional
        Confidence level in percent (default: the model's).

    Returns
    -------
    MvConfInt, or a list of them (one per estimated component)
    """
    lv = res.level if level is None else check_level(level)
    chosen = select_components(res, sigma2, tau2, rho, gamma2, phi)
    if len(chosen) == 1 and any(v is not None for v in (sigma2, tau2, rho, gamma2, phi)):
        return _one(res, *chosen[0], lv)
    return [_one(res, c, j, lv) for c, j in chosen]


def select_components(res: MvResult, sigma2: int | None, tau2: int | None, rho: int | None,
                      gamma2: int | None, phi: int | None) -> list[tuple[str, int]]:  # fmt: skip
    """The (component, 0-based index) pairs asked for: one named, or every estimated one."""
    asked = [(c, v) for c, v in (("sigma2", sigma2), ("tau2", tau2), ("rho", rho),
                                 ("gamma2", gamma2), ("phi", phi)) if v is not None]  # fmt: skip
    est = _estimated(res)
    if len(asked) > 1:
        raise ValueError("give one component at a time (as metafor), or none for all")
    if asked:
        comp, j = asked[0][0], int(asked[0][1])
        if (comp, j) not in est:
            have = ", ".join(f"{c}={i}" for c, i in est) or "none"
            raise ValueError(
                f"{comp}={j} is not an estimated component of this model (estimated: {have})"
            )
        return [(comp, j)]
    if not est:
        raise ValueError("the model has no estimated variance components to profile")
    return est
