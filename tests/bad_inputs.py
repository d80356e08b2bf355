"""The bad-input corpus: every way a user can hand metaparity bad input, and what must happen.

Plain data, read by ``tests/test_bad_inputs.py`` (the contract, as tests) and by
``scripts/bad_input_audit.py`` (the same corpus against any source tree).  Each case is a
dict:

``id``
    unique, readable.
``cls``
    the class of input: ``data/continuous``, ``data/binary``, ``data/proportions``,
    ``data/correlations``, ``data/generic``, ``data/file``, ``cli/options``,
    ``cli/outputs``, ``goldens``, ``reproduce/published``, ``reproduce/options``,
    ``api/rma``, ``api/batch``, ``api/escalc``, ``api/confint``, ``faults/R``.
``argv`` (CLI cases)
    the arguments of ``python -m metaparity.cli``, run with the case's folder as cwd.
``call`` (API cases)
    one Python expression evaluated with ``mp`` (metaparity), ``np`` (numpy), ``inf``,
    ``nan`` and ``rbridge`` (metaparity.parity.rbridge) in scope.
``files``
    files written into the case's folder first (``{name: text}``; ``bytes`` written as is);
    names in ``exec`` are made executable.
``before`` (optional)
    ``{"argv": [...], "files": {...}}``: a CLI run made first (e.g. recording a golden),
    then ``files`` rewritten (the input changed since).
``env``
    environment overrides; ``{dir}`` in values (and in ``argv``) is the case's folder,
    ``{path}`` the inherited PATH.
``exit`` (CLI) / ``raises`` (API: an exception class name, matched against the raised
    exception's class and its bases) / ``warns`` (API: the call succeeds, with a warning;
    NaN in the result is then allowed).
``keywords``
    what the one-line message must contain (case-insensitive): each entry is a string, or a
    list of alternatives.  Typically the row/study, the value and a word of the fix.
``outputs``
    paths (relative to the folder) that must not exist afterwards.
``r``
    True when the case needs R with metafor (it is marked ``@pytest.mark.r``).
"""

from __future__ import annotations

#: words of a fix (any one of them)
FIX = ["use", "give", "check", "remove", "choose", "expected", "set ", "fix", "rename",
       "did you mean", "must", "should", "need", "one of", "instead", "supply", "correct",
       "pass", "save", "encod", "create", "drop", "delete", "rerun", "install", "unset",
       "point", "between", "positive", "at least", "record", "add ", "write"]  # fmt: skip
#: the bad study of the data files below is always the second one
ROW = ["Beta", "row 2", "line 3"]


def _csv(header: str, *rows: str) -> str:
    return "\n".join([header, *rows]) + "\n"


# --- good files (one value is spoiled per case) -----------------------------------------
CONT = ("study,m1i,sd1i,n1i,m2i,sd2i,n2i",
        ["Alpha,10.2,2.1,30,9.1,2.3,31", "Beta,11.0,2.5,25,9.8,2.2,24",
         "Gamma,9.7,1.9,40,9.0,2.0,42", "Delta,10.5,2.2,35,9.2,2.4,33"])  # fmt: skip
BIN = (
    "study,ai,n1i,ci,n2i",
    ["Alpha,12,50,20,52", "Beta,8,40,15,41", "Gamma,15,60,22,58", "Delta,10,45,18,47"],
)
PROP = ("study,xi,ni", ["Alpha,12,50", "Beta,8,40", "Gamma,15,60", "Delta,10,45"])
COR = ("study,ri,ni", ["Alpha,0.31,50", "Beta,0.25,40", "Gamma,0.42,60", "Delta,0.18,45"])
GEN = ("study,yi,vi,group,w",
       ["Alpha,0.12,0.010,A,1", "Beta,0.30,0.020,A,2", "Gamma,0.21,0.015,B,1",
        "Delta,0.05,0.030,B,2"])  # fmt: skip


def spoil(base: tuple[str, list[str]], col: str, value: str, row: int = 1) -> str:
    """``base`` as CSV text with column ``col`` of data row ``row`` (0-based) set to ``value``."""
    header, rows = base
    names = header.split(",")
    cells = rows[row].split(",")
    cells[names.index(col)] = value
    out = list(rows)
    out[row] = ",".join(cells)
    return _csv(header, *out)


def drop_col(base: tuple[str, list[str]], col: str) -> str:
    header, rows = base
    j = header.split(",").index(col)
    cut = [",".join(c for i, c in enumerate(r.split(",")) if i != j) for r in rows]
    hdr = ",".join(c for i, c in enumerate(header.split(",")) if i != j)
    return _csv(hdr, *cut)


def good(base: tuple[str, list[str]]) -> str:
    return _csv(base[0], *base[1])


def parity(measure: str, *extra: str) -> list[str]:
    """``metaparity parity data.csv --measure M --method DL --json out.json ...``."""
    return ["parity", "data.csv", "--measure", measure, "--method", "DL",
            "--json", "out.json", *extra]  # fmt: skip


def data_case(id, cls, measure, text, keywords, *extra, exit=2, files=None):  # noqa: A002
    fs = {"data.csv": text, **(files or {})}
    return dict(id=id, cls=cls, argv=parity(measure, *extra), files=fs, exit=exit,
                keywords=keywords, outputs=["out.json"])  # fmt: skip


CASES: list[dict] = []
add = CASES.append

# --- data/continuous -----------------------------------------------------------------
C = "data/continuous"
add(data_case("smd-sd-negative", C, "SMD", spoil(CONT, "sd1i", "-2.5"), [ROW, "sd1i", "-2.5", FIX]))
add(data_case("smd-sd2-negative", C, "SMD", spoil(CONT, "sd2i", "-1"), [ROW, "sd2i", "-1", FIX]))
add(data_case("md-sd-zero-both", C, "MD",
              good(CONT).replace("Beta,11.0,2.5,25,9.8,2.2,24", "Beta,11.0,0,25,9.8,0,24"),
              [ROW, ["sd", "variance"], "0", FIX]))  # fmt: skip
add(data_case("smd-n-zero", C, "SMD", spoil(CONT, "n1i", "0"), [ROW, "n1i", "0", FIX]))
add(data_case("smd-n-negative", C, "SMD", spoil(CONT, "n2i", "-24"), [ROW, "n2i", "-24", FIX]))
add(
    data_case("smd-mean-non-numeric", C, "SMD", spoil(CONT, "m1i", "abc"), [ROW, "m1i", "abc", FIX])
)
add(
    data_case(
        "smd-sd-non-numeric", C, "SMD", spoil(CONT, "sd2i", "2.2?"), [ROW, "sd2i", "2.2?", FIX]
    )
)
add(data_case("smd-missing-column", C, "SMD", drop_col(CONT, "sd2i"), ["sd2i", FIX]))
add(
    data_case(
        "md-n-non-integer-text", C, "MD", spoil(CONT, "n1i", "twenty"), [ROW, "n1i", "twenty", FIX]
    )
)

# --- data/binary ---------------------------------------------------------------------
B = "data/binary"
add(data_case("or-events-gt-n", B, "OR", spoil(BIN, "ai", "41"), [ROW, "ai", "41", FIX]))
add(data_case("rr-events-gt-n-ctrl", B, "RR", spoil(BIN, "ci", "42"), [ROW, "ci", "42", FIX]))
add(data_case("or-events-negative", B, "OR", spoil(BIN, "ai", "-3"), [ROW, "ai", "-3", FIX]))
add(data_case("or-n-zero", B, "OR", spoil(BIN, "n1i", "0"), [ROW, "n1i", "0", FIX]))
add(data_case("rd-n-negative", B, "RD", spoil(BIN, "n2i", "-41"), [ROW, "n2i", "-41", FIX]))
add(data_case("or-non-numeric", B, "OR", spoil(BIN, "ci", "x15"), [ROW, "ci", "x15", FIX]))
add(data_case("or-missing-column", B, "OR", drop_col(BIN, "n2i"), ["n2i", FIX]))

# --- data/proportions ----------------------------------------------------------------
P = "data/proportions"
add(data_case("pr-events-gt-n", P, "PR", spoil(PROP, "xi", "41"), [ROW, "xi", "41", FIX]))
add(data_case("plo-events-gt-n", P, "PLO", spoil(PROP, "xi", "55"), [ROW, "xi", "55", FIX]))
add(data_case("pr-n-zero", P, "PR", spoil(PROP, "ni", "0"), [ROW, "ni", "0", FIX]))
add(data_case("pr-n-negative", P, "PR", spoil(PROP, "ni", "-40"), [ROW, "ni", "-40", FIX]))
add(data_case("pr-events-negative", P, "PR", spoil(PROP, "xi", "-1"), [ROW, "xi", "-1", FIX]))
add(data_case("pr-non-numeric", P, "PR", spoil(PROP, "xi", "eight"), [ROW, "xi", "eight", FIX]))
add(data_case("pr-missing-column", P, "PR", drop_col(PROP, "ni"), ["ni", FIX]))

# --- data/correlations ---------------------------------------------------------------
R_ = "data/correlations"
# r = +-1: metafor's escalc recodes the infinite z to NA (with a warning) and rma() leaves the
# study out; parity mirrors that and lists the study as dropped (exit 0, no warning on stderr)
add(
    dict(
        data_case(
            "zcor-r-one",
            R_,
            "ZCOR",
            spoil(COR, "ri", "1"),
            ["dropped", "Beta", "ri = 1", "infinite"],
        ),
        exit=0,
        outputs=[],
        r=True,
    )
)
add(
    dict(
        data_case(
            "zcor-r-minus-one",
            R_,
            "ZCOR",
            spoil(COR, "ri", "-1"),
            ["dropped", "Beta", "ri = -1", "infinite"],
        ),
        exit=0,
        outputs=[],
        r=True,
    )
)
add(data_case("cor-r-above-one", R_, "COR", spoil(COR, "ri", "1.2"), [ROW, "ri", "1.2", FIX]))
add(
    data_case(
        "zcor-r-below-minus-one", R_, "ZCOR", spoil(COR, "ri", "-1.5"), [ROW, "ri", "-1.5", FIX]
    )
)
# ni = 3: metafor's escalc gives vi = NA (with a warning) and rma() leaves the study out
add(
    dict(
        data_case(
            "zcor-n-too-small",
            R_,
            "ZCOR",
            spoil(COR, "ni", "3"),
            ["dropped", "Beta", "ni = 3", "ni > 3"],
        ),
        exit=0,
        outputs=[],
        r=True,
    )
)

# --- data/generic (yi, vi) -----------------------------------------------------------
G = "data/generic"
add(data_case("gen-vi-negative", G, "GEN", spoil(GEN, "vi", "-0.02"), [ROW, "vi", "-0.02", FIX]))
add(data_case("gen-yi-non-numeric", G, "GEN", spoil(GEN, "yi", "0.3x"), [ROW, "yi", "0.3x", FIX]))
add(data_case("gen-yi-inf", G, "GEN", spoil(GEN, "yi", "inf"), [ROW, "yi", "inf", FIX]))
add(data_case("gen-vi-missing-column", G, "GEN", drop_col(GEN, "vi"), ["vi", FIX]))
add(
    data_case(
        "gen-all-yi-missing",
        G,
        "GEN",
        good(GEN)
        .replace(",0.12,", ",,")
        .replace(",0.30,", ",,")
        .replace(",0.21,", ",,")
        .replace(",0.05,", ",,"),
        ["yi", ["no stud", "k = 0", "missing", "empty"], FIX],
    )
)
add(
    data_case(
        "gen-duplicate-labels",
        G,
        "GEN",
        good(GEN).replace("Gamma", "Alpha"),
        ["Alpha", ["duplicate", "twice", "more than once"], FIX],
    )
)

# --- data/file -----------------------------------------------------------------------
F = "data/file"
add(data_case("file-empty", F, "GEN", "", ["data.csv", "empty", FIX]))
add(
    data_case(
        "file-header-only",
        F,
        "GEN",
        "study,yi,vi\n",
        ["data.csv", ["no rows", "no stud", "no data", "empty", "header only"], FIX],
    )
)
add(
    data_case(
        "file-decimal-comma",
        F,
        "GEN",
        "study;yi;vi\nAlpha;0,12;0,010\nBeta;0,30;0,020\nGamma;0,21;0,015\n",
        ["all agree"],
        exit=0,  # ';'-separated with decimal commas: detected and read (--decimal ,)
    )
    | {"outputs": [], "r": True}
)
add(
    data_case(
        "file-decimal-comma-in-comma-file",
        F,
        "GEN",
        'study,yi,vi\nAlpha,"0,12",0.010\nBeta,"0,30",0.020\nGamma,"0,21",0.015\n',
        ["line 2", "0,12", ["decimal", "comma"], FIX],
    )
)
add(data_case("file-not-utf8", F, "GEN",
              "study,yi,vi\nAlpha,0.12,0.01\nB\xe9ta,0.30,0.02\nGamma,0.21,0.015\n"
              .encode("latin-1"), [["utf-8", "utf8", "encoding"], ["line 3", "row 2", "byte"],
                                   FIX]))  # fmt: skip
add(dict(id="file-missing", cls=F, argv=["parity", "nothere.csv", "--measure", "GEN",
         "--json", "out.json"], files={}, exit=2, keywords=["nothere.csv", FIX],
         outputs=["out.json"]))  # fmt: skip
add(dict(id="file-is-directory", cls=F, argv=["parity", "sub", "--measure", "GEN",
         "--json", "out.json"], files={"sub/keep.txt": "x"}, exit=2,
         keywords=["sub", ["directory", "folder"], FIX], outputs=["out.json"]))  # fmt: skip

# --- cli/options (parity) ------------------------------------------------------------
OPT = "cli/options"
g = good(GEN)
add(data_case("col-unknown-key", OPT, "GEN", g, ["yii", "did you mean", "yi"], "--col", "yii=yi"))
add(
    data_case(
        "col-column-typo",
        OPT,
        "GEN",
        good(GEN).replace("yi,", "effect,", 1),
        ["effct", "did you mean", "effect"],
        "--col",
        "yi=effct",
    )
)
add(data_case("col-no-equals", OPT, "GEN", g, ["--col", "yi", "=", FIX], "--col", "yi"))
add(data_case("by-typo", OPT, "GEN", g, ["grup", ["did you mean", "group"]], "--by", "grup"))
add(
    data_case("slab-typo", OPT, "GEN", g, ["studdy", ["did you mean", "study"]], "--slab", "studdy")
)
add(
    data_case(
        "filter-column-typo", OPT, "GEN", g, ["grp", ["did you mean", "group"]], "--filter", "grp=A"
    )
)
add(
    data_case(
        "filter-removes-all",
        OPT,
        "GEN",
        g,
        ["group", "Z", ["no rows", "no stud", "none"]],
        "--filter",
        "group=Z",
    )
)
add(
    data_case(
        "weights-column-missing",
        OPT,
        "GEN",
        g,
        ["wts", ["did you mean", "w", FIX]],
        "--weights",
        "wts",
    )
)
add(data_case("level-zero", OPT, "GEN", g, ["level", "0", ["between", "100", FIX]], "--level", "0"))
add(
    data_case(
        "level-150", OPT, "GEN", g, ["level", "150", ["between", "100", FIX]], "--level", "150"
    )
)
add(data_case("measure-unknown", OPT, "XYZ", good(PROP), ["XYZ", ["one of", "choose", "PR"]]))
add(
    data_case(
        "method-unknown", OPT, "GEN", g, ["FOO", ["one of", "choose", "REML"]], "--method", "FOO"
    )
)
add(data_case("test-unknown", OPT, "GEN", g, ["zz", ["one of", "choose", "knha"]], "--test", "zz"))
add(
    data_case(
        "control-bad-json", OPT, "GEN", g, ["--control", "JSON", FIX], "--control", '{"maxiter": '
    )
)
add(
    data_case(
        "control-unknown-key",
        OPT,
        "GEN",
        g,
        ["maxiterr", ["did you mean", "maxiter"]],
        "--control",
        '{"maxiterr": 50}',
    )
)
add(
    data_case(
        "control-bad-value",
        OPT,
        "GEN",
        g,
        ["maxiter", "many", FIX],
        "--control",
        '{"maxiter": "many"}',
    )
)
add(
    data_case("genq-without-weights", OPT, "GEN", g, ["GENQ", "--weights", FIX], "--method", "GENQ")
)
# simulate
for sid, extra, kw in [
    ("simulate-k-zero", ["--k", "0"], ["--k", "0", FIX]),
    ("simulate-M-negative", ["--M", "-1"], ["--M", "-1", FIX]),
    ("simulate-vi-bad", ["--vi", "gaussian:1"], ["--vi", "gaussian:1", ["uniform", FIX]]),
    ("simulate-vi-reversed", ["--vi", "uniform:0.5:0.1"], ["--vi", "0.5", FIX]),
    ("simulate-vi-negative", ["--vi", "uniform:-1:0.1"], ["--vi", "-1", FIX]),
    ("simulate-tau2-negative", ["--tau2", "-0.1"], ["--tau2", "-0.1", FIX]),
    ("simulate-kmin-above-k", ["--k", "5", "--k-min", "8"], ["--k-min", "8", FIX]),
]:
    add(dict(id=sid, cls=OPT, argv=["simulate", "sim.npz", "--M", "10", *extra], files={},
             exit=2, keywords=kw, outputs=["sim.npz"]))  # fmt: skip

# --- cli/outputs ---------------------------------------------------------------------
U = "cli/outputs"
add(dict(id="json-is-directory", cls=U, argv=["parity", "data.csv", "--measure", "GEN",
         "--method", "DL", "--json", "outdir"], files={"data.csv": g, "outdir/keep": "x"},
         exit=2, keywords=["outdir", ["directory", "folder"], FIX], outputs=["outdir/out.json"]))  # fmt: skip
add(dict(id="json-parent-missing", cls=U, argv=["parity", "data.csv", "--measure", "GEN",
         "--method", "DL", "--json", "nodir/out.json"], files={"data.csv": g}, exit=2,
         keywords=["nodir", ["exist", "missing"], FIX], outputs=["nodir"]))  # fmt: skip
add(dict(id="markdown-is-directory", cls=U, argv=["parity", "data.csv", "--measure", "GEN",
         "--method", "DL", "--markdown", "md", "--json", "out.json"],
         files={"data.csv": g, "md/keep": "x"}, exit=2, keywords=["md", ["directory", "folder"], FIX],
         outputs=["out.json", "md/out.md"]))  # fmt: skip
add(dict(id="junit-parent-missing", cls=U, argv=["parity", "data.csv", "--measure", "GEN",
         "--method", "DL", "--json", "out.json", "--junit", "no/such/junit.xml"],
         files={"data.csv": g}, exit=2, keywords=["no/such", ["exist", "missing"], FIX],
         outputs=["out.json", "no"]))  # fmt: skip
add(dict(id="simulate-out-is-directory", cls=U, argv=["simulate", "simdir", "--M", "10"],
         files={"simdir/keep": "x"}, exit=2, keywords=["simdir", ["directory", "folder"], FIX],
         outputs=["simdir.npz"]))  # fmt: skip
add(dict(id="simulate-out-parent-missing", cls=U, argv=["simulate", "none/sim.npz", "--M", "10"],
         files={}, exit=2, keywords=["none", ["exist", "missing"], FIX],
         outputs=["none"]))  # fmt: skip

# --- reproduce -----------------------------------------------------------------------
COUNTS = _csv("study,outcome,events,n", "Alpha,ORR,12,50", "Beta,ORR,8,40", "Gamma,ORR,15,60")
PUB_HDR = "outcome,subgroup,estimate_pct,ci_low_pct,ci_high_pct"


def repro(id, cls, published, keywords, *extra, counts=COUNTS, files=None):  # noqa: A002
    fs = {"counts.csv": counts, "published.csv": published, **(files or {})}
    argv = ["reproduce", "--data", "counts.csv", "--published", "published.csv", "--out",
            "rep", "--no-r", "--no-figures", *extra]  # fmt: skip
    return dict(id=id, cls=cls, argv=argv, files=fs, exit=2, keywords=keywords, outputs=["rep"])


PUB_OK = _csv(PUB_HDR, "ORR,overall,23,16,31")
RP = "reproduce/published"
add(
    repro(
        "published-estimate-outside-ci",
        RP,
        _csv(PUB_HDR, "ORR,overall,43,18,30"),
        ["line   2", "43", "outside its own CI", "typo"],
    )
    | {"exit": 0, "outputs": []}
)
add(
    repro(
        "published-ci-reversed",
        RP,
        _csv(PUB_HDR, "ORR,overall,23,31,16"),
        ["line   2", "reversed", "typo"],
    )
    | {"exit": 0, "outputs": []}
)
add(
    repro(
        "published-non-numeric",
        RP,
        _csv(PUB_HDR, "ORR,overall,23%,16,31"),
        ["line   2", "printed 23%"],
    )
    | {"exit": 0, "outputs": []}
)
add(
    repro(
        "published-typo-strict",
        RP,
        _csv(PUB_HDR, "ORR,overall,43,18,30"),
        ["--strict", "discrepanc", "exit 1"],
        "--strict",
    )
    | {"exit": 1, "outputs": []}
)
add(
    repro(
        "published-missing-column",
        RP,
        "outcome,subgroup,estimate_pct,ci_low_pct\nORR,overall,23,16\n",
        ["ci_high_pct", FIX],
    )
)
add(
    repro(
        "published-pct-above-100",
        RP,
        _csv(PUB_HDR, "ORR,overall,230,160,310"),
        ["line   2", "230", "not a proportion", "typo"],
    )
    | {"exit": 0, "outputs": []}
)
add(
    repro(
        "counts-events-gt-n",
        RP,
        PUB_OK,
        [ROW, "41", FIX],
        counts=COUNTS.replace("Beta,ORR,8,40", "Beta,ORR,41,40"),
    )
)
add(
    repro(
        "counts-n-zero",
        RP,
        PUB_OK,
        [ROW, "0", FIX],
        counts=COUNTS.replace("Beta,ORR,8,40", "Beta,ORR,8,0"),
    )
)
RO = "reproduce/options"
add(repro("policy-bad-threshold", RO, PUB_OK, ["i2>abc", FIX], "--policy", "i2>abc"))
add(repro("policy-threshold-above-100", RO, PUB_OK, ["150", FIX], "--policy", "i2>150"))
add(repro("policy-unknown", RO, PUB_OK, ["bogus", FIX], "--policy", "bogus"))
add(repro("add-zero", RO, PUB_OK, ["--add", "0", FIX], "--add", "0", "--zero", "cc"))
add(repro("add-negative", RO, PUB_OK, ["--add", "-1", FIX], "--add", "-1"))
add(repro("reproduce-measure-unknown", RO, PUB_OK, ["XYZ", FIX], "--measure", "XYZ"))
add(
    repro(
        "reproduce-out-is-file",
        RO,
        PUB_OK,
        ["rep", ["file", "directory"], FIX],
        files={"rep": "not a folder"},
    )
)
CASES[-1]["outputs"] = ["rep/report.md"]
add(repro("reproduce-only-data", RO, PUB_OK, ["--published", FIX]))
CASES[-1]["argv"] = ["reproduce", "--data", "counts.csv", "--out", "rep", "--no-r"]

# --- goldens -------------------------------------------------------------------------
GD = "goldens"
NO_R = {"PATH": "/nonexistent-bin", "METAPARITY_RSCRIPT": ""}
add(dict(id="golden-is-a-file", cls=GD, argv=parity("GEN", "--golden", "gold"),
         files={"data.csv": g, "gold": "a file"}, exit=2,
         keywords=["gold", ["file", "directory"], FIX], outputs=["out.json"]))  # fmt: skip
add(dict(id="golden-missing-without-r", cls=GD, argv=parity("GEN", "--golden", "gold"),
         files={"data.csv": g}, env=NO_R, exit=2,
         keywords=["gold", ["no golden", "record", "not found", "missing", "no result"], FIX],
         outputs=["out.json"]))  # fmt: skip
add(dict(id="golden-input-changed", cls=GD, argv=parity("GEN", "--golden", "gold"),
         before={"argv": ["parity", "data.csv", "--measure", "GEN", "--method", "DL",
                          "--golden", "gold", "--record"], "files": {"data.csv": spoil(GEN, "yi", "0.35")}},
         files={"data.csv": g}, env=NO_R, exit=2,
         keywords=[["changed", "hash", "differ"], ["--record", "--accept", "record"]],
         outputs=["out.json"], r=True))  # fmt: skip

# --- API -----------------------------------------------------------------------------
VI = "[0.01, 0.02, 0.015, 0.03]"
for aid, acls, call, expect, kw in [
    (
        "rma-yi-inf",
        "api/rma",
        "mp.rma([0.1, inf, 0.2, 0.3], " + VI + ")",
        "ValueError",
        [["row 2", "study 2"], "inf", FIX],
    ),
    (
        "rma-vi-negative",
        "api/rma",
        "mp.rma([0.1, 0.3, 0.2, 0.3], [0.01, -0.02, 0.015, 0.03])",
        "ValueError",
        [["row 2", "study 2"], "-0.02", FIX],
    ),
    ("rma-k-zero", "api/rma", "mp.rma([], [])", "ValueError", [["k = 0", "no stud"], FIX]),
    (
        "rma-nan-only",
        "api/rma",
        "mp.rma([nan, nan], [nan, nan])",
        "ValueError",
        [["missing", "nan"], ["k = 0", "no study"]],
    ),
    (
        "rma-method-unknown",
        "api/rma",
        "mp.rma([0.1, 0.3], [0.01, 0.02], method='FOO')",
        "ValueError",
        ["FOO", ["one of", "choose"]],
    ),
    (
        "rma-test-unknown",
        "api/rma",
        "mp.rma([0.1, 0.3], [0.01, 0.02], test='zz')",
        "ValueError",
        ["zz", ["one of", "choose"]],
    ),
    (
        "rma-level-zero",
        "api/rma",
        "mp.rma([0.1, 0.3], [0.01, 0.02], level=0)",
        "ValueError",
        ["level", "0", ["between", "100", FIX]],
    ),
    (
        "rma-level-150",
        "api/rma",
        "mp.rma([0.1, 0.3], [0.01, 0.02], level=150)",
        "ValueError",
        ["level", "150", ["between", "100", FIX]],
    ),
    (
        "rma-length-mismatch",
        "api/rma",
        "mp.rma([0.1, 0.3, 0.2], [0.01, 0.02])",
        "ValueError",
        ["3", "2", ["length", "same", "size"]],
    ),
    (
        "rma-control-unknown-key",
        "api/rma",
        "mp.rma([0.1, 0.3, 0.2], [0.01, 0.02, 0.015], control={'maxiterr': 5})",
        "ValueError",
        ["maxiterr", ["did you mean", "maxiter", FIX]],
    ),
    (
        "rma-extreme-vi-ratio",
        "api/rma",
        "mp.rma([0.1, 0.2, 0.3], [1e-12, 1.0, 1e6])",
        "warns",
        [["ratio", "extreme", "large"], "vi"],
    ),
    (
        "rma-yi-string",
        "api/rma",
        "mp.rma(['0.1', 'x'], [0.01, 0.02])",
        "ValueError",
        [["x", "numeric", "number"]],
    ),
    (
        "batch-inf",
        "api/batch",
        "mp.rma_batch([[0.1, inf, 0.2]], [[0.01, 0.02, 0.015]]).b",
        "ValueError",
        [["row 0", "row 1", "meta-analysis 0"], ["column 1", "study 1"], "inf"],
    ),
    (
        "batch-minus-inf-v",
        "api/batch",
        "mp.rma_batch([[0.1, 0.3, 0.2]], [[0.01, -inf, 0.015]]).b",
        "ValueError",
        [["row 0", "row 1", "meta-analysis 0"], ["column 1", "study 1"], "inf"],
    ),
    (
        "batch-negative-v",
        "api/batch",
        "mp.rma_batch([[0.1, 0.3, 0.2]], [[0.01, -0.02, 0.015]]).b",
        "ValueError",
        [["row 0", "row 1", "meta-analysis 0"], ["column 1", "study 1"], "-0.02"],
    ),
    (
        "batch-shape-mismatch",
        "api/batch",
        "mp.rma_batch([[0.1, 0.3, 0.2]], [[0.01, 0.02]]).b",
        "ValueError",
        [["shape", "broadcast"], "3", "2"],
    ),
    (
        "batch-method-unknown",
        "api/batch",
        "mp.rma_batch([[0.1, 0.3]], [[0.01, 0.02]], method='FOO').b",
        "ValueError",
        ["FOO", ["one of", "choose"]],
    ),
    (
        "escalc-smd-sd-zero",
        "api/escalc",
        "mp.escalc('SMD', m1i=[1.0, 2.0], sd1i=[0.0, 1.0], n1i=[10, 10], m2i=[1.0, 1.0], "
        "sd2i=[0.0, 1.0], n2i=[10, 10])",
        "warns",
        [["row 1", "study 1"], ["sd", "NaN", "NA"]],
    ),
    (
        "escalc-zcor-r-one",
        "api/escalc",
        "mp.escalc('ZCOR', ri=[1.0, 0.3], ni=[10, 10])",
        "warns",
        [["row 1", "study 1"], ["inf", "NaN", "NA"]],
    ),
    (
        "escalc-cor-r-above-one",
        "api/escalc",
        "mp.escalc('ZCOR', ri=[1.5, 0.3], ni=[10, 10])",
        "ValueError",
        [["row 1", "study 1"], "1.5", FIX],
    ),
    (
        "escalc-pr-events-gt-n",
        "api/escalc",
        "mp.escalc('PR', xi=[11, 2], ni=[10, 10])",
        "ValueError",
        [["row 1", "study 1"], "11", FIX],
    ),
    (
        "escalc-or-negative-count",
        "api/escalc",
        "mp.escalc('OR', ai=[-1, 2], bi=[9, 8], ci=[3, 4], di=[7, 6])",
        "ValueError",
        [["row 1", "study 1"], "-1", FIX],
    ),
    (
        "escalc-pr-n-zero",
        "api/escalc",
        "mp.escalc('PR', xi=[1, 2], ni=[0, 10])",
        "ValueError",
        [["row 1", "study 1"], "0", FIX],
    ),
    (
        "escalc-measure-unknown",
        "api/escalc",
        "mp.escalc('XYZ', xi=[1, 2], ni=[10, 10])",
        "ValueError",
        ["XYZ", ["one of", "choose"]],
    ),
    (
        "escalc-yi-inf",
        "api/escalc",
        "mp.escalc('GEN', yi=[inf, 0.2], vi=[0.01, 0.02])",
        "warns",
        [["row 1", "study 1"], ["inf"]],
    ),
    (
        "confint-k-one",
        "api/confint",
        "mp.rma([0.1], [0.01]).confint()",
        "ValueError",
        [["k = 1", "k=1", "one study"]],
    ),
    (
        "confint-level-zero",
        "api/confint",
        "mp.rma([0.1, 0.3, 0.2], [0.01, 0.02, 0.015]).confint(level=0)",
        "ValueError",
        ["level", "0", ["between", "100", FIX]],
    ),
]:
    case = dict(id=aid, cls=acls, call=call, keywords=kw)
    case["warns" if expect == "warns" else "raises"] = True if expect == "warns" else expect
    add(case)

# --- faults/R ------------------------------------------------------------------------
FR = "faults/R"
FAKE_RSCRIPT = """#!/bin/sh
# an Rscript that prints partial output, half-writes its result and dies by SIGKILL when
# asked to run metafor's rma (the version and package checks go to the real Rscript)
for a in "$@"; do
  case "$a" in *request.json) if grep -q '"fn": "rma"' "$a"; then
      echo "partial output"; printf '[{"ok": tr' > "$(dirname "$a")/result.json"
      kill -9 $$; fi;;
  esac
done
exec Rscript "$@"
"""
fault = dict(cls=FR, files={"data.csv": g}, exit=2, outputs=["out.json"])
add(dict(fault, id="no-r-on-path", argv=parity("GEN"), env=NO_R,
         keywords=[["R is not installed", "Rscript"], "setup.sh"]))  # fmt: skip
add(dict(fault, id="rscript-env-bogus", argv=parity("GEN"),
         env={"METAPARITY_RSCRIPT": "/nonexistent/Rscript"},
         keywords=["/nonexistent/Rscript", FIX]))  # fmt: skip
add(dict(fault, id="metafor-hidden", argv=parity("GEN", "--backend", "rscript"),
         env={"R_LIBS_SITE": "/nonexistent", "R_LIBS": "", "R_LIBS_USER": "/nonexistent"},
         keywords=["metafor", "install"], r=True))  # fmt: skip
add(dict(fault, id="metafor-hidden-rpy2", argv=parity("GEN", "--backend", "rpy2"),
         env={"R_LIBS_SITE": "/nonexistent", "R_LIBS": "", "R_LIBS_USER": "/nonexistent"},
         keywords=["metafor", "install"], r=True))  # fmt: skip
add(dict(fault, id="rscript-killed-mid-run", argv=parity("GEN", "--backend", "rscript"),
         files={"data.csv": g, "Rscript-dies": FAKE_RSCRIPT}, exec=["Rscript-dies"],
         env={"METAPARITY_RSCRIPT": "{dir}/Rscript-dies"},
         keywords=["killed", "SIGKILL", FIX], r=True))  # fmt: skip
add(dict(fault, id="rpy2-r-home-bogus", argv=parity("GEN", "--backend", "rpy2"),
         env={"R_HOME": "/nonexistent"},
         keywords=["rpy2 3", "R 4", ["setup.sh", "pip install"]], r=True))  # fmt: skip
add(dict(fault, id="reproduce-require-r-without-r", env=NO_R, files={
         "counts.csv": COUNTS, "published.csv": PUB_OK}, argv=["reproduce", "--data",
         "counts.csv", "--published", "published.csv", "--out", "rep", "--require-r",
         "--no-figures"], keywords=["R", "setup.sh"], outputs=["rep"]))  # fmt: skip
add(dict(id="api-rscript-killed", cls=FR, files={"Rscript-dies": FAKE_RSCRIPT},
         exec=["Rscript-dies"], env={"METAPARITY_RSCRIPT": "{dir}/Rscript-dies"},
         call="rbridge.RscriptBridge().rma([0.1, 0.3], [0.01, 0.02], method='DL')",
         raises="RFailed", keywords=["killed", "SIGKILL", "rma"], r=True))  # fmt: skip
add(dict(id="api-no-r", cls=FR, env=NO_R, call="rbridge.get_bridge('rscript')",
         raises="RUnavailable", keywords=["R is not installed", "setup.sh"]))  # fmt: skip

CLASSES = sorted({c["cls"] for c in CASES})
assert len({c["id"] for c in CASES}) == len(CASES), "case ids must be unique"
