"""vif(): (generalised) variance inflation factors live against metafor's vif() on four data
sets (default sets, named sets, reestimate=True), identities, and bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp
from metaparity.analysis.vif import vif

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metareg_cases import VIF as CASES  # noqa: E402
from metareg_cases import case  # noqa: E402
from predict_cases import _bcg  # noqa: E402


def _case(name):
    return case(CASES, name)


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_vif_agrees_with_metafor(metafor, name):
    from metaparity.parity.vif_uni import compare_vif_uni, metafor_vif_uni

    res, kw = _case(name)
    ours = vif(res, **kw)
    ref = metafor_vif_uni(res, ours, "btt" in kw, bridge=metafor)
    assert ref["ok"], ref.get("error")
    bad = [c for c in compare_vif_uni(res, ours, ref) if not c.ok]
    assert not bad, "\n".join(f"{c.quantity}: {c.ours!r} vs {c.ref!r}" for c in bad[:5])


def test_one_coefficient_is_the_usual_vif():
    res, _ = _case("bcg ~ablat+year(centred)+alloc REML")
    v = vif(res)
    vb = np.asarray(res.vb)[1:, 1:]
    d = np.sqrt(np.diag(vb))
    R = vb / np.outer(d, d)
    np.testing.assert_allclose(v.vif, np.diag(np.linalg.inv(R)), rtol=1e-12)
    np.testing.assert_allclose(v.sif, np.sqrt(v.vif), rtol=1e-14)
    assert list(v.to_frame()["coefs"]) == ["2", "3", "4", "5"]


def test_bad_input():
    with pytest.raises(ValueError, match="intercept-only"):
        vif(mp.rma([0.1, 0.2, 0.3], [0.01, 0.02, 0.01]))
    res = _bcg("~ ablat + year")
    with pytest.raises(ValueError, match="intercept alone"):
        vif(res, btt=[0])
    with pytest.raises(ValueError, match="out of range"):
        vif(res, btt=[7])
