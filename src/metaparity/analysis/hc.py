"""The Henmi-Copas confidence interval of a random-effects meta-analysis (``metafor::hc``).

Henmi & Copas (2010, Stat Med 29:2969-2983) keep the fixed-effect estimate
``b = sum(w y) / sum(w)``, ``w = 1/v``, which does not depend on tau^2 and so is less
affected by publication bias than the random-effects estimate, and give it an interval
that allows for heterogeneity.  With ``W_j = sum(w^j) / sum(w)`` (``W1 = sum(w)``), the DL
estimate ``tau2 = max(0, (Q - (k - 1)) / (W1 - W2))``, ``Var(b) = (tau2 W2 + 1) / W1``
and ``R = (b - theta) sqrt(W1)`` with ``Var(R) = 1 + tau2 W2``, the statistic
``U = (b - theta) / se(b)`` is ``R / sqrt(f(Q))``, ``f(Q)^2 = 1 + (Q - (k-1)) / (W1/W2 - 1)``
(tau2 replaced by its estimate).  Q given ``R = r`` is taken to be gamma with the
conditional mean ``E(Q | r)`` and variance ``Var(Q | r)`` of the paper's appendix, so

    P(U > u) = integral_{t}^{inf} G(f^-1(r / t) | r sd(R)) phi(r) dr,    u = sd(R) t,

with ``G`` the gamma cdf, ``phi`` the normal density and ``f^-1(f) = (W1/W2 - 1)(f^2 - 1)
+ (k - 1)``.  ``t0`` solves ``P = alpha / 2`` on ``[0, 2]`` and the interval is
``b -/+ sd(R) t0 se(b)``.  The integral and the root are computed to near machine
precision (QUADPACK via scipy, Brent); metafor's default ``uniroot`` tolerance is
``eps^(1/4)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import integrate, optimize, stats

from metaparity.analysis._diag_common import _need_no_moderators
from metaparity.effects.transforms import resolve
from metaparity.models.results import RmaResult

__all__ = ["HcResult", "hc"]


@dataclass(frozen=True)
class HcResult:
    """The Henmi-Copas interval next to the model's (what ``metafor::hc`` returns).

    Attributes
    ----------
    beta, se, ci_lb, ci_ub : float
        The fixed-effect estimate, its standard error allowing for heterogeneity and the
        Henmi-Copas interval (``se`` NaN under ``transf``).
    beta_rma, se_rma, ci_lb_rma, ci_ub_rma : float
        The same for the fitted model.
    tau2, tau2_rma : float
        The DL estimate the method uses, and the model's tau^2.
    method, method_rma : str
        ``"DL"`` and the model's estimator.
    level : float
        Confidence level in percent.
    t0 : float
        The root of the defining equation (``u0 = sd(R) t0``).

    Examples
    --------
    >>> import metaparity as mp
    >>> h = hc(mp.rma([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.05]))
    >>> list(h.to_frame().index), list(h.to_frame().columns)
    (['rma', 'hc'], ['method', 'tau2', 'estimate', 'se', 'ci.lb', 'ci.ub'])
    """

    beta: float
    se: float
    ci_lb: float
    ci_ub: float
    beta_rma: float
    se_rma: float
    ci_lb_rma: float
    ci_ub_rma: float
    tau2: float
    tau2_rma: float
    method: str
    method_rma: str
    level: float
    t0: float

    def to_frame(self) -> pd.DataFrame:
        """Two rows, ``rma`` and ``hc``, as ``print(hc(res))`` shows them."""
        rows = {
            "rma": (self.method_rma, self.tau2_rma, self.beta_rma, self.se_rma,
                    self.ci_lb_rma, self.ci_ub_rma),
            "hc": (self.method, self.tau2, self.beta, self.se, self.ci_lb, self.ci_ub),
        }  # fmt: skip
        return pd.DataFrame.from_dict(
            rows, orient="index", columns=["method", "tau2", "estimate", "se", "ci.lb", "ci.ub"]
        )


def hc(res: RmaResult, transf: Any = None, tol: float = 1e-14) -> HcResult:
    """Henmi-Copas confidence interval for the pooled effect of a random-effects model.

    Equivalent to ``metafor::hc(res)`` (``hc.rma.uni``); see the module for the method.

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` without moderators, ``k >= 2``, all sampling
        variances positive.  Only its ``yi``, ``vi``, level and (for the ``rma`` row)
        estimate are used: the method itself always uses the fixed-effect estimate and DL.
    transf : None, str or callable
        Applied to the estimates and bounds (the SEs become NaN), as metafor's ``transf``;
        names as in :func:`metaparity.rma`'s ``predict`` (``"exp"``, ``"ilogit"`` ...).
    tol : float
        Tolerance of the root (metafor: ``control = list(tol = .Machine$double.eps^0.25)``).

    Returns
    -------
    HcResult

    Raises
    ------
    TypeError
        ``res`` is not a model from :func:`metaparity.rma`, or has moderators (metafor:
        "Method only applicable to models without moderators.").
    ValueError
        k = 1; a sampling variance is not positive; no root in ``[0, 2]`` (metafor: "Error
        in uniroot().").

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.05])
    >>> h = hc(res)  # metafor: hc(res)
    >>> round(h.beta, 4), round(h.ci_lb, 4), round(h.ci_ub, 4)
    (0.2704, -0.052, 0.5927)
    """
    _need_no_moderators(res, "hc")
    y, v = np.asarray(res.yi, float), np.asarray(res.vi, float)
    k = y.size
    if k < 2:
        raise ValueError("hc(): stopped because k = 1 (metafor: 'Stopped because k = 1.')")
    if not (v > 0).all():
        i = int(np.flatnonzero(~(v > 0))[0])
        lab = res.slab[i] if res.slab is not None else i + 1
        raise ValueError(
            f"hc(): study {lab} has sampling variance {v[i]:g}; the method needs every "
            "variance > 0 (metafor: 'Cannot use method when one or more sampling variances "
            "are non-positive.') -- drop the study or refit without it"
        )
    alpha = 1.0 - res.level / 100.0
    b, se, tau2, sdr, t0 = _henmi_copas(y, v, alpha, tol)
    u0 = sdr * t0
    lo, hi = b - u0 * se, b + u0 * se
    rma_b, rma_se = float(res.b), float(res.se)
    rma_lo, rma_hi = float(res.ci_lb), float(res.ci_ub)
    f = resolve(transf, res.measure, res.ni)
    if f is not None:
        b, lo, hi, rma_b, rma_lo, rma_hi = (float(np.asarray(f(np.asarray(x, dtype=float))))
                                            for x in (b, lo, hi, rma_b, rma_lo, rma_hi))  # fmt: skip
        se = rma_se = float("nan")
        lo, hi = min(lo, hi), max(lo, hi)
        rma_lo, rma_hi = min(rma_lo, rma_hi), max(rma_lo, rma_hi)
    return HcResult(beta=b, se=se, ci_lb=lo, ci_ub=hi, beta_rma=rma_b, se_rma=rma_se,
                    ci_lb_rma=rma_lo, ci_ub_rma=rma_hi, tau2=tau2, tau2_rma=float(res.tau2),
                    method="DL", method_rma=res.method, level=float(res.level), t0=t0)  # fmt: skip


def _henmi_copas(y: np.ndarray, v: np.ndarray, alpha: float,
                 tol: float) -> tuple[float, float, float, float, float]:  # fmt: skip
    """``b``, ``se(b)``, the DL tau^2, ``sd(R)`` and the root ``t0``."""
    k = y.size
    w = 1.0 / v
    W1 = w.sum()
    W2, W3, W4 = ((w**j).sum() / W1 for j in (2, 3, 4))
    b = float((w * y).sum() / W1)
    Q = float((w * (y - b) ** 2).sum())
    tau2 = max(0.0, (Q - (k - 1)) / (W1 - W2))
    se = float(np.sqrt((tau2 * W2 + 1.0) / W1))
    VR = 1.0 + tau2 * W2
    sdr = float(np.sqrt(VR))
    d3 = W3 - W2**2

    def moments(r: float) -> tuple[float, float]:
        """E(Q | R = r) and Var(Q | R = r) (Henmi & Copas 2010, appendix)."""
        a = r * r / VR**2 - 1.0 / VR
        eq = (k - 1) + tau2 * (W1 - W2) + tau2**2 * a * d3
        vq = (2 * (k - 1) + 4 * tau2 * (W1 - W2) + 2 * tau2**2 * (W1 * W2 - 2 * W3 + W2**2)
              + 4 * tau2**2 * a * d3 + 4 * tau2**3 * a * (W4 - 2 * W2 * W3 + W2**3)
              + 2 * tau2**4 * (1.0 / VR**2 - 2.0 * r * r / VR**3) * d3**2)  # fmt: skip
        return eq, vq

    def finv(f: float) -> float:
        return (W1 / W2 - 1.0) * (f * f - 1.0) + (k - 1)

    def tail(x: float) -> float:
        if x == 0.0:  # r / 0 = inf: the gamma cdf is 1
            return 0.5 - alpha / 2

        def integrand(r: float) -> float:
            eq, vq = moments(sdr * r)
            return float(stats.gamma.cdf(finv(r / x), a=eq * eq / vq, scale=vq / eq)
                         * stats.norm.pdf(r))  # fmt: skip

        val, _ = integrate.quad(integrand, x, np.inf, epsabs=1e-15, epsrel=1e-13, limit=200)
        return float(val) - alpha / 2

    lo, hi = tail(0.0), tail(2.0)
    if not (np.isfinite(hi) and lo * hi < 0):
        raise ValueError(
            "hc(): the Henmi-Copas equation has no root in [0, 2] (metafor: 'Error in "
            f"uniroot().'): its value is {lo:.3g} at 0 and {hi:.3g} at 2"
        )
    t0 = optimize.brentq(tail, 0.0, 2.0, xtol=tol, rtol=4 * np.finfo(float).eps, maxiter=1000)
    return b, se, tau2, sdr, float(t0)
