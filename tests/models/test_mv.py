"""rma_mv without R: the likelihood's exact gradient, reductions to rma(), invariances,
fixed components, and bad input.  Live parity: tests/parity/test_mv_live.py."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaparity as mp
from metaparity.models._mv_fit import MvProblem

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mv_cases import CASES, case_args, konstantopoulos  # noqa: E402


def _fit(name, **over):
    a = case_args(name) | over
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mp.rma_mv(a.pop("yi", "yi"), a.pop("V"), **a)


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_is_exact(name):
    """The analytic gradient against central differences at a point off the optimum."""
    res = _fit(name)
    prob = res._problem
    rng = np.random.default_rng(1)
    from metaparity.models.mv import _theta_for

    theta = _theta_for(prob, res, {q: None for q in ("sigma2", "tau2", "rho", "gamma2", "phi")})
    lo = np.array([-np.inf if b[0] is None else b[0] for b in prob.bounds()])
    hi = np.array([np.inf if b[1] is None else b[1] for b in prob.bounds()])
    theta = np.clip(theta * (1 + 0.2 * rng.uniform(-1, 1, theta.size)) + 0.01, lo + 0.02, hi - 0.02)
    g = prob.evaluate(theta).grad
    for i in range(theta.size):
        h = 1e-6 * max(1.0, abs(theta[i]))
        tp, tm = theta.copy(), theta.copy()
        tp[i] += h
        tm[i] -= h
        fd = (prob.evaluate(tp, grad=False).ll - prob.evaluate(tm, grad=False).ll) / (2 * h)
        assert g[i] == pytest.approx(fd, rel=1e-5, abs=1e-6), (i, prob.bounds()[i])


@pytest.mark.parametrize("name", list(CASES))
def test_converged_to_a_stationary_point(name):
    res = _fit(name)
    assert res.converged and res.grad_max < 1e-6 * max(1, abs(res.logLik))
    # the optimum is not below the start or nearby points
    prob = res._problem
    from metaparity.models.mv import _theta_for

    theta = _theta_for(prob, res, {q: None for q in ("sigma2", "tau2", "rho", "gamma2", "phi")})
    assert prob.evaluate(theta, grad=False).ll == pytest.approx(res.logLik, abs=1e-12)
    assert prob.evaluate(prob.start(), grad=False).ll <= res.logLik + 1e-12


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_one_level_per_estimate_is_rma(method):
    """``~ 1 | id`` with one estimate per id is rma.uni's random-effects model."""
    d = pd.read_csv(Path(__file__).resolve().parents[2] / "fixtures/metadat/dat.bcg.csv")
    es = mp.escalc("RR", ai=d.tpos, bi=d.tneg, ci=d.cpos, di=d.cneg)
    d = d.assign(yi=es["yi"].to_numpy(), vi=es["vi"].to_numpy(), id=np.arange(len(d)))
    mv = mp.rma_mv("yi", "vi", random="~ 1 | id", data=d, method=method)
    uni = mp.rma(d.yi, d.vi, method=method)
    assert mv.sigma2[0] == pytest.approx(uni.tau2, rel=1e-9)
    assert mv.b[0] == pytest.approx(uni.b, rel=1e-10)
    assert mv.se[0] == pytest.approx(uni.se, rel=1e-9)
    assert mv.QE == pytest.approx(uni.QE, rel=1e-12)


def test_nesting_is_the_two_single_terms():
    d = konstantopoulos()
    a = mp.rma_mv("yi", "vi", random="~ 1 | district/school", data=d)
    b = mp.rma_mv("yi", "vi", random=["~ 1 | district", "~ 1 | study"], data=d)
    assert a.s_names == ("district", "district/school")
    np.testing.assert_allclose(a.sigma2, b.sigma2, rtol=1e-9)
    assert a.logLik == pytest.approx(b.logLik, abs=1e-12)


def test_variance_vector_equals_diagonal_matrix_and_row_order_is_irrelevant():
    d = konstantopoulos()
    a = mp.rma_mv("yi", "vi", random="~ 1 | district/school", data=d)
    b = mp.rma_mv("yi", np.diag(d.vi), random="~ 1 | district/school", data=d)
    perm = np.random.default_rng(3).permutation(len(d))
    c = mp.rma_mv("yi", "vi", random="~ 1 | district/school", data=d.iloc[perm])
    for other in (b, c):
        np.testing.assert_allclose(other.sigma2, a.sigma2, rtol=1e-9)
        np.testing.assert_allclose(other.b, a.b, rtol=1e-10)
        assert other.logLik == pytest.approx(a.logLik, abs=1e-11)


def test_shift_and_scale_equivariance():
    d = konstantopoulos()
    a = mp.rma_mv("yi", "vi", random="~ 1 | district/school", data=d)
    s = mp.rma_mv(d.yi + 3.0, "vi", random="~ 1 | district/school", data=d)
    c = mp.rma_mv(2.0 * d.yi, 4.0 * d.vi, random="~ 1 | district/school", data=d)
    assert s.b[0] == pytest.approx(a.b[0] + 3.0, rel=1e-10)
    np.testing.assert_allclose(s.sigma2, a.sigma2, rtol=1e-9)
    assert c.b[0] == pytest.approx(2.0 * a.b[0], rel=1e-10)
    np.testing.assert_allclose(c.sigma2, 4.0 * a.sigma2, rtol=1e-9)


def test_all_components_fixed_is_the_likelihood_there():
    d = konstantopoulos()
    a = mp.rma_mv("yi", "vi", random="~ 1 | district/school", data=d)
    f = mp.rma_mv("yi", "vi", random="~ 1 | district/school", data=d, sigma2=[0.05, 0.03])
    np.testing.assert_array_equal(f.sigma2, [0.05, 0.03])
    assert f.parms == 1 and a.parms == 3
    assert f.logLik == pytest.approx(a.loglik_at(sigma2=[0.05, 0.03]), abs=1e-13)
    assert f.logLik < a.logLik


def test_cholesky_and_correlation_parametrisations_meet():
    """UN without fixed values is fitted on the Cholesky factor of G; fixing one variance at
    its estimate switches to (sd, correlation) coordinates: the same optimum."""
    a = _fit("berkey1998 UN")
    b = _fit("berkey1998 UN", tau2=[a.tau2[0], None])
    assert b._problem.gts[0].cholesky is False and a._problem.gts[0].cholesky is True
    assert b.tau2[1] == pytest.approx(a.tau2[1], rel=1e-7)
    assert b.rho[0] == pytest.approx(a.rho[0], rel=1e-7)
    assert b.logLik == pytest.approx(a.logLik, abs=1e-12)


def test_id_and_diag_report_rho_zero_as_metafor():
    assert _fit("berkey1998 ID").rho.tolist() == [0.0]
    assert _fit("berkey1998 DIAG").rho.tolist() == [0.0]


def test_fit_statistics_follow_metafor_definitions():
    r = _fit("konstantopoulos2011 ~year t contain")
    fs = r.fit_stats["REML"]
    assert fs["dev"] == pytest.approx(-2 * fs["ll"])
    assert fs["AIC"] == pytest.approx(-2 * fs["ll"] + 2 * r.parms)
    assert fs["BIC"] == pytest.approx(-2 * fs["ll"] + r.parms * np.log(r.k - r.p))
    assert r.ddf.tolist() == [9.0, 54.0]  # intercept contained in district, year in school


def test_summary_reads_like_metafor():
    text = _fit("berkey1998 UN").summary()
    assert "Multivariate Meta-Analysis Model (k = 10; method: REML)" in text
    assert "outer factor: trial (nlvls = 5)" in text and "outcomePD" in text


def test_single_level_inner_factor_fixes_rho_with_metafor_warning():
    d = konstantopoulos().assign(one="a")
    with pytest.warns(UserWarning, match="only a single level, so fixed value of rho to 0"):
        r = mp.rma_mv("yi", "vi", random="~ one | district", data=d)
    assert r.rho.tolist() == [0.0]


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(random="~ 1 | distrct"), r"names column 'distrct'.*columns are"),
        (dict(random="~ 1 | district:school"), r"':' and '%in%' are not read"),
        (dict(random="~ school | district", struct="XYZ"), r"struct='XYZ' is not one of"),
        (dict(random="~ 1 | district/school", sigma2=[0.1, 0.2, 0.3]), r"sigma2 has 3 values"),
        (dict(random="1 | district"), r"a random-effects formula reads"),
        (dict(random="~ 1 | district", method="DL"), r"'REML' or 'ML'"),
        (dict(random="~ 1 | district", R={"school": np.eye(2)}), r"no '~ 1 \| group' term"),
        (dict(random="~ 1 | district", R={"district": np.eye(3)}), r"R\['district'\] is 3 x 3"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mp.rma_mv("yi", "vi", data=konstantopoulos(), **kwargs)


def test_bad_V_is_named():
    d = konstantopoulos().iloc[:6]
    V = np.diag(d.vi.to_numpy())
    V[0, 1] = 1.0
    with pytest.raises(ValueError, match=r"V is not symmetric: V\[row 1, row 2\]"):
        mp.rma_mv("yi", V, random="~ 1 | district", data=d)
    V = np.diag(d.vi.to_numpy())
    V[0, 1] = V[1, 0] = 1.0
    with pytest.raises(ValueError, match="not positive semi-definite"):
        mp.rma_mv("yi", V, random="~ 1 | district", data=d)
    with pytest.raises(ValueError, match="V is 5x5, but there are 6 estimates"):
        mp.rma_mv("yi", np.eye(5), random="~ 1 | district", data=d)
    with pytest.raises(ValueError, match="sampling variance -0.1 < 0"):
        mp.rma_mv("yi", d.vi.to_numpy() * 0 - 0.1, random="~ 1 | district", data=d)


def test_R_not_psd_and_car_needs_numbers():
    d, C = __import__("mv_cases").phylo_synthetic()
    bad = C.copy()
    bad.iloc[0, 1] = bad.iloc[1, 0] = 1.5
    with pytest.raises(ValueError, match=r"R\['phylo'\] is not positive semi-definite"):
        mp.rma_mv("yi", "vi", random=["~ 1 | phylo"], R={"phylo": bad}, data=d)
    with pytest.raises(ValueError, match="struct='CAR' needs a numeric inner variable"):
        mp.rma_mv("yi", "vi", random="~ species | phylo", struct="CAR", data=d)


def test_missing_values_are_omitted_with_a_warning():
    d = konstantopoulos().copy()
    d.loc[3, "yi"] = np.nan
    with pytest.warns(UserWarning, match=r"1 estimate\(s\) with missing values omitted.*row 4"):
        r = mp.rma_mv("yi", "vi", random="~ 1 | district/school", data=d)
    assert r.k == 55


def test_problem_rejects_nothing_silently():
    """A non-positive-definite marginal covariance is reported as not ok, not as a number."""
    y = np.array([0.1, 0.2])
    V = np.zeros((2, 2))
    X = np.ones((2, 1))
    st = MvProblem(y, V, X, [], [], True).evaluate(np.zeros(0))
    assert not st.ok and st.ll == -np.inf


def test_predict_pooled_fitted_and_new_values():
    r = _fit("konstantopoulos2011 ~year t contain")
    fitted = r.predict()
    np.testing.assert_allclose(fitted.pred, r.X @ r.b, rtol=1e-14)
    new = r.predict(newmods=[[1990.0]])
    assert new.pred[0] == pytest.approx(r.b[0] + 1990 * r.b[1], rel=1e-13)
    pooled = _fit("konstantopoulos2011 ~1|district/school").predict()
    assert pooled.pred.shape == (1,)
    assert pooled.pi_lb[0] < pooled.ci_lb[0] < pooled.pred[0] < pooled.ci_ub[0] < pooled.pi_ub[0]


def test_predict_needs_levels_for_several_tau2_and_checks_widths():
    r = _fit("berkey1998 UN")
    p = r.predict(newmods=[[1, 0]])
    assert np.isnan(p.pi_lb[0]) and np.isfinite(p.ci_lb[0])
    assert np.isfinite(r.predict(newmods=[[1, 0]], tau2_levels="AL").pi_lb[0])
    with pytest.raises(ValueError, match="not a level of the inner factor"):
        r.predict(newmods=[[1, 0]], tau2_levels="XX")
    with pytest.raises(ValueError, match="newmods has 3 columns; the model's coefficients are"):
        r.predict(newmods=[[1, 0, 0]])
    k = _fit("konstantopoulos2011 ~year t contain")
    with pytest.raises(ValueError, match=r"moderators are year \(1 columns"):
        k.predict(newmods=[[1, 2]])


def test_profile_confint_bounds_are_where_the_deviance_crosses_the_quantile():
    r = _fit("konstantopoulos2011 ~1|district/school")
    ci = r.confint(sigma2=0)
    crit = __import__("scipy").stats.chi2.isf(0.05, 1)
    for bound in (ci.ci_lb, ci.ci_ub):
        dev = 2 * (r.logLik - r.profile_loglik("sigma2", 0, bound))
        assert dev == pytest.approx(crit, abs=1e-8)
    assert ci.ci_lb < r.sigma2[0] < ci.ci_ub and ci.label == "sigma^2.1"
    everything = r.confint()
    assert [c.label for c in everything] == ["sigma^2.1", "sigma^2.2"]
    with pytest.raises(ValueError, match="tau2=0 is not an estimated component"):
        r.confint(tau2=0)
    with pytest.raises(ValueError, match="one component at a time"):
        r.confint(sigma2=0, tau2=0)


def test_ranef_one_level_per_estimate_is_the_rma_blup():
    """``~ 1 | id`` with one estimate per id: u_i = tau2 / (vi + tau2) (y_i - b)."""
    d = konstantopoulos().assign(id=np.arange(56))
    r = mp.rma_mv("yi", "vi", random="~ 1 | id", data=d)
    u = r.ranef()["id"]["intrcpt"].to_numpy()
    t2 = r.sigma2[0]
    np.testing.assert_allclose(u, t2 / (d.vi + t2) * (d.yi - r.b[0]), rtol=1e-10, atol=1e-14)


def test_ranef_of_an_id_g_term_is_that_of_the_nested_sigma2_term():
    """``~ school | district`` with struct ID is ``~ 1 | district.school``: the same BLUPs,
    named ``"school | district"`` in (district, school) order."""
    d = konstantopoulos().assign(ds=lambda x: x.district.astype(str) + "." + x.school.astype(str))
    g = mp.rma_mv("yi", "vi", random="~ school | district", struct="ID", data=d).ranef()
    s = mp.rma_mv("yi", "vi", random="~ 1 | ds", data=d).ranef()["ds"]
    blups = g["~school | district"]
    key = [f"{n.split(' | ')[1]}.{n.split(' | ')[0].strip()}" for n in blups.index]
    np.testing.assert_allclose(blups["intrcpt"].to_numpy(), s.loc[key, "intrcpt"].to_numpy(),
                               rtol=1e-6, atol=1e-9)  # fmt: skip
    np.testing.assert_allclose(blups["se"].to_numpy(), s.loc[key, "se"].to_numpy(), rtol=1e-6)
    assert len(blups) == len(d)
