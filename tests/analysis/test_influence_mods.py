"""Case diagnostics of meta-regressions (influence, rstudent, rstandard, hatvalues,
cooks_distance, dfbetas, baujat): live against metafor on four data sets with continuous and
categorical moderators and an interaction, the deleted fits against refits, and bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp
from metaparity.analysis.diagnostics import (
    baujat,
    cooks_distance,
    cumul,
    dfbetas,
    hatvalues,
    influence,
    leave1out,
    rstandard,
    rstudent,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metareg_cases import INFLUENCE as CASES  # noqa: E402
from metareg_cases import quiet  # noqa: E402
from predict_cases import _bcg  # noqa: E402


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_case_diagnostics_agree_with_metafor(metafor, name):
    from metaparity.parity.influence_uni import compare_influence_uni, metafor_influence_uni

    fit, btt = CASES[name]
    res = quiet(fit)
    ref = metafor_influence_uni(res, btt, bridge=metafor)
    assert ref["ok"], ref.get("error")
    bad = [c for c in compare_influence_uni(res, ref, btt) if not c.ok]
    assert not bad, "\n".join(f"{c.quantity}: {c.ours!r} vs {c.ref!r}" for c in bad[:5])


def test_deleted_fit_is_the_refit_without_the_study():
    res = quiet(lambda: _bcg("~ ablat + I(year - 1960)", method="DL", test="knha"))
    inf, rs = influence(res), rstudent(res)
    X, y, v = np.asarray(res.X), np.asarray(res.yi), np.asarray(res.vi)
    for i in (0, 5, 12):
        keep = np.arange(res.k) != i
        ri = quiet(lambda keep=keep: mp.rma(y[keep], v[keep], mods=X[keep][:, 1:],
                                            method="DL", test="knha"))  # fmt: skip
        assert inf.tau2_del[i] == pytest.approx(ri.tau2, rel=1e-12)
        assert inf.QE_del[i] == pytest.approx(ri.QE, rel=1e-12)
        pred = X[i] @ np.asarray(ri.b)
        assert rs.resid[i] == pytest.approx(y[i] - pred, rel=1e-12)
        s2 = (np.asarray(ri.vb) / np.linalg.inv(
            X[keep].T @ (X[keep] / (v[keep] + ri.tau2)[:, None])))[0, 0]  # fmt: skip
        se = np.sqrt(s2 * (v[i] + ri.tau2) + X[i] @ np.asarray(ri.vb) @ X[i])
        assert rs.se[i] == pytest.approx(se, rel=1e-12)


def test_hat_values_sum_to_p_and_the_extractors_agree():
    res = quiet(lambda: _bcg("~ ablat * alloc"))
    h = hatvalues(res)
    assert h.sum() == pytest.approx(res.p, rel=1e-12)
    inf = influence(res)
    np.testing.assert_array_equal(h, inf.hat)
    np.testing.assert_array_equal(cooks_distance(res), inf.cook_d)
    d = dfbetas(res)
    assert list(d.columns) == list(res.coef_names) and d.shape == (res.k, res.p)
    assert "dfbs" not in inf.to_frame().columns
    assert list(inf.to_frame().columns)[-1] == "inf"


def test_a_study_alone_in_its_level_has_no_deleted_fit():
    # ~ ablat * alloc: studies 5 and 6 (hat 1) are the only ones to pin their level's slope
    res = quiet(lambda: _bcg("~ ablat * alloc"))
    inf = influence(res)
    gone = np.isnan(inf.tau2_del)
    assert gone.sum() == 2 and np.allclose(inf.hat[gone], 1.0, rtol=0, atol=1e-12)
    assert np.isnan(rstudent(res).z[gone]).all() and not inf.inf[gone].any()
    assert np.isnan(dfbetas(res).to_numpy()[gone]).all()
    assert (rstandard(res).resid[gone] == 0).all()  # fitted exactly: 0, as metafor


def test_no_degrees_of_freedom_left_is_nan_but_ee_refits():
    sub = np.arange(13) < 4
    reml = quiet(lambda: _bcg("~ ablat + I(year - 1960)", subset=sub))
    assert np.isnan(influence(reml).tau2_del).all()
    ee = quiet(lambda: _bcg("~ ablat + I(year - 1960)", subset=sub, method="EE"))
    assert np.isfinite(influence(ee).cook_d).all()


def test_baujat_of_a_meta_regression_uses_the_fitted_values():
    res = quiet(lambda: _bcg("~ ablat", method="EE"))
    bj = baujat(res)
    e = np.asarray(res.yi) - np.asarray(res.X) @ np.asarray(res.b)
    np.testing.assert_allclose(bj.x, e**2 / np.asarray(res.vi), rtol=1e-12)
    assert bj.x.sum() == pytest.approx(res.QE, rel=1e-12)  # EE: the contributions to QE


def test_leave1out_and_cumul_refuse_meta_regressions_as_metafor():
    res = quiet(lambda: _bcg("~ ablat"))
    for fn in (leave1out, cumul):
        with pytest.raises(TypeError, match="only applicable to models without moderators"):
            fn(res)


def test_bad_input():
    res = quiet(lambda: _bcg("~ ablat + alloc"))
    with pytest.raises(ValueError, match="out of range"):
        influence(res, btt=[9])
    with pytest.raises(ValueError, match="not a coefficient"):
        influence(res, btt="year")
    w = quiet(lambda: _bcg("~ ablat", weights=np.arange(1.0, 14.0)))
    with pytest.raises(NotImplementedError, match="user weights"):
        influence(w)
    with pytest.raises(TypeError, match="metaparity.rma"):
        hatvalues("not a model")  # type: ignore[arg-type]
