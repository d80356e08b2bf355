"""Render a :class:`~metaparity.parity.harness.ParityReport`: terminal, JSON, JUnit XML, Markdown."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from datetime import UTC

from metaparity.parity.harness import Analysis, ParityReport

__all__ = ["to_text", "to_json", "to_junit", "to_markdown"]

_HEAD = ("quantity", "metaparity", "metafor", "abs diff", "rel diff", "tolerance", "status")


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    return f"{x:.10g}"


def _diff(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.1e}"


def _rows(a: Analysis) -> list[tuple[str, ...]]:
    return [
        (
            c.quantity,
            _num(c.ours),
            _num(c.ref),
            _diff(c.abs_diff),
            _diff(c.rel_diff),
            f"{c.tol.rtol:g}/{c.tol.atol:g}",
            "ok" if c.ok else "DIFFERS",
        )
        for c in a.comparisons
    ]


def _summary_line(rep: ParityReport) -> str:
    verdict = "all agree" if rep.ok else f"{rep.n_failed} quantities differ"
    errs = sum(a.r_error is not None for a in rep.analyses)
    if errs:
        verdict += f"; metafor failed in {errs} analyses"
    return (
        f"{len(rep.analyses)} analyses, {rep.n_quantities} quantities compared with "
        f"{rep.reference}: {verdict} (max rel diff {rep.max_rel:.1e})"
    )


def to_text(rep: ParityReport, color: bool = False, verbose: bool = False) -> str:
    """The report as aligned text tables (what ``metaparity parity`` prints).

    Parameters
    ----------
    rep : ParityReport
        From :func:`metaparity.parity.harness.compare`.
    color : bool, default False
        ANSI colours (agrees green, DIFFERS red).
    verbose : bool, default False
        Every analysis shows its rows; otherwise only those that differ.

    Returns
    -------
    str
    """
    green, red, reset = ("\033[32m", "\033[31m", "\033[0m") if color else ("", "", "")
    out = [
        f"metaparity parity: {rep.source} | measure {rep.measure} | test {rep.test} | "
        f"level {rep.level:g} | reference: {rep.reference}",
        "",
    ]
    for d in rep.dropped:
        out.append(f"dropped: {d['study']} (line {d['line']}): {d['reason']}")
    if rep.dropped:
        out.append("")
    for a in rep.analyses:
        verdict = "metafor FAILED" if a.r_error else ("agrees" if a.ok else "DIFFERS")
        mark = f"{green if a.ok else red}{verdict}{reset}"
        out.append(f"== {a.name} (k = {a.k}): {mark}, {len(a.comparisons)} quantities")
        if a.r_error:
            out.append(f"   metafor error: {a.r_error}")
        for w in a.r_warnings:
            out.append(f"   metafor warning: {w}")
        if verbose or not a.ok:
            rows = [_HEAD, *_rows(a)]
            widths = [max(len(r[i]) for r in rows) for i in range(len(_HEAD))]
            for r in rows:
                line = "   " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True))
                if color and r[-1] == "DIFFERS":
                    line = red + line + reset
                out.append(line)
    out += ["", _summary_line(rep)]
    return "\n".join(out)


def to_json(rep: ParityReport) -> str:
    """The report as JSON (:meth:`ParityReport.to_dict`; NaN written as ``NaN``).

    Parameters
    ----------
    rep : ParityReport
        From :func:`metaparity.parity.harness.compare`.

    Returns
    -------
    str
    """
    return json.dumps(rep.to_dict(), indent=1, allow_nan=True)


def to_junit(rep: ParityReport) -> str:
    """The report as JUnit XML: one testsuite per analysis, one testcase per quantity.

    Parameters
    ----------
    rep : ParityReport
        From :func:`metaparity.parity.harness.compare`.

    Returns
    -------
    str
        XML; a differing quantity is a ``failure``, a metafor error an ``error``.  Every
        ``testsuite`` carries the run's start time (ISO 8601 in UTC, ``...Z``) and the run's
        duration in seconds.
    """
    stamp = rep.started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    suites = ET.Element(
        "testsuites",
        name="metaparity parity",
        tests=str(rep.n_quantities),
        failures=str(rep.n_failed),
        errors=str(sum(a.r_error is not None for a in rep.analyses)),
    )
    for i, a in enumerate(rep.analyses):
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"{rep.measure} {a.name}",
            tests=str(len(a.comparisons) + (1 if a.r_error else 0)),
            failures=str(sum(not c.ok for c in a.comparisons)),
            errors="1" if a.r_error else "0",
            skipped="0",
            id=str(i),
            package="metaparity",
            hostname="localhost",
            timestamp=stamp,
            time=f"{rep.seconds:.3f}",
        )
        ET.SubElement(suite, "properties")
        cls = f"metaparity.{rep.measure}.{a.group}.{a.method}".replace(" ", "_")
        for c in a.comparisons:
            tc = ET.SubElement(suite, "testcase", name=c.quantity, classname=cls, time="0")
            if not c.ok:
                f = ET.SubElement(
                    tc,
                    "failure",
                    message=f"{c.quantity}: metaparity {_num(c.ours)} vs metafor {_num(c.ref)}",
                    type="ParityMismatch",
                )
                f.text = (
                    f"abs diff {_diff(c.abs_diff)}, rel diff {_diff(c.rel_diff)}; tolerance "
                    f"rtol {c.tol.rtol:g}, atol {c.tol.atol:g} ({c.tol.reason})"
                )
        if a.r_error:
            tc = ET.SubElement(suite, "testcase", name="metafor", classname=cls, time="0")
            ET.SubElement(tc, "error", message=a.r_error, type="MetaforError").text = a.r_error
        ET.SubElement(suite, "system-out").text = "\n".join(a.r_warnings)
        ET.SubElement(suite, "system-err").text = ""
    suites.set("time", f"{rep.seconds:.3f}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def to_markdown(rep: ParityReport) -> str:
    """The report as Markdown: a summary, then one table per analysis.

    Parameters
    ----------
    rep : ParityReport
        From :func:`metaparity.parity.harness.compare`.

    Returns
    -------
    str
    """
    out = [
        "# metaparity parity report",
        "",
        f"- data: `{rep.source}`; measure **{rep.measure}**, test {rep.test}, level {rep.level:g}",
        f"- reference: {rep.reference}",
        f"- {_summary_line(rep)}",
        *[f"- dropped: {d['study']} (line {d['line']}): {d['reason']}" for d in rep.dropped],
        "",
    ]
    for a in rep.analyses:
        verdict = "**metafor FAILED**" if a.r_error else ("agrees" if a.ok else "**DIFFERS**")
        out += [f"## {a.name} (k = {a.k}) — {verdict}", ""]
        if a.r_error:
            out += [f"metafor error: `{a.r_error}`", ""]
        out.append("| " + " | ".join(_HEAD) + " |")
        out.append("|" + "---|" * len(_HEAD))
        out += ["| " + " | ".join(r) + " |" for r in _rows(a)]
        out.append("")
    return "\n".join(out)
