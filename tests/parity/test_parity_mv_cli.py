"""``metaparity parity --model mv``: rma_mv against metafor's rma.mv from the command line.

Every rma_mv case of tests/mv_cases.py (three-level, multivariate with known V, UN/AR/HAR/CAR,
the NMA with a fixed rho, a phylogenetic R, two G terms, fixed sigma2, t tests with contain
df) is written as files -- the data, V and R as CSV -- and run through the CLI: exit 0 with
the likelihood evidence.  Also: subgroups, escalc measures, record then replay without R, a
difference exits 1, and bad input exits 2 with one line naming the fix, before R."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaparity.cli import main
from metaparity.parity.mv_harness import read_matrix_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mv_cases import CASES, case_args, konstantopoulos  # noqa: E402

KONST = Path(__file__).resolve().parents[2] / "fixtures" / "metadat" / "dat.konstantopoulos2011.csv"


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("metaparity ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def case_argv(name: str, folder: Path) -> list[str]:
    """The CLI arguments (and files in ``folder``) for the rma_mv keyword arguments of a case."""
    a = case_args(name)
    data = a.pop("data")
    argv = [str(folder / "data.csv"), "--model", "mv", "--measure", "GEN"]
    V = a.pop("V")
    if not isinstance(V, str):
        np.savetxt(folder / "V.csv", np.asarray(V), delimiter=",", fmt="%.17g")
        argv += ["--V", str(folder / "V.csv")]
    data.to_csv(folder / "data.csv", index=False)
    random = a.pop("random")
    for f in [random] if isinstance(random, str) else random:
        argv += ["--random", f]
    struct = a.pop("struct", None)
    for s in [struct] if isinstance(struct, str) else (struct or []):
        argv += ["--struct", s]
    for name_R, mat in (a.pop("R", None) or {}).items():
        mat.to_csv(folder / f"R_{name_R}.csv")
        argv += ["--R", f"{name_R}={folder / f'R_{name_R}.csv'}"]
    if "mods" in a:
        argv += ["--mods", a.pop("mods")]
    for comp in ("sigma2", "tau2", "rho", "gamma2", "phi"):
        if comp in a:
            vals = a.pop(comp)
            vals = vals if isinstance(vals, list) else [vals]
            argv += ["--fixed", f"{comp}=" + ",".join("NA" if v is None else repr(v) for v in vals)]
    for opt in ("method", "test", "dfs"):
        if opt in a:
            argv += [f"--{opt}", a.pop(opt)]
    if "control" in a:
        argv += ["--control", json.dumps(a.pop("control"))]
    assert not a, f"case {name}: arguments the CLI test does not translate: {sorted(a)}"
    return argv


# ------------------------------------------------------------------ no R needed
def test_matrix_files_with_and_without_header_and_row_names(tmp_path):
    m = np.array([[1.0, 0.5], [0.5, 2.0]])
    forms = {
        "plain.csv": "1,0.5\n0.5,2\n",
        "spaces.txt": "1 0.5\n0.5 2\n",
        "header.csv": "a,b\n1,0.5\n0.5,2\n",
        "r_write_csv.csv": '"","a","b"\n"a",1,0.5\n"b",0.5,2\n',
        "r_write_table.tsv": "a\tb\na\t1\t0.5\nb\t0.5\t2\n",
        "numeric_levels.csv": '"","1","2"\n"1",1,0.5\n"2",0.5,2\n',
        "row_names.csv": "a,1,0.5\nb,0.5,2\n",
    }
    for fname, text in forms.items():
        (tmp_path / fname).write_text(text)
        labels, values = read_matrix_file(tmp_path / fname, "--V")
        assert np.array_equal(values, m), fname
        expect = {"plain.csv": None, "spaces.txt": None, "header.csv": ["a", "b"],
                  "numeric_levels.csv": ["1", "2"]}.get(fname, ["a", "b"])  # fmt: skip
        assert labels == expect, fname


@pytest.mark.parametrize(
    "extra,match",
    [
        ([], "--model mv needs --random"),
        (["--random", "~ 1 | distrct/school"], "distrct"),
        (["--random", "~ 1 | district", "--struct", "XYZ"], "struct"),
        (["--random", "~ 1 | district", "--fixed", "omega=1"], "not a variance component"),
        (["--random", "~ 1 | district", "--fixed", "sigma2=a"], "'a' is not a number"),
        (["--random", "~ 1 | district", "--method", "DL"], "REML or ML"),
        (["--random", "~ 1 | district", "--col", "yi=effect"], "effect"),
        (["--random", "~ 1 | district", "--V", "MISSING.csv"], "no such file"),
        (["--random", "~ 1 | district", "--V", "SMALL"], "give the 56 x 56"),
        (["--random", "~ 1 | district", "--V", "TEXT"], "is not a number"),
        (["--random", "~ 1 | district", "--R", "nosuch=R.csv"], "nosuch"),
        (["--random", "~ 1 | district", "--R", "district=RBAD"], "no row for level"),
        (["--random", "~ 1 | district", "--weights", "year"], "no user weights"),
        (["--random", "~ 1 | district", "--mods", "~ yeer"], "yeer"),
        (["--random", "~ 1 | district", "--control", '{"sigma2_init": 1}'], "sigma2.init"),
        (["--random", "~ 1 | district", "--control", '{"tau2.init": 1}'], "no first '~ inner"),
        (["--random", "~ 1 | district", "--control", "metafor"], "JSON object of rma.mv"),
    ],
)
def test_bad_mv_input_exits_2_with_one_line_before_r(tmp_path, capsys, monkeypatch, extra, match):
    from metaparity.parity import rbridge

    def unavailable(backend="auto"):
        raise AssertionError("R must not be started for bad input")

    monkeypatch.setattr(rbridge, "get_bridge", unavailable)
    files = {"SMALL": "1,0\n0,1\n", "TEXT": "1,0.5\n0.5,oops\n",
             "RBAD": '"","11","12"\n"11",1,0\n"12",0,1\n'}  # fmt: skip
    for key, text in files.items():
        (tmp_path / key).write_text(text)
    extra = [str(tmp_path / e) if e in files else
             (e.replace("RBAD", str(tmp_path / "RBAD")) if e.endswith("=RBAD") else e)
             for e in extra]  # fmt: skip
    code, out, err = _run(capsys, "parity", KONST, "--model", "mv", "--measure", "GEN", *extra)
    assert code == 2, out + err
    assert match in _one_line(err), err


@pytest.mark.parametrize("flag,value", [("--random", "~ 1 | district"), ("--V", "V.csv"),
                                         ("--fixed", "rho=0.5"), ("--struct", "CS")])  # fmt: skip
def test_mv_options_need_model_mv(capsys, flag, value):
    code, out, err = _run(capsys, "parity", KONST, "--measure", "GEN", flag, value)
    assert code == 2 and "only --model mv" in _one_line(err)


def test_mods_needs_model_uni_or_mv(capsys):
    # --mods is a meta-regression for --model uni (tests/parity/test_parity_cli_mods.py) and mv
    code, out, err = _run(capsys, "parity", KONST, "--model", "mh", "--measure", "GEN",
                          "--mods", "~ year")  # fmt: skip
    assert code == 2 and "or --model uni" in _one_line(err), err


def test_non_positive_definite_V_names_the_fix(tmp_path, capsys):
    d = konstantopoulos()
    V = np.diag(d["vi"].to_numpy())
    V[0, 1] = V[1, 0] = 1.0  # a covariance far above sqrt(v1 v2)
    np.savetxt(tmp_path / "V.csv", V, delimiter=",")
    code, out, err = _run(capsys, "parity", KONST, "--model", "mv", "--measure", "GEN",
                          "--random", "~ 1 | district", "--V", tmp_path / "V.csv")  # fmt: skip
    assert code == 2 and "positive semi-definite" in _one_line(err)


# ------------------------------------------------------------------ live metafor
@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_every_mv_case_agrees_from_the_cli(metafor, tmp_path, capsys, name):
    j = tmp_path / "r.json"
    code, out, err = _run(capsys, "parity", *case_argv(name, tmp_path), "--json", j)
    assert code == 0, out + err
    rep = json.loads(j.read_text())
    assert rep["ok"] and "mp_rma_mv" in rep["reference"]
    names = {c["quantity"] for c in rep["analyses"][0]["comparisons"]}
    assert {"optimum_not_below_metafor", "loglik_at_metafor", "metafor_loglik_at_ours"} <= names
    assert rep["analyses"][0]["method"].startswith("rma.mv ")


@pytest.mark.r
def test_subgroups_and_an_escalc_measure(metafor, tmp_path, capsys):
    # dat.konstantopoulos2011 with made-up raw data: SMD from means/SDs per school, subgroups
    d = konstantopoulos()
    rng = np.random.default_rng(3)
    n = rng.integers(20, 60, len(d))
    d = d.assign(m1i=np.round(d["yi"] + rng.normal(0, 0.1, len(d)), 4), m2i=0.0,
                 sd1i=1.0, sd2i=np.round(rng.uniform(0.8, 1.2, len(d)), 3), n1i=n, n2i=n,
                 era=np.where(d["year"] < 1985, "early", "late"))  # fmt: skip
    d.to_csv(tmp_path / "d.csv", index=False)
    j = tmp_path / "r.json"
    code, out, err = _run(capsys, "parity", tmp_path / "d.csv", "--model", "mv", "--measure",
                          "SMD", "--random", "~ 1 | district/school", "--by", "era",
                          "--test", "t", "--json", j)  # fmt: skip
    assert code == 0, out + err
    rep = json.loads(j.read_text())
    assert [a["group"] for a in rep["analyses"]] == ["all studies", "era=early", "era=late"]
    names = {c["quantity"] for c in rep["analyses"][1]["comparisons"]}
    assert any(q.startswith("yi[") for q in names) and "ddf" in names


@pytest.mark.r
def test_records_then_replays_without_r_and_a_difference_exits_1(
    metafor, tmp_path, capsys, monkeypatch
):
    gold = tmp_path / "gold"
    gold.mkdir()
    argv = [*case_argv("berkey1998 UN", tmp_path), "--golden", gold]
    code, out, err = _run(capsys, "parity", *argv, "--record")
    assert code == 0 and "recorded in" in out, out + err
    [rec] = list(gold.glob("parity-GEN-*.json"))
    stored = json.loads(rec.read_text())
    assert stored["call"]["model"] == "mv" and stored["call"]["struct"] == ["UN"]
    assert stored["provenance"]["metafor"]

    from metaparity.parity import rbridge

    def unavailable(backend="auto"):
        raise rbridge.RUnavailable("R is not installed (test)")

    monkeypatch.setattr(rbridge, "get_bridge", unavailable)
    code, out, err = _run(capsys, "parity", *argv)
    assert code == 0 and "recorded metafor" in out and "all agree" in out, out + err
    code, out, err = _run(capsys, "parity", *argv, "--method", "ML")  # another call
    assert code == 2 and "another call" in _one_line(err) and "methods" in err
    # other data: the recording is refused, not compared
    data = pd.read_csv(tmp_path / "data.csv")
    data.loc[0, "yi"] += 0.01
    data.to_csv(tmp_path / "data.csv", index=False)
    code, out, err = _run(capsys, "parity", *argv)
    assert code == 2 and "the input changed since recording" in _one_line(err)
    # a recorded value that differs: exit 1
    data.loc[0, "yi"] -= 0.01
    data.to_csv(tmp_path / "data.csv", index=False)
    stored["results"]["all studies|mv"]["fields"]["b"][0] += 1e-3
    rec.write_text(json.dumps(stored))
    code, out, err = _run(capsys, "parity", *argv)
    assert code == 1 and "differ" in out, out + err
