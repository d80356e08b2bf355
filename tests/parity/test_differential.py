"""Differential testing: hypothesis-generated data through metaparity and live metafor.

Every estimator and test; all result fields compared with the tolerance table.
CI runs a fixed, derandomized budget (profile "ci": 60 examples per test and estimator, see
conftest.py); ``pytest --hypothesis-profile=deep`` searches 3000 per test.
Every disagreement ever found stays here as an ``@example``.
"""

from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from metaparity import escalc, rma
from metaparity._core.names import TESTS
from metaparity.parity.compare import compare_result
from metaparity.parity.harness import ALL_METHODS
from metaparity.parity.strategies import (
    MetaData,
    continuous,
    meta_analyses,
    proportions,
    two_by_two,
)

pytestmark = pytest.mark.r

#: the tests asked of live metafor: "hksj" is metafor's alias of "knha" only from 4.6 on
_LIVE_TESTS = [t for t in TESTS if t != "hksj"]

COUNTS: collections.Counter = collections.Counter()
#: metafor 3.8 gives up on these (documented in README); metaparity still returns its solution
KNOWN_METAFOR_FAILURES = (
    "Iterative DL estimator did not converge",
    "Fisher scoring algorithm did not converge",
    "Iterative SJ estimator did not converge",
)
_SETTINGS = dict(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def _md(yi, vi):
    return MetaData(np.asarray(yi, float), np.asarray(vi, float), 0.0)


@pytest.mark.parametrize("method", ALL_METHODS)
@settings(**_SETTINGS)
@given(ma=meta_analyses(min_k=1, max_k=15), test=st.sampled_from(_LIVE_TESTS))
@example(ma=_md([0.3], [0.04]), test="knha")  # k = 1
@example(ma=_md([0.1, 0.5], [0.04, 0.05]), test="t")  # k = 2
@example(ma=_md([0.1, 0.1, 0.1], [0.01, 0.02, 0.03]), test="knha")  # identical studies
@example(ma=_md([0.0, 1.0, -1.0, 0.5], [1e-4, 1.0, 1.0, 1e-4]), test="z")  # vi ratio 1e4
@example(ma=_md([0.1, 0.12, 0.09, 0.11], [0.01, 0.02, 0.015, 0.012]), test="adhoc")  # tau2 = 0
# found (DL): se(tau2) lost 9 digits to cancellation with a vi ratio of 1e4; fixed at the
# root: trace terms are formed entrywise from sums of the other studies
@example(ma=_md([2.0, 0.0], [1.0, 1e-4]), test="z")
@example(ma=_md([20.0, 0.0], [100.0, 0.01]), test="z")
# found (PM, knha): studies identical up to 1e-18; metafor sets a weighted RSS below machine
# epsilon to 0 (se = 0, z = Inf) -- now mirrored (measured: the switch lies between RSS
# 2.10e-16 and 2.42e-16 for k = 2, and depends on RSS, not RSS/(k-1), for k = 3)
@example(ma=_md([0.0, 1.78631312e-18], [1e-4, 1e-4]), test="knha")
# found (DL, t): scipy's 2 * t.sf(3.6e-8, df=1) is 3.8e-10 off R's pt; fixed: two-sided t
# p-values from the regularised incomplete beta (exact on both sides of t^2 = df)
@example(ma=_md([0.0, 3.76972873e-09], [1e-4, 1e-3]), test="t")
# found (DL): metafor's Q-profile lower bound 4.2e-6 sits 1e-15 from the root (its Q carries
# ~1e-12 of noise); accepted only with the Q-residual evidence below
@example(
    ma=_md([-1.0, -0.92094306, -1.0, -1.0, -1.0, -0.7375], [1e-4, 1e-3, 1e-4, 1e-4, 1e-4, 0.01]),
    test="z",
)
# found (SJIT) when the test moved to tests/parity (a new derandomized seed): metafor's
# iteration stops 8.6e-10 (relative) short of the root of Q(tau2) = k - 1 at tau2 = 1.7e-6
# (60-digit residual 2.3e-11 against ours 1.1e-15); accepted only on that exact evidence
@example(
    ma=_md([0.2375, 0.0, 0.0, 0.0125, 0.0125, 0.0, 0.0, 0.0],
           [0.01, 1e-4, 1e-4, 1e-4, 1e-4, 1e-3, 1e-3, 1e-3]),
    test="z",
)  # fmt: skip
def test_rma_agrees_with_metafor(metafor, ma, method, test):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = rma(ma.yi, ma.vi, method=method, test=test)
    assert np.isfinite(res.tau2) and res.tau2 >= 0 and np.isfinite(res.b)
    ref = metafor.rma(ma.yi, ma.vi, method=method, test=test)
    if not ref["ok"]:
        assert ref["error"].startswith(KNOWN_METAFOR_FAILURES), ref["error"]
        assert res.converged  # metafor gave up; metaparity reports its converged solution
        COUNTS["metafor failed: " + ref["error"].split(".")[0]] += 1
        return
    bad = [c for c in compare_result(res, dict(ref, method=method)) if not c.ok]
    COUNTS["rma compared"] += 1
    COUNTS[f"rma {method}"] += 1
    bad = _unless_metafor_confint_is_the_imprecise_one(bad, ma, res, ref)
    bad = _unless_metafor_root_is_the_imprecise_one(bad, ma, res, ref, method)
    assert not bad, "\n".join(f"{c.quantity}: ours {c.ours!r} metafor {c.ref!r}" for c in bad)


#: quantities that follow from tau2 alone (the pooled estimate agrees within the table)
_FROM_TAU2 = {"tau2", "se_tau2", "I2", "H2"}
#: the estimators that solve Q_w(tau2) = target: PM, EB and SJIT (k - 1), PMM (chi^2 median)
_Q_ROOT = ("PM", "EB", "SJIT", "PMM")


def _unless_metafor_root_is_the_imprecise_one(bad, ma, res, ref, method):
    """metafor's PM-type iterations stop on a step threshold; near tau2 = 0 (vi ~ 1e-4) that
    leaves tau2 ~1e-9 relative short of the root, which the atol of tau2 hides but I2
    shows.  Evidence instead of a wider tolerance: the root of Q_w(tau2) = target in
    60-digit arithmetic; accepted only when ours is within 1e-10 of it (relative) and
    metafor's tau2 is at least 100x farther."""
    if not bad or method not in _Q_ROOT or not {c.quantity for c in bad} <= _FROM_TAU2:
        return bad
    import mpmath
    from scipy import stats

    k = ma.k
    target = (k - 1.0) if method != "PMM" else float(stats.chi2.ppf(0.5, k - 1))
    with mpmath.workdps(60):
        y = [mpmath.mpf(float(x)) for x in ma.yi]
        v = [mpmath.mpf(float(x)) for x in ma.vi]

        def q(t):
            w = [1 / (vi + t) for vi in v]
            b = sum(wi * yi for wi, yi in zip(w, y, strict=True)) / sum(w)
            return sum(wi * (yi - b) ** 2 for wi, yi in zip(w, y, strict=True)) - target

        exact = mpmath.findroot(q, mpmath.mpf(res.tau2))
        ours = abs(mpmath.mpf(res.tau2) - exact)
        theirs = abs(mpmath.mpf(float(ref["fit"]["tau2"])) - exact)
    if not (ours <= 1e-10 * abs(exact) and theirs >= 100 * max(ours, 1e-300 * abs(exact))):
        return bad
    COUNTS["metafor root less precise than ours (60-digit evidence)"] += 1
    return []


_CI_FIELDS = {"tau2_lb", "tau2_ub", "I2_lb", "I2_ub", "H2_lb", "H2_ub"}


def _q_residual(ma, tau2: float, target: float) -> float:
    from metaparity.engine.estimators import q_gen

    q, _ = q_gen(ma.yi[None, :], ma.vi[None, :], np.ones((1, ma.k)), np.array([tau2]))
    return abs(float(q[0]) - target)


def _unless_metafor_confint_is_the_imprecise_one(bad, ma, res, ref):
    """Q-profile bounds solve Q(tau2) = chi2 quantile.  metafor's own evaluation of Q carries
    ~1e-12 of rounding noise, so on small-variance data (vi ~ 1e-4) its bound can sit 1e-15
    from the root -- 1e-10 relative to a bound of 1e-6.  Evidence instead of a wider
    tolerance: a disagreement is accepted only when metafor's bound leaves a Q residual at
    least 100x larger than ours (checked on both bounds)."""
    if not bad or not {c.quantity for c in bad} <= _CI_FIELDS:
        return bad
    from scipy import stats

    ci = res.confint()
    alpha = 1 - res.level / 100
    for side, target in (("lb", stats.chi2.isf(alpha / 2, res.k - 1)),
                         ("ub", stats.chi2.ppf(alpha / 2, res.k - 1))):  # fmt: skip
        if any(c.quantity.endswith(side) for c in bad):
            ours = _q_residual(ma, getattr(ci, f"tau2_{side}"), target)
            theirs = _q_residual(ma, ref["confint"][f"tau2_{side}"], target)
            if not theirs > 100 * max(ours, 1e-300):
                return bad
    COUNTS["metafor confint bound less precise than ours (Q residual evidence)"] += 1
    return []


@pytest.mark.parametrize("measure", ["PR", "PLO", "PFT"])
@settings(**_SETTINGS)
@given(data=proportions(min_k=2, max_k=8), method=st.sampled_from(["DL", "REML", "PM", "EE"]))
def test_counts_to_pooled_estimate(metafor, measure, data, method):
    """From counts (0 and n events included) through escalc and rma on both sides."""
    yi, vi = metafor.escalc(measure, **data)
    ref = metafor.rma(yi, vi, method=method, test="z", measure=measure, ni=data["ni"])
    dat = escalc(measure, **data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = rma(data=dat, method=method)
    if not ref["ok"]:
        assert ref["error"].startswith(KNOWN_METAFOR_FAILURES), ref["error"]
        return
    bad = [c for c in compare_result(res, dict(ref, method=method)) if not c.ok]
    bad = _unless_metafor_confint_is_the_imprecise_one(bad, MetaData(yi, vi, 0.0), res, ref)
    COUNTS["counts -> rma compared"] += 1
    assert not bad, "\n".join(f"{c.quantity}: ours {c.ours!r} metafor {c.ref!r}" for c in bad)


def _check_escalc(metafor, measure, inputs, add=None):
    yi, vi = metafor.escalc(measure, add=add, **inputs)
    dat = escalc(measure, **inputs, add=add)
    np.testing.assert_array_equal(np.isfinite(dat["yi"]), np.isfinite(yi))
    ok = np.isfinite(yi)
    np.testing.assert_allclose(dat["yi"].to_numpy()[ok], yi[ok], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dat["vi"].to_numpy()[ok], vi[ok], rtol=1e-10, atol=1e-13)
    COUNTS["escalc compared"] += 1


@settings(**_SETTINGS)
@given(data=proportions(max_k=8), measure=st.sampled_from(["PR", "PLN", "PLO", "PAS", "PFT"]),
       add=st.sampled_from([None, 0.5, 0.25]))  # fmt: skip
def test_escalc_proportions(metafor, data, measure, add):
    _check_escalc(metafor, measure, data, add)


@settings(**_SETTINGS)
@given(data=two_by_two(max_k=8), measure=st.sampled_from(["OR", "RR", "RD"]))
def test_escalc_two_by_two(metafor, data, measure):
    _check_escalc(metafor, measure, data)


@settings(**_SETTINGS)
@given(data=continuous(max_k=8), measure=st.sampled_from(["MD", "SMD", "ROM"]))
def test_escalc_continuous(metafor, data, measure):
    _check_escalc(metafor, measure, data)


def test_zz_report_counts(capsys):
    """How much was compared (printed with -s; summarised in closing notes)."""
    with capsys.disabled():
        print("\ndifferential testing:", dict(sorted(COUNTS.items())))
