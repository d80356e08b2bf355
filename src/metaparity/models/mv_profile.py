"""Profile log-likelihoods of rma_mv's variance components (``metafor::profile.rma.mv``).

For a component ``v``, the model is refitted with ``v`` held at each of ``steps`` values
(maximising over the other components); the profile is the (restricted) log-likelihood of
those fits, with their coefficients and CIs.  The default range is metafor's: for a variance
``[max(0, v/4), max(0.1, 4v)]``, for a correlation ``[max(-0.99999, v - 0.5),
min(0.99999, v + 0.5)]`` (lower end ``max(0, v - 0.5)`` for CAR).  A profiled value above the
fit's log-likelihood by ``lltol`` or more is warned about (the optimum may not be global).
Draw with :func:`metaparity.plots.profile_plot`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from metaparity.models.mv_confint import select_components

if TYPE_CHECKING:  # pragma: no cover
    from metaparity.models.mv import MvResult

__all__ = ["MvProfile", "ProfileCurve", "profile_mv"]

_VAR = ("sigma2", "tau2", "gamma2")


@dataclass(frozen=True)
class ProfileCurve:
    """One component's profile: the values, the profiled log-likelihoods (NaN where the fit
    failed), and b / ci_lb / ci_ub (one row per value) of those fits."""

    component: str
    index: int
    n_of_kind: int
    values: np.ndarray
    ll: np.ndarray
    b: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    estimate: float
    maxll: float
    xlim: tuple[float, float]
    method: str
    coef_names: tuple[str, ...]

    @property
    def label(self) -> str:
        """``sigma2`` or ``sigma2[2]`` (1-based, as metafor's plot titles)."""
        return self.component if self.n_of_kind == 1 else f"{self.component}[{self.index + 1}]"

    @property
    def ylim(self) -> tuple[float, float]:
        """metafor's y range: the finite values (and the maximum when the estimate is in
        range), widened by 0.1 on both sides."""
        fin = self.ll[np.isfinite(self.ll)]
        if fin.size == 0:
            return self.maxll - 0.1, self.maxll + 0.1
        inside = self.xlim[0] <= self.estimate <= self.xlim[1]
        vals = np.append(fin, self.maxll) if inside else fin
        return float(vals.min()) - 0.1, float(vals.max()) + 0.1


@dataclass(frozen=True)
class MvProfile:
    """Profiles of one or more components (``curves``), in metafor's order."""

    curves: tuple[ProfileCurve, ...]

    def __len__(self) -> int:
        return len(self.curves)

    def __getitem__(self, i: int) -> ProfileCurve:
        return self.curves[i]


def _default_xlim(res: MvResult, comp: str, est: float) -> tuple[float, float]:
    if comp in _VAR:
        return max(0.0, est / 4), max(0.1, est * 4)
    struct = res.struct[0 if comp == "rho" else 1]
    if struct == "CAR":
        return max(0.0, est - 0.5), min(0.99999, est + 0.5)
    return max(-0.99999, est - 0.5), min(0.99999, est + 0.5)


def _check_xlim(res: MvResult, comp: str, xlim: Any) -> tuple[float, float]:
    lim = sorted(float(v) for v in np.atleast_1d(xlim))
    if len(lim) != 2:
        raise ValueError(f"xlim={xlim!r}: give two values (lower, upper)")
    lo, hi = lim
    if comp in _VAR and lo < 0:
        raise ValueError(f"xlim={xlim!r}: the lower bound for profiling {comp} must be >= 0")
    if comp in ("rho", "phi"):
        car = res.struct[0 if comp == "rho" else 1] == "CAR"
        if car and lo < 0:
            raise ValueError(f"xlim={xlim!r}: the lower bound for profiling a CAR {comp} must "
                             "be >= 0")  # fmt: skip
        if lo < -1:
            raise ValueError(f"xlim={xlim!r}: the lower bound for profiling {comp} must be >= -1")
        if not car and hi > 1:
            raise ValueError(f"xlim={xlim!r}: the upper bound for profiling {comp} must be <= 1")
    return lo, hi


def _curve(res: MvResult, comp: str, j: int, xlim: Any, steps: Any) -> ProfileCurve:
    est = float(np.atleast_1d(getattr(res, comp))[j])
    grid = np.atleast_1d(np.asarray(steps, dtype=float))
    if grid.size >= 2:
        lim = (
            (float(grid.min()), float(grid.max())) if xlim is None else _check_xlim(res, comp, xlim)
        )
        values = grid
    else:
        n = int(grid[0])
        lim = _default_xlim(res, comp, est) if xlim is None else _check_xlim(res, comp, xlim)
        if n < 2:
            raise ValueError(f"steps={steps!r}: give at least 2 points")
        values = np.linspace(lim[0], lim[1], n)
    p = res.p
    ll = np.full(values.size, np.nan)
    b = np.full((values.size, p), np.nan)
    se = np.full((values.size, p), np.nan)
    for i, v in enumerate(values):
        st = res.profile_state(comp, j, float(v))
        if np.isfinite(st.ll):
            ll[i], b[i] = st.ll, st.b
            se[i] = np.sqrt(np.diag(st.vb))
    alpha = 1 - res.level / 100
    crit = (stats.t.isf(alpha / 2, res.ddf) if res.test == "t"
            else np.full(p, stats.norm.isf(alpha / 2)))  # fmt: skip
    kind = len(np.atleast_1d(getattr(res, comp)))
    return ProfileCurve(comp, j, kind, values, ll, b, b - crit * se, b + crit * se, est,
                        float(res.logLik), lim, res.method, tuple(res.coef_names))  # fmt: skip


def profile_mv(
    res: MvResult,
    sigma2: int | None = None,
    tau2: int | None = None,
    rho: int | None = None,
    gamma2: int | None = None,
    phi: int | None = None,
    xlim: Any = None,
    steps: Any = 20,
    lltol: float = 1e-3,
) -> MvProfile:
    """Profile the (restricted) log-likelihood of an rma_mv fit over its variance components.

    Equivalent to ``metafor::profile(res, sigma2=, tau2=, rho=, gamma2=, phi=, xlim=, steps=,
    lltol=, plot=FALSE)`` for an ``rma.mv`` fit (metafor's component numbers are 1-based,
    these 0-based).

    Parameters
    ----------
    res : MvResult
        A fit of :func:`metaparity.rma_mv`.
    sigma2, tau2, rho, gamma2, phi : int, optional
        The component (0-based) to profile; none given: every estimated component.
    xlim : pair of float, optional
        The range profiled (default: metafor's, see the module docstring).
    steps : int or sequence of float
        Number of equally spaced values in ``xlim`` (default 20), or the values themselves.
    lltol : float
        Warn when a profiled log-likelihood exceeds the fit's by this much.

    Returns
    -------
    MvProfile
        One :class:`ProfileCurve` per component (``.plot()`` draws them).
    """
    chosen = select_components(res, sigma2, tau2, rho, gamma2, phi)
    curves = tuple(_curve(res, c, j, xlim, steps) for c, j in chosen)
    for cv in curves:
        if np.any(cv.ll[np.isfinite(cv.ll)] >= cv.maxll + lltol):
            warnings.warn(f"profile of {cv.label}: at least one profiled log-likelihood value "
                          "is larger than the log-likelihood of the fitted model (as metafor "
                          "warns): the fit may not be the global optimum", UserWarning,
                          stacklevel=3)  # fmt: skip
        if not np.isfinite(cv.ll).any():
            warnings.warn(f"profile of {cv.label}: all model fits failed", UserWarning,
                          stacklevel=3)  # fmt: skip
    return MvProfile(curves)
