"""`metaparity parity`: the harness as a command (exit codes, reports, bad input) and both
bridge backends."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest

from metaparity import rma
from metaparity.cli import main
from metaparity.parity import reports
from metaparity.parity.harness import ALL_METHODS, compare
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.testing import assert_agrees_with_metafor

ROOT = Path(__file__).resolve().parents[2]
SELINEXOR = ROOT / "fixtures" / "selinexor" / "selinexor_counts.csv"
BCG = ROOT / "fixtures" / "metadat" / "dat.bcg.csv"
NORMAND = ROOT / "fixtures" / "metadat" / "dat.normand1999.csv"
XSD = ROOT / "tests" / "data" / "junit.xsd"

SEL_ARGS = ["--col", "xi=events", "--col", "ni=n", "--filter", "outcome=sCR", "--by", "subgroup"]


def _run(capsys, *argv):
    code = main(list(map(str, argv)))
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------- bad input (no R needed)
def _bad(tmp_path, capsys, content: bytes, *extra, measure="PR"):
    f = tmp_path / "data.csv"
    f.write_bytes(content)
    reports = [tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "r.md"]
    code, out, err = _run(
        capsys, "parity", f, "--measure", measure, "--json", reports[0], "--junit", reports[1],
        "--markdown", reports[2], "--golden", tmp_path / "none", *extra,
    )  # fmt: skip
    assert code == 2, (out, err)
    assert not any(p.exists() for p in reports), "no partial report files"
    return err


@pytest.mark.parametrize(
    "content,extra,match",
    [
        (b"", [], "the file is empty"),
        (b"study,xi,ni\n", [], "has a header but no data rows"),
        (b"study,events,n\nA,3,10\nB,4,12\n", [], r"needs columns \(xi, ni\) or \(xi, mi\)"),
        (b"study,xi,ni\nA,3,10\nB,four,12\n", [], r"line 3, column 'xi': 'four' is not a number"),
        (b"study,xi,ni\nA,3,10\nB,,12\n", [], r"line 3, column 'xi' is empty"),
        (b"study,xi,ni\nA,3,10\nA,4,12\n", [], r"study label 'A' appears twice \(lines 2 and 3\)"),
        (b"study,xi,ni\nA,3,10\nB,14,12\n", [], r"line 3 \(study 'B'\): xi=14 events > ni=12 \(xi > ni\).*--filter"),
        (b"study,xi,ni,g\nA,3,10,x\nB,4,12,x\nC,5,9,y\n", ["--by", "g"],
         r"subgroup g='y' has a single study \(line 4\)"),
        (b"study,xi,ni\nA,3,10\n\xff\xfe,4,12\n", [], r"line 3 is not valid UTF-8"),
        (b"study,xi,ni\nA,3,10\nB,4,12\n", ["--method", "REMLX"], r"unknown method 'REMLX'"),
        (b"study,xi,ni\nA,3,10\nB,4,12\n", ["--col", "xi"], r"--col 'xi': expected NAME=VALUE"),
    ],
)  # fmt: skip
def test_bad_input_exit_2_names_the_problem(tmp_path, capsys, content, extra, match):
    import re

    err = _bad(tmp_path, capsys, content, *extra)
    assert re.search(match, err), err
    assert "Traceback" not in err


def test_missing_file(tmp_path, capsys):
    code, _, err = _run(capsys, "parity", tmp_path / "nope.csv", "--measure", "PR")
    assert code == 2 and "no such file" in err


# ---------------------------------------------------------------- live metafor
@pytest.mark.r
@pytest.mark.parametrize(
    "path,args,methods",
    [
        (SELINEXOR, ["--measure", "PLO", "--col", "xi=events", "--col", "ni=n", "--filter",
                     "outcome=CR", "--by", "subgroup"], ALL_METHODS),
        (BCG, ["--measure", "RR", "--col", "ai=tpos", "--col", "bi=tneg", "--col", "ci=cpos",
               "--col", "di=cneg", "--weights", "n"], (*ALL_METHODS, "GENQ")),
        (NORMAND, ["--measure", "SMD"], ALL_METHODS),
    ],
    ids=["selinexor", "dat.bcg", "dat.normand1999"],
)  # fmt: skip
@pytest.mark.parametrize("test", ["z", "knha"])
def test_parity_cli_agrees_for_every_estimator(
    metafor, tmp_path, capsys, path, args, methods, test
):
    import xmlschema

    j, x, m = tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "r.md"
    code, out, err = _run(
        capsys, "parity", path, *args, "--method", "all", "--test", test,
        "--json", j, "--junit", x, "--markdown", m,
    )  # fmt: skip
    assert code == 0, out + err
    assert "all agree" in out
    rep = json.loads(j.read_text())
    assert rep["ok"] and rep["failed"] == 0 and rep["quantities"] > 100
    assert {a["method"] for a in rep["analyses"]} == set(methods)
    xmlschema.XMLSchema(XSD).validate(x)  # the JUnit file is valid JUnit XML
    assert m.read_text().startswith("# metaparity parity report")


@pytest.mark.r
def test_metafor_failure_is_exit_2_and_junit_error(metafor, tmp_path, capsys):
    """metafor's Fisher scoring stops after one step (control maxiter = 1, in every metafor
    release) without converging: reported, not hidden, exit 2."""
    import xmlschema

    x = tmp_path / "r.xml"
    code, out, _ = _run(capsys, "parity", SELINEXOR, "--measure", "PR", *SEL_ARGS,
                        "--method", "DL,REML", "--control", '{"maxiter": 1}',
                        "--junit", x)  # fmt: skip
    assert code == 2
    assert "metafor error: Fisher scoring algorithm did not converge" in out
    assert "[metaparity control= stops with the same error]" in out
    assert not x.exists()  # exit 2: no report file is written (the text report shows the errors)
    rep = compare(SELINEXOR, measure="PR", method="DL,REML", by="subgroup",
                  columns={"xi": "events", "ni": "n"}, filters={"outcome": "sCR"},
                  bridge=get_bridge(), control={"maxiter": 1})  # fmt: skip
    xmlschema.XMLSchema(XSD).validate(StringIO(reports.to_junit(rep)))
    assert 'errors="2"' in reports.to_junit(rep)  # both subgroups, as JUnit errors


@pytest.mark.r
def test_differences_give_exit_1_and_junit_failures(metafor, tmp_path, capsys, monkeypatch):
    """A deliberately wrong engine (b shifted by 1e-6) must be caught, quantity by quantity."""
    import xmlschema

    import metaparity.parity.harness as h

    real = h.rma

    def skewed(*a, **k):
        res = real(*a, **k)
        import dataclasses

        return dataclasses.replace(res, b=res.b + 1e-6)

    monkeypatch.setattr(h, "rma", skewed)
    x = tmp_path / "r.xml"
    code, out, _ = _run(capsys, "parity", SELINEXOR, "--measure", "PR", *SEL_ARGS,
                        "--method", "DL", "--junit", x)  # fmt: skip
    assert code == 1
    assert "DIFFERS" in out and "b " in out
    xmlschema.XMLSchema(XSD).validate(x)
    import xml.etree.ElementTree as ET

    root = ET.parse(x).getroot()
    failed = {tc.get("name") for tc in root.iter("testcase") if tc.find("failure") is not None}
    assert {"b", "predict_pred"} <= failed and "tau2" not in failed
    assert int(root.get("failures")) == 3 * len(failed)  # the same quantities in 3 analyses


@pytest.mark.r
def test_golden_dir_records_then_replays_without_r(metafor, tmp_path, capsys, monkeypatch):
    g = tmp_path / "gold"
    args = [
        "parity",
        SELINEXOR,
        "--measure",
        "PLO",
        *SEL_ARGS,
        "--method",
        "DL,REML",
        "--golden",
        g,
    ]
    code, out, _ = _run(capsys, *args, "--record")
    assert code == 0 and len(list(g.glob("parity-PLO-*.json"))) == 1
    from metaparity.parity import rbridge

    def unavailable(backend="auto"):
        raise rbridge.RUnavailable("R is not installed (test)")

    monkeypatch.setattr(rbridge, "get_bridge", unavailable)
    code, out2, _ = _run(capsys, *args)  # --golden DIR replays: R is not used
    assert code == 0 and "recorded metafor" in out2 and "all agree" in out2


@pytest.mark.r
def test_backends_give_identical_results(metafor):
    from metaparity.parity.rbridge import get_bridge

    a, b = get_bridge("rpy2"), get_bridge("rscript")
    assert a.versions() == b.versions()
    y, v = [0.1, 0.3, 0.5, 0.2, -0.1], [0.01, 0.02, 0.03, 0.015, 0.02]
    from metaparity.parity.rbridge import _rma_call

    calls = [_rma_call(y, v, m, t, 95, None, "PLO", None, "ilogit")
             for m in ("DL", "REML", "PM", "SJ") for t in ("z", "knha")]  # fmt: skip
    assert a.run(calls) == b.run(calls)  # numbers cross as %.17g text: bit-identical
    assert np.array_equal(a.escalc("PR", xi=[0, 5], ni=[10, 10])[0],
                          b.escalc("PR", xi=[0, 5], ni=[10, 10])[0])  # fmt: skip
    bad = b.rma([0.1, 0.2], [0.01, 0.0], method="DL")
    assert bad["ok"] is False and "non-positive" in bad["error"]


@pytest.mark.r
def test_assert_agrees_with_metafor(metafor):
    res = rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="PM", test="knha")
    cmps = assert_agrees_with_metafor(res, bridge=metafor)
    assert len(cmps) > 20
    import dataclasses

    with pytest.raises(AssertionError, match=r"tau2: metaparity"):
        assert_agrees_with_metafor(dataclasses.replace(res, tau2=res.tau2 * 1.001), bridge=metafor)


@pytest.mark.r
@pytest.mark.parametrize("mods", ["~ ablat * alloc", "~ poly(ablat, 2)", "~ 0 + alloc"])
def test_assert_agrees_with_metafor_takes_meta_regressions(metafor, mods):
    import dataclasses

    import pandas as pd

    d = pd.read_csv(BCG)
    res = rma(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", mods=mods, data=d,
              test="knha")  # fmt: skip
    cmps = assert_agrees_with_metafor(res, bridge=metafor)
    assert {"QM", "R2"} <= {c.quantity for c in cmps} or mods.startswith("~ 0")
    parts = {c.quantity.split(":")[0] for c in cmps if ":" in c.quantity}
    assert {"predict", "anova", "fitstats", "confint", "influence"} <= parts
    with pytest.raises(AssertionError, match=r"tau2"):
        assert_agrees_with_metafor(dataclasses.replace(res, tau2=res.tau2 * 1.001), bridge=metafor)
