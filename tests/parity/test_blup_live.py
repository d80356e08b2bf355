"""blup() and ranef() of rma fits against live metafor (blup.rma.uni, ranef.rma.uni): every
study's pred, se and prediction bounds, over estimators (closed form and iterative), tests
(z, t, knha), moderators, levels, transforms and a fixed tau2, on three data sets."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

import metaparity as mp
from metaparity.parity.blup import compare_blup, metafor_blup
from metaparity.parity.mv import failures

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "metadat"
BCG = pd.read_csv(FIX / "dat.bcg.csv")
NORMAND = pd.read_csv(FIX / "dat.normand1999.csv")
PRITZ = pd.read_csv(FIX / "dat.pritz1997.csv")


def _bcg(**kw):
    return mp.rma(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=BCG,
                  slab="study", **kw)  # fmt: skip


def _normand(**kw):
    return mp.rma(measure="SMD", m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i",
                  n2i="n2i", data=NORMAND, slab="study", **kw)  # fmt: skip


def _pritz(**kw):
    cols = [c for c in ("xi", "ni") if c in PRITZ.columns]
    assert cols == ["xi", "ni"], PRITZ.columns
    return mp.rma(measure="PLO", xi="xi", ni="ni", data=PRITZ, **kw)


CASES = {
    "bcg REML": (lambda: _bcg(), {}),
    "bcg DL knha": (lambda: _bcg(method="DL", test="knha"), {}),
    "bcg EE": (lambda: _bcg(method="EE"), {}),
    "bcg PM ~ablat t": (lambda: _bcg(method="PM", mods="~ ablat", test="t"), {}),
    "bcg REML ~ablat+year exp 90": (lambda: _bcg(mods="~ ablat + year"),
                                    {"transf": "exp", "level": 90}),
    "bcg HE ~alloc": (lambda: _bcg(method="HE", mods="~ alloc"), {}),
    "bcg SJ level 80": (lambda: _bcg(method="SJ", level=80), {}),
    "normand1999 ML": (lambda: _normand(method="ML"), {}),
    "normand1999 EB knha": (lambda: _normand(method="EB", test="knha"), {}),
    "pritz1997 REML ilogit": (lambda: _pritz(), {"transf": "ilogit"}),
    "pritz1997 HS": (lambda: _pritz(method="HS"), {}),
}  # fmt: skip


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_blup_and_ranef_agree_with_metafor(metafor, name):
    make, opts = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = make()
    ref = metafor_blup(res, metafor, **opts)
    assert ref["ok"], ref.get("error")
    assert abs(ref["tau2"] - res.tau2) <= 1e-10 * max(res.tau2, 1e-2), (ref["tau2"], res.tau2)
    cmp = compare_blup(res, ref, **opts)
    assert len(cmp) == 8 * res.k
    assert not failures(cmp), failures(cmp)[:5]


@pytest.mark.r
def test_at_a_fixed_tau2_the_formulas_agree_to_rounding(metafor):
    res = _bcg(tau2=0.25, mods="~ ablat", test="knha")
    ref = metafor_blup(res, metafor, fixed_tau2=True)
    worst = max(c.rel_diff for c in compare_blup(res, ref) if c.rel_diff == c.rel_diff)
    assert worst <= 1e-12, worst
