"""Two groups with events over person-time: IRR (log incidence rate ratio) and IRD.

Equivalent to ``metafor::escalc(measure, x1i=, t1i=, x2i=, t2i=)`` with ``vtype="LS"``
(large-sample variances ``1/x1 + 1/x2`` and ``x1/t1^2 + x2/t2^2``).  Not yet one of
:data:`metaparity.MEASURES` (escalc has no person-time arguments); used by
:func:`metaparity.rma_mh`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MEASURES", "yi_vi"]

MEASURES: tuple[str, ...] = ("IRR", "IRD")


def yi_vi(
    measure: str, x1: np.ndarray, t1: np.ndarray, x2: np.ndarray, t2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``yi`` and ``vi`` of (already continuity-corrected) events and person-times.

    >>> y, v = yi_vi("IRR", np.array([3.0]), np.array([100.0]), np.array([1.0]), np.array([90.0]))
    >>> round(float(y[0]), 6), round(float(v[0]), 6)  # log((3/100)/(1/90)), 1/3 + 1/1
    (0.993252, 1.333333)
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "IRR":
            return np.log((x1 / t1) / (x2 / t2)), 1 / x1 + 1 / x2
        if measure == "IRD":
            return x1 / t1 - x2 / t2, x1 / t1**2 + x2 / t2**2
    raise ValueError(f"measure={measure!r} is not a person-time measure ({', '.join(MEASURES)})")
