"""hc(): the Henmi-Copas interval live against metafor's hc() on five data sets (with transf
and another level), its pieces against their closed forms, and bad input."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp
from metaparity.analysis.hc import hc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metareg_cases import HC as CASES  # noqa: E402
from metareg_cases import case  # noqa: E402
from predict_cases import _bcg  # noqa: E402


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_hc_agrees_with_metafor(metafor, name):
    from metaparity.parity.hc_uni import compare_hc_uni, metafor_hc_uni

    res, kw = case(CASES, name)
    ours = hc(res, **kw)
    ref = metafor_hc_uni(res, kw.get("transf"), bridge=metafor)
    assert ref["ok"], ref.get("error")
    bad = [c for c in compare_hc_uni(res, ours, ref) if not c.ok]
    assert not bad, "\n".join(f"{c.quantity}: {c.ours!r} vs {c.ref!r}" for c in bad[:5])


def test_pieces_are_the_fixed_effect_estimate_and_dl():
    res, _ = case(CASES, "bcg int REML")
    h = hc(res)
    ee = mp.rma(res.yi, res.vi, method="EE")
    dl = mp.rma(res.yi, res.vi, method="DL")
    assert h.beta == pytest.approx(ee.b, rel=1e-14)
    assert h.tau2 == pytest.approx(dl.tau2, rel=1e-12)
    w = 1 / np.asarray(res.vi)
    se = np.sqrt((h.tau2 * (w**2).sum() / w.sum() + 1) / w.sum())
    assert h.se == pytest.approx(se, rel=1e-14)
    assert h.beta_rma == res.b and h.method == "DL" and h.method_rma == "REML"
    # the interval is wider than the normal one around the same estimate
    assert h.ci_ub - h.ci_lb > 2 * 1.959963984540054 * h.se
    assert list(h.to_frame().index) == ["rma", "hc"]


def test_homogeneous_data_keep_the_fixed_effect_se():
    # tau2 = 0: se(b) is the fixed-effect one and the interval is symmetric about b
    y = np.array([0.20, 0.21, 0.19, 0.205, 0.195])
    h = hc(mp.rma(y, np.full(5, 0.01)))
    assert h.tau2 == 0.0 and h.se == pytest.approx(np.sqrt(0.01 / 5), rel=1e-14)
    assert h.ci_ub - h.beta == pytest.approx(h.beta - h.ci_lb, rel=1e-12)


def test_bad_input():
    with pytest.raises(TypeError, match="only applicable to models without moderators"):
        hc(_bcg("~ ablat"))
    with pytest.raises(ValueError, match="k = 1"):
        hc(mp.rma([0.1], [0.01], method="EE"))
    fit = mp.rma([0.1, 0.9, 0.4, -0.3], [0.01, 0.02, 0.02, 0.01], method="DL")
    zero = dataclasses.replace(fit, vi=np.array([0.01, 0.0, 0.02, 0.01]))
    with pytest.raises(ValueError, match=r"study 2 has sampling variance 0"):
        hc(zero)
    with pytest.raises(TypeError, match="metaparity.rma"):
        hc("not a model")  # type: ignore[arg-type]
