"""metaparity.simulate: seeded generation, vectorised escalc, the coverage study."""

from __future__ import annotations

import numpy as np
import pytest

from metaparity import escalc, rma_batch
from metaparity.simulate import (
    BLOCK,
    coverage_study,
    escalc_batch,
    iter_normal,
    simulate_binomial,
    simulate_normal,
)


def test_normal_is_seeded_and_blockwise_identical():
    a = simulate_normal(BLOCK + 10, 4, tau2=0.2, k_dist=(2, 4), seed=9)
    b = simulate_normal(BLOCK + 10, 4, tau2=0.2, k_dist=(2, 4), rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a[0], b[0])
    blocks = list(iter_normal(BLOCK + 10, 4, tau2=0.2, k_dist=(2, 4), seed=9))
    assert len(blocks) == 2
    np.testing.assert_array_equal(np.concatenate([y for y, _ in blocks]), a[0])
    assert not np.array_equal(simulate_normal(5, 3, seed=1)[0], simulate_normal(5, 3, seed=2)[0])


def test_normal_moments_and_ragged():
    Y, V = simulate_normal(200_000, 3, mu=0.5, tau2=0.3, vi=0.1, seed=1)
    assert abs(Y.mean() - 0.5) < 0.01 and abs(Y.var() - 0.4) < 0.01
    Y, V = simulate_normal(5000, 6, k_dist=(2, 5), seed=1)
    k = np.isfinite(Y).sum(1)
    assert k.min() == 2 and k.max() == 5 and (np.isnan(Y) == np.isnan(V)).all()
    # a padded row: studies first, NaN after
    assert all(np.isfinite(Y[i, : k[i]]).all() and np.isnan(Y[i, k[i] :]).all() for i in range(50))


def test_normal_vi_specs_and_per_row_parameters():
    Y, V = simulate_normal(3, 2, vi=lambda rng, shape: np.full(shape, 0.25), seed=0)
    assert (V == 0.25).all()
    Y, V = simulate_normal(20000, 2, vi=("loguniform", 1e-3, 1.0), seed=0)
    assert V.min() >= 1e-3 and V.max() <= 1.0 and np.median(V) < 0.1
    Y, V = simulate_normal(2, 50_000, mu=[-5.0, 5.0], tau2=[0.0, 1.0], vi=0.01, seed=0)
    assert abs(Y[0].mean() + 5) < 0.01 and abs(Y[0].var() - 0.01) < 0.001
    assert abs(Y[1].var() - 1.01) < 0.05


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(k_dist=(1, 9)), "hi <= k"),
        (dict(vi=("normal", 0.1, 1)), "uniform"),
        (dict(vi=-1.0), "> 0"),
        (dict(tau2=-0.1), "tau2"),
        (dict(mu=[1.0, 2.0]), "shape"),
    ],
)
def test_normal_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_normal(3, 4, **kwargs)


def test_binomial_counts():
    x, n = simulate_binomial(2000, 6, mu_logit=-2.0, tau2=0.0, n=(100, 100), k_dist=(3, 6), seed=4)
    ok = np.isfinite(x)
    assert ((x[ok] >= 0) & (x[ok] <= n[ok])).all() and (n[ok] == 100).all()
    p = x[ok].sum() / n[ok].sum()
    assert abs(p - 1 / (1 + np.exp(2))) < 0.005
    assert (np.isnan(x) == np.isnan(n)).all() and np.isfinite(x).sum(1).min() == 3


@pytest.mark.parametrize("measure", ["PR", "PLN", "PLO", "PAS", "PFT"])
@pytest.mark.parametrize(
    "opts", [{}, dict(add=0.5), dict(add=0.25, to="all"), dict(to="if0all"), dict(to="none")]
)
def test_escalc_batch_equals_escalc_row_by_row(measure, opts):
    x, n = simulate_binomial(40, 5, mu_logit=-2.5, tau2=1.0, n=(5, 30), k_dist=(2, 5), seed=7)
    x[0, :2] = [0, 5]
    n[0, :2] = [12, 5]  # a zero and an all-events study
    Y, V = escalc_batch(measure, x, n, **opts)
    for i in range(x.shape[0]):
        ok = np.isfinite(x[i])
        with np.errstate(divide="ignore", invalid="ignore"):
            ref = escalc(measure, xi=x[i, ok], ni=n[i, ok], **opts)
        np.testing.assert_array_equal(Y[i, ok], ref["yi"].to_numpy(), err_msg=f"row {i}")
        np.testing.assert_array_equal(V[i, ok], ref["vi"].to_numpy(), err_msg=f"row {i}")
        assert np.isnan(Y[i, ~ok]).all()


def test_escalc_batch_errors():
    with pytest.raises(ValueError, match=r"xi\[1, 0\] = 9, ni\[1, 0\] = 5"):
        escalc_batch("PR", [[1, 2], [9, 1]], [[5, 5], [5, 5]])
    with pytest.raises(ValueError, match="handles PR"):
        escalc_batch("OR", [[1]], [[2]])


def test_binomial_through_escalc_and_rma_batch():
    x, n = simulate_binomial(3000, 8, mu_logit=-1.0, tau2=0.1, n=(50, 150), seed=2)
    Y, V = escalc_batch("PLO", x, n)
    res = rma_batch(Y, V, method="REML")
    assert abs(np.median(res.b) + 1.0) < 0.05 and res.converged.all()


def test_coverage_study_small():
    tab = coverage_study(3000, ks=(5,), tau2s=(0.0, 0.2), seed=3)
    assert len(tab) == 8 and set(tab["design"]) >= {"DL", "REML + Knapp-Hartung"}
    kh = tab[(tab.test == "knha") & (tab.tau2 == 0.2)]["coverage"]
    z = tab[(tab.test == "z") & (tab.tau2 == 0.2)]["coverage"]
    assert (kh > 0.92).all() and (z < kh.min()).all()  # the known small-k undercoverage of z
