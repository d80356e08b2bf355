"""metaparity vs the rma.glmm UM.FS / UM.RS goldens (fixtures/goldens/metafor-*/glmm_um.json,
one per metafor version, written by r_scripts/goldens_glmm_um.R) -- replayed WITHOUT R.

Each record is refitted with :func:`metaparity.models.glmm_twogroup.rma_glmm_um` under the
golden's metafor version and compared with :func:`metaparity.parity.compare.compare_glmm_um`
(tolerances: GLMM_UM_TOLERANCES / GLMM_UM_RS_TOLERANCES) through
:func:`metaparity.parity.compare.compare_glmm_um_fit`: our likelihood at lme4's recorded
optimum against lme4's deviance function there, our optimum not below lme4's, and for UM.RS
with lme4's RX fallback the saturated Wald statistic at lme4's recorded saturated optimum.
"""

from __future__ import annotations

import functools
import json
import warnings

import numpy as np
import pytest

from conftest import golden_path, golden_versions
from metaparity import metafor_version
from metaparity.models.glmm_twogroup import rma_glmm_um
from metaparity.parity.compare import compare_glmm_um_fit
from metaparity.parity.goldens import PRODUCERS

NAME = "glmm_um.json"
_VERSIONS = golden_versions(NAME)
_GS = {v: json.loads(golden_path(NAME, v).read_text()) for v in _VERSIONS}
_RECS = [(v, i) for v in _VERSIONS for i in range(len(_GS[v]["glmm_um"]))]
_IDS = [f"{v}|{r['model']}|{r['dataset']}" for v, i in _RECS for r in [_GS[v]["glmm_um"][i]]]


def _inputs(rec):
    mods = rec.get("mods")
    mv = None if not mods else np.column_stack([np.asarray(v, float) for v in mods.values()])
    cnt = {k: np.asarray(v, float) for k, v in rec["counts"].items()}
    return cnt, mv


@functools.cache
def _fit(key: str):
    """Our fit of one golden input.  The GLMM modules do not branch on the mirrored metafor
    version (no ``since()`` there), so the three versions' records of the same input share
    one fit (a UM.RS fit of dat.li2007 takes ~40 s)."""
    rec = json.loads(key)
    cnt, mv = _inputs(rec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rma_glmm_um(**cnt, measure=rec["measure"], model=rec["model"], mods=mv)


def _replayed(version: str, i: int):
    rec = _GS[version]["glmm_um"][i]
    key = json.dumps({k: rec.get(k) for k in ("counts", "measure", "model", "mods")},
                     sort_keys=True)  # fmt: skip
    with metafor_version(version):
        return rec, _fit(key)


def test_producer_is_registered():
    assert (
        PRODUCERS["r_scripts/goldens_glmm_um.R"]
        == "fixtures/goldens/metafor-{metafor}/glmm_um.json"
    )
    assert "3.8.1" in _VERSIONS


@pytest.mark.parametrize("version", _VERSIONS)
def test_provenance(version):
    prov = _GS[version]["provenance"]
    for key in ("R", "metafor", "lme4", "r_call", "control", "date", "generated_by"):
        assert prov.get(key), key
    assert prov["metafor"] == version
    assert all(r["ok"] for r in _GS[version]["glmm_um"])


@pytest.mark.parametrize("version,i", _RECS, ids=_IDS)
def test_replay(version, i):
    rec, res = _replayed(version, i)
    cnt, mv = _inputs(rec)
    # every field, our likelihood at lme4's optimum, our optimum not below lme4's, and (UM.RS
    # with lme4's RX fallback) QE.Wld at lme4's saturated optimum
    comps = compare_glmm_um_fit(res, rec, measure=rec["measure"], model=rec["model"], mods=mv,
                                **cnt)  # fmt: skip
    bad = [f"{c.quantity}: ours={c.ours!r} metafor={c.ref!r} rel={c.rel_diff:.2e}" for c in comps
           if not c.ok]  # fmt: skip
    assert not bad, "\n".join(bad)
    assert "optimum_not_below_metafor" in {c.quantity for c in comps}
