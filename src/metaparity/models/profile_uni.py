"""Profile of the (restricted) log-likelihood of an rma fit in tau^2 (``metafor::profile.rma.uni``).

At each of ``steps`` values of tau^2 the model is refitted with tau^2 held there (same rows,
design, estimator, test, level, weights); the profile is that fit's log-likelihood -- the
restricted one for a REML fit, else ML's, as ``logLik`` -- with its coefficients and CIs.
All refits run at once through the batch engines.  The default range is metafor's:
``[min(tau2, lb), max(0.1, tau2, ub)]`` from the Q-profile CI (:func:`confint`), else from the
Wald interval ``tau2 -+ z_0.995 se(tau2)`` (clipped at 0 and 0.1), else ``[tau2/4,
max(0.1, 4 tau2)]``.  metafor's own Q-profile CI runs at its default root tolerance
(``.Machine$double.eps^0.25``), so its automatic range differs from this exact one by up to
~1e-4; give ``xlim=`` to profile the same grid.  Draw with
:func:`metaparity.plots.profile_plot`.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from metaparity.engine import reference
from metaparity.engine.mods import fit_mods
from metaparity.models.confint import confint
from metaparity.models.fitstats import uni_fit_stats
from metaparity.models.mv_profile import MvProfile, ProfileCurve

if TYPE_CHECKING:  # pragma: no cover
    from metaparity.models.results import RmaResult

__all__ = ["profile_uni"]


def _default_xlim(res: RmaResult) -> tuple[float, float]:
    lb = ub = float("nan")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ci = confint(res)
        lb, ub = min(res.tau2, ci.tau2_lb), max(0.1, res.tau2, ci.tau2_ub)
    except ValueError:
        pass
    if not (np.isfinite(lb) and np.isfinite(ub)):
        z = float(stats.norm.isf(0.005))
        lb, ub = max(0.0, res.tau2 - z * res.se_tau2), max(0.1, res.tau2 + z * res.se_tau2)
    if not (np.isfinite(lb) and np.isfinite(ub)):
        lb, ub = max(0.0, res.tau2 / 4), max(0.1, res.tau2 * 4)
    return float(lb), float(ub)


def profile_uni(
    res: RmaResult, xlim: Any = None, steps: Any = 20, lltol: float = 1e-3
) -> MvProfile:
    """Profile the (restricted) log-likelihood of an rma fit over tau^2.

    Equivalent to ``metafor::profile(res, xlim=, steps=, lltol=, plot=FALSE)`` for an
    ``rma.uni`` fit, with or without moderators.

    Parameters
    ----------
    res : RmaResult
        A random-effects fit of :func:`metaparity.rma` (tau^2 estimated).
    xlim : pair of float, optional
        The range of tau^2 (default: metafor's, see the module docstring).
    steps : int or sequence of float
        Number of equally spaced values in ``xlim`` (default 20), or the values.
    lltol : float
        Warn when a profiled log-likelihood of an ML/REML fit exceeds the fit's by this much.

    Returns
    -------
    MvProfile
        One :class:`~metaparity.models.mv_profile.ProfileCurve` (component ``"tau2"``).

    Raises
    ------
    ValueError
        An EE/FE/CE fit or a fixed tau^2 (metafor: "Cannot profile tau^2 parameter for
        equal/fixed-effects models." / "Model does not contain a (correctly specified)
        random-effects component."), ``xlim`` not two values >= 0, fewer than 2 steps.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.5, 0.3, 0.9, 0.2], [0.02, 0.03, 0.01, 0.04, 0.02])
    >>> pr = profile_uni(res, xlim=(0, 0.2), steps=5)
    >>> pr[0].values.tolist(), bool(abs(pr[0].ll.max() - res.logLik) < 0.1)
    ([0.0, 0.05, 0.1, 0.15000000000000002, 0.2], True)
    """
    if res.method in ("EE", "FE", "CE"):
        raise ValueError(
            f"profile(): an {res.method} model has no tau^2 to profile (metafor: 'Cannot "
            "profile tau^2 parameter for equal/fixed-effects models.'); fit a random-effects "
            "model (e.g. method='REML')"
        )
    if res.tau2_fix:
        raise ValueError(
            f"profile(): tau^2 was fixed at {res.tau2:g} (tau2=), not estimated (metafor: "
            "'Model does not contain a (correctly specified) random-effects component.')"
        )
    grid = np.atleast_1d(np.asarray(steps, dtype=float))
    if grid.size >= 2:
        values = grid
        lim = (float(grid.min()), float(grid.max())) if xlim is None else _check(xlim)
    else:
        if int(grid[0]) < 2:
            raise ValueError(f"steps={steps!r}: give at least 2 points (metafor: 'Argument "
                             "'steps' must be >= 2.')")  # fmt: skip
        lim = _default_xlim(res) if xlim is None else _check(xlim)
        values = np.linspace(lim[0], lim[1], int(grid[0]))
    if np.any(values < 0):
        raise ValueError(f"steps: tau^2 values must be >= 0 (got {values.min():g})")
    n = values.size
    y = np.tile(np.asarray(res.yi, dtype=float), (n, 1))
    v = np.tile(np.asarray(res.vi, dtype=float), (n, 1))
    w = None if res.weights is None else np.tile(np.asarray(res.weights, float).ravel(), (n, 1))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if res.X is None:
            out = reference.fit(y, v, np.ones_like(y), method=res.method, test=res.test,
                                level=res.level, weights=w, weighted=res.weighted,
                                tau2_fix=values)  # fmt: skip
            b, lo, hi = (np.asarray(out[q], float)[:, None] for q in ("b", "ci_lb", "ci_ub"))
        else:
            X = np.tile(np.asarray(res.X, dtype=float), (n, 1, 1))
            out = fit_mods(y, v, X, method=res.method, test=res.test, level=res.level,
                           btt=list(res.btt), intercept=res.intercept, weights=w,
                           weighted=res.weighted, tau2_fix=values)  # fmt: skip
            b, lo, hi = (np.asarray(out[q], float) for q in ("b", "ci_lb", "ci_ub"))
    col = "REML" if res.method == "REML" else "ML"
    ll = np.array([
        uni_fit_stats(res.yi, res.vi, res.X, b[i], float(t), res.p)[col]["ll"]
        if np.all(np.isfinite(b[i])) and np.all(np.asarray(res.vi) + t > 0) else np.nan
        for i, t in enumerate(values)
    ])  # fmt: skip
    maxll = float(res.logLik)
    if res.method in ("ML", "REML") and np.any(ll >= maxll + lltol):
        warnings.warn("At least one profiled log-likelihood value is larger than the "
                      "log-likelihood of the fitted model (as metafor).", UserWarning,
                      stacklevel=2)  # fmt: skip
    curve = ProfileCurve("tau2", 0, 1, values, ll, b, lo, hi, float(res.tau2), maxll, lim,
                         res.method, tuple(res.coef_names))  # fmt: skip
    return MvProfile((curve,))


def _check(xlim: Any) -> tuple[float, float]:
    lim = sorted(float(x) for x in np.atleast_1d(xlim))
    if len(lim) != 2:
        raise ValueError(f"xlim={xlim!r}: give two values (lower, upper)")
    if lim[0] < 0:
        raise ValueError(f"xlim={xlim!r}: the lower bound for profiling tau^2 must be >= 0")
    return lim[0], lim[1]
