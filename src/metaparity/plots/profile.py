"""Profile likelihood plots of rma_mv's variance components (metafor's ``plot.profile.rma``).

The numbers come from :meth:`metaparity.MvResult.profile`
(:func:`metaparity.models.mv_profile.profile_mv`); ``profile_plot`` draws them (``profile``
is the data method, metafor's ``profile`` returning values), one panel per component laid
out as R's ``n2mfrow``: the profiled (restricted) log-likelihood against the component,
points joined by lines, the estimate and the fit's log-likelihood as dotted reference lines,
and optionally (``cline``) the log-likelihood at which the profile CI's bounds lie.

Examples
--------
>>> import numpy as np, metaparity as mp
>>> y = np.array([0.1, 0.3, 0.5, 0.2, 0.4, 0.0]); v = np.full(6, 0.02)
>>> res = mp.rma_mv(y, v, random="~ 1 | s", data={"s": [1, 1, 2, 2, 3, 3]})
>>> profile_plot(res, steps=5).axes[0].get_ylabel()
'Restricted Log-Likelihood'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from metaparity.models.mv import MvResult
from metaparity.models.mv_profile import MvProfile, ProfileCurve
from metaparity.models.results import RmaResult
from metaparity.plots._common import (
    C_STUDY,
    FONT,
    SMALL,
    check_dpi,
    check_path,
    new_figure,
    open_spines,
    save,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["profile_plot", "panel_grid"]

_GREEK = {"sigma2": r"\sigma^2", "tau2": r"\tau^2", "rho": r"\rho", "gamma2": r"\gamma^2",
          "phi": r"\phi"}  # fmt: skip


def panel_grid(n: int) -> tuple[int, int]:
    """(rows, columns) for ``n`` panels, as R's ``n2mfrow``."""
    if n <= 3:
        return n, 1
    if n <= 6:
        return (n + 1) // 2, 2
    if n <= 12:
        return (n + 2) // 3, 3
    cols = int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / cols)), cols


def _symbol(cv: ProfileCurve) -> str:
    g = _GREEK[cv.component]
    if cv.n_of_kind == 1:
        return f"${g}$"
    sq = g.endswith("^2")
    base = g[:-2] if sq else g
    return f"${base}_{{{cv.index + 1}}}{'^2' if sq else ''}$"


def profile_plot(
    obj: MvProfile | MvResult | RmaResult,
    path: str | Path | None = None,
    *,
    refline: bool = True,
    cline: bool | float = False,
    dpi: int = 150,
    **profile_args: Any,
) -> Figure:
    """Profile likelihood plot(s), as ``plot(profile(res))`` in metafor.

    Parameters
    ----------
    obj : MvProfile, MvResult or RmaResult
        Profiles (:meth:`MvResult.profile`, :meth:`RmaResult.profile`), or a fit to profile
        (``profile_args`` are passed to its ``profile()``: ``sigma2=``, ``xlim=``, ``steps=``
        ...).
    path : str or Path, optional
        Where to save (``.png``/``.svg``/``.pdf`` by suffix).
    refline : bool
        Dotted lines at the estimate and at the fit's log-likelihood (metafor's default).
    cline : bool or float
        A dashed line at the log-likelihood where the profile CI's bounds lie (``True``: the
        95% CI; a number: that level in percent).
    dpi : int
        Resolution of the figure and of a saved PNG.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per profiled component.
    """
    check_path(path)
    dpi = check_dpi(dpi)
    if isinstance(obj, MvResult | RmaResult):
        obj = obj.profile(**profile_args)
    elif profile_args:
        raise ValueError(f"{', '.join(profile_args)}: profile arguments need a fit, not a profile")
    if not isinstance(obj, MvProfile):
        raise TypeError(f"profile_plot: give a profile, an MvResult or an RmaResult, not "
                        f"{type(obj).__name__}")  # fmt: skip
    level = None
    if cline is not False:
        level = 95.0 if cline is True else float(cline)
        if not 0 < level < 100:
            raise ValueError(f"cline={cline!r}: give True or a level in (0, 100)")
    rows, cols = panel_grid(len(obj))
    fig = new_figure(4.2 * cols, 3.4 * rows, dpi)
    for i, cv in enumerate(obj.curves):
        ax = fig.add_subplot(rows, cols, i + 1)
        ok = np.isfinite(cv.ll)
        ax.plot(cv.values[ok], cv.ll[ok], "-o", color=C_STUDY, ms=4, lw=1.0, zorder=3)
        if refline:
            ax.axvline(cv.estimate, ls=":", color="#555555", lw=1.0)
            ax.axhline(cv.maxll, ls=":", color="#555555", lw=1.0)
        lo, hi = cv.ylim
        if level is not None:
            at = cv.maxll - float(stats.chi2.isf(1 - level / 100, 1)) / 2
            ax.axhline(at, ls="--", color="#555555", lw=1.0)
            lo = min(lo, at - 0.1)
        ax.set_ylim(lo, hi)
        ax.set_xlim(*cv.xlim)
        sym = _symbol(cv)
        ax.set_xlabel(f"{sym} Value", fontsize=FONT)
        ax.set_ylabel(("Restricted " if cv.method == "REML" else "") + "Log-Likelihood",
                      fontsize=FONT)  # fmt: skip
        ax.set_title(f"Profile Plot for {sym}", fontsize=10)
        ax.tick_params(labelsize=SMALL)
        open_spines(ax)
    fig.tight_layout()
    save(fig, path, dpi)
    return fig
