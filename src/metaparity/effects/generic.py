"""Effect sizes computed elsewhere: GEN (``yi`` with ``vi`` or ``sei``).

Equivalent to giving ``yi`` and ``vi`` (or ``sei``) to metafor directly; there is no
sample size, so back-transforms that need one (``ipft.hm``) ask for ``targs``.
"""

from __future__ import annotations

from metaparity.effects._common import Effect, Inputs, Labels

__all__ = ["MEASURES", "compute"]

MEASURES: tuple[str, ...] = ("GEN",)


def compute(
    measure: str,
    inputs: Inputs,
    slab: Labels = None,
    *,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
) -> Effect:
    """Pass given effect sizes through, with ``vi = sei**2`` when only ``sei`` is given.

    Equivalent to ``metafor::escalc(measure="GEN", yi=yi, vi=vi)`` (or ``sei=sei``).

    Parameters
    ----------
    measure : {"GEN"}
        The generic measure.
    inputs : mapping of str to numpy.ndarray or None
        ``yi`` with ``vi`` or ``sei`` as float arrays.
    slab : sequence, optional
        Unused; accepted for a uniform call.
    add, to, drop00
        Unused; accepted for a uniform call.

    Returns
    -------
    Effect
        Copies of ``yi`` and ``vi``; ``ni`` is None.

    Examples
    --------
    >>> import numpy as np
    >>> compute("GEN", {"yi": np.array([0.2]), "sei": np.array([0.1])}).vi.round(4)
    array([0.01])
    """
    if measure not in MEASURES:
        raise ValueError(f"measure={measure!r} is not the generic measure 'GEN'")
    y, v, s = inputs.get("yi"), inputs.get("vi"), inputs.get("sei")
    if y is None or (v is None and s is None):
        raise ValueError("measure='GEN' needs yi and vi (or sei)")
    if v is None:
        assert s is not None
        v = s * s
    return Effect(y.copy(), v.copy(), None)
