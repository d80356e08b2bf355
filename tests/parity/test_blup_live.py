"""blup() and ranef() of rma fits against live metafor (blup.rma.uni, ranef.rma.uni): every
study's pred, se and prediction bounds, over estimators (closed form and iterative), tests
(z, t, knha), moderators, levels, transforms and a fixed tau2, on three data sets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from metaparity.parity.blup import compare_blup, metafor_blup
from metaparity.parity.mv import failures

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from blup_cases import CASES, _bcg, fit  # noqa: E402


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_blup_and_ranef_agree_with_metafor(metafor, name):
    res, opts = fit(name)
    ref = metafor_blup(res, metafor, **opts)
    assert ref["ok"], ref.get("error")
    assert abs(ref["tau2"] - res.tau2) <= 1e-10 * max(res.tau2, 1e-2), (ref["tau2"], res.tau2)
    cmp = compare_blup(res, ref, **opts)
    assert len(cmp) == 8 * res.k
    assert not failures(cmp), failures(cmp)[:5]


@pytest.mark.r
def test_at_a_fixed_tau2_the_formulas_agree_to_rounding(metafor):
    res = _bcg(tau2=0.25, mods="~ ablat", test="knha")
    ref = metafor_blup(res, metafor, fixed_tau2=True)
    worst = max(c.rel_diff for c in compare_blup(res, ref) if c.rel_diff == c.rel_diff)
    assert worst <= 1e-12, worst
