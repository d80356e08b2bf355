"""One printer for every model, laid out like metafor's ``print`` methods.

:func:`format_summary` dispatches on the model: the intercept-only ``rma.uni`` fit
(``print.rma.uni``: "Random-Effects Model"), the meta-regression ("Mixed-Effects
Model", with the test of moderators) and ``rma.glmm``.  The pieces (the heading, the
heterogeneity block, p-value text, the coefficient table) are shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["format_summary"]


def _p(p: float) -> str:
    """``p-val < .0001`` / ``p-val = 0.0123`` / ``= NA`` as metafor prints them."""
    if np.isnan(p):
        return "= NA"
    return "< .0001" if p < 1e-4 else f"= {p:.4f}"


def _pcell(p: float, d: int) -> str:
    if np.isnan(p):
        return "NA"
    return f"{p:.{d}f}" if p >= 1e-4 else "<.0001"


def _btt_text(btt: Sequence[int]) -> str:
    one = [i + 1 for i in btt]
    if len(one) == 1:
        return f"coefficient {one[0]}"
    if one == list(range(one[0], one[-1] + 1)):
        return f"coefficients {one[0]}:{one[-1]}"
    return "coefficients " + ",".join(map(str, one))


def _table(cols: list[str], rows: list[list[str]], first_left: bool) -> list[str]:
    """Right-aligned columns (the first left-aligned when it holds coefficient names)."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            v.ljust(w) if (i == 0 and first_left) else v.rjust(w)
            for i, (v, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(cols), *(line(r) for r in rows)]


def _coef_rows(res: Any, d: int) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the model-results table, one row per coefficient."""
    names = res.coef_names if not res.int_only else ("",)
    b, se, z, pv, lb, ub = (np.atleast_1d(np.asarray(getattr(res, q), dtype=float))
                            for q in ("b", "se", "zval", "pval", "ci_lb", "ci_ub"))  # fmt: skip
    stat = "zval" if res.test == "z" else "tval"
    cols = (
        ["estimate", "se", stat] + (["df"] if res.test != "z" else []) + ["pval", "ci.lb", "ci.ub"]
    )
    rows = []
    for j in range(len(names)):
        r = [f"{b[j]:.{d}f}", f"{se[j]:.{d}f}", f"{z[j]:.{d}f}"]
        if res.test != "z":
            r.append(f"{res.dfs:g}")
        r += [_pcell(pv[j], d), f"{lb[j]:.{d}f}", f"{ub[j]:.{d}f}"]
        rows.append(r)
    if res.int_only:
        return cols, rows
    return ["", *cols], [[n, *r] for n, r in zip(names, rows, strict=True)]


def _tau_lines(res: Any, d: int, what: str, pad: int) -> list[str]:
    se_t = "" if np.isnan(res.se_tau2) else f" (SE = {res.se_tau2:.{d}f})"
    return [
        f"tau^2 (estimated amount of {what} heterogeneity):".ljust(pad) + f"{res.tau2:.{d}f}{se_t}",
        "tau (square root of estimated tau^2 value):".ljust(pad) + f"{res.tau:.{d}f}",
    ]


def _opening(res: Any, d: int, fixed: str, mixed: str, what: str, pad: int) -> list[str]:
    """The model heading and, for a random-effects model, its tau^2 and tau lines."""
    if res.method in ("EE", "FE"):
        return [f"{fixed} (k = {res.k})", ""]
    how = "user-specified tau^2 value" if res.tau2_fix else f"tau^2 estimator: {res.method}"
    head = f"{mixed} (k = {res.k}; {how})"
    return [head, "", *_tau_lines(res, d, what, pad)]


def _het(res: Any, i2: str, h2: str, test: str, q: str) -> tuple[list[str], list[str]]:
    """I^2/H^2 lines and the heterogeneity test; each left out where it is NaN (metafor:
    NA with sampling variances of 0)."""
    lines = []
    if not np.isnan(res.I2):
        lines.append(f"{i2}{res.I2:.2f}%")
    if not np.isnan(res.H2):
        lines.append(f"{h2}{res.H2:.2f}")
    test_lines = [] if np.isnan(res.QE) else [test, q, ""]
    return lines, test_lines


def _uni(res: Any, d: int) -> str:
    lines = _opening(res, d, "Equal-Effects Model", "Random-Effects Model", "total", 49)
    het, qtest = _het(
        res,
        "I^2 (total heterogeneity / total variability):   ",
        "H^2 (total variability / sampling variability):  ",
        "Test for Heterogeneity:",
        f"Q(df = {res.k - 1}) = {res.QE:.{d}f}, p-val {_p(res.QEp)}",
    )
    lines += [*het, "", *qtest, "Model Results:", ""]
    lines += _table(*_coef_rows(res, d), first_left=False)
    if res.test == "knha":
        lines += ["", "(Knapp-Hartung adjustment applied to the SE; t-distribution with k-1 df)"]
    return "\n".join(lines)


def _mods(res: Any, d: int) -> str:
    lines = _opening(
        res, d, "Fixed-Effects with Moderators Model", "Mixed-Effects Model", "residual", 56
    )
    het, qtest = _het(
        res,
        "I^2 (residual heterogeneity / unaccounted variability): ",
        "H^2 (unaccounted variability / sampling variability):   ",
        "Test for Residual Heterogeneity:",
        f"QE(df = {res.k - res.p}) = {res.QE:.{d}f}, p-val {_p(res.QEp)}",
    )
    lines += het
    if not np.isnan(res.R2) or (res.intercept and res.p > 1):
        r2 = "NA" if np.isnan(res.R2) else f"{res.R2:.2f}"
        lines.append(f"R^2 (amount of heterogeneity accounted for):            {r2}%")
    lines += ["", *qtest]
    if res.test == "z":
        stat = f"QM(df = {res.QMdf[0]}) = {res.QM:.{d}f}"
    else:
        stat = f"F(df1 = {res.QMdf[0]}, df2 = {res.QMdf[1]}) = {res.QM:.{d}f}"
    lines += [f"Test of Moderators ({_btt_text(res.btt)}):", f"{stat}, p-val {_p(res.QMp)}", ""]
    lines += ["Model Results:", ""]
    lines += _table(*_coef_rows(res, d), first_left=True)
    if res.test == "knha":
        lines += ["", "(Knapp-Hartung adjustment applied; t- and F-distributions with k-p df)"]
    return "\n".join(lines)


def _glmm(res: Any, d: int) -> str:
    lines = [
        f"Random-Effects Model (k = {res.k}; tau^2 estimator: ML; nAGQ = {res.nAGQ})",
        "",
        f"tau^2 (estimated amount of total heterogeneity): {res.tau2:.{d}f}",
        f"tau (square root of estimated tau^2 value):      {res.tau:.{d}f}",
        f"I^2 (total heterogeneity / total variability):   {res.I2:.{d}f}%",
        f"H^2 (total variability / sampling variability):  {res.H2:.{d}f}",
        "",
        "Tests for Heterogeneity:",
        f"Wld(df = {res.k - 1}) = {res.QE_Wld:.{d}f}, p-val = {res.QEp_Wld:.{d}g}",
        f"LRT(df = {res.k - 1}) = {res.QE_LRT:.{d}f}, p-val = {res.QEp_LRT:.{d}g}",
        "",
        "Model Results:",
        "",
        "estimate      se    zval    pval    ci.lb   ci.ub",
        f"{res.b:8.{d}f} {res.se:7.{d}f} {res.zval:7.{d}f} {res.pval:7.{d}f} "
        f"{res.ci_lb:8.{d}f} {res.ci_ub:7.{d}f}",
    ]
    return "\n".join(lines)


_UM_TYPES = {
    "UM.FS": "Unconditional Model with Fixed Study Effects",
    "UM.RS": "Unconditional Model with Random Study Effects",
}


def _glmm_um(res: Any, d: int) -> str:
    """rma.glmm two-group (UM.FS / UM.RS) and IRLN fits, laid out like print.rma.glmm."""
    df = res.k - res.p
    lines = [f"Random-Effects Model (k = {res.k}; tau^2 estimator: ML)"]
    if res.model in _UM_TYPES:
        lines.append(f"Model Type: {_UM_TYPES[res.model]}")
    lines += [
        "",
        f"tau^2 (estimated amount of total heterogeneity): {res.tau2:.{d}f}",
        f"tau (square root of estimated tau^2 value):      {res.tau:.{d}f}",
        f"I^2 (total heterogeneity / total variability):   {res.I2:.{d}f}%",
        f"H^2 (total variability / sampling variability):  {res.H2:.{d}f}",
    ]
    if res.model == "UM.RS":
        lines += [
            "",
            f"sigma^2 (estimated amount of study level variability): {res.sigma2:.{d}f}",
            f"sigma (square root of estimated sigma^2 value):        {res.sigma2**0.5:.{d}f}",
        ]
    lines += [
        "",
        "Tests for Heterogeneity:",
        f"Wld(df = {df}) = {res.QE_Wld:.{d}f}, p-val = {res.QEp_Wld:.{d}g}",
        f"LRT(df = {df}) = {res.QE_LRT:.{d}f}, p-val = {res.QEp_LRT:.{d}g}",
        "",
    ]
    if res.p > 1:
        lines += [f"Test of Moderators (coefficients 2:{res.p}):",
                  f"QM(df = {res.p - 1}) = {res.QM:.{d}f}, p-val = {res.QMp:.{d}g}", ""]  # fmt: skip
    lines += ["Model Results:", "",
              f"{'':10s}{'estimate':>10s}{'se':>9s}{'zval':>9s}{'pval':>9s}{'ci.lb':>9s}{'ci.ub':>9s}"]  # fmt: skip
    for j, nm in enumerate(res.coef_names):
        lines.append(
            f"{nm:10s}{res.b[j]:10.{d}f}{res.se[j]:9.{d}f}{res.zval[j]:9.{d}f}"
            f"{res.pval[j]:9.{d}f}{res.ci_lb[j]:9.{d}f}{res.ci_ub[j]:9.{d}f}"
        )
    return "\n".join(lines)


def format_summary(res: Any, digits: int = 4) -> str:
    """The printout of a fitted model, laid out like metafor's ``print`` method.

    Parameters
    ----------
    res : RmaResult or GlmmResult
        A fitted model (:func:`metaparity.rma`, :func:`metaparity.rma_mods`,
        :func:`metaparity.rma_glmm`).
    digits : int
        Decimals of the estimates (metafor's ``digits``, default 4).

    Returns
    -------
    str
        Equivalent to ``print(res)`` in metafor (``print.rma.uni`` / ``print.rma.glmm``).
    """
    if hasattr(res, "nAGQ") and hasattr(res, "coef_names"):
        return _glmm_um(res, digits)
    if hasattr(res, "nAGQ"):
        return _glmm(res, digits)
    return _uni(res, digits) if res.int_only else _mods(res, digits)
