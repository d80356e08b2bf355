"""`metaparity parity` keeps the exit-code contract: bad input is caught before R (exit 2,
one line naming the file, line, study, column, value and the fix, no report file left),
metafor failures are exit 2 (never a disagreement), recordings cannot be replayed against
other data, and analyses too large for metafor's k x k matrices are refused before R."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from metaparity._core.io import InputError, read_table
from metaparity.cli import main
from metaparity.parity import rbridge, recordings, reports, rmemory
from metaparity.parity.harness import Analysis, ParityReport, _run_with_progress
from metaparity.parity.tolerances import compare_values

ROOT = Path(__file__).resolve().parents[2]
SELINEXOR = ROOT / "fixtures" / "selinexor" / "selinexor_counts.csv"
XSD = ROOT / "tests" / "data" / "junit.xsd"
SEL = ["--measure", "PLO", "--col", "xi=events", "--col", "ni=n", "--filter", "outcome=sCR",
       "--by", "subgroup", "--method", "DL,REML"]  # fmt: skip


def _run(capsys, *argv):
    code = main(list(map(str, argv)))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def no_r(monkeypatch):
    """R must not even be started: getting a bridge is a test failure."""

    def forbidden(backend="auto"):
        raise AssertionError("R was started, but the input is checked before R")

    monkeypatch.setattr(rbridge, "get_bridge", forbidden)


def _no_r_allowed(backend="auto"):
    raise AssertionError("R was started, but the input is checked before R")


def _refused(tmp_path, capsys, content: str, *args, match: str):
    f = tmp_path / "data.csv"
    f.write_text(content)
    j = tmp_path / "r.json"
    code, out, err = _run(capsys, "parity", f, *args, "--json", j)
    assert code == 2, (out, err)
    assert re.search(match, err), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not j.exists(), "no report file after exit 2"
    return err


# ---------------------------------------------------------------- values checked before R
@pytest.mark.parametrize(
    "content,args,match",
    [
        ("study,yi,vi\nA,0.1,0.01\nB,0.2,-0.02\nC,0.3,0.03\n", ["--measure", "GEN"],
         r"data.csv: line 3 \(study 'B'\), column 'vi' \(vi\): -0.02 is negative; sampling "
         r"variances must be >= 0 -- correct the value or drop the row \(--filter\)"),
        ("study,yi,sei\nA,0.1,0.1\nB,0.2,-0.2\n", ["--measure", "GEN"],
         r"line 3 \(study 'B'\), column 'sei' \(sei\): -0.2 is negative"),
        ("study,m1i,sd1i,n1i,m2i,sd2i,n2i\nA,1,1,10,0,1,10\nB,2,-1,10,1,1,10\n",
         ["--measure", "SMD"], r"line 3 \(study 'B'\), column 'sd1i' \(sd1i\): -1 is negative; "
         r"standard deviations must be >= 0"),
        ("study,m1i,sd1i,n1i,m2i,sd2i,n2i\nA,1,1,10,0,1,10\nB,2,1,0,1,1,10\n",
         ["--measure", "MD"], r"line 3 \(study 'B'\), column 'n1i' \(n1i\): 0 is not a valid "
         r"sample size; group sizes must be > 0"),
        ("trial,events,n\nA,3,10\nB,4,-12\n", ["--measure", "PR", "--slab", "trial", "--col",
         "xi=events", "--col", "ni=n"], r"line 3 \(study 'B'\), column 'n' \(ni\): -12"),
        ("study,tpos,n1,cpos,n2\nA,3,10,4,10\nB,12,10,4,10\n", ["--measure", "OR", "--col",
         "ai=tpos", "--col", "n1i=n1", "--col", "ci=cpos", "--col", "n2i=n2"],
         r"line 3 \(study 'B'\): tpos=12 events > n1=10 \(ai > n1i\); events cannot exceed"),
        ("study,ri,ni\nA,0.3,20\nB,1.3,30\n", ["--measure", "COR"],
         r"line 3 \(study 'B'\), column 'ri' \(ri\): 1.3 is not a correlation; correlations "
         r"lie in \[-1, 1\]"),
        ("study,ri,ni\nA,0.3,20\nB,-1.5,30\n", ["--measure", "ZCOR"], r"-1.5 is not a correlation"),
        ("study,yi,vi\nA,0.1,0.01\nB,0.2,inf\n", ["--measure", "GEN"],
         r"line 3 \(study 'B'\), column 'vi' \(vi\): inf is not a finite number"),
        ("study,yi,vi\nA,0.1,0.01\nB,0.2,abc\n", ["--measure", "GEN"],
         r"line 3, column 'vi': 'abc' is not a number"),
        ("study,yi\nA,0.1\nB,0.2\n", ["--measure", "GEN"],
         r"measure GEN needs columns \(yi, vi\) or \(yi, sei\)"),
        ("study,yi,vi,w\nA,0.1,0.01,1\nB,0.2,0.02,0\n", ["--measure", "GEN", "--weights", "w"],
         r"line 3 \(study 'B'\), column 'w': 0 is not a valid weight; weights must be > 0"),
        ("yi,vi\n0.1,0.01\n0.2,-0.02\n", ["--measure", "GEN"], r"line 3 \(row 2\), column 'vi'"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_before_r(tmp_path, capsys, no_r, content, args, match):
    _refused(tmp_path, capsys, content, *args, match=match)


def test_bad_values_are_refused_with_golden_too(tmp_path, capsys, no_r):
    _refused(tmp_path, capsys, "study,yi,vi\nA,0.1,0.01\nB,0.2,-0.02\n", "--measure", "GEN",
             "--golden", tmp_path / "g", match=r"line 3 \(study 'B'\), column 'vi'")  # fmt: skip


# ---------------------------------------------------------------- --col, --by, ... names
EVENTS = "study,events,n,outcome,arm\nA,3,10,x,1\nB,4,12,x,2\nC,5,14,x,1\n"
PR = ["--measure", "PR", "--col", "xi=events", "--col", "ni=n"]


@pytest.mark.parametrize(
    "args,match",
    [
        (["--measure", "PR", "--col", "xx=events"],
         r"--col xx=events: 'xx' is not an argument of measure PR; its arguments are mi, ni, xi "
         r"\(e.g. --col xi=events\)"),
        (["--measure", "PR", "--col", "x=events"], r"did you mean 'xi'\?"),
        (["--measure", "PR", "--col", "xi=evnts", "--col", "ni=n"],
         r"data.csv: column 'evnts' \(given with --col xi=evnts\) is not in the file; did you "
         r"mean 'events'\? \(columns: study, events, n, outcome, arm\)"),
        ([*PR, "--by", "outcme"], r"column 'outcme' \(given with --by\) .*did you mean 'outcome'"),
        ([*PR, "--slab", "studi"], r"column 'studi' \(given with --slab\) .*did you mean 'study'"),
        ([*PR, "--weights", "nn"], r"column 'nn' \(given with --weights\) .*did you mean 'n'"),
        ([*PR, "--filter", "arms=1"], r"column 'arms' \(given with --filter\) .*mean 'arm'"),
        ([*PR, "--by", "zzz"], r"column 'zzz' \(given with --by\) is not in the file \(columns"),
    ],
)  # fmt: skip
def test_column_options_name_the_valid_choices(tmp_path, capsys, no_r, args, match):
    _refused(tmp_path, capsys, EVENTS, *args, match=match)


# ---------------------------------------------------------------- decimal commas
def test_read_table_decimal_comma(tmp_path):
    eu = tmp_path / "eu.csv"
    eu.write_text("study;yi;vi\nA;0,5;0,01\nB;-1,25;0,02\n")
    for decimal in (None, ","):
        df = read_table(eu, decimal=decimal)
        assert df["yi"].tolist() == [0.5, -1.25] and df["vi"].tolist() == [0.01, 0.02]
    assert read_table(eu).attrs["decimal"] == ","
    plain = tmp_path / "plain.csv"
    plain.write_text('study,yi,vi\nA,0.5,0.01\nB,"1,5",0.02\n')
    assert read_table(plain).attrs["decimal"] == "."  # a ','-separated file stays as is
    with pytest.raises(InputError, match=r"separated by ',' so ',' cannot also be the decimal"):
        read_table(plain, decimal=",")
    with pytest.raises(InputError, match=r"give '.' or ','"):
        read_table(plain, decimal=";")


def test_undetected_decimal_comma_suggests_the_option(tmp_path, capsys, no_r):
    # a ';' file mixing 0.2 and 0,1 is not detected: the error names --decimal ,
    _refused(tmp_path, capsys, "study;yi;vi\nA;0,1;0.01\nB;0.2;0.02\n", "--measure", "GEN",
             match=r"line 2, column 'yi': '0,1' is not a number -- it is written with a decimal "
             r"comma: read the file with --decimal ,")  # fmt: skip
    _refused(tmp_path, capsys, "study;yi;vi\nA;0,1;0,01\nB;0,2;0,02\n", "--measure", "GEN",
             "--decimal", ".", match=r"--decimal ,")  # fmt: skip


@pytest.mark.r
def test_decimal_comma_file_agrees_like_its_decimal_point_twin(metafor, tmp_path, capsys):
    eu, us = tmp_path / "eu.csv", tmp_path / "us.csv"
    eu.write_text("study;m1i;sd1i;n1i;m2i;sd2i;n2i\nA;1,5;1,1;10;0,5;1,2;10\n"
                  "B;2,25;0,9;12;1,75;1;12\nC;1,5;1,2;12;1;1,1;12\n")  # fmt: skip
    us.write_text(eu.read_text().replace(",", ".").replace(";", ","))
    got = []
    for f, extra in ((eu, []), (eu, ["--decimal", ","]), (us, [])):
        j = tmp_path / "r.json"
        code, out, err = _run(capsys, "parity", f, "--measure", "SMD", "--method", "DL", *extra,
                              "--json", j)  # fmt: skip
        assert code == 0, out + err
        got.append([c["metaparity"] for a in json.loads(j.read_text())["analyses"]
                    for c in a["comparisons"]])  # fmt: skip
    assert got[0] == got[1] == got[2]


# ---------------------------------------------------------------- NA rows, as metafor
@pytest.mark.r
def test_sd_zero_rows_are_dropped_on_both_sides_and_reported(metafor, tmp_path, capsys):
    """metafor: escalc("SMD", ...) with sd1i = sd2i = 0 gives yi = NA (no error), and rma()
    leaves the study out ("Studies with NAs omitted from model fitting")."""
    f = tmp_path / "sd0.csv"
    f.write_text("study,m1i,sd1i,n1i,m2i,sd2i,n2i\nA,1,1,10,0,1,10\nB,2,0,10,2,0,10\n"
                 "C,1.5,1.2,12,1,1.1,12\nD,1.2,1.0,15,0.8,1.1,14\n")  # fmt: skip
    j = tmp_path / "r.json"
    code, out, err = _run(capsys, "parity", f, "--measure", "SMD", "--method", "DL,REML",
                          "--json", j)  # fmt: skip
    assert code == 0, out + err
    assert "dropped: B (line 3): sd1i = sd2i = 0: SMD is undefined" in out
    rep = json.loads(j.read_text())
    assert [d["study"] for d in rep["dropped"]] == ["B"]
    assert all(a["k"] == 3 for a in rep["analyses"])


# ---------------------------------------------------------------- metafor failures
def _report(analyses) -> ParityReport:
    return ParityReport("data.csv", "PR", "z", 95.0, "metafor 3.8.1 via test", {}, analyses)


def test_metafor_failure_is_exit_2_even_next_to_a_difference():
    bad = Analysis("all studies", "DL", 3, [compare_values("b", 1.0, 2.0, "DL")])
    failed = Analysis("all studies", "REML", 3, r_error="Fisher scoring did not converge.")
    rep = _report([bad, failed])
    assert rep.exit_code == 2
    assert rep.failure_message.startswith(
        "metafor failed on all studies | REML: Fisher scoring did not converge. -- not a "
        "disagreement"
    )
    assert _report([bad]).exit_code == 1 and _report([bad]).failure_message is None


@pytest.mark.r
def test_metafor_failure_message_on_stderr(metafor, tmp_path, capsys):
    code, out, err = _run(capsys, "parity", SELINEXOR, *SEL, "--control", '{"maxiter": 1}')
    assert code == 2
    assert "metaparity parity: metafor failed on all studies | REML (and 1 more): " \
        "Fisher scoring algorithm did not converge" in err  # fmt: skip


# ---------------------------------------------------------------- recordings
def test_replay_without_recording_is_exit_2_with_the_fix(tmp_path, capsys, no_r):
    g = tmp_path / "gold"
    _refused(tmp_path, capsys, EVENTS, *PR, "--golden", g,
             match=rf"{g}: no recording for measure PR \(no parity-PR-\*.json\); record one "
             r"first: .*--golden .* --record")  # fmt: skip
    g.mkdir()
    (g / "parity-PR.json").write_text('{"provenance": {}, "results": {}}')  # old format
    _refused(tmp_path, capsys, EVENTS, *PR, "--golden", g,
             match=r"parity-PR.json: recorded by an older metaparity without input and call "
             r"checksums.*re-record with --golden DIR --record")  # fmt: skip


def test_record_needs_golden(tmp_path, capsys, no_r):
    _refused(tmp_path, capsys, EVENTS, *PR, "--record", match=r"--record needs --golden DIR")


@pytest.mark.r
def test_recordings_cannot_lie(metafor, tmp_path, capsys, monkeypatch):
    g = tmp_path / "gold"
    data = tmp_path / "sel.csv"
    data.write_bytes(SELINEXOR.read_bytes())
    code, out, err = _run(capsys, "parity", data, *SEL, "--golden", g, "--record")
    assert code == 0, out + err
    (path,) = g.glob("parity-PLO-*.json")
    assert re.fullmatch(r"parity-PLO-[0-9a-f]{12}\.json", path.name)
    rec = json.loads(path.read_text())
    assert set(rec["provenance"]) >= {"metafor", "R", "recorded_by", "date"}
    assert rec["call"]["methods"] == ["DL", "REML"] and rec["call"]["filters"] == {"outcome": "sCR"}
    assert len(rec["input_sha256"]) == 64 and rec["n_studies"] > 2
    assert set(rec["results"]) >= {"all studies|escalc", "all studies|REML"}
    stamp = datetime.fromisoformat(rec["provenance"]["date"])
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=30)

    def forbidden(backend="auto"):
        raise AssertionError("replaying a recording must not start R")

    monkeypatch.setattr(rbridge, "get_bridge", forbidden)
    code, out, err = _run(capsys, "parity", data, *SEL, "--golden", g)
    assert code == 0 and "recorded metafor" in out and "all agree" in out, out + err

    # another call for the same data: refused with what differs
    j = tmp_path / "r.json"
    code, _, err = _run(capsys, "parity", data, *[a if a != "DL,REML" else "DL" for a in SEL],
                        "--golden", g, "--json", j)  # fmt: skip
    assert code == 2 and "recorded for this input but another call (differs in methods" in err
    assert not j.exists()

    # the data changed: replay refused, with both checksums and the fix
    changed = data.read_text().splitlines()
    i = next(n for n, line in enumerate(changed) if ",sCR," in line)
    changed[i] = re.sub(r",(\d+),", lambda m: f",{int(m.group(1)) + 1},", changed[i], count=1)
    data.write_text("\n".join(changed) + "\n")
    code, _, err = _run(capsys, "parity", data, *SEL, "--golden", g, "--json", j)
    assert code == 2 and not j.exists()
    assert re.search(
        rf"the input changed since recording \(recorded sha256 {rec['input_sha256'][:12]}… for "
        rf"{rec['n_studies']} studies on .*, now [0-9a-f]{{12}}…\); re-record with --golden DIR "
        r"--record",
        err,
    ), err

    # re-recording other input needs --accept
    monkeypatch.undo()
    before = path.read_text()
    code, _, err = _run(capsys, "parity", data, *SEL, "--golden", g, "--record")
    assert code == 2 and "already records this call for other input" in err
    assert "add --accept to replace that recording" in err and path.read_text() == before
    code, out, err = _run(capsys, "parity", data, *SEL, "--golden", g, "--record", "--accept")
    assert code == 0, out + err
    assert json.loads(path.read_text())["input_sha256"] != rec["input_sha256"]


@pytest.mark.r
def test_nothing_recorded_when_metafor_fails(metafor, tmp_path, capsys):
    g = tmp_path / "gold"
    code, out, _ = _run(capsys, "parity", SELINEXOR, *SEL, "--golden", g, "--record",
                        "--control", '{"maxiter": 1}')  # fmt: skip
    assert code == 2 and "nothing recorded" in out
    assert not list(g.glob("*.json")) if g.exists() else True


def test_input_digest_follows_every_number():
    import pandas as pd

    esc = pd.DataFrame({"yi": [0.0], "vi": [1.0]})
    esc.attrs["weights"] = None
    a = [("all studies", {"xi": np.array([1.0, 2.0]), "ni": np.array([10.0, 10.0])}, esc)]
    b = [("all studies", {"xi": np.array([1.0, 2.0 + 1e-15]), "ni": np.array([10.0, 10.0])}, esc)]
    assert recordings.input_digest(a)[0] != recordings.input_digest(b)[0]
    assert (
        recordings.input_digest(a) == recordings.input_digest(a)
        and recordings.input_digest(a)[1] == 2
    )


# ---------------------------------------------------------------- large k
def test_large_k_is_refused_before_r(tmp_path, capsys, no_r):
    k = 20000
    rng = np.random.default_rng(1)
    rows = "\n".join(f"s{i},{y:.6f},{v:.6f}" for i, (y, v) in
                     enumerate(zip(rng.normal(size=k), rng.uniform(0.01, 0.1, k), strict=True)))  # fmt: skip
    err = _refused(tmp_path, capsys, "study,yi,vi\n" + rows + "\n", "--measure", "GEN",
                   "--max-memory", "21",
                   match=r"k = 20000 studies \(all studies\): metafor's rma\(\) needs about \d+ GB "
                   r"\(it builds k×k matrices\); 21 GB allowed, so the largest k here is about "
                   r"\d+\. Compare a subset \(--filter\) or run metaparity alone "
                   r"\(metaparity.rma\)")  # fmt: skip
    need = int(re.search(r"needs about (\d+) GB", err).group(1))
    largest = int(re.search(r"largest k here is about (\d+)", err).group(1))
    assert need > 21 and 5000 < largest < k
    assert rmemory.peak_bytes(largest) <= 21e9 < rmemory.peak_bytes(largest + 100)


def test_memory_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv("METAPARITY_R_MEMORY_GB", "1")
    with pytest.raises(InputError, match=r"k = 8000 studies \(g\).*1 GB allowed"):
        rmemory.check_memory([("g", 8000), ("h", 10)], ["REML"])
    rmemory.check_memory([("g", 1000)], ["REML"])  # fits
    monkeypatch.setenv("METAPARITY_R_MEMORY_GB", "lots")
    with pytest.raises(InputError, match=r"METAPARITY_R_MEMORY_GB='lots' is not a number"):
        rmemory.check_memory([("g", 1000)], ["REML"])


def test_long_r_calls_report_progress():
    class Bridge:
        def __init__(self):
            self.batches = []

        def run(self, calls):
            self.batches.append(len(calls))
            return [{"ok": True} for _ in calls]

    lines: list[str] = []
    calls = [{"yi": [0.0] * 5000, "method": m} for m in ("DL", "REML", "PM")]
    b = Bridge()
    assert len(_run_with_progress(b, calls, lines.append)) == 3
    assert b.batches == [1, 1, 1]
    assert lines[0].startswith("asking metafor: analysis 1/3 (k = 5000, DL), ")
    assert re.fullmatch(r"asking metafor: 3 analyses done in \d+ s", lines[-1])
    small, lines2 = Bridge(), []
    _run_with_progress(small, [{"yi": [0.0] * 10, "method": "DL"}] * 3, lines2.append)
    assert small.batches == [3] and lines2 == []  # short: one batch, silent


# ---------------------------------------------------------------- JUnit timestamps
def test_junit_timestamp_is_the_run_time():
    import xml.etree.ElementTree as ET

    import xmlschema

    rep = _report([Analysis("all studies", "DL", 3, [compare_values("b", 1.0, 1.0, "DL")])])
    rep.seconds = 1.25
    xml = reports.to_junit(rep)
    xmlschema.XMLSchema(XSD).validate(xml)
    suite = ET.fromstring(xml).find("testsuite")
    stamp = datetime.fromisoformat(suite.get("timestamp").replace("Z", "+00:00"))
    assert suite.get("timestamp").endswith("Z") and stamp.tzinfo is not None
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=5)
    assert suite.get("time") == "1.250"


# ---------------------------------------------------------------- pytest plugin
def test_plugin_skip_message_points_to_what_users_have(monkeypatch):
    from metaparity.parity import pytest_plugin

    monkeypatch.setattr(rbridge, "r_status", lambda: (False, "R is not installed"))
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("METAPARITY_REQUIRE_R", raising=False)
    with pytest.raises(pytest.skip.Exception) as skip:
        pytest_plugin._need_r()
    msg = str(skip.value)
    assert "apt-get install r-base r-cran-metafor" in msg and "pip install rpy2" in msg
    assert "scripts/setup.sh" not in msg.replace("R is not installed", "")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="R is required here"):
        pytest_plugin._need_r()


@pytest.mark.r
def test_zero_variance_is_a_metafor_failure_not_a_difference(metafor, tmp_path, capsys,
                                                             monkeypatch):  # fmt: skip
    """metafor 3.8: rma(c(.1,.2,.3), c(.01,0,.03), method="DL") stops with "DL estimator
    cannot be used when there are non-positive sampling variances in the data." -- refused
    before R, naming the study. REML accepts a vi of 0 but stops here ("Division by zero
    when computing the inverse variance weights.", tau^2 = 0): exit 2, not 1."""
    f = tmp_path / "v0.csv"
    f.write_text("study,yi,vi\nA,0.1,0.01\nB,0.2,0\nC,0.3,0.03\n")
    with monkeypatch.context() as m:
        m.setattr(rbridge, "get_bridge", _no_r_allowed)
        code, out, err = _run(capsys, "parity", f, "--measure", "GEN", "--method", "DL,REML")
    assert code == 2
    assert "line 3 (study 'B') has a sampling variance of 0" in err
    assert "--method DL needs positive variances" in err and len(err.strip().splitlines()) == 1
    code, out, err = _run(capsys, "parity", f, "--measure", "GEN", "--method", "REML")
    assert code == 2
    assert err.startswith("metaparity parity: metafor failed on all studies | REML: ")
    assert "metafor FAILED" in out and "DIFFERS" not in out
