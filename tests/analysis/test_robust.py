"""robust(): cluster-robust inference (metafor::robust, CR0/CR1/Stata adjustments) for rma,
rma_mods and rma_mv fits -- properties without R, and live against metafor."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp
from metaparity.parity.mv import failures

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mv_cases import case_args, konstantopoulos  # noqa: E402
from mv_tools_cases import TOOLS  # noqa: E402


def _mv(name):
    a = case_args(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mp.rma_mv(a.pop("yi", "yi"), a.pop("V"), **a)


def test_adjustments_are_the_documented_factors():
    res = _mv("konstantopoulos2011 ~1|district/school")
    r0 = mp.robust(res, "district", adjust=False)
    r1 = mp.robust(res, "district")
    s1 = mp.robust(res, "district", adjust="Stata1")
    s2 = mp.robust(res, "district", adjust="Stata2")
    n, k, p = 11, 56, 1
    assert (r1.n, r1.dfs, r1.vbest, r0.vbest) == (n, n - p, "CR1", "CR0")
    np.testing.assert_allclose(r1.vb, r0.vb * n / (n - p), rtol=1e-14)
    np.testing.assert_allclose(s1.vb, r0.vb * n / (n - 1) * (k - 1) / (k - p), rtol=1e-14)
    np.testing.assert_allclose(s2.vb, r0.vb * n / (n - 1), rtol=1e-14)
    np.testing.assert_array_equal(r1.b, res.b)


def test_cluster_by_values_or_by_grouping_column():
    res = _mv("konstantopoulos2011 ~1|district/school")
    a = mp.robust(res, "district")
    b = mp.robust(res, konstantopoulos()["district"].to_numpy())
    np.testing.assert_allclose(a.vb, b.vb, rtol=1e-15)


def test_one_cluster_per_study_equal_effects_is_the_hc0_sandwich():
    y = np.array([0.1, 0.3, 0.2, 0.5, 0.4, 0.0])
    v = np.array([0.02, 0.03, 0.01, 0.04, 0.02, 0.05])
    res = mp.rma(y, v, method="EE")
    rob = mp.robust(res, np.arange(6), adjust=False)
    w = 1 / v
    b = np.sum(w * y) / w.sum()
    assert rob.vb[0, 0] == pytest.approx(np.sum(w**2 * (y - b) ** 2) / w.sum() ** 2, rel=1e-13)
    assert rob.pval[0] == pytest.approx(2 * __import__("scipy").stats.t.sf(abs(rob.zval[0]), 5))


def test_bad_clusters_are_clear_errors():
    res = _mv("konstantopoulos2011 ~1|district/school")
    with pytest.raises(ValueError, match="cluster has 3 values but the model has 56 estimates"):
        mp.robust(res, [1, 2, 3])
    with pytest.raises(ValueError, match="needs more clusters than coefficients"):
        mp.robust(res, np.ones(56))
    with pytest.raises(ValueError, match="cluster='nope'"):
        mp.robust(res, "nope")
    with pytest.raises(ValueError, match="adjust='HC3'"):
        mp.robust(res, "district", adjust="HC3")
    with pytest.raises(TypeError, match="robust\\(\\) takes a fit"):
        mp.robust(object(), [1, 2])


@pytest.mark.r
@pytest.mark.parametrize("name", [n for n in TOOLS if n.startswith("robust | ")])
def test_robust_agrees_with_metafor(metafor, name):
    """CR1, CR0 and the Stata adjustments for rma_mv (6 models) and rma fits
    (tests/mv_tools_cases.py; replayed from goldens in test_goldens_mv_tools.py)."""
    assert not failures(TOOLS[name](metafor))


# --------------------------------------------------------------------- clubSandwich (CR2)
def test_cr2_one_cluster_per_estimate_equal_effects_is_hc2():
    """With one estimate per cluster and a known working model, CR2 is HC2: the squared
    residuals divided by 1 - h_ii, weighted."""
    y = np.array([0.1, 0.3, 0.2, 0.5, 0.4, 0.0, 0.25])
    v = np.array([0.02, 0.03, 0.01, 0.04, 0.02, 0.05, 0.03])
    res = mp.rma(y, v, method="EE")
    rob = mp.robust(res, np.arange(7), clubSandwich=True)
    w = 1 / v
    b = np.sum(w * y) / w.sum()
    h = w / w.sum()
    assert rob.vb[0, 0] == pytest.approx(np.sum(w**2 * (y - b) ** 2 / (1 - h)) / w.sum() ** 2,
                                         rel=1e-12)  # fmt: skip
    assert rob.vbest == "CR2" and rob.ddf.shape == (1,) and 1 < rob.ddf[0] < 6


def test_cr2_refuses_what_clubsandwich_refuses():
    with pytest.raises(ValueError, match="known correlation matrices"):
        mp.robust(_mv("phylo synthetic R"), "species", clubSandwich=True)
    with pytest.raises(ValueError, match="not nested within the clusters"):
        mp.robust(_mv("konstantopoulos2011 ~1|district/school"), konstantopoulos()["year"],
                  clubSandwich=True)  # fmt: skip


@pytest.mark.r
@pytest.mark.parametrize("name", [n for n in TOOLS if n.startswith("robust CR2 | ")])
def test_cr2_agrees_with_metafor_and_clubsandwich(metafor, name):
    """metafor's robust(clubSandwich=TRUE) and clubSandwich's vcovCR/coef_test/Wald_test
    called directly (ref['club']), for 6 rma_mv models and 6 rma fits."""
    assert not failures(TOOLS[name](metafor))
