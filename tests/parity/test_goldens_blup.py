"""blup() and ranef() against the blup goldens, replayed WITHOUT R.

fixtures/goldens/metafor-*/blup.json (r_scripts/goldens_blup.R, one per metafor version) hold
metafor's blup() and ranef() for the fits in fixtures/blup_cases.json
(scripts/blup_golden_inputs.py, from tests/blup_cases.py); each is replayed under the
behaviour of its version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from metaparity import metafor_version
from metaparity.parity.blup import blup_call_args, compare_blup
from metaparity.parity.goldens import PRODUCERS
from metaparity.parity.mv import failures

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from blup_cases import golden_cases  # noqa: E402

CASES = golden_cases()
INPUTS = {c["name"]: c["args"] for c in
          json.loads((ROOT / "fixtures" / "blup_cases.json").read_text())["cases"]}  # fmt: skip


def _records():
    from conftest import golden_path, golden_versions

    out = []
    for v in golden_versions("blup.json"):
        g = json.loads(golden_path("blup.json", v).read_text())
        out += [(v, r) for r in g["blup"]]
    return out


RECS = _records()


def test_every_case_has_a_golden_per_version_and_the_inputs_are_current():
    from conftest import golden_versions

    assert PRODUCERS["r_scripts/goldens_blup.R"].endswith("blup.json")
    versions = golden_versions("blup.json")
    assert {"3.8.1", "4.8.0", "5.1.12"} <= set(versions)
    for v in versions:
        assert sorted(r["name"] for w, r in RECS if w == v) == sorted(CASES)
    for name, (res, opts) in CASES.items():
        assert json.loads(json.dumps(blup_call_args(res, **opts))) == INPUTS[name], name


@pytest.mark.parametrize(("version", "rec"), RECS, ids=[f"{v}-{r['name']}" for v, r in RECS])
def test_blup_matches_the_golden(version, rec):
    assert rec["ok"], rec.get("error")
    res, opts = CASES[rec["name"]]
    opts.pop("fixed_tau2", None)
    with metafor_version(version):
        cmp = compare_blup(res, rec, **opts)
    assert len(cmp) == 8 * res.k
    assert not failures(cmp), failures(cmp)[:5]
