"""rma_mv against the rma.mv goldens, replayed WITHOUT R.

fixtures/goldens/metafor-*/mv.json (r_scripts/goldens_mv.R, one per metafor version) hold
metafor's fits of the cases in fixtures/mv_cases.json (scripts/mv_golden_inputs.py, from
tests/mv_cases.py) and metafor's log-likelihood at metaparity's estimates recorded there.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp
from metaparity import metafor_version
from metaparity.parity.goldens import PRODUCERS
from metaparity.parity.mv import compare_mv, failures, rma_mv_call_args

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from mv_cases import CASES, case_args  # noqa: E402

INPUTS = json.loads((ROOT / "fixtures" / "mv_cases.json").read_text())["cases"]


def _records():
    from conftest import golden_path, golden_versions

    out = []
    for v in golden_versions("mv.json"):
        g = json.loads(golden_path("mv.json", v).read_text())
        out += [(v, r) for r in g["mv"]]
    return out


RECS = _records()


def _fit(name):
    a = case_args(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mp.rma_mv(a.pop("yi", "yi"), a.pop("V"), **a)


def test_every_case_has_a_golden_per_version():
    from conftest import golden_versions

    assert PRODUCERS["r_scripts/goldens_mv.R"].endswith("mv.json")
    versions = golden_versions("mv.json")
    assert "3.8.1" in versions
    for v in versions:
        assert sorted(r["name"] for w, r in RECS if w == v) == sorted(CASES)


def _close(a, b, path=""):
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and a and isinstance(a[0], (int, float)) or isinstance(a, float):
        x = np.asarray(a, dtype=float)
        y = np.asarray([np.nan if v is None else v for v in np.atleast_1d(b)], dtype=float)
        np.testing.assert_allclose(x, y.reshape(x.shape), rtol=1e-12, atol=1e-15, err_msg=path)
    else:
        assert a == b, path


@pytest.mark.parametrize("case", INPUTS, ids=[c["name"] for c in INPUTS])
def test_golden_inputs_are_the_current_cases(case):
    """fixtures/mv_cases.json was written from tests/mv_cases.py as it is (re-run
    scripts/mv_golden_inputs.py and the producer when a case changes)."""
    args = rma_mv_call_args(_fit(case["name"]), at=False)
    rec = {k: v for k, v in case["args"].items() if k != "at"}
    _close(json.loads(json.dumps(args).replace("NaN", "null")), rec)


@pytest.mark.parametrize("rec", RECS, ids=[f"{v}|{r['name']}" for v, r in RECS])
def test_rma_mv_golden(rec):
    v, r = rec
    assert r["ok"], r.get("error")
    with metafor_version(v):
        ours = _fit(r["name"])
    comps = compare_mv(ours, r)
    assert not failures(comps), "\n".join(failures(comps))
    assert any(c.quantity == "metafor_loglik_at_ours" for c in comps)
