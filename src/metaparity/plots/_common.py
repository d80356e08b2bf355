"""What every plot module shares: figure creation, saving by suffix, labels and numbers.

matplotlib is an optional, heavy dependency: it is imported inside the functions that draw,
never at module import, so ``import metaparity.plots`` stays cheap and works without it.
Figures are drawn on the non-interactive Agg canvas and never registered with
``matplotlib.pyplot``: no window opens and no pyplot figure is left open.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "FORMATS",
    "MISSING_MPL",
    "check_dpi",
    "check_path",
    "finish",
    "fmt_count",
    "fmt_num",
    "measure_label",
    "new_figure",
    "nice_limits",
    "num",
    "open_spines",
    "place_labels",
    "require_mpl",
    "save",
]

MISSING_MPL = "plots need matplotlib: pip install 'metaparity[plot]'"
#: file suffixes a figure can be saved as, and the matplotlib format of each
FORMATS: dict[str, str] = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
MINUS = "\u2212"
DASH = "\u2013"

# look, shared by every plot
FONT = 9.0  # table text, axis labels, pt
SMALL = 8.0  # notes, point labels, legends
TITLE = 11.0
C_STUDY = "#1f4e79"  # squares, points and CI lines
C_POOLED = "#111111"  # diamonds
C_TEXT = "#111111"
C_SMALL = "#333333"
C_GREY = "#9a9a9a"
C_REF = "#d1495b"


# --------------------------------------------------------------------------- figures


def require_mpl() -> tuple[Any, Any]:
    """Import matplotlib (lazily: an optional dependency); return (Figure, FigureCanvasAgg)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # optional heavy dependency
        from matplotlib.figure import Figure  # optional heavy dependency
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(MISSING_MPL) from exc
    return Figure, FigureCanvasAgg


def new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    """A Figure of ``width`` x ``height`` inches on its own Agg canvas (no pyplot state)."""
    figure_cls, canvas_cls = require_mpl()
    fig = figure_cls(figsize=(width, height), dpi=dpi)
    canvas_cls(fig)
    return fig


def check_dpi(dpi: Any) -> int:
    """``dpi`` as a positive int, or ValueError."""
    d = int(dpi)
    if d <= 0:
        raise ValueError(f"dpi must be positive, got {dpi!r}")
    return d


def check_path(path: str | Path | None, formats: Sequence[str] = ("png", "svg", "pdf")) -> None:
    """Reject a file name whose suffix is not a known figure format, before drawing.

    ``formats`` narrows the choice for plots that have not been opened to every format yet.
    """
    if path is None:
        return
    p = Path(path)
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is not None and fmt in formats:
        return
    if tuple(formats) == tuple(FORMATS.values()):
        raise ValueError(f"{p.name}: unknown figure format {p.suffix!r}; use .png, .svg or .pdf")
    names = " or ".join(f".{f}" for f in formats)
    raise ValueError(f"path={str(path)!r}: give a {names} file name")


def save(
    fig: Figure,
    path: str | Path | None,
    dpi: int = 150,
    *,
    formats: Sequence[str] = ("png", "svg", "pdf"),
    pad_inches: float = 0.15,
) -> None:
    """Save ``fig`` in the format its suffix names (.png, .svg, .pdf); None saves nothing.

    Parent folders are created; the background is white and the bounding box tight.

    Raises
    ------
    ValueError
        Another suffix, e.g. ``x.gif: unknown figure format '.gif'; use .png, .svg or .pdf``.
    """
    if path is None:
        return
    check_path(path, formats)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(
        p,
        format=FORMATS[p.suffix.lower()],
        dpi=dpi,
        bbox_inches="tight",
        pad_inches=pad_inches,
        facecolor="white",
    )


def finish(
    fig: Figure,
    ax: Axes,
    title: str | None,
    path: str | Path | None,
    formats: Sequence[str] = ("png", "svg", "pdf"),
    legend_loc: Any = "upper left",
) -> Figure:
    """Title, open top/right spines, legend (upper left unless ``legend_loc``), save: how the
    single-axes plots end.  Returns ``fig``."""
    if title:
        ax.set_title(title, fontsize=11)
    open_spines(ax)
    ax.legend(loc=legend_loc, fontsize=8, frameon=False)
    save(fig, path, 150, formats=formats, pad_inches=0.12)
    return fig


def open_spines(ax: Axes, sides: Sequence[str] = ("top", "right")) -> None:
    """Hide the named spines (the open-box look of every plot here)."""
    for side in sides:
        ax.spines[side].set_visible(False)


# --------------------------------------------------------------------------- numbers


def num(x: Any) -> float:
    """``float(x)``, NaN for None or text."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def fmt_num(x: float, digits: int, nan: str = DASH) -> str:
    """Fixed-point with a true minus sign; ``nan`` for NaN, the infinity sign for inf."""
    if math.isnan(x):
        return nan
    if math.isinf(x):
        return "\u221e" if x > 0 else MINUS + "\u221e"
    s = f"{x:.{digits}f}"
    if s.startswith("-"):
        s = MINUS + s[1:] if float(s) != 0 else s[1:]
    return s


def fmt_tick(x: float, digits: int) -> str:
    """An axis tick label: ``digits`` decimals with trailing zeros dropped (``1``, ``0.25``)."""
    s = fmt_num(x, digits)
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s == MINUS + "0" else s


def fmt_count(x: float | None) -> str:
    """A count as an integer when it is one; empty for None or NaN."""
    if x is None:
        return ""
    x = float(x)
    if math.isnan(x):
        return ""
    return str(int(round(x))) if abs(x - round(x)) < 1e-9 else f"{x:g}"


def nice_limits(lo: float, hi: float, pad: float = 0.03) -> tuple[float, float]:
    """Round tick values just outside ``[lo, hi]`` (padded by ``pad`` of the span)."""
    from matplotlib.ticker import MaxNLocator  # optional heavy dependency

    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-12:
        d = max(abs(lo) * 0.1, 1.0)
        lo, hi = lo - d, hi + d
    d = pad * (hi - lo)
    ticks = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo - d, hi + d)
    return float(ticks[0]), float(ticks[-1])


# --------------------------------------------------------------------------- axis labels

# measure -> (label on the analysis scale, short annotation heading, label back-transformed)
_MEASURES: dict[str, tuple[str, str, str]] = {
    "RR": ("Log Risk Ratio", "Log[RR]", "Risk Ratio"),
    "OR": ("Log Odds Ratio", "Log[OR]", "Odds Ratio"),
    "PETO": ("Log Odds Ratio", "Log[OR]", "Odds Ratio"),
    "ROM": ("Log Ratio of Means", "Log[RoM]", "Ratio of Means"),
    "PLO": ("Log Odds", "Log[Odds]", "Proportion"),
    "PLN": ("Log Proportion", "Log[Pr]", "Proportion"),
    "PAS": ("Arcsine Transformed Proportion", "Arcsine[Pr]", "Proportion"),
    "PFT": ("Double Arcsine Transformed Proportion", "PFT[Pr]", "Proportion"),
    "ZCOR": ("Fisher's z Transformed Correlation Coefficient", "Fisher's z", "Correlation"),
    "RD": ("Risk Difference", "Risk Difference", "Risk Difference"),
    "SMD": ("Standardized Mean Difference", "SMD", "Standardized Mean Difference"),
    "MD": ("Mean Difference", "Mean Difference", "Mean Difference"),
    "PR": ("Proportion", "Proportion", "Proportion"),
    "COR": ("Correlation Coefficient", "Correlation", "Correlation Coefficient"),
}
_SCALE = {"exp": "log scale", "ilogit": "logit scale"}


def measure_label(measure: str, kind: str = "axis", back: str | None = None) -> str:
    """The label metafor prints for ``measure``.

    ``kind``: ``"axis"`` (x-axis label, ``"Log Risk Ratio"``; metafor's default for an
    unknown measure is ``"Observed Outcome"``) or ``"head"`` (annotation heading,
    ``"Log[RR]"``; ``"Estimate"`` for an unknown measure).  ``back``: the measure's own
    back-transform was applied, ``"transf"`` (axis in back-transformed units: ``"Risk
    Ratio"``) or the name of the transform when it was applied to the axis labels only
    (``atransf``: ``"Risk Ratio (log scale)"``); ``"other"`` for any other transform.
    """
    entry = _MEASURES.get(measure)
    if entry is None:
        return "Observed Outcome" if kind == "axis" else "Estimate"
    if back is None:
        return entry[0] if kind == "axis" else entry[1]
    if back == "other":
        return f"Transformed {entry[0]}" if kind == "axis" else "Estimate"
    if kind == "head" or back == "transf" or back not in _SCALE:
        return entry[2]
    return f"{entry[2]} ({_SCALE[back]})"


# --------------------------------------------------------------------------- point labels

_BASE_OFFSETS = ((6, 3), (6, -11), (-6, 3), (-6, -11), (0, 8), (0, -16))


def _crosses(bb: Any, a: Any, b: Any, pad: float) -> bool:
    """The segment a-b (display coordinates) meets the box ``bb`` grown by ``pad`` pixels
    (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = bb.x0 - pad, bb.y0 - pad, bb.x1 + pad, bb.y1 + pad
    (ax_, ay), (bx, by) = a, b
    dx, dy = bx - ax_, by - ay
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, ax_ - x0), (dx, x1 - ax_), (-dy, ay - y0), (dy, y1 - ay)):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def place_labels(
    fig: Figure,
    ax: Axes,
    xs: Sequence[float] | np.ndarray,
    ys: Sequence[float] | np.ndarray,
    labels: Sequence[str],
    *,
    short: Sequence[str] | None = None,
    key: Callable[[int], float] | None = None,
    radius_pt: float = 4.0,
    base: Sequence[tuple[float, float]] = _BASE_OFFSETS,
    right_slack_px: float = 0.0,
    color: str = C_SMALL,
    leader: str = "#aaaaaa",
    zorder: int = 5,
    lines: Sequence[tuple[tuple[float, float], tuple[float, float]]] = (),
) -> tuple[list[int], list[int]]:
    """Label points at the first of a few offsets free of other labels and points.

    Points are taken in the order of ``key`` (default: as given); the offsets ``base`` are
    tried at 1, 2 and 3 times their size, the farther ones with a thin leader line.  A
    label with no free place is tried as ``short[i]`` (e.g. the study number), else left
    out.  A label must stay inside the axes (``right_slack_px`` lets it pass the right
    edge by that much).  ``lines`` (segments in data coordinates, e.g. regression lines) are
    kept clear of labels where a free place exists; otherwise a label may cross one rather
    than be left out.  Returns the indices shown by their short label and those left out.
    """
    from matplotlib.transforms import Bbox  # optional heavy dependency

    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    box = ax.get_window_extent(renderer)
    r = radius_pt * fig.dpi / 72
    taken = [
        Bbox.from_bounds(px - r, py - r, 2 * r, 2 * r)
        for px, py in (ax.transData.transform((x, y)) for x, y in zip(xs, ys, strict=True))
    ]
    offsets = [(dx * m, dy * m, m) for m in (1, 2, 3) for dx, dy in base]
    numbered: list[int] = []
    left: list[int] = []
    segs = [tuple(ax.transData.transform(pt) for pt in seg) for seg in lines]
    for i in sorted(range(len(xs)), key=key or (lambda i: i)):
        texts = [labels[i]] if short is None else [labels[i], short[i]]
        placed = False
        for avoid in [True, False] if segs else [False]:
            for text in texts:
                for dx, dy, m in offsets:
                    ha = "left" if dx > 0 else "right" if dx < 0 else "center"
                    arrow = None if m == 1 else {"arrowstyle": "-", "color": leader, "lw": 0.5}
                    t = ax.annotate(text, (xs[i], ys[i]), xytext=(dx, dy),
                                    textcoords="offset points", fontsize=SMALL, ha=ha,
                                    va="bottom", color=color, zorder=zorder,
                                    arrowprops=arrow)  # fmt: skip
                    bb = t.get_window_extent(renderer)
                    inside = (bb.x0 >= box.x0 and bb.x1 <= box.x1 + right_slack_px
                              and bb.y0 >= box.y0 and bb.y1 <= box.y1)  # fmt: skip
                    clear = not avoid or not any(_crosses(bb, a, b, 2.0) for a, b in segs)
                    if inside and clear and not any(bb.overlaps(o) for o in taken):
                        taken.append(bb)
                        placed = True
                        if text is not labels[i]:
                            numbered.append(i)
                        break
                    t.remove()
                if placed:
                    break
            if placed:
                break
        if not placed:
            left.append(i)
    return sorted(numbered), sorted(left)
