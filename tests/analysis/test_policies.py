"""Tool policies (metaparity.analysis.policies) and explain(): unit tests without R, and live
parity of every IV policy with metafor (R side: mp_policy_fit in parity/r/fam_policies.R).

The R call each live test makes, for a policy with tau^2 estimator M, test T, PI rule P:

    res <- rma(yi, vi, method = M, test = T, control = <tight>)   # yi, vi: escalc(add=, to=, drop00=)
    confint(res)$random["tau^2", ]                                 # tau2_ci = "QP"
    b +/- qt(0.975, k - 2) * sqrt(se^2 + tau2)                     # pi = "t_k2" (k - 1: "t_k1")
    predict(res)$pi.lb / pi.ub                                     # pi = "metafor"
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaparity as mp
from metaparity.analysis.explain import OUTPUTS, apply_policy, explain, parse_policies
from metaparity.analysis.policies import CHOICES, POLICIES, Policy, get_policy

ROOT = Path(__file__).resolve().parents[2]
METADAT = ROOT / "fixtures" / "metadat"
BCG_COLS = {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}
HAS_MH = importlib.util.find_spec("metaparity.models.mh") is not None


def _data(name: str) -> tuple[pd.DataFrame, dict[str, str]]:
    if name == "bcg":
        return pd.read_csv(METADAT / "dat.bcg.csv"), BCG_COLS
    return pd.read_csv(METADAT / f"dat.{name}.csv"), {}


def _iv(p: Policy) -> Policy:
    """The policy with IV pooling (the path that needs no MH/Peto model)."""
    return p if p.pooling == "IV" else p.with_choice(pooling="IV")


# --------------------------------------------------------------------------- #
# the policies themselves
# --------------------------------------------------------------------------- #
def test_every_choice_has_a_source_or_is_marked_undocumented():
    for p in POLICIES.values():
        for c in CHOICES:
            s = p.source(c)
            assert s and isinstance(s, str), (p.name, c)
        assert set(dict(p.sources)) == set(CHOICES), p.name


def test_documented_choices():
    rm5, web, meta, mf = (get_policy(n) for n in ("revman5", "revman_web", "meta", "metafor"))
    assert (rm5.pooling, rm5.tau2_method, rm5.q_rule, rm5.i2, rm5.pi) == (
        "MH",
        "DL",
        "pooled",
        "Q",
        "none",
    )
    assert (web.tau2_method, web.test, web.tau2_ci, web.pi, web.i2) == (
        "REML",
        "knha",
        "QP",
        "t_k2",
        "tau2",
    )
    assert (meta.tau2_method, meta.q_rule, meta.i2, meta.pi) == (
        "REML",
        "pooled_if_DL",
        "Q",
        "t_k2",
    )
    assert (mf.tau2_method, mf.test, mf.drop00, mf.add, mf.to) == ("REML", "z", False, 0.5, "only0")
    assert "undocumented" in get_policy("stata").source("i2")


def test_bad_policy_values_are_refused():
    with pytest.raises(ValueError, match="unknown tool policy 'spss'"):
        get_policy("spss")
    with pytest.raises(ValueError, match="test='hk'"):
        dataclasses.replace(get_policy("metafor"), test="hk")
    with pytest.raises(ValueError, match="not a policy choice"):
        get_policy("metafor").source("colour")
    assert [p.name for p in parse_policies("revman5, metafor")] == ["revman5", "metafor"]


# --------------------------------------------------------------------------- #
# explain: attribution
# --------------------------------------------------------------------------- #
def test_one_differing_choice_takes_the_whole_change():
    d, cols = _data("bcg")
    ex = explain(d, "OR", ["metafor", get_policy("metafor").with_choice(test="knha")], cols=cols)
    (pair,) = ex.attributions
    atts = ex.attributions[pair]
    assert {a.output for a in atts} == {"ci_lb", "ci_ub", "pi_lb", "pi_ub"}
    for a in atts:
        assert a.movers == ("test",)
        assert a.effects["test"] == pytest.approx(a.total, rel=1e-12)
        assert abs(a.interaction) <= 1e-12 * abs(a.total)


def test_metafor_vs_revman_web_bcg():
    d, cols = _data("bcg")
    ex = explain(d, "OR", ["metafor", "revman_web"], cols=cols)
    atts = {a.output: a for a in ex.attributions[("metafor", "revman_web")]}
    assert atts["ci_lb"].movers == ("test",) and atts["ci_ub"].movers == ("test",)
    assert atts["tau2_lb"].defined and atts["tau2_lb"].movers == ("tau2_ci",)
    assert "estimate" not in atts and "tau2" not in atts  # same REML fit, no zero cells
    assert set(atts["pi_lb"].movers) <= {"test", "pi"}
    # the total change is the single effects plus the interaction
    for a in atts.values():
        if not a.defined:
            assert sum(a.effects.values()) + a.interaction == pytest.approx(a.total, rel=1e-9)
    text = ex.text()
    assert "metafor vs revman_web" in text and "caused by tau2_ci" in text
    assert list(ex.table.index) == list(OUTPUTS)


def test_zero_cells_rule_moves_k_and_estimate():
    """dat.nielweise2007 has a double-zero study (Yucel 2004): drop00 changes k."""
    d, _ = _data("nielweise2007")
    ex = explain(d, "OR", ["metafor", "revman_web"])
    atts = {a.output: a for a in ex.attributions[("metafor", "revman_web")]}
    assert atts["k"].value_a == 18 and atts["k"].value_b == 17
    assert atts["k"].movers == ("drop00",)
    assert "drop00" in atts["estimate"].movers


def test_invalid_single_switch_is_reported():
    d, cols = _data("bcg")
    a = get_policy("metafor")
    b = a.with_choice(pooling="Peto", test="knha")
    ex = explain(d, "RR", [a, b], cols=cols)
    if b.name in ex.errors:  # Peto pooling of RR is refused as a whole
        assert "Peto" in ex.errors[b.name] or "peto" in ex.errors[b.name]


# --------------------------------------------------------------------------- #
# live metafor
# --------------------------------------------------------------------------- #
def _yi_vi(p: Policy, d: pd.DataFrame, cols: dict[str, str], measure: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = mp.escalc(measure, **{a: d[cols.get(a, a)].to_numpy() for a in ("ai", "ci") },
                      **_other_cols(d, cols), add=p.add, to=p.to, drop00=p.drop00)  # fmt: skip
    y, v = e.yi.to_numpy(float), e.vi.to_numpy(float)
    ok = np.isfinite(y) & np.isfinite(v)
    return y[ok], v[ok]


def _other_cols(d, cols):
    if "bi" in cols or "bi" in d.columns:
        return {a: d[cols.get(a, a)].to_numpy() for a in ("bi", "di")}
    return {a: d[a].to_numpy() for a in ("n1i", "n2i")}


CASES = [("bcg", "OR"), ("bcg", "RR"), ("li2007", "OR"), ("nielweise2007", "OR"),
         ("nielweise2007", "RD")]  # fmt: skip
NAMES = ["metafor", "revman_web", "stata", "revman5", "meta"]


@pytest.mark.r
@pytest.mark.parametrize("data,measure", CASES)
@pytest.mark.parametrize("name", NAMES)
def test_iv_policy_matches_metafor(metafor, name, data, measure):
    pol = _iv(get_policy(name))
    d, cols = _data(data)
    r = apply_policy(pol, d, measure, cols=cols)
    y, v = _yi_vi(pol, d, cols, measure)
    ref = metafor.call("mp_policy_fit", yi=y, vi=v, method=pol.tau2_method, test=pol.test,
                       pi=pol.pi, tau2_ci=pol.tau2_ci)  # fmt: skip
    assert ref["ok"], ref.get("error")
    f = ref["fit"]
    back = (lambda x: math.log(x)) if measure in ("OR", "RR") else (lambda x: x)
    ours = {"b": r.b, "se": r.se, "ci_lb": back(r.ci_lb), "ci_ub": back(r.ci_ub), "tau2": r.tau2,
            "QE": r.Q, "I2": r.I2, "k": r.k}  # fmt: skip
    theirs = {"b": f["b"], "se": f["se"], "ci_lb": f["ci_lb"], "ci_ub": f["ci_ub"],
              "tau2": f["tau2"], "QE": f["QE"], "I2": f["I2"] if pol.i2 == "tau2" else f["I2_Q"],
              "k": f["k"]}  # fmt: skip
    if pol.tau2_ci == "QP":
        ours |= {"tau2_lb": r.tau2_lb, "tau2_ub": r.tau2_ub}
        theirs |= {"tau2_lb": f["tau2_lb"], "tau2_ub": f["tau2_ub"]}
    if pol.pi != "none":
        ours |= {"pi_lb": back(r.pi_lb), "pi_ub": back(r.pi_ub)}
        theirs |= {"pi_lb": f["pi_lb"], "pi_ub": f["pi_ub"]}
    else:
        assert math.isnan(r.pi_lb) and math.isnan(r.pi_ub)
    for q, val in ours.items():
        ref_v = float(theirs[q])
        assert val == pytest.approx(ref_v, rel=1e-10, abs=1e-12), (q, val, ref_v)


def _counts(d: pd.DataFrame, cols: dict[str, str]) -> dict[str, np.ndarray]:
    if "bi" in cols or "bi" in d.columns:
        return {a: d[cols.get(a, a)].to_numpy(float) for a in ("ai", "bi", "ci", "di")}
    ai, ci = d["ai"].to_numpy(float), d["ci"].to_numpy(float)
    return {"ai": ai, "bi": d["n1i"].to_numpy(float) - ai, "ci": ci,
            "di": d["n2i"].to_numpy(float) - ci}  # fmt: skip


HAS_PETO = importlib.util.find_spec("metaparity.models.peto") is not None
POOLED_CASES = [("MH", c) for c in CASES] + [("Peto", c) for c in CASES if c[1] == "OR"]


@pytest.mark.r
@pytest.mark.parametrize("pooling,case", POOLED_CASES)
def test_revman5_pooled_random_effects_match_metafor(metafor, pooling, case):
    """RevMan 5: DL tau^2 from the Q about the MH estimate (rma.mh's QE), then
    rma(yi, vi, tau2 = that) -- and the common-effect model is rma.mh itself.  The same
    with Peto pooling (rma.peto's Q, escalc("PETO") yi/vi; not a RevMan 5 option)."""
    if not (HAS_MH if pooling == "MH" else HAS_PETO):
        pytest.skip(f"metaparity.models.{pooling.lower()} is not in this build")
    data, measure = case
    pol = get_policy("revman5").with_choice(pooling=pooling)
    d, cols = _data(data)
    r = apply_policy(pol, d, measure, cols=cols)
    rc = apply_policy(pol.with_choice(model="common"), d, measure, cols=cols)
    ref = metafor.call("mp_policy_mh_dl", **_counts(d, cols), measure=measure, add=pol.add,
                       to=pol.to, drop00=pol.drop00, test=pol.test, pooling=pooling,
                       mh_cc=pol.mh_cc)  # fmt: skip
    assert ref["ok"], ref.get("error")
    f, mh = ref["fit"], ref["mh"]
    back = (lambda x: math.log(x)) if measure in ("OR", "RR") else (lambda x: x)
    pairs = [(r.b, f["b"]), (r.se, f["se"]), (back(r.ci_lb), f["ci_lb"]),
             (back(r.ci_ub), f["ci_ub"]), (r.tau2, f["tau2"]), (r.Q, f["QE"]),
             (r.I2, f["I2_Q"]), (r.k, f["k"]),
             (rc.b, mh["b"]), (rc.se, mh["se"]), (back(rc.ci_lb), mh["ci_lb"]),
             (back(rc.ci_ub), mh["ci_ub"]), (rc.Q, mh["QE"]), (rc.I2, mh["I2"])]  # fmt: skip
    for i, (ours, theirs) in enumerate(pairs):
        assert ours == pytest.approx(float(theirs), rel=1e-10, abs=1e-12), (i, ours, theirs)
    assert math.isnan(r.pi_lb) and math.isnan(r.tau2_lb)


@pytest.mark.skipif(not HAS_MH, reason="metaparity.models.mh is not in this build")
def test_mh_pooling_changes_q_only_through_the_q_rule():
    """meta (MH, REML): Q.Cochrane applies only with DL, so its random-effects results
    equal IV pooling; with DL the MH-based Q enters tau^2."""
    d, cols = _data("bcg")
    meta = get_policy("meta")
    r_mh, r_iv = (apply_policy(p, d, "OR", cols=cols) for p in (meta, _iv(meta)))
    assert r_mh.estimate == pytest.approx(r_iv.estimate, rel=1e-14) and r_mh.Q == r_iv.Q
    dl = meta.with_choice(tau2_method="DL")
    r_dl, r_dl_iv = (apply_policy(p, d, "OR", cols=cols) for p in (dl, _iv(dl)))
    assert r_dl.Q != pytest.approx(r_dl_iv.Q, rel=1e-6)


def test_alternative_choices_are_reported_once():
    """IV pooling and the IV Q rule each, alone, drop RevMan 5's MH-based Q: one entry."""
    if not HAS_MH:
        pytest.skip("metaparity.models.mh is not in this build")
    d, _ = _data("nielweise2007")
    ex = explain(d, "OR", ["revman5", "revman_web"])
    atts = {a.output: a for a in ex.attributions[("revman5", "revman_web")]}
    assert "pooling/q_rule" in atts["Q"].effects and atts["Q"].movers == ("pooling/q_rule",)
    assert abs(atts["Q"].interaction) <= 1e-10 * abs(atts["Q"].total)
