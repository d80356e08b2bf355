"""Funnel plot (plain and contour-enhanced, with trim-and-fill studies): metafor's ``funnel()``.

matplotlib is imported only when a figure is drawn (:mod:`metaparity.plots._common`).

Examples
--------
>>> import metaparity as mp
>>> from metaparity.plots import funnel
>>> res = mp.rma([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08], method="EE")
>>> fig = funnel(res)            # y axis: standard error, 0 at the top (metafor's default)
>>> fig.axes[0].get_ylabel()
'Standard Error'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from metaparity.plots._common import check_path, measure_label, new_figure, open_spines, save

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["funnel"]

#: formats the small-study-effect plots save to (PDF not opened to them yet)
BACK = "#d9d9d9"  # metafor: back = "lightgray"
POINT = "#111111"
LINE = "#333333"
# contour-enhanced shades from the inside out (metafor: shade = white, gray55, gray75)
_SHADES = ("#ffffff", "#8c8c8c", "#bfbfbf", "#e6e6e6")


def _p(a: float) -> str:
    return f"{a:.3f}".rstrip("0").lstrip("0") or "0"


def _levels(contours: Sequence[float] | None) -> list[float]:
    if contours is None:
        return []
    levels = sorted(float(c) / 100.0 if float(c) > 1 else float(c) for c in contours)
    if not levels or any(not 0 < c < 1 for c in levels):
        raise ValueError(f"contours={contours!r}: levels must lie in (0, 1) or (0, 100)")
    if len(levels) > 3:
        raise ValueError("contours: give at most three levels, e.g. (0.90, 0.95, 0.99)")
    return levels


def _contours(ax: Axes, levels: list[float], ref: float, smax: float) -> list[Any]:
    """Shade from the widest region inwards (p <= 1 - level outside each funnel); return
    the legend patches."""
    from matplotlib.patches import Patch  # optional heavy dependency

    for i, lev in reversed(list(enumerate(levels))):
        z = stats.norm.isf((1 - lev) / 2)
        ax.fill([ref, ref - z * smax, ref + z * smax], [0, smax, smax], color=_SHADES[i], lw=0,
                zorder=1)  # fmt: skip
    alph = [1 - lev for lev in levels]
    labels = [f"p > {_p(alph[0])}"]
    labels += [f"{_p(alph[i + 1])} < p \u2264 {_p(alph[i])}" for i in range(len(alph) - 1)]
    labels.append(f"p \u2264 {_p(alph[-1])}")
    colors = list(_SHADES[: len(levels)]) + [_SHADES[len(levels)]]
    return [
        Patch(facecolor=c, edgecolor="#777777", lw=0.6, label=lab)
        for c, lab in zip(colors, labels, strict=True)
    ]


def _legend(ax: Axes, handles: list[Any], n_filled: int) -> None:
    from matplotlib.lines import Line2D  # optional heavy dependency

    pts = [Line2D([], [], marker="o", ls="", color=POINT, label="Studies")]
    if n_filled:
        pts.append(Line2D([], [], marker="o", ls="", markerfacecolor="white",
                          markeredgecolor=POINT, label=f"Filled (k0 = {n_filled})"))  # fmt: skip
    ax.legend(handles=pts + handles, loc="lower left", bbox_to_anchor=(1.01, 0.0), fontsize=8,
              frameon=False, borderaxespad=0.0)  # fmt: skip


def funnel(
    res: Any,
    path: str | Path | None = None,
    *,
    trimfill: Any = None,
    contours: Sequence[float] | None = None,
    refline: float | None = None,
    xlab: str | None = None,
    title: str | None = None,
    legend: bool | None = None,
) -> Figure:
    """Funnel plot: outcomes against standard errors.

    Equivalent to ``metafor::funnel(res)``.  The y axis is the standard error, 0 at the
    top (metafor's default ``yaxis="sei"``); the vertical reference line is at the pooled
    estimate, the pseudo-confidence region ``estimate +- z_{0.975} SE`` is white on a
    light grey background.

    Parameters
    ----------
    res : RmaResult
        The fitted model (:func:`metaparity.rma`).
    path : str or Path, optional
        ``.png`` or ``.svg`` file to write.
    trimfill : TrimFillResult, optional
        The result of :func:`metaparity.analysis.bias.trimfill`: the filled studies are drawn
        hollow and the reference line is the estimate after filling (as
        ``funnel(trimfill(res))``).
    contours : sequence of float, optional
        Contour-enhanced funnel (Peters et al. 2008; metafor ``level=c(90, 95, 99),
        shade=...``): levels as fractions or percent, e.g. ``(0.90, 0.95, 0.99)``;
        regions of two-sided significance are shaded around ``refline`` (default 0).
    refline : float, optional
        Position of the reference line (default: the estimate; 0 with ``contours``).
    xlab : str, optional
        x-axis label; default from the measure (``"Log Risk Ratio"``, ...).
    title : str, optional
        Printed above the plot.
    legend : bool, optional
        Draw a legend (default: when there are contours or filled studies).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08])
    >>> fig = funnel(res, contours=(0.90, 0.95, 0.99))
    >>> len(fig.axes)
    1
    """
    check_path(path)
    y = np.asarray(res.yi, dtype=float)
    sei = np.sqrt(np.asarray(res.vi, dtype=float))
    yf = sf = None
    center = float(res.b)
    if trimfill is not None:
        fill = np.asarray(trimfill.fill, dtype=bool)
        yf = np.asarray(trimfill.yi, dtype=float)[fill]
        sf = np.sqrt(np.asarray(trimfill.vi, dtype=float)[fill])
        center = float(trimfill.fit.b)
    levels = _levels(contours)
    ref = (0.0 if levels else center) if refline is None else float(refline)
    all_se = sei if sf is None else np.concatenate([sei, sf])
    all_y = y if yf is None else np.concatenate([y, yf])
    smax = float(all_se.max()) * 1.05
    z95 = stats.norm.isf(0.025)
    half = (stats.norm.isf((1 - max(levels)) / 2) if levels else z95) * smax
    lo = min(float(all_y.min()), ref - half, center - z95 * smax)
    hi = max(float(all_y.max()), ref + half, center + z95 * smax)
    pad = 0.04 * (hi - lo)

    fig = new_figure(6.0, 4.8)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_facecolor(BACK if not levels else _SHADES[len(levels)])
    handles = []
    if levels:
        handles = _contours(ax, levels, ref, smax)
    else:
        ax.fill([center, center - z95 * smax, center + z95 * smax], [0, smax, smax],
                color="white", lw=0, zorder=1)  # fmt: skip
        se_grid = np.array([0.0, smax])
        for sgn in (-1, 1):
            ax.plot(center + sgn * z95 * se_grid, se_grid, color=LINE, lw=0.8, ls=":", zorder=2)
    ax.axvline(ref, color=LINE, lw=0.9, zorder=2)
    if levels and refline is None and center != ref:
        ax.axvline(center, color=LINE, lw=0.8, ls="--", zorder=2)
    ax.scatter(y, sei, s=30, color=POINT, zorder=4, label="Studies")
    n_filled = 0 if yf is None else int(yf.size)
    if yf is not None and sf is not None and n_filled:
        ax.scatter(yf, sf, s=30, facecolor="white", edgecolor=POINT, lw=1.0, zorder=4,
                   label=f"Filled studies (k0 = {n_filled})")  # fmt: skip
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(smax, 0)  # inverted: 0 at the top
    ax.set_xlabel(xlab or measure_label(getattr(res, "measure", "GEN")))
    ax.set_ylabel("Standard Error")
    if title:
        ax.set_title(title, fontsize=11)
    open_spines(ax)
    if legend if legend is not None else (bool(levels) or yf is not None):
        _legend(ax, handles, n_filled)
    save(fig, path, 150, pad_inches=0.12)
    return fig
