"""One printer for every model, laid out like metafor's ``print`` methods.

:func:`format_summary` dispatches on the model: the intercept-only ``rma.uni`` fit
(``print.rma.uni``: "Random-Effects Model"), the meta-regression ("Mixed-Effects
Model", with the test of moderators), ``rma.glmm`` and ``rma.peto``.  The pieces (the heading, the
heterogeneity block, p-value text, the coefficient table) are shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from metaparity._core.mfversion import since

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


def _rf(x: float, d: int) -> str:
    """``x`` with ``d`` decimals as R's formatC prints it (``NA``, ``Inf``, ``-Inf``)."""
    if np.isnan(x):
        return "NA"
    if np.isinf(x):
        txt = "Inf" if x > 0 else "-Inf"
        return txt.rjust(d + 1) if since("print_fmtx") else txt
    return f"{x:.{d}f}"


def _mh_tests(res: Any, d: int) -> list[str]:
    """The CMH and Tarone lines (OR) or the MH line (IRR) of ``print.rma.mh``."""
    na = "test value not computable for these data"
    if res.measure == "IRR":
        txt = na if np.isnan(res.MH) else f"MH = {_rf(res.MH, d)}, df = 1, p-val {_p(res.MHp)}"
        return ["", f"Mantel-Haenszel Test: {txt}"]
    if res.measure != "OR":
        return []
    mh = None if np.isnan(res.MH) else _rf(res.MH, d)
    ta = None if np.isnan(res.TA) else _rf(res.TA, d)
    width = max([len(x) for x in (mh, ta) if x is not None] or [1])

    def p0(p: float) -> str:  # metafor's .pval(add0 = TRUE)
        return _p(p).replace("< .", "< 0.")

    pad = " " * (len(str(res.k_pos)) - 1)
    cmh = na if mh is None else f"CMH = {mh:>{width}}, df = 1,{pad} p-val {p0(res.MHp)}"
    tar = na if ta is None else f"X^2 = {ta:>{width}}, df = {res.k_pos - 1}, p-val {p0(res.TAp)}"
    return [
        "",
        f"Cochran-Mantel-Haenszel Test:    {cmh}",
        f"Tarone's Test for Heterogeneity: {tar}",
    ]


def _mh(res: Any, d: int) -> str:
    """``print.rma.mh`` (and ``print.rma.peto``'s layout of the same pieces)."""
    lines = [f"Equal-Effects Model (k = {res.k})", ""]
    if not np.isnan(res.I2):
        lines.append(f"I^2 (total heterogeneity / total variability):  {_rf(res.I2, 2)}%")
    if not np.isnan(res.H2):
        lines.append(f"H^2 (total variability / sampling variability): {_rf(res.H2, 2)}")
    if not np.isnan(res.QE):
        df = max(res.k_yi - 1, 0)
        lines += ["", "Test for Heterogeneity:",
                  f"Q(df = {df}) = {_rf(res.QE, d)}, p-val {_p(res.QEp)}"]  # fmt: skip
    if not (np.isnan(res.I2) and np.isnan(res.H2) and np.isnan(res.QE)):
        lines.append("")
    cols = ["estimate", "se", "zval", "pval", "ci.lb", "ci.ub"]
    row = [_rf(res.b, d), _rf(res.se, d), _rf(res.zval, d), _pcell(res.pval, d),
           _rf(res.ci_lb, d), _rf(res.ci_ub, d)]  # fmt: skip
    if res.measure not in ("OR", "RR", "IRR"):
        return "\n".join([*lines, "Model Results:", "", *_table(cols, [row], False)])
    ex = [_rf(np.exp(v), d) for v in (res.b, res.ci_lb, res.ci_ub)]
    lines += ["Model Results (log scale):", "", *_table(cols, [row], False), ""]
    lines += [f"Model Results ({res.measure} scale):", ""]
    lines += _table(["estimate", "ci.lb", "ci.ub"], [ex], False)
    return "\n".join(lines + _mh_tests(res, d))


def _peto(res: Any, d: int) -> str:
    """``print.rma.peto``: the heterogeneity test (df = tables with V > 0, minus 1), then
    the model on the log scale and on the odds ratio scale."""
    lines = [f"Equal-Effects Model (k = {res.k})", ""]
    if not np.isnan(res.I2):
        lines.append(f"I^2 (total heterogeneity / total variability):  {_rf(res.I2, 2)}%")
    if not np.isnan(res.H2):
        lines.append(f"H^2 (total variability / sampling variability): {_rf(res.H2, 2)}")
    if not np.isnan(res.QE):
        lines += ["", "Test for Heterogeneity:"]
        lines.append(f"Q(df = {res.k_pos - 1}) = {_rf(res.QE, d)}, p-val {_p(res.QEp)}")
    lines += ["", "Model Results (log scale):", ""]
    cells = [_rf(res.b, d), _rf(res.se, d), _rf(res.zval, d), _pcell(res.pval, d),
             _rf(res.ci_lb, d), _rf(res.ci_ub, d)]  # fmt: skip
    lines += _table(["estimate", "se", "zval", "pval", "ci.lb", "ci.ub"], [cells], False)
    lines += ["", "Model Results (OR scale):", ""]
    ors = [_rf(float(np.exp(x)), d) for x in (res.b, res.ci_lb, res.ci_ub)]
    lines += _table(["estimate", "ci.lb", "ci.ub"], [ors], False)
    return "\n".join(lines)


def _glmm_cm(res: Any, d: int) -> str:
    """``print.rma.glmm`` for the conditional models (CM.EL / CM.AL)."""
    kind = "Random-Effects Model" if res.int_only else "Mixed-Effects Model"
    what = "total" if res.int_only else "residual"
    mtype = {"CM.EL": "Conditional Model with Exact Likelihood",
             "CM.AL": "Conditional Model with Approximate Likelihood"}[res.model]  # fmt: skip
    df = res.k - res.p
    pad = 49 if res.int_only else 56
    i2 = ("I^2 (total heterogeneity / total variability):" if res.int_only
          else "I^2 (residual heterogeneity / unaccounted variability):")  # fmt: skip
    h2 = ("H^2 (total variability / sampling variability):" if res.int_only
          else "H^2 (unaccounted variability / sampling variability):")  # fmt: skip
    lines = [
        f"{kind} (k = {res.k}; tau^2 estimator: ML)",
        f"Model Type: {mtype}",
        "",
        *_tau_lines(res, d, what, pad),
        i2.ljust(pad) + f"{res.I2:.{d}f}%",
        h2.ljust(pad) + f"{res.H2:.{d}f}",
        "",
        "Tests for " + ("Heterogeneity:" if res.int_only else "Residual Heterogeneity:"),
        f"Wld(df = {df}) = {res.QE_Wld:.{d}f}, p-val {_p(res.QEp_Wld)}",
        f"LRT(df = {df}) = {res.QE_LRT:.{d}f}, p-val {_p(res.QEp_LRT)}",
        "",
    ]
    if not res.int_only:
        btt = list(range(1 if res.coef_names[0] == "intrcpt" else 0, res.p))
        lines += [f"Test of Moderators ({_btt_text(btt)}):",
                  f"QM(df = {len(btt)}) = {res.QM:.{d}f}, p-val {_p(res.QMp)}", ""]  # fmt: skip
    lines += ["Model Results:", ""]
    lines += _table(*_coef_rows(res, d), first_left=not res.int_only)
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


def _mv_components(res: Any, d: int) -> list[str]:
    lines: list[str] = []
    fixed = res.fixed
    if len(res.sigma2):
        fx = np.atleast_1d(fixed.get("sigma2", [None] * len(res.sigma2)))
        rows = [[f"sigma^2.{j + 1}", f"{v:.{d}f}", f"{np.sqrt(v):.{d}f}", str(n),
                 "yes" if (len(fx) > j and fx[j] is not None and not np.isnan(float(fx[j])))
                 else "no", name]
                for j, (v, n, name) in enumerate(zip(res.sigma2, res.s_nlevels, res.s_names,
                                                     strict=True))]  # fmt: skip
        lines += _table(["", "estim", "sqrt", "nlvls", "fixed", "factor"], rows, True) + [""]
    for j, (var, cor, levels) in enumerate(((res.tau2, res.rho, res.g_levels),
                                            (res.gamma2, res.phi, res.h_levels))):  # fmt: skip
        if j >= len(res.struct):
            break
        v, c = ("tau^2", "rho") if j == 0 else ("gamma^2", "phi")
        term = res._problem.gts[j]
        lines += [f"outer factor: {term.outer} (nlvls = {len(np.unique(term.ocodes))})",
                  f"inner factor: {term.inner} (nlvls = {len(levels)})", ""]  # fmt: skip
        names = [f"{v}" + (f".{i + 1}" if len(var) > 1 else "") for i in range(len(var))]
        rows = [[n, f"{x:.{d}f}", f"{np.sqrt(x):.{d}f}"] for n, x in zip(names, var, strict=True)]
        lines += _table(["", "estim", "sqrt"], rows, True)
        if res.struct[j] in ("CS", "HCS", "AR", "HAR", "CAR", "UN"):
            lines += [f"{c}" + " " * 4 + "  ".join(f"{x:.{d}f}" for x in np.atleast_1d(cor))]
        lines.append("")
    return lines


def _mv(res: Any, d: int) -> str:
    head = "Multivariate Meta-Analysis Model" if (len(res.sigma2) or res.struct) else (
        "Equal-Effects Model")  # fmt: skip
    lines = [f"{head} (k = {res.k}; method: {res.method})", ""]
    if len(res.sigma2) or res.struct:
        lines += ["Variance Components:", "", *_mv_components(res, d)]
    word = "Residual Heterogeneity" if res.p > 1 else "Heterogeneity"
    lines += [f"Test for {word}:", f"QE(df = {res.QEdf}) = {res.QE:.{d}f}, p-val {_p(res.QEp)}", ""]
    if res.p > 1 or not res.int_only:
        stat = (f"QM(df = {res.QMdf[0]}) = {res.QM:.{d}f}" if res.test == "z"
                else f"F(df1 = {res.QMdf[0]}, df2 = {res.QMdf[1]}) = {res.QM:.{d}f}")  # fmt: skip
        lines += [f"Test of Moderators ({_btt_text(res.btt)}):", f"{stat}, p-val {_p(res.QMp)}", ""]
    stat = "zval" if res.test == "z" else "tval"
    cols = ["estimate", "se", stat] + (["df"] if res.test == "t" else []) + ["pval", "ci.lb",
                                                                              "ci.ub"]  # fmt: skip
    rows = []
    for j in range(res.p):
        r = [f"{res.b[j]:.{d}f}", f"{res.se[j]:.{d}f}", f"{res.zval[j]:.{d}f}"]
        if res.test == "t":
            r.append(f"{res.ddf[j]:g}")
        r += [_pcell(res.pval[j], d), f"{res.ci_lb[j]:.{d}f}", f"{res.ci_ub[j]:.{d}f}"]
        rows.append(r)
    lines += ["Model Results:", ""]
    if res.int_only:
        lines += _table(cols, rows, first_left=False)
    else:
        lines += _table(["", *cols], [[n, *r] for n, r in zip(res.coef_names, rows, strict=True)],
                        first_left=True)  # fmt: skip
    return "\n".join(lines)


def format_summary(res: Any, digits: int = 4) -> str:
    """The printout of a fitted model, laid out like metafor's ``print`` method.

    Parameters
    ----------
    res : RmaResult, GlmmResult or PetoResult
        A fitted model (:func:`metaparity.rma`, :func:`metaparity.rma_mods`,
        :func:`metaparity.rma_glmm`, :func:`metaparity.rma_peto`).
    digits : int
        Decimals of the estimates (metafor's ``digits``, default 4).

    Returns
    -------
    str
        Equivalent to ``print(res)`` in metafor (``print.rma.uni`` / ``print.rma.glmm`` /
        ``print.rma.peto``).
    """
    if getattr(res, "measure", None) == "PETO" and hasattr(res, "k_pos"):
        return _peto(res, digits)
    if str(getattr(res, "model", "")).startswith("CM."):
        return _glmm_cm(res, digits)
    if hasattr(res, "nAGQ") and hasattr(res, "coef_names"):
        return _glmm_um(res, digits)
    if hasattr(res, "nAGQ"):
        return _glmm(res, digits)
    if type(res).__name__ == "MhResult":
        return _mh(res, digits)
    if type(res).__name__ == "MvResult":
        return _mv(res, digits)
    return _uni(res, digits) if res.int_only else _mods(res, digits)
