"""The demo behind ``metaparity demo``: pool the bundled selinexor counts with
metaparity and with metafor (live), side by side, next to the paper's figures.

Tao, Zhou & Niu (2021) pooled raw proportions (metafor measure "PR") with
DerSimonian-Laird random effects, or a fixed (equal) effect where they say so.
Only the outcome/subgroup rows whose every study count is known are pooled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metaparity._core.names import METHODS, check_choice
from metaparity.effects.datasets import selinexor_counts, selinexor_published
from metaparity.effects.escalc import escalc
from metaparity.models.uni import rma
from metaparity.parity.compare import compare_fit
from metaparity.parity.tolerances import Comparison

__all__ = ["DemoRow", "selinexor_demo"]


@dataclass
class DemoRow:
    """One published selinexor figure: metaparity's pooled percent [95% CI], metafor's, the
    paper's, and the comparisons with metafor."""

    outcome: str
    grade: str
    subgroup: str
    method: str
    k: int
    studies: list[str]
    ours: tuple[float, float, float]
    paper: tuple[float, float, float]
    metafor: tuple[float, float, float] | None = None
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def agrees(self) -> bool | None:
        """Every comparison with metafor agrees (None: metafor was not asked)."""
        if not self.comparisons:
            return None
        return all(c.ok for c in self.comparisons)

    @property
    def max_rel(self) -> float:
        """Largest relative difference from metafor over nonzero references."""
        vals = [c.rel_diff for c in self.comparisons if np.isfinite(c.rel_diff) and c.ref != 0]
        return max(vals, default=0.0)


def selinexor_demo(bridge: Any = None) -> list[DemoRow]:
    """Pool every published selinexor figure whose study counts are all known.

    metafor: ``rma(yi, vi, method="DL")`` (or ``"EE"`` where the paper pooled with a fixed
    effect) on ``escalc("PR", xi, ni)``.

    Parameters
    ----------
    bridge : optional
        A metafor bridge (:func:`metaparity.parity.rbridge.get_bridge`); None pools with
        metaparity only.

    Returns
    -------
    list of DemoRow
        One per pooled figure, in the order of the published table.
    """
    counts = selinexor_counts()
    pub = selinexor_published()
    rows: list[DemoRow] = []
    for _, p in pub.iterrows():
        if p["subgroup"] == "overall":
            sel = counts[(counts.outcome == p["outcome"]) & (counts.grade == p["grade"])]
        else:
            sel = counts[
                (counts.outcome == p["outcome"])
                & (counts.grade == p["grade"])
                & (counts.subgroup == p["subgroup"])
            ]
        if sel.empty or sel["events"].isna().any():
            continue
        # the paper dropped zero-event studies (vi = 0 on the raw scale)
        sel = sel[sel["events"] > 0]
        if sel.empty:
            continue
        method = "EE" if "fixed" in str(p["model"]) else "DL"
        dat = escalc("PR", xi=sel["events"], ni=sel["n"], slab=list(sel["study"]))
        res = rma(data=dat, method=check_choice("method", method, METHODS), slab=list(sel["study"]))
        row = DemoRow(
            outcome=p["outcome"],
            grade=p["grade"],
            subgroup=p["subgroup"],
            method=method,
            k=res.k,
            studies=list(sel["study"]),
            ours=(100 * res.b, 100 * res.ci_lb, 100 * res.ci_ub),
            paper=(float(p["estimate_pct"]), float(p["ci_low_pct"]), float(p["ci_high_pct"])),
        )
        if bridge is not None:
            ref = bridge.rma(dat["yi"].to_numpy(), dat["vi"].to_numpy(), method=method, test="z")
            if ref.get("ok"):
                f = ref["fit"]
                row.metafor = (100 * f["b"], 100 * f["ci_lb"], 100 * f["ci_ub"])
                rec = dict(
                    ref, yi=dat["yi"].to_numpy(), vi=dat["vi"].to_numpy(), method=method, test="z"
                )
                row.comparisons = compare_fit(rec)
        rows.append(row)
    return rows
