"""``hc()`` against metafor's ``hc.rma.uni``: the Henmi-Copas estimate, SE, interval and DL
tau^2, and the model's row, the model refitted in metafor on the same rows
(``fam_metareg.R``'s ``mp_hc_uni``: ``control = list(tol = 1e-15)`` for uniroot and the
integral at ``rel.tol = 1e-13``, metafor's tight control for this method)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from metaparity.analysis.hc import HcResult
from metaparity.models.results import RmaResult
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.tolerances import Comparison, compare_values
from metaparity.parity.uni_spec import uni_spec

__all__ = ["hc_call_args", "metafor_hc_uni", "compare_hc_uni"]

#: tight uniroot tolerance for metafor's side (its default is eps^(1/4))
HC_TOL = 1e-15


def hc_call_args(res: RmaResult, transf: str | None = None,
                 tol: float | None = HC_TOL) -> dict[str, Any]:  # fmt: skip
    """The arguments of ``mp_hc_uni``."""
    return dict(uni_spec(res), transf=transf, tol=tol)


def metafor_hc_uni(res: RmaResult, transf: str | None = None, tol: float | None = HC_TOL,
                   bridge: Any = None) -> dict[str, Any]:  # fmt: skip
    """metafor's ``hc(res, transf =, control = list(tol =))``."""
    bridge = get_bridge() if bridge is None else bridge
    return bridge.call("mp_hc_uni", **hc_call_args(res, transf, tol))


def compare_hc_uni(res: RmaResult, ours: HcResult, ref: dict[str, Any]) -> list[Comparison]:
    """Every number of both rows: the fixed-effect estimate, SE and DL tau^2 (closed form),
    the Henmi-Copas bounds (iterative: an integral and a root, both run tight in metafor),
    the model's row, and the two method names."""
    out = []
    for q, key in (("beta", "b"), ("se", "se"), ("tau2", "b"), ("ci.lb", "ci_lb"),
                   ("ci.ub", "ci_ub"), ("beta.rma", "b"), ("se.rma", "se"),
                   ("ci.lb.rma", "ci_lb"), ("ci.ub.rma", "ci_ub"), ("tau2.rma", "tau2")):  # fmt: skip
        mine = float(getattr(ours, q.replace(".", "_")))
        theirs = ref[q]
        theirs = float("nan") if theirs is None else float(np.ravel(theirs)[0])
        method = (
            "EE"
            if q in ("beta", "se", "tau2")
            else "REML"
            if q in ("ci.lb", "ci.ub")
            else res.method
        )
        out.append(replace(compare_values(key, mine, theirs, method), quantity=q))
    for q in ("method", "method.rma"):
        ok = getattr(ours, q.replace(".", "_")) == ref[q]
        out.append(Comparison(q, float(ok), 1.0, 0.0 if ok else 1.0, 0.0 if ok else 1.0,
                              out[0].tol, ok))  # fmt: skip
    return out
