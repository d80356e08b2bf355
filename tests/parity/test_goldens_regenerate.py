"""Golden drift is reported, never silently overwritten."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from metaparity.cli import main
from metaparity.parity.goldens import diff_json

ROOT = Path(__file__).resolve().parents[2]


def test_diff_json_reports_moved_numbers_and_ignores_rounding():
    old = {"provenance": {"metafor": "3.8.1", "date": "x"}, "rma": [{"fit": {"b": 0.5, "k": 3}}]}
    new = {
        "provenance": {"metafor": "4.0.0", "date": "y"},
        "rma": [{"fit": {"b": 0.5 + 1e-14, "k": 3}}],
    }
    assert diff_json(old["rma"], new["rma"]) == []  # within rtol 1e-10
    new["rma"][0]["fit"]["b"] = 0.51
    assert diff_json(old["rma"], new["rma"]) == [("[0].fit.b", 0.5, 0.51)]
    assert diff_json(old["provenance"], new["provenance"]) == [("metafor", "3.8.1", "4.0.0")]


@pytest.mark.r
def test_regenerate_reports_drift_and_leaves_files_unless_accepted(metafor, tmp_path, capsys):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "r_scripts", repo / "r_scripts")
    shutil.copytree(ROOT / "fixtures" / "metadat", repo / "fixtures" / "metadat")
    f = repo / "fixtures" / "metadat" / "dat.bcg.csv"
    f.write_text(f.read_text().replace('Aronson 1948",1,1948,4,', 'Aronson 1948",1,1948,5,'))
    before = f.read_text()
    code = main(["goldens", "regenerate", "--only", "export_metadat", "--root", str(repo)])
    out = capsys.readouterr().out
    assert code == 1 and "1 values moved" in out and "dat.bcg.csv:tpos[0]: 5 -> 4" in out
    assert f.read_text() == before  # not overwritten
    code = main(
        ["goldens", "regenerate", "--only", "export_metadat", "--root", str(repo), "--accept"]
    )
    assert code == 0 and f.read_text() != before
    code = main(["goldens", "regenerate", "--only", "export_metadat", "--root", str(repo)])
    assert code == 0 and "no value moved" in capsys.readouterr().out


def test_golden_producers_source_files_that_exist():
    """Every ``source(file.path(root, ...))`` of a golden producer names a file of the
    checkout (the producers broke once when metaparity.R moved to parity/r/)."""
    import re

    for script in sorted((ROOT / "r_scripts").glob("*.R")):
        for parts in re.findall(r"source\(file\.path\(root, ([^)]*)\)\)", script.read_text()):
            path = ROOT.joinpath(*re.findall(r'"([^"]+)"', parts))
            assert path.is_file(), f"{script.name} sources {path}, which does not exist"
