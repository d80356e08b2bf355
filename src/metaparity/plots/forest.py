"""Forest plot of a fitted model, as ``metafor::forest(res)`` draws it.

The front end (:func:`_prepare`) turns the model and the arguments into what is to be
drawn -- labels, intervals on the axis scale, annotation texts, axis range and ticks -- and
can be read and tested without matplotlib; :func:`_layout` places the columns and rows in
inches and :func:`_draw` draws them with the primitives shared with the RevMan-style plot
(:mod:`metaparity.plots._forest_draw`).  matplotlib is imported only when a figure is drawn.

Examples
--------
>>> import metaparity as mp
>>> from metaparity.plots import forest
>>> dat = mp.escalc("RR", ai=[4, 6, 3, 62], bi=[119, 300, 228, 13536], ci=[11, 29, 11, 248],
...                 di=[128, 274, 209, 12619])
>>> res = mp.rma(data=dat, slab=["Aronson 1948", "Ferguson 1949", "Rosenthal 1960", "Hart 1977"])
>>> fig = forest(res, atransf="exp")
>>> fig.axes[1].get_xlabel()
'Risk Ratio (log scale)'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy import stats

from metaparity.effects.transforms import BACK_TRANSFORMS, resolve
from metaparity.plots._common import (
    C_POOLED,
    C_TEXT,
    FONT,
    SMALL,
    TITLE,
    check_dpi,
    check_path,
    fmt_num,
    fmt_tick,
    measure_label,
    open_spines,
    require_mpl,
    save,
)
from metaparity.plots._forest_draw import (
    COL_PAD,
    GRAPH_W,
    LINE,
    ForestCanvas,
    IntervalColumn,
    TextMeasure,
    interval_parts,
    weight_sides,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["forest"]

Transform = Callable[[Any], Any] | str | bool | None
_X0 = 0.05  # left margin, inches
_LABEL_MAX = 3.2  # study labels wrap at this width, inches
_C_CI = "#111111"  # metafor draws studies in the foreground colour
_C_PI = "#808080"


# --------------------------------------------------------------------------- front end


@dataclass
class _Spec:
    """Everything :func:`forest` draws, on the axis scale (no positions yet)."""

    labels: list[str]
    est: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    weights: np.ndarray  # percent
    texts: list[tuple[str, str, str]]  # annotations "est" "[lb," "ub]"
    wtexts: list[str]  # "10.10%"; empty without showweights
    wtotal: str  # "100.00%" on the model row (with showweights)
    model: tuple[float, float, float] | None  # pooled est, lb, ub (None: addfit=False)
    model_text: tuple[str, str, str] | None
    model_label: str
    pi: tuple[float, float] | None
    alim: tuple[float, float]
    xlim: tuple[float, float]
    at: list[float]
    at_labels: list[str]
    xlab: str
    header: tuple[str, str] | None
    refline: float | None


def _level(level: float) -> float:
    lv = float(level)
    if 0 < lv < 1:
        lv *= 100.0  # metafor accepts 0.95 as 95
    if not 0 < lv < 100:
        raise ValueError(f"level={level!r} must be a percentage in (0, 100), e.g. 95")
    return lv


def _order(order: Any, yi: np.ndarray, vi: np.ndarray) -> np.ndarray:
    k = yi.size
    if order is None:
        return np.arange(k)
    if isinstance(order, str):
        if order in ("obs", "yi"):
            return np.argsort(yi, kind="stable")
        if order == "prec":
            return np.argsort(vi, kind="stable")
        raise ValueError(f"order={order!r}: use 'obs' (or 'yi'), 'prec', or a sequence of indices")
    idx = np.asarray(order)
    if (
        idx.shape != (k,)
        or not np.issubdtype(idx.dtype, np.integer)
        or sorted(idx) != list(range(k))
    ):
        raise ValueError(
            f"order: a sequence of indices must hold each of 0..{k - 1} once "
            f"(0-based, one per study), got {list(order)!r}"
        )
    return idx


def _scale_kind(t: Transform, f: Callable[[Any], Any] | None, measure: str, ni: Any) -> str | None:
    """``None`` (no transform), the name of the measure's own back-transform, or "other"."""
    if f is None:
        return None
    natural = BACK_TRANSFORMS.get(measure)
    if natural is None:
        return "other"
    if t is True or (isinstance(t, str) and t.removeprefix("transf.") == natural):
        return natural
    try:
        return natural if resolve(natural, measure, ni) is t else "other"
    except ValueError:  # pragma: no cover - ipft.hm without sizes
        return "other"


def _weights(res: Any) -> np.ndarray:
    """Percent weights as metafor's ``weights(res)``."""
    if getattr(res, "weights", None) is not None:
        w = np.asarray(res.weights, dtype=float)
    else:
        tau2 = 0.0 if res.method in ("EE", "FE") else float(res.tau2)
        w = 1.0 / (np.asarray(res.vi, dtype=float) + tau2)
    return 100.0 * w / w.sum()


def _axis(
    vals: list[float], alim: Any, xlim: Any, at: Any
) -> tuple[tuple[float, float], tuple[float, float], list[float]]:
    """``alim`` (axis range, CIs beyond it end in arrows), ``xlim`` (graph range) and ticks."""
    from matplotlib.ticker import MaxNLocator  # optional heavy dependency

    def pair(name: str, v: Any) -> tuple[float, float]:
        p = (float(v[0]), float(v[1]))
        if not (math.isfinite(p[0]) and math.isfinite(p[1]) and p[0] < p[1]):
            raise ValueError(f"{name} must be two finite increasing numbers, got {v!r}")
        return p

    ticks = None if at is None else sorted(float(a) for a in at)
    if alim is not None:
        a = pair("alim", alim)
    elif ticks:
        a = (ticks[0], ticks[-1]) if len(ticks) > 1 else (ticks[0] - 1, ticks[0] + 1)
    elif xlim is not None:
        a = pair("xlim", xlim)
    else:
        fin = [v for v in vals if math.isfinite(v)] or [0.0, 1.0]
        lo, hi = min(fin), max(fin)
        if hi - lo < 1e-12:
            lo, hi = lo - 1.0, hi + 1.0
        t = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        a = (float(t[0]), float(t[-1]))
    x = pair("xlim", xlim) if xlim is not None else a
    if ticks is None:
        t = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(*a)
        ticks = [float(v) for v in t if a[0] - 1e-9 * (a[1] - a[0]) <= v <= a[1] + 1e-9]
    return a, x, ticks


def _header(header: Any, right: str) -> tuple[str, str] | None:
    if header is False or header is None:
        return None
    if header is True:
        return "Study", right
    if isinstance(header, str):
        return header, right
    h = list(header)
    if len(h) not in (1, 2) or not all(isinstance(s, str) for s in h):
        raise ValueError(f"header must be True/False, a string or two strings, got {header!r}")
    return h[0], h[1] if len(h) == 2 else right


def _prepare(res: Any, a: dict[str, Any]) -> _Spec:
    """Compute what :func:`forest` draws (the arguments as in its signature)."""
    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    k = yi.size
    if k == 0:
        raise ValueError("forest needs at least one study")
    if a["transf"] not in (None, False) and a["atransf"] not in (None, False):
        raise ValueError("use either transf= or atransf= to specify a transformation, not both")
    tf = resolve(a["transf"], res.measure, res.ni)
    af = resolve(a["atransf"], res.measure, res.ni)
    level = _level(res.level if a["level"] is None else a["level"])
    digits = a["digits"]
    dig, adig = (int(digits), int(digits)) if np.ndim(digits) == 0 else map(int, digits)
    slab = a["slab"] if a["slab"] is not None else res.slab
    labels = [str(s) for s in slab] if slab is not None else [f"Study {i + 1}" for i in range(k)]
    if len(labels) != k:
        raise ValueError(f"slab has {len(labels)} labels for k = {k} studies")
    idx = _order(a["order"], yi, vi)
    crit = stats.norm.isf((1 - level / 100) / 2)
    se = np.sqrt(vi)

    def on_axis(*xs: Any) -> list[np.ndarray]:
        return [np.asarray(tf(np.asarray(x, float)), float) if tf else np.asarray(x, float)
                for x in xs]  # fmt: skip

    def shown(x: Any) -> np.ndarray:  # annotation values
        return np.asarray(af(np.asarray(x, float)), float) if af else np.asarray(x, float)

    est, l1, u1 = on_axis(yi, yi - crit * se, yi + crit * se)
    lb, ub = np.minimum(l1, u1), np.maximum(l1, u1)  # a decreasing transform swaps them
    texts = [interval_parts(*_sorted3(shown(v) for v in (e, lo, hi)), dig)
             for e, lo, hi in zip(est, lb, ub, strict=True)]  # fmt: skip
    w = _weights(res)
    random = res.method not in ("EE", "FE")
    model = model_text = pi = None
    vals = [*lb, *ub, *est]
    if a["addfit"]:
        p = res.predict(level=level)
        m_e, m_l, m_u, p_l, p_u = on_axis(p.pred, p.ci_lb, p.ci_ub, p.pi_lb, p.pi_ub)
        c_lo, c_hi = sorted((float(m_l), float(m_u)))
        model = (float(m_e), c_lo, c_hi)
        model_text = interval_parts(*_sorted3(shown(v) for v in model), dig)
        vals += list(model)
        if a["addpred"] and random:
            pi = (float(min(p_l, p_u)), float(max(p_l, p_u)))
            vals += list(pi)
    alim, xlim, at = _axis(vals, a["alim"], a["xlim"], a["at"])
    kind = _scale_kind(a["transf"] if tf else a["atransf"], tf or af, res.measure, res.ni)
    back = None if kind is None else ("transf" if tf and kind != "other" else kind)
    right = f"{measure_label(res.measure, 'head', back)} [{level:g}% CI]"
    mlab = a["mlab"] or ("RE Model" if random else f"{res.method} Model")
    return _Spec(
        labels=[labels[i] for i in idx], est=est[idx], lb=lb[idx], ub=ub[idx], weights=w[idx],
        texts=[texts[i] for i in idx],
        wtexts=[f"{fmt_num(v, dig)}%" for v in w[idx]] if a["showweights"] else [],
        wtotal=f"{fmt_num(100.0, dig)}%",
        model=model, model_text=model_text, model_label=mlab, pi=pi, alim=alim, xlim=xlim,
        at=at, at_labels=[fmt_tick(float(shown(t)), adig) for t in at],
        xlab=a["xlab"] if a["xlab"] is not None else measure_label(res.measure, "axis", back),
        header=_header(a["header"], right),
        refline=None if a["refline"] is None else float(a["refline"]),
    )  # fmt: skip


def _sorted3(vals: Any) -> tuple[float, float, float]:
    """(est, lo, hi) with the bounds in increasing order (after a decreasing ``atransf``)."""
    e, lo, hi = (float(v) for v in vals)
    return e, min(lo, hi), max(lo, hi)


# --------------------------------------------------------------------------- layout


@dataclass
class _Layout:
    width: float
    height: float
    title_lines: list[str]
    head_y: float
    body_top: float
    rows_y: list[float]
    labels: list[str]  # wrapped
    rule_y: float  # rule above the model row
    model_y: float
    body_bottom: float
    graph: tuple[float, float]
    weight_right: float
    ci: IntervalColumn
    right: float  # right edge of the annotations


def _layout(s: _Spec, m: TextMeasure, title: str | None) -> _Layout:
    """Columns: labels | graph | weights | ``est [lb, ub]``; rows stacked from the top."""
    labels = ["\n".join(m.wrap(t, FONT, _LABEL_MAX)) or t for t in s.labels]
    label_w = max([m.width(t, FONT) for t in labels] + [m.width(s.model_label, FONT)])
    if s.header:
        label_w = max(label_w, m.width(s.header[0], FONT, "bold"))
    gl = _X0 + label_w + 0.3
    gr = gl + GRAPH_W
    triples = s.texts + ([s.model_text] if s.model_text else [])
    ww = max([m.width(t, FONT) for t in [*s.wtexts, "100.00%"]]) if s.wtexts else 0.0
    block = (
        ww + (COL_PAD if ww else 0.0) + IntervalColumn.fit(m, triples, 0.0, weight="normal").width
    )
    head_w = m.width(s.header[1], FONT, "bold") if s.header else 0.0
    left = gr + 0.3 + max(0.0, head_w - block)  # right-align the block under its heading
    ci = IntervalColumn.fit(m, triples, left + ww + (COL_PAD if ww else 0.0), weight="normal")
    right = ci.left + ci.width
    width = right + 0.15
    title_lines = m.wrap(title, TITLE, width - 0.1, weight="bold") if title else []
    y = 0.08 + len(title_lines) * 0.24 + (0.12 if title_lines else 0.0)
    head_y = y + 0.16
    y += 0.36 if s.header else 0.05
    body_top = y
    y += 0.06
    rows_y = []
    for t in labels:
        h = max(LINE, LINE * 0.8 * (t.count("\n") + 1) + 0.05)
        rows_y.append(y + h / 2)
        y += h
    rule_y = y + 0.08
    model_y = rule_y + 0.08 + LINE / 2 + 0.04 if s.model else rule_y
    body_bottom = (model_y + LINE / 2 + 0.06) if s.model else rule_y
    return _Layout(width, body_bottom + 0.5, title_lines, head_y, body_top, rows_y, labels,
                   rule_y, model_y, body_bottom, (gl, gr), ci.left - COL_PAD, ci,
                   right)  # fmt: skip


# --------------------------------------------------------------------------- drawing


def _draw_rows(cv: ForestCanvas, s: _Spec, lay: _Layout) -> None:
    sides = weight_sides(list(s.weights), LINE * 72 * 0.56)
    cap = LINE * 0.16
    for i, y in enumerate(lay.rows_y):
        cv.text(_X0, y, lay.labels[i])
        if s.wtexts:
            cv.text(lay.weight_right, y, s.wtexts[i], ha="right")
        cv.interval(lay.ci, y, s.texts[i], C_TEXT)
        cv.ci_line(y, float(s.lb[i]), float(s.ub[i]), _C_CI, lw=0.9, cap=cap)
        cv.square(y, float(s.est[i]), sides[i], _C_CI)
    if s.model is None or s.model_text is None:
        return
    y = lay.model_y
    cv.text(_X0, y, s.model_label)
    if s.wtexts:
        cv.text(lay.weight_right, y, s.wtotal, ha="right")
    cv.interval(lay.ci, y, s.model_text, C_TEXT)
    if s.pi is not None:
        cv.pi_line(y, *s.pi, cap=cap, color=_C_PI)
    e, lo, hi = s.model
    cv.diamond(y, e, lo, hi, LINE * 0.3, fc=C_POOLED, ec=C_POOLED, zorder=5)
    if cv.diamond_overflows(lo, hi):
        cv.ci_line(y, lo, hi, C_POOLED, lw=0.8)


def _draw(s: _Spec, lay: _Layout, dpi: int) -> Figure:
    gl, gr = lay.graph
    cv = ForestCanvas(lay.width, lay.height, dpi, (gl, gr, lay.body_top, lay.body_bottom),
                      s.xlim, clip=s.alim)  # fmt: skip
    for i, line in enumerate(lay.title_lines):
        cv.ax.text(_X0, 0.08 + i * 0.24, line, ha="left", va="top", fontsize=TITLE,
                   fontweight="bold", color=C_TEXT)  # fmt: skip
    if s.header:
        cv.text(_X0, lay.head_y, s.header[0], fontweight="bold")
        cv.text(lay.right, lay.head_y, s.header[1], ha="right", fontweight="bold")
        cv.hline(_X0 - 0.03, lay.right + 0.05, lay.body_top, color=C_TEXT)
    if s.model is not None:
        cv.hline(_X0 - 0.03, lay.right + 0.05, lay.rule_y, color=C_TEXT)
    _draw_rows(cv, s, lay)
    gax = cv.gax
    if s.refline is not None and s.xlim[0] <= s.refline <= s.xlim[1]:
        gax.axvline(s.refline, color=C_TEXT, lw=0.8, ls=(0, (1, 2)), zorder=1)
    open_spines(gax, ("top", "right", "left"))
    gax.spines["bottom"].set_bounds(*s.alim)
    gax.set_yticks([])
    gax.set_xticks(s.at)
    gax.set_xticklabels(s.at_labels)
    gax.tick_params(axis="x", labelsize=SMALL + 0.5, length=4)
    gax.set_xlabel(s.xlab, fontsize=FONT)
    return cv.fig


def forest(
    res: Any,
    *,
    transf: Transform = None,
    atransf: Transform = None,
    xlim: tuple[float, float] | None = None,
    alim: tuple[float, float] | None = None,
    at: Sequence[float] | None = None,
    header: bool | str | Sequence[str] = True,
    order: Literal["obs", "yi", "prec"] | Sequence[int] | None = None,
    refline: float | None = 0.0,
    digits: int | tuple[int, int] = 2,
    xlab: str | None = None,
    slab: Sequence[str] | None = None,
    mlab: str | None = None,
    level: float | None = None,
    showweights: bool = False,
    addfit: bool = True,
    addpred: bool = False,
    title: str | None = None,
    path: str | Path | None = None,
    dpi: int = 150,
) -> Figure:
    """Forest plot of a fitted model: one row per study, the pooled diamond below.

    Equivalent to ``metafor::forest(res)``.  Study labels at the left; each study's
    estimate as a square whose area grows with its weight in the model, with its
    ``level`` % Wald CI; the ``estimate [ci.lb, ci.ub]`` annotations at the right (with
    the weights when ``showweights``); the pooled estimate and CI as a polygon labelled
    "RE Model" (random effects) or "EE Model"/"FE Model"; a dotted reference line.  The
    figure grows with the number of studies and the width of the labels, so nothing is cut.

    Parameters
    ----------
    res : RmaResult
        An intercept-only model from :func:`metaparity.rma`.
    transf : callable, str or True, optional
        Applied to the estimates and bounds; the axis is in transformed units (e.g.
        ``transf=np.exp`` draws risk ratios on a linear axis).  A name known to
        :func:`metaparity.effects.transforms.resolve` (``"exp"``, ``"ilogit"``,
        ``"transf.ilogit"``, ...) or True for the measure's back-transform.
    atransf : callable, str or True, optional
        Applied to the axis labels and annotations only: the axis stays on the analysis
        scale (e.g. ``atransf=np.exp`` with log risk ratios: a log-scale axis labelled in
        risk ratios).  Give ``transf`` or ``atransf``, not both.
    xlim : (float, float), optional
        Range of the graph column, in axis units (the text columns are laid out beside
        it, so unlike metafor's ``xlim`` it needs no room for them).  Default ``alim``.
    alim : (float, float), optional
        Range of the x axis; CIs beyond it end in an arrow.  Default: round numbers
        around every interval drawn (or the range of ``at``).
    at : sequence of float, optional
        Tick positions, in axis units (with ``atransf``: on the analysis scale, e.g.
        ``np.log([0.05, 0.25, 1, 4])``).
    header : bool, str or (str, str)
        Column headings: True gives "Study" and "<measure> [95% CI]" (metafor's
        ``header=TRUE``, e.g. "Risk Ratio [95% CI]" with ``atransf=exp``); a string
        replaces the left one, a pair both; False draws none.
    order : {"obs", "yi", "prec"} or sequence of int, optional
        Sort the studies by observed outcome ("obs", alias "yi"), by precision ("prec":
        smallest variance first), or give a 0-based permutation of the studies.
        Default: the order of the data.
    refline : float or None
        Position of the vertical reference line, in axis units (None: none).
    digits : int or (int, int)
        Decimals of the annotations and of the axis labels.
    xlab : str, optional
        Axis label; default from the measure and the transform ("Log Risk Ratio",
        "Risk Ratio (log scale)", "Risk Ratio", ...; "Observed Outcome" for generic data).
    slab : sequence of str, optional
        Study labels; default ``res.slab``, else "Study 1", "Study 2", ...
    mlab : str, optional
        Label of the pooled row (default "RE Model" / "EE Model").
    level : float, optional
        Confidence level of the study and pooled intervals (default ``res.level``).
    showweights : bool
        Add the weights (percent) to the annotations.
    addfit : bool
        Draw the pooled estimate.
    addpred : bool
        Draw the prediction interval as a dotted line through the diamond (random-effects
        models only), as metafor's ``addpred=TRUE``.
    title : str, optional
        Printed above the plot.
    path : str or Path, optional
        Save the figure there, ``.png``, ``.svg`` or ``.pdf`` by suffix.
    dpi : int
        Resolution of the figure and of a saved PNG.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[0]`` holds the text columns (coordinates in inches from the top left),
        ``fig.axes[1]`` the graph.

    Raises
    ------
    ValueError
        Both ``transf`` and ``atransf``, an unknown transform, a bad ``order``, ``level``,
        ``alim``/``xlim`` or file suffix.
    ImportError
        matplotlib is not installed.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.2], [0.01, 0.02, 0.03], method="EE")
    >>> fig = forest(res, header=True)
    >>> [t.get_text() for t in fig.axes[0].texts][:2]
    ['Study', 'Estimate [95% CI]']
    """
    args = dict(locals())
    check_path(path)
    dpi = check_dpi(dpi)
    spec = _prepare(res, args)
    require_mpl()
    lay = _layout(spec, TextMeasure(dpi), title)
    fig = _draw(spec, lay, dpi)
    save(fig, path, dpi)
    return fig
