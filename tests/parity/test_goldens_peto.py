"""metaparity vs the Peto goldens (fixtures/goldens/metafor-*/peto.json, one per metafor
version, written by r_scripts/goldens_peto.R) -- replayed WITHOUT R, each under the
behaviour of the metafor version that recorded it.

Every ``rma_peto`` record holds the tables and options metafor was given and the output of
``mp_rma_peto`` (src/metaparity/parity/r/fam_peto.R): the fields, ``predict`` (also with
``transf=exp``), ``leave1out`` (also with ``transf=exp``), ``cumul``, the printout and the
warnings.  They are compared exactly as the live tests compare (tests/peto_cases.py:
``compare``, rtol 1e-10).  Every ``escalc`` record: yi and vi of ``escalc("PETO")``.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from conftest import golden_path, golden_versions
from metaparity import escalc, metafor_version
from metaparity.parity.goldens import PRODUCERS
from peto_cases import OPTIONS, SETS, close, compare

NAME = "peto.json"
_VERSIONS = golden_versions(NAME)
_GS = {v: json.loads(golden_path(NAME, v).read_text()) for v in _VERSIONS}


def _num(x) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in np.atleast_1d(x)], dtype=float)


def _data(rec: dict) -> dict:
    out = {k: _num(rec[k]) for k in ("ai", "bi", "ci", "di")}
    out["slab"] = list(np.atleast_1d(rec["slab"]))
    return out


def _opts(rec: dict) -> dict:
    o = rec.get("options") or {}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in o.items()}


_PETO = [(v, i) for v in _VERSIONS for i in range(len(_GS[v]["rma_peto"]))]
_ESC = [(v, i) for v in _VERSIONS for i in range(len(_GS[v]["escalc"]))]


def _id(v: str, kind: str, i: int) -> str:
    r = _GS[v][kind][i]
    return f"{v}|{r['dataset']}|{r.get('options_name', json.dumps(r.get('options') or {}))}"


def test_producer_is_registered_and_versions_recorded():
    assert PRODUCERS["r_scripts/goldens_peto.R"] == "fixtures/goldens/metafor-{metafor}/peto.json"
    assert {"3.8.1", "4.8.0"} <= set(_VERSIONS) and any(v.startswith("5.") for v in _VERSIONS)


@pytest.mark.parametrize("version", _VERSIONS)
def test_provenance_and_coverage(version):
    g = _GS[version]
    prov = g["provenance"]
    for key in ("R", "metafor", "metadat", "r_call", "control", "date", "generated_by"):
        assert prov.get(key), key
    assert prov["metafor"] == version
    assert prov["counts"] == {"rma_peto": len(g["rma_peto"]), "escalc": len(g["escalc"])}
    assert {r["dataset"] for r in g["rma_peto"]} == set(SETS)
    assert {r["options_name"] for r in g["rma_peto"]} == set(OPTIONS)
    assert all(r["result"]["ok"] for r in g["rma_peto"])


@pytest.mark.parametrize("version,i", _PETO, ids=[_id(v, "rma_peto", i) for v, i in _PETO])
def test_rma_peto_matches_golden(version, i):
    rec = _GS[version]["rma_peto"][i]
    with metafor_version(version):
        diffs = compare(rec["result"], _data(rec), _opts(rec))
    assert len(diffs) > 40


@pytest.mark.parametrize("version,i", _ESC, ids=[_id(v, "escalc", i) for v, i in _ESC])
def test_escalc_peto_matches_golden(version, i):
    rec = _GS[version]["escalc"][i]
    data = {k: _num(rec[k]) for k in ("ai", "bi", "ci", "di")}
    with metafor_version(version), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dat = escalc("PETO", **data, **_opts(rec))
    close(dat["yi"], rec["yi"], "yi")
    close(dat["vi"], rec["vi"], "vi")
