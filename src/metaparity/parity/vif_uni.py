"""``vif()`` of rma meta-regressions against metafor's ``vif.rma``: each set's (G)VIF, (G)SIF and
size, the model refitted in metafor on the same rows (``fam_metareg.R``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from metaparity.analysis.vif import VifResult
from metaparity.models.results import RmaResult
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.tolerances import Comparison, compare_values
from metaparity.parity.uni_spec import uni_spec

__all__ = ["metafor_vif_uni", "compare_vif_uni", "vif_call_args"]


def vif_call_args(res: RmaResult, ours: VifResult, btt_given: bool) -> dict[str, Any]:
    """The arguments of ``mp_vif_uni`` for the sets of ``ours`` (sent 1-based)."""
    # a dict: the bridge sends it as an R list (one index vector per set)
    btt = ({str(i + 1): [float(j + 1) for j in s] for i, s in enumerate(ours.coefs)}
           if btt_given else None)  # fmt: skip
    return dict(uni_spec(res), btt=btt, reestimate=ours.reestimate)


def metafor_vif_uni(res: RmaResult, ours: VifResult, btt_given: bool,
                    bridge: Any = None) -> dict[str, Any]:  # fmt: skip
    """metafor's ``vif(res, btt=, reestimate=)`` for the sets of ``ours``."""
    bridge = get_bridge() if bridge is None else bridge
    return bridge.call("mp_vif_uni", **vif_call_args(res, ours, btt_given))


def compare_vif_uni(res: RmaResult, ours: VifResult, ref: dict[str, Any]) -> list[Comparison]:
    """Each set's vif, sif (b's tolerance) and m (exactly)."""
    out = []
    for q, mine in (("vif", ours.vif), ("sif", ours.sif), ("m", np.asarray(ours.m, float))):
        theirs = np.atleast_1d(np.asarray(ref[q], dtype=float))
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            c = compare_values("b", float(a), float(b), "EE" if q == "m" else res.method)
            out.append(replace(c, quantity=f"{q}[{i + 1}]"))
    return out
