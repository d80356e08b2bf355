"""Diagnostic figures: Baujat plot and leave-one-out forest plot.

The numbers come from :mod:`metaparity.analysis.diagnostics` (metafor's ``baujat`` and
``leave1out``).  matplotlib is imported only when a figure is drawn; figures are drawn
on the Agg canvas, never registered with ``matplotlib.pyplot``.  ``path`` picks the
format from its suffix (``.png``, ``.svg``, ``.pdf``).

Examples
--------
>>> import metaparity as mp
>>> res = mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL")
>>> fig = plot_baujat(res)
>>> fig.axes[0].get_xlabel()
'Squared Pearson residual'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from metaparity.analysis.diagnostics import baujat, leave1out
from metaparity.models.uni import RmaResult

__all__ = ["plot_baujat", "plot_leave1out"]

_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
_FONT = 9.0
_SMALL = 8.0
_C_POINT = "#1f4e79"
_C_REF = "#d1495b"
_C_TEXT = "#111111"
_MINUS = "\u2212"


def _new_figure(width: float, height: float, dpi: int):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - only without matplotlib
        raise ImportError("plots need matplotlib: pip install 'metaparity[plot]'") from exc
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path | None, dpi: int) -> None:
    if path is None:
        return
    p = Path(path)
    fmt = _FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ValueError(f"{p.name}: unknown figure format {p.suffix!r}; use .png, .svg or .pdf")
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.15, facecolor="white")


def _fmt(x: float, digits: int = 2) -> str:
    if not np.isfinite(x):
        return "NA"
    s = f"{x:.{digits}f}"
    return s.replace("-", _MINUS) if s.startswith("-") else s


def _place_labels(fig, ax, xs, ys, labels: list[str], short: list[str]):
    """Put each label at the first free offset around its point (farther offsets get a
    leader line); a label with no free place is tried as its study number, else left
    out.  Returns the indices shown by number and those left unlabelled."""
    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    r = 3.5 * fig.dpi / 72
    taken = []
    for x, y in zip(xs, ys, strict=True):
        px, py = ax.transData.transform((x, y))
        taken.append((px - r, py - r, px + r, py + r))

    def free(b) -> bool:
        if b.x0 < box.x0 or b.x1 > box.x1 or b.y0 < box.y0 or b.y1 > box.y1:
            return False
        return not any(b.x0 < t[2] and b.x1 > t[0] and b.y0 < t[3] and b.y1 > t[1] for t in taken)

    base = [(5, 2), (5, -10), (-5, 2), (-5, -10), (0, 7), (0, -15)]
    offsets = [(dx * m, dy * m, m) for m in (1, 2, 3) for dx, dy in base]
    left, numbered = [], []
    for i in sorted(range(len(xs)), key=lambda i: -ys[i]):
        placed = False
        for text in (labels[i], short[i]):
            for dx, dy, m in offsets:
                ha = "left" if dx > 0 else "right" if dx < 0 else "center"
                t = ax.annotate(
                    text, (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points",
                    fontsize=_SMALL, color=_C_TEXT, ha=ha, va="bottom", zorder=4,
                    arrowprops=None if m == 1 else {"arrowstyle": "-", "color": "#999999", "lw": 0.5},
                )  # fmt: skip
                b = t.get_window_extent(renderer)
                if free(b):
                    taken.append((b.x0, b.y0, b.x1, b.y1))
                    placed = True
                    if text is not labels[i]:
                        numbered.append(i)
                    break
                t.remove()
            if placed:
                break
        if not placed:
            left.append(i)
    return sorted(numbered), sorted(left)


def plot_baujat(
    res: RmaResult,
    path: str | Path | None = None,
    *,
    symbol: str = "slab",
    dpi: int = 150,
    title: str | None = None,
) -> Any:
    """Baujat plot: contribution to heterogeneity (x) against influence on the
    pooled estimate (y), as ``metafor::baujat``.

    Parameters
    ----------
    res : RmaResult
        Fitted model (``k >= 2``, no user weights).
    path : str or Path, optional
        Where to save (``.png``/``.svg``/``.pdf``).
    symbol : {"slab", "ids"}
        Label points with study labels (default) or 1-based study numbers.
    dpi : int
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE")
    >>> plot_baujat(res, symbol="ids").axes[0].get_xlabel()
    'Contribution to overall heterogeneity'
    """
    if symbol not in ("slab", "ids"):
        raise ValueError(f"symbol={symbol!r}: use 'slab' or 'ids'")
    bj = baujat(res)
    labels = [str(s) for s in (bj.slab if symbol == "slab" else bj.ids)]
    fig = _new_figure(6.0, 4.6, dpi)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(bj.x, bj.y, s=22, color=_C_POINT, zorder=3)
    xmax = float(np.nanmax(bj.x)) if bj.x.size else 1.0
    ymax = float(np.nanmax(bj.y)) if bj.y.size else 1.0
    ax.set_xlim(-0.04 * xmax, 1.25 * xmax if xmax > 0 else 1.0)
    ax.set_ylim(-0.04 * ymax, 1.15 * ymax if ymax > 0 else 1.0)
    ee = res.method in ("EE", "FE")
    ax.set_xlabel(
        "Contribution to overall heterogeneity" if ee else "Squared Pearson residual",
        fontsize=_FONT,
    )
    ax.set_ylabel("Influence on overall result", fontsize=_FONT)
    ax.tick_params(labelsize=_SMALL)
    ax.set_title(title or f"Baujat plot ({res.method}, k = {res.k})", fontsize=10)
    short = [str(i) for i in bj.ids]
    numbered, left = _place_labels(fig, ax, bj.x, bj.y, labels, short)
    notes = []
    if numbered and symbol == "slab":
        notes.append("; ".join(f"{short[i]} = {labels[i]}" for i in numbered))
    if left:
        notes.append("not labelled (no room): " + "; ".join(labels[i] for i in left))
    for j, note in enumerate(notes):
        fig.text(0.02, -0.01 - 0.045 * j, note, fontsize=_SMALL, color="#555555",
                 ha="left", va="top", wrap=True)  # fmt: skip
    ax.grid(True, color="#e3e3e3", lw=0.6, zorder=0)
    _save(fig, path, dpi)
    return fig


def plot_leave1out(
    res: RmaResult,
    path: str | Path | None = None,
    *,
    transf: Any = None,
    xlab: str = "Estimate",
    dpi: int = 150,
    title: str | None = None,
) -> Any:
    """Leave-one-out forest plot: the pooled estimate and CI without each study.

    The full-data estimate is the dashed line, its CI the shaded band; each row is
    annotated with the estimate [CI] and I² of the fit without that study.

    Parameters
    ----------
    res : RmaResult
        Fitted model (``k >= 2``).
    path : str or Path, optional
        Where to save (``.png``/``.svg``/``.pdf``).
    transf : callable, optional
        Applied to estimates and bounds before plotting (e.g. ``numpy.exp``).
    xlab : str
    dpi : int
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL")
    >>> len(plot_leave1out(res).axes[0].get_yticklabels())
    4
    """
    lo = leave1out(res)
    from metaparity.effects.transforms import resolve

    tf = resolve(transf, res.measure, res.ni)  # a callable, a name ("exp", ...) or True
    f = (lambda a: np.asarray(a, dtype=float)) if tf is None else (lambda a: np.asarray(tf(a)))
    est, lb, ub = f(lo.estimate), f(lo.ci_lb), f(lo.ci_ub)
    full, flb, fub = (float(f(np.array([x]))[0]) for x in (res.b, res.ci_lb, res.ci_ub))
    k = res.k
    labels = [f"Omitting {s}" for s in (lo.slab)]
    fig = _new_figure(7.2, 1.1 + 0.26 * (k + 1), dpi)
    ax = fig.add_subplot(1, 1, 1)
    rows = np.arange(k)[::-1] + 1.0
    ax.axvspan(flb, fub, color="#f3d4d8", zorder=0, lw=0)
    ax.axvline(full, color=_C_REF, ls="--", lw=1.0, zorder=1)
    ax.hlines(rows, lb, ub, color=_C_POINT, lw=1.1, zorder=2)
    ax.scatter(est, rows, marker="s", s=18, color=_C_POINT, zorder=3)
    ax.set_yticks(rows)
    ax.set_yticklabels(labels, fontsize=_SMALL)
    ax.set_ylim(0.3, k + 0.8)
    lo_x = float(np.nanmin(np.concatenate([lb, [flb]])))
    hi_x = float(np.nanmax(np.concatenate([ub, [fub]])))
    pad = 0.05 * (hi_x - lo_x if hi_x > lo_x else 1.0)
    ax.set_xlim(lo_x - pad, hi_x + pad)
    ax.set_xlabel(xlab, fontsize=_FONT)
    ax.tick_params(axis="x", labelsize=_SMALL)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    # right-hand table, in axes-fraction x so it sits beside the graph whatever the data
    tr = ax.get_yaxis_transform()
    ax.text(1.02, k + 0.55, f"Estimate [{res.level:g}% CI]", transform=tr, fontsize=_SMALL,
            fontweight="bold", ha="left", va="bottom", clip_on=False)  # fmt: skip
    ax.text(1.30, k + 0.55, "I²", transform=tr, fontsize=_SMALL, fontweight="bold",
            ha="right", va="bottom", clip_on=False)  # fmt: skip
    for r, e, a, b, i2 in zip(rows, est, lb, ub, lo.I2, strict=True):
        ax.text(1.02, r, f"{_fmt(e)} [{_fmt(a)}, {_fmt(b)}]", transform=tr, fontsize=_SMALL,
                ha="left", va="center", clip_on=False)  # fmt: skip
        ax.text(1.30, r, f"{i2:.0f}%", transform=tr, fontsize=_SMALL, ha="right",
                va="center", clip_on=False)  # fmt: skip
    ax.text(
        1.02, 0.35, f"All studies: {_fmt(full)} [{_fmt(flb)}, {_fmt(fub)}]", transform=tr,
        fontsize=_SMALL, color=_C_REF, ha="left", va="center", clip_on=False,
    )  # fmt: skip
    ax.set_title(
        title or f"Leave-one-out analysis ({res.method}, test = {res.test}, k = {k})",
        fontsize=10, loc="left",
    )  # fmt: skip
    _save(fig, path, dpi)
    return fig
