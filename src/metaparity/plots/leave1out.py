"""Leave-one-out forest plot of a fitted model; the numbers come from
:func:`metaparity.leave1out`.

The plot is ``leave1out_plot`` (``leave1out`` is the data function, as metafor's);
``plot_leave1out`` is its older name.  matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from metaparity.analysis.diagnostics import leave1out
from metaparity.effects.transforms import resolve
from metaparity.models.uni import RmaResult
from metaparity.plots._common import (
    C_REF,
    C_STUDY,
    FONT,
    SMALL,
    check_dpi,
    check_path,
    fmt_num,
    new_figure,
    open_spines,
    save,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["leave1out_plot", "plot_leave1out"]


def _fmt(x: float) -> str:
    return fmt_num(float(x), 2, nan="NA")


def _table(ax: Axes, res: RmaResult, rows: np.ndarray, est, lb, ub, i2, full) -> None:
    """The right-hand table, in axes-fraction x so it sits beside the graph."""
    tr = ax.get_yaxis_transform()
    k = res.k
    kw: dict[str, Any] = {"transform": tr, "fontsize": SMALL, "clip_on": False}
    ax.text(1.02, k + 0.55, f"Estimate [{res.level:g}% CI]", fontweight="bold", ha="left",
            va="bottom", **kw)  # fmt: skip
    ax.text(1.30, k + 0.55, "I²", fontweight="bold", ha="right", va="bottom", **kw)
    for r, e, a, b, q in zip(rows, est, lb, ub, i2, strict=True):
        ax.text(1.02, r, f"{_fmt(e)} [{_fmt(a)}, {_fmt(b)}]", ha="left", va="center", **kw)
        ax.text(1.30, r, f"{q:.0f}%", ha="right", va="center", **kw)
    e, a, b = full
    ax.text(1.02, 0.35, f"All studies: {_fmt(e)} [{_fmt(a)}, {_fmt(b)}]", color=C_REF,
            ha="left", va="center", **kw)  # fmt: skip


def leave1out_plot(
    res: RmaResult,
    path: str | Path | None = None,
    *,
    transf: Callable[[Any], Any] | str | bool | None = None,
    xlab: str = "Estimate",
    dpi: int = 150,
    title: str | None = None,
) -> Figure:
    """Leave-one-out forest plot: the pooled estimate and CI without each study.

    Equivalent to ``forest(leave1out(res))`` in metafor.  The full-data estimate is the
    dashed line, its CI the shaded band; each row is annotated with the estimate [CI] and
    I² of the fit without that study.

    Parameters
    ----------
    res : RmaResult
        Fitted model (``k >= 2``).
    path : str or Path, optional
        Where to save (``.png``/``.svg``/``.pdf`` by suffix).
    transf : callable, str or True, optional
        Applied to estimates and bounds before plotting (e.g. ``numpy.exp``, ``"exp"``,
        or True for the measure's back-transform).
    xlab : str
        x-axis label.
    dpi : int
        Resolution of the figure and of a saved PNG.
    title : str, optional
        Default names the method, the test and k.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL")
    >>> len(leave1out_plot(res).axes[0].get_yticklabels())
    4
    """
    check_path(path)
    dpi = check_dpi(dpi)
    lo = leave1out(res)
    tf = resolve(transf, res.measure, res.ni)  # a callable, a name ("exp", ...) or True

    def f(a: Any) -> np.ndarray:
        return np.asarray(a, dtype=float) if tf is None else np.asarray(tf(a))

    est, lb, ub = f(lo.estimate), f(lo.ci_lb), f(lo.ci_ub)
    full, flb, fub = (float(f(np.array([x]))[0]) for x in (res.b, res.ci_lb, res.ci_ub))
    k = res.k
    fig = new_figure(7.2, 1.1 + 0.26 * (k + 1), dpi)
    ax = fig.add_subplot(1, 1, 1)
    rows = np.arange(k)[::-1] + 1.0
    ax.axvspan(flb, fub, color="#f3d4d8", zorder=0, lw=0)
    ax.axvline(full, color=C_REF, ls="--", lw=1.0, zorder=1)
    ax.hlines(rows, lb, ub, color=C_STUDY, lw=1.1, zorder=2)
    ax.scatter(est, rows, marker="s", s=18, color=C_STUDY, zorder=3)
    ax.set_yticks(rows)
    ax.set_yticklabels([f"Omitting {s}" for s in lo.slab], fontsize=SMALL)
    ax.set_ylim(0.3, k + 0.8)
    lo_x = float(np.nanmin(np.concatenate([lb, [flb]])))
    hi_x = float(np.nanmax(np.concatenate([ub, [fub]])))
    pad = 0.05 * (hi_x - lo_x if hi_x > lo_x else 1.0)
    ax.set_xlim(lo_x - pad, hi_x + pad)
    ax.set_xlabel(xlab, fontsize=FONT)
    ax.tick_params(axis="x", labelsize=SMALL)
    open_spines(ax, ("top", "right", "left"))
    ax.tick_params(axis="y", length=0)
    _table(ax, res, rows, est, lb, ub, lo.I2, (full, flb, fub))
    ax.set_title(
        title or f"Leave-one-out analysis ({res.method}, test = {res.test}, k = {k})",
        fontsize=10, loc="left",
    )  # fmt: skip
    save(fig, path, dpi)
    return fig


#: the older name of :func:`leave1out_plot`
plot_leave1out = leave1out_plot
