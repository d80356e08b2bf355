"""``metaparity explain``: the table, the attributions, --markdown, and exit 2 with one line on
stderr for bad input (unknown policy, a missing column, no counts, unwritable output)."""

from __future__ import annotations

from pathlib import Path

import pytest

from metaparity.cli import main

ROOT = Path(__file__).resolve().parents[1]
BCG = ROOT / "fixtures" / "metadat" / "dat.bcg.csv"
NIEL = ROOT / "fixtures" / "metadat" / "dat.nielweise2007.csv"
COLS = ["--col", "ai=tpos", "--col", "bi=tneg", "--col", "ci=cpos", "--col", "di=cneg"]


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_explain_bcg_two_policies(capsys, tmp_path):
    md = tmp_path / "explain.md"
    code, out, err = _run(capsys, "explain", BCG, "--measure", "OR", *COLS,
                          "--policies", "metafor,revman_web", "--markdown", md)  # fmt: skip
    assert code == 0, err
    assert "metafor vs revman_web (differ in: drop00, test, tau2_ci, pi, smd_vtype)" in out
    assert "ci_lb: 0.3296 -> 0.316" in out and "test -0.01363" in out
    assert "tau2_lb: NaN -> 0.1301 -- caused by tau2_ci" in out
    text = md.read_text()
    assert text.startswith("| output | metafor | revman_web |")
    assert "**metafor vs revman_web**" in text


def test_explain_columns_named_like_escalc_need_no_mapping(capsys):
    code, out, err = _run(capsys, "explain", NIEL, "--measure", "OR", "--policies",
                          "metafor,stata,revman_web")  # fmt: skip
    assert code == 0, err
    assert "k: 18 -> 17" in out and "drop00" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--policies", "spss"], "unknown tool policy 'spss'"),
        (["--col", "ai=nope"], "the table has no column 'nope'"),
        ([], "measure OR needs 2x2 counts"),
        (["--col", "xx=tpos"], "'xx' is not an escalc argument"),
        ([*COLS, "--level", "150"], "level"),
    ],
)
def test_explain_bad_input_exits_2_with_one_line(capsys, argv, needle):
    code, out, err = _run(capsys, "explain", BCG, "--measure", "OR", *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("metaparity explain: "), err
    assert needle in lines[0]
    assert "Traceback" not in err


def test_explain_unwritable_markdown_is_refused_before_pooling(capsys, tmp_path):
    code, _, err = _run(capsys, "explain", BCG, "--measure", "OR", *COLS, "--markdown",
                        tmp_path / "no" / "such" / "dir" / "x.md")  # fmt: skip
    assert code == 2 and "--markdown" in err


def test_explain_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "explain" in capsys.readouterr().out
