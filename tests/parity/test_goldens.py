"""metaparity vs metafor goldens (fixtures/goldens/metafor-*/rma_grid.json, from
r_scripts/goldens.R), one grid per metafor version.

Every fit metafor completed is recomputed -- under the behaviour of the metafor version
that recorded it (``metafor_version(provenance["metafor"])``) -- and compared quantity by
quantity (rma fields, predict, back-transformed predict, Q-profile confint) with the one
tolerance table in metaparity.parity.tolerances.  Regenerate with
``metaparity goldens regenerate`` (writes the folder of the installed metafor).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from conftest import golden_versions, load_golden
from metaparity import escalc, metafor_version
from metaparity._core.names import METHOD_ALIASES
from metaparity.parity.compare import compare_fit, fit_like

_VERSIONS = golden_versions()
_GS = {v: load_golden(v) for v in _VERSIONS}
_GROUPS = [
    (v, d, m)
    for v in _VERSIONS
    for d, m in sorted({(f["dataset"], f["measure"]) for f in _GS[v]["rma"]})
]


def test_goldens_cover_the_supported_metafor_versions():
    """One grid per metafor release CI runs (3.8.1: Debian 12, 4.8.0: Debian 13) and the
    newest 5.x (built from metafor's public repository; its commit is in the provenance)."""
    assert {"3.8.1", "4.8.0"} <= set(_VERSIONS)
    assert any(v.startswith("5.") for v in _VERSIONS), _VERSIONS
    for v in _VERSIONS:
        assert _GS[v]["provenance"]["metafor"] == v


@pytest.mark.parametrize("version", _VERSIONS)
def test_provenance_is_complete(version):
    prov = _GS[version]["provenance"]
    for key in ("R", "metafor", "r_call", "control", "date", "generated_by"):
        assert prov.get(key), f"golden provenance lacks {key!r}"
    if version.startswith("5."):  # a source build: where it came from
        assert "github.com/wviechtb/metafor@" in prov.get("metafor_source", ""), prov


@pytest.mark.parametrize(
    "version,dataset,measure", _GROUPS, ids=[f"{v}|{d}|{m}" for v, d, m in _GROUPS]
)
def test_rma_grid_matches_golden(version, dataset, measure):
    fits = [f for f in _GS[version]["rma"] if f["dataset"] == dataset and f["measure"] == measure]
    assert len(fits) == 60  # 15 estimators x 4 tests
    failures = []
    compared = 0
    for f in fits:
        if not f["ok"]:
            continue  # metafor itself failed; see test_metafor_failures_are_known
        with metafor_version(version):
            cmps = compare_fit(f)
        for c in cmps:
            compared += 1
            if not c.ok:
                failures.append(
                    f"{f['method']}/{f['test']} {c.quantity}: ours={c.ours!r} metafor={c.ref!r} "
                    f"rel={c.rel_diff:.2e} (rtol {c.tol.rtol:g}, atol {c.tol.atol:g})"
                )
    assert compared > 0
    assert not failures, "\n".join(failures[:20])


@pytest.mark.parametrize("version", _VERSIONS)
def test_metafor_failures_are_known(version):
    """metafor stops with an error only for DLIT (its iteration oscillates, 3.8; or is too
    slow for the tight threshold) and for REML when Fisher scoring does not converge;
    metaparity still returns a solution."""
    bad = [f for f in _GS[version]["rma"] if not f["ok"]]
    kinds = {(f["method"], f["error"].split(".")[0]) for f in bad}
    allowed = {
        ("DLIT", "Iterative DL estimator did not converge"),
        ("REML", "Fisher scoring algorithm did not converge"),
    }
    assert kinds <= allowed, kinds - allowed
    for f in bad:
        with warnings.catch_warnings(), metafor_version(version):
            warnings.simplefilter("ignore")
            res = fit_like(f)
        assert np.isfinite(res.tau2) and res.tau2 >= 0
        assert np.isfinite(res.b) and np.isfinite(res.se)


_ESC = [
    (v, i, e["dataset"], e["measure"]) for v in _VERSIONS for i, e in enumerate(_GS[v]["escalc"])
]


@pytest.mark.parametrize(
    "version,i,dataset,measure", _ESC, ids=[f"{v}|{d}|{m}" for v, _, d, m in _ESC]
)
def test_escalc_matches_golden(version, i, dataset, measure):
    e = _GS[version]["escalc"][i]
    inputs = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in e["inputs"].items()}
    with metafor_version(version):
        dat = escalc(measure, **inputs, add=e["add"], to=e["to"], drop00=e["drop00"])
    ref_y = np.atleast_1d(np.asarray(e["yi"], dtype=float))
    ref_v = np.atleast_1d(np.asarray(e["vi"], dtype=float))
    np.testing.assert_array_equal(np.isnan(dat["yi"].to_numpy()), np.isnan(ref_y))
    ok = ~np.isnan(ref_y)
    np.testing.assert_allclose(dat["yi"].to_numpy()[ok], ref_y[ok], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dat["vi"].to_numpy()[ok], ref_v[ok], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("version", _VERSIONS)
def test_grid_covers_every_measure_method_test(version):
    from metaparity import MEASURES
    from metaparity._core.names import METHODS, TESTS

    # aliases (CE, MP, CO, VC; test "hksj") compute what they name: not gridded again
    methods = [m for m in METHODS if m not in METHOD_ALIASES]
    tests = [t for t in TESTS if t != "hksj"]
    seen = {(f["measure"], f["method"], f["test"]) for f in _GS[version]["rma"] if f["ok"]}
    # PETO came after the grid; escalc("PETO") and rma.peto have their own golden (peto.json)
    measures = [m for m in MEASURES if m != "PETO"]
    missing = [c for c in itertools.product(measures, methods, tests) if c not in seen]
    assert not missing, missing[:10]
