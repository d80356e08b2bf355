"""Two groups with means, SDs and sizes: MD, SMD, ROM.

Equivalent to ``metafor::escalc(measure, m1i=, sd1i=, n1i=, m2i=, sd2i=, n2i=)`` with
``vtype="LS"``: the raw mean difference, Hedges' g with the exact bias correction
``c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))``, ``m = n1i + n2i - 2``, and the log
ratio of means.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from metaparity._core.mfversion import since
from metaparity._core.validation import study_label
from metaparity.effects._common import Effect, Inputs, Labels, check_each, need

__all__ = ["MEASURES", "compute", "resolve_correct"]

MEASURES: tuple[str, ...] = ("MD", "SMD", "ROM")


def compute(
    measure: str,
    inputs: Inputs,
    slab: Labels = None,
    *,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
    correct: bool | None = None,
) -> Effect:
    """Mean differences (raw or standardised) or log ratios of means, with variances.

    Equivalent to ``metafor::escalc(measure, m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i,
    sd2i=sd2i, n2i=n2i, correct=)``.

    Bias corrections (metafor's ``correct=``, resolved per release by
    :func:`resolve_correct`): SMD is Hedges' g (``correct=False``: Cohen's d, its
    variance computed from d); ROM with ``correct=True`` adds Lajeunesse's (2015,
    eq. 8) second-order term ``(sd1i^2 / (n1i m1i^2) - sd2i^2 / (n2i m2i^2)) / 2`` to
    ``log(m1i / m2i)`` -- the variance (``vtype="LS"``) is the same either way.

    Parameters
    ----------
    measure : {"MD", "SMD", "ROM"}
        Raw mean difference, standardised mean difference (Hedges' g), log ratio of means.
    inputs : mapping of str to numpy.ndarray or None
        ``m1i``, ``sd1i``, ``n1i``, ``m2i``, ``sd2i``, ``n2i`` as float arrays.
    slab : sequence, optional
        Study labels for error messages.
    add, to, drop00
        Unused (no counts, no continuity correction); accepted for a uniform call.
    correct : bool, optional
        Apply the bias correction (``None``: the selected metafor's default).

    Returns
    -------
    Effect
        ``yi``, ``vi`` and ``ni`` (``n1i + n2i``).

    Examples
    --------
    >>> g = {"m1i": np.array([10.0]), "sd1i": np.array([2.0]), "n1i": np.array([20.0]),
    ...      "m2i": np.array([9.0]), "sd2i": np.array([2.5]), "n2i": np.array([25.0])}
    >>> e = compute("SMD", g)  # metafor: escalc("SMD", 10, 9, 2, 2.5, 20, 25): .4285, .0920
    >>> float(e.yi[0].round(4)), float(e.vi[0].round(4))
    (0.4285, 0.092)
    """
    if measure not in MEASURES:
        raise ValueError(f"measure={measure!r} is not a mean-based measure ({', '.join(MEASURES)})")
    m1, m2, s1, s2, n1, n2 = (inputs.get(n) for n in ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"))
    need(measure, m1i=m1, sd1i=s1, n1i=n1, m2i=m2, sd2i=s2, n2i=n2)
    assert m1 is not None and m2 is not None and s1 is not None and s2 is not None
    assert n1 is not None and n2 is not None
    sd_why = (
        "SDs must be >= 0 (metafor: 'One or more standard deviations are negative.') -- "
        "fix the sign or drop the study"
    )
    n_why = (
        "a group needs n >= 1 (metafor: 'One or more group sizes are <= 0.') -- fix the size "
        "or drop the study"
    )
    check_each(slab, "sd1i", s1, lambda v: v < 0, sd_why)
    check_each(slab, "sd2i", s2, lambda v: v < 0, sd_why)
    check_each(slab, "n1i", n1, lambda v: v < 1, n_why)
    check_each(slab, "n2i", n2, lambda v: v < 1, n_why)
    ntot = n1 + n2
    with np.errstate(divide="ignore", invalid="ignore"):  # SD = 0 gives inf, as in metafor
        if measure == "MD":
            return Effect(m1 - m2, s1**2 / n1 + s2**2 / n2, ntot)
        if measure == "ROM":
            why = (
                "the log ratio of means needs positive means (metafor returns NA for it, with "
                "R's warning 'NaNs produced' or its +-Inf recoding) -- drop the study or use "
                "measure='MD'/'SMD'"
            )
            check_each(slab, "m1i", m1, lambda v: v <= 0, why)
            check_each(slab, "m2i", m2, lambda v: v <= 0, why)
            c1, c2 = s1**2 / (n1 * m1**2), s2**2 / (n2 * m2**2)
            yi = np.log(m1 / m2)
            if resolve_correct(measure, correct):
                yi = yi + 0.5 * (c1 - c2)
            return Effect(yi, c1 + c2, ntot)
        return _smd(m1, s1, n1, m2, s2, n2, slab, resolve_correct(measure, correct))


def resolve_correct(measure: str, correct: bool | None) -> bool:
    """Whether metafor applies the bias correction of ``measure`` for ``correct=``.

    metafor 3.8 has no ``correct`` argument (SMD always corrected, ROM never); 4.8 adds
    it for SMD (default TRUE) while ROM stays uncorrected; from 5.0 ROM is corrected
    by default too (``rom_correct`` in :data:`metaparity._core.mfversion.CHANGES`).

    Parameters
    ----------
    measure : str
        ``"MD"``, ``"SMD"`` or ``"ROM"``.
    correct : bool or None
        metafor's ``correct=`` (``None``: not given).

    Returns
    -------
    bool
        Whether the correction is applied (always ``False`` for MD).
    """
    if measure == "SMD":
        return True if correct is None or not since("escalc_correct") else bool(correct)
    if measure == "ROM":
        if not since("rom_correct"):
            return False
        return True if correct is None else bool(correct)
    return False


def _smd(
    m1: np.ndarray,
    s1: np.ndarray,
    n1: np.ndarray,
    m2: np.ndarray,
    s2: np.ndarray,
    n2: np.ndarray,
    slab: Labels,
    correct: bool = True,
) -> Effect:
    mdf = n1 + n2 - 2
    for i, val in enumerate(mdf):
        if not np.isnan(val) and val < 2:
            raise ValueError(
                f"{study_label(i, slab)} has n1i + n2i = {val + 2:g}; SMD needs n1i + n2i >= 4"
            )
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / mdf)
    if correct:
        cm = np.exp(
            special.gammaln(mdf / 2) - 0.5 * np.log(mdf / 2) - special.gammaln((mdf - 1) / 2)
        )
    else:
        cm = np.ones_like(mdf)
    yi = cm * (m1 - m2) / sp
    vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
    return Effect(yi, vi, n1 + n2)
