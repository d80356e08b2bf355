"""The one tolerance table for comparisons with metafor, and the comparison itself.

A value agrees when ``|ours - ref| <= atol + rtol * |ref|``.  Each entry gives
its reason.  Tolerances are never widened to make a test pass: a difference is
explained and fixed at its source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from metaparity._core.names import family

__all__ = [
    "Tolerance", "TOLERANCES", "tolerance_for", "Comparison", "compare_values",
    "GLMM_TOLERANCES", "GLMM_TOLERANCES_LAPLACE", "GLMM_CM_TOLERANCES", "GLMM_CM_AL_TOLERANCES",
    "GLMM_UM_TOLERANCES", "GLMM_UM_RS_TOLERANCES", "MV_TOLERANCES", "VCALC_TOLERANCE",
]  # fmt: skip


@dataclass(frozen=True)
class Tolerance:
    """One entry of the tolerance table: ``|ours - ref| <= atol + rtol * |ref|``, and why."""

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
    # fit statistics (logLik, deviance, AIC, BIC, AICc): closed-form functions of (b, tau2);
    # the LRT is a difference of deviances, compared with the condition number of that
    # difference, (|dev_r| + |dev_f|) / LRT (parity.fitstats_uni)
    for _q in ("ll", "dev", "AIC", "BIC", "AICc", "LRT"):
        TOLERANCES[(_q, _fam)] = _tol
    for _q in ("I2", "H2", "R2", "I2_lb", "I2_ub", "H2_lb", "H2_ub"):
        TOLERANCES[(_q, _fam)] = _HET_NEAR_ZERO if _fam == "iterative" else _CLOSED


def tolerance_for(quantity: str, method: str = "EE") -> Tolerance:
    """Tolerance for ``quantity`` under estimator ``method``.

    Parameters
    ----------
    quantity : str
        A field of metafor's ``rma`` object (``b``, ``tau2``, ``pval`` ...), optionally
        prefixed ``predict_`` or ``t_`` (back-transformed prediction).
    method : str, default "EE"
        The estimator (metafor ``method=``): closed form or iterative.

    Returns
    -------
    Tolerance
        The table's entry; quantities it does not list get the entry for ``b``.

    Examples
    --------
    >>> tolerance_for("tau2", "REML").rtol
    1e-10
    """
    base = quantity.removeprefix("t_").removeprefix("predict_")
    return TOLERANCES.get((base, family(method)), TOLERANCES[("b", family(method))])


@dataclass(frozen=True)
class Comparison:
    """One number compared with metafor's: the two values, their differences, the
    tolerance applied and the verdict ``ok``."""

    quantity: str
    ours: float
    ref: float
    abs_diff: float
    rel_diff: float
    tol: Tolerance
    ok: bool

    def __post_init__(self) -> None:
        # a verdict computed from numpy scalars is numpy's bool: stored as Python's, so that
        # every report (JSON, JUnit) can write it
        object.__setattr__(self, "ok", bool(self.ok))


def pvalue_condition(
    stat: float, dist: str, df: float = float("nan"), df2: float = float("nan")
) -> float:
    """Condition number ``|s p'(s) / p(s)|`` of a p-value as a function of its statistic.

    ``dist`` is ``"z"`` (two-sided normal), ``"t"`` (two-sided t, ``df``) or
    ``"chi2"`` (upper tail, ``df``) or ``"F"`` (upper tail, ``df``, ``df2``).  A relative error ``e`` in the statistic
    becomes ``kappa * e`` in the p-value.

    Parameters
    ----------
    stat : float
        The test statistic (``zval``, ``QE``, ``QM`` ...).
    dist : {"z", "t", "chi2", "F"}
        Its reference distribution.
    df, df2 : float
        Degrees of freedom where ``dist`` needs them.

    Returns
    -------
    float
        ``kappa >= 0``; 1.0 where ``stat`` is 0 or not finite, or ``p`` underflows.

    Examples
    --------
    >>> round(pvalue_condition(1.96, "z"), 2)
    4.58
    """
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

    Parameters
    ----------
    quantity : str
        What is compared (keys the tolerance table, see :func:`tolerance_for`).
    ours, ref : float or None
        metaparity's value and metafor's (None = NA).
    method : str
        The estimator (closed form or iterative tolerance).
    cond : float, default 1.0
        Condition number (>= 1) of the quantity with respect to an input that is
        compared at the table's tolerance (p-values only: :func:`pvalue_condition`);
        it multiplies ``rtol``.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> compare_values("b", 0.5, 0.5 + 1e-13, "DL").ok
    True
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


# --------------------------------------------------------------------------- #
# rma.glmm (binomial-normal GLMM, metaparity.models.glmm) against metafor + lme4
# --------------------------------------------------------------------------- #
# lme4 maximises the likelihood with a derivative-free optimiser (bobyqa) on a deviance
# that carries rounding noise, so its optimum is known only to ~sqrt(eps) in the
# parameters; metaparity's is at a gradient of ~1e-15 (Newton).  The likelihood itself
# is compared exactly (at the same point), the estimates at the precision lme4 reaches
# with metaparity's tight control (mp_rma_glmm: bobyqa rhoend=1e-12, tolPwrss=1e-13).
# Evidence: metafor 3.8-1 / lme4 1.1-31, data sets selinexor ORR (k=6), sCR with four
# zero-event studies, dat.pritz1997 (two all-event studies), SEL+DEX ORR/CBR (k=2,
# tau2=0), a homogeneous k=4 set; nAGQ = 7 and 1 (docs/glmm.md has the table).
_GLMM_LIK = Tolerance(
    1e-12,
    0.0,
    "marginal log-likelihood at the same (mu, tau2), ours vs lme4's deviance function "
    "(glmer(devFunOnly=TRUE)): the same adaptive Gauss-Hermite sum; observed <= 6.2e-14",
)
_GLMM_LIK_LAPLACE = Tolerance(
    1e-9,
    0.0,
    "nAGQ=1: lme4 takes log|L|^2 from the weights of its penultimate PIRLS iterate, not at "
    "the conditional mode (13.91516593665 vs 13.91516592587 for the selinexor ORR data), "
    "which moves its Laplace log-likelihood by ~5e-9; observed <= 2.4e-10 relative",
)
_GLMM_LOGLIK_REPORTED = Tolerance(
    1e-10,
    0.0,
    "metafor's reported logLik (ll_sat - deviance(glmer)/2: the binomial log-likelihood at "
    "the conditional modes) recomputed at metafor's own (mu, tau2); lme4's modes stop at "
    "tolPwrss; observed <= 4.5e-11",
)
_GLMM_OPT = Tolerance(
    1e-6,
    1e-7,
    "estimate at lme4's optimum: bobyqa (rhoend=1e-12) stops ~1e-8 from the maximum in b "
    "and tau (noise in the deviance limits a derivative-free search to ~sqrt(eps)); "
    "observed <= 3.7e-7 relative (tau2, nAGQ=1), b within 1.1e-8 absolute; atol for b ~ 0",
)
_GLMM_OPT_LAPLACE = Tolerance(
    2e-6,
    4e-6,
    "nAGQ=1: the ~5e-9 jitter of lme4's Laplace deviance (see its log-likelihood entry) "
    "stops bobyqa further from the maximum: b observed 7.6e-7 away (selinexor ORR; 2e-6 "
    "of its se), tau2 3.7e-7 relative",
)
_GLMM_SE = Tolerance(
    2e-5,
    1e-7,
    "se(b) (and the CI, z, PI built on it): lme4's vcov is the inverse of a finite-"
    "difference Hessian of the deviance in (theta, beta) (step 1e-4, noisy deviance), ours "
    "a Richardson-extrapolated Hessian of the analytic gradient; at metafor's own optimum "
    "the two differ by up to 3.6e-6 (sCR with zeros); observed <= 9.5e-6 for CI bounds",
)
_GLMM_SE_LAPLACE = Tolerance(
    5e-4,
    1e-7,
    "nAGQ=1: the jitter of lme4's Laplace deviance (see the log-likelihood entry) enters "
    "its finite-difference Hessian; se observed up to 1.8e-4 relative (selinexor ORR), CI "
    "bounds 9e-5",
)
_GLMM_QE_WLD = Tolerance(
    1e-10,
    1e-12,
    "QE.Wld at the stopping point of metafor's saturated glm, whose iteration metaparity "
    "replays (models/_glm_saturated.py: estimates to 1e-12, variances to 1e-10 of R's glm); "
    "observed <= 4.1e-13 over the PLO, IRLN, UM.FS, CM.AL and IRR CM.EL goldens "
    "(scripts/qe_wld_agreement.py). rtol is scaled by max(1, 2 eps kappa / rtol), kappa "
    "the ratio of the glm's largest to smallest variance: metafor inverts that vcov in "
    "dummy coding and loses digits -- selinexor sCR (0-event studies, variances ~1e9): "
    "metafor 6.160011203, ours 6.159999156 = the 50-digit value; metafor's solve replayed "
    "in float64 gives 6.160011203 (docs/glmm.md)",
)
_GLMM_LRT = Tolerance(
    1e-10,
    1e-12,
    "QE.LRT: closed-form binomial deviance of the equal-effects fit; metafor's glm converges "
    "quadratically to it; observed <= 1.5e-11",
)

#: quantity -> Tolerance for nAGQ > 1 (``"laplace"`` variants in GLMM_TOLERANCES_LAPLACE).
GLMM_TOLERANCES: dict[str, Tolerance] = {
    "loglik_marginal": _GLMM_LIK,
    "logLik_reported": _GLMM_LOGLIK_REPORTED,
    **{q: _GLMM_OPT for q in "b tau2 I2 H2 logLik deviance AIC BIC AICc pred".split()},
    **{q: _GLMM_SE for q in "se zval ci_lb ci_ub pi_lb pi_ub pval".split()},
    "QE_Wld": _GLMM_QE_WLD,
    "QEp_Wld": _GLMM_QE_WLD,
    "QE_LRT": _GLMM_LRT,
    "QEp_LRT": _GLMM_LRT,
    "vt": _CLOSED,
    "k": _CLOSED,
}
GLMM_TOLERANCES_LAPLACE: dict[str, Tolerance] = {
    **GLMM_TOLERANCES,
    "loglik_marginal": _GLMM_LIK_LAPLACE,
    **{q: _GLMM_OPT_LAPLACE for q in "b tau2 I2 H2 logLik deviance AIC BIC AICc pred".split()},
    **{q: _GLMM_SE_LAPLACE for q in "se zval ci_lb ci_ub pi_lb pi_ub pval".split()},
}

# --------------------------------------------------------------------------- #
# rma.glmm(measure="OR", model="CM.EL"): the conditional (noncentral hypergeometric) GLMM
# --------------------------------------------------------------------------- #
_CM_LIK = Tolerance(
    1e-11,
    1e-10,
    "the marginal likelihood at metafor's optimum against metafor's own .dnchg (BiasedUrn "
    "dFNCHypergeo at precision 1e-15, integrate() at rel.tol 1e-12): BiasedUrn's pmf is off "
    "by up to ~1.5e-11 per study (an exact log-space sum in R agrees with ours to ~3e-13), so "
    "the total differs by 3e-11 abs on dat.bcg, 5e-13 on dat.nielweise2007",
)
_CM_OPT = Tolerance(
    1e-5,
    1e-8,
    "estimates: metafor's nlminb stops at its rel.tol 1e-10 in the objective (tighter fails "
    "on the EE fit), which leaves the parameters at ~sqrt(1e-10) in flat directions: b agrees "
    "to 1e-11 (nielweise2007) - 2e-8 abs (bcg), tau2 to 5e-8 - 6e-8 relative, and to 1.9e-6 "
    "on bcg ~ ablat where tau2 = 0.0031 sits in a flat likelihood; there our log-likelihood "
    "at our optimum is 4e-13 above ours at metafor's (docs/glmm.md)",
)
_CM_TAU2_FLAT = Tolerance(
    1e-5,
    2e-5,
    "tau2 near 0 in a flat likelihood: on dat.yusuf1985 table 12b tau2 = 3.7e-4 and the "
    "log-likelihood at metafor's optimum is 8e-14 below ours (rounding), so nlminb's rel.tol "
    "1e-10 places tau2 only to 1.1e-8 abs (2.9e-5 rel) and I2 to 1.2e-5 percentage points; "
    "atol in the units of each field (tau2, I2 in percent, H2)",
)
_CM_SE = Tolerance(
    1e-5,
    1e-8,
    "se, QE.Wld: metafor takes numDeriv Hessians of a noisy objective; with hessianCtrl "
    "r = 4 (passed by mp_rma_glmm_cm) se agrees to ~1e-7 (nielweise2007) - 8.5e-6 (bcg), our "
    "Hessian is analytic. With metafor's default r = 16 its saturated-model Hessian is wrong "
    "by a factor of ~100 and QE.Wld is 268.5 instead of 163.09 on dat.bcg: not comparable",
)
_CM_VT = Tolerance(
    1e-9,
    1e-12,
    "vt = (k - p) / tr(P) is closed form, but metafor inverts X'WX directly: with a raw year "
    "moderator (cond ~1e10) it loses digits -- dat.li2007 ~ year: metafor 0.05720961497219, "
    "ours 0.05720961494249 (QR leverages), 50-digit mpmath 0.0572096149424956 (ours 3e-14 "
    "off, metafor 5.2e-10); without such a moderator the agreement is <= 1e-14",
)
#: quantity -> Tolerance for ``rma_glmm_cm`` (measure OR, model CM.EL) against metafor run
#: with ``mp_glmm_cm_control`` (tight integrate / BiasedUrn, numDeriv r = 4)
GLMM_CM_TOLERANCES: dict[str, Tolerance] = {
    "loglik_at_metafor": _CM_LIK,
    **{q: _CM_OPT for q in "b logLik deviance AIC BIC AICc".split()},
    **{q: _CM_TAU2_FLAT for q in "tau2 I2 H2".split()},
    **{q: _CM_SE for q in "se se_tau2 zval pval ci_lb ci_ub QM QMp".split()},
    "QE_Wld": Tolerance(
        1e-6,
        1e-9,
        "against mp_glmm_cm_wald: the same Wald statistic computed in R from conditional MLEs "
        "(optimize, tol 1e-12) and varFNCHypergeo (observed <= 4.5e-7 relative)",
    ),
    "QE_Wld_numderiv": Tolerance(
        2e-3,
        1e-9,
        "metafor's own QE.Wld: the Wald test from a numDeriv Hessian of the saturated model "
        "(k + p parameters, BiasedUrn noise); with r = 4 it agrees to 2.9e-6 (bcg), 5e-8 "
        "(nielweise2007), but to 3e-4 (bcg ~ ablat) and 9e-4 (nielweise2007 ~ year)",
    ),
    "QE_LRT": Tolerance(1e-9, 1e-9, "closed up to metafor's nlminb on the EE and saturated fits"),
    "QEp_LRT": Tolerance(1e-9, 1e-12, "from QE_LRT"),
    "vt": _CM_VT,
    "k": _CLOSED,
    "p": _CLOSED,
}
#: quantity -> Tolerance for ``rma_glmm_cm`` with model CM.AL (OR) and IRR/CM.EL: the
#: binomial-normal GLMM fitted by glmer, as measure="PLO" (the same reasons), plus QM
#: (a function of b and its vcov, so as se)
GLMM_CM_AL_TOLERANCES: dict[str, Tolerance] = {
    **GLMM_TOLERANCES,
    "QM": _GLMM_SE,
    "QMp": _GLMM_SE,
    "vt": _CM_VT,
    "p": _CLOSED,
}


# --------------------------------------------------------------------------- #
# rma.glmm(model="UM.FS") (metaparity.models.glmm_twogroup) against metafor + lme4
# --------------------------------------------------------------------------- #
# lme4 optimises k + p + 1 parameters (the study intercepts included) with bobyqa, so its
# optimum is further from the maximum than for measure="PLO" (2 parameters); the evidence
# that the difference is lme4's: in lme4's own deviance function (devFunOnly) our optimum's
# log-likelihood is above metafor's (bcg +4.9e-10, li2007 +7.5e-9) or equal to rounding.
# Data: dat.bcg (with and without ablat), dat.li2007 (single zeros), dat.nielweise2007 and
# dat.yusuf1985 table 6 (double zeros dropped), dat.hart1999 and dat.nielweise2008 (IRR).
_UM_LIK = Tolerance(
    3e-12,
    0.0,
    "marginal log-likelihood at the same (theta, all fixed effects), ours vs glmer(devFunOnly"
    "=TRUE): the same adaptive Gauss-Hermite sum; where PIRLS cannot reach tolPwrss=1e-13 "
    "(dat.bcg, dat.li2007: large counts) lme4's modes stop at 1e-10 and its value moves by "
    "<= 1.4e-12 relative; otherwise observed <= 2.8e-14",
)
_UM_OPT = Tolerance(
    3e-5,
    5e-6,
    "estimate at lme4's optimum: bobyqa (rhoend=1e-12) on k + p + 1 parameters stops short "
    "of the maximum (our log-likelihood is higher in lme4's own deviance function); observed "
    "b 3.2e-6 abs (dat.bcg), tau2 1.5e-5 relative (dat.li2007, lme4 7.5e-9 lower in ll), "
    "deviance 6.5e-6 relative",
)
_UM_SE = Tolerance(
    1e-4,
    1e-7,
    "se(b): lme4's vcov inverts a finite-difference Hessian (step 1e-4) of its noisy deviance "
    "in all k + p + 1 parameters; evaluated at metafor's own optimum our Hessian's se differs "
    "from metafor's by 4.6e-5 (dat.bcg), so the difference is lme4's; observed <= 4.4e-5. "
    "Not compared: UM.RS on dat.bcg ~ ablat, where lme4's finite-difference Hessian has two "
    "negative eigenvalues (lme4 warns 'degenerate Hessian') and metafor's se built on it is "
    "3.5e-3 from ours (docs/glmm.md)",
)
_UM_QE_WLD = Tolerance(
    1e-10,
    1e-12,
    "QE.Wld at the stopping point of metafor's saturated glm (replayed: "
    "models/_glm_saturated.py), rtol scaled for metafor's own Wald solve as the PLO entry; "
    "observed <= 2.3e-14 (UM.FS OR/IRR, IRLN goldens), 1.5e-11 on two studies with a zero "
    "cell where QE.Wld = 1.88e-7 (the exact limit, 0, was 1e-5 off before)",
)
_UM_LRT = Tolerance(
    1e-10,
    1e-12,
    "QE.LRT: -2 (ll_FE - ll_sat), the FE glm solved by Newton to ~1e-12 on both sides; "
    "observed <= 2.2e-11",
)
#: quantity -> Tolerance for rma.glmm(model="UM.FS") (nAGQ = 7)
GLMM_UM_TOLERANCES: dict[str, Tolerance] = {
    "loglik_marginal": _UM_LIK,
    **{q: _UM_OPT for q in "b tau2 I2 H2 logLik deviance AIC BIC AICc".split()},
    **{q: _UM_SE for q in "se zval ci_lb ci_ub pval QM QMp".split()},
    "QE_Wld": _UM_QE_WLD,
    "QEp_Wld": _UM_QE_WLD,
    "QE_LRT": _UM_LRT,
    "QEp_LRT": _UM_LRT,
    "vt": _CLOSED,
    "k": _CLOSED,
}

# rma.glmm(model="UM.RS"): Laplace (nAGQ = 1), parameters (beta, gamma, sigma, tau)
_UM_RS_LIK = Tolerance(
    1e-10,
    0.0,
    "Laplace log-likelihood vs glmer(devFunOnly=TRUE), nAGQ=1: lme4 takes log|L|^2 from its "
    "penultimate PIRLS iterate (see the PLO entry); observed <= 7.2e-11 (dat.nielweise2008); "
    "with tolPwrss relaxed to 1e-10 lme4's value is 1.1e-5 off on dat.bcg, so the bridge "
    "tries 1e-13, 1e-12, 1e-11 first (1e-11 reached there)",
)
_UM_RS_SAT = Tolerance(
    1e-5,
    1e-10,
    "QE.LRT and deviance use metafor's saturated UM.RS model, a glmer fit with k + 2 "
    "parameters that bobyqa stops short of its maximum; observed QE_LRT 8.8e-7, deviance "
    "4.5e-6 (dat.bcg)",
)
_UM_RS_QE_WLD_RX = Tolerance(
    5e-4,
    1e-10,
    "QE.Wld when lme4's finite-difference Hessian of the saturated glmer fit is not positive "
    "definite (lme4 warns and falls back to the vcov 'estimated from RX', given theta), "
    "ours of that kind at OUR saturated optimum: observed 3.9e-8 (dat.li2007), 1.7e-4 "
    "(dat.bcg). The difference is lme4's optimum, not the formula: at lme4's own saturated "
    "optimum ours equals metafor's to 4.1e-14 (bcg), 7.9e-11 (li2007) -- QE_Wld_rx_at_metafor "
    "-- and our saturated log-likelihood is 7.7e-5 (bcg), 1.0e-9 (li2007) above lme4's",
)
_UM_RS_QE_WLD_RX_AT = Tolerance(
    1e-9,
    1e-10,
    "QE.Wld (RX vcov) evaluated at lme4's saturated optimum, ours vs metafor's: the same "
    "formula at the same point; lme4's conditional modes stop at tolPwrss; observed 4.1e-14 "
    "(dat.bcg), 7.9e-11 (dat.li2007)",
)
_UM_RS_QE_WLD = Tolerance(
    1e-5,
    1e-10,
    "UM.RS's QE.Wld: its saturated model is a glmer fit (k + 2 parameters, Laplace), its "
    "vcov lme4's finite-difference Hessian (step 1e-4) of a deviance with ~1e-10 noise, ours "
    "from the analytic-gradient Hessian at our saturated optimum (no glm to replay); "
    "observed 1.7e-7 (dat.hart1999), 2.3e-6 (dat.nielweise2008)",
)
#: quantity -> Tolerance for rma.glmm(model="UM.RS")
GLMM_UM_RS_TOLERANCES: dict[str, Tolerance] = {
    **GLMM_UM_TOLERANCES,
    "QE_Wld": _UM_RS_QE_WLD,
    "QEp_Wld": _UM_RS_QE_WLD,
    "loglik_marginal": _UM_RS_LIK,
    "deviance": _UM_RS_SAT,
    "QE_LRT": _UM_RS_SAT,
    "QEp_LRT": _UM_RS_SAT,
    "sigma2": _UM_OPT,
    "QE_Wld_rx": _UM_RS_QE_WLD_RX,
    "QE_Wld_rx_at_metafor": _UM_RS_QE_WLD_RX_AT,
}


# --------------------------------------------------------------------------- #
# rma.mv (metaparity.models.mv) against metafor
# --------------------------------------------------------------------------- #
_MV_LIK = Tolerance(
    1e-12,
    0.0,
    "(restricted) log-likelihood at the same variance components, ours vs metafor's: the same "
    "closed-form function; observed <= 1.1e-12 relative (6.2e-12 with a raw year, below).  "
    "metafor takes log|X'X| and "
    "log|X'M^-1 X| from X itself, whose rounding grows with cond(X): rtol is applied as "
    "rtol * max(1, eps cond(X) / rtol) (parity.mv.design_condition; a raw year as moderator, "
    "cond 3.9e5: metafor's log-likelihood carries 4e-11 of noise, ours 1e-15 on an "
    "orthonormal basis of X)",
)
_MV_OPT = Tolerance(
    2e-6,
    1e-9,
    "estimates at metafor's optimum: rma.mv's optimisers search without a gradient over log "
    "variances and atanh correlations on a likelihood that is flat near its maximum, so "
    "they stop where it is within ~1e-13 of ours but the parameters are known only to "
    "~sqrt(1e-13 / curvature); metafor run with Nelder-Mead (reltol 1e-15), bobyqa "
    "(rhoend 1e-12) and nlminb, the highest likelihood kept (parity.mv.MV_CONTROL).  Over the "
    "19 cases of tests/mv_cases.py, goldens of 3.8.1 / 4.8.0 / 5.1.12 "
    "(scripts/parity_summary_mv.py): variance components 6.1e-7 / 1.4e-6 / 1.4e-6, b, se, "
    "CI, vb 4.4e-7 / 1.1e-6 / 1.1e-6; the largest on dat.konstantopoulos2011 ~ raw year, "
    "where metafor's likelihood carries 4e-11 of rounding noise (see the likelihood entry) "
    "and Nelder-Mead degenerates, so bobyqa stops ~sqrt(4e-11 / curvature) away.  The "
    "evidence that the difference is metafor's: our likelihood at metafor's components "
    "equals metafor's (<= 6.2e-12), and our maximum is not below it in either implementation "
    "(loglik_at_metafor, optimum_not_below_*); atol for components at 0",
)
_MV_CLOSED = Tolerance(
    1e-10,
    1e-12,
    "closed form in the data (QE from V alone; k, p, parms counts)",
)
#: quantity -> Tolerance for rma.mv
MV_TOLERANCES: dict[str, Tolerance] = {
    **{
        q: _MV_OPT
        for q in (
            "b se zval ci_lb ci_ub vb sigma2 tau2 rho gamma2 phi QM dev_ML "
            "ll_ML AIC_ML BIC_ML AICc_ML ll_REML dev_REML AIC_REML BIC_REML "
            "AICc_REML"
        ).split()
    },
    **{q: _PVAL for q in ("pval", "QEp", "QMp")},
    **{q: _MV_CLOSED for q in ("QE", "ddf", "parms", "k", "p")},
    "loglik_at_metafor": _MV_LIK,
    "metafor_loglik_at_ours": _MV_LIK,
}

#: vcalc(): every entry of V
VCALC_TOLERANCE = Tolerance(
    1e-12,
    1e-15,
    "closed form: V = S R S with R's entries products and ratios of rho, phi^|dt| and the "
    "group weights, the same formula in double precision (observed <= 2.2e-16 relative); atol "
    "for the exact zeros between clusters; nearpd=TRUE runs the same alternating projections "
    "(Higham 2002) to conv.tol 1e-7, so the iterates agree to rounding as well",
)
