"""Fit statistics (logLik, deviance, AIC, BIC, AICc under ML and REML) of rma fits and the
likelihood-ratio test anova(full, reduced): live against metafor's fit.stats, extractors
and anova.rma, over estimators, moderators (continuous, categorical, an interaction), user
weights, weighted=False, a fixed tau^2 and a zero sampling variance; and bad input."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metaparity.parity.fitstats_uni import (  # noqa: E402
    compare_fitstats_uni,
    compare_lrt_uni,
    metafor_fitstats_uni,
    metafor_lrt_uni,
)
from predict_cases import _assink, _bcg, _csv, _hart, _normand  # noqa: E402

_Y = np.array([0.10, 0.90, -0.50, 0.30, 1.20, -0.20, 0.40])
_V = np.array([0.020, 0.035, 0.050, 0.015, 0.080, 0.040, 0.0])  # one vi = 0


def _bcg_int(**kw):
    return mp.rma(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg",
                  data=_csv("dat.bcg"), **kw)  # fmt: skip


#: name -> a fit; fit statistics compared on every one
FITS = {
    "bcg int REML": lambda: _bcg_int(),
    "bcg int ML": lambda: _bcg_int(method="ML"),
    "bcg int DL": lambda: _bcg_int(method="DL"),
    "bcg int EE": lambda: _bcg_int(method="EE"),
    "bcg int SJ knha": lambda: _bcg_int(method="SJ", test="knha"),
    "bcg int tau2 fixed": lambda: _bcg_int(tau2=0.2),
    "bcg int weights": lambda: _bcg_int(method="ML", weights=np.arange(1.0, 14.0)),
    "bcg int unweighted": lambda: _bcg_int(method="REML", weighted=False),
    "bcg ~ablat REML": lambda: _bcg("~ ablat"),
    "bcg ~ablat*alloc ML": lambda: _bcg("~ ablat * alloc", method="ML"),
    "bcg ~ablat*alloc REML": lambda: _bcg("~ ablat * alloc"),
    "bcg ~0+alloc HE": lambda: _bcg("~ 0 + alloc", method="HE"),
    "normand ~log(n) EE": lambda: _normand(method="EE"),
    "normand ~log(n) PM": lambda: _normand(method="PM"),
    "assink ~deltype+year REML": lambda: _assink(),
    "hart ~compgrp+year ML": lambda: _hart(method="ML"),
    "hart ~compgrp+year tau2 fixed": lambda: _hart(tau2=0.05),
    "vi=0 study REML": lambda: mp.rma(_Y, _V),
    "vi=0 study HE": lambda: mp.rma(_Y, _V, method="HE"),
}


def _fit(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FITS[name]()


@pytest.mark.r
@pytest.mark.parametrize("name", list(FITS))
def test_fit_statistics_agree_with_metafor(metafor, name):
    res = _fit(name)
    ref = metafor_fitstats_uni(res, metafor)
    assert ref["ok"], ref.get("error")
    bad = [c for c in compare_fitstats_uni(res, ref) if not c.ok]
    assert not bad, "\n".join(f"{c.quantity}: {c.ours!r} vs {c.ref!r}" for c in bad[:5])


#: name -> (full, reduced, refit); both orders are given to anova() in the test
LRTS = {
    "bcg ~ablat vs int ML": (lambda: _bcg("~ ablat", method="ML"), lambda: _bcg_int(method="ML"),
                             False),
    "bcg ~ablat*alloc vs ~ablat ML": (lambda: _bcg("~ ablat * alloc", method="ML"),
                                      lambda: _bcg("~ ablat", method="ML"), False),
    "bcg ~ablat vs int REML refit": (lambda: _bcg("~ ablat"), lambda: _bcg_int(), True),
    "bcg ~ablat vs int REML no refit": (lambda: _bcg("~ ablat"), lambda: _bcg_int(), False),
    "bcg int REML vs EE": (lambda: _bcg_int(), lambda: _bcg_int(method="EE"), False),
    "bcg ~ablat EE vs int EE": (lambda: _bcg("~ ablat", method="EE"),
                                lambda: _bcg_int(method="EE"), False),
    "bcg ~0+ablat EE vs int EE (lm adds an intercept)": (
        lambda: _bcg("~ 0 + ablat + year", method="EE"), lambda: _bcg_int(method="EE"), False),
    "bcg REML vs tau2 fixed": (lambda: _bcg_int(), lambda: _bcg_int(tau2=0.0), False),
    "bcg DL vs EE (not ML/REML)": (lambda: _bcg("~ ablat", method="DL"),
                                   lambda: _bcg_int(method="EE"), False),
    "hart ~compgrp+year vs ~year ML": (
        lambda: _hart(method="ML"),
        lambda: mp.rma("yi", "vi", mods="~ I(year - 1990)", data=_hart_data(),
                       method="ML"), False),
    "normand weights ML": (
        lambda: _normand(method="ML", weights=np.arange(1.0, 10.0)),
        lambda: mp.rma(_normand().yi, _normand().vi, method="ML", weights=np.arange(1.0, 10.0)),
        False),
}  # fmt: skip


def _hart_data():
    e = _csv("dat.hart1999")
    e["yi"] = np.log((e.x1i / e.t1i) / (e.x2i / e.t2i))
    e["vi"] = 1 / e.x1i + 1 / e.x2i
    return e


def _pair(name):
    f, r, refit = LRTS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(), r(), refit


@pytest.mark.r
@pytest.mark.parametrize("name", list(LRTS))
def test_lrt_agrees_with_metafor(metafor, name):
    full, red, refit = _pair(name)
    ref = metafor_lrt_uni(full, red, refit, metafor)
    assert ref["ok"], ref.get("error")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a, b in ((full, red), (red, full)):  # either order: the full model is found
            ours = mp.anova(a, b, refit=refit)
            bad = [c for c in compare_lrt_uni(ours, ref) if not c.ok]
            assert not bad, "\n".join(f"{c.quantity}: {c.ours!r} vs {c.ref!r}" for c in bad[:5])


def test_lrt_warnings_are_metafors():
    full, red, _ = _pair("bcg ~ablat vs int REML no refit")
    with pytest.warns(UserWarning, match="REML comparisons not meaningful"):
        mp.anova(full, red)
    full, red, _ = _pair("bcg DL vs EE (not ML/REML)")
    with pytest.warns(UserWarning, match="LRTs should be based on ML/REML"):
        mp.anova(full, red)
    a = _bcg("~ ablat", method="ML")
    b = _bcg("~ year", method="ML")
    c = _bcg("~ ablat + year", method="ML")
    with pytest.warns(UserWarning, match="appear not to be nested"):
        mp.anova(c, _bcg("~ tneg", method="ML"))
    assert mp.anova(c, a).pval == pytest.approx(mp.anova(a, c).pval, rel=1e-15)
    assert b.parms == a.parms == 3


def test_refit_gives_the_ml_fits_lrt():
    full, red, _ = _pair("bcg ~ablat vs int REML refit")
    ml = mp.anova(_bcg("~ ablat", method="ML"), _bcg_int(method="ML"))
    rf = mp.anova(full, red, refit=True)
    assert rf.refitted and rf.method == "ML"
    assert rf.LRT == pytest.approx(ml.LRT, rel=1e-9)


@pytest.mark.parametrize(("pair", "match"), [
    (lambda: (_bcg_int(method="ML"), _bcg_int(method="ML")), "same number of parameters"),
    (lambda: (_bcg("~ ablat", method="ML"), mp.rma([0.1, 0.2], [0.01, 0.02], method="ML")),
     "not equal in the full and reduced model"),
    (lambda: (_bcg("~ ablat * alloc", method="EE"), _bcg_int(method="REML")),
     "Full model uses a fixed- and reduced model uses a random"),
    (lambda: (_bcg("~ ablat", method="ML"), _bcg_int(method="REML")),
     "Mismatch between the use of ML and REML"),
])  # fmt: skip
def test_lrt_bad_input(pair, match):
    a, b = pair()
    with pytest.raises(ValueError, match=match):
        mp.anova(a, b)


def test_lrt_of_different_kinds_is_refused():
    dat = _csv("dat.konstantopoulos2011")
    mv = mp.rma_mv("yi", "vi", random="~ 1 | district/school", data=dat)
    with pytest.raises(TypeError, match="same kind"):
        mp.anova(mp.rma(dat.yi, dat.vi), mv)


def test_fit_statistics_identities():
    res = _bcg("~ ablat * alloc", method="ML")
    fs = res.fit_stats["ML"]
    assert res.logLik == fs["ll"] and res.parms == res.p + 1
    assert fs["AIC"] == pytest.approx(-2 * fs["ll"] + 2 * res.parms, rel=1e-15)
    assert fs["BIC"] == pytest.approx(-2 * fs["ll"] + res.parms * np.log(res.k), rel=1e-15)
    reml = _bcg("~ ablat * alloc")
    assert reml.logLik == reml.fit_stats["REML"]["ll"]
    assert reml.deviance == pytest.approx(-2 * reml.logLik, rel=1e-15)
    assert _bcg_int(method="EE").parms == 1 and _bcg_int(tau2=0.1).parms == 1
