"""metaparity.models._glm_saturated: R's glm.fit iteration on a saturated design, the
source of metafor's QE.Wld (and of ll.QE) for rma.glmm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaparity.models._glm_saturated import saturated_glm, wald_residual

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "metadat"


def test_without_zero_cells_it_is_near_the_exact_saturated_fit():
    """glm stops once the deviance changes by < 1e-8: near, not at, the exact fit (the
    exact agreement is with R's glm itself: test_cell_by_cell_as_rs_glm)."""
    x, n = np.array([3.0, 7.0, 12.0]), np.array([10.0, 20.0, 15.0])
    th, v, dev = saturated_glm(x, n)
    assert np.allclose(th, np.log(x / (n - x)), rtol=0, atol=1e-6)
    assert np.allclose(v, 1 / (x * (n - x) / n), rtol=1e-5)  # the last step's weights
    assert dev < 1e-8
    t = np.array([100.0, 250.0, 80.0])
    th, v, dev = saturated_glm(x, offset=np.log(t))
    assert np.allclose(th, np.log(x / t), atol=1e-6) and dev < 1e-8


def test_a_zero_cell_stops_where_glm_stops():
    """Two studies (one with a zero cell): the exact limit of the Wald test is 0; metafor's
    rma.glmm(measure="OR", model="UM.FS") reports 1.880407824e-07 (metafor 3.8.1, 4.8.0)."""
    a, n1, c, n2 = (np.array(v, float) for v in ([0, 4], [20, 30], [3, 9], [21, 31]))
    th, v, dev = saturated_glm(np.r_[a, c], np.r_[n1, n2])
    q = wald_residual(th[:2] - th[2:], v[:2] + v[2:], np.ones((2, 1)))
    assert q == pytest.approx(1.880407824e-07, rel=1e-9)
    assert 0 < dev < 1e-8 and th[0] < -20


def test_wald_residual_is_zero_without_residual_degrees_of_freedom():
    assert wald_residual(np.array([0.3]), np.array([0.1]), np.ones((1, 1))) == 0.0


_CASES = {
    "li2007-treated": ("li2007", "ai", "n1i", None),
    "nielweise2007-control": ("nielweise2007", "ci", "n2i", None),
    "all-or-none": (None, [0, 5, 10, 1, 0], [10, 5, 12, 40, 3], None),
    "hart1999-poisson": ("hart1999", "x1i", None, "t1i"),
    "nielweise2008-poisson": ("nielweise2008", "x2i", None, "t2i"),
    "poisson-zeros": (None, [0, 3, 0, 12], None, [100, 50, 2000, 300]),
}


@pytest.mark.r
@pytest.mark.parametrize("case", list(_CASES))
def test_cell_by_cell_as_rs_glm(metafor, case):
    name, xc, nc, tc = _CASES[case]
    if name is None:
        x = np.array(xc, float)
        n = None if nc is None else np.array(nc, float)
        t = None if tc is None else np.array(tc, float)
    else:
        d = pd.read_csv(ROOT / f"dat.{name}.csv")
        x = d[xc].to_numpy(float)
        n = None if nc is None else d[nc].to_numpy(float)
        t = None if tc is None else d[tc].to_numpy(float)
    off = None if t is None else np.log(t)
    th, v, dev = saturated_glm(x, n, off)
    ref = metafor.call("mp_glm_saturated", x=list(x), n=None if n is None else list(n),
                       offset=None if off is None else list(off))  # fmt: skip
    assert ref["ok"], ref.get("error")
    rt, rv = np.atleast_1d(ref["theta"]), np.atleast_1d(ref["var"])
    # the same iterate: estimates and variances to rounding (R solves a QR, we do not)
    assert np.allclose(th, rt, rtol=1e-12, atol=1e-12), np.abs(th - rt).max()
    assert np.allclose(v, rv, rtol=1e-10, atol=0), np.abs(v / rv - 1).max()
    assert dev == pytest.approx(ref["deviance"], rel=1e-8, abs=1e-14)
