"""rma_glmm_cm (rma.glmm measure="OR", model="CM.EL"): likelihood, optimum, live parity."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from metaparity.models.glmm_cm_lik import Tables, cm_study_terms, fnc_moments
from metaparity.models.glmm_conditional import _grad_hess, _loglik, rma_glmm_cm
from metaparity.parity.compare import compare_glmm_cm, compare_glmm_cm_al

ROOT = Path(__file__).resolve().parents[2]
BCG = pd.read_csv(ROOT / "fixtures/metadat/dat.bcg.csv")
# dat.nielweise2007 (metadat): zero cells and one double-zero table (Yucel 2004)
NIEL = dict(
    ai=[0, 1, 2, 0, 5, 1, 1, 1, 1, 1, 0, 0, 3, 6, 0, 0, 1, 4],
    n1i=[116, 44, 208, 130, 151, 98, 174, 74, 97, 113, 66, 70, 188, 187, 118, 252, 345, 64],
    ci=[3, 3, 9, 7, 6, 4, 3, 2, 19, 2, 7, 1, 5, 11, 0, 1, 3, 1],
    n2i=[117, 35, 195, 136, 157, 139, 177, 39, 103, 122, 64, 58, 175, 180, 105, 262, 362, 69],
)


def _cells(d):
    a, c = np.asarray(d["ai"], float), np.asarray(d["ci"], float)
    return a, np.asarray(d["n1i"], float) - a, c, np.asarray(d["n2i"], float) - c


def _bcg_tab():
    return Tables(*(BCG[c].to_numpy(float) for c in ("tpos", "tneg", "cpos", "cneg")))


def test_pmf_is_fishers_noncentral_hypergeometric():
    tab = Tables(*(np.array([v]) for v in (3.0, 7.0, 5.0, 4.0)))
    th = 0.7
    n1, n2, m1 = 10, 9, 8
    xs = np.arange(max(0, m1 - n2), min(n1, m1) + 1)
    w = special.comb(n1, xs) * special.comb(n2, m1 - xs) * np.exp(xs * th)
    lf, mean, var = fnc_moments(tab, np.array([th]))
    assert lf[0] == pytest.approx(math.log(w[xs == 3][0] / w.sum()), rel=1e-14)
    assert mean[0] == pytest.approx((xs * w).sum() / w.sum(), rel=1e-14)
    assert var[0] == pytest.approx((xs**2 * w).sum() / w.sum() - mean[0] ** 2, rel=1e-12)


def test_quadrature_converges_and_matches_an_exact_reference():
    tab = _bcg_tab()
    eta, tau = np.full(tab.k, -0.753810501791804), math.sqrt(0.311634869302924)
    vals = [cm_study_terms(tab, eta, tau, q=q).sum() for q in (20, 40, 80, 160)]
    assert max(vals) - min(vals) < 1e-13
    # an independent reference: R, exact pmf (lchoose, log-sum-exp) on a trapezoid grid of
    # step tau/400 over +-14 tau (r_scripts-free; see docs/glmm.md): -48.374791238469363
    assert vals[1] == pytest.approx(-48.374791238469363, abs=2e-12)


def test_gradient_and_hessian_are_the_derivatives():
    tab = _bcg_tab()
    X = np.column_stack([np.ones(tab.k), BCG["ablat"].to_numpy(float)])
    th = np.array([0.3, -0.03, 0.2])
    _, g, H = _grad_hess(tab, X, th)
    h = 1e-5
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        fd = (_loglik(tab, X, th + e) - _loglik(tab, X, th - e)) / (2 * h)
        assert g[j] == pytest.approx(fd, rel=1e-7, abs=1e-8)
        gd = (_grad_hess(tab, X, th + e)[1] - _grad_hess(tab, X, th - e)[1]) / (2 * h)
        np.testing.assert_allclose(H[:, j], gd, rtol=1e-6, atol=1e-6)


def test_optimum_is_stationary_and_double_zeros_are_dropped():
    with pytest.warns(UserWarning, match="with NAs omitted from model fitting"):
        res = rma_glmm_cm(**NIEL)
    assert res.k == 17 and res.dropped == ("study in row 15",)
    a, b, c, d = (v[np.arange(18) != 14] for v in _cells(NIEL))
    tab = Tables(a, b, c, d)
    X = np.ones((17, 1))
    _, g, H = _grad_hess(tab, X, np.array([res.b, res.tau]))
    assert np.abs(g).max() < 1e-9 and np.all(np.linalg.eigvalsh(H) < 0)
    # metafor 3.8-1 (tight control): b, tau2, logLik on dat.nielweise2007
    assert res.b == pytest.approx(-1.35315812534829, abs=1e-9)
    assert res.tau2 == pytest.approx(0.693457838240179, rel=1e-6)
    assert res.logLik >= -24.9444566333869 - 1e-10


def _assert_ok(comps):
    bad = [f"{c.quantity}: ours={c.ours!r} metafor={c.ref!r}" for c in comps if not c.ok]
    assert not bad, "\n".join(bad)


def check_against_metafor(ours, ref, mods=None):
    """All of metafor's fields, QE_Wld (direct and numDeriv), the likelihood at metafor's
    optimum and our optimum not below it: metaparity.parity.compare.compare_glmm_cm."""
    cells = {q: ref[q] for q in ("ai", "bi", "ci", "di")}
    _assert_ok(compare_glmm_cm(ours, ref, **cells, mods=mods))


def _live(metafor, a, b, c, d, mods=None):
    ref = metafor.call("mp_rma_glmm_cm", ai=list(a), bi=list(b), ci=list(c), di=list(d),
                       mods=mods)  # fmt: skip
    if not ref["ok"]:
        pytest.skip(f"metafor: {ref['error']}")
    return ref | dict(ai=a, bi=b, ci=c, di=d)


NW = pd.read_csv(ROOT / "fixtures/metadat/dat.nielweise2007.csv")


@pytest.mark.r
@pytest.mark.parametrize("with_year", [False, True], ids=["intercept", "year"])
def test_live_nielweise2007_zero_and_double_zero_cells(metafor, with_year):
    """~40 s (intercept) / ~2 min (year) in metafor with tight integrate(): slow by nature."""
    a, b, c, d = _cells(NW)
    year = NW["year"].to_numpy(float)
    mods = {"year": list(year)} if with_year else None
    ref = _live(metafor, a, b, c, d, mods)
    assert any(w.endswith("with NAs omitted from model fitting.") for w in ref["warnings"])
    with pytest.warns(UserWarning, match="with NAs omitted from model fitting"):
        ours = rma_glmm_cm(a, b, c, d, mods=year if with_year else None)
    check_against_metafor(ours, ref, year if with_year else None)


HART = pd.read_csv(ROOT / "fixtures/metadat/dat.hart1999.csv")
NW8 = pd.read_csv(ROOT / "fixtures/metadat/dat.nielweise2008.csv")


@pytest.mark.r
@pytest.mark.parametrize("case", ["nielweise2007", "nielweise2007~year", "bcg", "bcg~ablat"])
def test_live_cm_al_odds_ratio(metafor, case):
    name, _, mod = case.partition("~")
    if name == "bcg":
        a, b, c, d = (BCG[v].to_numpy(float) for v in ("tpos", "tneg", "cpos", "cneg"))
        df = BCG
    else:
        a, b, c, d = _cells(NW)
        df = NW
    x = df[mod].to_numpy(float) if mod else None
    ref = metafor.call("mp_rma_glmm_cm_al", measure="OR", ai=list(a), bi=list(b), ci=list(c),
                       di=list(d), mods=None if x is None else {mod: list(x)})  # fmt: skip
    if not ref["ok"]:
        pytest.skip(f"metafor: {ref['error']}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = rma_glmm_cm(a, b, c, d, model="CM.AL", mods=x)
    _assert_ok(compare_glmm_cm_al(ours, ref))


#: person-time with zero counts in one group and a double zero (dropped)
SYNTH_PT = pd.DataFrame(dict(x1i=[0, 3, 0, 5, 9, 14, 2], t1i=[100, 200, 150, 120, 300, 410, 90],
                             x2i=[2, 1, 0, 4, 12, 22, 7],
                             t2i=[110, 190, 160, 100, 280, 395, 105]))  # fmt: skip


@pytest.mark.r
@pytest.mark.parametrize("case", ["hart1999", "nielweise2008", "nielweise2008~year", "synthetic"])
def test_live_irr_conditional(metafor, case):
    name, _, mod = case.partition("~")
    df = {"hart1999": HART, "synthetic": SYNTH_PT}.get(name, NW8)
    cols = {v: df[v].to_numpy(float) for v in ("x1i", "t1i", "x2i", "t2i")}
    x = df[mod].to_numpy(float) if mod else None
    ref = metafor.call("mp_rma_glmm_cm_al", measure="IRR", **{k: list(v) for k, v in cols.items()},
                       mods=None if x is None else {mod: list(x)})  # fmt: skip
    if not ref["ok"]:
        pytest.skip(f"metafor: {ref['error']}")
    ours = rma_glmm_cm(**cols, measure="IRR", mods=x)
    _assert_ok(compare_glmm_cm_al(ours, ref))


def test_missing_tables_and_double_zeros_are_omitted_with_metafors_warning():
    y = pd.read_csv(ROOT / "fixtures/metadat/dat.yusuf1985.csv")
    y = y[y["table"] == "12b"].reset_index(drop=True)
    with pytest.warns(UserWarning, match="with NAs omitted from model fitting."):
        res = rma_glmm_cm("ai", n1i="n1i", ci="ci", n2i="n2i", data=y, model="CM.AL")
    # Reynolds (0/39 vs 0/39) and the two tables without counts; metafor: k = 13, tau2 = 0
    assert res.k == 13 and len(res.dropped) == 3 and res.tau2 == 0.0
    assert res.b == pytest.approx(-0.12086269077461828, abs=1e-8)  # metafor 3.8-1


def test_summary_is_laid_out_like_metafor():
    # metafor 3.8-1 print() of the same fit: the heading, model type and the Wld/LRT lines
    res = rma_glmm_cm([4, 6, 3, 62, 33, 180], [119, 300, 228, 13536, 5036, 1361],
                      [11, 29, 11, 248, 47, 372], [128, 274, 209, 12619, 5761, 1079])  # fmt: skip
    text = res.summary()
    for line in (
        "Random-Effects Model (k = 6; tau^2 estimator: ML)",
        "Model Type: Conditional Model with Exact Likelihood",
        "tau^2 (estimated amount of total heterogeneity): 0.1751 (SE = 0.1489)",
        "tau (square root of estimated tau^2 value):      0.4184",
        "I^2 (total heterogeneity / total variability):   78.8909%",
        "H^2 (total variability / sampling variability):  4.7373",
        # metafor prints 24.3611 at its default control: numDeriv r = 16 on the saturated
        # model (docs/glmm.md); the exact Wald statistic is 24.3644
        "Wld(df = 5) = 24.3644, p-val = 0.0002",
        "LRT(df = 5) = 24.2975, p-val = 0.0002",
    ):
        assert line in text, (line, text)
