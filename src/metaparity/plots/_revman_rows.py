"""The rows of the RevMan-style forest plot (:mod:`metaparity.plots.revman`): its input
records, their validation, and the table rows built from them (no positions, no drawing)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from metaparity.plots._common import DASH, fmt_count, num

__all__ = [
    "ForestStudy",
    "ForestPooled",
    "Row",
    "build_rows",
    "check_pooled",
    "check_published",
    "check_study",
    "check_xlim",
]


@dataclass(frozen=True)
class ForestStudy:
    """One study row of a forest plot.

    Parameters
    ----------
    label : str
        Study label, e.g. ``"Chari 2019"``.
    group : str or None
        Subgroup name (a key of ``subtotals`` in :func:`revman_forest`) or None.
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


# --------------------------------------------------------------------------- validation


def check_study(s: Any, i: int) -> ForestStudy:
    if not isinstance(s, ForestStudy):
        raise ValueError(f"studies[{i}] is {type(s).__name__}, not a ForestStudy")
    lab = repr(s.label)
    if not isinstance(s.label, str):
        raise ValueError(f"study {lab}: label must be a string")
    w = num(s.weight)
    est, lb, ub = num(s.est), num(s.lb), num(s.ub)
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
    for cname, cv in (("events", s.events), ("n", s.n)):
        if cv is not None and (math.isnan(num(cv)) or num(cv) < 0 or math.isinf(num(cv))):
            raise ValueError(f"study {lab}: {cname} must be a finite count >= 0, got {cv!r}")
    if s.events is not None and s.n is not None and num(s.events) > num(s.n):
        raise ValueError(f"study {lab}: events ({s.events!r}) exceed n ({s.n!r})")
    return s


def check_pooled(p: Any, where: str) -> ForestPooled:
    if not isinstance(p, ForestPooled):
        raise ValueError(f"{where} is {type(p).__name__}, not a ForestPooled")
    est, lb, ub = num(p.est), num(p.lb), num(p.ub)
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


def check_published(
    published: Mapping[str, Any] | None,
    subtotals: Mapping[str, ForestPooled | None],
    total: ForestPooled | None,
) -> dict[str, tuple[float, float, float]]:
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
    return pub


def check_xlim(xlim: Any) -> tuple[float, float] | None:
    if xlim is None:
        return None
    lim = (float(xlim[0]), float(xlim[1]))
    if not (math.isfinite(lim[0]) and math.isfinite(lim[1]) and lim[0] < lim[1]):
        raise ValueError(f"xlim must be two finite increasing numbers, got {lim!r}")
    return lim


# --------------------------------------------------------------------------- rows


@dataclass
class Row:
    kind: str  # heading, study, note, pooled, published, small, gap
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


def _study_rows(ss: Sequence[ForestStudy]) -> list[Row]:
    rows = []
    for s in ss:
        w = num(s.weight)
        rows.append(Row("study", study=s, text=s.label, events=fmt_count(s.events),
                         n=fmt_count(s.n), weight=DASH if math.isnan(w) else f"{w:.1f}"))  # fmt: skip
        note = s.note or ("not pooled" if math.isnan(w) else "")
        if note:
            rows.append(Row("note", study=s, text=note))
    return rows


def _sums(ss: Sequence[ForestStudy]) -> tuple[str, str]:
    ev = nn = ""
    if ss and all(s.events is not None for s in ss):
        ev = fmt_count(sum(num(s.events) for s in ss))
    if ss and all(s.n is not None for s in ss):
        nn = fmt_count(sum(num(s.n) for s in ss))
    return ev, nn


def _pooled_rows(
    p: ForestPooled | None,
    key: str,
    ss: Sequence[ForestStudy],
    weight: str,
    pub: Mapping[str, tuple[float, float, float]],
    common_model: str,
) -> list[Row]:
    ev, nn = _sums(ss)
    label = p.label if p is not None else "Subtotal (95% CI)"
    # a pooled row that cannot be estimated has no weight (not "100.0")
    w = weight if p is not None else DASH
    rows = [Row("pooled", pooled=p, key=key, text=label, events=ev, n=nn, weight=w)]
    if key in pub:
        rows.append(Row("published", key=key, text="published (paper)", pub=pub[key]))
    if p is None:
        return rows
    model = f"Model: {p.model}" if p.model and not common_model else ""
    rows += [Row("small", text=line) for line in (model, p.heterogeneity, p.overall_test) if line]
    return rows


def build_rows(
    studies: Sequence[ForestStudy],
    subtotals: Mapping[str, ForestPooled | None],
    total: ForestPooled | None,
    pub: Mapping[str, tuple[float, float, float]],
) -> tuple[list[Row], str, bool]:
    """The rows in order (no positions yet), the model shared by every pooled row ("" when
    they differ: each says its own) and whether any subgroup heading was made."""
    models = {p.model for p in [*subtotals.values(), total] if p is not None}
    # one model for every pooled row: say it once, above the graph (as RevMan does)
    common = models.pop() if len(models) == 1 else ""
    order = list(subtotals)
    for s in studies:
        if subtotals and s.group is not None and s.group not in order:
            order.append(s.group)
    rows = _study_rows([s for s in studies if not subtotals or s.group is None])
    for g in order:
        ss = [s for s in studies if s.group == g]
        if rows:
            rows.append(Row("gap"))
        rows.append(Row("heading", text=str(g)))
        rows += _study_rows(ss)
        if g in subtotals:
            rows += _pooled_rows(subtotals[g], g, ss, "100.0", pub, common)
    if total is not None:
        if rows:
            rows.append(Row("gap"))
        rows += _pooled_rows(total, "overall", studies, "" if order else "100.0", pub, common)
    if not rows:
        rows.append(Row("small", text="(no studies)"))
    return rows, common, bool(order)
