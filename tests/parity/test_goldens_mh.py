"""metaparity vs the rma.mh goldens (fixtures/goldens/metafor-*/mh.json, one per metafor
version, written by r_scripts/goldens_mh.R) -- replayed WITHOUT R, each under the behaviour
of the metafor version that recorded it.

Every record holds the inputs metafor was given (the tables or person-time data, the
measure and the options add/to/drop00/correct/level) and metafor's answers from
``mp_rma_mh`` (src/metaparity/parity/r/fam_mh.R), the function the live tests call; they are
compared as the live tests compare them (tests/mh_compare.py: 1e-10 relative, the
leave1out/cumul tables, predict(transf=exp), the printout and the NA warning).
"""

from __future__ import annotations

import json
import warnings

import pytest

from conftest import golden_path, golden_versions
from metaparity import metafor_version, rma_mh
from metaparity.parity.goldens import PRODUCERS
from mh_compare import compare

_VERSIONS = golden_versions("mh.json")
_GS = {v: json.loads(golden_path("mh.json", v).read_text()) for v in _VERSIONS}
_RECS = [(v, i) for v in _VERSIONS for i in range(len(_GS[v]["mh"]))]


def _id(v: str, i: int) -> str:
    r = _GS[v]["mh"][i]
    opts = ",".join(f"{k}={x}" for k, x in (r["options"] or {}).items()) or "default"
    return f"{v}|{r['measure']}|{r['dataset']}|{opts}"


def test_producer_is_registered_and_every_version_recorded():
    assert PRODUCERS["r_scripts/goldens_mh.R"] == "fixtures/goldens/metafor-{metafor}/mh.json"
    assert {"3.8.1", "4.8.0"} <= set(_VERSIONS) and any(v.startswith("5.") for v in _VERSIONS)
    for v in _VERSIONS:
        prov = _GS[v]["provenance"]
        assert prov["metafor"] == v and prov["counts"]["errors"] == 0
        for key in ("R", "metafor_source", "metadat", "r_call", "date", "generated_by"):
            assert prov.get(key), (v, key)
        assert {r["measure"] for r in _GS[v]["mh"]} == {"OR", "RR", "RD", "IRR", "IRD"}


@pytest.mark.parametrize(("version", "i"), _RECS, ids=[_id(v, i) for v, i in _RECS])
def test_replay(version, i):
    rec = _GS[version]["mh"][i]
    args = {k: [float("nan") if x is None else float(x) for x in v] for k, v in rec["args"].items()}
    with metafor_version(version), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = rma_mh(**args, measure=rec["measure"], **(rec["options"] or {}))
        compare(res, rec)
    ours = [str(x.message) for x in w]
    theirs = rec["warnings"]  # one warning is recorded as a JSON string, several as a list
    theirs = [theirs] if isinstance(theirs, str) else list(theirs or [])
    assert ("Some yi/vi values are NA." in ours) == ("Some yi/vi values are NA." in theirs)
    omitted = [m for m in theirs if "omitted from model fitting" in m]
    assert omitted == [m for m in ours if "omitted from model fitting" in m]  # text by version
