"""One group with events out of a sample: PR, PLN, PLO, PAS, PFT.

Equivalent to ``metafor::escalc(measure, xi=, ni=)`` (or ``xi=, mi=`` with ``ni = xi + mi``)
with ``vtype="LS"``.  The continuity correction ``add`` (metafor: 1/2, but 0 for PAS and
PFT unless given) goes to ``xi`` and ``mi = ni - xi`` of the studies chosen by ``to``
(``"only0"``: those with 0 or ``ni`` events).
"""

from __future__ import annotations

import numpy as np

from metaparity.effects._common import (
    Effect,
    Inputs,
    Labels,
    cc_mask,
    check_counts,
    check_events,
    default_add,
)

__all__ = ["MEASURES", "compute"]

MEASURES: tuple[str, ...] = ("PR", "PLN", "PLO", "PAS", "PFT")


def compute(
    measure: str,
    inputs: Inputs,
    slab: Labels = None,
    *,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
) -> Effect:
    """Proportion-type effect sizes and their large-sample variances.

    Equivalent to ``metafor::escalc(measure, xi=xi, ni=ni, add=add, to=to)``.

    Parameters
    ----------
    measure : {"PR", "PLN", "PLO", "PAS", "PFT"}
        Raw, log, logit, arcsine square-root or Freeman-Tukey double-arcsine proportion.
    inputs : mapping of str to numpy.ndarray or None
        ``xi`` (events) with ``ni`` (sample sizes) or ``mi`` (non-events), as float arrays.
    slab : sequence, optional
        Study labels for error messages.
    add : float, optional
        Continuity correction; None means metafor's default (1/2, 0 for PAS and PFT).
    to : {"only0", "all", "if0all", "none"}
        Which studies get ``add``.
    drop00 : bool
        Unused (a single group has no double-zero study); accepted for a uniform call.

    Returns
    -------
    Effect
        ``yi``, ``vi`` and ``ni`` (the uncorrected sample sizes).

    Examples
    --------
    >>> e = compute("PLO", {"xi": np.array([0.0, 5.0]), "ni": np.array([20.0, 20.0])})
    >>> e.yi.round(4), e.vi.round(4)  # metafor: -3.7136 -1.0986, 2.0488 0.2667
    (array([-3.7136, -1.0986]), array([2.0488, 0.2667]))
    """
    if measure not in MEASURES:
        raise ValueError(f"measure={measure!r} is not a proportion ({', '.join(MEASURES)})")
    add = default_add(measure) if add is None else add
    x, n, mm = inputs.get("xi"), inputs.get("ni"), inputs.get("mi")
    if x is None or (n is None and mm is None):
        raise ValueError(f"measure={measure!r} needs xi and ni (or xi and mi)")
    if n is None:
        assert mm is not None
        n = x + mm
    check_counts(slab, xi=x, ni=n)
    check_events(slab, x, n, "xi", "ni")
    ntot = n.copy()
    cc = cc_mask((x == 0) | (x == n), to, add)
    x = np.where(cc, x + add, x)
    n = np.where(cc, n + 2 * add, n)
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf, as in metafor
        return _yi_vi(measure, x, n, ntot)


def _yi_vi(measure: str, x: np.ndarray, n: np.ndarray, ntot: np.ndarray) -> Effect:
    p = x / n
    if measure == "PR":
        return Effect(p, p * (1 - p) / n, ntot)
    if measure == "PLN":
        return Effect(np.log(p), 1 / x - 1 / n, ntot)
    if measure == "PLO":
        return Effect(np.log(p / (1 - p)), 1 / x + 1 / (n - x), ntot)
    if measure == "PAS":
        return Effect(np.arcsin(np.sqrt(p)), 1 / (4 * n), ntot)
    # PFT: Freeman-Tukey double arcsine
    yi = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
    return Effect(yi, 1 / (4 * n + 2), ntot)
