"""predict, confint, ranef, profile, anova and robust around rma_mv against their goldens,
replayed WITHOUT R.

fixtures/goldens/metafor-*/mv_tools.json (r_scripts/goldens_mv_tools.R, one per metafor
version) hold metafor's answers to the bridge calls of each comparison of
tests/mv_tools_cases.py (fixtures/mv_tools_cases.json, scripts/mv_tools_golden_inputs.py).
Each comparison runs again with a bridge that answers from the recording -- after checking
that it makes exactly the recorded calls -- under the behaviour of the recorded version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from metaparity import metafor_version
from metaparity.parity.goldens import PRODUCERS
from metaparity.parity.mv import failures

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from bridge_calls import ReplayBridge, StaleGolden, same_call  # noqa: E402
from mv_tools_cases import TOOLS  # noqa: E402

INPUTS = {c["name"]: c["calls"] for c in
          json.loads((ROOT / "fixtures" / "mv_tools_cases.json").read_text())["cases"]}  # fmt: skip


def _records():
    from conftest import golden_path, golden_versions

    out = []
    for v in golden_versions("mv_tools.json"):
        g = json.loads(golden_path("mv_tools.json", v).read_text())
        out += [(v, g["provenance"], r) for r in g["cases"]]
    return out


RECS = _records()


def test_every_comparison_has_a_golden_per_version():
    from conftest import golden_versions

    assert PRODUCERS["r_scripts/goldens_mv_tools.R"].endswith("mv_tools.json")
    assert sorted(INPUTS) == sorted(TOOLS)
    versions = golden_versions("mv_tools.json")
    assert {"3.8.1", "4.8.0", "5.1.12"} <= set(versions)
    for v in versions:
        assert sorted(r["name"] for w, _, r in RECS if w == v) == sorted(TOOLS)


def test_a_call_other_than_the_recorded_one_is_refused():
    name = next(n for n in TOOLS if n.startswith("ranef"))
    calls = json.loads(json.dumps(INPUTS[name]))
    calls[0]["args"]["level"] = 80.0
    bridge = ReplayBridge(calls, [{"ok": True}], {"metafor": "x"}, name)
    with pytest.raises(StaleGolden, match="level"):
        TOOLS[name](bridge)
    assert same_call({"a": [1.0, 2.0]}, {"a": [1.0, 2.0 * (1 + 1e-12)]}) is None
    assert "a[1]" in same_call({"a": [1.0, 2.0]}, {"a": [1.0, 2.1]})


@pytest.mark.parametrize(("version", "prov", "rec"), RECS,
                         ids=[f"{v}-{r['name']}" for v, _, r in RECS])  # fmt: skip
def test_tool_matches_the_golden(version, prov, rec):
    bridge = ReplayBridge(INPUTS[rec["name"]], rec["results"], prov, rec["name"])
    with metafor_version(version):
        comps = TOOLS[rec["name"]](bridge)
    assert bridge.exhausted, "recorded calls were not made"
    assert comps and not failures(comps), failures(comps)[:5]
