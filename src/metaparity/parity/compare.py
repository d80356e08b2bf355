"""Compare a metaparity analysis with metafor's, quantity by quantity.

The reference is a dict shaped like the output of ``mp_rma()`` in
``metaparity/r/metaparity.R`` -- either read from a golden file or returned live
by :mod:`metaparity.parity.rbridge`.  Both paths go through :func:`compare_fit`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from metaparity.engine.facts import COEF_FIELDS
from metaparity.engine.facts import FIT_FIELDS as FACT_FIT_FIELDS
from metaparity.models.glmm import (
    GLMM_FIT_FIELDS,
    GlmmResult,
    conditional_loglik,
    glmm_loglik,
    wald_heterogeneity,
)
from metaparity.models.glmm_conditional import cm_loglik
from metaparity.models.glmm_twogroup import glmm_um_loglik, glmm_um_rs_wald_rx
from metaparity.models.results import RmaModsResult, RmaResult
from metaparity.models.uni import rma
from metaparity.parity.tolerances import (
    GLMM_CM_AL_TOLERANCES,
    GLMM_CM_TOLERANCES,
    GLMM_TOLERANCES,
    GLMM_TOLERANCES_LAPLACE,
    GLMM_UM_RS_TOLERANCES,
    GLMM_UM_TOLERANCES,
    Comparison,
    Tolerance,
    compare_values,
    pvalue_condition,
)

__all__ = [
    "compare_fit",
    "compare_result",
    "compare_mods",
    "compare_glmm",
    "compare_glmm_um",
    "compare_glmm_um_fit",
    "compare_glmm_cm",
    "compare_glmm_cm_al",
    "cm_kept_tables",
    "optimum_not_below",
    "wald_cond",
    "fit_like",
    "FIT_FIELDS",
    "MODS_FIELDS",
    "summarise",
]

FIT_FIELDS = list(FACT_FIT_FIELDS)
PRED_FIELDS = "pred se ci_lb ci_ub pi_lb pi_ub".split()
CONFINT_FIELDS = "tau2_lb tau2_ub I2_lb I2_ub H2_lb H2_ub".split()


def _vec(x: Any) -> np.ndarray:
    return np.atleast_1d(np.asarray(x, dtype=float))


def fit_like(ref: dict[str, Any]) -> RmaResult:
    """Run metaparity on the inputs recorded in a metafor record.

    Parameters
    ----------
    ref : dict
        A record as returned by ``bridge.rma`` or stored in a golden file: ``yi``, ``vi``,
        ``method``, ``test`` and optionally ``level`` and ``weights="ni"`` (with ``ni``).

    Returns
    -------
    RmaResult
        ``rma(yi, vi, method=, test=, level=, weights=)``, as metafor's
        ``rma(yi, vi, method=, test=, level=, weights=)`` was called.
    """
    weights = _vec(ref["ni"]) if ref.get("weights") == "ni" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # k = 1 -> test "z", as metafor warns
        res = rma(
            _vec(ref["yi"]),
            _vec(ref["vi"]),
            method=ref["method"],
            test=ref["test"],
            level=ref.get("level", 95),
            weights=weights,
        )
    return res


def compare_fit(ref: dict[str, Any]) -> list[Comparison]:
    """All comparisons for one recorded metafor fit, with metaparity run on the same yi/vi.

    Parameters
    ----------
    ref : dict
        A metafor record (see :func:`fit_like` and :func:`compare_result`).

    Returns
    -------
    list of Comparison
        ``compare_result(fit_like(ref), ref)``.
    """
    return compare_result(fit_like(ref), ref)


def compare_result(res: RmaResult, ref: dict[str, Any]) -> list[Comparison]:
    """Compare a metaparity fit with metafor's ``rma()``, ``predict()`` and ``confint()``.

    Parameters
    ----------
    res : RmaResult
        The metaparity fit (:func:`metaparity.rma`).
    ref : dict
        The metafor record, as returned by the bridge (``bridge.rma``) or stored in a
        golden file: ``method``, ``fit`` (``b se zval pval ci_lb ci_ub tau2 se_tau2 I2 H2
        QE QEp k``), ``predict``, and optionally ``predict_transf`` (with ``transf``,
        and ``ni`` for ``ipft.hm``) and ``confint``.

    Returns
    -------
    list of Comparison
        One per quantity, judged by the tolerance table (p-values with their condition
        number); ``predict_*``, ``t_*`` (back-transformed) and confint bounds included.
    """
    method = ref["method"]
    out: list[Comparison] = []
    fit = ref["fit"]
    dist = "z" if res.test == "z" else "t"
    cond = {
        "pval": pvalue_condition(res.zval, dist, res.dfs),
        "QEp": pvalue_condition(res.QE, "chi2", max(res.k - 1, 1)),
    }
    for q in FIT_FIELDS:
        if method in ("EE", "FE") and q == "se_tau2":
            continue  # metafor: NA for EE models; ours NaN as well (checked in unit tests)
        out.append(compare_values(q, getattr(res, q), fit.get(q), method, cond.get(q, 1.0)))
    p = res.predict()
    for q in PRED_FIELDS:
        ref_v = ref["predict"].get(q)
        if q in ("pi_lb", "pi_ub") and ref_v is None:
            continue  # metafor 3.8 reports no PI for EE models
        out.append(compare_values(f"predict_{q}", getattr(p, q), ref_v, method))
    tr = ref.get("predict_transf")
    if tr:
        ni = ref.get("ni")
        pt = res.predict(transf=tr["transf"], targs=None if ni is None else {"ni": _vec(ni)})
        for q in ("pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            if q in ("pi_lb", "pi_ub") and tr.get(q) is None:
                continue
            out.append(compare_values(f"t_{q}", getattr(pt, q), tr.get(q), method))
    ci = ref.get("confint")
    if ci:
        c = res.confint()
        for q in CONFINT_FIELDS:
            out.append(compare_values(q, getattr(c, q), ci.get(q), method))
    return out


MODS_VEC_FIELDS = list(COEF_FIELDS)
MODS_FIELDS = MODS_VEC_FIELDS + "tau2 se_tau2 I2 H2 R2 QE QEp QM QMp k p".split()


def compare_mods(res: RmaModsResult, ref: dict[str, Any]) -> list[Comparison]:
    """Compare a meta-regression with metafor's ``rma(yi, vi, mods = X)``.

    Parameters
    ----------
    res : RmaModsResult
        The metaparity fit (:func:`metaparity.rma_mods`).
    ref : dict
        The record returned by ``bridge.rma_mods``.

    Returns
    -------
    list of Comparison
        ``b[j]``, ``se[j]``, ``zval[j]``, ``pval[j]``, ``ci_lb[j]``, ``ci_ub[j]`` per
        coefficient, then ``tau2 se_tau2 I2 H2 R2 QE QEp QM QMp k p``.

    Raises
    ------
    ValueError
        metafor and metaparity have different numbers of coefficients.

    Notes
    -----
    ``ref`` is the dict returned by ``bridge.rma_mods`` (``ref["fit"]`` holds the
    fields).  Per-coefficient quantities are compared one by one (``b[2]``, ...);
    p-values get the condition-number allowance of the tolerance table.  Skipped,
    with the reason: ``se_tau2`` of EE models (NA in metafor, NaN here), and ``R2``
    for DLIT/SJIT where metafor reports NA because its own intercept-only fit did not
    converge even with the relaxed control (metaparity returns the fixed point; README).
    """
    method = res.method
    fit = ref["fit"]
    out: list[Comparison] = []
    df = res.k - res.p
    zdist = "z" if res.test == "z" else "t"
    for q in MODS_VEC_FIELDS:
        refv = np.atleast_1d(np.asarray(fit.get(q), dtype=float))
        ours = np.atleast_1d(getattr(res, q))
        if refv.size != ours.size:
            raise ValueError(f"{q}: metafor has {refv.size} coefficients, metaparity {ours.size}")
        for j in range(ours.size):
            kappa = pvalue_condition(res.zval[j], zdist, df) if q == "pval" else 1.0
            out.append(compare_values(f"{q}[{j + 1}]", ours[j], refv[j], method, kappa))
    m = res.QMdf[0]
    cond = {
        "QEp": pvalue_condition(res.QE, "chi2", max(df, 1)),
        "QMp": (
            pvalue_condition(res.QM, "chi2", m)
            if res.test == "z"
            else pvalue_condition(res.QM, "F", m, max(df, 1))
        ),
    }
    for q in MODS_FIELDS[len(MODS_VEC_FIELDS) :]:
        if q == "se_tau2" and method in ("EE", "FE"):
            continue
        if q == "R2" and method in ("DLIT", "SJIT") and fit.get("R2") is None:
            continue
        out.append(compare_values(q, getattr(res, q), fit.get(q), method, cond.get(q, 1.0)))
    return out


def summarise(rows: Iterable[tuple[str, Comparison]]) -> dict[str, dict[str, float]]:
    """Per-method count of comparisons, failures, largest relative and absolute difference.

    Parameters
    ----------
    rows : iterable of (str, Comparison)
        Comparisons keyed by what they are grouped by (an estimator, a function).

    Returns
    -------
    dict of str to dict
        Per key: ``n``, ``failed``, ``max_rel`` (over reference values with
        ``|ref| >= 1e-8``: a relative difference against a value that is 0 up to
        metafor's stopping rule says nothing) and ``max_abs`` (over all).
    """
    stats: dict[str, dict[str, float]] = {}
    for method, c in rows:
        s = stats.setdefault(method, {"n": 0, "max_rel": 0.0, "max_abs": 0.0, "failed": 0})
        s["n"] += 1
        if not c.ok:
            s["failed"] += 1
        if np.isfinite(c.rel_diff):
            if abs(c.ref) >= 1e-8:
                s["max_rel"] = max(s["max_rel"], c.rel_diff)
        if np.isfinite(c.abs_diff):
            s["max_abs"] = max(s["max_abs"], c.abs_diff)
    return stats


def _cmp(q: str, ours: Any, theirs: Any, tol: Tolerance, cond: float = 1.0) -> Comparison:
    """One GLMM quantity against metafor's (NA on both sides agrees); ``cond`` > 1 scales
    ``rtol`` (a p-value's condition number)."""
    if cond > 1.0:
        tol = Tolerance(tol.rtol * cond, tol.atol, tol.reason)
    o = float("nan") if ours is None else float(ours)
    r = float("nan") if theirs is None else float(theirs)
    if math.isnan(o) or math.isnan(r):
        return Comparison(q, o, r, float("nan"), float("nan"), tol, math.isnan(o) == math.isnan(r))
    ad = abs(o - r)
    rd = ad / abs(r) if r != 0 else (0.0 if ad == 0 else float("inf"))
    return Comparison(q, o, r, ad, rd, tol, ad <= tol.atol + tol.rtol * abs(r))


def wald_cond(res: Any, tol: Tolerance) -> float:
    """The factor on ``QE_Wld``'s ``rtol`` for metafor's own rounding: it inverts the
    saturated glm's ``vcov`` in a dummy-coded parametrisation whose condition number is
    ``res.QE_Wld_cond`` (:func:`metaparity.models._glm_saturated.wald_condition`), so its
    statistic carries a relative error of up to ~``2 eps QE_Wld_cond`` (1.0 when that is
    below ``rtol``)."""
    kappa = float(getattr(res, "QE_Wld_cond", 1.0))
    return max(1.0, 2.0 * float(np.finfo(float).eps) * kappa / tol.rtol)


def _fields(res: Any, fit: dict[str, Any], names: Iterable[str],
            table: dict[str, Tolerance], conds: dict[str, float] | None = None,
            ) -> list[Comparison]:  # fmt: skip
    """``names`` of ``res`` against ``fit``, one comparison per coefficient of a vector field
    (``conds``: a condition factor on a field's ``rtol``)."""
    conds = conds or {}
    out = []
    for q in names:
        ours = _vec(getattr(res, q))
        raw = fit.get(q)
        theirs = _vec([np.nan if v is None else v for v in (raw if isinstance(raw, list)
                                                            else [raw])])  # fmt: skip
        if ours.shape != theirs.shape:
            out.append(_cmp(f"{q}.size", float(ours.size), float(theirs.size), table[q]))
            continue
        for j, (o, r) in enumerate(zip(ours, theirs, strict=True)):
            name = q if ours.size == 1 else f"{q}[{j}]"
            out.append(_cmp(name, o, r, table[q], conds.get(q, 1.0)))
    return out


#: the optimum check: our maximum is not below metafor's in the same likelihood
OPTIMUM = Tolerance(
    1e-12,
    0.0,
    "ours >= metafor's - rtol |metafor's|: our log-likelihood at our optimum against the same "
    "function at metafor's optimum (rounding of the likelihood sum only)",
)


def optimum_not_below(name: str, ours: float, theirs: float, slack: float = 1e-12) -> Comparison:
    """``ours >= theirs`` up to ``slack`` relative: our optimum is at least metafor's in the
    same log-likelihood (the evidence that a parameter difference is metafor's optimiser).

    >>> optimum_not_below("ll", -10.0, -10.0 + 1e-9).ok
    False
    """
    tol = Tolerance(slack, 0.0, OPTIMUM.reason)
    o, r = float(ours), float(theirs)
    if not (math.isfinite(o) and math.isfinite(r)):
        return Comparison(name, o, r, float("nan"), float("nan"), tol, False)
    ad = abs(o - r)
    rd = ad / abs(r) if r != 0 else 0.0
    return Comparison(name, o, r, ad, rd, tol, o >= r - slack * abs(r))


def compare_glmm(res: GlmmResult, ref: dict[str, Any]) -> list[Comparison]:
    """Compare a :class:`~metaparity.models.glmm.GlmmResult` with a metafor record from ``bridge.rma_glmm``.

    metafor's ``rma.glmm(measure="PLO", xi, ni, nAGQ=)`` (lme4 ``glmer`` underneath).

    Parameters
    ----------
    res : GlmmResult
        The metaparity fit (:func:`metaparity.rma_glmm`).
    ref : dict
        The record returned by ``bridge.rma_glmm`` (``fit``, ``predict_transf``, ``lme4``).

    Returns
    -------
    list of Comparison
        :class:`~metaparity.parity.tolerances.Comparison` objects for every field of
    :data:`~metaparity.models.glmm.GLMM_FIT_FIELDS`, the back-transformed prediction (``t_pred`` ...), and the
    likelihood checks: ``loglik_at_metafor`` (our marginal log-likelihood at metafor's
    ``(b, tau2)`` vs lme4's deviance function there), ``logLik_reported_at_metafor``
    (our formula for metafor's reported ``logLik`` at its own optimum) and, when the
    record was made with ``at=(res.b, res.tau2)``, ``loglik_at_ours``.  Tolerances:
    :data:`~metaparity.parity.tolerances.GLMM_TOLERANCES` (``..._LAPLACE`` for nAGQ = 1).
    """
    table = GLMM_TOLERANCES_LAPLACE if res.nAGQ == 1 else GLMM_TOLERANCES
    cmp = _cmp
    fit = ref["fit"]
    dist = "z" if res.test == "z" else "t"
    wc = wald_cond(res, table["QE_Wld"])
    cond = {
        "pval": pvalue_condition(res.zval, dist, res.k - 1),
        "QE_Wld": wc,
        "QEp_Wld": pvalue_condition(res.QE_Wld, "chi2", res.k - 1) * wc,
        "QEp_LRT": pvalue_condition(res.QE_LRT, "chi2", res.k - 1),
    }
    out = [cmp(q, getattr(res, q), fit.get(q), table[q], cond.get(q, 1.0)) for q in GLMM_FIT_FIELDS]
    pt = res.predict(transf=True)
    tr = ref.get("predict_transf") or {}
    for q in ("pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        out.append(cmp(f"t_{q}", getattr(pt, q), tr.get(q), table[q]))
    lme = ref.get("lme4") or {}
    x, n = res.xi, res.ni
    ll_mf = glmm_loglik(x, n, fit["b"], fit["tau2"], nAGQ=res.nAGQ)
    out.append(cmp("loglik_at_metafor", ll_mf, lme.get("ll_marg_fit"), table["loglik_marginal"]))
    if lme.get("ll_marg_at") is not None:
        out.append(
            cmp("loglik_at_ours", res.logLik_marginal, lme["ll_marg_at"], table["loglik_marginal"])
        )
    # metafor's logLik = ll.QE - deviance(glmer) / 2, ll.QE at its saturated glm's stop
    dev_glm = wald_heterogeneity(np.asarray(x, float), np.asarray(n, float))[1]
    cl = conditional_loglik(x, n, fit["b"], math.sqrt(fit["tau2"])) - dev_glm / 2
    out.append(cmp("logLik_reported_at_metafor", cl, fit["logLik"], table["logLik_reported"]))
    return out


#: fields of :class:`~metaparity.models.glmm_twogroup.GlmmUMResult` compared with metafor
GLMM_UM_FIELDS = (
    "b se zval pval ci_lb ci_ub tau2 I2 H2 vt QE_Wld QEp_Wld QE_LRT QEp_LRT QM QMp "
    "logLik deviance AIC BIC AICc k"
).split()


def compare_glmm_um(res: Any, ref: dict[str, Any], ll_at_metafor: float) -> list[Comparison]:
    """Compare a ``GlmmUMResult`` with a record of ``mp_rma_glmm_um`` (fam_glmm_um.R).

    ``ll_at_metafor`` is our marginal log-likelihood at metafor's (lme4's) parameters
    (:func:`metaparity.models.glmm_twogroup.glmm_um_loglik`); it is compared with lme4's
    deviance function there (``loglik_at_metafor``) and, when the record was made with
    ``at=`` our parameters, ours with lme4's at ours (``loglik_at_ours``).  Vector fields
    (``b``, ``se`` ... with moderators) give one comparison per coefficient.  Tolerances:
    :data:`~metaparity.parity.tolerances.GLMM_UM_TOLERANCES`.
    """
    table = GLMM_UM_RS_TOLERANCES if res.model == "UM.RS" else GLMM_UM_TOLERANCES
    cmp = _cmp
    fit = ref["fit"]
    df = res.k - res.p
    dist = "z" if res.test == "z" else "t"
    lme = ref.get("lme4") or {}
    # where lme4's finite-difference Hessian is not positive definite it falls back to the
    # vcov "estimated from RX" (given the variance parameters): compare with ours of that kind
    alt = {}
    if lme.get("vcov_rx_ml") and res.se_rx.size:
        alt["se"] = res.se_rx
    if lme.get("vcov_rx_qe") and not math.isnan(res.QE_Wld_rx):
        alt["QE_Wld"] = res.QE_Wld_rx
    out = []
    fields = GLMM_UM_FIELDS + (["sigma2"] if res.model == "UM.RS" else [])
    for q in fields:
        if q in ("zval", "ci_lb", "ci_ub", "pval", "QM", "QMp") and "se" in alt:
            continue  # built on the fallback se: se itself is compared
        if q == "QEp_Wld" and "QE_Wld" in alt:
            continue
        ours = np.atleast_1d(np.asarray(alt.get(q, getattr(res, q)), dtype=float))
        theirs = np.atleast_1d(np.asarray(fit.get(q), dtype=float))
        for j, (o, r) in enumerate(zip(ours, theirs, strict=True)):
            cond = 1.0
            if q == "pval":
                cond = pvalue_condition(float(np.atleast_1d(res.zval)[j]), dist, df)
            elif q in ("QEp_Wld", "QEp_LRT"):
                cond = pvalue_condition(getattr(res, q.replace("p_", "_")), "chi2", df)
                if q == "QEp_Wld" and "QE_Wld" not in alt:
                    cond *= wald_cond(res, table["QE_Wld"])
            elif q == "QE_Wld" and "QE_Wld" not in alt:
                cond = wald_cond(res, table["QE_Wld"])
            elif q == "QM":
                cond = 2.0  # a squared z (or quadratic form in b / se): twice se's error
            elif q == "QMp":
                cond = 2.0 * pvalue_condition(res.QM, "chi2", max(res.p - 1, 1))
            name = q if ours.size == 1 else f"{q}[{j}]"
            tq = "QE_Wld_rx" if q == "QE_Wld" and q in alt else q
            out.append(cmp(name, float(o), r, table[tq], cond))
    out.append(cmp("loglik_at_metafor", ll_at_metafor, lme.get("ll_marg_fit"),
                   table["loglik_marginal"]))  # fmt: skip
    if lme.get("ll_marg_at") is not None:
        out.append(cmp("loglik_at_ours", res.logLik_marginal, lme["ll_marg_at"],
                       table["loglik_marginal"]))  # fmt: skip
    return out


def compare_glmm_um_fit(res: Any, ref: dict[str, Any], *, measure: str, model: str,
                        mods: Any = None, **counts: Any) -> list[Comparison]:  # fmt: skip
    """Everything :func:`compare_glmm_um` compares, plus the likelihood evidence computed
    from the inputs (``counts``: metafor's argument names; ``mods``: the moderators):

    * ``optimum_not_below_metafor``: our maximum against our log-likelihood at lme4's
      parameters (and, when the record was made with ``at=`` ours, the same in lme4's own
      deviance function: ``optimum_not_below_metafor_in_lme4``); lme4's parameters come
      from the bridge's refit of metafor's ML model, which is metafor's fit where lme4
      converges (``refit_b_diff``); for IRLN (no nuisance parameters) also at metafor's own
      reported ``(b, tau2)``: ``optimum_not_below_metafor_reported``;
    * UM.RS where lme4 fell back to the RX vcov for the saturated fit (``vcov_rx_qe``) and
      the record holds lme4's saturated optimum (a refit of metafor's saturated glmer whose
      own ``QE.Wld`` is metafor's, so the same fit): our RX Wald statistic *at that point*
      against metafor's ``QE.Wld`` (``QE_Wld_rx_at_metafor``), and our saturated maximum
      not below lme4's (``saturated_optimum_not_below_metafor``).
    """
    lme = ref.get("lme4") or {}
    ll_mf = glmm_um_loglik(lme["theta"], lme["fixef"], measure=measure, model=model, mods=mods,
                           **counts)  # fmt: skip
    out = compare_glmm_um(res, ref, ll_mf)
    # lme4's Laplace (UM.RS) takes log|L| from its penultimate PIRLS iterate: its own
    # rounding is larger (see GLMM_UM_RS_TOLERANCES["loglik_marginal"])
    rs = res.model == "UM.RS"
    slack = 1e-10 if rs else 3e-12
    out.append(optimum_not_below("optimum_not_below_metafor", res.logLik_marginal, ll_mf, slack))
    if lme.get("ll_marg_at") is not None:
        out.append(optimum_not_below("optimum_not_below_metafor_in_lme4", lme["ll_marg_at"],
                                     lme["ll_marg_fit"], slack))  # fmt: skip
    if res.model == "IRLN":  # no nuisance parameters: metafor's own estimates are the point
        fit = ref["fit"]
        ll_rep = glmm_um_loglik([math.sqrt(fit["tau2"])], fit["b"], measure=measure,
                                model=model, mods=mods, **counts)  # fmt: skip
        out.append(optimum_not_below("optimum_not_below_metafor_reported", res.logLik_marginal,
                                     ll_rep, slack))  # fmt: skip
    sat: dict[str, Any] = lme.get("saturated") or {}
    qe = ref["fit"]["QE_Wld"]
    qe_refit = float(sat.get("qe_refit") or math.nan)
    refit_is_metafors = abs(qe_refit - qe) <= 1e-10 * abs(qe)
    if rs and sat and lme.get("vcov_rx_qe") and refit_is_metafors:
        q = glmm_um_rs_wald_rx(sat["sigma"], sat["const"], sat["loc"], measure=measure,
                               mods=mods, **counts)  # fmt: skip
        out.append(_cmp("QE_Wld_rx_at_metafor", q, ref["fit"]["QE_Wld"],
                        GLMM_UM_RS_TOLERANCES["QE_Wld_rx_at_metafor"]))  # fmt: skip
        ll_sat = res.logLik + res.deviance / 2  # our saturated model's maximum
        out.append(optimum_not_below("saturated_optimum_not_below_metafor", ll_sat, sat["ll"],
                                     slack))  # fmt: skip
    return out


#: fields of a CM.EL (OR) fit compared with metafor (QE_Wld separately: see compare_glmm_cm)
GLMM_CM_EL_FIELDS = (
    "b se zval ci_lb ci_ub tau2 I2 H2 vt QE_LRT QM logLik deviance AIC BIC k p".split()
)
#: fields of a glmer-based conditional fit (OR/CM.AL, IRR/CM.EL) compared with metafor
GLMM_CM_AL_FIELDS = [*GLMM_CM_EL_FIELDS[:9], "QE_Wld", *GLMM_CM_EL_FIELDS[9:]]


def cm_kept_tables(ai: Any, bi: Any, ci: Any, di: Any) -> tuple[np.ndarray, ...]:
    """The 2x2 tables metafor's CM.EL fits: rows with a missing cell and double-zero /
    double-all tables (``ai = ci = 0`` or ``bi = di = 0``, no information) left out."""
    a, b, c, d = (np.asarray([np.nan if v is None else v for v in x], float)
                  for x in (ai, bi, ci, di))  # fmt: skip
    keep = ~(np.isnan(a) | np.isnan(b) | np.isnan(c) | np.isnan(d))
    keep &= ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
    return keep, a[keep], b[keep], c[keep], d[keep]


def compare_glmm_cm(res: Any, ref: dict[str, Any], ai: Any, bi: Any, ci: Any, di: Any,
                    mods: Any = None) -> list[Comparison]:  # fmt: skip
    """Compare a CM.EL (OR) fit with a record of ``mp_rma_glmm_cm`` (fam_glmm_cm.R).

    Every field of :data:`GLMM_CM_EL_FIELDS`; ``QE_Wld`` against the Wald statistic computed
    directly in R (``wald_direct``) and, at its own tolerance, against metafor's numDeriv
    value (``QE_Wld_numderiv``); our log-likelihood at metafor's optimum against metafor's
    ``.dnchg`` there (``loglik_at_metafor``); and our optimum not below metafor's in our
    likelihood (``optimum_not_below_metafor``).  ``ai ... di`` and ``mods`` are the inputs
    of the fit (all rows).  Tolerances: :data:`~metaparity.parity.tolerances.GLMM_CM_TOLERANCES`.
    """
    fit = ref["fit"]
    out = _fields(res, fit, GLMM_CM_EL_FIELDS, GLMM_CM_TOLERANCES)
    out.append(_cmp("QE_Wld", res.QE_Wld, ref.get("wald_direct"), GLMM_CM_TOLERANCES["QE_Wld"]))
    out.append(_cmp("QE_Wld_numderiv", res.QE_Wld, fit.get("QE_Wld"),
                    GLMM_CM_TOLERANCES["QE_Wld_numderiv"]))  # fmt: skip
    keep, a, b, c, d = cm_kept_tables(ai, bi, ci, di)
    X = np.ones((keep.size, 1))
    if mods is not None:
        X = np.column_stack([X, np.asarray(mods, float).reshape(keep.size, -1)])
    ll = cm_loglik(a, b, c, d, fit["b"], fit["tau2"], mods=X[keep])
    lme = ref.get("metafor_ll") or {}
    out.append(_cmp("loglik_at_metafor", ll, lme.get("at_fit"),
                    GLMM_CM_TOLERANCES["loglik_at_metafor"]))  # fmt: skip
    # our optimum at least metafor's to 1e-12 absolute (the tests' bound since CM.EL came)
    out.append(optimum_not_below("optimum_not_below_metafor", res.logLik, ll,
                                 1e-12 / max(abs(ll), 1e-300)))  # fmt: skip
    return out


def compare_glmm_cm_al(res: Any, ref: dict[str, Any]) -> list[Comparison]:
    """Compare an OR/CM.AL or IRR/CM.EL fit (glmer in metafor) with a record of
    ``mp_rma_glmm_cm_al``: every field of :data:`GLMM_CM_AL_FIELDS`.  Tolerances:
    :data:`~metaparity.parity.tolerances.GLMM_CM_AL_TOLERANCES`."""
    wc = wald_cond(res, GLMM_CM_AL_TOLERANCES["QE_Wld"])
    return _fields(res, ref["fit"], GLMM_CM_AL_FIELDS, GLMM_CM_AL_TOLERANCES, {"QE_Wld": wc})
