"""Reproduce published binary-outcome meta-analyses, figure by figure (``reproduce --case``).

The bundled cases (``case_data/cases.json``) are analyses of metadat data sets whose
figures were printed by their source -- the metafor/metadat documentation (the
printout of ``rma.mh``, ``rma.peto`` or ``rma`` in the help page's example) or the
article: Yusuf et al. (1985) beta blockers (Peto), the BCG trials (Mantel-Haenszel
OR/RR, Peto, inverse-variance and DerSimonian-Laird), Anand & Yusuf (1999) (MH),
Egger et al. (2001) magnesium (Peto) and Collins & Langman (1985) (Peto).  Each case
names its source (URL, where on it, the call) and quotes every figure as printed.

:func:`reproduce_case` refits the analysis with metaparity and gives each printed
figure a verdict:

* ``reproduced`` -- our value printed at the source's digits is the printed text;
* ``within rounding`` -- it differs from the printed text by at most one unit in the
  last printed digit (a different rounding of a tie, or of a bound);
* ``discrepancy`` -- anything further away (a typo in the source, or a different
  method).  A printed ``<.0001`` is reproduced when our value is below the bound.

No metafor equivalent (metafor reproduces the analyses; this checks the printed
numbers).

>>> [c for c in case_names() if c.startswith("bcg-mh")]
['bcg-mh-or', 'bcg-mh-rr']
"""

from __future__ import annotations

import difflib
import json
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, cast

import numpy as np
import pandas as pd

from metaparity._core.io import InputError
from metaparity.effects.escalc import escalc
from metaparity.models.mh import rma_mh
from metaparity.models.peto import rma_peto
from metaparity.models.uni import rma

__all__ = ["Case", "CaseFigure", "CaseResult", "case_names", "load_case", "reproduce_case"]

#: the verdicts, best first
VERDICTS = ("reproduced", "within rounding", "discrepancy", "not computed")


@dataclass(frozen=True)
class Case:
    """One published analysis: its data, model and the figures its source printed."""

    name: str
    title: str
    dataset: str
    model: str
    measure: str
    args: dict[str, Any]
    filter: dict[str, Any]
    options: dict[str, Any]
    source: dict[str, str]
    figures: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class CaseFigure:
    """A printed figure next to ours, with the verdict."""

    key: str
    as_printed: str
    printed: str
    ours: float | None
    ours_printed: str
    verdict: str


@dataclass(frozen=True)
class CaseResult:
    """:func:`reproduce_case`'s answer: the case, the fit and one row per printed figure."""

    case: Case
    k: int
    figures: tuple[CaseFigure, ...]
    fit: Any = field(repr=False, default=None)
    #: the warnings the fit gave (as metafor gives them, e.g. double-zero studies)
    warnings: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """How many figures got each verdict."""
        return {v: sum(f.verdict == v for f in self.figures) for v in VERDICTS}

    @property
    def ok(self) -> bool:
        """True when no figure is a discrepancy."""
        return self.counts["discrepancy"] == 0 and self.counts["not computed"] == 0

    def to_frame(self) -> pd.DataFrame:
        """The figures as a table (one row each)."""
        return pd.DataFrame([f.__dict__ for f in self.figures])

    def text(self) -> str:
        """A plain-text report: title, source, then one line per figure."""
        c = self.case
        lines = [f"{c.name}: {c.title}", f"  source: {c.source.get('url', '')}"]
        if c.source.get("call"):
            lines.append(f"  call:   {c.source['call']}")
        w = max(len(f.as_printed) for f in self.figures) if self.figures else 10
        lines.append(f"  {'figure'.ljust(w)}  {'printed':>10}  {'ours':>10}  verdict")
        for f in self.figures:
            lines.append(
                f"  {f.as_printed.ljust(w)}  {f.printed:>10}  {f.ours_printed:>10}  {f.verdict}"
            )
        lines += [f"  warning: {w}" for w in self.warnings]
        n = self.counts
        lines.append("  " + ", ".join(f"{v} {n[v]}" for v in VERDICTS if n[v]))
        return "\n".join(lines)


@cache
def _specs() -> dict[str, dict[str, Any]]:
    with resources.as_file(
        resources.files("metaparity.reproduce") / "case_data" / "cases.json"
    ) as p:
        spec = json.loads(p.read_text())
    return {c["name"]: c for c in spec["cases"]}


def case_names() -> list[str]:
    """The bundled cases' names, in the order of the file."""
    return list(_specs())


def load_case(name: str) -> Case:
    """The bundled case ``name`` (see :func:`case_names`)."""
    specs = _specs()
    if name not in specs:
        near = difflib.get_close_matches(name, list(specs), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise InputError(
            f"no case {name!r}; {hint}`metaparity reproduce --list-cases` lists the "
            f"{len(specs)} bundled cases (or give --case all)"
        )
    s = specs[name]
    return Case(
        name=s["name"], title=s["title"], dataset=s["dataset"], model=s["model"],
        measure=s["measure"], args=dict(s["args"]), filter=dict(s["filter"]),
        options=dict(s["options"]), source=dict(s["source"]), figures=tuple(s["figures"]),
    )  # fmt: skip


def _data(case: Case) -> pd.DataFrame:
    with resources.as_file(
        resources.files("metaparity.reproduce") / "case_data" / f"{case.dataset}.csv"
    ) as p:
        df = pd.read_csv(p)
    f = case.filter
    if "rows" in f:
        df = df.iloc[[i - 1 for i in f["rows"]]]
    if "drop_rows" in f:
        df = df.drop(df.index[[i - 1 for i in f["drop_rows"]]])
    if "query" in f:
        df = df.query(f["query"])
    # metafor's subset= keeps rows with missing counts, then drops them with a warning
    cols = list(case.args.values())
    return df.dropna(subset=cols).reset_index(drop=True)


def _fit_uni(case: Case, df: pd.DataFrame) -> Any:
    cols = {k: df[v].to_numpy(float) for k, v in case.args.items()}
    es = escalc(cast(Any, case.measure), **cols)
    return rma(es["yi"], es["vi"], method=case.options.get("method", "REML"))


def _fit_mh(case: Case, df: pd.DataFrame) -> Any:
    return rma_mh(measure=case.measure, data=df, **case.args, **case.options)


def _fit_peto(case: Case, df: pd.DataFrame) -> Any:
    return rma_peto(data=df, **case.args, **case.options)


_FITTERS: dict[str, Callable[[Case, pd.DataFrame], Any]] = {
    "uni": _fit_uni,
    "mh": _fit_mh,
    "peto": _fit_peto,
}


def _value(res: Any, key: str, measure: str) -> float | None:
    """The figure ``key`` of a fit (``pred*``: back-transformed for ratio measures)."""
    if key.startswith("pred"):
        p = res.predict(transf=np.exp if measure in ("OR", "RR", "PETO", "IRR") else None)
        return float({"pred": p.pred, "pred_ci_lb": p.ci_lb, "pred_ci_ub": p.ci_ub}[key])
    if key == "QE_df":
        yi = np.asarray(getattr(res, "yi", []), dtype=float)
        return float(np.isfinite(yi).sum() - 1) if yi.size else float(res.k - 1)
    val = getattr(res, key, None)
    return None if val is None else float(val)


_LT = re.compile(r"^<\s*(\d*\.?\d+)$")


def _verdict(printed: str, ours: float | None) -> tuple[str, str]:
    """``(verdict, ours as printed)`` for one figure."""
    text = printed.strip().rstrip("%").strip()
    if ours is None or not math.isfinite(ours):
        return "not computed", "NA"
    m = _LT.match(text)
    if m:
        bound = float(m.group(1))
        d = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
        shown = f"<{m.group(1)}" if ours < bound else f"{ours:.{d}f}"
        return ("reproduced" if ours < bound else "discrepancy"), shown
    d = len(text.split(".")[1]) if "." in text else 0
    shown = f"{ours:.{d}f}"
    if shown in ("-" + "0." + "0" * d, "-0"):
        shown = shown[1:] if not text.startswith("-") else shown
    if shown == text or float(shown) == float(text):
        return "reproduced", shown
    ok = abs(ours - float(text)) <= 10.0 ** (-d) * (1 + 1e-9)
    return ("within rounding" if ok else "discrepancy"), shown


def reproduce_case(name: str) -> CaseResult:
    """Refit the bundled case ``name`` and give each printed figure a verdict.

    Parameters
    ----------
    name : str
        One of :func:`case_names`.

    Returns
    -------
    CaseResult
        ``figures`` (one :class:`CaseFigure` per printed figure), ``counts``, ``ok``,
        ``text()``.

    Examples
    --------
    >>> r = reproduce_case("bcg-dl-rr")
    >>> r.ok, r.counts["reproduced"] > 0
    (True, True)
    """
    case = load_case(name)
    df = _data(case)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _FITTERS[case.model](case, df)
    figs = []
    for f in case.figures:
        ours = _value(res, f["key"], case.measure)
        verdict, shown = _verdict(f["printed"], ours)
        figs.append(CaseFigure(f["key"], f["as_printed"], f["printed"], ours, shown, verdict))
    said = tuple(dict.fromkeys(str(w.message) for w in caught))
    return CaseResult(case=case, k=int(res.k), figures=tuple(figs), fit=res, warnings=said)
