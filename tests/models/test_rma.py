"""Engine properties: one implementation (batch == loop), invariances, bounds."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from metaparity import rma, rma_batch
from metaparity._core.names import METHODS, TESTS
from metaparity.parity.strategies import meta_analyses

ITER_OK = [m for m in METHODS if m != "GENQ"]
FIELDS = "b se zval pval ci_lb ci_ub tau2 se_tau2 I2 H2 QE QEp".split()


def meta_data(min_k=2, max_k=12):
    """(yi, vi) from the public strategy (metaparity.parity.strategies.meta_analyses)."""
    return meta_analyses(min_k=min_k, max_k=max_k).map(lambda ma: (ma.yi, ma.vi))


def _single(y, v, method, test="z"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return rma(y, v, method=method, test=test)


@pytest.mark.parametrize("method", ITER_OK)
@pytest.mark.parametrize("test", TESTS)
def test_batch_equals_loop_ragged(method, test):
    rng = np.random.default_rng(1)
    sets = [(rng.normal(0, 0.5, k), rng.uniform(0.01, 0.3, k)) for k in (2, 3, 5, 8, 13, 1)]
    K = max(len(y) for y, _ in sets)
    Y = np.full((len(sets), K), np.nan)
    V = np.full((len(sets), K), np.nan)
    for i, (y, v) in enumerate(sets):
        Y[i, : len(y)], V[i, : len(v)] = y, v
    # the last set has k = 1: metafor switches to test "z" there; so does the batch
    batch = rma_batch(Y, V, method=method, test=test)
    for i, (y, v) in enumerate(sets):
        one = _single(y, v, method, test)
        for f in FIELDS:
            a, b = getattr(batch, f)[i], getattr(one, f)
            # same code path; padding only changes the order of floating-point sums
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15, err_msg=f"{f} row {i}")
        assert batch.k[i] == len(y)
        assert batch.converged[i]


def test_batch_keeps_leading_shape():
    Y = np.random.default_rng(2).normal(size=(3, 4, 6))
    V = np.full((3, 4, 6), 0.1)
    res = rma_batch(Y, V, method="DL")
    assert res.b.shape == (3, 4) and res.tau2.shape == (3, 4)
    assert res.to_frame().shape[0] == 12


@settings(max_examples=60, deadline=None)
@given(meta_data(), st.sampled_from(ITER_OK), st.floats(-5, 5))
def test_shift_equivariance(data, method, c):
    y, v = data
    a, b = _single(y, v, method), _single(y + c, v, method)
    assert b.b == pytest.approx(a.b + c, abs=1e-8)
    assert b.tau2 == pytest.approx(a.tau2, rel=1e-7, abs=1e-9)
    assert b.QE == pytest.approx(a.QE, rel=1e-7, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(meta_data(), st.sampled_from(ITER_OK), st.floats(0.1, 10))
def test_scale_equivariance(data, method, c):
    y, v = data
    a, b = _single(y, v, method), _single(c * y, c * c * v, method)
    assert b.b == pytest.approx(c * a.b, rel=1e-7, abs=1e-9)
    assert b.tau2 == pytest.approx(c * c * a.tau2, rel=1e-6, abs=1e-9)
    assert b.I2 == pytest.approx(a.I2, rel=1e-6, abs=1e-7)


@settings(max_examples=60, deadline=None)
@given(meta_data(), st.sampled_from(ITER_OK), st.randoms())
def test_permutation_invariance(data, method, rnd):
    y, v = data
    idx = list(range(len(y)))
    rnd.shuffle(idx)
    a, b = _single(y, v, method), _single(y[idx], v[idx], method)
    for f in ("b", "tau2", "QE", "I2", "se"):
        assert getattr(b, f) == pytest.approx(getattr(a, f), rel=1e-8, abs=1e-10)


@settings(max_examples=80, deadline=None)
@given(meta_data(), st.sampled_from(ITER_OK), st.sampled_from(TESTS))
@example((np.array([0.1, 0.1]), np.array([0.01, 0.02])), "SJ", "knha")
def test_bounds_and_duality(data, method, test):
    y, v = data
    r = _single(y, v, method, test)
    assert r.tau2 >= 0
    assert 0 <= r.I2 <= 100
    assert r.QEp >= 0 and r.QEp <= 1
    # p-value / CI duality
    if np.isfinite(r.pval) and abs(r.pval - 0.05) > 1e-9:
        assert (r.pval < 0.05) == (r.ci_lb > 0 or r.ci_ub < 0)
    p = r.predict()
    assert p.pi_lb <= p.ci_lb + 1e-12 and p.pi_ub >= p.ci_ub - 1e-12


@settings(max_examples=60, deadline=None)
@given(meta_data())
def test_dl_equals_ee_when_q_small(data):
    y, v = data
    dl, ee = _single(y, v, "DL"), _single(y, v, "EE")
    if ee.QE <= len(y) - 1:
        assert dl.tau2 == 0
        assert dl.b == pytest.approx(ee.b, rel=1e-12, abs=1e-14)


def test_k1_and_k2_behaviour():
    with pytest.warns(UserWarning, match='test="z" since k=1'):
        r = rma([0.3], [0.04], method="REML", test="knha")
    assert r.test == "z" and r.tau2 == 0 and r.QE == 0 and r.QEp == 1
    assert r.I2 == 0 and r.H2 == 1 and np.isnan(r.se_tau2)
    assert r.se == pytest.approx(0.2)
    r2 = rma([0.1, 0.5], [0.04, 0.05], method="REML")
    assert r2.tau2 == pytest.approx(
        0.035, rel=1e-10
    )  # metafor 3.8: 0.035 (R call in test_goldens grid)


def test_summary_looks_like_metafor():
    r = rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL", slab=list("abcd"))
    s = r.summary()
    assert "Random-Effects Model (k = 4; tau^2 estimator: DL)" in s
    assert "Test for Heterogeneity:" in s and "estimate" in s
    assert set(r.to_dict()) >= {"b", "se", "tau2", "I2", "QE", "k", "method"}


def test_confint_rejects_ee():
    r = rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE")
    with pytest.raises(ValueError, match="random-effects"):
        r.confint()


def test_predict_back_transforms():
    from metaparity import escalc

    dat = escalc("PFT", xi=[5, 10, 20], ni=[30, 40, 50])
    r = rma(data=dat, method="DL")
    p = r.predict(transf=True)
    assert 0 < p.ci_lb < p.pred < p.ci_ub < 1 and np.isnan(p.se)
    assert p.transf == "ipft.hm"
    dat = escalc("PLO", xi=[5, 10, 20], ni=[30, 40, 50])
    p = rma(data=dat, method="DL").predict(transf="ilogit")
    assert 0 < p.pi_lb < p.pred < p.pi_ub < 1


def test_rma_reads_escalc_data_and_columns():
    import pandas as pd

    from metaparity import escalc

    d = pd.DataFrame({"study": ["A", "B", "C"], "x": [5, 10, 20], "n": [30, 40, 50]})
    dat = escalc("PLO", xi="x", ni="n", data=d, slab="study")
    assert list(dat.columns) == ["study", "x", "n", "yi", "vi"]
    r1 = rma(data=dat, method="DL", slab="study")
    r2 = rma("yi", "vi", data=dat, method="DL")
    r3 = rma(dat["yi"], sei=np.sqrt(dat["vi"]), method="DL")
    assert r1.b == r2.b == pytest.approx(r3.b, rel=1e-15)
    assert r1.slab == ("A", "B", "C") and r1.measure == "PLO"
    # the measure travels with escalc output: transf=True picks its back-transform
    assert r1.predict(transf=True).pred == pytest.approx(r1.predict(transf="ilogit").pred)


def test_ipft_hm_needs_sizes_or_targs():
    from metaparity import escalc

    dat = escalc("PFT", xi=[5, 10, 20], ni=[30, 40, 50])
    bare = rma(dat["yi"], dat["vi"], method="DL")
    with pytest.raises(ValueError, match="ipft.hm' needs the study sizes"):
        bare.predict(transf="ipft.hm")
    p = bare.predict(transf="ipft.hm", targs={"ni": [30, 40, 50]})
    assert p.pred == pytest.approx(rma(data=dat, method="DL").predict(transf=True).pred)


def test_ml_local_maximum_below_zero_boundary_is_set_to_zero():
    """metafor 3.8: 'Fisher scoring algorithm may have gotten stuck at a local maximum.
    Setting tau^2 = 0.' (rma(yi, vi, method="ML") on these data gives tau2 = 0)."""
    yi = [-0.53871232305966976, 0.066764550439771531, 0.94176453356444179, 0.68131406649966753,
          0.42750385138040681, 0.30033964093005883, 0.54130283828350334, -0.27684793855374917,
          -0.31208623278591358, 0.35544736924490222]  # fmt: skip
    vi = [0.14089789595026617, 0.11100235758391963, 0.15109429475359443, 0.18054406557035471,
          0.096985930801406772, 0.016228192925132782, 0.15571080039929083, 0.09721281762710772,
          0.15868854726177811, 0.17217639485648653]  # fmt: skip
    with pytest.warns(UserWarning, match="local maximum"):
        r = rma(yi, vi, method="ML")
    assert r.tau2 == 0
    assert rma_batch([yi], [vi], method="ML").tau2[0] == 0


def test_two_sided_t_pvalues_are_accurate_everywhere():
    from scipy import stats

    from metaparity._core.distributions import t_two_sided as _t_two_sided

    # df = 1 is the Cauchy distribution: p = 1 - 2 atan(|t|) / pi, exactly
    for t in (3.6e-8, 1e-5, 0.3, 3.0, 30.0, 1e6):
        exact = 1 - 2 * np.arctan(t) / np.pi if t < 1 else 2 * np.arctan(1 / t) / np.pi
        assert _t_two_sided(np.array([t]), np.array([1.0]))[0] == pytest.approx(exact, rel=1e-14)
    # tails for larger df agree with scipy's survival function (accurate there)
    for df in (2.0, 5.0, 101.0):
        for t in (0.5, 3.0, 9.5, 40.0):
            ref = 2 * stats.t.sf(t, df)
            assert _t_two_sided(np.array([t]), np.array([df]))[0] == pytest.approx(ref, rel=1e-12)
