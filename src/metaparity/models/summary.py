"""A printout laid out like metafor's ``print.rma.uni``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from metaparity.models.uni import RmaResult


def _p(p: float) -> str:
    return "< .0001" if p < 1e-4 else f"= {p:.4f}"


def format_summary(res: RmaResult, digits: int = 4) -> str:
    """Model description, heterogeneity and the model-results table."""
    d = digits
    fe = res.method in ("EE", "FE")
    head = (
        f"Equal-Effects Model (k = {res.k})"
        if fe
        else f"Random-Effects Model (k = {res.k}; tau^2 estimator: {res.method})"
    )
    lines = [head, ""]
    if not fe:
        se_t = "" if np.isnan(res.se_tau2) else f" (SE = {res.se_tau2:.{d}f})"
        lines += [
            f"tau^2 (estimated amount of total heterogeneity): {res.tau2:.{d}f}{se_t}",
            f"tau (square root of estimated tau^2 value):      {res.tau:.{d}f}",
        ]
    lines += [
        f"I^2 (total heterogeneity / total variability):   {res.I2:.2f}%",
        f"H^2 (total variability / sampling variability):  {res.H2:.2f}",
        "",
        "Test for Heterogeneity:",
        f"Q(df = {res.k - 1}) = {res.QE:.{d}f}, p-val {_p(res.QEp)}",
        "",
        "Model Results:",
        "",
    ]
    stat = "zval" if res.test == "z" else "tval"
    cols = ["estimate", "se", stat]
    if res.test != "z":
        cols.append("df")
    cols += ["pval", "ci.lb", "ci.ub"]
    vals = [f"{res.b:.{d}f}", f"{res.se:.{d}f}", f"{res.zval:.{d}f}"]
    if res.test != "z":
        vals.append(f"{res.dfs:g}")
    vals += [
        f"{res.pval:.{d}f}" if res.pval >= 1e-4 else "<.0001",
        f"{res.ci_lb:.{d}f}",
        f"{res.ci_ub:.{d}f}",
    ]
    widths = [max(len(c), len(v)) for c, v in zip(cols, vals, strict=True)]
    lines.append("  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True)))
    lines.append("  ".join(v.rjust(w) for v, w in zip(vals, widths, strict=True)))
    if res.test == "knha":
        lines += ["", "(Knapp-Hartung adjustment applied to the SE; t-distribution with k-1 df)"]
    return "\n".join(lines)
