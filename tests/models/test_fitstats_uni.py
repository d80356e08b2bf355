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
from metareg_cases import FITS, LRTS, _bcg_int  # noqa: E402
from predict_cases import _bcg, _csv  # noqa: E402


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
