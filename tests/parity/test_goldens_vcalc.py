"""vcalc() against the vcalc goldens, replayed WITHOUT R.

fixtures/goldens/metafor-*/vcalc.json (r_scripts/goldens_vcalc.R, one per metafor version)
hold metafor's V for the cases in fixtures/vcalc_cases.json (scripts/vcalc_golden_inputs.py,
from tests/vcalc_cases.py); each is replayed under the behaviour of its version.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest

import metaparity as mp
from metaparity import metafor_version
from metaparity.parity.goldens import PRODUCERS
from metaparity.parity.mv import failures
from metaparity.parity.vcalc import as_matrix, compare_vcalc, vcalc_call_args

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from vcalc_cases import CASES, VERSIONED, run  # noqa: E402

INPUTS = {c["name"]: c["args"] for c in
          json.loads((ROOT / "fixtures" / "vcalc_cases.json").read_text())["cases"]}  # fmt: skip


def _records():
    from conftest import golden_path, golden_versions

    out = []
    for v in golden_versions("vcalc.json"):
        g = json.loads(golden_path("vcalc.json", v).read_text())
        out += [(v, r) for r in g["vcalc"]]
    return out


RECS = _records()


def test_every_case_has_a_golden_per_version_and_the_inputs_are_current():
    from conftest import golden_versions

    assert PRODUCERS["r_scripts/goldens_vcalc.R"].endswith("vcalc.json")
    versions = golden_versions("vcalc.json")
    assert "3.8.1" in versions
    for v in versions:
        assert sorted(r["name"] for w, r in RECS if w == v) == sorted([*CASES, *VERSIONED])
    for name in [*CASES, *VERSIONED]:
        dat, kw = run(name)
        assert json.loads(json.dumps(vcalc_call_args(data=dat, **kw))) == INPUTS[name], name


@pytest.mark.parametrize(("version", "rec"), RECS, ids=[f"{v}-{r['name']}" for v, r in RECS])
def test_vcalc_matches_the_golden(version, rec):
    dat, kw = run(rec["name"])
    ref = as_matrix(dict(rec))
    with metafor_version(version), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not ref["ok"]:
            with pytest.raises(ValueError, match="subscript out of bounds"):
                mp.vcalc(data=dat, **kw)
            return
        V = mp.vcalc(data=dat, **kw)
    bad = failures(compare_vcalc(V, ref))
    assert not bad, bad[:5]
