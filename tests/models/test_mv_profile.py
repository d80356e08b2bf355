"""rma_mv profile(): the profile peaks at the estimate, metafor's default ranges, bad
arguments, and the profile plot (tests/parity/test_mv_live.py compares with metafor)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp
from metaparity.models.mv_profile import MvProfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mv_cases import fit_case  # noqa: E402

THREE = "konstantopoulos2011 ~1|district/school"


@pytest.fixture(scope="module")
def three():
    return fit_case(THREE)


@pytest.fixture(scope="module")
def un():
    return fit_case("berkey1998 UN")


def test_profile_at_the_estimate_is_the_fit(three):
    est = float(three.sigma2[0])
    cv = three.profile(sigma2=0, steps=[est * 0.9, est, est * 1.1])[0]
    assert cv.ll[1] == pytest.approx(three.logLik, rel=1e-10)
    assert cv.ll[1] >= max(cv.ll[0], cv.ll[2])
    assert np.allclose(cv.b[1], three.b, rtol=1e-6)
    assert cv.xlim == (est * 0.9, est * 1.1)


def test_every_estimated_component_by_default_with_metafors_ranges(three, un):
    prof = three.profile(steps=3)
    assert isinstance(prof, MvProfile) and [c.label for c in prof] == ["sigma2[1]", "sigma2[2]"]
    s = float(three.sigma2[1])
    assert prof[1].xlim == (max(0, s / 4), max(0.1, 4 * s))
    r = float(un.rho[0])
    cv = un.profile(rho=0, steps=3)[0]
    assert cv.xlim == (max(-0.99999, r - 0.5), min(0.99999, r + 0.5))
    assert cv.label == "rho"
    assert [c.label for c in un.profile(steps=2)] == ["tau2[1]", "tau2[2]", "rho"]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(sigma2=0, xlim=[-1, 1]), "must be >= 0"),
        (dict(sigma2=0, xlim=[1]), "give two values"),
        (dict(sigma2=0, steps=1), "at least 2 points"),
        (dict(sigma2=5), "not an estimated component"),
        (dict(sigma2=0, tau2=0), "one component at a time"),
    ],
)
def test_bad_profile_arguments(three, kw, match):
    with pytest.raises(ValueError, match=match):
        three.profile(**kw)


def test_rho_range_is_checked(un):
    with pytest.raises(ValueError, match="must be <= 1"):
        un.profile(rho=0, xlim=[0, 1.5])


def test_profile_plot_draws_one_panel_per_component(three, tmp_path):
    pytest.importorskip("matplotlib")
    prof = three.profile(steps=3)
    out = tmp_path / "prof.png"
    fig = mp.profile_plot(prof, out, cline=True)
    assert len(fig.axes) == 2 and out.read_bytes()[:4] == b"\x89PNG"
    ax = fig.axes[0]
    assert ax.get_title() == r"Profile Plot for $\sigma_{1}^2$"
    assert ax.get_ylabel() == "Restricted Log-Likelihood"
    assert len(ax.lines) == 4  # the profile, two reference lines, the CI line
    fig = mp.profile_plot(three, sigma2=1, steps=3)
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="need a fit"):
        mp.profile_plot(prof, steps=3)
    with pytest.raises(ValueError, match="cline"):
        mp.profile_plot(prof, cline=120)


def test_panel_grid_is_n2mfrow():
    from metaparity.plots.profile import panel_grid

    assert [panel_grid(n) for n in (1, 2, 3, 4, 5, 6, 7, 10)] == [
        (1, 1), (2, 1), (3, 1), (2, 2), (3, 2), (3, 2), (3, 3), (4, 3)]  # fmt: skip
