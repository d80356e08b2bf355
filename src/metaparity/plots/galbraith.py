"""Galbraith plot with study labels and subgroup colours.

:func:`galbraith` draws it for a fitted model; :func:`revman_galbraith` (older name
``galbraith_plot``) from plain numbers, as the reproduction report does.  The points and
lines are those of metafor's ``galbraith()``/``radial()``; :func:`metaparity.plots.radial`
draws metafor's own look (with the arc of outcome values).  matplotlib is imported only
when a figure is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from numpy.typing import ArrayLike

from metaparity.plots._common import (
    C_SMALL,
    C_STUDY,
    FONT,
    SMALL,
    TITLE,
    check_dpi,
    check_path,
    fmt_num,
    new_figure,
    num,
    open_spines,
    place_labels,
    require_mpl,
    save,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["galbraith", "revman_galbraith", "galbraith_plot"]

_PALETTE = ["#1f4e79", "#d1495b", "#2a9d8f", "#e9a03b", "#6a4c93", "#8a8a8a"]


def _check(
    yi: ArrayLike, vi: ArrayLike, labels: Sequence[str], tau2: float, b: float,
    groups: Sequence[str | None] | None,
) -> tuple[list[float], list[float], list[str], list[str | None] | None, float, float]:  # fmt: skip
    yv = [num(v) for v in yi]  # type: ignore[union-attr]
    vv = [num(v) for v in vi]  # type: ignore[union-attr]
    labs = [str(x) for x in labels]
    lens = {"yi": len(yv), "vi": len(vv), "labels": len(labs)}
    grp = None if groups is None else [None if g is None else str(g) for g in groups]
    if grp is not None:
        lens["groups"] = len(grp)
    if len(set(lens.values())) != 1:
        raise ValueError(
            "mismatched lengths: " + ", ".join(f"{k} has {v}" for k, v in lens.items())
        )
    if not yv:
        raise ValueError("galbraith_plot needs at least one study")
    t2, bb = num(tau2), num(b)
    if not math.isfinite(t2) or t2 < 0:
        raise ValueError(f"tau2 must be finite and >= 0, got {tau2!r}")
    if not math.isfinite(bb):
        raise ValueError(f"b must be finite, got {b!r}")
    for lab, y_, v_ in zip(labs, yv, vv, strict=True):
        if not math.isfinite(y_):
            raise ValueError(f"study {lab!r}: yi is {y_!r}")
        if not math.isfinite(v_) or v_ < 0:
            raise ValueError(f"study {lab!r}: vi must be finite and >= 0, got {v_!r}")
        if v_ + t2 <= 0:
            raise ValueError(f"study {lab!r}: vi + tau2 is {v_ + t2!r}; need > 0")
    return yv, vv, labs, grp, t2, bb


def _legend(ax: Axes, gnames: list[str], grp: list[str | None] | None) -> None:
    from matplotlib.lines import Line2D  # optional heavy dependency

    handles = [
        Line2D([], [], marker="o", ls="none", ms=6, mfc=_PALETTE[i % len(_PALETTE)], mec="white")
        for i in range(len(gnames))
    ]
    names = list(gnames)
    if grp is not None and any(g is None for g in grp):
        handles.append(Line2D([], [], marker="o", ls="none", ms=6, mfc=C_STUDY, mec="white"))
        names.append("(no group)")
    ax.legend(handles, names, loc="upper left", fontsize=SMALL, frameon=False)


def _draw(
    yv: list[float], vv: list[float], labs: list[str], grp: list[str | None] | None,
    t2: float, bb: float, title: str, dpi: int,
) -> Figure:  # fmt: skip
    xs = [1 / math.sqrt(v + t2) for v in vv]
    ys = [y / math.sqrt(v + t2) for y, v in zip(yv, vv, strict=True)]
    fig = new_figure(6.4, 4.8, dpi)
    ax = fig.add_axes((0.12, 0.12, 0.84, 0.78))
    xr = max(xs) * 1.12
    ax.plot([0.0, xr], [0, bb * xr], color="#222222", lw=1.1, zorder=2)
    for off in (-1.96, 1.96):
        ax.plot([0.0, xr], [off, bb * xr + off], color="#555555", lw=0.9, ls=(0, (4, 3)),
                zorder=2)  # fmt: skip
    ax.axhline(0, color="#bbbbbb", lw=0.6, zorder=1)
    gnames: list[str] = []
    for g in grp or []:
        if g is not None and g not in gnames:
            gnames.append(g)
    colours = [
        _PALETTE[gnames.index(g) % len(_PALETTE)] if g is not None else C_STUDY
        for g in (grp if grp is not None else [None] * len(xs))
    ]
    ax.scatter(xs, ys, s=36, c=colours, edgecolors="white", linewidths=0.6, zorder=4)
    ylo = min([*ys, -1.96 + min(0.0, bb * xr), 0.0])
    yhi = max([*ys, 1.96 + max(0.0, bb * xr), 0.0])
    pad = 0.08 * (yhi - ylo)
    ax.set_xlim(0, xr)
    ax.set_ylim(ylo - pad, yhi + pad)
    ax.set_xlabel("1 / SE", fontsize=FONT + 1)
    ax.set_ylabel("standardised estimate (y / SE)", fontsize=FONT + 1)
    ax.tick_params(labelsize=FONT)
    open_spines(ax)
    ax.set_title(title, fontsize=TITLE, fontweight="bold", loc="left")
    model = f"slope b = {fmt_num(bb, 3)}" + (f", \u03c4\u00b2 = {t2:.4g}" if t2 > 0 else "")
    ax.text(0.99, 0.02, model, transform=ax.transAxes, ha="right", va="bottom",
            fontsize=SMALL, color=C_SMALL)  # fmt: skip
    regression = [((0.0, off), (xr, bb * xr + off)) for off in (0.0, -1.96, 1.96)]
    _, left = place_labels(fig, ax, xs, ys, labs, key=lambda i: -xs[i], right_slack_px=60,
                           lines=regression)  # fmt: skip
    if left:
        ax.text(0.01, 0.02, f"{len(left)} of {len(labs)} labels left out (no free space)",
                transform=ax.transAxes, ha="left", va="bottom", fontsize=SMALL,
                color=C_SMALL)  # fmt: skip
    if gnames:
        _legend(ax, gnames, grp)
    return fig


def revman_galbraith(
    yi: ArrayLike,
    vi: ArrayLike,
    labels: Sequence[str],
    *,
    tau2: float = 0.0,
    b: float,
    groups: Sequence[str | None] | None = None,
    title: str,
    path: str | Path | None = None,
    dpi: int = 150,
) -> Figure:
    """Draw a Galbraith (radial) plot from plain numbers, as metafor's ``radial()``.

    Each study is a point at ``x = 1/sqrt(vi + tau2)``, ``y = yi/sqrt(vi + tau2)``; the
    line through the origin has slope ``b`` (the pooled estimate) and the dashed lines
    ``y = b x +/- 1.96`` bound the region where about 95 % of the studies fall when they
    are homogeneous.  ``galbraith_plot`` is the same function under its older name.

    Parameters
    ----------
    yi, vi : array_like of float
        Effect sizes and sampling variances (analysis scale).
    labels : sequence of str
        Study labels, printed next to the points.
    tau2 : float
        Between-study variance added to ``vi`` (0 for a fixed-effect plot).
    b : float
        Pooled estimate (slope of the line).
    groups : sequence of str or None, optional
        Subgroup of each study; points are coloured by group, with a legend.
    title : str
        Printed above the plot.
    path : str or Path, optional
        Save the figure there (``.png``, ``.svg`` or ``.pdf`` by suffix; parent folders
        are created).
    dpi : int
        Resolution of the figure and of a saved PNG.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        Mismatched lengths or bad numbers, naming the study and the value.
    ImportError
        matplotlib is not installed.

    Examples
    --------
    ``revman_galbraith([0.66, 0.32], [0.011, 0.0018], ["A", "B"], b=0.45, title="ORR")``
    returns the figure.
    """
    checked = _check(yi, vi, labels, tau2, b, groups)
    dpi = check_dpi(dpi)
    check_path(path)
    require_mpl()
    fig = _draw(*checked, title, dpi)
    save(fig, path, dpi)
    return fig


#: the older name of :func:`revman_galbraith`
galbraith_plot = revman_galbraith


def galbraith(
    res: Any,
    *,
    groups: Sequence[str | None] | None = None,
    title: str | None = None,
    path: str | Path | None = None,
    dpi: int = 150,
) -> Figure:
    """Galbraith plot of a fitted model, each point labelled with its study.

    Equivalent to ``metafor::galbraith(res)`` (an alias of ``radial(res)``): points at
    ``(1/sqrt(vi + tau2), yi/sqrt(vi + tau2))`` -- ``tau2 = 0`` for an equal-effects
    model -- the line of slope ``b`` and the band ``+/- 1.96`` around it.  Unlike
    :func:`metaparity.plots.radial` it labels the points (``res.slab``, else
    "Study 1", ...) and can colour subgroups.

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma`.
    groups : sequence of str or None, optional
        Subgroup of each study, for colours and a legend.
    title : str, optional
        Default: ``"Galbraith plot (<method>, k = <k>)"``.
    path : str or Path, optional
        Save there, ``.png``, ``.svg`` or ``.pdf`` by suffix.
    dpi : int
        Resolution of the figure and of a saved PNG.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], slab=["A", "B", "C"])
    >>> galbraith(res).axes[0].get_xlabel()
    '1 / SE'
    """
    k = len(res.yi)
    labels = [str(s) for s in res.slab] if res.slab is not None else [
        f"Study {i + 1}" for i in range(k)
    ]  # fmt: skip
    tau2 = 0.0 if res.method in ("EE", "FE") else float(res.tau2)
    return revman_galbraith(res.yi, res.vi, labels, tau2=tau2, b=float(res.b), groups=groups,
                            title=title or f"Galbraith plot ({res.method}, k = {k})",
                            path=path, dpi=dpi)  # fmt: skip
