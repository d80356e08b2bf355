"""What every effect-size family shares: the inputs, the result, count checks, continuity correction.

A family module (``proportions``, ``twobytwo``, ``continuous``, ``correlations``,
``generic``) declares ``MEASURES`` and a ``compute(measure, inputs, slab, *, add, to,
drop00)`` returning an :class:`Effect`; :func:`metaparity.effects.escalc` reads the
arguments, checks the options here once, and dispatches.  The checks name the study
(``study 'Vogl 2018' (row 2)``), the value and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, NamedTuple

import numpy as np

from metaparity._core.validation import study_label

__all__ = [
    "Inputs",
    "Labels",
    "To",
    "TO",
    "Effect",
    "default_add",
    "check_options",
    "need",
    "check_counts",
    "check_events",
    "check_each",
    "cc_mask",
]

#: the escalc arguments by metafor's names (``xi``, ``ni``, ``ai`` ...); missing ones are None
Inputs = Mapping[str, np.ndarray | None]
#: study labels (one per study) or None: messages then say ``study in row i``
Labels = Sequence[object] | None
#: which studies get the continuity correction (metafor's ``to=``)
To = Literal["only0", "all", "if0all", "none"]
TO: tuple[str, ...] = ("only0", "all", "if0all", "none")

#: measures for which an *unset* ``add`` means 0 (metafor: variance-stabilised, defined at
#: 0 and n events); an explicit ``add`` applies to them as well
_NO_DEFAULT_CORRECTION = frozenset({"PAS", "PFT"})


class Effect(NamedTuple):
    """One family's answer: effect sizes, sampling variances and total sample sizes."""

    yi: np.ndarray
    vi: np.ndarray
    ni: np.ndarray | None  # total sample size per study (None for GEN)


def default_add(measure: str) -> float:
    """metafor's default continuity correction for ``measure``: 1/2, but 0 for PAS and PFT.

    >>> default_add("PLO"), default_add("PFT")
    (0.5, 0.0)
    """
    return 0.0 if measure in _NO_DEFAULT_CORRECTION else 0.5


def check_options(measure: str, add: float | None, to: str, vtype: str) -> float:
    """Check ``to`` and ``vtype``; return ``add`` (metafor's default when None), checked.

    >>> check_options("PR", None, "only0", "LS")
    0.5
    """
    if to not in TO:
        raise ValueError(f"to={to!r} is not one of {', '.join(TO)}")
    if vtype != "LS":
        raise ValueError(f"vtype={vtype!r} is not supported yet; only 'LS' (metafor's default)")
    out = default_add(measure) if add is None else float(add)
    if not np.isfinite(out) or out < 0:
        raise ValueError(f"add={out!r} must be a non-negative number (metafor's default is 0.5)")
    return out


def need(measure: str, **args: np.ndarray | None) -> None:
    """Raise naming the arguments that ``measure`` needs and that are missing (None)."""
    missing = [k for k, v in args.items() if v is None]
    if missing:
        raise ValueError(f"measure={measure!r} needs {', '.join(missing)}")


def check_counts(slab: Labels, **counts: np.ndarray) -> None:
    """Counts are finite and >= 0 (NaN = missing, left alone).

    >>> check_counts(["A", "B"], xi=np.array([3.0, -1.0]))
    Traceback (most recent call last):
    ...
    ValueError: study 'B' (row 2) has xi=-1; counts must be finite and >= 0 (metafor: 'One or more counts are negative.') -- fix the count or drop the study
    """
    for name, arr in counts.items():
        for i, val in enumerate(arr):
            if np.isnan(val):
                continue
            if not np.isfinite(val) or val < 0:
                raise ValueError(
                    f"{study_label(i, slab)} has {name}={val:g}; counts must be finite and >= 0 "
                    "(metafor: 'One or more counts are negative.') -- fix the count or drop the "
                    "study"
                )


def check_events(slab: Labels, x: np.ndarray, n: np.ndarray, xname: str, nname: str) -> None:
    """No more events than participants (checked first, as metafor), and at least one
    participant."""
    for i in range(x.size):
        if np.isnan(x[i]) or np.isnan(n[i]):
            continue
        if x[i] > n[i]:
            raise ValueError(
                f"{study_label(i, slab)} has {xname}={x[i]:g} > {nname}={n[i]:g}; events cannot "
                "exceed the group size (metafor: 'One or more event counts are larger than the "
                "corresponding group sizes.') -- check the extraction"
            )
        if n[i] <= 0:
            raise ValueError(
                f"{study_label(i, slab)} has {nname}={n[i]:g}; a group needs at least one "
                "participant (metafor: 'One or more group sizes are <= 0.') -- fix the count or "
                "drop the study"
            )


def check_each(
    slab: Labels, name: str, arr: np.ndarray, bad: Callable[[float], bool], why: str
) -> None:
    """Raise for the first non-missing value of ``arr`` for which ``bad`` holds.

    >>> check_each(None, "sd1i", np.array([1.0, -2.0]), lambda v: v < 0, "SDs must be >= 0")
    Traceback (most recent call last):
    ...
    ValueError: study in row 2 has sd1i=-2; SDs must be >= 0
    """
    for i, val in enumerate(arr):
        if not np.isnan(val) and bad(val):
            raise ValueError(f"{study_label(i, slab)} has {name}={val:g}; {why}")


def cc_mask(
    zero: np.ndarray, to: str, add: float, *, exempt: np.ndarray | None = None
) -> np.ndarray:
    """Which studies get the continuity correction ``add`` (metafor's ``to=``).

    ``zero`` marks studies with a zero cell; ``exempt`` (``drop00=True``) those that
    drop out and are never corrected.

    >>> cc_mask(np.array([True, False]), "only0", 0.5).tolist()
    [True, False]
    >>> cc_mask(np.array([True, False]), "if0all", 0.5).tolist()
    [True, True]
    >>> cc_mask(np.array([True, False]), "if0all", 0.5, exempt=np.array([True, False])).tolist()
    [False, False]
    """
    if exempt is not None:  # metafor: a dropped study's zero cells do not trigger if0all
        zero = zero & ~exempt
    if to == "none" or add == 0:
        mask = np.zeros_like(zero)
    elif to == "all":
        mask = np.ones_like(zero)
    elif to == "if0all":
        mask = np.full_like(zero, bool(zero.any()))
    else:
        mask = zero
    return mask if exempt is None else mask & ~exempt
