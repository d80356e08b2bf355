"""metaparity vs metafor goldens (fixtures/goldens/rma_grid.json, from r_scripts/goldens.R).

Every fit metafor completed is recomputed and compared quantity by quantity
(rma fields, predict, back-transformed predict, Q-profile confint) with the one
tolerance table in metaparity.parity.tolerances.  Regenerate with
``Rscript r_scripts/goldens.R``.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from conftest import load_golden
from metaparity import escalc
from metaparity.parity.compare import compare_fit, fit_like

_G = load_golden()
_GROUPS = sorted({(f["dataset"], f["measure"]) for f in _G["rma"]})


def test_provenance_is_complete(golden):
    prov = golden["provenance"]
    for key in ("R", "metafor", "r_call", "control", "date", "generated_by"):
        assert prov.get(key), f"golden provenance lacks {key!r}"


@pytest.mark.parametrize("dataset,measure", _GROUPS, ids=[f"{d}|{m}" for d, m in _GROUPS])
def test_rma_grid_matches_golden(dataset, measure):
    fits = [f for f in _G["rma"] if f["dataset"] == dataset and f["measure"] == measure]
    assert len(fits) == 60  # 15 estimators x 4 tests
    failures = []
    compared = 0
    for f in fits:
        if not f["ok"]:
            continue  # metafor itself failed; see test_metafor_failures_are_known
        for c in compare_fit(f):
            compared += 1
            if not c.ok:
                failures.append(
                    f"{f['method']}/{f['test']} {c.quantity}: ours={c.ours!r} metafor={c.ref!r} "
                    f"rel={c.rel_diff:.2e} (rtol {c.tol.rtol:g}, atol {c.tol.atol:g})"
                )
    assert compared > 0
    assert not failures, "\n".join(failures[:20])


def test_metafor_failures_are_known(golden):
    """metafor 3.8 stops with an error only for DLIT (its DL iteration oscillates) and for
    REML when Fisher scoring does not converge; metaparity still returns a solution."""
    bad = [f for f in golden["rma"] if not f["ok"]]
    kinds = {(f["method"], f["error"].split(".")[0]) for f in bad}
    allowed = {
        ("DLIT", "Iterative DL estimator did not converge"),
        ("REML", "Fisher scoring algorithm did not converge"),
    }
    assert kinds <= allowed, kinds - allowed
    for f in bad:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit_like(f)
        assert np.isfinite(res.tau2) and res.tau2 >= 0
        assert np.isfinite(res.b) and np.isfinite(res.se)


_ESC = [(i, e["dataset"], e["measure"]) for i, e in enumerate(_G["escalc"])]


@pytest.mark.parametrize("i,dataset,measure", _ESC, ids=[f"{d}|{m}" for _, d, m in _ESC])
def test_escalc_matches_golden(i, dataset, measure):
    e = _G["escalc"][i]
    inputs = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in e["inputs"].items()}
    dat = escalc(measure, **inputs, add=e["add"], to=e["to"], drop00=e["drop00"])
    ref_y = np.atleast_1d(np.asarray(e["yi"], dtype=float))
    ref_v = np.atleast_1d(np.asarray(e["vi"], dtype=float))
    np.testing.assert_array_equal(np.isnan(dat["yi"].to_numpy()), np.isnan(ref_y))
    ok = ~np.isnan(ref_y)
    np.testing.assert_allclose(dat["yi"].to_numpy()[ok], ref_y[ok], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dat["vi"].to_numpy()[ok], ref_v[ok], rtol=1e-10, atol=1e-13)


def test_grid_covers_every_measure_method_test(golden):
    from metaparity import MEASURES
    from metaparity._core.names import METHODS, TESTS

    seen = {(f["measure"], f["method"], f["test"]) for f in golden["rma"] if f["ok"]}
    missing = [c for c in itertools.product(MEASURES, METHODS, TESTS) if c not in seen]
    assert not missing, missing[:10]
