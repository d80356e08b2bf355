"""The meta-regression cases compared with metafor, live (tests/models/test_predict_mods.py,
test_anova_uni.py, test_fitstats_uni.py, test_confint_mods.py) and in goldens
(scripts/metareg_golden_inputs.py -> fixtures/metareg_cases.json -> r_scripts/goldens_metareg.R
-> fixtures/goldens/metafor-*/metareg.json, replayed by tests/parity/test_goldens_metareg.py).

Four data sets (dat.bcg, dat.normand1999, dat.assink2016, dat.hart1999) with continuous and
categorical moderators and an interaction; :func:`golden_calls` lists every call: its kind
(predict, anova, fitstats, lrt, confint), the R function and its arguments, and how our
side is computed and compared.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import metaparity as mp
from metaparity.analysis.hc import hc
from metaparity.analysis.permutest import permutest
from metaparity.analysis.regplot import regplot_data
from metaparity.analysis.vif import vif
from metaparity.parity.anova_uni import anova_call_args, compare_anova_uni
from metaparity.parity.confint_uni import compare_confint_uni, confint_call_args
from metaparity.parity.fitstats_uni import (
    compare_fitstats_uni,
    compare_lrt_uni,
    lrt_call_args,
)
from metaparity.parity.hc_uni import compare_hc_uni, hc_call_args
from metaparity.parity.influence_uni import compare_influence_uni, influence_call_args
from metaparity.parity.permutest_uni import compare_permutest_uni, permutest_call_args
from metaparity.parity.predict import compare_predict, predict_call_args
from metaparity.parity.profile_uni import compare_profile_uni, profile_call_args
from metaparity.parity.regplot_uni import compare_regplot_uni, regplot_call_args
from metaparity.parity.uni_spec import uni_spec
from metaparity.parity.vif_uni import compare_vif_uni, vif_call_args
from predict_cases import CASES as PREDICT
from predict_cases import _assink, _bcg, _csv, _hart, _normand

__all__ = [
    "case",
    "PREDICT",
    "ANOVA",
    "FITS",
    "LRTS",
    "CONFINT",
    "PERMUTEST",
    "REGPLOT",
    "INFLUENCE",
    "HC",
    "golden_calls",
    "quiet",
]


def case(table: dict[str, tuple[Any, Any]], name: str) -> tuple[Any, Any]:
    """A case of ``table`` (name -> (fit, options)): the fit, with its warnings silenced, and a
    copy of the options."""
    fit, kw = table[name]
    return quiet(fit), dict(kw)


def quiet(fn: Callable[[], Any]) -> Any:
    """``fn()`` with its warnings silenced (the cases' fits warn as metafor does)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


_Y = np.array([0.10, 0.90, -0.50, 0.30, 1.20, -0.20, 0.40])
_V = np.array([0.020, 0.035, 0.050, 0.015, 0.080, 0.040, 0.0])  # one vi = 0


def _bcg_int(**kw):
    return mp.rma(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg",
                  data=_csv("dat.bcg"), **kw)  # fmt: skip


def _hart_data():
    e = _csv("dat.hart1999")
    e["yi"] = np.log((e.x1i / e.t1i) / (e.x2i / e.t2i))
    e["vi"] = 1 / e.x1i + 1 / e.x2i
    return e


#: name -> (fit, anova keyword arguments)
ANOVA = {
    "bcg ~ablat*alloc default btt": (lambda: _bcg("~ ablat * alloc"), {}),
    "bcg ~ablat*alloc btt names knha": (lambda: _bcg("~ ablat * alloc", test="knha"),
                                        {"btt": ["ablat:allocrandom", "ablat:allocsystematic"]}),
    "bcg ~ablat*alloc X contrasts": (lambda: _bcg("~ ablat * alloc", method="DL"),
                                     {"X": [[0, 1, 0, 0, 0, 0], [0, 1, 0, 0, 1, 0],
                                            [0, 1, 0, 0, 0, 1]]}),
    "bcg ~ablat*alloc X t": (lambda: _bcg("~ ablat * alloc", test="t"),
                             {"X": [[1, 30, 1, 0, 30, 0]]}),
    "normand ~log(n) btt 0": (lambda: _normand(method="ML"), {"btt": 0}),
    "assink ~deltype+year adhoc btt": (lambda: _assink(test="adhoc"), {"btt": [1, 2]}),
    "assink ~deltype+year X rank-deficient": (lambda: _assink(method="PM"),
                                              {"X": [[0, 1, -1, 0], [0, 2, -2, 0]]}),
    "hart ~compgrp+year HE": (lambda: _hart(method="HE"), {"btt": "I(year - 1990)"}),
    "intercept-only knha": (lambda: mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015],
                                           test="knha"), {}),
}  # fmt: skip


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


#: name -> (fit, confint level or None)
CONFINT = {
    "bcg ~ablat REML": (lambda: _bcg("~ ablat"), None),
    "bcg ~ablat DL knha 90": (lambda: _bcg("~ ablat", method="DL", test="knha"), 90),
    "bcg ~ablat*alloc REML": (lambda: _bcg("~ ablat * alloc"), None),
    "bcg ~ablat*alloc ML t": (lambda: _bcg("~ ablat * alloc", method="ML", test="t"), 99),
    "bcg ~0+alloc PM": (lambda: _bcg("~ 0 + alloc", method="PM"), None),
    "normand ~log(n) REML": (lambda: _normand(), None),
    "normand ~log(n) SJ": (lambda: _normand(method="SJ"), 80),
    "assink ~deltype+year REML": (lambda: _assink(), None),
    "assink ~deltype+year HE adhoc": (lambda: _assink(method="HE", test="adhoc"), None),
    "hart ~compgrp+year REML": (lambda: _hart(), None),
    "hart ~compgrp+year DL": (lambda: _hart(method="DL"), 95),
    "bcg int REML (fixed table)": (lambda: mp.rma(measure="RR", ai="tpos", bi="tneg", ci="cpos",
                                                  di="cneg", data=_csv("dat.bcg")), None),
}  # fmt: skip


def _sub(k, n):
    return np.arange(n) < k


def _assink3():
    d = _csv("dat.assink2016")
    return d.groupby("deltype", sort=False).head(2).reset_index(drop=True)  # 6 rows, 3 levels


#: name -> (fit, permutest keyword arguments)
PERMUTEST = {
    "bcg[1:8] int REML exact": (lambda: _bcg_int(subset=_sub(8, 13)), {}),
    "bcg[1:8] int DL knha exact": (lambda: _bcg_int(subset=_sub(8, 13), method="DL",
                                                    test="knha"), {}),
    "bcg[1:10] int EE exact=True": (lambda: _bcg_int(subset=_sub(10, 13), method="EE"),
                                    {"exact": True}),
    "bcg[1:6] ~ablat REML exact": (lambda: _bcg("~ ablat", subset=_sub(6, 13)), {}),
    "bcg[1:6] ~ablat ML less": (lambda: _bcg("~ ablat", subset=_sub(6, 13), method="ML"),
                                {"alternative": "less"}),
    "bcg[1:6] ~ablat DL px2 coef": (lambda: _bcg("~ ablat", subset=_sub(6, 13), method="DL"),
                                    {"p2defn": "px2", "stat": "coef"}),
    "bcg[1:6] ~ablat+year HE btt": (lambda: _bcg("~ ablat + I(year - 1960)", subset=_sub(6, 13),
                                                 method="HE"), {"btt": [2]}),
    "normand[1:6] ~log(n) EE exact": (lambda: _normand(method="EE", subset=_sub(6, 9)), {}),
    "assink 2 per deltype REML exact": (lambda: mp.rma("yi", "vi", mods="~ deltype",
                                                       data=_assink3()), {}),
    "hart ~compgrp+year REML greater": (lambda: _hart(), {"alternative": "greater"}),
    "bcg ~ablat REML approximate": (lambda: _bcg("~ ablat"), {"iter": 2000, "seed": 7}),
    "bcg int REML approximate": (lambda: _bcg_int(), {"iter": 2000, "seed": 3}),
}  # fmt: skip


#: name -> (fit, regplot options)
REGPLOT = {
    "bcg ~ablat": (lambda: _bcg("~ ablat"), {}),
    "bcg ~ablat*alloc mod=ablat ciout": (lambda: _bcg("~ ablat * alloc"),
                                         {"mod": "ablat", "label": "ciout"}),
    "bcg ~ablat DL piout": (lambda: _bcg("~ ablat", method="DL"), {"label": "piout"}),
    "normand ~log(n) seinv": (lambda: _normand(), {"psize": "seinv"}),
    "assink ~deltype+year mod=year piout": (lambda: _assink(), {"mod": "year", "label": "piout"}),
    "hart ~compgrp+year exp vinv plim": (
        lambda: _hart(method="ML"),
        {"mod": "I(year - 1990)", "transf": "exp", "psize": "vinv", "plim": (1.0, 4.0)}),
    "bcg ~ablat EE label all": (lambda: _bcg("~ ablat", method="EE"), {"label": True}),
}  # fmt: skip


#: name -> (fit, profile keyword arguments: xlim and steps given, the same grid on both sides)
PROFILE = {
    "bcg int REML": (lambda: _bcg_int(), {"xlim": (0.0, 1.0), "steps": 11}),
    "bcg int ML knha": (lambda: _bcg_int(method="ML", test="knha"), {"xlim": (0.05, 0.8)}),
    "bcg int DL weights": (lambda: _bcg_int(method="DL", weights=np.arange(1.0, 14.0)),
                           {"xlim": (0.0, 0.5), "steps": 6}),
    "bcg ~ablat*alloc REML": (lambda: _bcg("~ ablat * alloc"), {"xlim": (0.0, 0.6)}),
    "normand ~log(n) PM": (lambda: _normand(method="PM"), {"xlim": (100.0, 1500.0), "steps": 8}),
    "assink ~deltype+year REML t": (lambda: _assink(test="t"), {"xlim": (0.0, 0.5), "steps": 7}),
    "hart ~compgrp+year ML": (lambda: _hart(method="ML"),
                                   {"xlim": (0.0, 0.3), "steps": 5}),
}  # fmt: skip

#: name -> (fit, vif keyword arguments)
VIF = {
    "bcg ~ablat+year(centred)+alloc REML": (lambda: _bcg("~ ablat + I(year - 1960) + alloc"), {}),
    "bcg ~ablat+year(centred)+alloc sets": (lambda: _bcg("~ ablat + I(year - 1960) + alloc"),
                                   {"btt": [[1, 2], [3, 4]]}),
    "bcg ~ablat+year(centred)+alloc reestimate": (lambda: _bcg("~ ablat + I(year - 1960) + alloc", method="DL"),
                                         {"reestimate": True}),
    "bcg ~ablat*alloc names": (lambda: _bcg("~ ablat * alloc", method="ML"),
                               {"btt": ["ablat", "allocrandom"]}),
    "normand ~log(n)+I(n1i/n2i) HE": (
        lambda: mp.rma(measure="MD", m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i",
                       n2i="n2i", mods="~ log(n1i + n2i) + I(n1i / n2i)",
                       data=_csv("dat.normand1999"), method="HE"), {}),
    "assink ~deltype+year reestimate": (lambda: _assink(), {"reestimate": True,
                                                            "btt": [[1, 2], [3]]}),
    "hart ~compgrp+year knha": (lambda: _hart(test="knha"), {}),
}  # fmt: skip

#: name -> (fit, btt for Cook's distances and covariance ratios (None: metafor's default))
INFLUENCE = {
    "bcg ~ablat*alloc REML btt (levels of one study)": (lambda: _bcg("~ ablat * alloc"),
                                                        [1, 4, 5]),
    "bcg ~ablat knha": (lambda: _bcg("~ ablat", test="knha"), None),
    "bcg ~ablat DL adhoc": (lambda: _bcg("~ ablat", method="DL", test="adhoc"), None),
    "bcg ~0+alloc HE": (lambda: _bcg("~ 0 + alloc", method="HE"), None),
    "bcg[1:4] ~ablat+year REML (k - 1 = p)": (
        lambda: _bcg("~ ablat + I(year - 1960)", subset=_sub(4, 13)), None),
    "bcg[1:4] ~ablat+year EE (k - 1 = p)": (
        lambda: _bcg("~ ablat + I(year - 1960)", subset=_sub(4, 13), method="EE"), None),
    "normand ~log(n) EE": (lambda: _normand(method="EE"), None),
    "normand ~log(n) PM t": (lambda: _normand(method="PM", test="t"), [1]),
    "assink ~deltype+year REML btt year": (lambda: _assink(), "year"),
    "assink 2 per deltype ~deltype SJ": (lambda: mp.rma("yi", "vi", mods="~ deltype",
                                                        data=_assink3(), method="SJ"), None),
    "hart ~compgrp+year DL": (lambda: _hart(method="DL"), None),
    "hart ~compgrp+year ML knha": (lambda: _hart(method="ML", test="knha"), None),
    "bcg int REML": (lambda: _bcg_int(), None),
}  # fmt: skip


def _sel():
    return mp.rma(measure="PR", xi=[39, 16, 150, 25, 9, 14], ni=[122, 78, 195, 40, 18, 21],
                  method="DL")  # fmt: skip


#: name -> (fit, hc keyword arguments): the Henmi-Copas interval (models without moderators)
HC = {
    "bcg int REML": (lambda: _bcg_int(), {}),
    "bcg int EE exp": (lambda: _bcg_int(method="EE"), {"transf": "exp"}),
    "bcg int DL level 90": (lambda: _bcg_int(method="DL", level=90), {}),
    "normand int PM": (lambda: mp.rma(measure="MD", m1i="m1i", sd1i="sd1i", n1i="n1i",
                                      m2i="m2i", sd2i="sd2i", n2i="n2i",
                                      data=_csv("dat.normand1999"), method="PM"), {}),
    "hart int ML": (lambda: mp.rma("yi", "vi", data=_hart_data(), method="ML"), {}),
    "selinexor PR DL": (lambda: _sel(), {}),
    "assink first 20 REML": (lambda: mp.rma("yi", "vi", data=_csv("dat.assink2016").head(20)),
                             {}),
}  # fmt: skip

#: kind -> the R function of fam_metareg.R that records it
R_FUNCTIONS = {"predict": "mp_predict_uni", "anova": "mp_anova_uni",
               "fitstats": "mp_fitstats_uni", "lrt": "mp_lrt_uni", "confint": "mp_confint_uni",
               "permutest": "mp_permutest_uni", "regplot": "mp_regplot_uni",
               "profile": "mp_profile_uni", "vif": "mp_vif_uni",
               "influence": "mp_influence_uni", "hc": "mp_hc_uni"}  # fmt: skip


def golden_calls() -> dict[str, tuple[str, dict[str, Any], Callable[[dict[str, Any]], list]]]:
    """``"kind: name" -> (kind, the R call's arguments, compare(ref) -> comparisons)``."""
    out: dict[str, Any] = {}

    def add(kind: str, name: str, args: dict[str, Any], cmp: Callable) -> None:
        out[f"{kind}: {name}"] = (kind, args, cmp)

    for name, (fit, kw) in PREDICT.items():
        res = quiet(fit)
        add("predict", name, predict_call_args(res, **kw),
            lambda ref, res=res, kw=kw: compare_predict(res, ref, **kw))  # fmt: skip
    for name, (fit, kw) in ANOVA.items():
        res = quiet(fit)
        add("anova", name, anova_call_args(res, **kw),
            lambda ref, res=res, kw=kw: compare_anova_uni(res, mp.anova(res, **kw), ref))  # fmt: skip
    for name, fit in FITS.items():
        res = quiet(fit)
        add("fitstats", name, uni_spec(res),
            lambda ref, res=res: compare_fitstats_uni(res, ref))  # fmt: skip
    for name, (f, r, refit) in LRTS.items():
        full, red = quiet(f), quiet(r)
        add("lrt", name, lrt_call_args(full, red, refit),
            lambda ref, a=full, b=red, rf=refit: compare_lrt_uni(
                quiet(lambda: mp.anova(a, b, refit=rf)), ref))  # fmt: skip
    for name, (fit, level) in CONFINT.items():
        res = quiet(fit)
        add("confint", name, confint_call_args(res, level),
            lambda ref, res=res, lv=level: compare_confint_uni(res, res.confint(lv), ref))  # fmt: skip
    for name, (fit, kw) in PERMUTEST.items():
        if "approximate" in name:  # other draws than R's: compared live, within MC error
            continue
        res = quiet(fit)
        # run at compare time: under the golden's metafor version (btt= from 4.8 on)
        add("permutest", name, permutest_call_args(res, **_r_permutest_kw(kw)),
            lambda ref, res=res, kw=kw: compare_permutest_uni(
                res, quiet(lambda: permutest(res, **kw)), ref))  # fmt: skip
    for name, (fit, kw) in REGPLOT.items():
        res = quiet(fit)
        d = regplot_data(res, **kw)
        rkw = {q: v for q, v in kw.items() if q != "mod"}
        add("regplot", name, regplot_call_args(res, d, **rkw),
            lambda ref, res=res, d=d: compare_regplot_uni(res, d, ref))  # fmt: skip
    for name, (fit, kw) in PROFILE.items():
        res = quiet(fit)
        add("profile", name, profile_call_args(res, **kw),
            lambda ref, res=res, kw=kw: compare_profile_uni(
                res, quiet(lambda: res.profile(**kw)), ref))  # fmt: skip
    for name, (fit, kw) in VIF.items():
        res = quiet(fit)
        v = vif(res, **kw)
        add("vif", name, vif_call_args(res, v, "btt" in kw),
            lambda ref, res=res, v=v: compare_vif_uni(res, v, ref))  # fmt: skip
    for name, (fit, btt) in INFLUENCE.items():
        res = quiet(fit)
        add("influence", name, influence_call_args(res, btt),
            lambda ref, res=res, btt=btt: compare_influence_uni(res, ref, btt))  # fmt: skip
    for name, (fit, kw) in HC.items():
        res = quiet(fit)
        add("hc", name, hc_call_args(res, kw.get("transf")),
            lambda ref, res=res, kw=kw: compare_hc_uni(res, hc(res, **kw), ref))  # fmt: skip
    return out


def _r_permutest_kw(kw: dict[str, Any]) -> dict[str, Any]:
    return {q: kw[q] for q in ("exact", "iter", "btt", "alternative", "p2defn", "stat") if q in kw}
