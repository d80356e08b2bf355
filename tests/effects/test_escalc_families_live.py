"""Every measure of every family against live metafor 3.8.1 (through rpy2), zero cells included.

R, for each measure and each of the options below (``add``, ``to``, ``drop00``; none =
metafor's defaults):

    library(metafor)
    escalc("PR", xi=c(0, 5, 20, 1), ni=c(20, 20, 20, 3))              # PLN, PLO, PAS, PFT alike
    escalc("OR", ai=c(0, 3, 0, 5), bi=c(10, 7, 10, 0), ci=c(0, 2, 4, 6),
           di=c(10, 8, 6, 0), drop00=TRUE)                             # RR, RD, PETO alike
    escalc("SMD", m1i=c(10, 11, 3), sd1i=c(2, 3, 1), n1i=c(20, 30, 3),
           m2i=c(9, 12, 2.5), sd2i=c(2.5, 2, 0.5), n2i=c(25, 30, 2))   # MD, ROM alike
    escalc("ZCOR", ri=c(0.5, -0.2, 0.9, 0), ni=c(28, 50, 10, 5))       # COR alike
    escalc("GEN", yi=c(0.2, -0.4), vi=c(0.01, 0.09))

metafor recodes infinite values to NA (with a warning); ours stay +-inf, so only where
both are finite are the values compared.
"""

from __future__ import annotations

import numpy as np
import pytest

from metaparity.effects.escalc import MEASURES, escalc

ONE = dict(xi=[0, 5, 20, 1], ni=[20, 20, 20, 3])
TABLE = dict(ai=[0, 3, 0, 5], bi=[10, 7, 10, 0], ci=[0, 2, 4, 6], di=[10, 8, 6, 0])
MEANS = dict(m1i=[10, 11, 3], sd1i=[2, 3, 1], n1i=[20, 30, 3], m2i=[9, 12, 2.5],
             sd2i=[2.5, 2, 0.5], n2i=[25, 30, 2])  # fmt: skip
CORS = dict(ri=[0.5, -0.2, 0.9, 0.0], ni=[28, 50, 10, 5])
INPUTS = {
    **dict.fromkeys(("PR", "PLN", "PLO", "PAS", "PFT"), ONE),
    **dict.fromkeys(("OR", "RR", "RD", "PETO"), TABLE),
    **dict.fromkeys(("MD", "SMD", "ROM"), MEANS),
    **dict.fromkeys(("ZCOR", "COR"), CORS),
    "GEN": dict(yi=[0.2, -0.4], vi=[0.01, 0.09]),
}
OPTIONS = [
    dict(),
    dict(add=0.25, to="all"),
    dict(add=0.5, to="if0all"),
    dict(add=0.5, to="none"),
    dict(drop00=True),
]


def test_every_measure_has_inputs():
    assert set(INPUTS) == set(MEASURES)


@pytest.mark.r
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("measure", MEASURES)
def test_escalc_matches_metafor(metafor, measure, opts):
    inputs = INPUTS[measure]
    yi, vi = metafor.escalc(measure, **inputs, **opts)
    dat = escalc(measure, **inputs, **opts, slab=[f"s{i}" for i in range(len(yi))])
    ours_y, ours_v = dat["yi"].to_numpy(), dat["vi"].to_numpy()
    np.testing.assert_array_equal(np.isfinite(ours_y), np.isfinite(yi))
    np.testing.assert_array_equal(np.isfinite(ours_v), np.isfinite(vi))
    ok = np.isfinite(yi) & np.isfinite(vi)
    # closed forms: agreement to rounding (1e-12 relative, the closed-form entry)
    np.testing.assert_allclose(ours_y[ok], yi[ok], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours_v[ok], vi[ok], rtol=1e-12, atol=1e-15)
