"""``predict()`` of rma meta-regressions against metafor's ``predict.rma``: the same rows
and model through the R bridge (``fam_metareg.R``, tight control), each prediction's
``pred``, ``se``, ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub`` compared at the tolerance
table's row of the estimator.

>>> ref = metafor_predict(res, newmods=[[10], [30]], transf="exp")  # doctest: +SKIP
>>> [c for c in compare_predict(res, ref, newmods=[[10], [30]], transf="exp") if not c.ok]  # doctest: +SKIP
[]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metaparity.models.predict import new_design, predict_mods
from metaparity.models.results import RmaResult
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.tolerances import Comparison, Tolerance, compare_values
from metaparity.parity.uni_spec import uni_spec

__all__ = ["metafor_predict", "compare_predict", "predict_call_args", "PREDICT_COLUMNS"]

PREDICT_COLUMNS = ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub")


def predict_call_args(
    res: RmaResult, newmods: Any = None, intercept: bool = True, transf: str | None = None,
    level: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The arguments of ``mp_predict_uni`` (fam_metareg.R) for the rows and model of
    ``res``, as plain Python: what the live bridge sends and what golden inputs hold.
    ``newmods`` is sent as metafor takes it: the moderator columns (all p with the
    intercept when given so)."""
    assert res.X is not None
    args: dict[str, Any] = dict(
        uni_spec(res), intercept=bool(intercept), transf=transf,
        plevel=None if level is None else float(level), newmods=None, newmods_nrow=None,
    )  # fmt: skip
    if newmods is not None:
        Xn = new_design(res.coef_names, res.intercept, newmods, intercept)
        sent = Xn[:, 1:] if res.intercept else Xn
        args["newmods"] = sent.ravel(order="F").tolist()
        args["newmods_nrow"] = int(sent.shape[0])
    return args


def metafor_predict(
    res: RmaResult, bridge: Any = None, newmods: Any = None, intercept: bool = True,
    transf: str | None = None, level: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """metafor's ``predict()`` of the model ``res`` refitted in metafor on its rows."""
    if bridge is None:
        bridge = get_bridge()
    return bridge.call("mp_predict_uni", **predict_call_args(res, newmods, intercept, transf,
                                                             level))  # fmt: skip


def compare_predict(
    res: RmaResult, ref: dict[str, Any], newmods: Any = None, intercept: bool = True,
    transf: str | None = None, level: float | None = None,
) -> list[Comparison]:  # fmt: skip
    """Our ``predict_mods(res, ...)`` against metafor's record, prediction by prediction
    (``se`` is NA on both sides after a transform)."""
    ours = predict_mods(res, newmods, intercept, transf=transf, level=level)
    out = []
    for q in PREDICT_COLUMNS:
        mine = np.asarray(getattr(ours, q), dtype=float)
        theirs = np.asarray([np.nan if v is None else v for v in np.atleast_1d(ref[q])],
                            dtype=float)  # fmt: skip
        if theirs.size == 0 and q.startswith("pi_") and res.method in ("EE", "FE"):
            continue  # metafor 3.8 gives no PI for an EE model (4.x: the CI)
        if mine.size != theirs.size:
            out.append(Comparison(f"predict_{q}.size", float(mine.size), float(theirs.size),
                                  np.inf, np.inf, Tolerance(0.0, 0.0, "the counts differ"),
                                  False))  # fmt: skip
            continue
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            out.append(compare_values(f"predict_{q}[{i + 1}]", a, b, res.method))
    return out
