"""``metaparity parity --model``: the model registry (parity/models.py) and the runner
(parity/model_compare.py) -- exit 0 agree / 1 differ / 2 bad input, the JSON and JUnit
reports, ``--golden DIR --record`` then replay without R."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from metaparity.cli import main
from metaparity.parity import models
from metaparity.parity.model_compare import compare_model
from metaparity.parity.models import MODELS, get_model

ROOT = Path(__file__).resolve().parents[2]
LI = ROOT / "fixtures" / "metadat" / "dat.li2007.csv"
NIEL = ROOT / "fixtures" / "metadat" / "dat.nielweise2007.csv"
BCG = ROOT / "fixtures" / "metadat" / "dat.bcg.csv"
XSD = ROOT / "tests" / "data" / "junit.xsd"
BCG_COLS = ["--col", "ai=tpos", "--col", "bi=tneg", "--col", "ci=cpos", "--col", "di=cneg"]
#: a table per row, zero cells and a double-zero study, in two subgroups
GROUPED = (
    "study,ai,n1i,ci,n2i,g\nA,0,20,3,21,x\nB,4,30,9,31,x\nC,0,15,0,15,x\n"
    "D,12,100,20,98,y\nE,2,40,0,42,y\nF,7,55,11,50,y\n"
)


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("metaparity ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _record_then_replay(capsys, monkeypatch, args, measure, model):
    """``--record`` live, then replay the recording with R unavailable; the recording's path."""
    code, out, _ = _run(capsys, *args, "--record")
    assert code == 0 and "recorded in" in out
    [rec] = list(args[-1].glob(f"parity-{measure}-*.json"))
    assert json.loads(rec.read_text())["call"]["model"] == model
    _without_r(monkeypatch)
    code, out2, _ = _run(capsys, *args)  # --golden DIR replays: R is not used
    assert code == 0 and "recorded metafor" in out2 and "all agree" in out2
    return rec


def _without_r(monkeypatch):
    """From here on R is unavailable: a --golden DIR replay must not need it."""
    from metaparity.parity import rbridge

    def unavailable(backend="auto"):
        raise rbridge.RUnavailable("R is not installed (test)")

    monkeypatch.setattr(rbridge, "get_bridge", unavailable)


# ------------------------------------------------------------------ registry (no R needed)
def test_every_entry_says_what_it_needs():
    glmms = ["glmm", "glmm:UM.FS", "glmm:UM.RS", "glmm:CM.EL", "glmm:CM.AL"]
    assert list(MODELS) == ["uni", "peto", "mh", "glmm", "mv", *glmms[1:]]
    for name, entry in MODELS.items():
        assert entry.name == name
        for m in entry.measures:
            assert entry.columns(m), (name, m)
            assert entry.r_function(m).startswith("mp_")
        if name not in ("uni", "mv"):  # the harness's own path; parity/mv_harness.py
            assert entry.fit and entry.r_args and (entry.quantities or entry.comparisons)
    assert get_model("glmm").measures == ("OR", "IRR", "PLO", "IRLN")
    assert get_model("glmm:um.fs") is get_model("glmm:UM.FS")  # case does not matter
    assert get_model("glmm:CM.AL").measures == ("OR",)
    assert get_model("glmm:CM.EL").r_function("OR") == "mp_rma_glmm_cm"  # BiasedUrn
    assert get_model("glmm:CM.EL").r_function("IRR") == "mp_rma_glmm_cm_al"  # glmer
    assert get_model("glmm").columns("IRLN") == [["xi", "ti"]]
    assert get_model("glmm").iterative and not get_model("mh").iterative
    assert get_model("peto").measures == ("PETO",)
    assert ["ai", "n1i", "ci", "n2i"] in get_model("uni").columns("PETO")
    assert get_model("mh").measures == ("OR", "RR", "RD", "IRR", "IRD")
    assert get_model("mh").columns("IRD") == [["x1i", "t1i", "x2i", "t2i"]]


def test_r_function_is_in_the_bridges_library():
    text = "".join(p.read_text() for p in (ROOT / "src/metaparity/parity/r").glob("*.R"))
    for entry in MODELS.values():
        for m in entry.measures:
            assert f"{entry.r_function(m)} <- function(" in text, (entry.name, m)


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--model", "pteo"], r"--model 'pteo' is not a model metaparity can compare; did you mean 'peto'\?"),
        (["--model", "glmmm"], r"did you mean 'glmm'\? \(models: uni, peto, mh, glmm, mv, glmm:UM.FS"),
        (["--model", "glmm:UM.F", "--measure", "OR"], r"did you mean 'glmm:UM.FS'\?"),
        (["--model", "glmm", "--measure", "RR"], r"unknown measure 'RR'; choose one of: OR, IRR, PLO, IRLN"),
        (["--model", "glmm:CM.AL", "--measure", "IRR"], r"unknown measure 'IRR'; choose one of: OR$"),
        (["--model", "glmm", "--measure", "OR", "--method", "DL"], r"--method DL: --model glmm .* is fitted by ML only"),
        (["--model", "glmm", "--measure", "OR", "--test", "knha"], r"--test knha: --model glmm compares z-tests only"),
        (["--model", "glmm:UM.RS", "--measure", "OR", "--control", '{"maxiter": 10}'], r"--control: --model glmm:UM.RS fits metafor with metaparity's tight"),
        (["--model", "glmm", "--measure", "PLO"], r"needs columns \(xi, ni\)"),
        (["--model", "MH", "--measure", "OR"], r"--model mh --measure OR needs columns"),
        (["--model", "mh", "--measure", "PETO"], r"unknown measure 'PETO'; choose one of: OR, RR, RD, IRR, IRD"),
        (["--model", "mh", "--measure", "IRR"], r"needs columns \(x1i, t1i, x2i, t2i\)"),
        (["--model", "peto", "--measure", "OR"], r"unknown measure 'OR'; choose one of: PETO"),
        (["--model", "peto", "--measure", "PETO", "--weights", "n"], r"--weights: --model peto takes no user weights"),
        (["--model", "peto", "--measure", "PETO", "--method", "DL"], r"--method DL: --model peto .* has no estimator choice"),
        (["--model", "peto", "--measure", "PETO", "--test", "knha"], r"--test knha: --model peto uses z-tests only"),
        (["--model", "peto", "--measure", "PETO", "--col", "xi=tpos"], r"'xi' is not an argument of --model peto"),
        (["--model", "peto", "--measure", "PETO"], r"needs columns \(ai, bi, ci, di\) or \(ai, n1i, ci, n2i\)"),
    ],
)  # fmt: skip
def test_bad_model_options_exit_2_with_one_line(tmp_path, capsys, extra, match):
    if "--measure" not in extra:
        extra = [*extra, "--measure", "PETO"]
    j = tmp_path / "r.json"
    code, out, err = _run(capsys, "parity", BCG, *extra, "--json", j, "--golden", tmp_path / "g")
    assert code == 2, out + err
    assert re.search(match, _one_line(err)), err
    assert not j.exists()


def test_bad_tables_exit_2_naming_the_line(tmp_path, capsys):
    f = tmp_path / "t.csv"
    f.write_text("study,ai,n1i,ci,n2i\nA,3,10,2,10\nB,12,10,2,10\n")
    code, _, err = _run(capsys, "parity", f, "--model", "peto", "--measure", "PETO")
    assert code == 2
    assert re.search(r"line 3 \(study 'B'\): ai=12 events > n1i=10", _one_line(err)), err
    f.write_text("study,ai,n1i,ci,n2i\nA,0,10,0,10\nB,0,12,0,10\n")
    code, _, err = _run(capsys, "parity", f, "--model", "peto", "--measure", "PETO")
    assert code == 2 and "Peto's method cannot be used" in _one_line(err)


def test_replay_without_recording_is_refused_before_r(tmp_path, capsys):
    code, _, err = _run(capsys, "parity", LI, "--model", "peto", "--measure", "PETO",
                        "--golden", tmp_path / "empty")  # fmt: skip
    assert code == 2 and "record" in _one_line(err), err


# ------------------------------------------------------------------ live metafor
@pytest.mark.r
@pytest.mark.parametrize(
    "path,extra",
    [(LI, []), (NIEL, ["--slab", "label"]), (BCG, BCG_COLS), ("grouped", ["--by", "g"])],
    ids=["li2007", "nielweise2007", "bcg", "grouped"],
)
def test_peto_agrees_exit_0_with_reports(metafor, tmp_path, capsys, path, extra):
    import xmlschema

    if path == "grouped":
        path = tmp_path / "grouped.csv"
        path.write_text(GROUPED)
    j, x = tmp_path / "r.json", tmp_path / "r.xml"
    code, out, err = _run(capsys, "parity", path, "--model", "peto", "--measure", "PETO",
                          *extra, "--level", "90", "--json", j, "--junit", x)  # fmt: skip
    assert code == 0, out + err
    assert "all agree" in out and "mp_rma_peto" in out
    rep = json.loads(j.read_text())
    assert rep["ok"] and rep["failed"] == 0 and rep["measure"] == "PETO" and rep["level"] == 90
    assert {a["method"] for a in rep["analyses"]} == {"peto"}
    names = {c["quantity"] for c in rep["analyses"][0]["comparisons"]}
    assert {"b", "se", "QE", "QEp", "I2", "H2", "k", "t_pred", "yi[1]"} <= names
    assert any(n.startswith("leave1out.estimate[") for n in names)
    assert any(n.startswith("cumul.Q[") for n in names)
    if "--by" in extra:
        assert [a["group"] for a in rep["analyses"]] == ["all studies", "g=x", "g=y"]
    xmlschema.XMLSchema(XSD).validate(x)


@pytest.mark.r
def test_peto_difference_gives_exit_1(metafor, tmp_path, capsys, monkeypatch):
    """A deliberately wrong fit (b shifted by 1e-7) is caught."""
    entry = MODELS["peto"]
    assert entry.fit is not None
    real = entry.fit

    def skewed(*a, **k):
        res = real(*a, **k)
        return dataclasses.replace(res, b=res.b + 1e-7)

    monkeypatch.setitem(models.MODELS, "peto", dataclasses.replace(entry, fit=skewed))
    j = tmp_path / "r.json"
    code, out, _ = _run(capsys, "parity", LI, "--model", "peto", "--measure", "PETO", "--json", j)
    assert code == 1 and "DIFFERS" in out
    bad = {c["quantity"] for a in json.loads(j.read_text())["analyses"] for c in a["comparisons"]
           if not c["ok"]}  # fmt: skip
    assert "b" in bad and "se" not in bad


@pytest.mark.r
def test_peto_records_then_replays_without_r(metafor, tmp_path, capsys, monkeypatch):
    g = tmp_path / "gold"
    args = ["parity", LI, "--model", "peto", "--measure", "PETO", "--golden", g]
    _record_then_replay(capsys, monkeypatch, args, "PETO", "peto")
    # the uni model's recording of the same file and measure is another call
    code, _, err = _run(capsys, "parity", LI, "--measure", "PETO", "--method", "EE", "--golden", g)
    assert code == 2 and "record" in err


@pytest.mark.r
def test_model_uni_is_the_harness(metafor):
    a = compare_model(LI, model="uni", measure="PETO", method="EE", bridge=metafor)
    assert a.ok and {x.method for x in a.analyses} == {"EE"}


NW2008 = ROOT / "fixtures" / "metadat" / "dat.nielweise2008.csv"


@pytest.mark.r
@pytest.mark.parametrize(
    "path,measure,extra",
    [(BCG, "OR", BCG_COLS), (BCG, "RR", BCG_COLS), (LI, "RD", []), (NIEL, "OR", ["--slab", "label"]),
     (NW2008, "IRR", []), (NW2008, "IRD", []), ("grouped", "OR", ["--by", "g"])],
    ids=["bcg-OR", "bcg-RR", "li2007-RD", "nielweise2007-OR", "nielweise2008-IRR",
         "nielweise2008-IRD", "grouped-OR"],
)  # fmt: skip
def test_mh_agrees_exit_0_with_reports(metafor, tmp_path, capsys, path, measure, extra):
    import xmlschema

    if path == "grouped":
        path = tmp_path / "grouped.csv"
        path.write_text(GROUPED)
    j, x = tmp_path / "r.json", tmp_path / "r.xml"
    code, out, err = _run(capsys, "parity", path, "--model", "mh", "--measure", measure, *extra,
                          "--json", j, "--junit", x)  # fmt: skip
    assert code == 0, out + err
    rep = json.loads(j.read_text())
    assert rep["ok"] and {a["method"] for a in rep["analyses"]} == {"mh"}
    names = {c["quantity"] for c in rep["analyses"][0]["comparisons"]}
    assert {"b", "se", "QE", "I2", "MH", "TA", "t_pred"} <= names
    assert any(n.startswith("cumul.estimate[") for n in names)
    xmlschema.XMLSchema(XSD).validate(x)


@pytest.mark.r
def test_mh_records_then_replays_without_r(metafor, tmp_path, capsys, monkeypatch):
    g = tmp_path / "gold"
    args = ["parity", BCG, "--model", "mh", "--measure", "OR", *BCG_COLS, "--golden", g]
    _record_then_replay(capsys, monkeypatch, args, "OR", "mh")


@pytest.mark.r
def test_pytest_helper_checks_mh_and_peto_fits_against_metafor(metafor):
    """assert_model_agrees_with_metafor: the harness's quantities for arrays in a user's test."""
    from metaparity.parity.testing import assert_model_agrees_with_metafor

    t = dict(ai=[4, 6, 3, 0], bi=[119, 300, 228, 20], ci=[11, 29, 11, 0], di=[128, 274, 209, 18])
    cmps = assert_model_agrees_with_metafor("mh", "OR", bridge=metafor, **t)
    assert len(cmps) > 20 and all(c.ok for c in cmps)
    assert assert_model_agrees_with_metafor("peto", "PETO", bridge=metafor, level=90, **t)
    with pytest.raises(ValueError, match="assert_agrees_with_metafor"):
        assert_model_agrees_with_metafor("uni", "OR", bridge=metafor, **t)


# ------------------------------------------------------------------ rma.glmm
HART = ROOT / "fixtures" / "metadat" / "dat.hart1999.csv"
_GLMM_LIVE = {
    "bcg-UM.FS": (BCG, "glmm", "OR", BCG_COLS),
    "grouped-UM.FS": ("grouped", "glmm:UM.FS", "OR", ["--by", "g"]),
    "nielweise2008-UM.RS-IRR": (NW2008, "glmm:UM.RS", "IRR", []),
    "bcg-CM.EL": (BCG, "glmm:CM.EL", "OR", BCG_COLS),
    "nielweise2007-CM.AL": (NIEL, "glmm:CM.AL", "OR", []),
    "nielweise2008-CM.EL-IRR": (NW2008, "glmm:CM.EL", "IRR", []),
    "li2007-PLO": (LI, "glmm", "PLO", ["--col", "xi=ai", "--col", "ni=n1i"]),
    "hart1999-IRLN": (HART, "glmm", "IRLN", ["--col", "xi=x1i", "--col", "ti=t1i"]),
}


@pytest.mark.r
@pytest.mark.parametrize("case", list(_GLMM_LIVE))
def test_glmm_agrees_exit_0_with_likelihood_evidence(metafor, tmp_path, capsys, case):
    """Every rma.glmm model and measure through the CLI: agreement at the GLMM tolerances,
    and the optimum check (ours not below metafor's in the same likelihood) among them."""
    path, model, measure, extra = _GLMM_LIVE[case]
    if path == "grouped":
        path = tmp_path / "grouped.csv"
        path.write_text(GROUPED)
    j = tmp_path / "r.json"
    code, out, err = _run(capsys, "parity", path, "--model", model, "--measure", measure, *extra,
                          "--json", j)  # fmt: skip
    assert code == 0, out + err
    rep = json.loads(j.read_text())
    assert rep["ok"] and {a["method"] for a in rep["analyses"]} == {model}
    names = {c["quantity"] for a in rep["analyses"] for c in a["comparisons"]}
    assert {"b", "se", "tau2", "logLik"} <= names
    glmer_conditional = model == "glmm:CM.AL" or (model == "glmm:CM.EL" and measure == "IRR")
    if not glmer_conditional:  # those two have no likelihood comparison yet (docs/glmm.md)
        assert {"optimum_not_below_metafor", "loglik_at_metafor"} <= names


@pytest.mark.r
def test_glmm_records_then_replays_and_a_difference_exits_1(metafor, tmp_path, capsys,
                                                           monkeypatch):  # fmt: skip
    g = tmp_path / "gold"
    args = ["parity", NW2008, "--model", "glmm", "--measure", "IRR", "--golden", g]
    rec = _record_then_replay(capsys, monkeypatch, args, "IRR", "glmm")
    # a metafor record that differs in tau2 beyond lme4's optimiser: exit 1, tau2 named
    data = json.loads(rec.read_text())
    [key] = data["results"]
    data["results"][key]["fit"]["tau2"] *= 1.01
    rec.write_text(json.dumps(data))
    code, out3, _ = _run(capsys, *args)
    assert code == 1 and re.search(r"tau2 .*DIFFERS|tau2.*differ", out3, re.S | re.I), out3


@pytest.mark.r
def test_pytest_helper_checks_glmm_fits_against_metafor(metafor):
    from metaparity.parity.testing import assert_model_agrees_with_metafor

    t = dict(ai=[4, 6, 3, 62, 33], bi=[119, 300, 228, 13536, 5036],
             ci=[11, 29, 11, 248, 47], di=[128, 274, 209, 12619, 5761])  # fmt: skip
    cmps = assert_model_agrees_with_metafor("glmm:CM.AL", "OR", bridge=metafor, **t)
    assert {"b", "tau2", "QE_Wld"} <= {c.quantity for c in cmps}
