"""Published binary-outcome analyses (metaparity.reproduce.cases): printed figures, metafor live, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from metaparity.cli import main
from metaparity.reproduce import cases
from metaparity.reproduce.cases import _data, _verdict, case_names, load_case, reproduce_case

NAMES = case_names()


def test_the_bundle_has_peto_mh_and_iv_cases_on_five_data_sets():
    models = {load_case(n).model for n in NAMES}
    sets = {load_case(n).dataset for n in NAMES}
    assert models == {"uni", "mh", "peto"} and len(sets) == 5
    assert sum(len(load_case(n).figures) for n in NAMES) > 250


@pytest.mark.parametrize("name", NAMES)
def test_every_printed_figure_reproduces(name):
    r = reproduce_case(name)
    bad = [(f.as_printed, f.printed, f.ours_printed) for f in r.figures if f.verdict not in
           ("reproduced", "within rounding")]  # fmt: skip
    assert not bad, bad
    assert r.ok and r.k == r.fit.k


def test_double_zero_studies_give_metafors_warning_in_the_report():
    r = reproduce_case("yusuf1985-table6")
    assert r.warnings and "warning:" in r.text()


@pytest.mark.parametrize(
    ("printed", "ours", "verdict"),
    [("-0.0692", -0.06921, "reproduced"), ("<.0001", 3e-9, "reproduced"),
     ("< .0001", 0.2, "discrepancy"), ("0.00%", 0.0, "reproduced"), ("-0.00", -0.004, "reproduced"),
     ("0.70", 0.6951, "reproduced"), ("0.70", 0.6949, "within rounding"), ("0.70", 0.7051, "within rounding"),
     ("0.70", 0.73, "discrepancy"), ("1.5", float("nan"), "not computed")],
)  # fmt: skip
def test_verdict_rules(printed, ours, verdict):
    assert _verdict(printed, ours)[0] == verdict


def test_a_typo_in_a_printed_figure_is_a_discrepancy(monkeypatch):
    spec = dict(cases._specs()["bcg-mh-or"])
    spec["figures"] = [dict(f) for f in spec["figures"]]
    spec["figures"][5]["printed"] = "-0.4743"  # estimate -0.4734, digits swapped
    monkeypatch.setitem(cases._specs(), "bcg-mh-or-typo", {**spec, "name": "bcg-mh-or-typo"})
    r = reproduce_case("bcg-mh-or-typo")
    assert [f.verdict for f in r.figures if f.printed == "-0.4743"] == ["discrepancy"]
    assert not r.ok


@pytest.mark.r
@pytest.mark.parametrize("name", NAMES)
def test_metafor_refits_each_case_to_the_same_numbers(metafor, name):
    """R: mp_case(model, measure, args, method) -- metafor's rma / rma.mh / rma.peto on the data."""
    case = load_case(name)
    df = _data(case)
    ref = metafor.call("mp_case", model=case.model, measure=case.measure,
                       args={k: df[v].to_numpy(float) for k, v in case.args.items()},
                       method=case.options.get("method", "REML"))  # fmt: skip
    assert ref["ok"], ref.get("error")
    r = reproduce_case(name)
    for f in r.figures:
        want = ref[f.key]
        assert want is not None and f.ours is not None, f.key
        assert f.ours == pytest.approx(float(want), rel=1e-10, abs=1e-13), f.key


def test_cli_lists_and_reproduces_cases(tmp_path, capsys):
    assert main(["reproduce", "--list-cases"]) == 0
    assert "yusuf1985-table6" in capsys.readouterr().out
    out = tmp_path / "r"
    assert main(["reproduce", "--case", "bcg-dl-rr", "--case", "yusuf1985-table6",
                 "--out", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "discrepancies in: none" in text
    rec = json.loads((out / "cases.json").read_text())
    assert {r["case"] for r in rec["figures"]} == {"bcg-dl-rr", "yusuf1985-table6"}
    assert np.all([r["verdict"] in ("reproduced", "within rounding") for r in rec["figures"]])


def test_cli_unknown_case_is_a_one_line_error_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["reproduce", "--case", "yusuf1985-table-6", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "did you mean 'yusuf1985-table6'" in err[0] and "--list-cases" in err[0]
    )
    assert not out.exists()
    assert main(["reproduce", "--case", "bcg-mh-or", "--data", "x.csv", "--published", "y.csv",
                 "--out", str(out)]) == 2  # fmt: skip
    assert "drop --data" in capsys.readouterr().err
