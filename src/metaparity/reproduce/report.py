"""Render a :class:`~metaparity.reproduce.pipeline.Reproduction`: Markdown, self-contained HTML
(figures embedded), JSON, and the PNG figures (forest plots with subgroup diamonds,
Galbraith plots).  Everything is rendered in memory first and written atomically, so
a failure never leaves a partial report behind.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from metaparity._core.version import __version__
from metaparity.plots import (
    ForestPooled,
    ForestStudy,
    encode_png,
    revman_forest,
    revman_galbraith,
)
from metaparity.reproduce.pipeline import OVERALL, Analysis, FigureRow, Reproduction
from metaparity.reproduce.verdicts import VERDICTS, Printed, compare_triple

__all__ = [
    "render_markdown",
    "render_html",
    "render_json",
    "make_figures",
    "write_report",
    "header_lines",
]

_COLORS = {
    "reproduced": "#1a7f37",
    "within rounding": "#6a8f00",
    "discrepancy": "#c2410c",
    "not reproducible": "#6b7280",
}


def _f(x: float | None, d: int = 2) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    s = f"{x:.{d}f}"
    return "0." + "0" * d if s == "-0." + "0" * d else s


def _tri(t: tuple[float, float, float] | None, d: int = 2) -> str:
    if t is None:
        return "–"
    return f"{_f(t[0], d)} ({_f(t[1], d)} to {_f(t[2], d)})"


def _printed(f: FigureRow) -> str:
    e, lo, hi = f.printed
    if e is None and lo is None and hi is None:
        return "–"

    def t(p: Printed | None) -> str:
        return "–" if p is None else p.text

    return f"{t(e)} ({t(lo)} to {t(hi)})"


def _name(outcome: str, grade: str) -> str:
    return outcome + {"na": "", "all": " (all grades)", "ge3": " (grade ≥ 3)"}.get(
        grade, f" ({grade})"
    )


def _slug(*parts: str) -> str:
    s = "_".join(parts)
    return "".join(c if c.isalnum() else "-" for c in s).strip("-").lower()


def _method(a: Analysis | None) -> str:
    if a is None or not a.method:
        return "–"
    return a.method


def _p(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    return f"{x:.2g}" if x >= 1e-4 else f"{x:.1e}"


# --------------------------------------------------------------------------- #
# tables shared by Markdown and HTML
# --------------------------------------------------------------------------- #
def _figure_table(rep: Reproduction) -> tuple[list[str], list[list[str]], list[str]]:
    head = ["line", "outcome", "subgroup", "printed", "k", "metaparity", "metafor (live)",
            "model", f"alt.: {_alt_name(rep)}", "GLMM (all studies)", "verdict", "why / flags",
            "curator's note"]  # fmt: skip
    rows: list[list[str]] = []
    kinds: list[str] = []
    for f in rep.figures:
        a = f.analysis
        flags = "; ".join(
            f"⚑ {x.kind}: {x.text}" for x in f.verdict.flags if x.text not in f.verdict.cause
        )
        why = f.verdict.cause + (("; " if f.verdict.cause and flags else "") + flags)
        model = _method(a) + (f" — {a.reason}" if a is not None and a.reason else "")
        if a is not None and a.dropped and rep.zero.mode == "drop" and a.result is not None:
            model += f"; dropped (0 or all events): {', '.join(a.dropped)}"
        rows.append(
            [
                str(f.line),
                _name(f.outcome, f.grade),
                f.subgroup or "(text)",
                _printed(f),
                f.k_printed or "–",
                _tri(f.ours),
                _tri(f.metafor),
                model,
                _tri(f.alt),
                _tri(f.glmm),
                f.verdict.kind,
                why,
                f.typo_note,
            ]  # fmt: skip
        )
        kinds.append(f.verdict.kind)
    return head, rows, kinds


def _alt_name(rep: Reproduction) -> str:
    return "0.5 continuity correction" if rep.zero.mode == "drop" else "zero-event studies dropped"


def _pvalue_table(rep: Reproduction) -> tuple[list[str], list[list[str]], list[str]]:
    head = ["outcome", "printed p", "RevMan Q-between (df) p", "metafor: QE of rma(θ_g, se_g², 'EE')",
            "metafor QM (mods = ~ subgroup)", "verdict", "why"]  # fmt: skip
    rows: list[list[str]] = []
    kinds: list[str] = []
    for pv in rep.pvalues:
        t = pv.test
        ours = mf = qm = "–"
        if t is not None and t.computable:
            ours = f"Q = {t.Q:.3f} ({t.df}), p = {_p(t.p)}"
            if t.metafor and t.metafor.get("ok"):
                fit = t.metafor["fit"]
                mf = f"QE = {fit['QE']:.3f}, p = {_p(fit['QEp'])}"
            if t.qm_note:
                qm = f"not estimable: {t.qm_note}"
            if math.isfinite(t.QM):
                qm = f"QM = {t.QM:.3f}, p = {_p(t.QMp)} ({t.qm_method}, τ² shared)"
                if t.metafor_qm and t.metafor_qm.get("ok"):
                    fm = t.metafor_qm.get("fit", t.metafor_qm)
                    qm += f"; metafor {fm['QM']:.3f}"
        why = pv.verdict.cause + "".join(f"; ⚑ {x.kind}: {x.text}" for x in pv.verdict.flags)
        rows.append(
            [_name(pv.outcome, pv.grade), pv.printed.text, ours, mf, qm, pv.verdict.kind, why]
        )
        kinds.append(pv.verdict.kind)
    return head, rows, kinds


def _claims_table(rep: Reproduction) -> tuple[list[str], list[list[str]], list[str]]:
    head = ["outcome", "location", "quoted", "stated order", "status", "detail"]
    rows: list[list[str]] = []
    kinds: list[str] = []
    for c in rep.claims:
        p = "" if c.p is None else f", p {c.p.text}"
        rows.append(
            [
                _name(c.outcome, c.grade),
                c.location,
                f"{c.first.text} vs {c.second.text}{p}",
                f"{c.first_group} vs {c.second_group}",
                c.status,
                c.detail,
            ]  # fmt: skip
        )
        kinds.append(
            {"consistent": "reproduced", "not checkable": "not reproducible"}.get(
                c.status, "discrepancy"
            )
        )
    return head, rows, kinds


def _zero_summary(rep: Reproduction) -> list[str]:
    """Which zero-event handling reproduces the printed figures it affects."""
    lines = []
    n_main = n_alt = n = 0
    for f in rep.figures:
        a = f.analysis
        if a is None or not a.dropped or f.ours is None or f.printed[0] is None:
            continue
        n += 1
        main = f.verdict.kind in ("reproduced", "within rounding")
        alt_v = compare_triple(f.alt, f.printed) if f.alt is not None else None
        alt = alt_v is not None and alt_v.kind in ("reproduced", "within rounding")
        n_main += main
        n_alt += alt
        lines.append(
            f"- {_name(f.outcome, f.grade)}, {f.subgroup}: printed {_printed(f)}; "
            f"{rep.zero.name}: {_tri(f.ours)} ({'reproduces' if main else 'does not'}); "
            f"{_alt_name(rep)}: {_tri(f.alt)} ({'reproduces' if alt else 'does not'})"
        )
    head = (
        f"{n} printed figures involve studies with 0 (or all) events. "
        f"{rep.zero.name.capitalize()}: {n_main} reproduce; {_alt_name(rep)}: {n_alt} reproduce."
    )
    return [head, "", *lines] if n else ["No printed figure involves a study with 0 or all events."]


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[k]} {k}" for k in VERDICTS)


def header_lines(rep: Reproduction) -> list[tuple[str, str]]:
    """The report's header as ``(label, text)`` pairs (also printed by ``metaparity reproduce``).

    Parameters
    ----------
    rep : Reproduction
        The result of :func:`metaparity.reproduce.pipeline.reproduce`.

    Returns
    -------
    list of (str, str)
        Data and figure sources, measure, model policy, zero-event handling, the
        metaparity and metafor versions, the parity summary and the verdict counts.
    """
    n, bad, rel = rep.parity
    parity = (
        f"{n} quantities compared with live metafor, {bad} outside tolerance, "
        f"max relative difference {rel:.1e}"
        if n
        else _no_parity(rep)
    )
    return [
        ("Data", rep.sources["data"]),
        ("Published figures", rep.sources["published"]),
        ("Measure", f"{rep.measure} (raw proportion)" if rep.measure == "PR" else rep.measure),
        ("Model policy", rep.policy.name),
        ("Zero events", rep.zero.name + f" (alternative shown: {_alt_name(rep)})"),
        ("metaparity", __version__),
        ("metafor", rep.r_status),
        ("Parity", parity),
        ("Printed figures", f"{len(rep.figures)}: {_counts_line(rep.verdict_counts())}"),
        ("Subgroup p-values", f"{len(rep.pvalues)}: {_counts_line(rep.pvalue_counts())}"),
    ]


def _no_parity(rep: Reproduction) -> str:
    """Why nothing was compared with metafor -- what actually happened."""
    if not any(a.result is not None for a in rep.analyses.values()):
        return (
            "nothing to compare: no analysis could be pooled (counts missing, or every study "
            "with 0 or all events), so nothing was sent to metafor"
        )
    if not rep.versions:
        return "not checked: metafor was not asked (no R bridge: --no-r, or R/metafor unavailable)"
    errors = {
        str(a.metafor.get("error"))
        for a in rep.analyses.values()
        if a.metafor is not None and not a.metafor.get("ok")
    }
    if errors:
        return f"not checked: metafor fitted none of the analyses ({'; '.join(sorted(errors))})"
    return "not checked: metafor returned nothing comparable"


def _no_pvalue_text(rep: Reproduction) -> str:
    """Why the subgroup-test table is empty (it is then left out)."""
    if len(rep.subgroups) < 2:
        why = "the data have fewer than two subgroups, so no subgroup difference can be tested"
    elif not any(t.computable for t in rep.tests.values()):
        notes = sorted({t.note for t in rep.tests.values() if t.note})
        why = (
            "no subgroup difference could be tested: fewer than two subgroups could be pooled "
            f"for any outcome ({'; '.join(notes) or 'no pooled subgroups'})"
        )
    else:
        k = sum(t.computable for t in rep.tests.values())
        why = (
            f"{k} subgroup difference(s) could be tested, but there is no printed p-value to check"
        )
    return f"The paper prints no p-value for a subgroup difference; {why}."


def _unexplained(rep: Reproduction) -> list[str]:
    out = []
    for f in rep.figures:
        if f.verdict.kind == "discrepancy" and "unexplained" in f.verdict.cause:
            out.append(
                f"- line {f.line} {_name(f.outcome, f.grade)}, {f.subgroup}: {f.verdict.cause}"
            )
    return out or ["- none: every discrepancy has a likely cause"]


# --------------------------------------------------------------------------- #
# Markdown
# --------------------------------------------------------------------------- #
def _md_table(head: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(map(esc, head)) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(
    rep: Reproduction, figures: dict[str, list[tuple[str, str]]] | None = None
) -> str:
    """The report as Markdown; ``figures`` maps a section to (caption, relative PNG path)."""
    out = [f"# Reproduction: {rep.title}", ""]
    out += [f"- **{k}:** {v}" for k, v in header_lines(rep)]
    out += [
        "",
        "Numbers in percent; CIs are 95 % Wald intervals on the pooled scale. The GLMM "
        "column is a sensitivity analysis: the binomial-normal model (metafor "
        '`rma.glmm(measure="PLO")`) on every included study, zero-event ones too.',
        "",
    ]
    out += ["## Every printed figure", "", _md_table(*_figure_table(rep)[:2]), ""]
    out += ["## Tests for subgroup differences", ""]
    if rep.pvalues:
        out += ["RevMan 5.4 compares the subgroup estimates (each pooled with its own τ²) with a "
                "fixed-effect Q, df = groups − 1; metafor's QM from `rma(yi, vi, mods = ~ "
                "subgroup)` shares one τ² across subgroups and is shown beside it.", "",
                _md_table(*_pvalue_table(rep)[:2]), ""]  # fmt: skip
    else:
        out += [_no_pvalue_text(rep), ""]
    if rep.claims:
        out += ["## Pairs quoted in the text", "", _md_table(*_claims_table(rep)[:2]), ""]
    out += ["## Zero-event handling", "", *_zero_summary(rep), ""]
    out += ["## Unexplained discrepancies", "", *_unexplained(rep), ""]
    if figures:
        out += ["## Figures", ""]
        for section, items in figures.items():
            out += [f"### {section}", ""]
            out += [f"![{cap}]({path})" for cap, path in items]
            out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- #
# HTML
# --------------------------------------------------------------------------- #
_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;padding:16px 24px;
color:#111;max-width:2400px;line-height:1.35}
h1{font-size:22px;overflow-wrap:anywhere}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
.table-wrap{overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{border:1px solid #d0d7de;padding:3px 4px;vertical-align:top;text-align:left;
overflow-wrap:break-word;word-break:normal;white-space:normal}
th{background:#f6f8fa}
td.num{font-variant-numeric:tabular-nums;min-width:6em}
.v{color:#fff;border-radius:3px;padding:1px 5px;font-weight:600;display:inline-block}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 14px;font-size:14px}
dd{margin:0;overflow-wrap:anywhere}
dt{font-weight:600}figure{display:inline-block;margin:8px;vertical-align:top;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:12px;color:#555}
.small{font-size:12px;color:#555}
table.figures td:nth-child(2){min-width:6.5em}table.figures td:nth-child(8){min-width:8em}
table.figures td:nth-child(12){min-width:10em}table.figures td:nth-child(13){min-width:8em}
@media (min-width:1600px){table{font-size:12.5px}.v{white-space:nowrap}
table.figures td:nth-child(8){min-width:13em}table.figures td:nth-child(12){min-width:16em}
table.figures td:nth-child(13){min-width:12em}}
@media (max-width:900px){body{padding:8px}table{font-size:11.5px}}
"""


def _html_table(
    head: list[str],
    rows: list[list[str]],
    kinds: list[str],
    vcol: str = "verdict",
    cls: str = "",
) -> str:
    """A table in a horizontally scrollable container (wide tables never get cut)."""
    vi = head.index(vcol) if vcol in head else -1
    numeric = {"printed", "metaparity", "metafor (live)", "printed p", "quoted",
               "GLMM (all studies)"} | {h for h in head if h.startswith("alt.: ")}  # fmt: skip
    klass = f" class='{cls}'" if cls else ""
    parts = [
        f"<div class='table-wrap'><table{klass}><thead><tr>",
        *(f"<th>{html.escape(h)}</th>" for h in head),
        "</tr></thead><tbody>",
    ]
    for r, kind in zip(rows, kinds, strict=True):
        parts.append("<tr>")
        for j, cell in enumerate(r):
            if j == vi:
                col = _COLORS.get(kind, "#444")
                parts.append(
                    f'<td><span class="v" style="background:{col}">{html.escape(cell)}</span></td>'
                )
            else:
                cls = ' class="num"' if head[j] in numeric else ""
                parts.append(f"<td{cls}>{html.escape(cell)}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)


def render_html(rep: Reproduction, figures: dict[str, list[tuple[str, str]]] | None = None) -> str:
    """A self-contained HTML page; ``figures`` maps a section to (caption, data URI)."""
    h = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
         f"content='width=device-width, initial-scale=1'><title>Reproduction: "
         f"{html.escape(rep.title)}</title><style>{_CSS}</style></head><body>",
         f"<h1>Reproduction: {html.escape(rep.title)}</h1><dl>"]  # fmt: skip
    h += [f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in header_lines(rep)]
    h.append("</dl><p class='small'>Numbers in percent; CIs are 95 % Wald intervals on the "
             "pooled scale. Verdicts: <b>reproduced</b> = equal at the paper's rounding; "
             "<b>within rounding</b> = less than one unit of the last printed digit away; "
             "<b>discrepancy</b> = with its likely cause; <b>not reproducible</b> = data "
             "missing (named).</p>")  # fmt: skip
    h += ["<h2>Every printed figure</h2>", _html_table(*_figure_table(rep), cls="figures")]
    h.append("<h2 id='subgroup-tests'>Tests for subgroup differences</h2>")
    if rep.pvalues:
        h += ["<p class='small'>RevMan 5.4: the subgroup estimates (each pooled with its own τ²) "
              "compared with a fixed-effect Q, df = groups − 1. metafor's QM from <code>rma(yi, "
              "vi, mods = ~ subgroup)</code> shares one τ² across subgroups.</p>",
              _html_table(*_pvalue_table(rep))]  # fmt: skip
    else:
        h.append(f"<p>{html.escape(_no_pvalue_text(rep))}</p>")
    if rep.claims:
        h += ["<h2>Pairs quoted in the text</h2>", _html_table(*_claims_table(rep), vcol="status")]
    z = _zero_summary(rep)
    h += ["<h2>Zero-event handling</h2>", f"<p>{html.escape(z[0])}</p><ul>"]
    h += [f"<li>{html.escape(x[2:])}</li>" for x in z[2:]]
    h += ["</ul><h2>Unexplained discrepancies</h2><ul>"]
    h += [f"<li>{html.escape(x[2:])}</li>" for x in _unexplained(rep)]
    h.append("</ul>")
    if figures:
        h.append("<h2 id='figures'>Figures</h2>")
        for section, items in figures.items():
            h.append(f"<h3>{html.escape(section)}</h3>")
            for cap, uri in items:
                h.append(f"<figure><img src='{uri}' alt='{html.escape(cap)}'>"
                         f"<figcaption>{html.escape(cap)}</figcaption></figure>")  # fmt: skip
    h.append("</body></html>")
    return "\n".join(h)


# --------------------------------------------------------------------------- #
# JSON
# --------------------------------------------------------------------------- #
def _num(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _analysis_json(a: Analysis | None) -> dict[str, Any] | None:
    if a is None:
        return None
    r = a.result
    out: dict[str, Any] = {
        "studies": a.studies, "missing": a.missing, "dropped": a.dropped,
        "method": a.method, "reason": a.reason, "I2_fe": _num(a.i2_fe), "error": a.error or None,
    }  # fmt: skip
    if r is not None:
        out["fit"] = {k: _num(v) for k, v in r.to_dict().items()}
        out["pooled"] = (
            a.data[["study", "events", "n", "yi", "vi"]].to_dict("records")
            if a.data is not None
            else None
        )
    if a.alt is not None:
        out["alt_fit"] = {k: _num(v) for k, v in a.alt.to_dict().items()}
    if a.metafor is not None:
        out["metafor"] = a.metafor
        out["parity"] = [
            {
                "quantity": c.quantity,
                "ours": _num(c.ours),
                "metafor": _num(c.ref),
                "rel_diff": _num(c.rel_diff),
                "ok": c.ok,
            }  # fmt: skip
            for c in a.comparisons
        ]
    return out


def render_json(rep: Reproduction) -> str:
    """Everything, machine-readable (NaN written as null).

    Parameters
    ----------
    rep : Reproduction
        The result of :func:`metaparity.reproduce.pipeline.reproduce`.

    Returns
    -------
    str
        JSON: versions, sources, policy, verdict counts, parity summary, every figure
        (with its analysis: fit, pooled rows, metafor's answer and the comparisons),
        the subgroup tests and the text claims.
    """
    n, bad, rel = rep.parity
    doc = {
        "title": rep.title,
        "metaparity": __version__,
        "metafor": rep.versions or None,
        "sources": rep.sources,
        "measure": rep.measure,
        "policy": rep.policy.name,
        "zero_events": rep.zero.name,
        "verdict_counts": rep.verdict_counts(),
        "pvalue_verdict_counts": rep.pvalue_counts(),
        "parity": {"quantities": n, "failed": bad, "max_rel_diff": rel},
        "figures": [
            {
                "line": f.line,
                "outcome": f.outcome,
                "grade": f.grade,
                "subgroup": f.subgroup,
                "printed": [None if p is None else p.text for p in f.printed],
                "k_printed": f.k_printed,
                "metaparity": f.ours,
                "metafor": f.metafor,
                "alternative": f.alt,
                "glmm": f.glmm,
                "verdict": f.verdict.kind,
                "cause": f.verdict.cause,
                "flags": [{"kind": x.kind, "text": x.text} for x in f.verdict.flags],
                "typo_note": f.typo_note,
                "location": f.location,
                "analysis": _analysis_json(f.analysis),
            }  # fmt: skip
            for f in rep.figures
        ],
        "subgroup_tests": [
            {
                "outcome": pv.outcome,
                "grade": pv.grade,
                "printed": pv.printed.text,
                "lines": pv.lines,
                "verdict": pv.verdict.kind,
                "cause": pv.verdict.cause,
                "Q": None if pv.test is None else _num(pv.test.Q),
                "df": None if pv.test is None else pv.test.df,
                "p": None if pv.test is None else _num(pv.test.p),
                "QM": None if pv.test is None else _num(pv.test.QM),
                "QMp": None if pv.test is None else _num(pv.test.QMp),
                "metafor": None if pv.test is None else pv.test.metafor,
                "metafor_qm": None if pv.test is None else pv.test.metafor_qm,
            }  # fmt: skip
            for pv in rep.pvalues
        ],
        "text_claims": [
            {
                "outcome": c.outcome,
                "grade": c.grade,
                "quoted": [c.first.text, c.second.text],
                "p": None if c.p is None else c.p.text,
                "order": [c.first_group, c.second_group],
                "location": c.location,
                "quote": c.quote,
                "status": c.status,
                "detail": c.detail,
            }  # fmt: skip
            for c in rep.claims
        ],
    }
    return json.dumps(doc, indent=1, default=_json_default, allow_nan=False)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return _num(float(o))
    if isinstance(o, np.ndarray):
        return [_json_default(x) for x in o.tolist()]
    if isinstance(o, float):
        return _num(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# --------------------------------------------------------------------------- #
# figures
# --------------------------------------------------------------------------- #
def _forest_inputs(rep: Reproduction, outcome: str, grade: str):
    analyses = {g: rep.analyses.get((outcome, grade, g)) for g in [OVERALL, *rep.subgroups]}
    studies = []
    subtotals: dict[str, Any] = {}
    for g in rep.subgroups:
        a = analyses[g]
        if a is None or not a.studies:
            continue
        pooled = set() if a.data is None or a.result is None else set(a.data["study"])
        w = {}
        if a.result is not None and a.data is not None:
            ww = 1.0 / (a.data["vi"].to_numpy() + a.result.tau2)
            w = dict(zip(a.data["study"], 100 * ww / ww.sum(), strict=True))
        rows = rep.counts[(rep.counts.outcome == outcome) & (rep.counts.grade == grade)
                          & (rep.counts.subgroup == g) & rep.counts.included]  # fmt: skip
        for _, r in rows.iterrows():
            if math.isnan(r.events):
                studies.append(ForestStudy(r.study, g, float("nan"), float("nan"), float("nan"),
                                           float("nan"), None, r.n, "count unknown"))  # fmt: skip
                continue
            p = r.events / r.n
            se = math.sqrt(p * (1 - p) / r.n)
            if r.study in pooled:
                note = ""
            elif a.missing:
                note = "not pooled: other counts of this subgroup unknown"
            else:
                note = "0 or all events: not pooled"
            studies.append(
                ForestStudy(
                    r.study,
                    g,
                    100 * p,
                    100 * (p - 1.959963984540054 * se),
                    100 * (p + 1.959963984540054 * se),
                    w.get(r.study, float("nan")),
                    r.events,
                    r.n,
                    note,
                )  # fmt: skip
            )
        subtotals[g] = _pooled(a, "Subtotal (95% CI)")
    total = _pooled(analyses[OVERALL], "Total (95% CI)")
    return studies, subtotals, total


def _pooled(a: Analysis | None, label: str):
    if a is None or a.result is None:
        return None
    r = a.result
    model = (
        "DL random effects"
        if a.method == "DL"
        else ("fixed effect (EE)" if a.method in ("EE", "FE") else f"{a.method} random effects")
    )
    het = ""
    if r.k > 1:
        i2 = max(0.0, 100 * (r.QE - r.k + 1) / r.QE) if r.QE > 0 else 0.0
        tau = "" if a.method in ("EE", "FE") else f"Tau² = {r.tau2:.4f}; "  # as RevMan prints
        het = (f"Heterogeneity: {tau}Chi² = {r.QE:.2f}, df = {r.k - 1} (P = {_p(r.QEp)}); "
               f"I² = {i2:.0f}%")  # fmt: skip
    z = r.zval
    test = f"Test for overall effect: Z = {abs(z):.2f} (P = {_p(2 * stats.norm.sf(abs(z)))})"
    return ForestPooled(label, 100 * r.b, 100 * r.ci_lb, 100 * r.ci_ub, model, het, test)


def make_figures(rep: Reproduction, folder: Path) -> dict[str, list[tuple[str, Path]]]:
    """Forest plot per outcome (with subgroup diamonds and the printed figures overlaid) and
    a Galbraith plot per outcome with >= 2 pooled studies; PNGs written to ``folder``."""
    out: dict[str, list[tuple[str, Path]]] = {}
    keys = list(dict.fromkeys((a.outcome, a.grade) for a in rep.analyses.values()))
    for outcome, grade in keys:
        have = [rep.analyses[(outcome, grade, g)] for g in [OVERALL, *rep.subgroups]
                if (outcome, grade, g) in rep.analyses]  # fmt: skip
        if not any(a.result is not None for a in have):
            continue
        studies, subtotals, total = _forest_inputs(rep, outcome, grade)
        published: dict[str, tuple[float, float, float]] = {}
        for f in rep.figures:
            est, lo, hi = f.printed
            same = (f.outcome, f.grade) == (outcome, grade)
            if same and est is not None and lo is not None and hi is not None:
                published[f.subgroup] = (est.value, lo.value, hi.value)
        drawn = {g for g, v in subtotals.items() if v is not None} | ({OVERALL} if total else set())
        published = {g: v for g, v in published.items() if g in drawn}
        t = rep.tests.get((outcome, grade))
        sub_text = ""
        if t is not None and t.computable:
            i2 = max(0.0, 100 * (t.Q - t.df) / t.Q) if t.Q > 0 else 0.0
            sub_text = (f"Test for subgroup differences: Chi² = {t.Q:.2f}, df = {t.df} "
                        f"(P = {_p(t.p)}), I² = {i2:.0f}%")  # fmt: skip
        name = _name(outcome, grade)
        path = folder / f"forest_{_slug(outcome, grade)}.png"
        revman_forest(studies, subtotals, total, title=name, subgroup_test=sub_text,
                    published=published, path=path)  # fmt: skip
        items = [(f"Forest plot: {name}", path)]
        best = next((a for a in have if a.result is not None and a.result.k >= 2), None)
        if best is not None and best.data is not None and best.result is not None:
            gpath = folder / f"galbraith_{_slug(outcome, grade)}.png"
            revman_galbraith(
                best.data["yi"].to_numpy(),
                best.data["vi"].to_numpy(),
                list(best.data["study"]),
                tau2=best.result.tau2,
                b=best.result.b,
                groups=list(best.data["subgroup"]),
                title=f"Galbraith plot: {name}, {best.subgroup} ({best.method})",
                path=gpath,
            )
            items.append((f"Galbraith plot: {name} ({best.subgroup})", gpath))
        out[name] = items
    return out


_REPORT_FILES = ("report.md", "report.html", "report.json", "figures")


def _swap_in(staging: Path, out: Path, backup: Path, names: list[str]) -> None:
    """Move an earlier report's files to ``backup``, then the new ones from ``staging``
    into ``out``; on any failure (Ctrl-C included) put the earlier report back."""
    moved: list[str] = []
    placed: list[str] = []
    try:
        for name in _REPORT_FILES:  # a stale figures/ goes too when none are drawn now
            if (out / name).exists() or (out / name).is_symlink():
                os.rename(out / name, backup / name)
                moved.append(name)
        for name in names:
            os.rename(staging / name, out / name)
            placed.append(name)
    except BaseException:
        for name in placed:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
        for name in moved:
            os.rename(backup / name, out / name)
        raise


def _normal_permissions(root: Path) -> None:
    """Folders 0777 and files 0666 less the umask (mkdtemp/mkstemp make 0700/0600)."""
    umask = os.umask(0)
    os.umask(umask)
    for dirpath, _dirs, files in os.walk(root):
        os.chmod(dirpath, 0o777 & ~umask)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o666 & ~umask)


def write_report(
    rep: Reproduction,
    out_dir: str | os.PathLike[str],
    *,
    figures: bool = True,
    title: str | None = None,
) -> dict[str, Path]:
    """Write report.md, report.html, report.json (and figures/*.png) into ``out_dir``.

    All or nothing: the whole report is built in a hidden staging folder beside
    ``out_dir`` and moved into place only once every file is complete, so an error or
    Ctrl-C at any point leaves no partial report -- and an earlier complete report in
    ``out_dir`` stays until the new one is ready.  Other files in an existing
    ``out_dir`` are kept.  Files and folders get the usual permissions (0644/0755 under
    umask 022).

    Parameters
    ----------
    rep : Reproduction
        The result of :func:`metaparity.reproduce.pipeline.reproduce`.
    out_dir : str or PathLike
        Output folder (created if needed, with its parents).
    figures : bool, default True
        Draw the forest and Galbraith plots (needs matplotlib) into ``figures/`` and
        embed them in the HTML.
    title : str, optional
        The report's title (HTML ``<title>`` and heading, Markdown heading, JSON
        ``"title"``); default ``rep.title``.

    Returns
    -------
    dict of str to Path
        ``"report.md"``, ``"report.html"``, ``"report.json"`` (and ``"figures"``) to the
        paths written.

    Raises
    ------
    ImportError
        ``figures=True`` without matplotlib.
    OSError
        ``out_dir`` cannot be created or written.
    """
    if title is not None:
        rep = dataclasses.replace(rep, title=str(title))
    out = Path(out_dir)
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    names = [*_REPORT_FILES[:3], *(["figures"] if figures else [])]
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=parent))
    backup: Path | None = None
    try:
        figs_md: dict[str, list[tuple[str, str]]] = {}
        figs_html: dict[str, list[tuple[str, str]]] = {}
        if figures:
            (staging / "figures").mkdir()
            made = make_figures(rep, staging / "figures")
            for sec, items in made.items():
                figs_md[sec] = [(cap, f"figures/{p.name}") for cap, p in items]
                figs_html[sec] = [(cap, encode_png(p)) for cap, p in items]
        texts = {
            "report.md": render_markdown(rep, figs_md),
            "report.html": render_html(rep, figs_html),
            "report.json": render_json(rep),
        }
        for name, text in texts.items():
            (staging / name).write_text(text, encoding="utf-8")
        _normal_permissions(staging)
        if not out.exists():
            # the common case: one rename puts the complete report in place
            os.rename(staging, out)
        else:
            if not out.is_dir():
                raise NotADirectoryError(f"--out {out}: exists and is not a folder; give a folder")
            # an earlier report: set it aside, move the new one in, then drop the old one
            backup = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            _swap_in(staging, out, backup, names)
        return {name: out / name for name in names}
    finally:
        for tmp in (staging, backup):
            if tmp is not None and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
