"""`metaparity reproduce` reliability: malformed printed figures get verdicts (never a crash),
shell-safe ``--policy``, validated continuity correction, and a report that is written all or
nothing, with normal permissions, a title, a responsive HTML table and honest empty sections."""

from __future__ import annotations

import io
import itertools
import os
import stat

import pandas as pd
import pytest

from metaparity._core.io import InputError
from metaparity.reproduce import report as report_mod
from metaparity.reproduce.inputs import load_published
from metaparity.reproduce.pipeline import ModelPolicy, ZeroEvents, _verdicts, reproduce
from metaparity.reproduce.report import render_html, write_report
from metaparity.reproduce.verdicts import VERDICTS

DATA = """study,subgroup,outcome,grade,events,n
A,new,resp,na,30,50
B,new,resp,na,20,40
C,old,resp,na,10,60
D,old,resp,na,12,45
E,old,resp,na,0,30
"""
HEAD = (
    "outcome,grade,subgroup,k_studies,estimate_pct,ci_low_pct,ci_high_pct,model,p_subgroup_diff\n"
)
OK = "resp,na,new,2,56,45,66,random,0.01\n"


def _pub(text: str) -> pd.DataFrame:
    df = pd.read_csv(io.StringIO(HEAD + text), dtype=str, keep_default_na=False)
    df.attrs["source"] = "pub.csv"
    return df


@pytest.fixture(scope="module")
def small():
    return reproduce(pd.read_csv(io.StringIO(DATA)), _pub(OK))


# ------------------------------------------------------------------ malformed printed rows
TRIPLES = {
    "fine": ("55", "40", "70"),
    "outside": ("45", "50", "60"),
    "reversed": ("55", "60", "50"),
    "all equal": ("55", "55", "55"),
    "equal bounds": ("55", "50", "50"),
    "no lower": ("55", "", "70"),
    "nothing": ("", "", ""),
    "over 100": ("150", "120", "180"),
    "negative": ("-5", "-10", "-1"),
    "nan": ("nan", "40", "70"),
}


@pytest.mark.parametrize("k", ["9", "2", ""])
def test_malformed_published_sweep_gives_verdicts(small, k):
    """Every combination of malformed overall / subgroup rows (and unknown outcomes, k
    mismatches, odd p-values) gets a verdict for every row; nothing raises."""
    seen = set()
    for (a, b, c), outcome, p in itertools.product(
        itertools.product(list(TRIPLES.values())[:8], repeat=3), ["resp", "unknown"], ["0.01", "2"]
    ):
        pub = load_published(_pub(
            f"{outcome},na,overall,{k},{','.join(a)},random,\n"
            f"resp,na,new,{k},{','.join(b)},random,{p}\n"
            f"resp,na,old,{k},{','.join(c)},fixed,{p}\n"
        ))  # fmt: skip
        figures, pvalues = _verdicts(
            pub, small.analyses, small.tests, small.counts, small.subgroups, "PR"
        )
        assert len(figures) == 3
        for f in figures:
            assert f.verdict.kind in VERDICTS
            seen.add(f.verdict.kind)
        assert all(v.verdict.kind in VERDICTS for v in pvalues)
    assert {"discrepancy", "not reproducible"} <= seen


@pytest.mark.parametrize(
    "triple,cause",
    [
        (("45", "50", "60"), "printed estimate 45 lies outside its own CI [50, 60]: a typo"),
        (("55", "60", "50"), "CI printed reversed [60, 50] (lower bound > upper bound)"),
        (("55", "50", "50"), "CI printed with equal bounds [50, 50] and the estimate 55 outside"),
        (("150", "120", "180"), "printed estimate 150% is not a proportion (0 to 100%)"),
        (("-5", "-10", "-1"), "printed estimate -5% is not a proportion"),
        (("56", "", "66"), "CI printed without its lower bound"),
    ],
)
def test_typo_rows_name_the_typo(tmp_path, triple, cause):
    """End to end (reproduce + the full report): the typo is named, the report is written."""
    rep = reproduce(
        pd.read_csv(io.StringIO(DATA)), _pub(f"resp,na,new,2,{','.join(triple)},random,\n")
    )
    f = rep.figures[0]
    text = f.verdict.cause + " ".join(x.text for x in f.verdict.flags)
    assert cause in text, f.verdict.label
    if triple != ("56", "", "66"):
        assert f.verdict.kind == "discrepancy"
    paths = write_report(rep, tmp_path / "rep", figures=False)
    assert cause.split(":")[0] in paths["report.md"].read_text()


@pytest.mark.parametrize("k", ["2.5", "x", "-1"])
def test_bad_k_studies_is_an_input_error_naming_the_line(k):
    with pytest.raises(
        InputError, match=rf"pub.csv: line 3, column 'k_studies': '{k}' is not a whole"
    ):
        load_published(_pub(OK + f"resp,na,old,{k},20,10,30,random,\n"))


def test_unknown_subgroup_is_an_input_error(small):
    with pytest.raises(InputError, match=r"line 2: subgroup 'middle' is not in the data"):
        reproduce(pd.read_csv(io.StringIO(DATA)), _pub("resp,na,middle,2,55,40,70,random,\n"))


# ------------------------------------------------------------------ --policy and --add
@pytest.mark.parametrize(
    "spec,thr,scope",
    [("i2:50", 50, "outcome"), ("i2>50", 50, "outcome"), ("i2:25:analysis", 25, "analysis"),
     ("i2>25:analysis", 25, "analysis"), ("I2:0", 0, "outcome"), (" i2 > 99.5 ", 99.5, "outcome")],
)  # fmt: skip
def test_policy_forms(spec, thr, scope):
    pol = ModelPolicy.parse(spec)
    assert (pol.rule, pol.threshold, pol.scope) == ("i2", thr, scope)


@pytest.mark.parametrize(
    "spec,match",
    [
        ("i2", r"model policy 'i2' has no threshold \(an unquoted i2>50 in a shell is cut"),
        ("i2:", r"has no threshold"),
        ("i2:100", r"threshold 100 must be an I² in percent with 0 <= threshold < 100"),
        ("i2:-5", r"threshold -5 must be"),
        ("i2:nan", r"threshold nan must be"),
        ("i2:abc", r"threshold 'abc' is not a number"),
        ("i2:50:all", r"scope 'all' must be 'outcome' or 'analysis'"),
        ("i250", r"model policy 'i250': expected 'i2:50'"),
        ("xyz", r"unknown model policy 'xyz'.*'i2:50'"),
    ],
)
def test_policy_rejects_with_the_accepted_forms(spec, match):
    with pytest.raises(ValueError, match=match) as err:
        ModelPolicy.parse(spec)
    assert "'i2:50:analysis'" in str(err.value) and "\n" not in str(err.value)


def test_policy_i2_colon_is_the_same_as_quoted_gt(small):
    a = reproduce(pd.read_csv(io.StringIO(DATA)), _pub(OK), policy="i2:50")
    b = reproduce(pd.read_csv(io.StringIO(DATA)), _pub(OK), policy="i2>50")
    assert a.policy == b.policy and a.figures[0].verdict.label == b.figures[0].verdict.label


@pytest.mark.parametrize("add", [0, -0.5, float("nan"), float("inf"), "x", True])
def test_zero_events_add_must_be_positive(add):
    with pytest.raises(
        ValueError, match=r"continuity correction --add .*: must be a finite number > 0"
    ):
        ZeroEvents("cc", add)
    with pytest.raises(ValueError, match=r"must be a finite number > 0"):
        ZeroEvents("drop", add)  # the sensitivity column uses it too


def test_zero_events_add_accepts_positive_numbers():
    assert ZeroEvents("cc", 1).add == 1.0 and ZeroEvents("cc", "0.25").add == 0.25


# ------------------------------------------------------------------ the report
def test_html_is_responsive_and_titled(small):
    h = render_html(small)
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in h
    assert h.count("<div class='table-wrap'><table") >= 2
    assert ".table-wrap{overflow-x:auto" in h and "overflow-wrap:break-word" in h
    assert "max-width:" in h


def test_title_keyword(tmp_path, small):
    paths = write_report(small, tmp_path / "rep", figures=False, title="My <check>")
    assert "<title>Reproduction: My &lt;check&gt;</title>" in paths["report.html"].read_text()
    assert "<h1>Reproduction: My &lt;check&gt;</h1>" in paths["report.html"].read_text()
    assert paths["report.md"].read_text().startswith("# Reproduction: My <check>\n")
    assert '"title": "My <check>"' in paths["report.json"].read_text()
    assert small.title == "pub.csv reproduced from data"  # rep itself unchanged
    default = write_report(small, tmp_path / "rep2", figures=False)
    assert default["report.md"].read_text().startswith(f"# Reproduction: {small.title}\n")


def test_nothing_pooled_says_so(tmp_path):
    data = DATA.replace("30,50", ",50").replace("20,40", ",40").replace("10,60", ",60")
    no_p = _pub("resp,na,new,2,56,45,66,random,\n")
    rep = reproduce(pd.read_csv(io.StringIO(data)).assign(events=float("nan")), no_p)
    md = report_mod.render_markdown(rep)
    assert "R/metafor unavailable" not in md
    assert "nothing to compare: no analysis could be pooled" in md
    assert "The paper prints no p-value for a subgroup difference; no subgroup difference " in md
    assert "fewer than two subgroups could be pooled" in md
    assert "| outcome | printed p |" not in md  # no empty table


def test_no_bridge_parity_line(small):
    parity = dict(report_mod.header_lines(small))["Parity"]
    assert parity.startswith("not checked: metafor was not asked (no R bridge")


def test_non_estimable_subgroup_has_no_weight():
    from metaparity.plots import ForestStudy
    from metaparity.plots._revman_rows import build_rows

    s = ForestStudy("A", "g", float("nan"), float("nan"), float("nan"), float("nan"), None, 10,
                    "count unknown")  # fmt: skip
    rows, _, _ = build_rows([s], {"g": None}, None, {})
    pooled = [r for r in rows if r.kind == "pooled"]
    assert pooled and pooled[0].weight == "\u2013" and pooled[0].pooled is None


def test_report_permissions_follow_umask(tmp_path, small):
    pytest.importorskip("matplotlib")
    old = os.umask(0o022)
    try:
        paths = write_report(small, tmp_path / "rep")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "rep") == 0o755 and mode(paths["figures"]) == 0o755
    assert mode(paths["report.html"]) == 0o644
    assert all(mode(p) == 0o644 for p in paths["figures"].iterdir())
    assert [p.name for p in tmp_path.iterdir()] == ["rep"], "no staging folder left behind"


@pytest.mark.parametrize("where", ["render_json", "encode_png"])
def test_write_report_is_all_or_nothing(tmp_path, small, monkeypatch, where):
    pytest.importorskip("matplotlib")
    out = tmp_path / "rep"
    # 1. no earlier report: a failure midway leaves no out folder at all
    boom = KeyboardInterrupt if where == "encode_png" else RuntimeError

    def fail(*a, **k):
        raise boom("interrupted")

    with monkeypatch.context() as m:
        m.setattr(report_mod, where, fail)
        with pytest.raises(boom):
            write_report(small, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    # 2. an earlier complete report stays intact when the new one fails
    write_report(small, out, title="first")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    figs = sorted(p.name for p in (out / "figures").iterdir())
    (out / "keep.txt").write_text("mine")
    with monkeypatch.context() as m:
        m.setattr(report_mod, where, fail)
        with pytest.raises(boom):
            write_report(small, out, title="second")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == {
        **before,
        "keep.txt": b"mine",
    }
    assert sorted(p.name for p in (out / "figures").iterdir()) == figs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]
    # 3. and a successful run replaces it
    write_report(small, out, title="second")
    assert "second" in (out / "report.md").read_text() and (out / "keep.txt").exists()


def test_swap_in_failure_midway_restores_the_earlier_report(tmp_path, small, monkeypatch):
    out = tmp_path / "rep"
    write_report(small, out, figures=False, title="first")
    real = os.rename
    calls = []

    def flaky(a, b):
        calls.append((a, b))
        if str(a).endswith("report.html") and "staging" in str(a):
            raise OSError("disk full")
        return real(a, b)

    monkeypatch.setattr(report_mod.os, "rename", flaky)
    with pytest.raises(OSError, match="disk full"):
        write_report(small, out, figures=False, title="second")
    monkeypatch.undo()
    assert "first" in (out / "report.md").read_text()
    assert "first" in (out / "report.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_galbraith_labels_clear_the_regression_lines():
    pytest.importorskip("matplotlib")
    from metaparity.plots import revman_galbraith
    from metaparity.plots._common import _crosses

    # the sCR overall analysis of the seed (BOSTON 19/195, STORM part 2 2/122; DL)
    yi, vi = [19 / 195, 2 / 122], [19 / 195 * 176 / 195 / 195, 2 / 122 * 120 / 122 / 122]
    labs = ["Study 0 (BOSTON) 2020", "Study 1 (STORM part 2) 2019"]
    fig = revman_galbraith(yi, vi, labs, tau2=0.002992, b=0.0548, title="labels")
    ax = fig.axes[0]
    r = fig.canvas.get_renderer()
    segs = [ln.get_xydata() for ln in ax.get_lines() if len(ln.get_xydata()) == 2]
    segs = [tuple(ax.transData.transform(p) for p in s) for s in segs[:3]]
    labels = [t for t in ax.texts if t.get_text().startswith("Study")]
    assert len(labels) == 2
    for t in labels:
        assert not any(_crosses(t.get_window_extent(r), a, b, 0.0) for a, b in segs), t.get_text()
