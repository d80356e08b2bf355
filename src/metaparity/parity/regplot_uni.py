"""``regplot()``'s numbers against metafor's: the data frame ``regplot.rma`` returns (each
study's moderator value, outcome, point size, drawing order, fitted line and label), the
model refitted in metafor on the same rows (``fam_metareg.R``).  The line's bands are
predict()'s and are compared there (:mod:`metaparity.parity.predict`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from metaparity.analysis.regplot import RegplotData
from metaparity.models.results import RmaResult
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.tolerances import Comparison, compare_values
from metaparity.parity.uni_spec import uni_spec

__all__ = ["metafor_regplot_uni", "compare_regplot_uni", "regplot_call_args"]


def metafor_regplot_uni(
    res: RmaResult, d: RegplotData, label: bool | str = False, psize: str | None = None,
    plim: tuple[float, float] = (0.5, 3.0), transf: str | None = None, bridge: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """metafor's ``regplot(res, mod=, label=, psize=, plim=, transf=)`` data for the
    moderator of ``d``."""
    bridge = get_bridge() if bridge is None else bridge
    return bridge.call("mp_regplot_uni", **regplot_call_args(res, d, label, psize, plim, transf))


def regplot_call_args(
    res: RmaResult, d: RegplotData, label: bool | str = False, psize: str | None = None,
    plim: tuple[float, float] = (0.5, 3.0), transf: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The arguments of ``mp_regplot_uni`` for the moderator of ``d``."""
    return dict(uni_spec(res), mod=float(d.mod + 1), label=label, psize=psize,
                plim=[float(x) for x in plim], transf=transf)  # fmt: skip


def compare_regplot_uni(res: RmaResult, d: RegplotData, ref: dict[str, Any]) -> list[Comparison]:
    """Per study: xi, yi, psize and the fitted line (b's tolerance), the drawing order and
    the labels (exactly)."""
    out = []
    for q, mine, key in (("xi", d.xi, "yi"), ("yi", d.yi, "yi"), ("psize", d.psize, "b"),
                         ("pred", d.pred_i, "pred")):  # fmt: skip
        theirs = np.atleast_1d(np.asarray(ref[q], dtype=float))
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            c = compare_values(key, float(a), float(b), res.method)
            out.append(replace(c, quantity=f"{q}[{i + 1}]"))
    order = np.atleast_1d(np.asarray(ref["order"], dtype=int)) - 1
    lab = np.atleast_1d(np.asarray(ref["label"], dtype=bool))
    for q, mine, theirs in (("order", d.order, order), ("label", d.label, lab)):
        ok = np.array_equal(np.asarray(mine), theirs)
        out.append(Comparison(q, float(ok), 1.0, 0.0 if ok else 1.0, 0.0 if ok else 1.0,
                              compare_values("b", 0.0, 0.0, "EE").tol, ok))  # fmt: skip
    return out
