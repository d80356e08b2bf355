"""Fit statistics and likelihood-ratio tests of rma fits against metafor: ``fit.stats``
(``ll, dev, AIC, BIC, AICc`` under ML and REML), ``parms`` and the extractors ``logLik``,
``deviance``, ``AIC``, ``BIC``, and ``anova(full, reduced, refit=)``'s table, each model refitted
in metafor on the same rows (``fam_metareg.R``, tight control).

>>> ref = metafor_fitstats_uni(res)  # doctest: +SKIP
>>> [c for c in compare_fitstats_uni(res, ref) if not c.ok]  # doctest: +SKIP
[]
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from metaparity.analysis.anova import AnovaLRT
from metaparity.models.fitstats import FIT_STATS
from metaparity.models.results import RmaResult
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.tolerances import Comparison, compare_values, pvalue_condition
from metaparity.parity.uni_spec import uni_spec

__all__ = [
    "metafor_fitstats_uni", "compare_fitstats_uni", "lrt_call_args", "metafor_lrt_uni",
    "compare_lrt_uni",
]  # fmt: skip

#: the extractor functions and the fit statistic each reports
_EXTRACTORS = {"logLik": "ll", "deviance": "dev", "AIC": "AIC", "BIC": "BIC", "AICc": "AICc"}


def metafor_fitstats_uni(res: RmaResult, bridge: Any = None) -> dict[str, Any]:
    """metafor's fit statistics of ``res`` refitted in metafor (``mp_fitstats_uni``)."""
    bridge = get_bridge() if bridge is None else bridge
    return bridge.call("mp_fitstats_uni", **uni_spec(res))


def _f(v: Any) -> float:
    v = v[0] if isinstance(v, list) else v
    return float("nan") if v is None else float(v)


def _cmp(label: str, key: str, ours: float, ref: float, method: str,
         cond: float = 1.0) -> Comparison:  # fmt: skip
    """compare_values at ``key``'s tolerance, reported as ``label``."""
    return replace(compare_values(key, ours, ref, method, cond), quantity=label)


def compare_fitstats_uni(res: RmaResult, ref: dict[str, Any]) -> list[Comparison]:
    """Both columns of ``fit_stats``, ``parms`` and the five extractors against metafor's."""
    m = res.method
    fs = res.fit_stats
    out = [compare_values("parms", float(res.parms), _f(ref["parms"]), "EE")]
    for col in ("ML", "REML"):
        for q, r in zip(FIT_STATS, ref[col], strict=True):
            out.append(_cmp(f"{q}.{col}", q, fs[col][q], _f(r), m))
    for name, q in _EXTRACTORS.items():
        out.append(_cmp(name, q, getattr(res, name), _f(ref[name]), m))
    out.append(compare_values("logLik.df", float(res.parms), _f(ref["logLik_df"]), "EE"))
    return out


def lrt_call_args(a: RmaResult, b: RmaResult, refit: bool = False) -> dict[str, Any]:
    """The arguments of ``mp_lrt_uni``: the two model specs (as given) and ``refit``."""
    return {"full": uni_spec(a), "reduced": uni_spec(b), "refit": bool(refit)}


def metafor_lrt_uni(
    a: RmaResult, b: RmaResult, refit: bool = False, bridge: Any = None
) -> dict[str, Any]:
    """metafor's ``anova(a, b, refit=)`` of the two models refitted in metafor."""
    bridge = get_bridge() if bridge is None else bridge
    return bridge.call("mp_lrt_uni", **lrt_call_args(a, b, refit))


def compare_lrt_uni(ours: AnovaLRT, ref: dict[str, Any]) -> list[Comparison]:
    """Every number of the LRT table against metafor's ``anova()`` record: both models'
    parameters and fit statistics, LRT (with the condition number of a difference of
    deviances) and its p-value, both QE, both tau^2 and the pseudo-R^2."""
    m = ours.method
    out = [compare_values("parms_f", float(ours.df_f), _f(ref["parms_f"]), "EE"),
           compare_values("parms_r", float(ours.df_r), _f(ref["parms_r"]), "EE")]  # fmt: skip
    for side, stats_ in (("f", ours.fit_stats_f), ("r", ours.fit_stats_r)):
        for q, r in zip(FIT_STATS, ref[f"fit_stats_{side}"], strict=True):
            out.append(_cmp(f"{q}_{side}", q, stats_[q], _f(r), m))
    dev_sum = abs(ours.fit_stats_f["dev"]) + abs(ours.fit_stats_r["dev"])
    cond = dev_sum / ours.LRT if ours.LRT > 0 else 1.0
    out.append(compare_values("LRT", ours.LRT, _f(ref["LRT"]), m, max(1.0, cond)))
    df = ours.df_f - ours.df_r
    kp = pvalue_condition(ours.LRT, "chi2", float(df)) * max(1.0, cond)
    out.append(compare_values("pval", ours.pval, _f(ref["pval"]), m, kp))
    for q, mine in (("QE_f", ours.QE_f), ("QE_r", ours.QE_r), ("tau2_f", ours.tau2_f),
                    ("tau2_r", ours.tau2_r), ("R2", ours.R2)):  # fmt: skip
        out.append(_cmp(q, q.split("_")[0], mine, _f(ref[q]), m))
    return out
