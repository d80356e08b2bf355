"""``profile()`` of rma fits in tau^2 against metafor's ``profile.rma.uni``: the same grid
(``xlim``, ``steps``) on the model refitted in metafor (``fam_metareg.R``); every tau^2 value,
profiled log-likelihood, coefficient and CI bound compared at the tolerance table's row of the
estimator."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from metaparity.models.mv_profile import MvProfile
from metaparity.models.results import RmaResult
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.tolerances import Comparison, compare_values
from metaparity.parity.uni_spec import uni_spec

__all__ = ["metafor_profile_uni", "compare_profile_uni", "profile_call_args"]


def profile_call_args(res: RmaResult, xlim: Any, steps: Any = 20) -> dict[str, Any]:
    """The arguments of ``mp_profile_uni``."""
    st = np.atleast_1d(np.asarray(steps, dtype=float)).tolist()
    return dict(uni_spec(res), xlim=[float(x) for x in xlim], steps=st)


def metafor_profile_uni(res: RmaResult, xlim: Any, steps: Any = 20,
                        bridge: Any = None) -> dict[str, Any]:  # fmt: skip
    """metafor's ``profile(res, xlim=, steps=)`` of ``res`` refitted in metafor."""
    bridge = get_bridge() if bridge is None else bridge
    return bridge.call("mp_profile_uni", **profile_call_args(res, xlim, steps))


def _cols(v: Any) -> list[np.ndarray]:
    cols = v if isinstance(v, list) and v and isinstance(v[0], list) else [v]
    return [np.atleast_1d(np.asarray([np.nan if x is None else x for x in np.atleast_1d(c)],
                                     dtype=float)) for c in cols]  # fmt: skip


def compare_profile_uni(res: RmaResult, ours: MvProfile, ref: dict[str, Any]) -> list[Comparison]:
    """The grid, the profile and each value's coefficients and CIs."""
    cv = ours[0]
    m = res.method
    out = []
    for q, mine, key in (("tau2", cv.values, "tau2"), ("ll", cv.ll, "ll")):
        for i, (a, b) in enumerate(zip(mine, _cols(ref[q])[0], strict=True)):
            out.append(
                replace(compare_values(key, float(a), float(b), m), quantity=f"{q}[{i + 1}]")
            )
    out.append(compare_values("ll", cv.maxll, float(_cols(ref["maxll"])[0][0]), m))
    for q, mine in (("b", cv.b), ("ci_lb", cv.ci_lb), ("ci_ub", cv.ci_ub)):
        for j, col in enumerate(_cols(ref[q])):
            for i, (a, b) in enumerate(zip(np.asarray(mine)[:, j], col, strict=True)):
                c = compare_values(q, float(a), float(b), m)
                out.append(replace(c, quantity=f"{q}[{i + 1},{res.coef_names[j]}]"))
    return out
