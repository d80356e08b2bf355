"""Plots for small-study effects: funnel (plain and contour-enhanced, with trim-and-fill
studies), radial (Galbraith) and L'Abbé plots -- the pictures of metafor's ``funnel()``,
``radial()`` and ``labbe()``.

matplotlib is imported only when a figure is drawn; figures are drawn on an Agg canvas
(no pyplot state, no window).  ``path`` ending in ``.png`` or ``.svg`` selects the format;
``path=None`` only returns the figure.

Examples
--------
>>> import metaparity as mp
>>> from metaparity.plots.bias import funnel
>>> res = mp.rma([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08], method="EE")
>>> fig = funnel(res)            # y axis: standard error, 0 at the top (metafor's default)
>>> fig.axes[0].get_ylabel()
'Standard Error'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["funnel", "radial", "labbe"]

_MISSING_MPL = "plots need matplotlib: pip install 'metaparity[plot]'"
_BACK = "#d9d9d9"  # metafor: back = "lightgray"
_POINT = "#111111"
_LINE = "#333333"
# contour-enhanced shades from the inside out (metafor: shade = white, gray55, gray75)
_SHADES = ("#ffffff", "#8c8c8c", "#bfbfbf", "#e6e6e6")


def _figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover
        raise ImportError(_MISSING_MPL) from exc
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path | None, dpi: int = 150) -> None:
    if path is None:
        return
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ValueError(f"path={str(path)!r}: give a .png or .svg file name")
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.12, facecolor="white")


def _check_path(path: Any) -> None:
    if path is not None and Path(path).suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"path={str(path)!r}: give a .png or .svg file name")


def _xlabel(measure: str) -> str:
    return {
        "RR": "Log Risk Ratio",
        "OR": "Log Odds Ratio",
        "RD": "Risk Difference",
        "SMD": "Standardized Mean Difference",
        "MD": "Mean Difference",
        "PR": "Proportion",
        "PLO": "Log Odds",
        "PLN": "Log Proportion",
        "ZCOR": "Fisher's z Transformed Correlation Coefficient",
        "COR": "Correlation Coefficient",
        "ROM": "Log Ratio of Means",
    }.get(measure, "Observed Outcome")


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
):
    """Funnel plot (metafor ``funnel(res)``): outcomes against standard errors.

    The y axis is the standard error, 0 at the top (metafor's default ``yaxis="sei"``);
    the vertical reference line is at the pooled estimate, the pseudo-confidence
    region ``estimate +- z_{0.975} SE`` is white on a light grey background.

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
    xlab, title : str, optional
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
    _check_path(path)
    y = np.asarray(res.yi, dtype=float)
    sei = np.sqrt(np.asarray(res.vi, dtype=float))
    yf = sf = None
    center = float(res.b)
    if trimfill is not None:
        fill = np.asarray(trimfill.fill, dtype=bool)
        yf = np.asarray(trimfill.yi, dtype=float)[fill]
        sf = np.sqrt(np.asarray(trimfill.vi, dtype=float)[fill])
        center = float(trimfill.fit.b)
    levels: list[float] = []
    if contours is not None:
        levels = sorted(float(c) / 100.0 if float(c) > 1 else float(c) for c in contours)
        if not levels or any(not 0 < c < 1 for c in levels):
            raise ValueError(f"contours={contours!r}: levels must lie in (0, 1) or (0, 100)")
        if len(levels) > 3:
            raise ValueError("contours: give at most three levels, e.g. (0.90, 0.95, 0.99)")
    ref = (0.0 if levels else center) if refline is None else float(refline)
    all_se = sei if sf is None else np.concatenate([sei, sf])
    all_y = y if yf is None else np.concatenate([y, yf])
    smax = float(all_se.max()) * 1.05
    zmax = stats.norm.isf((1 - max(levels)) / 2) if levels else stats.norm.isf(0.025)
    half = zmax * smax
    lo = min(float(all_y.min()), ref - half, center - stats.norm.isf(0.025) * smax)
    hi = max(float(all_y.max()), ref + half, center + stats.norm.isf(0.025) * smax)
    pad = 0.04 * (hi - lo)
    lo, hi = lo - pad, hi + pad

    fig = _figure(6.0, 4.8)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_facecolor(_BACK if not levels else _SHADES[len(levels)])
    se_grid = np.array([0.0, smax])
    handles = []
    from matplotlib.patches import Patch

    if levels:
        # shade from the widest region inwards: p <= 1 - level outside each funnel
        for i, lev in reversed(list(enumerate(levels))):
            z = stats.norm.isf((1 - lev) / 2)
            xs = [ref, ref - z * smax, ref + z * smax]
            ax.fill([xs[0], xs[1], xs[2]], [0, smax, smax], color=_SHADES[i], lw=0, zorder=1)
        alph = [1 - lev for lev in levels]
        labels = [f"p > {_p(alph[0])}"]
        labels += [f"{_p(alph[i + 1])} < p \u2264 {_p(alph[i])}" for i in range(len(alph) - 1)]
        labels.append(f"p \u2264 {_p(alph[-1])}")
        colors = list(_SHADES[: len(levels)]) + [_SHADES[len(levels)]]
        handles += [
            Patch(facecolor=c, edgecolor="#777777", lw=0.6, label=lab)
            for c, lab in zip(colors, labels, strict=True)
        ]
    else:
        z = stats.norm.isf(0.025)
        ax.fill([center, center - z * smax, center + z * smax], [0, smax, smax],
                color="white", lw=0, zorder=1)  # fmt: skip
        for sgn in (-1, 1):
            ax.plot(center + sgn * z * se_grid, se_grid, color=_LINE, lw=0.8, ls=":", zorder=2)
    ax.axvline(ref, color=_LINE, lw=0.9, zorder=2)
    if levels and refline is None and center != ref:
        ax.axvline(center, color=_LINE, lw=0.8, ls="--", zorder=2)
    ax.scatter(y, sei, s=30, color=_POINT, zorder=4, label="Studies")
    if yf is not None and yf.size:
        ax.scatter(yf, sf, s=30, facecolor="white", edgecolor=_POINT, lw=1.0, zorder=4,
                   label=f"Filled studies (k0 = {yf.size})")  # fmt: skip
    ax.set_xlim(lo, hi)
    ax.set_ylim(smax, 0)  # inverted: 0 at the top
    ax.set_xlabel(xlab or _xlabel(getattr(res, "measure", "GEN")))
    ax.set_ylabel("Standard Error")
    if title:
        ax.set_title(title, fontsize=11)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    show_legend = legend if legend is not None else (bool(levels) or yf is not None)
    if show_legend:
        from matplotlib.lines import Line2D

        pts = [Line2D([], [], marker="o", ls="", color=_POINT, label="Studies")]
        if yf is not None and yf.size:
            pts.append(Line2D([], [], marker="o", ls="", markerfacecolor="white",
                              markeredgecolor=_POINT, label=f"Filled (k0 = {yf.size})"))  # fmt: skip
        ax.legend(handles=pts + handles, loc="lower left", bbox_to_anchor=(1.01, 0.0),
                  fontsize=8, frameon=False, borderaxespad=0.0)  # fmt: skip
    _save(fig, path)
    return fig


def _p(a: float) -> str:
    return f"{a:.3f}".rstrip("0").lstrip("0") or "0"


def radial(res: Any, path: str | Path | None = None, *, title: str | None = None):
    """Radial (Galbraith) plot (metafor ``radial(res)``).

    x: ``1 / sqrt(vi + tau^2)`` (precision), y: ``yi / sqrt(vi + tau^2)`` (standardised
    outcome); the line through the origin has slope equal to the pooled estimate and
    the dashed lines ``+- z_{0.975}`` around it mark the 95% region (Galbraith 1988).
    With an equal-effects model ``tau^2 = 0``.  The right-hand scale shows the outcome
    ``yi`` along the arc of slopes, as metafor's arc.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08], method="EE")
    >>> fig = radial(res)
    >>> fig.axes[0].get_xlabel()
    'x_i = 1 / sqrt(v_i + tau^2)'
    """
    _check_path(path)
    y = np.asarray(res.yi, dtype=float)
    tau2 = 0.0 if res.method in ("EE", "FE") else float(res.tau2)
    s = np.sqrt(np.asarray(res.vi, dtype=float) + tau2)
    x, z = 1.0 / s, y / s
    b = float(res.b)
    zc = stats.norm.isf(0.025)
    xmax = float(x.max()) * 1.08
    fig = _figure(6.4, 4.8)
    ax = fig.add_subplot(1, 1, 1)
    xs = np.array([0.0, xmax])
    ax.fill_between(xs, b * xs - zc, b * xs + zc, color="#eeeeee", lw=0, zorder=0)
    ax.plot(xs, b * xs, color=_LINE, lw=1.0, zorder=2, label=f"slope = estimate ({b:.3f})")
    for sgn in (-1, 1):
        ax.plot(xs, b * xs + sgn * zc, color=_LINE, lw=0.8, ls="--", zorder=2)
    ax.axhline(0, color="#999999", lw=0.6, zorder=1)
    ax.scatter(x, z, s=30, color=_POINT, zorder=4)
    # the arc: outcome values as slopes, drawn at the right edge
    ylo = min(float(z.min()), b * xmax - zc, -zc) - 0.5
    yhi = max(float(z.max()), b * xmax + zc, zc) + 0.5
    ax.set_xlim(0, xmax * 1.02)
    ax.set_ylim(ylo, yhi)
    from matplotlib.ticker import MaxNLocator

    r = xmax * 1.02
    span = np.array([y.min(), y.max(), b])
    ticks = MaxNLocator(nbins=5).tick_values(float(span.min()), float(span.max()))
    for t in ticks:
        yt = t * r
        if ylo <= yt <= yhi:
            ax.annotate(f"{t:g}", (r, yt), xytext=(4, 0), textcoords="offset points",
                        va="center", fontsize=8, color=_LINE, annotation_clip=False)  # fmt: skip
            ax.plot([r, r * 0.985], [yt, yt * 0.985], color=_LINE, lw=0.8, clip_on=False)
    ax.set_xlabel("x_i = 1 / sqrt(v_i + tau^2)")  # tau^2 = 0 for EE models
    ax.set_ylabel("z_i = y_i / sqrt(v_i + tau^2)")
    return _finish(fig, ax, title, path)


def _finish(fig, ax, title, path):
    """Title, open top/right spines, legend, save: how every plot here ends."""
    if title:
        ax.set_title(title, fontsize=11)
    for sp in ("top", "right"):
        ax.spines[sp].set_visible(False)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    _save(fig, path)
    return fig


def labbe(
    ai: Any,
    n1i: Any,
    ci: Any,
    n2i: Any,
    path: str | Path | None = None,
    *,
    measure: str = "RR",
    method: str = "REML",
    title: str | None = None,
):
    """L'Abbé plot for 2x2 data (metafor ``labbe(res)`` with ``transf`` back to risks).

    Each study is a circle at (control risk ``ci / n2i``, treatment risk ``ai / n1i``),
    its area proportional to the study's weight in the pooled model; the solid diagonal
    is "no effect", the dashed curve the pooled effect from ``rma(escalc(measure, ...),
    method=method)`` (RR: ``y = exp(b) x``; OR: ``odds(y) = exp(b) odds(x)``; RD:
    ``y = x + b``).

    Examples
    --------
    >>> fig = labbe([4, 6, 3, 62], [123, 306, 231, 13598], [11, 29, 11, 248],
    ...             [139, 303, 220, 12867])
    >>> fig.axes[0].get_xlabel()
    'Risk in control group'
    """
    from metaparity.effects.escalc import escalc
    from metaparity.models.uni import rma

    _check_path(path)
    a, n1, c, n2 = (np.atleast_1d(np.asarray(v, dtype=float)).ravel() for v in (ai, n1i, ci, n2i))
    if not (a.size == n1.size == c.size == n2.size) or a.size == 0:
        raise ValueError("labbe: ai, n1i, ci, n2i must have one value per study")
    if np.any(n1 <= 0) or np.any(n2 <= 0) or np.any(a < 0) or np.any(c < 0) or np.any(a > n1) \
            or np.any(c > n2):  # fmt: skip
        raise ValueError("labbe: need 0 <= ai <= n1i and 0 <= ci <= n2i with n1i, n2i > 0")
    if measure not in ("RR", "OR", "RD"):
        raise ValueError(f"labbe: measure={measure!r}; choose RR, OR or RD")
    dat = escalc(measure, ai=a, n1i=n1, ci=c, n2i=n2)
    res = rma(dat["yi"].to_numpy(), dat["vi"].to_numpy(), method=method)
    w = 1.0 / (np.asarray(res.vi) + (0.0 if method in ("EE", "FE") else res.tau2))
    size = 40.0 + 400.0 * w / w.max()
    p1, p2 = a / n1, c / n2
    fig = _figure(5.4, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    hi = min(1.0, max(float(p1.max()), float(p2.max())) * 1.15 + 0.01)
    xs = np.linspace(0.0, hi, 200)
    ax.plot([0, hi], [0, hi], color=_LINE, lw=1.0, label="no effect")
    b = float(res.b)
    if measure == "RR":
        yl = np.exp(b) * xs
    elif measure == "OR":
        o = xs / (1 - np.minimum(xs, 1 - 1e-12)) * np.exp(b)
        yl = o / (1 + o)
    else:
        yl = xs + b
    ok = (yl >= 0) & (yl <= hi)
    name = {"RR": "risk ratio", "OR": "odds ratio", "RD": "risk difference"}[measure]
    est = f"{np.exp(b):.2f}" if measure != "RD" else f"{b:.3f}"
    ax.plot(xs[ok], yl[ok], color=_LINE, lw=1.0, ls="--", label=f"pooled {name} = {est}")
    ax.scatter(p2, p1, s=size, facecolor="#bcd0e6", edgecolor="#1f4e79", lw=0.8, zorder=3)
    m = 0.02 * hi  # circles at 0 are not cut by the axes
    ax.set_xlim(-m, hi)
    ax.set_ylim(-m, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("Risk in control group")
    ax.set_ylabel("Risk in treatment group")
    return _finish(fig, ax, title, path)
