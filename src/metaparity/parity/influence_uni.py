"""Case diagnostics of rma fits, with or without moderators, against metafor's: the table of
``influence()`` (with ``btt=`` for Cook's distances and covariance ratios), ``rstudent()``,
``rstandard()``, ``hatvalues()``, ``cooks.distance()``, ``dfbetas()``, ``baujat()``'s
coordinates, and ``leave1out()``'s refusal of meta-regressions -- the model refitted in
metafor on the same rows (``fam_metareg.R``'s ``mp_influence_uni``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from metaparity.analysis.anova import btt_indices
from metaparity.analysis.baujat import baujat
from metaparity.analysis.influence import influence
from metaparity.analysis.leave1out import leave1out
from metaparity.analysis.residuals import rstandard, rstudent
from metaparity.models.results import RmaResult
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.tolerances import Comparison, Tolerance, compare_values, tolerance_for
from metaparity.parity.uni_spec import uni_spec

__all__ = ["influence_call_args", "metafor_influence_uni", "compare_influence_uni",
           "HAT_ONE_SE"]  # fmt: skip

#: the tolerance of a residual's standard error where the hat value is 1 (see its reason)
HAT_ONE_SE = Tolerance(
    0.0,
    float(np.sqrt(np.finfo(float).eps)),
    "rstandard's se where the hat value is 1 (within 1e-8; e.g. the only study pinning a "
    "factor level's slope): the exact "
    "value is 0, and both sides take the square root of a rounding residue of "
    "(I - H) M (I - H)' (~eps * (v + tau2)); observed 7.6e-15 vs 8.3e-16 (dat.bcg, "
    "~ ablat * alloc); compared as |ours - ref| <= sqrt(eps) * sqrt(v + tau2)",
)

_INF = (("rstudent", "rstudent"), ("dffits", "dffits"), ("cook.d", "cook_d"),
        ("cov.r", "cov_r"), ("tau2.del", "tau2_del"), ("QE.del", "QE_del"), ("hat", "hat"),
        ("weight", "weight"))  # fmt: skip


def influence_call_args(res: RmaResult, btt: Any = None) -> dict[str, Any]:
    """The arguments of ``mp_influence_uni`` (``btt`` sent 1-based)."""
    args = dict(uni_spec(res))
    if btt is not None:
        args["btt"] = [float(i + 1) for i in btt_indices(res, btt)]
    return args


def metafor_influence_uni(res: RmaResult, btt: Any = None, bridge: Any = None) -> dict[str, Any]:
    """metafor's case diagnostics of the fit ``res`` (see the module)."""
    bridge = get_bridge() if bridge is None else bridge
    return bridge.call("mp_influence_uni", **influence_call_args(res, btt))


def _vec(x: Any) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in np.atleast_1d(x)], dtype=float)


def _each(out: list[Comparison], name: str, mine: Any, theirs: Any, key: str, method: str,
          tol: Any = None) -> None:  # fmt: skip
    mine, theirs = np.asarray(mine, float).ravel(), _vec(theirs)
    if mine.shape != theirs.shape:
        out.append(Comparison(f"{name} (length)", float(mine.size), float(theirs.size),
                              float("inf"), float("inf"), tolerance_for(key, method), False))  # fmt: skip
        return
    for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        c = compare_values(key, float(a), float(b), method)
        if tol is not None and tol[i] is not None:
            t = tol[i]
            ok = (np.isnan(a) and np.isnan(b)) or abs(a - b) <= t.atol
            c = replace(c, tol=t, ok=bool(ok))
        out.append(replace(c, quantity=f"{name}[{i + 1}]"))


def _exact(out: list[Comparison], name: str, mine: Any, theirs: Any) -> None:
    ok = bool(np.array_equal(np.asarray(mine, bool), np.asarray(theirs, bool)))
    out.append(Comparison(name, float(ok), 1.0, 0.0 if ok else 1.0, 0.0 if ok else 1.0,
                          tolerance_for("b", "EE"), ok))  # fmt: skip


def compare_influence_uni(res: RmaResult, ref: dict[str, Any], btt: Any = None) -> list[Comparison]:
    """Every diagnostic per study (b's tolerance; the flags exactly; rstandard's se where the
    hat value is 1 within :data:`HAT_ONE_SE`); ``leave1out`` refuses a meta-regression with
    metafor's message and runs for a model without moderators."""
    m = res.method
    out: list[Comparison] = []
    inf = influence(res)
    for q, attr in _INF:
        _each(out, q, getattr(inf, attr), ref["influence"][q], "b", m)
    _exact(out, "inf", inf.inf, ref["influence"]["inf"])
    p = int(ref["p"])
    dfb = _vec(ref["dfbetas"]).reshape(p, -1).T
    _each(out, "dfbetas", inf.dfbs.reshape(res.k, -1), dfb.ravel(), "b", m)
    ib = inf if btt is None else influence(res, btt=btt)
    _each(out, "btt cook.d", ib.cook_d, ref["btt"]["cook.d"], "b", m)
    _each(out, "btt cov.r", ib.cov_r, ref["btt"]["cov.r"], "b", m)
    _exact(out, "btt inf", ib.inf, ref["btt"]["inf"])
    _each(out, "hatvalues", inf.hat, ref["hatvalues"], "b", m)
    _each(out, "cooks.distance", inf.cook_d, ref["cooks"], "b", m)
    rs, rd = rstudent(res), rstandard(res)
    scale = np.sqrt(np.asarray(res.vi, float) + res.tau2)
    hat_one = [replace(HAT_ONE_SE, atol=HAT_ONE_SE.atol * s) if h > 1.0 - 1e-8 else None
               for h, s in zip(inf.hat, scale, strict=True)]  # fmt: skip
    for q in ("resid", "se", "z"):
        _each(out, f"rstudent {q}", getattr(rs, q), ref["rstudent"][q], "b", m)
        _each(out, f"rstandard {q}", getattr(rd, q), ref["rstandard"][q], "b", m,
              hat_one if q == "se" else None)  # fmt: skip
    if "error" in ref["baujat"]:  # metafor stops when no deleted fit exists: so do we
        try:
            baujat(res)
            stopped = False
        except ValueError:
            stopped = True
        out.append(Comparison("baujat stops", float(stopped), 1.0, 0.0 if stopped else 1.0,
                              0.0 if stopped else 1.0, tolerance_for("b", "EE"), stopped))  # fmt: skip
    else:
        bj = baujat(res)
        for q in ("x", "y"):
            _each(out, f"baujat {q}", getattr(bj, q), ref["baujat"][q], "b", m)
    refused = bool(ref["leave1out"])
    try:
        leave1out(res)
        ours_refused = False
    except TypeError:
        ours_refused = True
    ok = ours_refused == refused and (not refused or "without moderators" in ref["leave1out"])
    out.append(Comparison("leave1out refused", float(ours_refused), float(refused),
                          0.0 if ok else 1.0, 0.0 if ok else 1.0, tolerance_for("b", "EE"), ok))  # fmt: skip
    return out
