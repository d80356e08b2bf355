"""metaparity vs the rma.glmm conditional-model goldens, replayed WITHOUT R.

fixtures/goldens/metafor-*/glmm_cm_al.json (r_scripts/goldens_glmm_cm_al.R: OR/CM.AL and
IRR/CM.EL, glmer) and glmm_cm.json (r_scripts/goldens_glmm_cm.R: OR/CM.EL, BiasedUrn +
integrate), one per metafor version, each replayed under that version's behaviour.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from glmm_cm_fields import AL_FIELDS, EL_FIELDS
from metaparity import metafor_version
from metaparity.models.glmm_conditional import cm_loglik, rma_glmm_cm
from metaparity.parity.goldens import PRODUCERS
from metaparity.parity.tolerances import GLMM_CM_AL_TOLERANCES, GLMM_CM_TOLERANCES


def _load(name):
    from conftest import golden_path, golden_versions

    return [(v, json.loads(golden_path(name, v).read_text())) for v in golden_versions(name)]


def _records(name, key):
    return [(v, i, r) for v, g in _load(name) for i, r in enumerate(g[key])]


def _id(rec):
    v, _, r = rec
    mods = "" if r["mods"] is None else "~" + ",".join(r["mods"])
    return f"{v}|{r.get('measure', 'OR')}|{r.get('model', 'CM.EL')}|{r['data']}{mods}"


def _fit(r):
    mods = None if r["mods"] is None else np.column_stack([r["mods"][m] for m in r["mods"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if r.get("measure", "OR") == "IRR":
            return rma_glmm_cm(x1i=r["x1i"], t1i=r["t1i"], x2i=r["x2i"], t2i=r["t2i"],
                               measure="IRR", mods=mods)  # fmt: skip
        return rma_glmm_cm(r["ai"], r["bi"], r["ci"], r["di"], model=r.get("model", "CM.EL"),
                           mods=mods)  # fmt: skip


def _bad(ours, ref, names, table):
    out = []
    for q in names:
        tol = table[q]
        o = np.atleast_1d(np.asarray(getattr(ours, q), float))
        r = np.atleast_1d(np.asarray(ref[q], float))
        if not np.all(np.abs(o - r) <= tol.atol + tol.rtol * np.abs(r)):
            out.append((q, o.tolist(), r.tolist()))
    return out


AL = _records("glmm_cm_al.json", "glmm_cm_al")


@pytest.mark.parametrize("rec", AL, ids=[_id(r) for r in AL])
def test_cm_al_and_irr_goldens(rec):
    v, _, r = rec
    assert r["ok"], r.get("error")
    with metafor_version(v):
        ours = _fit(r)
    assert not _bad(ours, r["fit"], AL_FIELDS, GLMM_CM_AL_TOLERANCES)


try:
    EL = _records("glmm_cm.json", "glmm_cm")
except (KeyError, IndexError, FileNotFoundError):  # pragma: no cover - not recorded yet
    EL = []


@pytest.mark.parametrize("rec", EL, ids=[_id(r) for r in EL])
def test_cm_el_goldens(rec):
    v, _, r = rec
    assert r["ok"], r.get("error")
    with metafor_version(v):
        ours = _fit(r)
    fit = r["fit"]
    assert not _bad(ours, fit, EL_FIELDS, GLMM_CM_TOLERANCES)
    assert not _bad(ours, {"QE_Wld": r["wald_direct"]}, ["QE_Wld"], GLMM_CM_TOLERANCES)
    t = GLMM_CM_TOLERANCES["QE_Wld_numderiv"]
    assert abs(ours.QE_Wld - fit["QE_Wld"]) <= t.atol + t.rtol * abs(fit["QE_Wld"])
    a, b, c, d = (np.asarray([np.nan if v is None else v for v in r[q]], float)
                  for q in ("ai", "bi", "ci", "di"))  # fmt: skip
    keep = ~(np.isnan(a) | np.isnan(b) | np.isnan(c) | np.isnan(d))
    keep &= ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))  # metafor's drop00
    cells = [v[keep] for v in (a, b, c, d)]
    X = np.ones((keep.size, 1))
    if r["mods"] is not None:
        X = np.column_stack([X, *[r["mods"][m] for m in r["mods"]]])
    ll = cm_loglik(*cells, fit["b"], fit["tau2"], mods=X[keep])
    tol = GLMM_CM_TOLERANCES["loglik_at_metafor"]
    assert abs(ll - r["metafor_ll"]["at_fit"]) <= tol.atol + tol.rtol * abs(ll)
    assert ours.logLik >= ll - 1e-12


def test_producers_are_registered():
    assert PRODUCERS["r_scripts/goldens_glmm_cm.R"].endswith("glmm_cm.json")
    assert PRODUCERS["r_scripts/goldens_glmm_cm_al.R"].endswith("glmm_cm_al.json")
