"""anova() Wald tests of rma fits: live against metafor's anova.rma (btt by index and name,
linear combinations X=), the model's own QM, and bad input."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metaparity.parity.anova_uni import compare_anova_uni, metafor_anova_uni  # noqa: E402
from metareg_cases import ANOVA as CASES  # noqa: E402


def _fit(name):
    fit, kw = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(), kw


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_anova_agrees_with_metafor(metafor, name):
    res, kw = _fit(name)
    ref = metafor_anova_uni(res, metafor, **kw)
    assert ref["ok"], ref.get("error")
    bad = [c for c in compare_anova_uni(res, mp.anova(res, **kw), ref) if not c.ok]
    assert not bad, "\n".join(f"{c.quantity}: {c.ours!r} vs {c.ref!r}" for c in bad[:5])


def test_default_btt_is_the_models_qm():
    res, _ = _fit("bcg ~ablat*alloc btt names knha")
    a = mp.anova(res)
    assert a.QM == pytest.approx(res.QM, rel=1e-13) and a.QMdf == res.QMdf
    assert a.QMp == pytest.approx(res.QMp, rel=1e-12)


def test_a_single_contrast_is_the_coefficient_test():
    res, _ = _fit("bcg ~ablat*alloc X contrasts")
    a = mp.anova(res, X=[[0, 1, 0, 0, 0, 0]])
    np.testing.assert_allclose([a.Xb[0], a.se[0], a.pval[0]], [res.b[1], res.se[1], res.pval[1]],
                               rtol=1e-12)  # fmt: skip
    assert a.hyp == ("ablat = 0",)


@pytest.mark.parametrize(("kw", "match"), [
    ({"btt": 9}, "out of range"), ({"btt": "year"}, "is not a coefficient"),
    ({"X": [[1, 0]]}, "X has 2 columns but the model has 6"),
    ({"btt": 1, "X": [[0, 1, 0, 0, 0, 0]]}, "either btt= or X="),
])  # fmt: skip
def test_bad_input(kw, match):
    res, _ = _fit("bcg ~ablat*alloc default btt")
    with pytest.raises(ValueError, match=match):
        mp.anova(res, **kw)
