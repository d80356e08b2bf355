"""Binomial-normal GLMM for proportions (metaparity.models.glmm) -- unit tests and live metafor parity."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from metaparity.models.glmm import (
    _Objective,
    conditional_loglik,
    glmm_loglik,
    glmm_vs_wald,
    rma_glmm,
)
from metaparity.parity.compare import compare_glmm

ROOT = Path(__file__).resolve().parents[2]
ORR = ([39, 16, 150, 25, 9, 14], [122, 78, 195, 40, 18, 21])
SCR = ([0, 0, 19, 0, 2, 0], [21, 40, 195, 18, 122, 78])
HOMOG = ([10, 11, 12, 10], [100, 100, 100, 100])


def _pritz():
    d = pd.read_csv(ROOT / "fixtures" / "metadat" / "dat.pritz1997.csv")
    return d["xi"].tolist(), d["ni"].tolist()


def _exact_loglik(x, n, mu, tau2):
    """The marginal log-likelihood by adaptive quadrature (scipy.integrate.quad)."""
    tot = 0.0
    for xi, ni in zip(x, n, strict=True):
        if tau2 == 0:
            tot += stats.binom.logpmf(xi, ni, special.expit(mu))
            continue
        s = math.sqrt(tau2)

        def f(u, xi=xi, ni=ni, s=s):
            return stats.binom.pmf(xi, ni, special.expit(mu + u)) * stats.norm.pdf(u, 0, s)

        val, _ = integrate.quad(f, -12 * s, 12 * s, epsabs=0, epsrel=1e-13, limit=500)
        tot += math.log(val)
    return tot


# --------------------------------------------------------------------------- #
# the likelihood
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("data", [ORR, SCR], ids=["orr", "scr-zeros"])
def test_many_points_converge_to_the_integral(data):
    x, n = data
    exact = _exact_loglik(x, n, -1.0, 1.3)
    assert glmm_loglik(x, n, -1.0, 1.3, nAGQ=40) == pytest.approx(exact, rel=1e-11)
    # metafor's default (7 points) is close, Laplace (1 point) clearly less so
    e7 = abs(glmm_loglik(x, n, -1.0, 1.3, nAGQ=7) - exact)
    e1 = abs(glmm_loglik(x, n, -1.0, 1.3, nAGQ=1) - exact)
    assert e7 < 1e-4 * abs(exact)
    assert e1 > 10 * e7


def test_tau2_zero_is_the_binomial_likelihood():
    x, n = SCR
    for mu in (-4.0, -1.0, 0.5):
        ref = stats.binom.logpmf(x, n, special.expit(mu)).sum()
        for q in (1, 7):
            assert glmm_loglik(x, n, mu, 0.0, nAGQ=q) == pytest.approx(ref, rel=1e-13)


def test_gradient_is_the_derivative():
    x, n = (np.asarray(v, dtype=float) for v in SCR)
    for q in (1, 7):
        o = _Objective(x, n, q)
        for th in ([-3.0, 1.5], [0.5, 0.2]):
            th = np.asarray(th)
            h = 1e-6
            fd = [(o.ll(th + h * e) - o.ll(th - h * e)) / (2 * h) for e in np.eye(2)]
            np.testing.assert_allclose(o.grad(th), fd, rtol=1e-7, atol=1e-8)


# --------------------------------------------------------------------------- #
# the fit
# --------------------------------------------------------------------------- #
def test_boundary_tau2_zero_is_the_fixed_effects_binomial_mle():
    x, n = (np.asarray(v, dtype=float) for v in HOMOG)
    res = rma_glmm(x, n)
    p = x.sum() / n.sum()
    assert res.tau2 == 0.0 and res.I2 == 0.0 and res.H2 == 1.0
    assert res.b == pytest.approx(math.log(p / (1 - p)), rel=1e-12)
    assert res.se == pytest.approx(1 / math.sqrt((n * p * (1 - p)).sum()), rel=1e-9)
    ll = stats.binom.logpmf(x, n, p).sum()
    assert res.logLik_marginal == pytest.approx(ll, rel=1e-13)
    assert res.logLik == pytest.approx(ll, rel=1e-13)  # modes are 0 at tau = 0
    assert res.QE_LRT == pytest.approx(-2 * (ll - stats.binom.logpmf(x, n, x / n).sum()))
    assert res.converged
    # and the prediction interval is the CI
    pr = res.predict()
    assert (pr.pi_lb, pr.pi_ub) == (pr.ci_lb, pr.ci_ub)


@pytest.mark.parametrize("q", [1, 7])
def test_optimum_is_stationary_and_a_maximum(q):
    x, n = (np.asarray(v, dtype=float) for v in ORR)
    res = rma_glmm(x, n, nAGQ=q)
    o = _Objective(x, n, q)
    th = np.array([res.b, res.tau])
    assert np.all(np.abs(o.grad(th)) < 1e-9)
    assert np.all(np.linalg.eigvalsh(o.hess(th)) < 0)
    for d in ([1e-4, 0], [0, 1e-4], [-1e-4, 1e-4]):
        assert o.ll(th + np.asarray(d)) < res.logLik_marginal
    # se from the full inverse Hessian (as lme4's vcov), not conditional on tau
    assert res.se == pytest.approx(math.sqrt(np.linalg.inv(-o.hess(th))[0, 0]), rel=1e-12)
    assert res.se > math.sqrt(res.vb_conditional)


def test_laplace_and_quadrature_agree_roughly():
    r1, r7, r20 = (rma_glmm(*ORR, nAGQ=q) for q in (1, 7, 20))
    assert r7.b == pytest.approx(r20.b, abs=1e-4)
    assert r7.tau2 == pytest.approx(r20.tau2, rel=1e-3)
    assert r1.b == pytest.approx(r7.b, abs=0.01)
    assert r1.tau2 == pytest.approx(r7.tau2, rel=0.02)
    assert r1.nAGQ == 1 and r7.nAGQ == 7 and rma_glmm(*ORR).nAGQ == 7


def test_permutation_invariance():
    x, n = (np.asarray(v) for v in _pritz())
    ref = rma_glmm(x, n)
    perm = np.random.default_rng(1).permutation(x.size)
    res = rma_glmm(x[perm], n[perm])
    for q in ("b", "se", "tau2", "I2", "QE_Wld", "QE_LRT", "logLik", "logLik_marginal"):
        assert getattr(res, q) == pytest.approx(getattr(ref, q), rel=1e-9, abs=1e-12), q


def test_zero_event_studies_need_no_correction():
    x, n = SCR
    res = rma_glmm(x, n)
    assert math.isfinite(res.b) and res.tau2 > 0 and res.converged
    # the likelihood uses the raw counts: adding 1/2 would change it
    assert res.logLik_marginal == pytest.approx(
        glmm_loglik(x, n, res.b, res.tau2, nAGQ=7), rel=1e-14
    )
    # all-event studies (dat.pritz1997 has two) work the same way
    assert rma_glmm(*_pritz()).converged
    # recorded metafor 3.8-1 values (tight control): b -4.87987595, tau2 2.91588619
    assert res.b == pytest.approx(-4.8798759456980605, abs=1e-7)
    assert res.tau2 == pytest.approx(2.9158861862697476, rel=1e-6)


def test_fit_statistics_relations():
    res = rma_glmm(*ORR)
    x, n = (np.asarray(v, dtype=float) for v in ORR)
    ll_sat = stats.binom.logpmf(x, n, x / n).sum()
    assert res.deviance == pytest.approx(-2 * (res.logLik - ll_sat), rel=1e-12)
    assert res.AIC == pytest.approx(-2 * res.logLik + 4)
    assert res.BIC == pytest.approx(-2 * res.logLik + 2 * math.log(6))
    assert res.AICc == pytest.approx(-2 * res.logLik + 4 * 6 / 3)
    assert res.logLik == pytest.approx(conditional_loglik(x, n, res.b, res.tau), rel=1e-14)
    assert res.logLik_marginal < ll_sat
    # k = 3 (metafor: the AICc correction uses max(k, p + 2) studies)
    r3 = rma_glmm([32, 16, 20], [122, 78, 60])
    assert r3.AICc == pytest.approx(-2 * r3.logLik + 16)


def test_predict_and_test_t():
    res = rma_glmm(*ORR)
    p = res.predict()
    z = stats.norm.isf(0.025)
    assert (p.pred, p.se) == (res.b, res.se)
    assert p.ci_lb == pytest.approx(res.b - z * res.se)
    assert p.pi_ub == pytest.approx(res.b + z * math.sqrt(res.se**2 + res.tau2))
    t = res.predict(transf=True)
    assert t.pred == pytest.approx(special.expit(res.b)) and math.isnan(t.se)
    assert t.ci_lb == pytest.approx(special.expit(p.ci_lb))
    rt = rma_glmm(*ORR, test="t")
    crit = stats.t.isf(0.025, 5)
    assert rt.ci_ub == pytest.approx(rt.b + crit * rt.se)
    assert rt.pval == pytest.approx(2 * stats.t.sf(abs(rt.zval), 5))
    assert "tau^2" in str(res)


def test_glmm_vs_wald_selinexor_orr():
    t = glmm_vs_wald([32, 16], [122, 78], ["Chari 2019", "Vogl 2018"])
    raw, glmm = t.iloc[0], t.iloc[-1]
    # the paper's SEL+DEX ORR 24% (18-30)
    assert [round(100 * raw[c]) for c in ("estimate", "ci_lb", "ci_ub")] == [24, 18, 30]
    assert glmm.estimate == pytest.approx(48 / 200)  # tau2 = 0: the pooled proportion
    assert glmm.ci_lb > raw.ci_lb and glmm.ci_ub > raw.ci_ub  # asymmetric on the 0-1 scale
    # zero-event studies are dropped by the raw-proportion Wald model only
    t0 = glmm_vs_wald(*SCR)
    assert t0.dropped.tolist() == [4, 0, 0]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(xi=[5, 30], ni=[10, 20], slab=["A", "B"]), r"study 'B'.*xi=30 > ni=20"),
        (dict(xi=[5, 0], ni=[10, 0]), r"row 2.*ni=0"),
        (dict(xi=[5, 1], ni=[10, -3]), r"row 2.*ni=-3"),
        (dict(xi=[5], ni=[10], slab=["Only 2020"]), r"one study \(study 'Only 2020'.*k = 1"),
        (dict(xi=[-1, 2], ni=[10, 10]), r"row 1.*xi=-1"),
        (dict(xi=[1.5, 2], ni=[10, 10]), r"whole counts"),
        (dict(xi=[0, 0], ni=[10, 10]), r"no events in every study"),
        (dict(xi=[3, 4], ni=[10, 10, 10]), r"differ in length"),
        (dict(xi=[3, 4], ni=[10, 10], measure="PR"), r"measure='PLO' only"),
        (dict(xi=[3, 4], ni=[10, 10], nAGQ=0), r"nAGQ"),
    ],
)
def test_errors_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rma_glmm(**kwargs)


# --------------------------------------------------------------------------- #
# live parity with metafor::rma.glmm (lme4::glmer)
# --------------------------------------------------------------------------- #
_LIVE = {
    "selinexor-orr": (*ORR, 7),
    "scr-zeros": (*SCR, 7),
    "pritz1997": (*_pritz(), 7),
    "seldex-orr-k2": ([32, 16], [122, 78], 7),
    "selinexor-orr-laplace": (*ORR, 1),
}


def _live(metafor, x, n, **kw):
    """metafor's rma.glmm; without the R package lme4: skip (fail under CI=true)."""
    from metaparity.parity.pytest_plugin import r_required

    ref = metafor.rma_glmm(x, n, **kw)
    if not ref["ok"] and "lme4" in str(ref.get("error")) and not r_required():
        pytest.skip(f"metafor's rma.glmm needs lme4: {ref['error']}")
    assert ref["ok"], ref.get("error")
    return ref


@pytest.mark.r
@pytest.mark.parametrize("name", list(_LIVE))
def test_live_rma_glmm(metafor, name):
    x, n, q = _LIVE[name]
    res = rma_glmm(x, n, nAGQ=q)
    ref = _live(metafor, x, n, nAGQ=q, at=(res.b, res.tau2))
    comps = compare_glmm(res, ref)
    bad = [f"{c.quantity}: ours={c.ours!r} metafor={c.ref!r} rel={c.rel_diff:.2e}" for c in comps
           if not c.ok]  # fmt: skip
    assert not bad, "\n".join(bad)
    # (a) the likelihood: our formula at metafor's optimum is lme4's value there
    names = {c.quantity for c in comps}
    assert {"loglik_at_metafor", "loglik_at_ours", "logLik_reported_at_metafor"} <= names
    # (b) we are at least as good an optimiser (lme4's own deviance function says so)
    ll = ref["lme4"]
    assert ll["ll_marg_at"] >= ll["ll_marg_fit"] - 1e-12 * abs(ll["ll_marg_fit"])


@pytest.mark.r
def test_live_rma_glmm_test_t(metafor):
    x, n = _pritz()
    res = rma_glmm(x, n, test="t", level=90)
    ref = _live(metafor, x, n, test="t", level=90, at=(res.b, res.tau2))
    bad = [c for c in compare_glmm(res, ref) if not c.ok]
    assert not bad, bad
