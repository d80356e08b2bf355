"""``anova()`` Wald tests of rma fits against metafor's ``anova.rma``: the same rows and
model through the R bridge (``fam_metareg.R``, tight control); QM, its df and p, and with
``X=`` every combination's estimate, se, z (t) and p, at the tolerance table's row of the
estimator (p-values times their condition number)."""

from __future__ import annotations

from typing import Any

import numpy as np

from metaparity.analysis.anova import AnovaWald
from metaparity.models.results import RmaResult
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.tolerances import Comparison, compare_values, pvalue_condition
from metaparity.parity.uni_spec import uni_spec

__all__ = ["metafor_anova_uni", "compare_anova_uni", "anova_call_args"]


def anova_call_args(res: RmaResult, btt: Any = None, X: Any = None) -> dict[str, Any]:
    """The arguments of ``mp_anova_uni`` for ``res`` (``btt`` 0-based or names, sent
    1-based)."""
    args: dict[str, Any] = dict(uni_spec(res), btt=None, L=None, L_ncol=None)
    if X is not None:
        L = np.atleast_2d(np.asarray(X, dtype=float))
        args["L"], args["L_ncol"] = L.ravel(order="F").tolist(), int(L.shape[1])
    else:
        bt = (res.btt or (0,)) if btt is None else btt
        bt = [bt] if isinstance(bt, (int, np.integer, str)) else list(bt)
        args["btt"] = [float(res.coef_names.index(b) + 1 if isinstance(b, str) else b + 1)
                       for b in bt]  # fmt: skip
    return args


def metafor_anova_uni(
    res: RmaResult, bridge: Any = None, btt: Any = None, X: Any = None
) -> dict[str, Any]:
    """metafor's ``anova(res, btt=)`` or ``anova(res, X=)`` of ``res`` refitted in metafor."""
    bridge = get_bridge() if bridge is None else bridge
    return bridge.call("mp_anova_uni", **anova_call_args(res, btt, X))


def _num(v: Any) -> np.ndarray:
    return np.asarray([np.nan if x is None else x for x in np.atleast_1d(v)], dtype=float)


def compare_anova_uni(res: RmaResult, ours: AnovaWald, ref: dict[str, Any]) -> list[Comparison]:
    """Our :func:`~metaparity.analysis.anova.anova` result against metafor's record."""
    m = res.method
    t_based = res.test != "z"
    out = [compare_values("QM", ours.QM, float(_num(ref["QM"])[0]), m)]
    for i, (a, b) in enumerate(zip(ours.QMdf, _num(ref["QMdf"]), strict=False)):
        out.append(compare_values(f"QMdf[{i + 1}]", float(a), float(b), "EE"))
    if ours.QMdf:
        kq = pvalue_condition(ours.QM, "F" if t_based else "chi2", float(ours.QMdf[0]),
                              float(ours.QMdf[1]) if len(ours.QMdf) > 1 else float("nan"))  # fmt: skip
        out.append(compare_values("QMp", ours.QMp, float(_num(ref["QMp"])[0]), m, kq))
    if ref["type"] == "Wald.Xb":
        assert ours.Xb is not None and ours.se is not None and ours.zval is not None
        assert ours.pval is not None
        dist = "t" if t_based else "z"
        for q, mine in (("Xb", ours.Xb), ("se", ours.se), ("zval", ours.zval)):
            for i, (a, b) in enumerate(zip(mine, _num(ref[q]), strict=True)):
                out.append(compare_values(f"{q}[{i + 1}]", float(a), float(b), m))
        for i, (a, b) in enumerate(zip(ours.pval, _num(ref["pval"]), strict=True)):
            kp = pvalue_condition(float(ours.zval[i]), dist, float(res.k - res.p))
            out.append(compare_values(f"pval[{i + 1}]", float(a), float(b), m, kp))
    return out
