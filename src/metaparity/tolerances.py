"""The one tolerance table for comparisons with metafor, and the comparison itself.

A value agrees when ``|ours - ref| <= atol + rtol * |ref|``.  Each entry gives
its reason.  Tolerances are never widened to make a test pass: a difference is
explained and fixed at its source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._names import family

__all__ = ["Tolerance", "TOLERANCES", "tolerance_for", "Comparison", "compare_values"]


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    reason: str


_CLOSED = Tolerance(
    1e-10,
    1e-12,
    "closed form: both sides evaluate the same formula in double precision; differences are "
    "rounding (observed <= 1e-13 relative); atol for values that are exactly 0 on one side",
)
_ITER = Tolerance(
    1e-10,
    1e-12,
    "iterative: metafor run with control=list(threshold=1e-14, maxiter=10000, tol=1e-15) so its "
    "iterations stop at the root; metaparity solves to machine precision (observed <= 1e-12)",
)
_PVAL = Tolerance(
    1e-10,
    1e-300,
    "p-values: scipy's sf and R's pnorm/pt/pchisq(lower.tail=FALSE) are both accurate to a few "
    "ulp far into the tail, so compare relatively down to tiny p; p is a function of its "
    "statistic s with condition number kappa = |s p'(s) / p(s)| (about s^2 in a normal tail), "
    "so rtol is applied as rtol * max(1, kappa): the p-value agrees as well as the statistic "
    "it comes from (see pvalue_condition)",
)
_HET_NEAR_ZERO = Tolerance(
    1e-10,
    1e-10,
    "I2 (percent), H2 and R2 (percent) are ratios of tau2; when tau2 = 0 metafor's iteration "
    "may stop at ~1e-14 instead of 0, which moves I2 by up to ~1e-11 percentage points",
)

#: (quantity, family) -> Tolerance.  ``family`` is "closed" or "iterative".
TOLERANCES: dict[tuple[str, str], Tolerance] = {}
for _fam, _tol in (("closed", _CLOSED), ("iterative", _ITER)):
    for _q in (
        "b se zval ci_lb ci_ub tau2 se_tau2 QE k pred pi_lb pi_ub tau2_lb tau2_ub yi vi"
    ).split():
        TOLERANCES[(_q, _fam)] = _tol
    for _q in ("pval", "QEp", "QMp"):
        TOLERANCES[(_q, _fam)] = _PVAL
    # meta-regression: the omnibus statistic is a closed-form function of b and vb
    TOLERANCES[("QM", _fam)] = _tol
    for _q in ("I2", "H2", "R2", "I2_lb", "I2_ub", "H2_lb", "H2_ub"):
        TOLERANCES[(_q, _fam)] = _HET_NEAR_ZERO if _fam == "iterative" else _CLOSED


def tolerance_for(quantity: str, method: str = "EE") -> Tolerance:
    """Tolerance for ``quantity`` under estimator ``method``."""
    base = quantity.removeprefix("t_").removeprefix("predict_")
    return TOLERANCES.get((base, family(method)), TOLERANCES[("b", family(method))])


@dataclass(frozen=True)
class Comparison:
    quantity: str
    ours: float
    ref: float
    abs_diff: float
    rel_diff: float
    tol: Tolerance
    ok: bool


def pvalue_condition(
    stat: float, dist: str, df: float = float("nan"), df2: float = float("nan")
) -> float:
    """Condition number ``|s p'(s) / p(s)|`` of a p-value as a function of its statistic.

    ``dist`` is ``"z"`` (two-sided normal), ``"t"`` (two-sided t, ``df``) or
    ``"chi2"`` (upper tail, ``df``) or ``"F"`` (upper tail, ``df``, ``df2``).  A relative error ``e`` in the statistic
    becomes ``kappa * e`` in the p-value.
    """
    from scipy import stats

    s = abs(float(stat))
    if not math.isfinite(s) or s == 0:
        return 1.0
    if dist == "z":
        lp, lpdf = stats.norm.logsf(s), stats.norm.logpdf(s)
    elif dist == "t":
        lp, lpdf = stats.t.logsf(s, df), stats.t.logpdf(s, df)
    elif dist == "F":
        lp, lpdf = stats.f.logsf(s, df, df2), stats.f.logpdf(s, df, df2)
    else:
        lp, lpdf = stats.chi2.logsf(s, df), stats.chi2.logpdf(s, df)
    if not (math.isfinite(lp) and math.isfinite(lpdf)):
        return 1.0  # p underflows to 0 on both sides: compared exactly
    return float(s * math.exp(lpdf - lp))


def compare_values(
    quantity: str, ours: float | None, ref: float | None, method: str, cond: float = 1.0
) -> Comparison:
    """Compare one number with metafor's (None/NaN on both sides counts as agreement).

    ``cond`` (>= 1) is the condition number of the quantity with respect to an
    input that is compared at the table's tolerance (used for p-values only).
    """
    tol = tolerance_for(quantity, method)
    if cond > 1.0:
        tol = Tolerance(tol.rtol * cond, tol.atol, tol.reason)
    o = float("nan") if ours is None else float(ours)
    r = float("nan") if ref is None else float(ref)
    if math.isnan(o) or math.isnan(r):
        ok = math.isnan(o) and math.isnan(r)
        return Comparison(quantity, o, r, float("nan"), float("nan"), tol, ok)
    if math.isinf(o) or math.isinf(r):
        return Comparison(quantity, o, r, float("nan"), float("nan"), tol, o == r)
    ad = abs(o - r)
    rd = ad / abs(r) if r != 0 else (0.0 if ad == 0 else float("inf"))
    return Comparison(quantity, o, r, ad, rd, tol, ad <= tol.atol + tol.rtol * abs(r))
