"""``rma_mv(control=)`` without R: metafor's names (pmatch), starting values that reach the
same optimum, REMLf, cholesky, check.k.gtr.1, iteration limits, and bad control lists.
Live parity of the control cases: tests/parity/test_mv_live.py (CASES with control=)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from metaparity.models.mv_control import read_control

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mv_cases import CASES, fit_case  # noqa: E402

PLAIN = [n for n in CASES if "control" not in CASES[n]()]


def _near_optimum_init(res, factor: float) -> dict:
    """Starting values off the optimum by ``factor`` (variances) and towards 0
    (correlations), for every component of the fit."""
    ctl = {}
    for comp in ("sigma2", "tau2", "gamma2"):
        v = np.asarray(getattr(res, comp), dtype=float)
        if v.size:
            ctl[f"{comp}.init"] = list(np.maximum(v, 1e-3) * factor)
    for comp in ("rho", "phi"):
        v = np.asarray(getattr(res, comp), dtype=float)
        if v.size:
            ctl[f"{comp}.init"] = list(np.clip(0.8 * v, 0.05, 0.95))
    return ctl


@pytest.mark.parametrize("name", PLAIN)
@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_starting_values_near_the_optimum_reach_it(name, factor):
    res = fit_case(name)
    g = res._problem.gts
    ctl = _near_optimum_init(res, factor)
    if g and g[0].struct in ("ID", "DIAG"):
        ctl.pop("rho.init", None)
    other = fit_case(name, control=ctl)
    assert other.logLik >= res.logLik - 1e-10 * max(1.0, abs(res.logLik))
    assert abs(other.logLik - res.logLik) <= 1e-9 * max(1.0, abs(res.logLik))
    np.testing.assert_allclose(other.b, res.b, rtol=1e-6, atol=1e-9)


def test_names_are_matched_as_metafors_pmatch():
    ctl = read_control({"tau2": 0.2, "rho.i": 0.3, "REML": False, "check": False})
    assert set(ctl.init) == {"tau2", "rho"}
    assert ctl.remlf is False and ctl.check_k is False
    assert read_control({"gamma": 0.1}).init["gamma2"].tolist() == [0.1]


def test_optimiser_settings_are_accepted_and_recorded_as_without_effect():
    res0 = fit_case("berkey1998 UN")
    res = fit_case(
        "berkey1998 UN",
        control={
            "optimizer": "optim",
            "optmethod": "Nelder-Mead",
            "reltol": 1e-12,
            "rel.tol": 1e-10,
            "rhoend": 1e-9,
        },
    )
    assert res.control.no_effect == ("optimizer", "optmethod", "reltol", "rel.tol", "rhoend")
    assert res.logLik == res0.logLik
    assert res.control.for_metafor == {}


def test_remlf_false_drops_half_log_det_xtx():
    full = fit_case("berkey1998 UN ~outcome:year")
    part = fit_case("berkey1998 UN ~outcome:year", control={"REMLf": False})
    half = 0.5 * np.linalg.slogdet(full.X.T @ full.X)[1]
    assert part.fit_stats["REML"]["ll"] == pytest.approx(full.fit_stats["REML"]["ll"] - half,
                                                         rel=1e-13)  # fmt: skip
    assert part.fit_stats["ML"]["ll"] == pytest.approx(full.fit_stats["ML"]["ll"], rel=1e-13)
    np.testing.assert_allclose(part.b, full.b, rtol=1e-10)
    # the profile likelihood uses the same likelihood
    assert part.profile_loglik("tau2", 0, float(part.tau2[0])) == pytest.approx(part.logLik,
                                                                             rel=1e-10)  # fmt: skip


def test_cholesky_false_optimises_un_on_variances_and_correlations():
    chol = fit_case("ishak2007 UN")
    free = fit_case("ishak2007 UN", control={"cholesky": False})
    # G need not be PSD without the Cholesky factor: a higher optimum (metafor: the same)
    assert free.logLik > chol.logLik + 0.1
    assert np.linalg.eigvalsh(free.g_matrices()[0]).min() < 0
    assert np.linalg.eigvalsh(chol.g_matrices()[0]).min() > -1e-8


def test_check_k_gtr_1_false_estimates_the_variance_metafor_fixes():
    a = CASES["synthetic HCS check.k.gtr.1=FALSE"]()
    on = dict(a, control={})
    with pytest.warns(UserWarning, match="k=1"):
        fixed = fit_case_args(on)
    free = fit_case_args(a)
    assert fixed.tau2[2] == 0.0 and free.tau2[2] > 0.1
    assert free.logLik > fixed.logLik


def fit_case_args(a: dict):
    import metaparity as mp

    a = dict(a)
    return mp.rma_mv(a.pop("yi", "yi"), a.pop("V", "vi"), **a)


def test_iteration_limit_reached_is_an_error():
    with pytest.raises(RuntimeError, match="did not converge"):
        fit_case("ishak2007 UN", control={"iter.max": 2})
    assert fit_case("ishak2007 UN", control={"iter.max": 1000}).converged


def test_verbose_prints_the_iterations(capsys):
    fit_case("berkey1998 CS", control={"verbose": True})
    out = capsys.readouterr().out
    assert "rma_mv iteration 1: log-likelihood" in out


@pytest.mark.parametrize(
    ("control", "match"),
    [
        ({"tau2.ini": 0.1, "sigma2_init": 1}, "did you mean 'sigma2.init'"),
        ({"foo": 1}, "not a control setting"),
        ({"tau2.init": [0.1, None]}, "no missing values"),
        ({"tau2.init": [0.1, 0.2, 0.3]}, "3 values; the model has 2 tau2"),
        ({"tau2.init": -0.1}, "must be > 0"),
        ({"rho.init": 1.0}, r"must be in \(-1,1\)"),
        ({"sigma2.init": 0.1}, "no '~ 1 | group' term"),
        ({"gamma2.init": 0.1}, "no second '~ inner | outer' term"),
        ({"REMLf": "no"}, "give True or False"),
        ({"optimizer": "simplex"}, "not one of metafor's optimisers"),
        ({"iter.max": 0}, "iteration limit"),
        ({"tau2.init": "a"}, "a number or a list"),
    ],
)
def test_bad_control_is_a_clear_error(control, match):
    with pytest.raises(ValueError, match=match):
        fit_case("berkey1998 UN", control=control)


def test_control_must_be_a_dict():
    with pytest.raises(ValueError, match="control must be a dict"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_case("berkey1998 UN", control=[("tau2.init", 0.1)])


def test_starting_g_not_positive_definite_is_a_clear_error():
    with pytest.raises(ValueError, match="not positive definite"):
        fit_case("ishak2007 UN", control={"rho.init": [0.9, -0.9, 0.9, -0.9, 0.9, 0.9]})
