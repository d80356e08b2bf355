"""Publication-quality figures for a reproduction report: forest and Galbraith plots.

The functions take plain inputs (numbers and labels, see :class:`ForestStudy` and
:class:`ForestPooled`) so that they do not depend on the analysis code. matplotlib is
imported only when a figure is drawn (``import metaparity`` never imports it); the figures
are drawn on the non-interactive Agg canvas and are never registered with
``matplotlib.pyplot``, so no window opens and no pyplot figure is left open.

Install the optional dependency with ``pip install 'metaparity[plot]'``.

Examples
--------
>>> from metaparity.plots.forest import ForestStudy, ForestPooled
>>> s = ForestStudy("Chari 2019", "SEL+DEX", est=32.0, lb=23.7, ub=40.2, weight=100.0,
...                 events=39, n=122)
>>> p = ForestPooled("Subtotal (95% CI)", 32.0, 23.7, 40.2, model="DL random effects")
>>> s.label, p.model
('Chari 2019', 'DL random effects')
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["ForestStudy", "ForestPooled", "forest_plot", "galbraith_plot", "encode_png"]

_MISSING_MPL = "plots need matplotlib: pip install 'metaparity[plot]'"

# look
_FONT = 9.0  # table text, pt
_SMALL = 8.0  # heterogeneity / test lines, notes, point labels
_TITLE = 11.0
_LINE = 0.21  # height of one study line, inches
_SMALL_LINE = 0.17
_COL_PAD = 0.16  # space between table columns, inches
_GRAPH_W = 3.1  # width of the graphical column, inches
_C_STUDY = "#1f4e79"  # squares and CI lines
_C_POOLED = "#111111"  # diamonds
_C_PUB = "#d1495b"  # published (paper) overlay
_C_GREY = "#9a9a9a"  # studies not pooled
_C_TEXT = "#111111"
_C_SMALL = "#333333"
_MINUS = "\u2212"
_DASH = "\u2013"


@dataclass(frozen=True)
class ForestStudy:
    """One study row of a forest plot.

    Parameters
    ----------
    label : str
        Study label, e.g. ``"Chari 2019"``.
    group : str or None
        Subgroup name (a key of ``subtotals`` in :func:`forest_plot`) or None.
    est, lb, ub : float
        Estimate and confidence bounds on the plotting scale (e.g. percent).
        ``lb``/``ub`` may be negative or infinite (drawn as an arrow at the axis end).
    weight : float
        Percent weight in its (subgroup) analysis; NaN when the study is not pooled.
    events, n : float, optional
        Counts shown in the Events and Total columns.
    note : str
        Shown under the row in grey italics, e.g. ``"0 events: not pooled"``.
    """

    label: str
    group: str | None
    est: float
    lb: float
    ub: float
    weight: float
    events: float | None = None
    n: float | None = None
    note: str = ""


@dataclass(frozen=True)
class ForestPooled:
    """A pooled (subtotal or total) row of a forest plot, drawn as a diamond.

    Parameters
    ----------
    label : str
        ``"Subtotal (95% CI)"`` or ``"Total (95% CI)"``.
    est, lb, ub : float
        Pooled estimate and confidence bounds on the plotting scale.
    model : str
        e.g. ``"DL random effects"`` or ``"fixed effect (EE)"``.
    heterogeneity, overall_test : str
        One-line summaries printed under the row in a small font.
    """

    label: str
    est: float
    lb: float
    ub: float
    model: str
    heterogeneity: str = ""
    overall_test: str = ""


# --------------------------------------------------------------------------- helpers


def _mpl():
    """Import matplotlib lazily; return (Figure, FigureCanvasAgg)."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(_MISSING_MPL) from exc
    _ = matplotlib  # the Agg canvas is attached explicitly: no display, no pyplot state
    return Figure, FigureCanvasAgg


def _new_figure(width: float, height: float, dpi: int):
    Figure, FigureCanvasAgg = _mpl()
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _fmt(x: float, digits: int) -> str:
    if math.isnan(x):
        return _DASH
    if math.isinf(x):
        return "\u221e" if x > 0 else _MINUS + "\u221e"
    s = f"{x:.{digits}f}"
    if s.startswith("-"):
        s = _MINUS + s[1:] if float(s) != 0 else s[1:]
    return s


def _fmt_count(x: float | None) -> str:
    if x is None:
        return ""
    x = float(x)
    if math.isnan(x):
        return ""
    return str(int(round(x))) if abs(x - round(x)) < 1e-9 else f"{x:g}"


class _Measure:
    """Text extents in inches (measured with the Agg renderer of a scratch figure)."""

    def __init__(self, dpi: int):
        from matplotlib.font_manager import FontProperties

        self._fig = _new_figure(1, 1, dpi)
        self._renderer = self._fig.canvas.get_renderer()
        self._dpi = self._fig.dpi
        self._fp = FontProperties
        self._cache: dict[tuple, float] = {}

    def width(self, s: str, size: float, weight: str = "normal", style: str = "normal") -> float:
        key = (s, size, weight, style)
        if key not in self._cache:
            if not s:
                self._cache[key] = 0.0
            else:
                prop = self._fp(size=size, weight=weight, style=style)
                w = max(
                    self._renderer.get_text_width_height_descent(line, prop, ismath=False)[0]
                    for line in s.split("\n")
                )
                self._cache[key] = w / self._dpi
        return self._cache[key]

    def wrap(self, s: str, size: float, max_w: float, **kw: str) -> list[str]:
        """Greedy word wrap to ``max_w`` inches (a single over-long word stays whole)."""
        if not s or self.width(s, size, **kw) <= max_w:
            return [s] if s else []
        lines: list[str] = []
        cur = ""
        for word in s.split(" "):
            cand = word if not cur else cur + " " + word
            if cur and self.width(cand, size, **kw) > max_w:
                lines.append(cur)
                cur = word
            else:
                cur = cand
        if cur:
            lines.append(cur)
        return lines


def _nice_limits(lo: float, hi: float) -> tuple[float, float]:
    from matplotlib.ticker import MaxNLocator

    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-12:
        pad = max(abs(lo) * 0.1, 1.0)
        lo, hi = lo - pad, hi + pad
    pad = 0.03 * (hi - lo)
    ticks = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo - pad, hi + pad)
    return float(ticks[0]), float(ticks[-1])


def _save(fig, path: str | Path | None, dpi: int) -> None:
    if path is None:
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.15, facecolor="white")


# --------------------------------------------------------------------------- validation


def _check_study(s: Any, i: int) -> ForestStudy:
    if not isinstance(s, ForestStudy):
        raise ValueError(f"studies[{i}] is {type(s).__name__}, not a ForestStudy")
    lab = repr(s.label)
    if not isinstance(s.label, str):
        raise ValueError(f"study {lab}: label must be a string")
    w = _num(s.weight)
    est, lb, ub = _num(s.est), _num(s.lb), _num(s.ub)
    if not math.isnan(w):
        if math.isinf(w) or w < 0 or w > 100 + 1e-6:
            raise ValueError(
                f"study {lab}: weight must be a percentage in [0, 100] or NaN, got {s.weight!r}"
            )
        for name, v in (("est", est), ("lb", lb), ("ub", ub)):
            if math.isnan(v):
                raise ValueError(f"study {lab} is pooled (weight {w:g}) but {name} is {v!r}")
        if math.isinf(est):
            raise ValueError(f"study {lab}: est must be finite, got {s.est!r}")
    if not any(math.isnan(v) for v in (est, lb, ub)) and not (lb <= est <= ub):
        raise ValueError(
            f"study {lab}: need lb <= est <= ub, got est={est!r}, lb={lb!r}, ub={ub!r}"
        )
    for name, v in (("events", s.events), ("n", s.n)):
        if v is not None and (math.isnan(_num(v)) or _num(v) < 0 or math.isinf(_num(v))):
            raise ValueError(f"study {lab}: {name} must be a finite count >= 0, got {v!r}")
    if s.events is not None and s.n is not None and _num(s.events) > _num(s.n):
        raise ValueError(f"study {lab}: events ({s.events!r}) exceed n ({s.n!r})")
    return s


def _check_pooled(p: Any, where: str) -> ForestPooled:
    if not isinstance(p, ForestPooled):
        raise ValueError(f"{where} is {type(p).__name__}, not a ForestPooled")
    est, lb, ub = _num(p.est), _num(p.lb), _num(p.ub)
    for name, v in (("est", est), ("lb", lb), ("ub", ub)):
        if math.isnan(v):
            raise ValueError(f"{where} {p.label!r}: {name} is {getattr(p, name)!r}")
    if math.isinf(est):
        raise ValueError(f"{where} {p.label!r}: est must be finite, got {p.est!r}")
    if not (lb <= est <= ub):
        raise ValueError(
            f"{where} {p.label!r}: need lb <= est <= ub, got est={est!r}, lb={lb!r}, ub={ub!r}"
        )
    return p


# --------------------------------------------------------------------------- forest plot


@dataclass
class _Row:
    kind: str  # colhead, heading, study, note, pooled, published, small, footer
    y: float = 0.0  # centre, inches from the top
    h: float = 0.0
    lines: int = 1
    study: ForestStudy | None = None
    pooled: ForestPooled | None = None
    key: str | None = None  # subtotal key / "overall"
    text: str = ""
    events: str = ""
    n: str = ""
    weight: str = ""
    pub: tuple[float, float, float] | None = None


def forest_plot(
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
        Save a PNG there (parent folders are created).
    dpi : int
        Resolution of the figure and of the saved PNG.
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
        Bad input, naming the study (or row) and the value.
    ImportError
        matplotlib is not installed.

    Examples
    --------
    ``forest_plot([ForestStudy("Chari 2019", None, 32.0, 23.7, 40.2, 100.0, 39, 122)], {},
    None, title="ORR", path="orr.png")`` writes ``orr.png``.
    """
    studies = [_check_study(s, i) for i, s in enumerate(studies)]
    if not isinstance(subtotals, Mapping):
        raise ValueError(f"subtotals must be a mapping, got {type(subtotals).__name__}")
    for key, p in subtotals.items():
        if p is not None:
            _check_pooled(p, f"subtotal of {key!r}:")
    if total is not None:
        _check_pooled(total, "total")
    pub: dict[str, tuple[float, float, float]] = {}
    for key, val in (published or {}).items():
        if key != "overall" and key not in subtotals:
            raise ValueError(
                f"published: key {key!r} is neither 'overall' nor a subgroup "
                f"({', '.join(map(repr, subtotals)) or 'none'})"
            )
        if key == "overall" and total is None:
            raise ValueError("published: 'overall' given but total is None")
        try:
            e, lo, hi = (float(v) for v in val)
        except (TypeError, ValueError):
            raise ValueError(f"published[{key!r}] must be (est, lb, ub), got {val!r}") from None
        if not all(math.isfinite(v) for v in (e, lo, hi)):
            raise ValueError(f"published[{key!r}] must be finite numbers, got {val!r}")
        pub[key] = (e, lo, hi)
    if xlim is not None:
        xlim = (float(xlim[0]), float(xlim[1]))
        if not (math.isfinite(xlim[0]) and math.isfinite(xlim[1]) and xlim[0] < xlim[1]):
            raise ValueError(f"xlim must be two finite increasing numbers, got {xlim!r}")
    dpi = int(dpi)
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi!r}")

    _mpl()
    m = _Measure(dpi)
    show_counts = any(s.events is not None or s.n is not None for s in studies)

    # ---- rows (no positions yet) --------------------------------------------------
    ungrouped = [s for s in studies if not subtotals or s.group is None]
    order = list(subtotals)
    for s in studies:
        if subtotals and s.group is not None and s.group not in order:
            order.append(s.group)
    rows: list[_Row] = []

    def study_rows(ss: list[ForestStudy]) -> None:
        for s in ss:
            w = _num(s.weight)
            rows.append(
                _Row(
                    "study",
                    study=s,
                    text=s.label,
                    events=_fmt_count(s.events),
                    n=_fmt_count(s.n),
                    weight=_DASH if math.isnan(w) else f"{w:.1f}",
                )
            )
            note = s.note or ("not pooled" if math.isnan(w) else "")
            if note:
                rows.append(_Row("note", study=s, text=note))

    def sums(ss: list[ForestStudy]) -> tuple[str, str]:
        if ss and all(s.events is not None for s in ss):
            ev = _fmt_count(sum(float(s.events) for s in ss))  # type: ignore[arg-type]
        else:
            ev = ""
        nn = (
            _fmt_count(sum(float(s.n) for s in ss))
            if ss and all(s.n is not None for s in ss)
            else ""
        )  # type: ignore[arg-type]
        return ev, nn

    def pooled_rows(p: ForestPooled | None, key: str, ss: list[ForestStudy], weight: str) -> None:
        ev, nn = sums(ss)
        label = p.label if p is not None else "Subtotal (95% CI)"
        rows.append(_Row("pooled", pooled=p, key=key, text=label, events=ev, n=nn, weight=weight))
        if key in pub:
            rows.append(_Row("published", key=key, text="published (paper)", pub=pub[key]))
        if p is None:
            return
        model = f"Model: {p.model}" if p.model and not common_model else ""
        for line in (model, p.heterogeneity, p.overall_test):
            if line:
                rows.append(_Row("small", text=line))

    models = {p.model for p in [*subtotals.values(), total] if p is not None}
    # one model for every pooled row: say it once, above the graph (as RevMan does)
    common_model = models.pop() if len(models) == 1 else ""
    if ungrouped:
        study_rows(ungrouped)
    for g in order:
        ss = [s for s in studies if s.group == g]
        if rows:
            rows.append(_Row("gap"))
        rows.append(_Row("heading", text=str(g)))
        study_rows(ss)
        if g in subtotals:
            pooled_rows(subtotals[g], g, ss, "100.0")
    if total is not None:
        if rows:
            rows.append(_Row("gap"))
        weight = "" if order else "100.0"
        pooled_rows(total, "overall", studies, weight)
    if not rows:
        rows.append(_Row("small", text="(no studies)"))

    # ---- columns (inches) --------------------------------------------------------
    x0 = 0.05
    bold = {"weight": "bold"}
    head = {
        "study": "Study",
        "events": "Events",
        "n": "Total",
        "weight": "Weight (%)",
        "ci": "Proportion [95% CI]",
    }

    def ci_parts(e: float, lo: float, hi: float) -> tuple[str, str, str]:
        return _fmt(e, digits), f"[{_fmt(lo, digits)},", f"{_fmt(hi, digits)}]"

    study_col_max = 2.6
    label_w = m.width(head["study"], _FONT, **bold)
    for r in rows:
        if r.kind == "study":
            label_w = max(label_w, min(m.width(r.text, _FONT), study_col_max))
        elif r.kind in ("heading", "pooled"):
            label_w = max(label_w, min(m.width(r.text, _FONT, **bold), study_col_max))
    label_w = max(label_w, 1.1)

    def colw(key: str) -> float:
        vals = [getattr(r, key) for r in rows if r.kind in ("study", "pooled")]
        return max([m.width(head[key], _FONT, **bold)] + [m.width(v, _FONT, **bold) for v in vals])

    c_events = colw("events") if show_counts else 0.0
    c_n = colw("n") if show_counts else 0.0
    c_weight = colw("weight")
    # the CI text column: three right-aligned sub-columns "est" "[lb," "ub]"
    triples = []
    for r in rows:
        if r.kind == "study" and r.study is not None and not math.isnan(_num(r.study.est)):
            triples.append(ci_parts(_num(r.study.est), _num(r.study.lb), _num(r.study.ub)))
        elif r.kind == "pooled" and r.pooled is not None:
            triples.append(ci_parts(r.pooled.est, r.pooled.lb, r.pooled.ub))
        elif r.kind == "published" and r.pub is not None:
            triples.append(ci_parts(*r.pub))
    sub_w = [0.0, 0.0, 0.0]
    for t in triples:
        for j in range(3):
            sub_w[j] = max(sub_w[j], m.width(t[j], _FONT, **bold))
    sp = m.width(" ", _FONT)
    ci_w = max(sum(sub_w) + 2 * sp, m.width(head["ci"], _FONT, **bold))

    xs: dict[str, float] = {}
    cur = x0
    xs["study"] = cur
    cur += label_w + _COL_PAD
    if show_counts:
        cur += c_events
        xs["events"] = cur  # right edges
        cur += _COL_PAD
        cur += c_n
        xs["n"] = cur
        cur += _COL_PAD
    cur += c_weight
    xs["weight"] = cur
    cur += _COL_PAD * 1.3
    ci_left = cur
    ci_right = cur + ci_w
    # right edges of the sub-columns, the whole block centred in the column
    block = sum(sub_w) + 2 * sp
    b0 = ci_left + (ci_w - block) / 2
    xs["ci0"] = b0 + sub_w[0]
    xs["ci1"] = xs["ci0"] + sp + sub_w[1]
    xs["ci2"] = xs["ci1"] + sp + sub_w[2]
    table_right = ci_right
    table_w = table_right - x0

    # wrap study labels and the small lines to their column widths
    for r in rows:
        if r.kind == "study":
            r.text = "\n".join(m.wrap(r.text, _FONT, label_w)) or r.text
        elif r.kind in ("heading", "pooled"):
            r.text = "\n".join(m.wrap(r.text, _FONT, label_w, **bold)) or r.text
        elif r.kind in ("small", "note"):
            r.text = "\n".join(m.wrap(r.text, _SMALL, table_w - 0.15, style="italic")) or r.text
        r.lines = r.text.count("\n") + 1 if r.text else 1
    footer: list[str] = m.wrap(subgroup_test, _SMALL, table_w) if subgroup_test else []

    graph_l = table_right + 0.3
    graph_r = graph_l + _GRAPH_W
    width = graph_r + 0.25

    # ---- vertical layout ----------------------------------------------------------
    y = 0.08
    title_lines = m.wrap(title, _TITLE, width - 0.1, **bold) if title else []
    title_h = len(title_lines) * 0.24
    title_y = y
    y += title_h + (0.12 if title_lines else 0.0)
    colhead_y = y + 0.16
    y += 0.36
    body_top = y
    y += 0.06
    for r in rows:
        if r.kind in ("study", "heading", "pooled"):
            r.h = max(_LINE, _LINE * 0.8 * r.lines + 0.05)
        elif r.kind == "gap":
            r.h = 0.1
        else:
            r.h = _SMALL_LINE * r.lines
        if r.kind == "pooled":
            y += 0.04
        r.y = y + r.h / 2
        y += r.h
    y += 0.08
    body_bottom = y
    # below the body: axis ticks + label (graph column) / footer text (table column)
    axis_h = 0.55 + (0.25 if pub else 0.0)
    foot_h = 0.1 + _SMALL_LINE * len(footer)
    height = body_bottom + max(axis_h, foot_h) + 0.05

    fig = _new_figure(width, height, dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    gax = fig.add_axes(
        (
            graph_l / width,
            (height - body_bottom) / height,
            _GRAPH_W / width,
            (body_bottom - body_top) / height,
        )
    )
    gax.set_ylim(body_bottom, body_top)
    gax.set_facecolor("none")

    def txt(x, yy, s, ha="left", size=_FONT, color=_C_TEXT, **kw):
        ax.text(x, yy, s, ha=ha, va="center", fontsize=size, color=color, clip_on=False, **kw)

    for i, line in enumerate(title_lines):
        ax.text(
            x0,
            title_y + i * 0.24,
            line,
            ha="left",
            va="top",
            fontsize=_TITLE,
            fontweight="bold",
            color=_C_TEXT,
        )
    txt(xs["study"], colhead_y, head["study"], fontweight="bold")
    if show_counts:
        txt(xs["events"], colhead_y, head["events"], ha="right", fontweight="bold")
        txt(xs["n"], colhead_y, head["n"], ha="right", fontweight="bold")
    txt(xs["weight"], colhead_y, head["weight"], ha="right", fontweight="bold")
    txt((ci_left + ci_right) / 2, colhead_y, head["ci"], ha="center", fontweight="bold")
    graph_head = f"{common_model}, 95% CI" if common_model else xlabel
    txt((graph_l + graph_r) / 2, colhead_y, graph_head, ha="center", fontweight="bold")
    ax.plot([x0, graph_r], [body_top, body_top], color="#555555", lw=0.8)

    # ---- x range -----------------------------------------------------------------
    if xlim is None:
        vals: list[float] = []
        for s in studies:
            vals += [v for v in (_num(s.est), _num(s.lb), _num(s.ub)) if math.isfinite(v)]
        for p in [*subtotals.values(), total]:
            if p is not None:
                vals += [v for v in (p.est, p.lb, p.ub) if math.isfinite(v)]
        for t in pub.values():
            vals += list(t)
        xlim = _nice_limits(min(vals), max(vals)) if vals else (0.0, 100.0)
    xmin, xmax = xlim
    gax.set_xlim(xmin, xmax)
    span = xmax - xmin

    # square sizes: area proportional to weight (side in points)
    wmax = max((_num(s.weight) for s in studies if not math.isnan(_num(s.weight))), default=0.0)
    side_max = _LINE * 72 * 0.78

    def ci_line(yy: float, lo: float, hi: float, color: str, lw: float = 1.1) -> None:
        a, b = max(lo, xmin), min(hi, xmax)
        if a < b:
            gax.plot([a, b], [yy, yy], color=color, lw=lw, solid_capstyle="butt", zorder=2)
        if lo < xmin:
            gax.plot([xmin], [yy], marker="<", ms=5, color=color, zorder=3, clip_on=False)
        if hi > xmax:
            gax.plot([xmax], [yy], marker=">", ms=5, color=color, zorder=3, clip_on=False)

    def diamond(yy: float, e: float, lo: float, hi: float, half: float, **kw: Any) -> None:
        from matplotlib.patches import Polygon

        lo_c, hi_c = max(lo, xmin - 0.02 * span), min(hi, xmax + 0.02 * span)
        pts = [(lo_c, yy), (e, yy - half), (hi_c, yy), (e, yy + half)]
        gax.add_patch(Polygon(pts, closed=True, **kw))

    # ---- rows --------------------------------------------------------------------
    def ci_text(yy: float, t: tuple[str, str, str], color: str, **kw: Any) -> None:
        txt(xs["ci0"], yy, t[0], ha="right", color=color, **kw)
        txt(xs["ci1"], yy, t[1], ha="right", color=color, **kw)
        txt(xs["ci2"], yy, t[2], ha="right", color=color, **kw)

    for r in rows:
        if r.kind == "heading":
            txt(xs["study"], r.y, r.text, fontweight="bold")
        elif r.kind == "study" and r.study is not None:
            s = r.study
            pooled = not math.isnan(_num(s.weight))
            col = _C_TEXT if pooled else _C_GREY
            txt(xs["study"], r.y, r.text, color=col)
            if show_counts:
                txt(xs["events"], r.y, r.events, ha="right", color=col)
                txt(xs["n"], r.y, r.n, ha="right", color=col)
            txt(xs["weight"], r.y, r.weight, ha="right", color=col)
            e, lo, hi = _num(s.est), _num(s.lb), _num(s.ub)
            if math.isnan(e):
                txt(xs["ci2"], r.y, "not estimable", ha="right", color=col)
                continue
            ci_text(r.y, ci_parts(e, lo, hi), col)
            gcol = _C_STUDY if pooled else _C_GREY
            if not (math.isnan(lo) or math.isnan(hi)):
                ci_line(r.y, lo, hi, gcol)
            if xmin <= e <= xmax:
                if pooled and wmax > 0:
                    side = max(3.0, side_max * math.sqrt(_num(s.weight) / wmax))
                    mk = {"marker": "s", "mfc": gcol, "mec": gcol}
                else:  # not pooled (or all weights 0): small open square
                    side = 4.5
                    mk = {"marker": "s", "mfc": "white", "mec": gcol}
                gax.plot([e], [r.y], ms=side, mew=0.8, zorder=4, linestyle="none", **mk)
            else:
                gax.plot(
                    [xmin if e < xmin else xmax],
                    [r.y],
                    marker="<" if e < xmin else ">",
                    ms=6,
                    color=gcol,
                    clip_on=False,
                    zorder=4,
                )
        elif r.kind == "note":
            txt(xs["study"] + 0.12, r.y, r.text, size=_SMALL, color=_C_GREY, style="italic")
        elif r.kind == "pooled":
            txt(xs["study"], r.y, r.text, fontweight="bold")
            if show_counts:
                txt(xs["events"], r.y, r.events, ha="right", fontweight="bold")
                txt(xs["n"], r.y, r.n, ha="right", fontweight="bold")
            txt(xs["weight"], r.y, r.weight, ha="right", fontweight="bold")
            p = r.pooled
            if p is None:
                txt(xs["ci2"], r.y, "not estimable", ha="right", fontweight="bold")
            else:
                ci_text(r.y, ci_parts(p.est, p.lb, p.ub), _C_TEXT, fontweight="bold")
                diamond(r.y, p.est, p.lb, p.ub, _LINE * 0.36, fc=_C_POOLED, ec=_C_POOLED, zorder=5)
                if p.lb < xmin - 0.02 * span or p.ub > xmax + 0.02 * span:
                    ci_line(r.y, p.lb, p.ub, _C_POOLED, lw=0.8)
            if r.key in pub:
                e, lo, hi = pub[r.key]  # type: ignore[index]
                diamond(r.y, e, lo, hi, _LINE * 0.5, fill=False, ec=_C_PUB, lw=1.4, zorder=6)
        elif r.kind == "published" and r.pub is not None:
            txt(xs["study"] + 0.12, r.y, r.text, size=_SMALL, color=_C_PUB, style="italic")
            t = ci_parts(*r.pub)
            ci_text(r.y, t, _C_PUB, size=_SMALL, style="italic")
        elif r.kind == "small":
            txt(xs["study"], r.y, r.text, size=_SMALL, color=_C_SMALL)

    if total is not None and xmin <= total.est <= xmax:
        gax.axvline(total.est, color="#444444", lw=0.8, ls=(0, (4, 3)), zorder=1)

    # ---- axis ----------------------------------------------------------------------
    for side in ("top", "right", "left"):
        gax.spines[side].set_visible(False)
    gax.set_yticks([])
    gax.tick_params(axis="x", labelsize=_SMALL + 0.5, length=3)
    gax.set_xlabel(xlabel, fontsize=_FONT)
    from matplotlib.ticker import FuncFormatter

    gax.xaxis.set_major_formatter(
        FuncFormatter(lambda v, _pos: _fmt(v, 0) if abs(v - round(v)) < 1e-9 else _fmt(v, 1))
    )
    if pub:
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], marker="D", ms=7, mfc=_C_POOLED, mec=_C_POOLED, ls="none"),
            Line2D([], [], marker="D", ms=8, mfc="none", mec=_C_PUB, mew=1.4, ls="none"),
        ]
        gax.legend(
            handles,
            ["pooled (this analysis)", "published (paper)"],
            loc="upper center",
            bbox_to_anchor=((graph_l + graph_r) / 2, body_bottom + 0.47),
            bbox_transform=ax.transData,
            ncol=2,
            fontsize=_SMALL,
            frameon=False,
            handletextpad=0.3,
            columnspacing=1.0,
        )
    for i, line in enumerate(footer):
        txt(x0, body_bottom + 0.12 + (i + 0.5) * _SMALL_LINE, line, size=_SMALL, color=_C_SMALL)

    _save(fig, path, dpi)
    return fig


# --------------------------------------------------------------------------- Galbraith


def galbraith_plot(
    yi: Sequence[float],
    vi: Sequence[float],
    labels: Sequence[str],
    *,
    tau2: float = 0.0,
    b: float,
    groups: Sequence[str | None] | None = None,
    title: str,
    path: str | Path | None = None,
    dpi: int = 150,
) -> Figure:
    """Draw a Galbraith (radial) plot, as metafor's ``radial()``.

    Each study is a point at ``x = 1/sqrt(vi + tau2)``, ``y = yi/sqrt(vi + tau2)``; the
    line through the origin has slope ``b`` (the pooled estimate) and the dashed lines
    ``y = b x +/- 1.96`` bound the region where about 95 % of the studies fall when they
    are homogeneous.

    Parameters
    ----------
    yi, vi : sequence of float
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
    path : str or Path, optional
        Save a PNG there (parent folders are created).
    dpi : int

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
    ``galbraith_plot([0.66, 0.32], [0.011, 0.0018], ["A", "B"], b=0.45, title="ORR")``
    returns the figure.
    """
    yv = [_num(v) for v in yi]
    vv = [_num(v) for v in vi]
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
    t2, bb = _num(tau2), _num(b)
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
    dpi = int(dpi)
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi!r}")

    _mpl()
    from matplotlib.lines import Line2D

    xs = [1 / math.sqrt(v + t2) for v in vv]
    ys = [y / math.sqrt(v + t2) for y, v in zip(yv, vv, strict=True)]
    fig = _new_figure(6.4, 4.8, dpi)
    ax = fig.add_axes((0.12, 0.12, 0.84, 0.78))

    xr = max(xs) * 1.12
    lines_x = [0.0, xr]
    ax.plot(lines_x, [0, bb * xr], color="#222222", lw=1.1, zorder=2)
    for off in (-1.96, 1.96):
        ax.plot(lines_x, [off, bb * xr + off], color="#555555", lw=0.9, ls=(0, (4, 3)), zorder=2)
    ax.axhline(0, color="#bbbbbb", lw=0.6, zorder=1)

    palette = ["#1f4e79", "#d1495b", "#2a9d8f", "#e9a03b", "#6a4c93", "#8a8a8a"]
    gnames: list[str] = []
    if grp is not None:
        for g in grp:
            if g is not None and g not in gnames:
                gnames.append(g)
    colours = []
    for i in range(len(xs)):
        g = grp[i] if grp is not None else None
        colours.append(palette[gnames.index(g) % len(palette)] if g is not None else _C_STUDY)
    ax.scatter(xs, ys, s=36, c=colours, edgecolors="white", linewidths=0.6, zorder=4)

    # limits
    ylo = min([*ys, -1.96 + min(0.0, bb * xr), 0.0])
    yhi = max([*ys, 1.96 + max(0.0, bb * xr), 0.0])
    pad = 0.08 * (yhi - ylo)
    ax.set_xlim(0, xr)
    ax.set_ylim(ylo - pad, yhi + pad)
    ax.set_xlabel("1 / SE", fontsize=_FONT + 1)
    ax.set_ylabel("standardised estimate (y / SE)", fontsize=_FONT + 1)
    ax.tick_params(labelsize=_FONT)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=_TITLE, fontweight="bold", loc="left")
    model = f"slope b = {_fmt(bb, 3)}" + (f", \u03c4\u00b2 = {t2:.4g}" if t2 > 0 else "")
    ax.text(
        0.99, 0.02, model, transform=ax.transAxes, ha="right", va="bottom", fontsize=_SMALL,
        color=_C_SMALL,
    )  # fmt: skip

    omitted = _place_labels(fig, ax, xs, ys, labs)
    if omitted:
        ax.text(
            0.01, 0.02, f"{omitted} of {len(labs)} labels left out (no free space)",
            transform=ax.transAxes, ha="left", va="bottom", fontsize=_SMALL, color=_C_SMALL,
        )  # fmt: skip

    if gnames:
        handles = [
            Line2D([], [], marker="o", ls="none", ms=6, mfc=palette[i % len(palette)], mec="white")
            for i in range(len(gnames))
        ]
        names = list(gnames)
        if grp is not None and any(g is None for g in grp):
            handles.append(Line2D([], [], marker="o", ls="none", ms=6, mfc=_C_STUDY, mec="white"))
            names.append("(no group)")
        ax.legend(handles, names, loc="upper left", fontsize=_SMALL, frameon=False)

    _save(fig, path, dpi)
    return fig


def _place_labels(fig, ax, xs: list[float], ys: list[float], labels: list[str]) -> int:
    """Label points at the first of a few offsets free of other labels and points.

    Farther offsets get a thin leader line; a label with no free place is left out.
    Returns the number of labels left out.
    """
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    ax_box = ax.get_window_extent(renderer)
    pts = [ax.transData.transform((x, y)) for x, y in zip(xs, ys, strict=True)]
    r = 4.0 * fig.dpi / 72  # marker radius in pixels (s=36 -> 6 pt wide)
    taken = [Bbox.from_bounds(px - r, py - r, 2 * r, 2 * r) for px, py in pts]
    base = [(6, 3), (6, -11), (-6, 3), (-6, -11), (0, 8), (0, -16)]
    offsets = [(dx * k, dy * k, k) for k in (1, 2, 3) for dx, dy in base]
    omitted = 0
    for i in sorted(range(len(xs)), key=lambda i: -xs[i]):
        for dx, dy, k in offsets:
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            t = ax.annotate(
                labels[i],
                (xs[i], ys[i]),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=_SMALL,
                ha=ha,
                va="bottom",
                color=_C_SMALL,
                zorder=5,
                arrowprops=None if k == 1 else {"arrowstyle": "-", "color": "#aaaaaa", "lw": 0.5},
            )
            bb = t.get_window_extent(renderer)
            inside = (
                bb.x0 >= ax_box.x0
                and bb.x1 <= ax_box.x1 + 60
                and bb.y0 >= ax_box.y0
                and bb.y1 <= ax_box.y1
            )
            if inside and not any(bb.overlaps(o) for o in taken):
                taken.append(bb)
                break
            t.remove()
        else:
            omitted += 1
    return omitted


# --------------------------------------------------------------------------- embedding


def encode_png(fig_or_path: Any) -> str:
    """Return a ``data:image/png;base64,...`` URI for a self-contained HTML report.

    Parameters
    ----------
    fig_or_path : matplotlib.figure.Figure or str or Path
        A figure (rendered as PNG at its own dpi, tight bounding box) or the path of a
        PNG file.

    Returns
    -------
    str

    Examples
    --------
    ``f'<img src="{encode_png("orr.png")}">'`` embeds the file in HTML.
    """
    if isinstance(fig_or_path, str | Path):
        p = Path(fig_or_path)
        if not p.is_file():
            raise ValueError(f"encode_png: no such file {str(p)!r}")
        data = p.read_bytes()
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ValueError(f"encode_png: {str(p)!r} is not a PNG file")
    elif hasattr(fig_or_path, "savefig"):
        buf = io.BytesIO()
        if getattr(fig_or_path, "canvas", None) is None or not hasattr(
            fig_or_path.canvas, "print_png"
        ):  # pragma: no cover - a figure without an Agg-capable canvas
            _, FigureCanvasAgg = _mpl()
            FigureCanvasAgg(fig_or_path)
        fig_or_path.savefig(
            buf, format="png", bbox_inches="tight", pad_inches=0.15, facecolor="white"
        )
        data = buf.getvalue()
    else:
        raise ValueError(
            f"encode_png needs a matplotlib Figure or a PNG path, got {type(fig_or_path).__name__}"
        )
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
