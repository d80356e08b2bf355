"""``blup()`` and ``ranef()`` of rma fits against metafor's ``blup.rma.uni`` /
``ranef.rma.uni``: the same rows and model through the R bridge (``fam_blup.R``, tight
control), every study's ``pred``, ``se``, ``pi_lb``, ``pi_ub`` compared at the table's
tolerance of the estimator.

>>> ref = metafor_blup(res, transf="exp")  # doctest: +SKIP
>>> [c for c in compare_blup(res, ref, transf="exp") if not c.ok]  # doctest: +SKIP
[]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metaparity.models.blup import blup, ranef
from metaparity.models.results import RmaResult
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.tolerances import Comparison, compare_values

__all__ = ["metafor_blup", "compare_blup", "blup_call_args"]

_COLUMNS = ("pred", "se", "pi_lb", "pi_ub")


def blup_call_args(
    res: RmaResult, level: float | None = None, transf: str | None = None,
    fixed_tau2: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """The arguments of ``mp_blup_uni`` (fam_blup.R) for the rows and model of ``res``, as
    plain Python: what the live bridge sends and what the goldens' inputs hold."""
    k = int(np.asarray(res.yi).size)
    X = np.ones((k, 1)) if res.X is None else np.asarray(res.X, dtype=float)
    return dict(
        yi=np.asarray(res.yi, float).tolist(), vi=np.asarray(res.vi, float).tolist(),
        X=X.ravel(order="F").tolist(), X_names=list(res.coef_names), method=res.method,
        test=res.test, level=float(res.level), tau2=float(res.tau2) if fixed_tau2 else None,
        transf=transf, blevel=None if level is None else float(level),
    )  # fmt: skip


def metafor_blup(
    res: RmaResult, bridge: Any = None, level: float | None = None, transf: str | None = None,
    fixed_tau2: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """metafor's ``blup()`` and ``ranef()`` of the model ``res`` refitted in metafor on its
    rows (``fixed_tau2``: at our tau2, as ``rma(tau2=)``)."""
    if bridge is None:
        bridge = get_bridge()
    return bridge.call("mp_blup_uni", **blup_call_args(res, level, transf, fixed_tau2))


def compare_blup(
    res: RmaResult, ref: dict[str, Any], level: float | None = None, transf: str | None = None
) -> list[Comparison]:
    """Our ``blup(res)`` and ``ranef(res)`` against metafor's record, study by study."""
    out = []
    for name, fn in (("blup", blup), ("ranef", ranef)):
        ours = fn(res, level=level, transf=transf)
        theirs = ref[name]
        for col in _COLUMNS:
            t = np.atleast_1d(np.asarray([np.nan if v is None else v for v in
                                          np.atleast_1d(theirs[col])], dtype=float))  # fmt: skip
            o = ours[col].to_numpy(float)
            if o.shape != t.shape:
                out.append(compare_values(f"{name}.rows", float(o.size), float(t.size), "EE"))
                continue
            out += [compare_values(f"{name}.{col}[{lab}]", a, b, res.method)
                    for lab, a, b in zip(ours.index, o, t, strict=True)]  # fmt: skip
    return out
