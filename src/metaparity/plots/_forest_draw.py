"""Drawing primitives shared by the forest plots (:mod:`.forest` and :mod:`.revman`).

A forest figure is a table laid out in inches -- text columns and one graph column -- with
rows stacked from the top.  :class:`TextMeasure` measures text so the columns fit their
contents; :class:`ForestCanvas` holds the figure, the table axes (coordinates in inches,
y down) and the graph axes (x in data units, y in the same inches as the table), and draws
the row primitives: CI lines (arrows where they leave the range), weight squares,
diamonds, prediction-interval lines and the right-aligned ``est [lb, ub]`` triples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metaparity.plots._common import C_TEXT, FONT, fmt_num, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LINE = 0.21  # height of one table line, inches
SMALL_LINE = 0.17
COL_PAD = 0.16  # space between table columns, inches
GRAPH_W = 3.1  # width of the graph column, inches


class TextMeasure:
    """Text extents in inches, measured with the Agg renderer of a scratch figure."""

    def __init__(self, dpi: int):
        from matplotlib.font_manager import FontProperties  # optional heavy dependency

        self._fig = new_figure(1, 1, dpi)
        self._renderer = self._fig.canvas.get_renderer()  # type: ignore[attr-defined]
        self._dpi = self._fig.dpi
        self._fp = FontProperties
        self._cache: dict[tuple[str, float, str, Any], float] = {}

    def width(self, s: str, size: float, weight: str = "normal", style: Any = "normal") -> float:
        """Width of the widest line of ``s`` in inches."""
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

    def wrap(self, s: str, size: float, max_w: float, **kw: Any) -> list[str]:
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


def interval_parts(e: float, lo: float, hi: float, digits: int) -> tuple[str, str, str]:
    """``("0.49", "[0.34,", "0.70]")``: the three right-aligned pieces of an annotation."""
    return fmt_num(e, digits), f"[{fmt_num(lo, digits)},", f"{fmt_num(hi, digits)}]"


@dataclass(frozen=True)
class IntervalColumn:
    """Right edges (inches) of the three sub-columns of ``est [lb, ub]`` annotations."""

    left: float
    width: float
    edges: tuple[float, float, float]

    @classmethod
    def fit(
        cls,
        m: TextMeasure,
        triples: Sequence[tuple[str, str, str]],
        left: float,
        min_width: float = 0.0,
        size: float = FONT,
        weight: str = "bold",
    ) -> IntervalColumn:
        """Size the column to its widest pieces; the block is centred in ``min_width``."""
        sub = [0.0, 0.0, 0.0]
        for t in triples:
            for j in range(3):
                sub[j] = max(sub[j], m.width(t[j], size, weight))
        sp = m.width(" ", size)
        block = sum(sub) + 2 * sp
        width = max(block, min_width)
        b0 = left + (width - block) / 2
        e0 = b0 + sub[0]
        e1 = e0 + sp + sub[1]
        return cls(left, width, (e0, e1, e1 + sp + sub[2]))


class ForestCanvas:
    """A forest figure: table axes in inches (y down) and a graph axes over the body rows.

    ``graph`` is (left, right, top, bottom) of the graph column in inches; ``xrange`` the
    data range of the graph and ``clip`` the range beyond which CI lines end in an arrow
    (metafor's ``alim``; the whole graph by default).
    """

    def __init__(
        self,
        width: float,
        height: float,
        dpi: int,
        graph: tuple[float, float, float, float],
        xrange: tuple[float, float],
        clip: tuple[float, float] | None = None,
    ):
        self.width, self.height = width, height
        self.fig: Figure = new_figure(width, height, dpi)
        ax = self.fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.axis("off")
        self.ax: Axes = ax
        gl, gr, top, bottom = graph
        gax = self.fig.add_axes(
            ((gl / width), (height - bottom) / height, (gr - gl) / width, (bottom - top) / height)
        )
        gax.set_ylim(bottom, top)
        gax.set_facecolor("none")
        gax.set_xlim(*xrange)
        self.gax: Axes = gax
        self.xmin, self.xmax = clip if clip is not None else xrange
        self.span = self.xmax - self.xmin

    # ---- table text --------------------------------------------------------------
    def text(
        self,
        x: float,
        y: float,
        s: str,
        ha: str = "left",
        size: float = FONT,
        color: str = C_TEXT,
        **kw: Any,
    ) -> None:
        """Text in the table, vertically centred on row ``y`` (inches from the top)."""
        self.ax.text(x, y, s, ha=ha, va="center", fontsize=size, color=color, clip_on=False,
                     **kw)  # fmt: skip

    def interval(
        self, col: IntervalColumn, y: float, t: tuple[str, str, str], color: str, **kw: Any
    ) -> None:
        """One ``est [lb, ub]`` annotation, each piece right-aligned in its sub-column."""
        for edge, piece in zip(col.edges, t, strict=True):
            self.text(edge, y, piece, ha="right", color=color, **kw)

    def hline(self, x0: float, x1: float, y: float, color: str = "#555555", lw: float = 0.8):
        """A rule across the table at ``y`` inches."""
        self.ax.plot([x0, x1], [y, y], color=color, lw=lw)

    # ---- graph -----------------------------------------------------------------------
    def ci_line(
        self, y: float, lo: float, hi: float, color: str, lw: float = 1.1, cap: float = 0.0
    ) -> None:
        """CI line from ``lo`` to ``hi``; an arrow where it leaves the range, else an end
        tick of half-height ``cap`` inches (0: none)."""
        g = self.gax
        a, b = max(lo, self.xmin), min(hi, self.xmax)
        if a < b:
            g.plot([a, b], [y, y], color=color, lw=lw, solid_capstyle="butt", zorder=2)
        for end, out, mk in ((lo, lo < self.xmin, "<"), (hi, hi > self.xmax, ">")):
            if out:
                edge = self.xmin if mk == "<" else self.xmax
                g.plot([edge], [y], marker=mk, ms=5, color=color, zorder=3, clip_on=False)
            elif cap > 0 and a <= end <= b:
                g.plot([end, end], [y - cap, y + cap], color=color, lw=lw * 0.8, zorder=2)

    def square(self, y: float, est: float, side: float, color: str, filled: bool = True) -> None:
        """A square of ``side`` points at ``est`` (an arrow at the edge when out of range)."""
        g = self.gax
        if self.xmin <= est <= self.xmax:
            face = color if filled else "white"
            g.plot([est], [y], marker="s", ms=side, mew=0.8, mfc=face, mec=color, zorder=4,
                   linestyle="none")  # fmt: skip
        else:
            left = est < self.xmin
            g.plot([self.xmin if left else self.xmax], [y], marker="<" if left else ">", ms=6,
                   color=color, clip_on=False, zorder=4)  # fmt: skip

    def diamond(self, y: float, e: float, lo: float, hi: float, half: float, **kw: Any) -> None:
        """The pooled polygon, ``half`` inches high above and below ``y``; its tips are cut
        just outside the range (a CI line is then drawn by the caller)."""
        from matplotlib.patches import Polygon  # optional heavy dependency

        lo_c = max(lo, self.xmin - 0.02 * self.span)
        hi_c = min(hi, self.xmax + 0.02 * self.span)
        pts = [(lo_c, y), (e, y - half), (hi_c, y), (e, y + half)]
        self.gax.add_patch(Polygon(pts, closed=True, **kw))

    def diamond_overflows(self, lo: float, hi: float) -> bool:
        """Whether a diamond from ``lo`` to ``hi`` was cut at the range."""
        return lo < self.xmin - 0.02 * self.span or hi > self.xmax + 0.02 * self.span

    def pi_line(self, y: float, lo: float, hi: float, cap: float, color: str = "#808080"):
        """A prediction interval: a dotted line through the diamond with end ticks (the
        line's gid is ``"pi"``)."""
        g = self.gax
        a, b = max(lo, self.xmin), min(hi, self.xmax)
        g.plot([a, b], [y, y], color=color, lw=1.0, ls=(0, (1, 1.5)), zorder=3, gid="pi")
        for end in (lo, hi):
            if self.xmin <= end <= self.xmax:
                g.plot([end, end], [y - cap, y + cap], color=color, lw=0.9, zorder=3)


def weight_sides(weights: Sequence[float], side_max: float, plim=(0.5, 1.5)) -> list[float]:
    """Square sides (points) from weights, as metafor: the area grows with the weight --
    sqrt(weight) mapped linearly onto ``plim`` -- and the largest square is ``side_max``."""
    r = [math.sqrt(w) if w > 0 else 0.0 for w in weights]
    lo, hi = min(r, default=0.0), max(r, default=0.0)
    p0, p1 = plim
    if hi - lo < 1e-12:
        return [side_max * (p0 + p1) / 2 / p1] * len(r)
    return [side_max * (p0 + (v - lo) / (hi - lo) * (p1 - p0)) / p1 for v in r]
