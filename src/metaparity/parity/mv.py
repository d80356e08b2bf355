"""``rma_mv`` against ``metafor::rma.mv``: the R call for a fitted model, and the comparison.

:func:`metafor_rma_mv` sends the rows a :class:`~metaparity.models.mv.MvResult` was fitted
on (estimates, V, design, grouping columns, known R matrices, fixed values) to metafor
(``fam_mv.R``) with tight optimiser control, and asks metafor for its log-likelihood at our
variance components too.  :func:`compare_mv` compares every field at its row of the
tolerance table, plus the likelihood evidence: our likelihood at metafor's components equals
metafor's (the same function), and our optimum is not below metafor's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from metaparity.models.mv import MvResult
from metaparity.parity.compare import _cmp, _fields, optimum_not_below
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.tolerances import (
    MV_TOLERANCES,
    Comparison,
    Tolerance,
    pvalue_condition,
)

__all__ = [
    "metafor_rma_mv", "rma_mv_call_args", "compare_mv", "design_condition", "failures",
    "metafor_robust", "compare_robust", "ROBUST_FIELDS", "metafor_predict_mv",
    "compare_predict_mv", "PRED_FIELDS", "metafor_anova_mv", "compare_anova_mv",
    "metafor_confint_mv", "compare_confint_mv", "metafor_ranef_mv", "compare_ranef_mv",
    "MV_CONTROL", "MV_FIELDS",
]  # fmt: skip

#: metafor's optimiser settings for parity: each is run and metafor's fit with the highest
#: log-likelihood is kept.  rma.mv's optimisers work without a gradient on log variances and
#: its likelihood is flat near the optimum: nlminb (the default) stops with convergence
#: code 1 for rel.tol below 1e-12, and at its default up to 2e-8 below the maximum;
#: Nelder-Mead (reltol = 1e-15) reaches our maximum to <= 7e-13 on most cases but stops in a
#: local maximum 0.16 below on dat.ishak2007 UN and degenerates (code 10) on
#: dat.konstantopoulos2011 ~ raw year, where bobyqa (rhoend = 1e-12) reaches it (docs/mv.md).
MV_CONTROL: dict[str, Any] = {"tries": [
    {"optimizer": "optim", "optmethod": "Nelder-Mead", "reltol": 1e-15, "maxit": 100000},
    {"optimizer": "bobyqa", "rhoend": 1e-12, "maxfun": 100000},
    {"rel.tol": 1e-12, "iter.max": 10000, "eval.max": 20000},
]}  # fmt: skip

#: the fields compared (metafor's names)
MV_FIELDS: tuple[str, ...] = (
    "b", "se", "zval", "pval", "ci_lb", "ci_ub", "vb", "sigma2", "tau2", "rho", "gamma2",
    "phi", "QE", "QEp", "QM", "QMp", "ll_ML", "dev_ML", "AIC_ML", "BIC_ML", "AICc_ML",
    "ll_REML", "dev_REML", "AIC_REML", "BIC_REML", "AICc_REML", "ddf", "parms", "k", "p",
)  # fmt: skip


def _column_values(s: pd.Series) -> Any:
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return [float(v) for v in s]
    return [str(v) for v in s]


def rma_mv_call_args(
    res: MvResult, control: dict[str, Any] | None = None, at: bool = True
) -> dict[str, Any]:
    """The arguments of ``mp_rma_mv`` (fam_mv.R) for the rows and settings of ``res``, as
    plain Python (lists, dicts; NaN for NA): what the live bridge sends and what the
    golden inputs (fixtures/mv_cases.json) hold."""
    data = None
    if res.groups is not None:
        data = {c: _column_values(res.groups[c]) for c in res.groups.columns}
    R = None
    if res.R:
        R = {}
        sig = res._problem.sig
        for name, mat in res.R.items():
            levels = sig[[s.name for s in sig].index(name)].levels
            m = (mat.loc[list(levels), list(levels)].to_numpy(dtype=float)
                 if isinstance(mat, pd.DataFrame) else np.asarray(mat, dtype=float))  # fmt: skip
            R[name] = {"levels": list(levels), "values": m.ravel(order="F").tolist()}
    args: dict[str, Any] = dict(
        yi=res.yi.tolist(), data=data,
        random=list(res.random) if res.random else None, struct=list(res.struct) or None,
        X=res.X.ravel(order="F").tolist(), X_names=list(res.coef_names), R=R,
        Rscale=res.Rscale, method=res.method, test=res.test, dfs=res.dfs, level=res.level,
        control=_with_model_control(MV_CONTROL if control is None else control, res),
    )  # fmt: skip
    diagonal = not np.any(res.V - np.diag(np.diag(res.V)))
    if diagonal:
        args["V"] = np.diag(res.V).tolist()
    else:
        args["V"], args["V_nrow"] = res.V.ravel(order="F").tolist(), res.k
    for name, value in res.fixed.items():
        args[name] = [np.nan if v is None else float(v) for v in np.atleast_1d(value)]
    if at:
        args["at"] = {n: np.asarray(getattr(res, n), dtype=float).tolist()
                      for n in ("sigma2", "tau2", "rho", "gamma2", "phi")
                      if np.size(getattr(res, n))}  # fmt: skip
    return args


def _with_model_control(control: dict[str, Any], res: MvResult) -> dict[str, Any]:
    """``control`` (one list, or ``{"tries": [...]}``) with the entries of the fit's own
    control that change metafor's model or start (REMLf, check.k.gtr.1, cholesky, the
    starting values) added to each."""
    extra = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
             for k, v in res.control.for_metafor.items()}  # fmt: skip
    if not extra:
        return control
    if "tries" in control:
        return {"tries": [dict(c) | extra for c in control["tries"]]}
    return dict(control) | extra


def metafor_rma_mv(
    res: MvResult, bridge: Any = None, control: dict[str, Any] | None = None, at: bool = True
) -> dict[str, Any]:
    """metafor's ``rma.mv`` on the rows and settings of ``res`` (a bridge record: ``ok``,
    ``fields``, ``ll_at_ours``, ``control``, ``printout``, ``warnings`` or ``error``)."""
    if bridge is None:
        bridge = get_bridge()
    args = rma_mv_call_args(res, control, at)
    args["control"] = _control_arg(args["control"])
    return bridge.call("mp_rma_mv", **args)


def _control_arg(control: dict[str, Any]) -> dict[str, Any]:
    """The bridge passes dicts, not lists of them: ``tries`` becomes {"1": ..., "2": ...}."""
    if "tries" in control:
        return {"tries": {str(i + 1): c for i, c in enumerate(control["tries"])}}
    return control


def _ours(res: MvResult) -> dict[str, Any]:
    out: dict[str, Any] = {q: getattr(res, q) for q in MV_FIELDS[:16]}
    out["vb"] = res.vb.ravel(order="F")
    for m in ("ML", "REML"):
        for s in ("ll", "dev", "AIC", "BIC", "AICc"):
            out[f"{s}_{m}"] = res.fit_stats[m][s]
    out["ddf"] = res.ddf if res.test == "t" else np.full(res.p, np.nan)
    for q in ("parms", "k", "p"):
        out[q] = float(getattr(res, q))
    return out


class _Obj:
    def __init__(self, d: dict[str, Any]) -> None:
        self.__dict__.update(d)


def _pvalues(res: MvResult, fit: dict[str, Any]) -> list[Comparison]:
    """p-values against metafor's, each at the tolerance of the statistic it comes from
    times its condition number (a p-value agrees as well as its statistic does)."""
    dist = "t" if res.test == "t" else "z"
    out = []
    zt = MV_TOLERANCES["zval"]
    ref_p = np.atleast_1d(np.asarray([np.nan if v is None else v for v in
                                      np.atleast_1d(fit["pval"])], dtype=float))  # fmt: skip
    for j in range(res.p):
        kappa = pvalue_condition(float(res.zval[j]), dist, float(res.ddf[j]))
        tol = Tolerance(zt.rtol * max(1.0, kappa), zt.atol, MV_TOLERANCES["pval"].reason)
        name = "pval" if res.p == 1 else f"pval[{j}]"
        out.append(_cmp(name, res.pval[j], ref_p[j], tol))
    qdist, df2 = ("F", float(res.QMdf[1])) if res.test == "t" else ("chi2", float("nan"))
    kq = pvalue_condition(res.QM, qdist, float(res.QMdf[0]), df2)
    qt = MV_TOLERANCES["QM"]
    out.append(
        _cmp(
            "QMp",
            res.QMp,
            fit["QMp"],
            Tolerance(qt.rtol * max(1.0, kq), qt.atol, MV_TOLERANCES["QMp"].reason),
        )
    )
    ke = pvalue_condition(res.QE, "chi2", float(max(res.QEdf, 1)))
    out.append(
        _cmp(
            "QEp",
            res.QEp,
            fit["QEp"],
            Tolerance(MV_TOLERANCES["QE"].rtol * max(1.0, ke), 1e-300, MV_TOLERANCES["QEp"].reason),
        )
    )
    return out


def design_condition(res: MvResult) -> float:
    """The factor on the metafor-side likelihood checks' ``rtol``: metafor takes log|X'X| and
    log|X'M^-1 X| from ``X`` itself, whose rounding grows with cond(X) (a raw year as
    moderator: cond 3.9e5, metafor's log-likelihood noise 4e-11); 1.0 when ``eps cond(X)``
    is below the table's 1e-12."""
    kappa = float(np.linalg.cond(res.X))
    return max(1.0, float(np.finfo(float).eps) * kappa / MV_TOLERANCES["loglik_at_metafor"].rtol)


def compare_mv(res: MvResult, ref: dict[str, Any]) -> list[Comparison]:
    """Every field of ``res`` against metafor's record ``ref`` (from :func:`metafor_rma_mv`
    or a golden), and the likelihood evidence."""
    fit = dict(ref["fields"])
    if res.test != "t":
        fit["ddf"] = [None] * res.p
    own = {f"{s}_{res.method}" for s in ("ll", "dev", "AIC", "BIC", "AICc")}
    names = [q for q in MV_FIELDS if q not in ("pval", "QEp", "QMp", "ci_lb", "ci_ub")]
    cond = design_condition(res)
    lik = MV_TOLERANCES["loglik_at_metafor"]
    table = dict(MV_TOLERANCES)
    for q in own:
        table[q] = Tolerance(lik.rtol * cond, lik.atol, lik.reason)
    out = _fields(_Obj(_ours(res)), fit, names, table)
    for q in ("ci_lb", "ci_ub"):
        out += _bounds(q, getattr(res, q), res.b, fit[q], table[q])
    out += _pvalues(res, fit)
    ll_mf = fit[f"ll_{res.method}"]
    # our likelihood at metafor's variance components: the same function as metafor's
    vals = {q: fit.get(q) or None for q in ("sigma2", "tau2", "rho", "gamma2", "phi")}
    ours_at_theirs = res.loglik_at(**{q: v for q, v in vals.items() if v})
    out.append(_cmp("loglik_at_metafor", ours_at_theirs, ll_mf,
                    Tolerance(lik.rtol * cond, lik.atol, lik.reason)))  # fmt: skip
    out.append(optimum_not_below("optimum_not_below_metafor", res.logLik, ours_at_theirs))
    at = ref.get("ll_at_ours")
    if at:
        # metafor's own likelihood at our components (those recorded with a golden, else
        # this fit's): the same number as ours
        ours_there = res.logLik if not ref.get("at") else res.loglik_at(**{
            q: v for q, v in ref["at"].items() if v})  # fmt: skip
        out.append(_cmp("metafor_loglik_at_ours", ours_there, at[res.method],
                        Tolerance(lik.rtol * cond, lik.atol, lik.reason)))  # fmt: skip
        out.append(optimum_not_below("optimum_not_below_metafor_in_metafor", at[res.method],
                                     ll_mf, slack=1e-12 * cond))  # fmt: skip
    return out


ROBUST_FIELDS: tuple[str, ...] = (
    "b", "se", "zval", "pval", "ci_lb", "ci_ub", "vb", "QM", "QMp", "QMdf", "dfs", "n",
)  # fmt: skip


def metafor_robust(
    rob: Any, bridge: Any = None, clubSandwich: bool = False, control: dict[str, Any] | None = None
) -> dict[str, Any]:
    """metafor's ``robust()`` on the model and clusters of ``rob`` (a
    :class:`~metaparity.analysis.robust.RobustResult`): ``ok``, ``robust`` (its fields) and,
    for an rma_mv model, the model record of :func:`metafor_rma_mv`."""
    bridge = get_bridge() if bridge is None else bridge
    res = rob.model
    cl = [str(c) for c in rob.cluster]
    clubSandwich = clubSandwich or rob.vbest == "CR2"
    adjust = {"CR0": False, "CR1": True, "CR1.S1": "Stata1", "CR1.S2": "Stata2",
              "CR2": True}[rob.vbest]  # fmt: skip
    if isinstance(res, MvResult):
        args = rma_mv_call_args(res, control, at=False)
        args["control"] = _control_arg(args["control"])
        return bridge.call("mp_rma_mv", **args, cluster=cl, adjust=adjust,
                           clubSandwich=clubSandwich)  # fmt: skip
    X = np.ones((len(res.yi), 1)) if res.X is None else np.asarray(res.X, dtype=float)
    return bridge.call(
        "mp_robust_uni", yi=np.asarray(res.yi, dtype=float), vi=np.asarray(res.vi, dtype=float),
        X=X.ravel(order="F"), X_names=list(getattr(res, "coef_names", ("intrcpt",))),
        method=res.method, test=res.test, weights=res.weights, cluster=cl, adjust=adjust,
        clubSandwich=clubSandwich,
    )  # fmt: skip


def compare_robust(rob: Any, ref: dict[str, Any]) -> list[Comparison]:
    """The fields of ``rob`` against metafor's ``robust()`` record: at the model's own rows of
    the tolerance table (an rma_mv model's robust vb inherits its optimiser tolerance)."""
    table = dict(MV_TOLERANCES) if isinstance(rob.model, MvResult) else {
        q: MV_TOLERANCES["QE"] for q in ROBUST_FIELDS}  # fmt: skip
    table["QMdf"] = table["dfs"] = table["n"] = MV_TOLERANCES["k"]
    if rob.vbest == "CR2":  # Satterthwaite / HTZ df are functions of the fit, like vb
        table["QMdf"] = table["dfs"] = table["vb"]
    ours = {q: getattr(rob, q) for q in ROBUST_FIELDS}
    ours["vb"] = np.asarray(rob.vb).ravel(order="F")
    if rob.ddf is not None:
        ours["dfs"] = rob.ddf  # Satterthwaite, one per coefficient
    fit = dict(ref["robust"])
    names = [q for q in ROBUST_FIELDS if q not in ("pval", "QMp")]
    out = _fields(_Obj(ours), fit, names, table)
    zt = table["zval"]
    ref_p = np.atleast_1d(np.asarray(fit["pval"], dtype=float))
    ddf = rob.ddf if rob.ddf is not None else np.full(len(rob.b), float(rob.dfs))
    for j in range(len(rob.b)):
        kappa = pvalue_condition(float(rob.zval[j]), "t", float(ddf[j]))
        tol = Tolerance(zt.rtol * max(1.0, kappa), zt.atol, MV_TOLERANCES["pval"].reason)
        out.append(_cmp(f"pval[{j}]", rob.pval[j], ref_p[j], tol))
    kq = pvalue_condition(rob.QM, "F", float(rob.QMdf[0]), float(rob.QMdf[1]))
    qt = table["QM"]
    out.append(
        _cmp(
            "QMp",
            rob.QMp,
            fit["QMp"],
            Tolerance(qt.rtol * max(1.0, kq), qt.atol, MV_TOLERANCES["QMp"].reason),
        )
    )
    club = ref.get("club")
    if club:  # clubSandwich called directly: the same CR2, Satterthwaite df and HTZ test
        direct = {"club_se": rob.se, "club_df": rob.ddf, "club_vb": ours["vb"]}
        theirs = {"club_se": club["se"], "club_df": club["df"], "club_vb": club["vb"]}
        t2 = {"club_se": table["se"], "club_df": table["dfs"], "club_vb": table["vb"]}
        if "F" in club:
            direct.update(club_F=rob.QM, club_df_denom=rob.QMdf[1])
            theirs.update(club_F=club["F"], club_df_denom=club["df_denom"])
            t2.update(club_F=table["QM"], club_df_denom=table["QMdf"])
        out += _fields(_Obj(direct), theirs, list(direct), t2)
    return out


PRED_FIELDS: tuple[str, ...] = ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub")


def metafor_predict_mv(
    res: MvResult, bridge: Any = None, newmods: Any = None, intercept: bool | None = None,
    tau2_levels: Any = None, gamma2_levels: Any = None, transf: str | None = None,
    level: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """metafor's ``predict()`` for the model of ``res`` (the record of :func:`metafor_rma_mv`
    with ``predict``)."""
    bridge = get_bridge() if bridge is None else bridge
    args = rma_mv_call_args(res, None, at=False)
    args["control"] = _control_arg(args["control"])
    pred: dict[str, Any] = {}
    if newmods is not None:
        Xn = np.atleast_2d(np.asarray(newmods, dtype=float))
        pred.update(newmods=Xn.ravel(order="F").tolist(), ncol=int(Xn.shape[1]))
    if intercept is not None:
        pred["intercept"] = intercept
    for n, v in (("tau2_levels", tau2_levels), ("gamma2_levels", gamma2_levels)):
        if v is not None:
            vv = [v] if isinstance(v, (str, int)) else list(v)
            pred[n] = [str(x) for x in vv] if isinstance(vv[0], str) else [float(x) for x in vv]
    if transf is not None:
        pred["transf"] = transf
    if level is not None:
        pred["level"] = float(level)
    return bridge.call("mp_rma_mv", **args, pred=pred or {"none": None})


def _bounds(name: str, bound: Any, centre: Any, ref: Any, tol: Tolerance) -> list[Comparison]:
    """Interval bounds ``centre +/- half``: their error is that of the centre and the half
    width, so a bound near 0 (an interval across 0) is compared with rtol applied to
    ``|centre| + |half|`` rather than to the small bound (the condition of the sum)."""
    ours = np.atleast_1d(np.asarray(bound, dtype=float))
    c = np.atleast_1d(np.asarray(centre, dtype=float))
    theirs = np.atleast_1d(np.asarray([np.nan if v is None else v
                                       for v in np.atleast_1d(ref)], dtype=float))  # fmt: skip
    out = []
    for j, (o, r) in enumerate(zip(ours, theirs, strict=True)):
        scale = abs(c[j]) + abs(o - c[j])
        cond = scale / abs(r) if np.isfinite(r) and r != 0 else 1.0
        nm = name if ours.size == 1 else f"{name}[{j}]"
        out.append(_cmp(nm, o, r, tol, max(1.0, cond)))
    return out


def compare_predict_mv(prediction: Any, ref: dict[str, Any]) -> list[Comparison]:
    """Predictions against metafor's, at the model's tolerance (they are functions of b, vb
    and the variance components)."""
    tol = MV_TOLERANCES["ci_lb"]
    ours = {q: np.asarray(getattr(prediction, q), dtype=float) for q in ("pred", "se")}
    out = _fields(_Obj(ours), ref["predict"], ("pred", "se"), {"pred": tol, "se": tol})
    for q in ("ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        out += _bounds(q, getattr(prediction, q), prediction.pred, ref["predict"][q], tol)
    return out


def metafor_anova_mv(
    res: MvResult, res2: MvResult | None = None, bridge: Any = None, btt: Any = None,
    X: Any = None, refit: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """metafor's ``anova()`` for rma_mv fits (``btt`` 0-based, as ours; sent 1-based)."""
    bridge = get_bridge() if bridge is None else bridge

    def fit_args(r: MvResult) -> dict[str, Any]:
        a = rma_mv_call_args(r, None, at=False)
        a["control"] = _control_arg(a["control"])
        return a

    args: dict[str, Any] = {"full": fit_args(res)}
    if res2 is not None:
        args.update(reduced=fit_args(res2), refit=refit)
    elif X is not None:
        Xm = np.atleast_2d(np.asarray(X, dtype=float))
        args.update(X=Xm.ravel(order="F").tolist(), X_ncol=int(Xm.shape[1]))
    else:
        bt = res.btt if btt is None else btt
        bt = [bt] if isinstance(bt, (int, np.integer, str)) else list(bt)
        args["btt"] = [float(res.coef_names.index(b) + 1 if isinstance(b, str) else b + 1)
                       for b in bt]  # fmt: skip
    return bridge.call("mp_anova_mv", **args)


def compare_anova_mv(ours: Any, ref: dict[str, Any]) -> list[Comparison]:
    """An :func:`~metaparity.analysis.anova.anova` result against metafor's, at the model
    tolerance (every number is a function of the fits)."""
    t = MV_TOLERANCES["QM"]
    closed = MV_TOLERANCES["k"]
    if ref["type"] == "LRT":
        names = list(ref["fit_stats_names"])
        vals = {"LRT": ours.LRT, "pval": ours.pval, "QE_f": ours.QE_f, "QE_r": ours.QE_r,
                "df_f": ours.df_f, "df_r": ours.df_r,
                "fit_stats_f": [ours.fit_stats_f[n] for n in names],
                "fit_stats_r": [ours.fit_stats_r[n] for n in names]}  # fmt: skip
        kp = pvalue_condition(ours.LRT, "chi2", float(ours.df_f - ours.df_r))
        table = {
            "LRT": t,
            "QE_f": MV_TOLERANCES["QE"],
            "QE_r": MV_TOLERANCES["QE"],
            "df_f": closed,
            "df_r": closed,
            "fit_stats_f": t,
            "fit_stats_r": t,
            "pval": Tolerance(t.rtol * max(1.0, kp), t.atol, MV_TOLERANCES["pval"].reason),
        }
        return _fields(_Obj(vals), ref, list(vals), table)
    vals = {"QM": ours.QM, "QMdf": list(ours.QMdf)}
    kq = 1.0 if not ours.QMdf else pvalue_condition(
        ours.QM, "F" if ours.test == "t" else "chi2", float(ours.QMdf[0]),
        float(ours.QMdf[1]) if len(ours.QMdf) > 1 else float("nan"))  # fmt: skip
    table = {
        "QM": t,
        "QMdf": closed,
        "QMp": Tolerance(t.rtol * max(1.0, kq), t.atol, MV_TOLERANCES["QMp"].reason),
    }
    vals["QMp"] = ours.QMp
    fit = dict(ref)
    fit["QMdf"] = [v for v in np.atleast_1d(fit["QMdf"]) if v is not None and np.isfinite(v)]
    if ref["type"] == "Wald.Xb":
        for q in ("Xb", "se", "zval"):
            vals[q] = getattr(ours, q)
            table[q] = t
        out = _fields(_Obj(vals), fit, list(vals), table)
        for j in range(len(ours.Xb)):
            kz = pvalue_condition(
                float(ours.zval[j]), "t" if ours.test == "t" else "z", float(ours.ddf[j])
            )
            out.append(_cmp(f"pval[{j}]", ours.pval[j], np.atleast_1d(ref["pval"])[j],
                            Tolerance(t.rtol * max(1.0, kz), t.atol,
                                      MV_TOLERANCES["pval"].reason)))  # fmt: skip
        return out
    return _fields(_Obj(vals), fit, list(vals), table)


def metafor_confint_mv(res: MvResult, comp: str, index: int, bridge: Any = None,
                       level: float | None = None, at: Any = None) -> dict[str, Any]:  # fmt: skip
    """metafor's ``confint(res, <comp> = index + 1, control = list(tol = 1e-12))``; with
    ``at`` (our bounds), also metafor's profile log-likelihood there (``ll_at_bounds``)."""
    bridge = get_bridge() if bridge is None else bridge
    args = rma_mv_call_args(res, None, at=False)
    args["control"] = _control_arg(args["control"])
    ci: dict[str, Any] = {"comp": comp, "index": int(index),
                          "tries": {str(i + 1): c for i, c in enumerate(MV_CI_CONTROL)}}  # fmt: skip
    if level is not None:
        ci["level"] = float(level)
    if at is not None:
        ci["at"] = [float(v) for v in at]
    return bridge.call("mp_rma_mv", **args, ci=ci)


#: the optimisers of the fit metafor profiles (its profile refits use the fit's settings),
#: tried in turn until metafor finds both bounds: with Nelder-Mead some profile refits fail
#: and metafor reports NA ("Cannot obtain lower bound of profile likelihood CI due to
#: convergence problems": dat.konstantopoulos2011 sigma2.2 under 3.8.1), with bobyqa others
#: (dat.berkey1998 UN rho under 4.8.0); nlminb at its defaults last
MV_CI_CONTROL: list[dict[str, Any]] = [
    {"optimizer": "bobyqa", "rhoend": 1e-12, "maxfun": 100000},
    {"optimizer": "optim", "optmethod": "Nelder-Mead", "reltol": 1e-15, "maxit": 100000},
    {"optimizer": "nlminb"},
]

#: profile CI bounds: uniroot (tol 1e-12) on metafor's profile, each point an rma.mv refit
#: with the same optimiser settings: the bounds inherit the components' optimiser tolerance
_CI_TOL = MV_TOLERANCES["sigma2"]


def compare_confint_mv(ours: Any, ref: dict[str, Any], method: str = "REML") -> list[Comparison]:
    """A profile CI (:class:`~metaparity.models.mv_confint.MvConfInt`) against metafor's.

    A bound agrees when it equals metafor's, or -- where metafor's uniroot stopped elsewhere
    -- when metafor's own profile deviance at our bound (``ref["confint"]["ll_at_bounds"]``,
    the model refitted with the component fixed there) equals the chi^2 quantile: then our
    bound is the bound of metafor's likelihood (the comparison is named so).  The estimate is
    the fit's, compared by :func:`compare_mv`.
    """
    c = ref["confint"]
    first = lambda v: np.atleast_1d(v)[0]  # noqa: E731
    crit = float(stats.chi2.isf(1 - ours.level / 100, 1))
    ll_max = ref["fields"][f"ll_{method}"]
    lls = np.atleast_1d(np.asarray([np.nan if v is None else v for v in
                                    np.atleast_1d(c.get("ll_at_bounds", [None, None]))],
                                   dtype=float))  # fmt: skip
    out = []
    for j, q in enumerate(("ci_lb", "ci_ub")):
        cmp_ = _cmp(q, getattr(ours, q), first(c[q]), _CI_TOL)
        if not cmp_.ok and j < lls.size and np.isfinite(lls[j]):
            dev = 2 * (ll_max - lls[j])
            ev = _cmp(f"{q} (metafor's profile deviance at ours = the chi2 quantile)", dev, crit,
                      _CI_TOL)  # fmt: skip
            if ev.ok:
                cmp_ = ev
        out.append(cmp_)
    same = ours.lb_sign == (c["lb_sign"] or "") and ours.ub_sign == (c["ub_sign"] or "")
    out.append(_cmp("bound_signs_equal", 1.0, 1.0 if same else 0.0, MV_TOLERANCES["k"]))
    return out


def metafor_ranef_mv(res: MvResult, bridge: Any = None) -> dict[str, Any]:
    """metafor's ``ranef(res)`` for the model of ``res``."""
    bridge = get_bridge() if bridge is None else bridge
    args = rma_mv_call_args(res, None, at=False)
    args["control"] = _control_arg(args["control"])
    return bridge.call("mp_rma_mv", **args, blup=True)


def compare_ranef_mv(ours: dict[str, Any], ref: dict[str, Any]) -> list[Comparison]:
    """BLUPs against metafor's, per term and level, at the model tolerance (functions of
    the fit); a BLUP near 0 is compared on the scale of its se."""
    tol = MV_TOLERANCES["b"]
    out = []
    for name, frame in ours.items():
        theirs = ref["ranef"][name]
        if list(map(str, np.atleast_1d(theirs["levels"]))) != [str(i) for i in frame.index]:
            out.append(_cmp(f"{name}.levels_equal", 1.0, 0.0, MV_TOLERANCES["k"]))
            continue
        se = frame["se"].to_numpy()
        for q in ("intrcpt", "se", "pi_lb", "pi_ub"):
            r = np.atleast_1d(np.asarray(theirs[q], dtype=float))
            for j, (o, t) in enumerate(zip(frame[q].to_numpy(), r, strict=True)):
                cond = (abs(o) + se[j]) / abs(t) if t != 0 else 1.0
                out.append(_cmp(f"{name}.{q}[{j}]", o, t, tol, max(1.0, cond)))
    return out


def failures(comparisons: list[Comparison]) -> list[str]:
    """The comparisons that disagree, one readable line each."""
    return [f"{c.quantity}: ours {c.ours!r} metafor {c.ref!r} (abs {c.abs_diff:.3g}, rel "
            f"{c.rel_diff:.3g})" for c in comparisons if not c.ok]  # fmt: skip


def metafor_profile_mv(res: MvResult, comp: str, index: int, steps: Any = 20,
                       xlim: Any = None, bridge: Any = None) -> dict[str, Any]:  # fmt: skip
    """metafor's ``profile(res, <comp> = index + 1, steps =, xlim =, plot = FALSE)`` on the
    fit metafor reaches with tight control (its profile refits use the same settings; the
    controls of :data:`MV_CI_CONTROL` are tried in turn until every refit succeeds).
    ``steps`` is a count (metafor 3.8 takes no vector of values): pass our ``xlim`` to
    profile at our values."""
    bridge = get_bridge() if bridge is None else bridge
    args = rma_mv_call_args(res, None, at=False)
    args["control"] = _control_arg(args["control"])
    prof: dict[str, Any] = {"comp": comp, "index": int(index), "steps": int(steps),
                            "tries": {str(i + 1): c for i, c in enumerate(MV_CI_CONTROL)}}  # fmt: skip
    if xlim is not None:
        prof["xlim"] = [float(v) for v in xlim]
    return bridge.call("mp_rma_mv", **args, prof=prof)


def compare_profile_mv(ours: Any, ref: dict[str, Any]) -> list[Comparison]:
    """A profile (:class:`~metaparity.models.mv_profile.ProfileCurve`) against metafor's: the
    values profiled (the default range is closed form in the estimate, so at the component's
    tolerance), the profiled log-likelihoods (each a refit: at the log-likelihood tolerance),
    and b / ci_lb / ci_ub of each refit (at the coefficients' tolerance)."""
    theirs = ref["profile"]
    out = []
    vals = np.atleast_1d(np.asarray(theirs["values"], dtype=float))
    if vals.size != ours.values.size:
        return [_cmp("profile.n_values", ours.values.size, vals.size, MV_TOLERANCES["k"])]
    kind = "sigma2" if ours.component in ("sigma2", "tau2", "gamma2") else "rho"
    for i, (o, t) in enumerate(zip(ours.values, vals, strict=True)):
        out.append(_cmp(f"profile.values[{i}]", o, t, MV_TOLERANCES[kind]))
    llq = f"ll_{ours.method}"
    ll = np.atleast_1d(np.asarray([np.nan if v is None else v for v in theirs["ll"]], dtype=float))
    for i, (o, t) in enumerate(zip(ours.ll, ll, strict=True)):
        out.append(_cmp(f"profile.ll[{i}]", o, t, MV_TOLERANCES[llq]))
    n, p = ours.b.shape

    def mat(q: str) -> np.ndarray:
        r = np.asarray([np.nan if v is None else v for v in theirs[q]], dtype=float)
        return r.reshape((n, p), order="F")

    rb = mat("b")
    for i in range(n):
        for j in range(p):
            out.append(_cmp(f"profile.b[{i},{j}]", ours.b[i, j], rb[i, j], MV_TOLERANCES["b"]))
        for q in ("ci_lb", "ci_ub"):
            # a bound b -/+ crit se near 0 cancels: compared on the scale of its terms
            out += _bounds(f"profile.{q}[{i}]", getattr(ours, q)[i], ours.b[i], mat(q)[i],
                           MV_TOLERANCES[q])  # fmt: skip
    return out
