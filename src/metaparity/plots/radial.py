"""Radial (Galbraith) plot with metafor's arc of outcome values: metafor's ``radial()``.

matplotlib is imported only when a figure is drawn (:mod:`metaparity.plots._common`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from metaparity.plots._common import check_path, finish, new_figure
from metaparity.plots.funnel import LINE, POINT

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["radial"]


def _arc(ax: Axes, y: np.ndarray, b: float, r: float, ylo: float, yhi: float) -> None:
    """The outcome values as slopes, ticked and labelled at the right edge ``x = r``."""
    from matplotlib.ticker import MaxNLocator  # optional heavy dependency

    span = np.array([y.min(), y.max(), b])
    ticks = MaxNLocator(nbins=5).tick_values(float(span.min()), float(span.max()))
    for t in ticks:
        yt = t * r
        if ylo <= yt <= yhi:
            ax.annotate(f"{t:g}", (r, yt), xytext=(4, 0), textcoords="offset points",
                        va="center", fontsize=8, color=LINE, annotation_clip=False)  # fmt: skip
            ax.plot([r, r * 0.985], [yt, yt * 0.985], color=LINE, lw=0.8, clip_on=False)


def radial(res: Any, path: str | Path | None = None, *, title: str | None = None) -> Figure:
    """Radial (Galbraith) plot.

    Equivalent to ``metafor::radial(res)`` (alias ``galbraith(res)``).  x:
    ``1 / sqrt(vi + tau^2)`` (precision), y: ``yi / sqrt(vi + tau^2)`` (standardised
    outcome); the line through the origin has slope equal to the pooled estimate and
    the dashed lines ``+- z_{0.975}`` around it mark the 95% region (Galbraith 1988).
    With an equal-effects model ``tau^2 = 0``.  The right-hand scale shows the outcome
    ``yi`` along the arc of slopes, as metafor's arc.  For labelled points and subgroup
    colours see :func:`metaparity.plots.galbraith`.

    Parameters
    ----------
    res : RmaResult
        The fitted model (:func:`metaparity.rma`).
    path : str or Path, optional
        ``.png`` or ``.svg`` file to write.
    title : str, optional
        Printed above the plot.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08], method="EE")
    >>> fig = radial(res)
    >>> fig.axes[0].get_xlabel()
    'x_i = 1 / sqrt(v_i + tau^2)'
    """
    check_path(path)
    y = np.asarray(res.yi, dtype=float)
    tau2 = 0.0 if res.method in ("EE", "FE") else float(res.tau2)
    s = np.sqrt(np.asarray(res.vi, dtype=float) + tau2)
    x, z = 1.0 / s, y / s
    b = float(res.b)
    zc = stats.norm.isf(0.025)
    xmax = float(np.max(x)) * 1.08
    fig = new_figure(6.4, 4.8)
    ax = fig.add_subplot(1, 1, 1)
    xs = np.array([0.0, xmax])
    ax.fill_between(xs, b * xs - zc, b * xs + zc, color="#eeeeee", lw=0, zorder=0)
    ax.plot(xs, b * xs, color=LINE, lw=1.0, zorder=2, label=f"slope = estimate ({b:.3f})")
    for sgn in (-1, 1):
        ax.plot(xs, b * xs + sgn * zc, color=LINE, lw=0.8, ls="--", zorder=2)
    ax.axhline(0, color="#999999", lw=0.6, zorder=1)
    ax.scatter(x, z, s=30, color=POINT, zorder=4)
    ylo = min(float(np.min(z)), b * xmax - zc, -zc) - 0.5
    yhi = max(float(np.max(z)), b * xmax + zc, zc) + 0.5
    ax.set_xlim(0, xmax * 1.02)
    ax.set_ylim(ylo, yhi)
    _arc(ax, y, b, xmax * 1.02, ylo, yhi)
    ax.set_xlabel("x_i = 1 / sqrt(v_i + tau^2)")  # tau^2 = 0 for EE models
    ax.set_ylabel("z_i = y_i / sqrt(v_i + tau^2)")
    return finish(fig, ax, title, path)
