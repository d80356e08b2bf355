"""One correlation per study: ZCOR, COR.

Equivalent to ``metafor::escalc(measure, ri=, ni=)`` with ``vtype="LS"``: Fisher's
r-to-z with variance ``1/(ni - 3)``, or the raw correlation with ``(1 - ri^2)^2/(ni - 1)``.
"""

from __future__ import annotations

import warnings

import numpy as np

from metaparity._core.validation import study_label
from metaparity.effects._common import Effect, Inputs, Labels, need

__all__ = ["MEASURES", "compute"]

MEASURES: tuple[str, ...] = ("ZCOR", "COR")

#: ``ni <= _MIN_N[measure]``: no sampling variance (vi NaN, as metafor's NA)
_MIN_N = {"ZCOR": 3, "COR": 1}


def compute(
    measure: str,
    inputs: Inputs,
    slab: Labels = None,
    *,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
) -> Effect:
    """Fisher's z or raw correlations with their large-sample variances.

    Equivalent to ``metafor::escalc(measure, ri=ri, ni=ni)``.

    Parameters
    ----------
    measure : {"ZCOR", "COR"}
        Fisher's r-to-z transformed or raw correlation.
    inputs : mapping of str to numpy.ndarray or None
        ``ri`` (correlations) and ``ni`` (sample sizes) as float arrays.
    slab : sequence, optional
        Study labels for error messages.
    add, to, drop00
        Unused (no counts); accepted for a uniform call.

    Returns
    -------
    Effect
        ``yi``, ``vi`` and ``ni``.

    Examples
    --------
    >>> e = compute("ZCOR", {"ri": np.array([0.5]), "ni": np.array([28.0])})
    >>> float(e.yi[0].round(4)), float(e.vi[0])  # metafor: 0.5493, 0.0400
    (0.5493, 0.04)
    """
    if measure not in MEASURES:
        raise ValueError(f"measure={measure!r} is not a correlation ({', '.join(MEASURES)})")
    r, n = inputs.get("ri"), inputs.get("ni")
    need(measure, ri=r, ni=n)
    assert r is not None and n is not None
    low = _MIN_N[measure]
    for i in range(r.size):
        if not np.isnan(r[i]) and not -1 <= r[i] <= 1:
            raise ValueError(
                f"{study_label(i, slab)} has ri={r[i]:g}; correlations lie in [-1, 1] (metafor: "
                "'One or more correlations are > 1 or < -1.') -- check the value"
            )
        if not np.isnan(n[i]) and n[i] <= 0:
            raise ValueError(
                f"{study_label(i, slab)} has ni={n[i]:g}; a study needs ni >= 1 (metafor: 'One or "
                "more sample sizes are <= 0.') -- fix the size or drop the study"
            )
    small = np.flatnonzero(n <= low)  # NaN compares False
    with np.errstate(divide="ignore", invalid="ignore"):  # |ri| = 1 gives inf, as in metafor
        if measure == "ZCOR":
            yi, vi = np.arctanh(r), 1 / (n - 3)
        else:
            yi, vi = r.copy(), (1 - r**2) ** 2 / (n - 1)
    if small.size:
        # metafor keeps yi and makes vi NA (ZCOR with its warning; COR silently)
        vi[small] = np.nan
        named = "; ".join(study_label(int(i), slab) for i in small[:8])
        if small.size > 8:
            named += f"; ... and {small.size - 8} more"
        said = (
            "metafor: 'Cannot estimate the sampling variance when ni <= 3.'"
            if measure == "ZCOR"
            else "metafor sets it to NA without a warning"
        )
        warnings.warn(
            f"{named}: ni <= {low}, so the sampling variance of {measure} cannot be estimated "
            f"and vi is NaN ({said}); rma() omits such studies -- check the sample sizes",
            UserWarning,
            stacklevel=4,
        )
    return Effect(yi, vi, n.copy())
