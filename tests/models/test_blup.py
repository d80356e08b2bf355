"""blup() and ranef() of rma fits (metafor's blup.rma.uni / ranef.rma.uni): identities of
the empirical Bayes formulas, transforms, and the fits that have no BLUPs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import metaparity as mp

BCG = pd.read_csv(Path(__file__).resolve().parents[2] / "fixtures" / "metadat" / "dat.bcg.csv")


def _fit(**kw):
    return mp.rma(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=BCG,
                  slab="study", **kw)  # fmt: skip


@pytest.mark.parametrize("kw", [{}, {"mods": "~ ablat"}, {"method": "DL", "test": "knha"},
                                {"method": "PM", "mods": "~ ablat + year", "test": "t"}])  # fmt: skip
def test_blup_is_the_fitted_value_plus_ranef(kw):
    res = _fit(**kw)
    b, u = mp.blup(res), mp.ranef(res)
    X = np.ones((res.k, 1)) if res.X is None else res.X
    fitted = X @ np.atleast_1d(res.b)
    assert np.allclose(b["pred"], fitted + u["pred"], rtol=1e-13, atol=1e-15)
    assert list(b.index) == list(BCG["study"]) and list(b.columns) == [
        "pred",
        "se",
        "pi_lb",
        "pi_ub",
    ]
    lam = res.tau2 / (res.tau2 + res.vi)
    assert np.allclose(b["pred"], lam * res.yi + (1 - lam) * fitted, rtol=1e-13)
    crit = stats.norm.isf(0.025) if res.test == "z" else stats.t.isf(0.025, res.k - res.p)
    assert np.allclose(b["pi_ub"] - b["pred"], crit * b["se"], rtol=1e-12)
    # the shrinkage: each BLUP lies between the estimate and the fitted value
    lo, hi = np.minimum(res.yi, fitted), np.maximum(res.yi, fitted)
    assert ((b["pred"] >= lo - 1e-12) & (b["pred"] <= hi + 1e-12)).all()
    assert res.blup().equals(b) and res.ranef().equals(u)


def test_equal_effects_model():
    res = _fit(method="EE")
    b, u = mp.blup(res), mp.ranef(res)
    assert np.allclose(b["pred"], res.b) and np.allclose(b["se"], res.se)
    assert (u["pred"] == 0).all() and (u["se"] == 0).all()


def test_transform_and_level():
    res = _fit()
    b = mp.blup(res, level=90)
    t = mp.blup(res, level=90, transf="exp")
    assert np.allclose(t["pred"], np.exp(b["pred"])) and t["se"].isna().all()
    assert np.allclose(t["pi_lb"], np.exp(b["pi_lb"])) and np.allclose(
        t["pi_ub"], np.exp(b["pi_ub"])
    )
    neg = mp.ranef(res, transf=lambda x: -x)  # a decreasing transform: bounds reordered
    assert (neg["pi_lb"] <= neg["pi_ub"]).all()
    assert np.allclose(b["pi_ub"] - b["pred"], stats.norm.isf(0.05) * b["se"])


def test_no_blups_for_user_weights():
    res = mp.rma([0.1, 0.4, 0.3], [0.02, 0.05, 0.03], weights=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="user weights"):
        mp.blup(res)
    with pytest.raises(TypeError, match="rma\\(\\) fit"):
        mp.blup(object())


def test_ranef_of_an_rma_mv_fit_is_its_ranef():
    d = pd.DataFrame({"yi": [0.1, 0.2, 0.9, 1.1, -0.4, -0.2], "vi": [0.02] * 6,
                      "study": [1, 1, 2, 2, 3, 3], "esid": [1, 2, 1, 2, 1, 2]})  # fmt: skip
    res = mp.rma_mv("yi", "vi", random="~ 1 | study", data=d)
    r = mp.ranef(res)
    assert set(r) == set(res.ranef()) and r["study"].equals(res.ranef()["study"])
    e = mp.ranef(res, transf="exp")
    assert r["study"]["intrcpt"].abs().min() > 0.1
    assert np.allclose(e["study"]["intrcpt"], np.exp(r["study"]["intrcpt"]))
    assert e["study"]["se"].isna().all()
