"""Meta-regression inference against the metareg goldens, replayed WITHOUT R.

fixtures/goldens/metafor-*/metareg.json (r_scripts/goldens_metareg.R, one per metafor
version) hold metafor's predict(), anova() Wald tests, fit statistics, likelihood-ratio tests
and confint(fixed = TRUE) for the calls in fixtures/metareg_cases.json
(scripts/metareg_golden_inputs.py, from tests/metareg_cases.py); each is replayed under the
behaviour of its version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from metaparity import metafor_version
from metaparity.parity.goldens import PRODUCERS

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from metareg_cases import R_FUNCTIONS, golden_calls  # noqa: E402

CALLS = golden_calls()
INPUTS = {c["name"]: c for c in
          json.loads((ROOT / "fixtures" / "metareg_cases.json").read_text())["cases"]}  # fmt: skip


def _records():
    from conftest import golden_path, golden_versions

    out = []
    for v in golden_versions("metareg.json"):
        g = json.loads(golden_path("metareg.json", v).read_text())
        out += [(v, r) for r in g["metareg"]]
    return out


RECS = _records()


def test_every_call_has_a_golden_per_version_and_the_inputs_are_current():
    from conftest import golden_versions

    assert PRODUCERS["r_scripts/goldens_metareg.R"].endswith("metareg.json")
    versions = golden_versions("metareg.json")
    assert {"3.8.1", "4.8.0", "5.1.12"} <= set(versions)
    for v in versions:
        assert sorted(r["name"] for w, r in RECS if w == v) == sorted(CALLS)
    kinds = {kind for kind, _, _ in CALLS.values()}
    assert kinds == set(R_FUNCTIONS)
    for name, (kind, args, _) in CALLS.items():
        rec = INPUTS[name]
        assert rec["kind"] == kind and rec["fn"] == R_FUNCTIONS[kind]
        assert json.loads(json.dumps(args)) == rec["args"], name


@pytest.mark.parametrize(("version", "rec"), RECS, ids=[f"{v}-{r['name']}" for v, r in RECS])
def test_metareg_matches_the_golden(version, rec):
    assert rec["ok"], rec.get("error")
    _, _, compare = CALLS[rec["name"]]
    with metafor_version(version):
        cmp = compare(rec)
    assert cmp
    bad = [c for c in cmp if not c.ok]
    assert not bad, "\n".join(f"{c.quantity}: {c.ours!r} vs {c.ref!r}" for c in bad[:5])
