"""profile() of rma fits in tau^2: live against metafor's profile.rma.uni on the same grid
(intercept-only and meta-regressions on four data sets, REML ML DL PM, knha, user weights), the
default range, the plot, and bad input."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

import metaparity as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metareg_cases import PROFILE as CASES  # noqa: E402
from metareg_cases import (
    _bcg_int,  # noqa: E402
    case,  # noqa: E402
)


def _case(name):
    return case(CASES, name)


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_profile_agrees_with_metafor(metafor, name):
    from metaparity.parity.profile_uni import compare_profile_uni, metafor_profile_uni

    res, kw = _case(name)
    ref = metafor_profile_uni(res, bridge=metafor, **kw)
    assert ref["ok"], ref.get("error")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = res.profile(**kw)
    bad = [c for c in compare_profile_uni(res, ours, ref) if not c.ok]
    assert not bad, "\n".join(f"{c.quantity}: {c.ours!r} vs {c.ref!r}" for c in bad[:5])


def test_the_profile_peaks_at_the_estimate():
    res = _bcg_int(method="ML")
    pr = res.profile(steps=[res.tau2 * 0.9, res.tau2, res.tau2 * 1.1])[0]
    assert pr.ll[1] == pytest.approx(res.logLik, rel=1e-12)
    assert pr.ll[0] < pr.ll[1] and pr.ll[2] < pr.ll[1]


def test_default_range_is_metafors_rule():
    res = _bcg_int()
    ci = res.confint()
    cv = res.profile()[0]
    assert cv.xlim == (min(res.tau2, ci.tau2_lb), max(0.1, res.tau2, ci.tau2_ub))
    assert cv.values.size == 20


def test_the_plot(tmp_path):
    fig = mp.profile_plot(_bcg_int(), path=tmp_path / "p.png", cline=True)
    assert fig.axes[0].get_ylabel() == "Restricted Log-Likelihood"
    assert (tmp_path / "p.png").stat().st_size > 5_000


@pytest.mark.parametrize(("fit", "kw", "match"), [
    (lambda: _bcg_int(method="EE"), {}, "no tau\\^2 to profile"),
    (lambda: _bcg_int(tau2=0.1), {}, "was fixed"),
    (lambda: _bcg_int(), {"xlim": (-1, 1)}, "must be >= 0"),
    (lambda: _bcg_int(), {"steps": 1}, "at least 2 points"),
])  # fmt: skip
def test_bad_input(fit, kw, match):
    with pytest.raises(ValueError, match=match):
        fit().profile(**kw)
