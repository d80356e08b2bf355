"""``confint()`` of rma fits (with or without moderators) against metafor's
``confint(res, fixed=TRUE)``: the Q-profile bounds of tau^2, tau, I^2 and H^2 and the
coefficients' CIs, the model refitted in metafor on the same rows (``fam_metareg.R``: tight
fit control, root tolerance ``1e-15 * min(1, median(vi))`` and ``tau2.max`` lifted, as our
bounds are not capped)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from metaparity.models.confint import ConfInt
from metaparity.models.results import RmaResult
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.tolerances import Comparison, compare_values
from metaparity.parity.uni_spec import uni_spec

__all__ = ["metafor_confint_uni", "compare_confint_uni", "confint_call_args"]

#: metafor's rows of the random table -> our field prefix
_ROWS = {"tau^2": "tau2", "tau": "tau", "I^2(%)": "I2", "H^2": "H2"}


def confint_call_args(res: RmaResult, level: float | None = None) -> dict[str, Any]:
    """The arguments of ``mp_confint_uni`` for ``res`` (``level``: the CI's, None: the
    model's)."""
    return dict(uni_spec(res), clevel=None if level is None else float(level))


def metafor_confint_uni(
    res: RmaResult, level: float | None = None, bridge: Any = None
) -> dict[str, Any]:
    """metafor's ``confint(res, fixed=TRUE, level=)`` of ``res`` refitted in metafor."""
    bridge = get_bridge() if bridge is None else bridge
    return bridge.call("mp_confint_uni", **confint_call_args(res, level))


def _f(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _vec(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]  # a length-1 R vector arrives as a scalar


def compare_confint_uni(res: RmaResult, ours: ConfInt, ref: dict[str, Any]) -> list[Comparison]:
    """Every bound and estimate of both tables against metafor's record."""
    m = res.method
    out = []
    for i, row in enumerate(ref["rows"]):
        q = _ROWS[row]
        for suffix, col in (("", "estimate"), ("_lb", "ci_lb"), ("_ub", "ci_ub")):
            mine, theirs = getattr(ours, q + suffix), _f(ref[col][i])
            if q == "tau":  # compared as tau^2: sqrt's condition is unbounded at 0
                c = compare_values("tau2" + suffix, mine**2, theirs**2, m)
                out.append(replace(c, quantity=f"tau{suffix} (squared)"))
            else:
                c = compare_values(q + suffix, mine, theirs, m)
                out.append(replace(c, quantity=q + suffix))
    assert ours.fixed is not None
    for j, name in enumerate(ours.fixed.index):
        for col, rcol, key in (("estimate", "b", "b"), ("ci_lb", "b_lb", "ci_lb"),
                               ("ci_ub", "b_ub", "ci_ub")):  # fmt: skip
            c = compare_values(key, float(ours.fixed[col].iloc[j]), _f(_vec(ref[rcol])[j]), m)
            out.append(replace(c, quantity=f"fixed.{col}[{name}]"))
    return out
