"""confint() of meta-regressions (and the coefficient CIs of every rma fit): live against
metafor's confint(res, fixed=TRUE) on four data sets with continuous and categorical
moderators and an interaction, estimators, tests and levels."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metaparity.parity.confint_uni import compare_confint_uni, metafor_confint_uni  # noqa: E402
from metareg_cases import CONFINT as CASES  # noqa: E402


def _fit(name):
    fit, level = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(), level


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_confint_agrees_with_metafor(metafor, name):
    res, level = _fit(name)
    ref = metafor_confint_uni(res, level, metafor)
    assert ref["ok"], ref.get("error")
    bad = [c for c in compare_confint_uni(res, res.confint(level), ref) if not c.ok]
    assert not bad, "\n".join(f"{c.quantity}: {c.ours!r} vs {c.ref!r}" for c in bad[:5])


def test_bounds_solve_the_q_profile():
    from scipy import stats

    from metaparity.models.confint import q_profile_mods

    res, _ = _fit("bcg ~ablat*alloc REML")
    ci = res.confint()
    df = res.k - res.p
    X = np.asarray(res.X)
    assert q_profile_mods(res.yi, res.vi, X, ci.tau2_lb) == pytest.approx(
        stats.chi2.isf(0.025, df), rel=1e-12) or ci.tau2_lb == 0.0  # fmt: skip
    assert q_profile_mods(res.yi, res.vi, X, ci.tau2_ub) == pytest.approx(
        stats.chi2.ppf(0.025, df), rel=1e-12)  # fmt: skip
    assert q_profile_mods(res.yi, res.vi, X, 0.0) == pytest.approx(res.QE, rel=1e-12)


def test_no_heterogeneity_gives_the_null_set():
    y = np.array([0.10, 0.11, 0.09, 0.10, 0.12, 0.08])
    res = mp.rma(y, np.full(6, 0.04), mods=np.arange(6.0), method="DL")
    ci = res.confint()
    assert (ci.tau2_lb, ci.tau2_ub) == (0.0, 0.0)
