"""RevMan-style forest plot with subgroups, subtotals and a total, from plain numbers.

The reproduction report draws its figures from the numbers it has checked (see
:class:`ForestStudy` and :class:`ForestPooled`), so this layout does not depend on the
analysis code.  It is built on the same row primitives as :func:`metaparity.plots.forest`
(:mod:`metaparity.plots._forest_draw`).  matplotlib is imported only when a figure is drawn.

Install the optional dependency with ``pip install 'metaparity[plot]'``.

Examples
--------
>>> from metaparity.plots.revman import ForestStudy, ForestPooled
>>> s = ForestStudy("Chari 2019", "SEL+DEX", est=32.0, lb=23.7, ub=40.2, weight=100.0,
...                 events=39, n=122)
>>> p = ForestPooled("Subtotal (95% CI)", 32.0, 23.7, 40.2, model="DL random effects")
>>> s.label, p.model
('Chari 2019', 'DL random effects')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from metaparity.plots._common import (
    C_GREY,
    C_POOLED,
    C_SMALL,
    C_STUDY,
    C_TEXT,
    FONT,
    SMALL,
    TITLE,
    check_dpi,
    check_path,
    fmt_num,
    nice_limits,
    num,
    open_spines,
    require_mpl,
    save,
)
from metaparity.plots._forest_draw import (
    COL_PAD,
    GRAPH_W,
    LINE,
    SMALL_LINE,
    ForestCanvas,
    IntervalColumn,
    TextMeasure,
    interval_parts,
)
from metaparity.plots._revman_rows import (
    ForestPooled,
    ForestStudy,
    Row,
    build_rows,
    check_pooled,
    check_published,
    check_study,
    check_xlim,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["ForestStudy", "ForestPooled", "revman_forest", "forest_plot"]

_C_PUB = "#d1495b"  # published (paper) overlay
_X0 = 0.05  # left margin, inches
_HEAD = {
    "study": "Study",
    "events": "Events",
    "n": "Total",
    "weight": "Weight (%)",
    "ci": "Proportion [95% CI]",
}
_BOLD = {"weight": "bold"}


# --------------------------------------------------------------------------- layout


@dataclass
class _Columns:
    xs: dict[str, float]  # left edge of the labels, right edges of the number columns
    ci: IntervalColumn
    label_w: float
    table_w: float
    graph_l: float
    graph_r: float
    width: float


def _columns(m: TextMeasure, rows: list[Row], show_counts: bool, digits: int) -> _Columns:
    """Column positions (inches) from the widest entry of each column."""
    label_w = m.width(_HEAD["study"], FONT, **_BOLD)
    for r in rows:
        if r.kind == "study":
            label_w = max(label_w, min(m.width(r.text, FONT), 2.6))
        elif r.kind in ("heading", "pooled"):
            label_w = max(label_w, min(m.width(r.text, FONT, **_BOLD), 2.6))
    label_w = max(label_w, 1.1)

    def colw(key: str) -> float:
        vals = [getattr(r, key) for r in rows if r.kind in ("study", "pooled")]
        return max([m.width(_HEAD[key], FONT, **_BOLD)] + [m.width(v, FONT, **_BOLD) for v in vals])

    triples = []
    for r in rows:
        if r.kind == "study" and r.study is not None and not math.isnan(num(r.study.est)):
            triples.append(interval_parts(num(r.study.est), num(r.study.lb), num(r.study.ub),
                                          digits))  # fmt: skip
        elif r.kind == "pooled" and r.pooled is not None:
            triples.append(interval_parts(r.pooled.est, r.pooled.lb, r.pooled.ub, digits))
        elif r.kind == "published" and r.pub is not None:
            triples.append(interval_parts(*r.pub, digits))
    xs = {"study": _X0}
    cur = _X0 + label_w + COL_PAD
    if show_counts:
        xs["events"] = cur = cur + colw("events")  # right edges
        xs["n"] = cur = cur + COL_PAD + colw("n")
        cur += COL_PAD
    xs["weight"] = cur = cur + colw("weight")
    cur += COL_PAD * 1.3
    ci = IntervalColumn.fit(m, triples, cur, min_width=m.width(_HEAD["ci"], FONT, **_BOLD))
    graph_l = ci.left + ci.width + 0.3
    return _Columns(xs, ci, label_w, ci.left + ci.width - _X0, graph_l, graph_l + GRAPH_W,
                    graph_l + GRAPH_W + 0.25)  # fmt: skip


def _wrap(m: TextMeasure, rows: list[Row], cols: _Columns) -> None:
    """Wrap study labels and the small lines to their column widths."""
    for r in rows:
        if r.kind == "study":
            r.text = "\n".join(m.wrap(r.text, FONT, cols.label_w)) or r.text
        elif r.kind in ("heading", "pooled"):
            r.text = "\n".join(m.wrap(r.text, FONT, cols.label_w, **_BOLD)) or r.text
        elif r.kind in ("small", "note"):
            r.text = "\n".join(m.wrap(r.text, SMALL, cols.table_w - 0.15, style="italic")) or r.text
        r.lines = r.text.count("\n") + 1 if r.text else 1


@dataclass
class _Vertical:
    title_lines: list[str]
    title_y: float
    colhead_y: float
    body_top: float
    body_bottom: float
    height: float
    footer: list[str] = field(default_factory=list)


def _vertical(
    m: TextMeasure, rows: list[Row], cols: _Columns, title: str, footer: list[str], pub: bool
) -> _Vertical:
    """Row centres and heights (inches from the top), and the figure height."""
    title_lines = m.wrap(title, TITLE, cols.width - 0.1, **_BOLD) if title else []
    y = 0.08
    title_y = y
    y += len(title_lines) * 0.24 + (0.12 if title_lines else 0.0)
    colhead_y = y + 0.16
    y += 0.36
    body_top = y
    y += 0.06
    for r in rows:
        if r.kind in ("study", "heading", "pooled"):
            r.h = max(LINE, LINE * 0.8 * r.lines + 0.05)
        elif r.kind == "gap":
            r.h = 0.1
        else:
            r.h = SMALL_LINE * r.lines
        if r.kind == "pooled":
            y += 0.04
        r.y = y + r.h / 2
        y += r.h
    body_bottom = y + 0.08
    # below the body: axis ticks + label (graph column) / footer text (table column)
    axis_h = 0.55 + (0.25 if pub else 0.0)
    foot_h = 0.1 + SMALL_LINE * len(footer)
    height = body_bottom + max(axis_h, foot_h) + 0.05
    return _Vertical(title_lines, title_y, colhead_y, body_top, body_bottom, height, footer)


def _auto_xlim(
    studies: Sequence[ForestStudy],
    pooled: Sequence[ForestPooled | None],
    pub: Mapping[str, tuple[float, float, float]],
) -> tuple[float, float]:
    """Every estimate and finite bound fits."""
    vals: list[float] = []
    for s in studies:
        vals += [v for v in (num(s.est), num(s.lb), num(s.ub)) if math.isfinite(v)]
    for p in pooled:
        if p is not None:
            vals += [v for v in (p.est, p.lb, p.ub) if math.isfinite(v)]
    for t in pub.values():
        vals += list(t)
    return nice_limits(min(vals), max(vals)) if vals else (0.0, 100.0)


# --------------------------------------------------------------------------- drawing


def _draw_head(
    cv: ForestCanvas, cols: _Columns, vert: _Vertical, common: str, xlabel: str, counts: bool
) -> None:
    for i, line in enumerate(vert.title_lines):
        cv.ax.text(_X0, vert.title_y + i * 0.24, line, ha="left", va="top", fontsize=TITLE,
                   fontweight="bold", color=C_TEXT)  # fmt: skip
    xs, y = cols.xs, vert.colhead_y
    cv.text(xs["study"], y, _HEAD["study"], fontweight="bold")
    if counts:
        cv.text(xs["events"], y, _HEAD["events"], ha="right", fontweight="bold")
        cv.text(xs["n"], y, _HEAD["n"], ha="right", fontweight="bold")
    cv.text(xs["weight"], y, _HEAD["weight"], ha="right", fontweight="bold")
    cv.text(cols.ci.left + cols.ci.width / 2, y, _HEAD["ci"], ha="center", fontweight="bold")
    graph_head = f"{common}, 95% CI" if common else xlabel
    cv.text((cols.graph_l + cols.graph_r) / 2, y, graph_head, ha="center", fontweight="bold")
    cv.hline(_X0, cols.graph_r, vert.body_top)


def _draw_study(cv: ForestCanvas, r: Row, cols: _Columns, counts: bool, digits: int,
                wmax: float) -> None:  # fmt: skip
    s = r.study
    assert s is not None
    xs = cols.xs
    pooled = not math.isnan(num(s.weight))
    col = C_TEXT if pooled else C_GREY
    cv.text(xs["study"], r.y, r.text, color=col)
    if counts:
        cv.text(xs["events"], r.y, r.events, ha="right", color=col)
        cv.text(xs["n"], r.y, r.n, ha="right", color=col)
    cv.text(xs["weight"], r.y, r.weight, ha="right", color=col)
    e, lo, hi = num(s.est), num(s.lb), num(s.ub)
    if math.isnan(e):
        cv.text(cols.ci.edges[2], r.y, "not estimable", ha="right", color=col)
        return
    cv.interval(cols.ci, r.y, interval_parts(e, lo, hi, digits), col)
    gcol = C_STUDY if pooled else C_GREY
    if not (math.isnan(lo) or math.isnan(hi)):
        cv.ci_line(r.y, lo, hi, gcol)
    if pooled and wmax > 0:
        cv.square(r.y, e, max(3.0, LINE * 72 * 0.78 * math.sqrt(num(s.weight) / wmax)), gcol)
    else:  # not pooled (or all weights 0): small open square
        cv.square(r.y, e, 4.5, gcol, filled=False)


def _draw_pooled(cv: ForestCanvas, r: Row, cols: _Columns, counts: bool, digits: int,
                 pub: Mapping[str, tuple[float, float, float]]) -> None:  # fmt: skip
    xs, bold = cols.xs, "bold"
    cv.text(xs["study"], r.y, r.text, fontweight=bold)
    if counts:
        cv.text(xs["events"], r.y, r.events, ha="right", fontweight=bold)
        cv.text(xs["n"], r.y, r.n, ha="right", fontweight=bold)
    cv.text(xs["weight"], r.y, r.weight, ha="right", fontweight=bold)
    p = r.pooled
    if p is None:
        cv.text(cols.ci.edges[2], r.y, "not estimable", ha="right", fontweight=bold)
    else:
        tri = interval_parts(p.est, p.lb, p.ub, digits)
        cv.interval(cols.ci, r.y, tri, C_TEXT, fontweight=bold)
        cv.diamond(r.y, p.est, p.lb, p.ub, LINE * 0.36, fc=C_POOLED, ec=C_POOLED, zorder=5)
        if cv.diamond_overflows(p.lb, p.ub):
            cv.ci_line(r.y, p.lb, p.ub, C_POOLED, lw=0.8)
    if r.key in pub:
        e, lo, hi = pub[r.key]  # type: ignore[index]
        cv.diamond(r.y, e, lo, hi, LINE * 0.5, fill=False, ec=_C_PUB, lw=1.4, zorder=6)


def _draw_rows(cv: ForestCanvas, rows: list[Row], cols: _Columns, counts: bool, digits: int,
               wmax: float, pub: Mapping[str, tuple[float, float, float]]) -> None:  # fmt: skip
    x_note = cols.xs["study"] + 0.12
    for r in rows:
        if r.kind == "heading":
            cv.text(cols.xs["study"], r.y, r.text, fontweight="bold")
        elif r.kind == "study" and r.study is not None:
            _draw_study(cv, r, cols, counts, digits, wmax)
        elif r.kind == "note":
            cv.text(x_note, r.y, r.text, size=SMALL, color=C_GREY, style="italic")
        elif r.kind == "pooled":
            _draw_pooled(cv, r, cols, counts, digits, pub)
        elif r.kind == "published" and r.pub is not None:
            cv.text(x_note, r.y, r.text, size=SMALL, color=_C_PUB, style="italic")
            cv.interval(cols.ci, r.y, interval_parts(*r.pub, digits), _C_PUB, size=SMALL,
                        style="italic")  # fmt: skip
        elif r.kind == "small":
            cv.text(cols.xs["study"], r.y, r.text, size=SMALL, color=C_SMALL)


def _draw_axis(cv: ForestCanvas, cols: _Columns, vert: _Vertical, xlabel: str,
               pub: bool) -> None:  # fmt: skip
    from matplotlib.ticker import FuncFormatter

    gax = cv.gax
    open_spines(gax, ("top", "right", "left"))
    gax.set_yticks([])
    gax.tick_params(axis="x", labelsize=SMALL + 0.5, length=3)
    gax.set_xlabel(xlabel, fontsize=FONT)
    gax.xaxis.set_major_formatter(
        FuncFormatter(lambda v, _p: fmt_num(v, 0) if abs(v - round(v)) < 1e-9 else fmt_num(v, 1))
    )
    if pub:
        from matplotlib.lines import Line2D  # optional heavy dependency

        handles = [
            Line2D([], [], marker="D", ms=7, mfc=C_POOLED, mec=C_POOLED, ls="none"),
            Line2D([], [], marker="D", ms=8, mfc="none", mec=_C_PUB, mew=1.4, ls="none"),
        ]
        gax.legend(handles, ["pooled (this analysis)", "published (paper)"], loc="upper center",
                   bbox_to_anchor=((cols.graph_l + cols.graph_r) / 2, vert.body_bottom + 0.47),
                   bbox_transform=cv.ax.transData, ncol=2, fontsize=SMALL, frameon=False,
                   handletextpad=0.3, columnspacing=1.0)  # fmt: skip
    for i, line in enumerate(vert.footer):
        cv.text(_X0, vert.body_bottom + 0.12 + (i + 0.5) * SMALL_LINE, line, size=SMALL,
                color=C_SMALL)  # fmt: skip


def revman_forest(
    studies: Sequence[ForestStudy],
    subtotals: Mapping[str, ForestPooled | None],
    total: ForestPooled | None,
    *,
    title: str,
    xlabel: str = "Proportion (%)",
    subgroup_test: str = "",
    published: Mapping[str, tuple[float, float, float]] | None = None,
    path: str | Path | None = None,
    dpi: int = 150,
    digits: int = 1,
    xlim: tuple[float, float] | None = None,
) -> Figure:
    """Draw a RevMan-style forest plot with subgroups, subtotals and a total.

    The report's figure, from plain numbers; for a fitted model use
    :func:`metaparity.plots.forest` (``metafor::forest(res)``).  ``forest_plot`` is the
    same function under its older name.

    Parameters
    ----------
    studies : sequence of ForestStudy
        One row each, in the order given within their subgroup.
    subtotals : mapping of str to ForestPooled or None
        Subgroup name -> pooled subgroup result (None: "not estimable"). The key order is
        the order of the subgroups. Studies whose group is None (or every study, when
        ``subtotals`` is empty) are shown first, without a heading; a study whose group is
        not a key gets a heading without a subtotal row after the listed subgroups.
    total : ForestPooled or None
        The overall result; None leaves out the total row and the reference line.
    title : str
        Printed above the plot.
    xlabel : str
        Label of the horizontal axis.
    subgroup_test : str
        Test for subgroup differences, printed at the bottom.
    published : mapping, optional
        Subgroup name or ``"overall"`` -> (est, lb, ub) as printed in the paper; drawn as
        an outlined diamond on the subtotal / total row and listed under it, with a legend
        entry "published (paper)".
    path : str or Path, optional
        Save the figure there, in the format its suffix names (``.png``, ``.svg``,
        ``.pdf``); parent folders are created.
    dpi : int
        Resolution of the figure and of a saved PNG.
    digits : int
        Decimals of the estimates and bounds in the table.
    xlim : (float, float), optional
        Axis range; by default every estimate and finite bound fits. Confidence intervals
        running beyond it end in an arrow.

    Returns
    -------
    matplotlib.figure.Figure
        Drawn on an Agg canvas (not registered with pyplot, so nothing is left open).

    Raises
    ------
    ValueError
        Bad input, naming the study (or row) and the value; a path with another suffix.
    ImportError
        matplotlib is not installed.

    Examples
    --------
    ``revman_forest([ForestStudy("Chari 2019", None, 32.0, 23.7, 40.2, 100.0, 39, 122)],
    {}, None, title="ORR", path="orr.png")`` writes ``orr.png``.
    """
    studies = [check_study(s, i) for i, s in enumerate(studies)]
    if not isinstance(subtotals, Mapping):
        raise ValueError(f"subtotals must be a mapping, got {type(subtotals).__name__}")
    for key, p in subtotals.items():
        if p is not None:
            check_pooled(p, f"subtotal of {key!r}:")
    if total is not None:
        check_pooled(total, "total")
    pub = check_published(published, subtotals, total)
    lim = check_xlim(xlim)
    dpi = check_dpi(dpi)
    if path is not None:
        check_path(path)

    require_mpl()
    m = TextMeasure(dpi)
    counts = any(s.events is not None or s.n is not None for s in studies)
    rows, common, _ = build_rows(studies, subtotals, total, pub)
    cols = _columns(m, rows, counts, digits)
    _wrap(m, rows, cols)
    footer = m.wrap(subgroup_test, SMALL, cols.table_w) if subgroup_test else []
    vert = _vertical(m, rows, cols, title, footer, bool(pub))
    if lim is None:
        lim = _auto_xlim(studies, [*subtotals.values(), total], pub)
    cv = ForestCanvas(cols.width, vert.height, dpi,
                      (cols.graph_l, cols.graph_r, vert.body_top, vert.body_bottom), lim)  # fmt: skip
    _draw_head(cv, cols, vert, common, xlabel, counts)
    wmax = max((num(s.weight) for s in studies if not math.isnan(num(s.weight))), default=0.0)
    _draw_rows(cv, rows, cols, counts, digits, wmax, pub)
    if total is not None and cv.xmin <= total.est <= cv.xmax:
        cv.gax.axvline(total.est, color="#444444", lw=0.8, ls=(0, (4, 3)), zorder=1)
    _draw_axis(cv, cols, vert, xlabel, bool(pub))
    save(cv.fig, path, dpi)
    return cv.fig


#: the older name of :func:`revman_forest`
forest_plot = revman_forest
