"""rma_mv against live metafor rma.mv (R via the bridge): every field at its row of the
tolerance table, plus the likelihood evidence (our log-likelihood at metafor's components
equals metafor's, and our optimum is not below metafor's in either implementation).

The cases (tests/mv_cases.py): three-level (dat.konstantopoulos2011, dat.assink2016),
multivariate with known V (dat.berkey1998: UN, CS, HCS, DIAG, ID), longitudinal
(dat.ishak2007: AR, HAR, CAR, UN), a network meta-analysis (dat.hasselblad1998,
contrast-based, rho = 1/2), a phylogenetic-style known R and two ``~ inner | outer`` terms.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from metaparity.parity.mv import (
    compare_confint_mv,
    compare_mv,
    compare_predict_mv,
    compare_profile_mv,
    compare_ranef_mv,
    failures,
    metafor_confint_mv,
    metafor_predict_mv,
    metafor_profile_mv,
    metafor_ranef_mv,
    metafor_rma_mv,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mv_cases import CASES, fit_case  # noqa: E402


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_rma_mv_agrees_with_metafor(metafor, name):
    ours = fit_case(name)
    ref = metafor_rma_mv(ours, metafor)
    assert ref["ok"], ref.get("error")
    comps = compare_mv(ours, ref)
    assert not failures(comps), "\n".join(failures(comps))
    names = {c.quantity for c in comps}
    assert {"optimum_not_below_metafor", "metafor_loglik_at_ours"} <= names


PREDICT = [
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


@pytest.mark.r
@pytest.mark.parametrize(("name", "kw"), PREDICT, ids=[f"{n} {sorted(k)}" for n, k in PREDICT])
def test_predict_agrees_with_metafor(metafor, name, kw):
    ours = fit_case(name)
    ref = metafor_predict_mv(ours, metafor, **kw)
    assert ref["ok"], ref.get("error")
    comps = compare_predict_mv(ours.predict(**kw), ref)
    assert not failures(comps), "\n".join(failures(comps))


CONFINT = [
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


@pytest.mark.r
@pytest.mark.parametrize(("name", "comp", "j"), CONFINT, ids=[f"{n} {c}{j}" for n, c, j in CONFINT])
def test_profile_confint_agrees_with_metafor(metafor, name, comp, j):
    ours = fit_case(name)
    ci = ours.confint(**{comp: j})
    ref = metafor_confint_mv(ours, comp, j, metafor, at=[ci.ci_lb, ci.ci_ub])
    assert ref["ok"], ref.get("error")
    comps = compare_confint_mv(ci, ref, ours.method)
    assert not failures(comps), "\n".join(failures(comps))


RANEF = [
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


@pytest.mark.r
@pytest.mark.parametrize("name", RANEF)
def test_ranef_agrees_with_metafor(metafor, name):
    ours = fit_case(name)
    ref = metafor_ranef_mv(ours, metafor)
    assert ref["ok"], ref.get("error")
    comps = compare_ranef_mv(ours.ranef(), ref)
    assert comps and not failures(comps), "\n".join(failures(comps))


#: (case, component, 0-based index) profiled against metafor's profile()
PROFILES = [
    ("konstantopoulos2011 ~1|district/school", "sigma2", 0),
    ("konstantopoulos2011 ~1|district/school", "sigma2", 1),
    ("berkey1998 UN", "tau2", 1),
    ("berkey1998 UN", "rho", 0),
    ("ishak2007 AR", "rho", 0),
    ("ishak2007 CAR", "rho", 0),
    ("two G terms UN+CS", "phi", 0),
    ("hasselblad1998 NMA rho=1/2", "tau2", 0),
]


@pytest.mark.r
@pytest.mark.parametrize(("name", "comp", "j"), PROFILES)
def test_profile_agrees_with_metafor(metafor, name, comp, j):
    """At the same values (our xlim passed to metafor): the profiled log-likelihoods, and
    b and the CIs of every refit."""
    ours = fit_case(name)
    curve = ours.profile(**{comp: j}, steps=6)[0]
    ref = metafor_profile_mv(ours, comp, j, steps=6, xlim=curve.xlim, bridge=metafor)
    assert ref["ok"], ref.get("error")
    assert ref["profile"] is not None, "metafor's profile failed with every control"
    comps = compare_profile_mv(curve, ref)
    assert not failures(comps), failures(comps)[:5]


@pytest.mark.r
def test_profile_default_range_is_metafors(metafor):
    ours = fit_case("berkey1998 UN")
    for comp, j in (("tau2", 0), ("rho", 0)):
        curve = ours.profile(**{comp: j}, steps=4)[0]
        ref = metafor_profile_mv(ours, comp, j, steps=4, bridge=metafor)
        assert ref["ok"], ref.get("error")
        vals = [c for c in compare_profile_mv(curve, ref) if c.quantity.startswith("profile.v")]
        assert len(vals) == 4 and all(c.ok for c in vals), failures(vals)


@pytest.mark.r
@pytest.mark.parametrize("dfs", ["residual", "contain"])
def test_ranef_of_g_terms_under_t_agrees_with_metafor(metafor, dfs):
    """'~ inner | outer' BLUPs with t-based intervals (k - p df, or outer levels - p)."""
    ours = fit_case("berkey1998 UN", test="t", dfs=dfs)
    ref = metafor_ranef_mv(ours, metafor)
    assert ref["ok"], ref.get("error")
    comps = compare_ranef_mv(ours.ranef(), ref)
    assert comps and not failures(comps), "\n".join(failures(comps))
