"""Bubble plot of a meta-regression: metafor's ``regplot()``.

The numbers are :func:`metaparity.analysis.regplot.regplot_data`'s (point sizes from the
weights, the regression line with the other moderators at their means, its CI and PI
bands, the labels); :func:`regplot` draws them.  matplotlib is imported only when a figure
is drawn (:mod:`metaparity.plots._common`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from metaparity.analysis.regplot import RegplotData, regplot_data
from metaparity.models.results import RmaResult
from metaparity.plots._common import check_path, finish, measure_label, new_figure, place_labels
from metaparity.plots.funnel import LINE

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["regplot", "regplot_data", "RegplotData"]

_FILL, _EDGE = "#bcd0e6", "#1f4e79"


def regplot(
    res: RmaResult, mod: Any = None, path: str | Path | None = None, *, pred: bool = True,
    ci: bool = True, pi: bool = False, shade: bool = True, refline: float | None = None,
    label: bool | str = False, xlab: str | None = None, ylab: str | None = None,
    title: str | None = None, level: float | None = None, predlim: Any = None,
    xvals: Any = None, plim: tuple[float, float] = (0.5, 3.0), psize: Any = None,
    transf: Any = None,
) -> Figure:  # fmt: skip
    """Bubble plot of a meta-regression: the outcomes against one moderator, point areas by
    weight, with the regression line and its CI (and PI) band.

    Equivalent to ``metafor::regplot(res, mod=, pred=, ci=, pi=, shade=, refline=, label=,
    level=, predlim=, xvals=, plim=, psize=, transf=)``; the numbers are
    :func:`regplot_data`'s.

    Parameters
    ----------
    res : RmaResult
        A meta-regression.
    mod : str or int, optional
        The moderator on the x-axis (see :func:`regplot_data`).
    path : str or Path, optional
        ``.png``, ``.svg`` or ``.pdf`` file to write.
    pred, ci, pi : bool
        Draw the regression line, its CI band, its prediction-interval band.
    shade : bool
        Fill the bands (else dashed and dotted bounds only).
    refline : float, optional
        A horizontal reference line (e.g. 0, or 1 after ``transf=exp``).
    label : bool or {"ciout", "piout"}
        Label all studies, or those outside the CI / PI of the line.
    xlab, ylab, title : str, optional
        Axis labels (default: the moderator's name; the measure's label) and a title.
    level, predlim, xvals, plim, psize, transf
        As :func:`regplot_data`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.5, 0.3, 0.9], [0.02, 0.03, 0.01, 0.04], mods=[1, 2, 3, 4])
    >>> fig = regplot(res, pi=True)
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('mods', 'Observed Outcome')
    """
    check_path(path)
    d = regplot_data(res, mod, level=level, predlim=predlim, xvals=xvals, plim=plim,
                     psize=psize, transf=transf, label=label)  # fmt: skip
    fig = new_figure(6.0, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    lv = f"{d.level:g}%"
    if pi and np.all(np.isfinite(d.pi_lb)):
        if shade:
            ax.fill_between(d.xs, d.pi_lb, d.pi_ub, color="#ececec", lw=0, zorder=1,
                            label=f"{lv} prediction interval")  # fmt: skip
        ax.plot(d.xs, d.pi_lb, color=LINE, lw=0.8, ls=":", zorder=2,
                label=None if shade else f"{lv} prediction interval")  # fmt: skip
        ax.plot(d.xs, d.pi_ub, color=LINE, lw=0.8, ls=":", zorder=2)
    if ci:
        if shade:
            ax.fill_between(d.xs, d.ci_lb, d.ci_ub, color="#d4d4d4", lw=0, zorder=1.5,
                            label=f"{lv} CI")  # fmt: skip
        ax.plot(d.xs, d.ci_lb, color=LINE, lw=0.8, ls="--", zorder=2,
                label=None if shade else f"{lv} CI")  # fmt: skip
        ax.plot(d.xs, d.ci_ub, color=LINE, lw=0.8, ls="--", zorder=2)
    if pred:
        ax.plot(d.xs, d.pred, color="black", lw=2.0, zorder=3, label="regression line")
    if refline is not None:
        ax.axhline(float(refline), color="#888888", lw=1.2, zorder=1.8)
    o = d.order
    # metafor's point size is R's cex: a circle of diameter ~ 0.75 * 8 pt * cex
    ax.scatter(d.xi[o], d.yi[o], s=(6.0 * d.psize[o]) ** 2, facecolor=_FILL, edgecolor=_EDGE,
               lw=0.8, zorder=4)  # fmt: skip
    ax.set_xlabel(xlab if xlab is not None else d.mod_name)
    ax.set_ylabel(ylab if ylab is not None else
                  measure_label(res.measure, back="transf" if d.transformed else None))  # fmt: skip
    if d.label.any():
        idx = np.flatnonzero(d.label)
        place_labels(fig, ax, d.xi[idx], d.yi[idx], [str(d.slab[i]) for i in idx])
    return finish(fig, ax, title, path, legend_loc="best")
