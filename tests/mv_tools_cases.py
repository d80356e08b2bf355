"""The tools around rma_mv compared with metafor: predict, confint, ranef, profile, anova and
robust (CR1, Stata adjustments, CR2 with clubSandwich), for rma_mv and rma fits.

Each entry of :data:`TOOLS` is ``run(bridge) -> list[Comparison]``: metaparity's result and
metafor's answer through ``bridge`` (the live bridge in the tests, or a recording of it:
tests/bridge_calls.py), compared.  The live tests (tests/parity/test_mv_live.py,
tests/analysis/test_robust.py, tests/analysis/test_anova_mv.py) run them on live metafor;
the goldens (r_scripts/goldens_mv_tools.R from fixtures/mv_tools_cases.json) record
metafor's answers to the same bridge calls, replayed by tests/parity/test_goldens_mv_tools.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import metaparity as mp
from metaparity.parity.mv import (
    compare_anova_mv,
    compare_confint_mv,
    compare_predict_mv,
    compare_profile_mv,
    compare_ranef_mv,
    compare_robust,
    metafor_anova_mv,
    metafor_confint_mv,
    metafor_predict_mv,
    metafor_profile_mv,
    metafor_ranef_mv,
    metafor_robust,
)
from metaparity.parity.tolerances import Comparison
from mv_cases import fit_case, konstantopoulos

PREDICT: list[tuple[str, dict[str, Any]]] = [
    ("konstantopoulos2011 ~1|district/school", {}),
    ("konstantopoulos2011 ~1|district/school", {"transf": "exp"}),
    ("konstantopoulos2011 ~year t contain", {}),
    ("konstantopoulos2011 ~year t contain", {"newmods": [[1980], [1990]]}),
    ("konstantopoulos2011 ~year t contain", {"newmods": [[1990]], "intercept": False}),
    ("berkey1998 UN", {"newmods": [[1, 0], [0, 1]], "tau2_levels": ["AL", "PD"]}),
    ("berkey1998 UN", {"newmods": [[1, 0]]}),
    ("berkey1998 UN", {}),
    ("ishak2007 HAR", {"newmods": [[0, 0, 1, 0]], "tau2_levels": [3]}),
    ("two G terms UN+CS", {"newmods": [[1, 0]], "tau2_levels": ["A"]}),
    ("hasselblad1998 NMA rho=1/2", {"newmods": [[1, 0, 0], [0, 1, -1]]}),
    ("phylo synthetic R", {"newmods": [[0.5]], "level": 90}),
]

CONFINT: list[tuple[str, str, int]] = [
    ("konstantopoulos2011 ~1|district/school", "sigma2", 0),
    ("konstantopoulos2011 ~1|district/school", "sigma2", 1),
    ("berkey1998 UN", "rho", 0),
    ("berkey1998 UN", "tau2", 1),
    ("berkey1998 CS", "rho", 0),
    ("ishak2007 AR", "rho", 0),
    ("ishak2007 CAR", "rho", 0),
    ("hasselblad1998 NMA rho=1/2", "tau2", 0),
    ("phylo synthetic R", "sigma2", 1),
    ("two G terms UN+CS", "gamma2", 0),
    ("two G terms UN+CS", "phi", 0),
]

RANEF: list[str] = [
    "konstantopoulos2011 ~1|district/school",
    "konstantopoulos2011 ~year t contain",
    "assink2016 ~1|study/esid ~deltype",
    "phylo synthetic R",
    "konstantopoulos2011 sigma2 fixed",
    # '~ inner | outer' terms
    "konstantopoulos2011 CS school|district",
    "berkey1998 UN",
    "berkey1998 DIAG",
    "ishak2007 AR",
    "ishak2007 CAR",
    "ishak2007 HAR",
    "hasselblad1998 NMA rho=1/2",
    "two G terms UN+CS",
]

#: (case, component, 0-based index) profiled against metafor's profile()
PROFILES: list[tuple[str, str, int]] = [
    ("konstantopoulos2011 ~1|district/school", "sigma2", 0),
    ("konstantopoulos2011 ~1|district/school", "sigma2", 1),
    ("berkey1998 UN", "tau2", 1),
    ("berkey1998 UN", "rho", 0),
    ("ishak2007 AR", "rho", 0),
    ("ishak2007 CAR", "rho", 0),
    ("two G terms UN+CS", "phi", 0),
    ("hasselblad1998 NMA rho=1/2", "tau2", 0),
]

MV_ROBUST: list[tuple[str, str]] = [
    ("konstantopoulos2011 ~1|district/school", "district"),
    ("konstantopoulos2011 ~year t contain", "district"),
    ("assink2016 ~1|study/esid ~deltype", "study"),
    ("berkey1998 UN", "trial"),
    ("hasselblad1998 NMA rho=1/2", "study"),
    ("phylo synthetic R", "species"),
]
ADJUSTS: list[Any] = [True, False, "Stata1", "Stata2"]
UNI_ROBUST: list[tuple[str, str, bool]] = [
    ("REML", "z", True), ("DL", "knha", True), ("EE", "z", True), ("REML", "z", False),
    ("PM", "t", True),
]  # fmt: skip
CR2_MV: list[tuple[str, str]] = [c for c in MV_ROBUST if c[0] != "phylo synthetic R"] + [
    ("ishak2007 AR", "study")
]
CR2_UNI: list[tuple[str, bool]] = [(m, mods) for mods in (True, False)
                                   for m in ("REML", "DL", "EE")]  # fmt: skip

K = "konstantopoulos2011 ~1|district/school"
KY = "konstantopoulos2011 ~year t contain"
NMA = "hasselblad1998 NMA rho=1/2"


def anova_cases() -> dict[str, Callable[[], dict[str, Any]]]:
    """name -> the arguments of anova (res, res2, btt, X, refit)."""
    return {
        "btt z": lambda: dict(res=fit_case(NMA), btt=[1, 2]),
        "btt t": lambda: dict(res=fit_case(KY), btt=[1]),
        "btt by name": lambda: dict(res=fit_case("assink2016 ~1|study/esid ~deltype"),
                                    btt=["deltypeovert"]),
        "X z, not of full rank": lambda: dict(res=fit_case(NMA), X=[[1, -1, 0], [0, 1, -1],
                                                                  [1, 0, -1]]),
        "X z": lambda: dict(res=fit_case(NMA), X=[[1, -1, 0], [0, 1, -1]]),
        "X t": lambda: dict(res=fit_case(KY), X=[[1, 1990], [0, 1]]),
        "X UN": lambda: dict(res=fit_case("berkey1998 UN"), X=[[1, -1]]),
        "LRT REML sigma2 = 0": lambda: dict(res=fit_case(K), res2=fit_case(K, sigma2=[None, 0])),
        "LRT ML moderator": lambda: dict(
            res=fit_case(KY, method="ML", test="z", dfs="residual"), res2=fit_case(K, method="ML")),
        "LRT REML refit": lambda: dict(res=fit_case(KY, test="z", dfs="residual"), res2=fit_case(K),
                                       refit=True),
        "LRT UN vs CS": lambda: dict(res=fit_case("berkey1998 UN"), res2=fit_case("berkey1998 CS")),
    }  # fmt: skip


def _ok(ref: dict[str, Any]) -> dict[str, Any]:
    assert ref["ok"], ref.get("error")
    return ref


def _predict(name: str, kw: dict[str, Any], bridge: Any) -> list[Comparison]:
    ours = fit_case(name)
    ref = _ok(metafor_predict_mv(ours, bridge, **kw))
    return compare_predict_mv(ours.predict(**kw), ref)


def _confint(name: str, comp: str, j: int, bridge: Any) -> list[Comparison]:
    ours = fit_case(name)
    ci = ours.confint(**{comp: j})
    ref = _ok(metafor_confint_mv(ours, comp, j, bridge, at=[ci.ci_lb, ci.ci_ub]))
    return compare_confint_mv(ci, ref, ours.method)


def _ranef(name: str, over: dict[str, Any], bridge: Any) -> list[Comparison]:
    ours = fit_case(name, **over)
    ref = _ok(metafor_ranef_mv(ours, bridge))
    comps = compare_ranef_mv(ours.ranef(), ref)
    assert comps, "no BLUPs compared"
    return comps


def _profile(name: str, comp: str, j: int, bridge: Any) -> list[Comparison]:
    """At the same values (our xlim passed to metafor): the profiled log-likelihoods, and b
    and the CIs of every refit."""
    ours = fit_case(name)
    curve = ours.profile(**{comp: j}, steps=6)[0]
    ref = _ok(metafor_profile_mv(ours, comp, j, steps=6, xlim=curve.xlim, bridge=bridge))
    assert ref["profile"] is not None, "metafor's profile failed with every control"
    return compare_profile_mv(curve, ref)


def _profile_default_range(bridge: Any) -> list[Comparison]:
    """metafor's own default range (no xlim sent): the values profiled are ours."""
    ours = fit_case("berkey1998 UN")
    out = []
    for comp, j in (("tau2", 0), ("rho", 0)):
        curve = ours.profile(**{comp: j}, steps=4)[0]
        ref = _ok(metafor_profile_mv(ours, comp, j, steps=4, bridge=bridge))
        vals = [c for c in compare_profile_mv(curve, ref) if c.quantity.startswith("profile.v")]
        assert len(vals) == 4
        out += vals
    return out


def _anova(name: str, bridge: Any) -> list[Comparison]:
    kw = anova_cases()[name]()
    ref = _ok(metafor_anova_mv(bridge=bridge, **kw))
    res, res2 = kw.pop("res"), kw.pop("res2", None)
    comps = compare_anova_mv(mp.anova(res, res2, **kw), ref)
    assert comps, "nothing compared"
    return comps


def _robust_mv(name: str, cluster: str, adjust: Any, cr2: bool, bridge: Any) -> list[Comparison]:
    rob = mp.robust(fit_case(name), cluster, adjust=adjust, clubSandwich=cr2)
    comps = compare_robust(rob, _ok(metafor_robust(rob, bridge)))
    if cr2:  # clubSandwich's vcovCR / coef_test / Wald_test called directly, too
        assert any(c.quantity.startswith("club_df") for c in comps), "no clubSandwich record"
    return comps


def _robust_uni(method: str, test: str, mods: bool, cr2: bool, bridge: Any) -> list[Comparison]:
    d = konstantopoulos()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = (mp.rma_mods(d.yi, d.vi, mods=d[["year"]], method=method, test=test) if mods
               else mp.rma(d.yi, d.vi, method=method, test=test))  # fmt: skip
    rob = mp.robust(res, d.district, clubSandwich=cr2)
    return compare_robust(rob, _ok(metafor_robust(rob, bridge)))


def _tools() -> dict[str, Callable[[Any], list[Comparison]]]:
    t: dict[str, Callable[[Any], list[Comparison]]] = {}
    for name, kw in PREDICT:
        t[f"predict | {name} | {sorted(kw)}"] = partial(_predict, name, kw)
    for name, comp, j in CONFINT:
        t[f"confint | {name} | {comp}{j}"] = partial(_confint, name, comp, j)
    for name in RANEF:
        t[f"ranef | {name}"] = partial(_ranef, name, {})
    for dfs in ("residual", "contain"):
        t[f"ranef | berkey1998 UN | t {dfs}"] = partial(_ranef, "berkey1998 UN",
                                                        {"test": "t", "dfs": dfs})  # fmt: skip
    for name, comp, j in PROFILES:
        t[f"profile | {name} | {comp}{j}"] = partial(_profile, name, comp, j)
    t["profile | berkey1998 UN | default range"] = _profile_default_range
    for name in anova_cases():
        t[f"anova | {name}"] = partial(_anova, name)
    for name, cluster in MV_ROBUST:
        for adjust in ADJUSTS:
            t[f"robust | {name} | adjust={adjust}"] = partial(_robust_mv, name, cluster, adjust,
                                                              False)  # fmt: skip
    for method, test, mods in UNI_ROBUST:
        t[f"robust | rma {method} {test} mods={mods}"] = partial(_robust_uni, method, test, mods,
                                                                 False)  # fmt: skip
    for name, cluster in CR2_MV:
        t[f"robust CR2 | {name}"] = partial(_robust_mv, name, cluster, True, True)
    for method, mods in CR2_UNI:
        t[f"robust CR2 | rma {method} mods={mods}"] = partial(_robust_uni, method, "z", mods, True)
    return t


#: name -> run(bridge): the comparisons of one tool call with metafor's answer
TOOLS: dict[str, Callable[[Any], list[Comparison]]] = _tools()
