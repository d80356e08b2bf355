"""metaparity's tool policies vs the goldens (fixtures/goldens/metafor-*/policies.json, one per
metafor version, written by r_scripts/goldens_policies.R) -- replayed WITHOUT R, each under the
behaviour of the metafor version that recorded it.

Each ``iv`` record holds 2x2 counts, a measure and a policy's choices (its inverse-variance
version for MH policies) with metafor's answers from mp_policy_fit (rma + confint + the PI by
rule); each ``pooled`` record RevMan 5's MH (or Peto) random-effects analysis and the
rma.mh / rma.peto common effect from mp_policy_mh_dl.  The replay runs
:func:`metaparity.analysis.explain.apply_policy` on the counts and compares at rtol 1e-10.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from conftest import golden_path, golden_versions
from metaparity import metafor_version
from metaparity.analysis.explain import apply_policy
from metaparity.analysis.policies import get_policy
from metaparity.parity.goldens import PRODUCERS

_VERSIONS = golden_versions("policies.json")
_GS = {v: json.loads(golden_path("policies.json", v).read_text()) for v in _VERSIONS}
_IV = [(v, i) for v in _VERSIONS for i in range(len(_GS[v]["iv"]))]
_POOLED = [(v, i) for v in _VERSIONS for i in range(len(_GS[v]["pooled"]))]


def _id(v, kind, i):
    r = _GS[v][kind][i]
    return f"{v}|{r['dataset']}|{r['measure']}|{r.get('policy') or r['choices']['policy']}|{r.get('pooling', 'IV')}"


def _close(ours, theirs, what):
    theirs = math.nan if theirs is None else float(theirs)
    assert ours == pytest.approx(theirs, rel=1e-10, abs=1e-12, nan_ok=True), what


def test_producer_is_registered_and_every_version_recorded():
    assert (
        PRODUCERS["r_scripts/goldens_policies.R"]
        == "fixtures/goldens/metafor-{metafor}/policies.json"
    )
    assert {"3.8.1", "4.8.0"} <= set(_VERSIONS) and any(v.startswith("5.") for v in _VERSIONS)
    for v in _VERSIONS:
        prov = _GS[v]["provenance"]
        assert prov["metafor"] == v and prov["generated_by"] == "r_scripts/goldens_policies.R"
        for key in ("R", "metadat", "r_call", "control", "date"):
            assert key in prov


@pytest.mark.parametrize("v,i", _IV, ids=[_id(v, "iv", i) for v, i in _IV])
def test_iv_record(v, i):
    rec = _GS[v]["iv"][i]
    assert rec["ok"], rec.get("error")
    ch = rec["choices"]
    pol = get_policy(ch["policy"])
    pol = pol if pol.pooling == "IV" else pol.with_choice(pooling="IV")
    for c in ("tau2_method", "test", "pi", "tau2_ci", "add", "to", "drop00"):
        assert getattr(pol, c) == ch[c], f"the golden's {c} is not the policy's: regenerate"
    with metafor_version(v):
        r = apply_policy(pol, pd.DataFrame(rec["counts"]), rec["measure"])
    f = rec["fit"]
    log = rec["measure"] in ("OR", "RR")

    def back(x):
        return math.log(x) if log and math.isfinite(x) else x

    _close(r.b, f["b"], "b")
    _close(r.se, f["se"], "se")
    _close(back(r.ci_lb), f["ci_lb"], "ci_lb")
    _close(back(r.ci_ub), f["ci_ub"], "ci_ub")
    _close(r.tau2, f["tau2"], "tau2")
    _close(r.Q, f["QE"], "QE")
    _close(r.I2, f["I2"] if pol.i2 == "tau2" else f["I2_Q"], "I2")
    assert r.k == f["k"]
    if pol.tau2_ci == "QP":
        _close(r.tau2_lb, f["tau2_lb"], "tau2_lb")
        _close(r.tau2_ub, f["tau2_ub"], "tau2_ub")
    if pol.pi != "none":
        _close(back(r.pi_lb), f["pi_lb"], "pi_lb")
        _close(back(r.pi_ub), f["pi_ub"], "pi_ub")


@pytest.mark.parametrize("v,i", _POOLED, ids=[_id(v, "pooled", i) for v, i in _POOLED])
def test_pooled_record(v, i):
    rec = _GS[v]["pooled"][i]
    assert rec["ok"], rec.get("error")
    pol = get_policy(rec["policy"]).with_choice(pooling=rec["pooling"])
    assert pol.mh_cc == bool(rec["mh_cc"])  # the record's rule is the policy's
    d = pd.DataFrame(rec["counts"])
    with metafor_version(v):
        r = apply_policy(pol, d, rec["measure"])
        rc = apply_policy(pol.with_choice(model="common"), d, rec["measure"])
    f, mh = rec["fit"], rec["mh"]
    log = rec["measure"] in ("OR", "RR")

    def back(x):
        return math.log(x) if log else x

    for name, ours, theirs in [
        ("b", r.b, f["b"]), ("se", r.se, f["se"]), ("ci_lb", back(r.ci_lb), f["ci_lb"]),
        ("ci_ub", back(r.ci_ub), f["ci_ub"]), ("tau2", r.tau2, f["tau2"]), ("QE", r.Q, f["QE"]),
        ("I2", r.I2, f["I2_Q"]), ("mh b", rc.b, mh["b"]), ("mh se", rc.se, mh["se"]),
        ("mh ci_lb", back(rc.ci_lb), mh["ci_lb"]), ("mh QE", rc.Q, mh["QE"]),
        ("mh I2", rc.I2, mh["I2"]),
    ]:  # fmt: skip
        _close(ours, theirs, name)
