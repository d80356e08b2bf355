"""`metaparity reproduce`: verdicts, typo detection, the bundled selinexor case, user data,
bad input, and live metafor parity of every pooled analysis and subgroup test."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from metaparity import escalc, rma
from metaparity.cli import main
from metaparity.reproduce.pipeline import ModelPolicy, ZeroEvents, load_counts, reproduce
from metaparity.reproduce.verdicts import (
    PublishedRow,
    at_rounding,
    compare_triple,
    consistency_flags,
    parse_printed,
    within_rounding,
)

P = parse_printed


# ------------------------------------------------------------------ printed figures, verdicts
@pytest.mark.parametrize(
    "text,value,dec,op",
    [("43", 43.0, 0, "="), ("0.0008", 0.0008, 4, "="), ("<0.00001", 1e-5, 5, "<"),
     ("−2", -2.0, 0, "="), (" 5.50 ", 5.5, 2, "="), ("12%", 12.0, 0, "=")],
)  # fmt: skip
def test_parse_printed(text, value, dec, op):
    p = P(text)
    assert (p.value, p.decimals, p.op) == (value, dec, op)


@pytest.mark.parametrize("text", ["", None, float("nan"), "nan"])
def test_parse_printed_empty(text):
    assert P(text) is None


def test_parse_printed_rejects_text():
    with pytest.raises(ValueError, match="'abc' is not a number"):
        P("abc")


def test_rounding_is_half_up_at_printed_decimals():
    assert at_rounding(23.5, P("24")) and not at_rounding(23.49, P("24"))
    assert at_rounding(-0.4, P("0")) and at_rounding(0.00079, P("0.0008"))
    assert not at_rounding(0.00085, P("0.0008"))
    assert at_rounding(2e-6, P("<0.00001")) and not at_rounding(2e-5, P("<0.00001"))
    assert within_rounding(23.9, P("23")) and not within_rounding(24.01, P("23"))
    assert not at_rounding(float("nan"), P("1"))


def test_compare_triple_kinds():
    assert compare_triple((23.76, 17.88, 29.65), (P("24"), P("18"), P("30"))).kind == "reproduced"
    v = compare_triple((23.4, 17.88, 29.65), (P("24"), P("18"), P("30")))
    assert v.kind == "within rounding"
    v = compare_triple((1.64, -0.61, 3.89), (P("2"), P("1"), P("4")))
    assert v.kind == "discrepancy" and "lost minus sign in the lower bound" in v.cause
    v = compare_triple((12.0, 4.0, 20.0), (P("39"), P("32"), P("45")),
                       others={"SEL+DEX": (38.6, 32.1, 45.2)})  # fmt: skip
    assert v.kind == "discrepancy" and v.cause.startswith("swapped") and "SEL+DEX" in v.cause
    v = compare_triple((12.0, 4.0, 20.0), (P("50"), P("40"), P("60")))
    assert v.kind == "discrepancy" and v.cause.startswith("unexplained")
    assert compare_triple((1, 2, 3), (None, None, None)).kind == "not reproducible"


def _row(key, e, lo, hi, k=None):
    return PublishedRow(key, P(e), P(lo), P(hi), k)


def test_consistency_flags_find_the_typo_kinds():
    rows = [
        _row(("PD", "na", "A"), "4", "1", "10", 4),  # lost minus sign
        _row(("PD", "na", "B"), "23", "17", "29", 2),
        _row(("PD", "na", "overall"), "14", "4", "23", 6),
        _row(("Hem", "all", "overall"), "45", "36", "45"),  # upper == estimate
        _row(("Hem", "all", "A"), "35", "28", "42"),  # copy of NonHem
        _row(("NonHem", "all", "A"), "35", "28", "42"),
        _row(("NonHem", "ge3", "A"), "5", "3", "7", 2),
        _row(("NonHem", "ge3", "B"), "8", "5", "11", 3),  # B has 2 studies: swapped k
        _row(("NonHem", "ge3", "overall"), "30", "23", "36", 5),  # outside the subgroups
    ]
    fl = consistency_flags(rows, subgroup_sizes={"A": 4, "B": 2})
    assert all(isinstance(k, tuple) for k in fl)  # keyed by row key unless an id is given
    kinds = {k: [f.kind for f in v] for k, v in fl.items()}
    assert kinds[("PD", "na", "A")] == ["lost minus sign"]
    assert ("PD", "na", "B") not in kinds and ("PD", "na", "overall") not in kinds
    assert kinds[("Hem", "all", "overall")] == ["garbled row"]
    assert kinds[("Hem", "all", "A")] == ["copy error"] == kinds[("NonHem", "all", "A")]
    assert "impossible value" in kinds[("NonHem", "ge3", "overall")]
    assert "impossible study count" in kinds[("NonHem", "ge3", "B")]
    assert "swapping with A" in next(f.text for f in fl[("NonHem", "ge3", "B")])
    # not a Wald CI (e.g. logit scale): asymmetry is no evidence
    assert ("PD", "na", "A") not in consistency_flags(rows, symmetric=False)


# ------------------------------------------------------------------ model and zero policies
def test_model_policy_parse_and_choose():
    pol = ModelPolicy.parse("i2>50")
    assert pol.choose(60.0, None, "")[0] == "DL"
    assert pol.choose(40.0, None, "")[0] == "EE"
    assert pol.choose(10.0, 80.0, "")[0] == "DL"  # the outcome's I2 decides
    m, why = pol.choose(10.0, None, "random (stated: I2>50%)")
    assert m == "DL" and "paper states random" in why
    assert ModelPolicy.parse("i2>25:analysis").choose(10.0, 80.0, "")[0] == "EE"
    assert ModelPolicy.parse("stated").choose(90.0, 90.0, "fixed (stated)")[0] == "EE"
    assert ModelPolicy.parse("REML").choose(0.0, 0.0, "")[0] == "REML"
    with pytest.raises(ValueError, match="unknown model policy 'XYZ'"):
        ModelPolicy.parse("XYZ")
    with pytest.raises(ValueError, match="scope"):
        ModelPolicy.parse("i2>50:everything")
    with pytest.raises(ValueError, match="choose 'drop' or 'cc'"):
        ZeroEvents("ignore")


# ------------------------------------------------------------------ the bundled case (no R)
@pytest.fixture(scope="module")
def bundled():
    return reproduce()


def _fig(rep, outcome, grade, subgroup):
    return next(f for f in rep.figures if f.key() == (outcome, grade, subgroup))


def test_every_published_figure_has_a_verdict(bundled):
    # the curated 116 rows plus the sCR overall figure as the Results text prints it
    assert len(bundled.figures) == 117
    counts = bundled.verdict_counts()
    assert sum(counts.values()) == 117
    # what reproduces from sourced counts (shared/data/README.md)
    assert counts["reproduced"] == 19


@pytest.mark.parametrize(
    "key,printed",
    [(("ORR", "na", "SEL+DEX"), (24, 18, 30)), (("CBR", "na", "SEL+DEX"), (37, 30, 44)),
     (("VGPR", "na", "SEL+DEX"), (5, 2, 8)), (("PR", "na", "SEL+DEX"), (18, 13, 23)),
     (("MR", "na", "SEL+DEX"), (13, 8, 18)), (("sCR", "na", "SEL+DEX+PI"), (10, 6, 14)),
     (("sCR", "na", "overall"), (5, -2, 13)), (("CR", "na", "overall"), (7, 4, 11)),
     (("Thrombocytopenia", "ge3", "SEL+DEX"), (59, 52, 66)),
     (("Anemia", "ge3", "SEL+DEX"), (36, 20, 52)),
     (("Lymphopenia", "all", "SEL+DEX+PI"), (52, 31, 74)),
     (("Dyspnoea", "all", "SEL+DEX"), (22, 15, 29)),
     (("Weight loss", "ge3", "SEL+DEX+PI"), (2, 0, 4))],
)  # fmt: skip
def test_reproduced_figures(bundled, key, printed):
    f = _fig(bundled, *key)
    assert f.verdict.kind == "reproduced", f.verdict.label
    assert tuple(round(x + 1e-9) for x in f.ours) == printed


def test_model_rule_as_the_paper(bundled):
    a = bundled.analyses[("sCR", "na", "overall")]
    assert a.method == "DL" and a.i2_fe > 90  # I2 91 % -> random effects
    assert bundled.analyses[("CR", "na", "overall")].method == "EE"  # I2 0 %
    assert bundled.analyses[("MR", "na", "SEL+DEX")].method == "EE"  # stated fixed
    # Anemia grade >= 3 SEL+DEX reproduces only under DL (I2 82 % in the subgroup)
    assert bundled.analyses[("Anemia", "ge3", "SEL+DEX")].method == "DL"


def test_known_typos_are_flagged(bundled):
    f = _fig(bundled, "sCR", "na", "SEL+DEX")
    assert f.verdict.kind == "discrepancy" and "lost minus sign" in f.verdict.cause
    abstract, results = (f for f in bundled.figures if f.key() == ("sCR", "na", "overall"))
    assert abstract.verdict.kind == "reproduced"  # abstract: 5 (-2 to 13)
    assert "lost minus sign in the lower bound (printed 2" in results.verdict.cause
    f = _fig(bundled, "PD", "na", "SEL+DEX+PI")
    assert f.verdict.kind == "discrepancy" and "lost minus sign" in f.verdict.cause
    assert "counts missing" in f.verdict.cause
    f = _fig(bundled, "Hematological (composite)", "all", "overall")
    assert "upper bound 45 equals the estimate" in f.verdict.cause
    for outcome in ("Hematological (composite)", "Non-hematological (composite)"):
        assert "copy error" in _fig(bundled, outcome, "all", "SEL+DEX+PI").verdict.cause
    f = _fig(bundled, "Non-hematological (composite)", "ge3", "overall")
    assert f.verdict.cause.startswith("impossible value")
    for g in ("SEL+DEX", "SEL+DEX+PI"):
        f = _fig(bundled, "Diarrhea", "ge3", g)
        assert "impossible study count" in f.verdict.cause and "swapping" in f.verdict.cause
    text = next(f for f in bundled.figures if f.subgroup == "")
    assert (
        text.verdict.kind == "discrepancy"
        and "reverse of the stated subgroup order" in text.verdict.cause
    )
    # a coincidence is not a copy error once the data reproduce both rows
    f = _fig(bundled, "Neutropenia", "ge3", "SEL+DEX")
    assert f.verdict.kind == "reproduced" and "dismissed" in f.verdict.cause


def test_not_reproducible_says_what_is_missing(bundled):
    f = _fig(bundled, "ORR", "na", "overall")
    assert f.verdict.kind == "not reproducible"
    assert "Jakubowiak 2019" in f.verdict.cause and "Chari" not in f.verdict.cause
    f = _fig(bundled, "Leukopenia", "all", "SEL+DEX+PI")  # k = 0 printed, none pooled
    assert f.verdict.kind == "reproduced" and "k = 0" in f.verdict.cause


def test_subgroup_test_revman(bundled):
    t = bundled.tests[("sCR", "na")]
    # RevMan: Q-between on BOSTON 19/195 vs Chari 2/122 (single-study subgroups)
    y = np.array([19 / 195, 2 / 122])
    v = y * (1 - y) / np.array([195, 122])
    ref = rma(y, v, method="EE")
    assert t.Q == pytest.approx(ref.QE, rel=1e-12) and t.df == 1
    assert t.p == pytest.approx(ref.QEp, rel=1e-10)
    pv = next(p for p in bundled.pvalues if p.outcome == "sCR")
    assert pv.printed.text == "0.0008" and pv.verdict.kind == "reproduced"
    assert len(bundled.pvalues) == 27


def test_zero_event_alternative(bundled):
    a = bundled.analyses[("sCR", "na", "overall")]
    assert a.dropped == ["Jakubowiak 2019", "Bahlis 2018 (STOMP)", "Salcedo 2020",
                         "Vogl 2018 (STORM part 1)"]  # fmt: skip
    assert a.result.k == 2 and a.alt.k == 6
    cc = escalc("PR", xi=[0, 0, 19, 0, 2, 0], ni=[21, 40, 195, 18, 122, 78], add=0.5)
    assert a.alt.b == pytest.approx(rma(data=cc, method="DL").b, rel=1e-13)
    rep = reproduce(zero="cc")
    f = _fig(rep, "sCR", "na", "overall")
    assert f.verdict.kind == "discrepancy"  # the continuity correction does not reproduce it
    assert f.alt == pytest.approx(_fig(bundled, "sCR", "na", "overall").ours)


def test_report_files(bundled, tmp_path):
    pytest.importorskip("matplotlib")
    from metaparity.reproduce.report import write_report

    paths = write_report(bundled, tmp_path / "out")
    md = paths["report.md"].read_text()
    assert "| 10 | sCR | SEL+DEX | 2 (1 to 4) |" in md and "lost minus sign" in md
    html = paths["report.html"].read_text()
    assert html.count("data:image/png;base64,") >= 10 and "<script" not in html
    doc = json.loads(paths["report.json"].read_text())
    assert len(doc["figures"]) == 117 and doc["verdict_counts"]["reproduced"] == 19
    pngs = sorted(p.name for p in paths["figures"].glob("*.png"))
    assert "forest_scr-na.png" in pngs and any(p.startswith("galbraith_") for p in pngs)
    assert not list((tmp_path / "out").glob(".*")), "no temporary files left behind"


# ------------------------------------------------------------------ anyone's data via the CLI
DATA = """study,subgroup,outcome,grade,events,n
A,new,resp,na,30,50
B,new,resp,na,20,40
C,old,resp,na,10,60
D,old,resp,na,12,50
E,old,resp,na,0,30
"""


def _published(rows):
    head = "outcome,grade,subgroup,k_studies,estimate_pct,ci_low_pct,ci_high_pct,model,p_subgroup_diff\n"
    return head + "\n".join(rows) + "\n"


def _printed_for(rows: pd.DataFrame, method: str):
    dat = escalc("PR", xi=rows.events, ni=rows.n)
    r = rma(data=dat, method=method)
    return tuple(f"{100 * x:.1f}" for x in (r.b, r.ci_lb, r.ci_ub))


def test_cli_on_user_data(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    d = pd.read_csv(pd.io.common.StringIO(DATA))
    pooled = d[d.events > 0]
    new = _printed_for(pooled[pooled.subgroup == "new"], "DL")
    old = _printed_for(pooled[pooled.subgroup == "old"], "DL")
    overall = _printed_for(pooled, "DL")
    (tmp_path / "data.csv").write_text(DATA)
    (tmp_path / "pub.csv").write_text(_published([
        f"resp,na,overall,5,{','.join(overall)},random,",
        f"resp,na,new,2,{','.join(old)},random,0.001",  # printed under the wrong subgroup
        f"resp,na,old,3,{new[0]},{new[1].lstrip('-')},{new[2]},random,0.001",
    ]))  # fmt: skip
    code = main(["reproduce", "--data", str(tmp_path / "data.csv"), "--published",
                 str(tmp_path / "pub.csv"), "--out", str(tmp_path / "rep"), "--no-r"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    v = {f["subgroup"]: f for f in doc["figures"]}
    assert v["overall"]["verdict"] == "reproduced"
    assert v["new"]["verdict"] == "discrepancy" and v["new"]["cause"].startswith("swapped")
    assert v["old"]["verdict"] == "discrepancy"
    assert doc["figures"][0]["analysis"]["dropped"] == ["E"]
    assert (tmp_path / "rep" / "report.html").exists()


@pytest.mark.parametrize(
    "data,pub,match",
    [
        (DATA.replace("30,50", "60,50"), None, r"line 2 \(A, resp, grade na\): events = 60 > n = 50"),
        (DATA.replace("20,40", "x,40"), None, r"line 3 \(B, resp\), column 'events': 'x' is not a number"),
        (DATA.replace("20,40", "2.5,40"), None, r"events = 2.5 must be a whole number"),
        (DATA.replace("20,40", "20,0"), None, r"n = 0 must be a positive whole number"),
        (DATA.replace(",events,", ",count,"), None, r"needs column\(s\) events"),
        (DATA + "A,new,resp,na,3,50\n", None, r"line 7 repeats study 'A' for outcome 'resp'"),
        (DATA.replace("D,old", "D,overall"), None, r"'overall' is reserved"),
        (DATA, _published(["resp,na,middle,2,1,0,2,random,"]), r"line 2: subgroup 'middle' is not in the data"),
        (DATA, _published(["resp,na,new,2,one,0,2,random,"]), r"line 2, column 'estimate_pct': 'one' is not a number"),
        (DATA, "outcome,subgroup,estimate\nresp,new,3\n", r"needs column\(s\) ci_low, ci_high"),
    ],
)  # fmt: skip
def test_bad_input_names_line_and_leaves_no_report(tmp_path, capsys, data, pub, match):
    (tmp_path / "data.csv").write_text(data)
    (tmp_path / "pub.csv").write_text(pub or _published(["resp,na,new,2,55,40,70,random,"]))
    out_dir = tmp_path / "rep"
    code = main(["reproduce", "--data", str(tmp_path / "data.csv"), "--published",
                 str(tmp_path / "pub.csv"), "--out", str(out_dir), "--no-r"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    import re

    assert re.search(match, err), err
    assert "Traceback" not in err
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_cli_needs_both_files(tmp_path, capsys):
    assert main(["reproduce", "--data", "x.csv", "--out", str(tmp_path)]) == 2
    assert "give both --data and --published" in capsys.readouterr().err


def test_included_column(tmp_path):
    df = pd.read_csv(pd.io.common.StringIO(DATA)).assign(
        included=["yes", "yes", "no", "yes", "yes"]
    )
    counts = load_counts(df)
    assert counts.included.tolist() == [True, True, False, True, True]
    with pytest.raises(ValueError, match="column 'included': 'maybe'"):
        load_counts(df.assign(included="maybe"))


# ------------------------------------------------------------------ live metafor
@pytest.mark.r
def test_bundled_case_agrees_with_live_metafor(metafor):
    seen = []
    rep = reproduce(bridge=metafor, progress=lambda i, n, label: seen.append((i, n)))
    n, bad, rel = rep.parity
    assert bad == 0 and n > 300, [
        c for a in rep.analyses.values() for c in a.comparisons if not c.ok
    ]
    assert rel < 1e-10
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1]  # progress reported to the end
    f = _fig(rep, "sCR", "na", "overall")
    assert f.metafor == pytest.approx(f.ours, rel=1e-12)
    t = rep.tests[("sCR", "na")]
    assert t.metafor["ok"] and t.comparisons and all(c.ok for c in t.comparisons)


@pytest.mark.r
def test_cli_live(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    code = main(["reproduce", "--out", str(tmp_path / "rep"), "--require-r", "--no-figures"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 outside tolerance" in out and "117: 19 reproduced" in out


def test_glmm_sensitivity_column(bundled):
    # the binomial-normal GLMM on every included study (docs/glmm.md)
    f = _fig(bundled, "ORR", "na", "SEL+DEX")
    assert tuple(round(x, 1) for x in f.glmm) == (24.0, 18.6, 30.4)
    g = _fig(bundled, "sCR", "na", "overall")  # zero-event studies included, not dropped
    assert bundled.analyses[("sCR", "na", "overall")].glmm.k == 6
    assert g.glmm[0] < 1.0 < g.ours[0]
    assert _fig(bundled, "Lymphopenia", "all", "SEL+DEX+PI").glmm is None  # k = 1


@pytest.mark.r
def test_subgroup_tests_live_on_user_data(metafor):
    d = pd.read_csv(pd.io.common.StringIO(DATA))
    pub = pd.DataFrame(
        {"outcome": ["resp"], "subgroup": ["overall"], "estimate_pct": ["30"],
         "ci_low_pct": ["10"], "ci_high_pct": ["50"], "p_subgroup_diff": ["0.01"]}
    )  # fmt: skip
    rep = reproduce(d, pub, bridge=metafor)
    t = rep.tests[("resp", "na")]
    # RevMan Q-between checked as metafor's QE of the subgroup estimates, and metafor's QM
    # from rma(yi, vi, mods = ~ subgroup) compared field by field (b, se, tau2, QM, QMp, ...)
    names = {c.quantity for c in t.comparisons}
    assert {"QE", "QEp", "QM", "QMp", "b[2]", "tau2"} <= names
    assert all(c.ok for c in t.comparisons), [c for c in t.comparisons if not c.ok]
    assert rep.parity[1] == 0


@pytest.mark.r
def test_qm_refused_like_metafor_when_k_equals_p(metafor):
    rep = reproduce(bridge=metafor)
    t = rep.tests[("sCR", "na")]  # two pooled studies, two coefficients
    assert t.mods is None and "metafor refuses too" in t.qm_note
