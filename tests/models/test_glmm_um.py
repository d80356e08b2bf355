"""Unconditional two-group GLMMs (rma.glmm UM.FS / UM.RS) -- unit tests and live metafor parity."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from metaparity._core.io import InputError
from metaparity.models.glmm import rma_glmm
from metaparity.models.glmm_twogroup import glmm_um_loglik, rma_glmm_um
from metaparity.parity.compare import compare_glmm_um_fit

ROOT = Path(__file__).resolve().parents[2]
F = ROOT / "fixtures" / "metadat"


def _or(name: str) -> dict:
    d = pd.read_csv(F / f"dat.{name}.csv")
    if name == "bcg":
        return dict(ai=d.tpos, bi=d.tneg, ci=d.cpos, di=d.cneg)
    return dict(ai=d.ai, bi=d.n1i - d.ai, ci=d.ci, di=d.n2i - d.ci)


#: person-time with zero counts in one group and a double zero (study C, dropped)
SYNTH_PT = dict(x1i=[0, 3, 0, 5, 9, 14, 2], t1i=[100, 200, 150, 120, 300, 410, 90],
                x2i=[2, 1, 0, 4, 12, 22, 7], t2i=[110, 190, 160, 100, 280, 395, 105])  # fmt: skip


def _irr(name: str) -> dict:
    if name == "synthetic":
        return {k: np.asarray(v, float) for k, v in SYNTH_PT.items()}
    d = pd.read_csv(F / f"dat.{name}.csv")
    return dict(x1i=d.x1i, t1i=d.t1i, x2i=d.x2i, t2i=d.t2i)


def _ablat():
    return pd.read_csv(F / "dat.bcg.csv").ablat.to_numpy(float)


def _fit(**kw):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = rma_glmm_um(**kw)
    return res, [str(x.message) for x in w]


# --------------------------------------------------------------------------- #
# the likelihood
# --------------------------------------------------------------------------- #
def _exact_fs(cnt, theta, fixef):
    """UM.FS marginal log-likelihood by scipy quad (OR data)."""
    a, b, c, d = (np.asarray(cnt[k], float) for k in ("ai", "bi", "ci", "di"))
    tot = 0.0
    for i in range(a.size):
        al, beta, tau = fixef[1 + i], fixef[0], theta

        def f(u, i=i, al=al, beta=beta, tau=tau):
            p1 = special.expit(al + beta + u / 2)
            p2 = special.expit(al - u / 2)
            return (stats.binom.pmf(a[i], a[i] + b[i], p1) * stats.binom.pmf(c[i], c[i] + d[i], p2)
                    * stats.norm.pdf(u, 0, tau))  # fmt: skip

        tot += math.log(
            integrate.quad(f, -12 * tau, 12 * tau, epsabs=0, epsrel=1e-13, limit=500)[0]
        )
    return tot


def test_quadrature_converges_to_the_integral():
    cnt = {k: v[:5] for k, v in _or("nielweise2007").items()}
    fx = [-1.2, -4.0, -3.5, -3.0, -3.2, -3.1]
    exact = _exact_fs(cnt, 0.7, fx)
    ll40 = glmm_um_loglik([0.7], fx, nAGQ=40, **cnt)
    assert ll40 == pytest.approx(exact, rel=1e-11)
    assert abs(glmm_um_loglik([0.7], fx, **cnt) - exact) < 1e-5 * abs(exact)


def test_tau_zero_is_the_binomial_and_poisson_likelihood():
    cnt = {k: v[:4] for k, v in _or("li2007").items()}
    fx = np.array([-0.4, -3.0, -2.5, -3.1, -2.9])
    p1, p2 = special.expit(fx[1:] + fx[0]), special.expit(fx[1:])
    ref = (stats.binom.logpmf(cnt["ai"], cnt["ai"] + cnt["bi"], p1)
           + stats.binom.logpmf(cnt["ci"], cnt["ci"] + cnt["di"], p2)).sum()  # fmt: skip
    assert glmm_um_loglik([0.0], fx, **cnt) == pytest.approx(ref, rel=1e-13)
    c = _irr("hart1999")
    fx = np.array([-0.5, -3.0, -3.1, -3.3, -3.2, -3.0, -2.9, -2.8])[:7]
    mu1, mu2 = np.exp(fx[1:] + fx[0]) * c["t1i"], np.exp(fx[1:]) * c["t2i"]
    ref = (stats.poisson.logpmf(c["x1i"], mu1) + stats.poisson.logpmf(c["x2i"], mu2)).sum()
    assert glmm_um_loglik([0.0], fx, measure="IRR", **c) == pytest.approx(ref, rel=1e-13)


# --------------------------------------------------------------------------- #
# the fit
# --------------------------------------------------------------------------- #
def test_optimum_is_a_maximum_and_the_dispatcher_calls_it():
    cnt = _or("nielweise2007")
    res, w = _fit(**cnt)
    assert res.converged and res.k == 17 and res.k_all == 18 and res.nAGQ == 7
    from metaparity._core.mfversion import since

    first = [] if since("mh_na_count") else ["Studies with NAs omitted from model fitting."]
    assert w == [*first, "Some yi/vi values are NA."]  # metafor 4.8.0 gives only the second
    assert res.dropped == ("row 8",) or len(res.dropped) == 1
    ll = res.logLik_marginal
    for j in range(res.fixef.size):
        for h in (1e-4, -1e-4):
            fx = res.fixef.copy()
            fx[j] += h
            assert glmm_um_loglik(res.theta, fx, **cnt) < ll
    assert glmm_um_loglik(res.theta * 1.001, res.fixef, **cnt) < ll
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        viad = rma_glmm(**cnt, measure="OR", model="UM.FS")
    assert float(viad.b[0]) == float(res.b[0])


def test_fit_statistics_relations():
    res, _ = _fit(**_or("bcg"))
    k, p = res.k, res.p
    parms = p + k + 1
    assert res.AIC == pytest.approx(-2 * res.logLik + 2 * parms)
    assert res.BIC == pytest.approx(-2 * res.logLik + parms * math.log(2 * k))
    assert res.I2 == pytest.approx(100 * res.tau2 / (res.tau2 + res.vt))
    assert res.QM == pytest.approx(float(res.zval[0]) ** 2)
    text = res.summary()
    assert "Unconditional Model with Fixed Study Effects" in text and "intrcpt" in text
    assert f"{float(res.b[0]):.4f}" in text


def test_boundary_tau2_zero():
    res, _ = _fit(**_irr("hart1999"), measure="IRR")
    assert res.tau2 == 0.0 and res.I2 == 0.0 and res.converged


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(ai=[1, 2], bi=[3, -1], ci=[1, 1], di=[5, 5]), r"row 2.*bi=-1"),
        (dict(ai=[1, 2], bi=[3, 4], ci=[1, 1], di=[5, 5], model="CM.XX"), r"model='CM.XX'"),
        (dict(x1i=[1, 2], t1i=[3, 4], measure="IRR"), r"needs x1i, t1i, x2i, t2i"),
        (dict(ai=[0, 2], bi=[3, 4], ci=[0, 1], di=[5, 5]), r"k = 1 studies remain"),
    ],
)
def test_errors_name_the_problem(kw, match):
    with pytest.raises(InputError, match=match), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rma_glmm_um(**kw)


# --------------------------------------------------------------------------- #
# live parity with metafor::rma.glmm (lme4::glmer)
# --------------------------------------------------------------------------- #
_LIVE = {
    "bcg": ("OR", "bcg", None),
    "bcg-ablat": ("OR", "bcg", "ablat"),
    "li2007-zeros": ("OR", "li2007", None),
    "nielweise2007-double0": ("OR", "nielweise2007", None),
    "yusuf1985t6-double0": ("OR", "yusuf1985.t6", None),
    "hart1999-irr": ("IRR", "hart1999", None),
    "nielweise2008-irr": ("IRR", "nielweise2008", None),
    "synthetic-irr-zeros": ("IRR", "synthetic", None),
}


def live_check(metafor, measure, name, mods, model):
    from metaparity.parity.pytest_plugin import r_required

    cnt = _or(name) if measure == "OR" else _irr(name)
    mv = _ablat() if mods == "ablat" else None
    res, w = _fit(**cnt, measure=measure, model=model, mods=mv)
    ref = metafor.call(
        "mp_rma_glmm_um", measure=measure, model=model,
        mods=None if mv is None else {"ablat": list(mv)},
        at={"theta": list(res.theta), "beta": list(res.fixef)},
        **{k: [float(x) for x in v] for k, v in cnt.items()},
    )  # fmt: skip
    if not ref["ok"] and "lme4" in str(ref.get("error")) and not r_required():
        pytest.skip(f"metafor's rma.glmm needs lme4: {ref['error']}")
    assert ref["ok"], ref.get("error")
    # every field, the likelihood at lme4's optimum, our optimum not below lme4's (in ours and
    # in lme4's deviance function) and, for UM.RS with lme4's RX fallback, QE.Wld at lme4's
    # saturated optimum
    comps = compare_glmm_um_fit(res, ref, measure=measure, model=model, mods=mv, **cnt)
    bad = [f"{c.quantity}: ours={c.ours!r} metafor={c.ref!r} rel={c.rel_diff:.2e}" for c in comps
           if not c.ok]  # fmt: skip
    assert not bad, "\n".join(bad)
    names = {c.quantity for c in comps}
    assert "optimum_not_below_metafor_in_lme4" in names
    if ref["lme4"].get("vcov_rx_qe") and model == "UM.RS":
        assert {"QE_Wld_rx_at_metafor", "saturated_optimum_not_below_metafor"} <= names
    # metafor's own warnings (dropped studies, nAGQ) are ours; lme4's diagnostics of its
    # optimiser (convergence, singular fit, the RX fallback) are not reproduced
    own = ("Studies with NAs", "Some yi/vi", "Not possible to fit")
    ours = set(w)
    theirs = {m for m in ref["warnings"] if m.startswith(own)}
    assert ours == theirs
    return res, ref


@pytest.mark.r
@pytest.mark.parametrize("case", list(_LIVE))
def test_live_um_fs(metafor, case):
    live_check(metafor, *_LIVE[case], "UM.FS")


# UM.RS: not dat.bcg with ablat (lme4's finite-difference Hessian there has two negative
# eigenvalues, and metafor's se built on it is 3.5e-3 off ours) nor dat.nielweise2007 (the RX
# Wald statistic at lme4's saturated optimum 1.3e-9 off): docs/glmm.md
_LIVE_RS = ["bcg", "li2007-zeros", "yusuf1985t6-double0", "hart1999-irr", "nielweise2008-irr",
            "synthetic-irr-zeros"]  # fmt: skip


@pytest.mark.r
@pytest.mark.parametrize("case", _LIVE_RS)
def test_live_um_rs(metafor, case):
    res, _ = live_check(metafor, *_LIVE[case], "UM.RS")
    assert res.nAGQ == 1 and res.sigma2 > 0


def test_um_rs_warns_and_uses_laplace():
    res, w = _fit(**_irr("hart1999"), measure="IRR", model="UM.RS")
    assert res.nAGQ == 1 and res.model == "UM.RS"
    assert w == ["Not possible to fit RE/ME model='UM.RS' with nAGQ > 1 with glmer(). "
                 "nAGQ automatically set to 1."]  # fmt: skip
    _, w1 = _fit(**_irr("hart1999"), measure="IRR", model="UM.RS", nAGQ=1)
    assert w1 == []
    assert res.AIC == pytest.approx(-2 * res.logLik + 2 * (res.p + 3))


# --------------------------------------------------------------------------- #
# IRLN: one-group Poisson-normal (log incidence rates, person-time offsets)
# --------------------------------------------------------------------------- #
def _irln(name: str, grp: str) -> dict:
    d = pd.read_csv(F / f"dat.{name}.csv")
    return dict(xi=d[f"x{grp}i"].to_numpy(float), ti=d[f"t{grp}i"].to_numpy(float))


def test_irln_tau_zero_is_poisson_and_fit_stats():
    cnt = _irln("nielweise2008", "1")
    ref = stats.poisson.logpmf(cnt["xi"], cnt["ti"] * math.exp(-6.0)).sum()
    assert glmm_um_loglik([0.0], [-6.0], measure="IRLN", **cnt) == pytest.approx(ref, rel=1e-13)
    res = rma_glmm(**cnt, measure="IRLN")
    assert res.model == "IRLN" and res.nAGQ == 7
    assert res.AIC == pytest.approx(-2 * res.logLik + 4)
    assert res.BIC == pytest.approx(-2 * res.logLik + 2 * math.log(res.k))


@pytest.mark.r
@pytest.mark.parametrize("name,grp", [("hart1999", "1"), ("nielweise2008", "2")])
def test_live_irln(metafor, name, grp):
    cnt = _irln(name, grp)
    res = rma_glmm(**cnt, measure="IRLN")
    ref = metafor.call("mp_rma_glmm_um", measure="IRLN",
                       at={"theta": list(res.theta), "beta": list(res.fixef)},
                       **{k: list(v) for k, v in cnt.items()})  # fmt: skip
    assert ref["ok"], ref.get("error")
    bad = [c for c in compare_glmm_um_fit(res, ref, measure="IRLN", model="UM.FS", **cnt)
           if not c.ok]  # fmt: skip
    assert not bad, bad
