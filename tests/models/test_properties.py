"""Properties of the engine over generated data (metaparity.parity.strategies)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaparity import escalc, rma, rma_batch
from metaparity.effects.transforms import iarcsin, ilogit, ipft, ztor
from metaparity.parity.harness import ALL_METHODS
from metaparity.parity.strategies import bad_counts, batches, meta_analyses, proportions

FIELDS = "b se zval pval ci_lb ci_ub tau2 se_tau2 I2 H2 QE QEp".split()
_S = dict(deadline=None, max_examples=60)


def _fit(y, v, method, test="z"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return rma(y, v, method=method, test=test)


@settings(**_S)
@given(ma=meta_analyses(min_k=2, max_k=10), method=st.sampled_from(ALL_METHODS), data=st.data())
def test_permutation_invariance_of_all_results(ma, method, data):
    perm = data.draw(st.permutations(range(ma.k)))
    a, b = _fit(ma.yi, ma.vi, method), _fit(ma.yi[perm], ma.vi[perm], method)
    for f in FIELDS:
        np.testing.assert_allclose(getattr(b, f), getattr(a, f), rtol=1e-8, atol=1e-12, err_msg=f)


@settings(**_S)
@given(Yv=batches(max_rows=6, max_k=8), method=st.sampled_from(ALL_METHODS))
def test_batch_equals_loop(Yv, method):
    Y, V = Yv
    res = rma_batch(Y, V, method=method)
    for i in range(Y.shape[0]):
        ok = ~np.isnan(Y[i])
        one = _fit(Y[i, ok], V[i, ok], method)
        for f in FIELDS:
            np.testing.assert_allclose(getattr(res, f)[i], getattr(one, f), rtol=1e-12, atol=1e-15)


@settings(**_S)
@given(ma=meta_analyses(min_k=2, max_k=10), method=st.sampled_from(["PM", "EB", "SJIT"]))
def test_qprofile_ci_contains_the_pm_estimate(ma, method):
    r = _fit(ma.yi, ma.vi, method)
    ci = r.confint()
    assert ci.tau2_lb <= r.tau2 * (1 + 1e-9) + 1e-15
    assert r.tau2 <= ci.tau2_ub * (1 + 1e-9) + 1e-15
    assert 0 <= ci.I2_lb <= ci.I2_ub <= 100


@settings(**_S)
@given(data=proportions(max_k=6))
def test_escalc_round_trips_through_back_transforms(data):
    x, n = data["xi"], data["ni"]
    p = x / n
    inner = (x > 0) & (x < n)  # no continuity correction there
    np.testing.assert_allclose(iarcsin(escalc("PAS", xi=x, ni=n)["yi"]), p, atol=1e-12)
    np.testing.assert_allclose(ipft(escalc("PFT", xi=x, ni=n)["yi"], n), p, atol=1e-12)
    np.testing.assert_allclose(ilogit(escalc("PLO", xi=x, ni=n)["yi"])[inner], p[inner], atol=1e-12)
    np.testing.assert_allclose(np.exp(escalc("PLN", xi=x, ni=n)["yi"])[inner], p[inner], atol=1e-12)
    r = np.clip(p * 2 - 1, -0.99, 0.99)
    np.testing.assert_allclose(ztor(escalc("ZCOR", ri=r, ni=n + 4)["yi"]), r, atol=1e-12)


@settings(**_S)
@given(case=bad_counts())
def test_bad_counts_name_the_row(case):
    data, i = case
    with pytest.raises(ValueError, match=rf"row {i + 1}\b"):
        escalc("PR", **data)
