"""Two groups with events, a 2x2 table per study: OR, RR, RD, PETO.

Equivalent to ``metafor::escalc(measure, ai=, bi=, ci=, di=)`` (or ``ai=, n1i=, ci=, n2i=``)
with ``vtype="LS"``.  PETO is Peto's one-step log odds ratio (Yusuf et al. 1985):
``yi = (O - E) / V`` and ``vi = 1 / V``, with ``O = ai``, its expectation
``E = (ai + ci) n1i / N`` and hypergeometric variance
``V = (ai + ci)(bi + di) n1i n2i / (N^2 (N - 1))`` given the table's margins.  The continuity correction ``add`` (default 1/2) goes to all four
cells of the studies chosen by ``to`` (``"only0"``: those with a zero cell); with
``drop00=True`` studies with no events (or only events) in both groups are not corrected
and get ``yi = vi = NaN``, as in metafor.
"""

from __future__ import annotations

import numpy as np

from metaparity._core.validation import study_label
from metaparity.effects._common import (
    Effect,
    Inputs,
    Labels,
    cc_mask,
    check_counts,
    check_events,
    default_add,
    need,
)

__all__ = ["MEASURES", "compute", "yi_vi"]

MEASURES: tuple[str, ...] = ("OR", "RR", "RD", "PETO")


def compute(
    measure: str,
    inputs: Inputs,
    slab: Labels = None,
    *,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
) -> Effect:
    """Log odds ratio, log risk ratio, risk difference or Peto's log odds ratio of 2x2 tables.

    Equivalent to ``metafor::escalc(measure, ai=ai, bi=bi, ci=ci, di=di, add=add, to=to,
    drop00=drop00)``.

    Parameters
    ----------
    measure : {"OR", "RR", "RD", "PETO"}
        Log odds ratio, log risk ratio, risk difference, Peto's log odds ratio (group 1
        versus group 2).  metafor's defaults for PETO are those of OR (``add=1/2``,
        ``to="only0"``): a table with a zero cell is corrected, although PETO is finite
        without it (except when no events, or only events, occurred at all: ``V = 0``).
    inputs : mapping of str to numpy.ndarray or None
        ``ai``, ``ci`` (events) with ``bi``, ``di`` (non-events) or ``n1i``, ``n2i``
        (group sizes), as float arrays.
    slab : sequence, optional
        Study labels for error messages.
    add : float, optional
        Continuity correction; None means metafor's default, 1/2.
    to : {"only0", "all", "if0all", "none"}
        Which studies get ``add``.
    drop00 : bool
        Give studies with no events (or no non-events) in both groups ``NaN``.

    Returns
    -------
    Effect
        ``yi``, ``vi`` and ``ni`` (the uncorrected total sizes ``n1i + n2i``).

    Examples
    --------
    >>> a, n = np.array([0.0, 3.0]), np.array([10.0, 10.0])
    >>> e = compute("OR", {"ai": a, "n1i": n, "ci": np.array([1.0, 2.0]), "n2i": n})
    >>> e.yi.round(4), e.vi.round(4)  # metafor: -1.1987 0.5390, 2.8672 1.1012
    (array([-1.1987,  0.539 ]), array([2.8672, 1.1012]))
    """
    if measure not in MEASURES:
        raise ValueError(f"measure={measure!r} is not a 2x2-table measure ({', '.join(MEASURES)})")
    add = default_add(measure) if add is None else add
    a, b, c, d = (inputs.get(n) for n in ("ai", "bi", "ci", "di"))
    n1, n2 = inputs.get("n1i"), inputs.get("n2i")
    if a is None or c is None:
        raise ValueError(f"measure={measure!r} needs ai and ci, with bi, di or n1i, n2i")
    if b is None:
        need(measure, n1i=n1)
        assert n1 is not None
        check_events(slab, a, n1, "ai", "n1i")
        b = n1 - a
    if d is None:
        need(measure, n2i=n2)
        assert n2 is not None
        check_events(slab, c, n2, "ci", "n2i")
        d = n2 - c
    check_counts(slab, ai=a, bi=b, ci=c, di=d)
    for i in range(a.size):
        if a[i] + b[i] == 0 or c[i] + d[i] == 0:
            raise ValueError(
                f"{study_label(i, slab)} has an empty group (n1i={a[i] + b[i]:g}, "
                f"n2i={c[i] + d[i]:g}); each group needs at least one participant"
            )
    ntot = a + b + c + d
    both = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    cc = cc_mask(zero, to, add, exempt=both if drop00 else None)
    a, b, c, d = (np.where(cc, z + add, z) for z in (a, b, c, d))
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf, as in metafor
        yi, vi = yi_vi(measure, a, b, c, d)
    if drop00:
        yi = np.where(both, np.nan, yi)
        vi = np.where(both, np.nan, vi)
    return Effect(yi, vi, ntot)


def yi_vi(
    measure: str, a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``yi`` and ``vi`` of (already continuity-corrected) cells, elementwise (any shape)."""
    n1, n2 = a + b, c + d
    if measure == "OR":
        return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d
    if measure == "RR":
        return np.log((a / n1) / (c / n2)), 1 / a - 1 / n1 + 1 / c - 1 / n2
    if measure == "PETO":
        n = n1 + n2
        e = (a + c) * n1 / n
        v = (a + c) * (b + d) * (n1 / n) * (n2 / n) / (n - 1)
        return (a - e) / v, 1 / v
    p1, p2 = a / n1, c / n2
    return p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
