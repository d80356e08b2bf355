"""``rma(..., control=...)``: metafor's own iterations, stopping where metafor stops.

Unit tests (no R): the control argument's errors, the figures metafor prints for dat.bcg,
R's uniroot steps, metafor's failures.  Live tests (marked ``r``): a grid of data sets x
every iterative estimator x z/knha x intercept-only/one moderator, metaparity's
``control="metafor"`` against metafor run with its default control (and a few control
lists against the same lists), to 1e-10 relative.  ``scripts/control_versions.py`` runs the
same grid (:func:`grid`) against other metafor installations (docs/control_metafor.md).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import metaparity as mp
from metaparity import metafor_version, rma, rma_mods
from metaparity.effects.datasets import selinexor_counts
from metaparity.engine.control import (
    CONTROL_KEYS,
    ConvergenceError,
    MetaforControl,
    parse_control,
    zeroin,
)

ROOT = Path(__file__).resolve().parents[2]
METADAT = ROOT / "fixtures" / "metadat"
#: every estimator metafor iterates (SJ is iterated only through tau2.init, below)
ITERATIVE = ("ML", "REML", "EB", "PM", "PMM", "SJIT", "DLIT")
#: the quantities compared (RmaResult attribute = metafor field)
QUANTITIES = ("tau2", "se_tau2", "b", "se", "zval", "ci_lb", "ci_ub", "I2", "H2", "QE", "QM", "R2")
RTOL = 1e-10
#: control lists run on both sides (metafor: rma(..., control = list(...)))
CONTROL_LISTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("REML", {"tau2.init": 0.5, "stepadj": 0.5}),
    ("ML", {"threshold": 1e-8}),
    ("EB", {"tau2.min": 0.01, "maxiter": 500}),
    ("PM", {"tol": 1e-8, "tau2.max": 5.0}),
    ("PMM", {"tau2.max": 50.0}),
    ("SJ", {"tau2.init": 0.2}),
    ("SJIT", {"tau2.init": 1.0}),
    ("DLIT", {"maxiter": 1000}),
    ("REML", {"ll0check": False, "threshold": 1e-3}),
    ("REML", {"tau2.min": -0.001}),
    ("REML", {"maxiter": 2}),  # metafor: "Fisher scoring algorithm did not converge ..."
    ("PM", {"maxiter": 2}),  # uniroot: "_NOT_ converged in 2 iterations" (a warning)
    ("PM", {"tau2.max": 1e-4}),  # metafor: "Value of 'tau2.max' too low ..."
)


# --------------------------------------------------------------------------- #
# the data sets of the grid
# --------------------------------------------------------------------------- #
def datasets() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, str]]:
    """name -> (yi, vi, moderator values, moderator name): the data sets of the grid."""
    out = {}
    bcg = pd.read_csv(METADAT / "dat.bcg.csv")
    e = mp.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    out["dat.bcg RR"] = (e.yi.to_numpy(), e.vi.to_numpy(), bcg.ablat.to_numpy(float), "ablat")
    nd = pd.read_csv(METADAT / "dat.normand1999.csv")
    e = mp.escalc("MD", m1i=nd.m1i, sd1i=nd.sd1i, n1i=nd.n1i, m2i=nd.m2i, sd2i=nd.sd2i, n2i=nd.n2i)
    out["dat.normand1999 MD"] = (
        e.yi.to_numpy(), e.vi.to_numpy(), (nd.n1i + nd.n2i).to_numpy(float), "n",
    )  # fmt: skip
    pz = pd.read_csv(METADAT / "dat.pritz1997.csv")
    e = mp.escalc("PLO", xi=pz.xi, ni=pz.ni)
    out["dat.pritz1997 PLO"] = (e.yi.to_numpy(), e.vi.to_numpy(), pz.ni.to_numpy(float), "ni")
    sc = selinexor_counts()
    sc = sc[(sc.outcome == "CR") & sc.events.notna()]
    e = mp.escalc("PLO", xi=sc.events, ni=sc.n)
    pi = (sc.subgroup == "SEL+DEX+PI").to_numpy(float)
    out["selinexor CR PLO"] = (e.yi.to_numpy(), e.vi.to_numpy(), pi, "PI")
    rng = np.random.default_rng(20240611)  # homogeneous: tau^2 at or near 0
    v = rng.uniform(0.02, 0.1, 10)
    out["homogeneous"] = (rng.normal(0.3, np.sqrt(v)), v, np.arange(10.0), "x")
    return out


def grid() -> list[dict[str, Any]]:
    """Every case: data set x estimator x test x (intercept only, one moderator) x control."""
    cases = []
    for name, (y, v, x, xname) in datasets().items():
        for with_mod in (False, True):
            for test in ("z", "knha"):
                for method in ITERATIVE:
                    cases.append(dict(data=name, y=y, v=v, x=x if with_mod else None,
                                      xname=xname, method=method, test=test,
                                      control="metafor"))  # fmt: skip
            for method, ctl in CONTROL_LISTS:
                cases.append(dict(data=name, y=y, v=v, x=x if with_mod else None, xname=xname,
                                  method=method, test="z", control=ctl))  # fmt: skip
    return cases


def label(case: dict[str, Any]) -> str:
    mods = f"~ {case['xname']}" if case["x"] is not None else "~ 1"
    return f"{case['data']} {mods} {case['method']} {case['test']} control={case['control']}"


def bridge_call(case: dict[str, Any]) -> dict[str, Any]:
    """The bridge call (``fn="rma_mods"``) metafor answers for ``case``."""
    k = len(case["y"])
    X = np.ones((k, 1)) if case["x"] is None else np.c_[np.ones(k), case["x"]]
    return dict(
        fn="rma_mods", yi=list(map(float, case["y"])), vi=list(map(float, case["v"])),
        X=X.ravel(order="F").tolist(), nrow=k, colnames=["intrcpt", case["xname"]][: X.shape[1]],
        method=case["method"], test=case["test"], level=95.0, control=case["control"],
    )  # fmt: skip


def ours(case: dict[str, Any]) -> Any:
    """metaparity's fit of ``case``: the result, or the ValueError metaparity raises."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if case["x"] is None:
                return rma(case["y"], case["v"], method=case["method"], test=case["test"],
                           control=case["control"])  # fmt: skip
            return rma_mods(case["y"], case["v"], case["x"], method=case["method"],
                            test=case["test"], control=case["control"])  # fmt: skip
    except ValueError as err:
        return err


def compare_case(
    case: dict[str, Any], ref: dict[str, Any]
) -> list[tuple[str, float, float, float]]:
    """``(quantity, ours, metafor, floor)`` for every quantity of ``case``; raises on a mismatch
    of outcome (one side fails, or both fail with different messages)."""
    res = ours(case)
    if not ref.get("ok"):
        assert isinstance(res, ValueError), f"{label(case)}: metafor fails ({ref.get('error')})"
        assert str(res) == ref["error"], label(case)
        return []
    assert not isinstance(res, Exception), f"{label(case)}: metaparity fails ({res})"
    fit = ref["fit"]
    fl = floors(case, fit)
    rows = []
    for q in QUANTITIES:
        a = np.atleast_1d(np.asarray(getattr(res, q), dtype=float))
        r = np.atleast_1d(np.asarray(np.nan if fit.get(q) is None else fit[q], dtype=float))
        if q == "R2" and case["x"] is None:
            continue  # metafor: no R^2 for the intercept-only model
        for i, (ai, ri) in enumerate(zip(a, r, strict=True)):
            rows.append((f"{q}[{i}]" if a.size > 1 else q, float(ai), float(ri), fl[q]))
    return rows


def rel(a: float, r: float) -> float:
    if math.isnan(a) and math.isnan(r):
        return 0.0
    if a == r:
        return 0.0
    return abs(a - r) / max(abs(r), 1e-300)


#: the absolute floor in tau^2 units.  Where tau^2 ends near 0, metafor's last Fisher
#: steps cancel most of the previous iterate (step halving: 9.1e-6 - 8.9e-6 = 2.8e-7 on
#: the selinexor CR data), so both sides agree to a few ulp of the earlier iterates
#: (~4e-16 absolute), not relatively; tau^2-derived quantities (I^2, H^2, R^2) get this
#: floor through their derivative in tau^2, nothing else.
TAU2_FLOOR = 1e-14


def floors(case: dict[str, Any], fit: dict[str, Any]) -> dict[str, float]:
    """The absolute floor of each quantity: :data:`TAU2_FLOOR` propagated from tau^2
    (``I2 = 100 t / (t + s2)``, ``H2 = (t + s2) / s2``, ``R2 = 100 (t0 - t) / t0``), 1e-14
    for the others."""
    v = np.asarray(case["v"], dtype=float)
    X = np.ones((v.size, 1)) if case["x"] is None else np.c_[np.ones(v.size), case["x"]]
    w = 1.0 / v
    xtwx = X.T @ (w[:, None] * X)
    trp = w.sum() - np.trace(np.linalg.solve(xtwx, X.T @ (w[:, None] ** 2 * X)))
    s2 = (v.size - X.shape[1]) / trp
    t = max(float(fit["tau2"]), 0.0)
    out = {q: 1e-14 for q in QUANTITIES}
    out["tau2"] = TAU2_FLOOR
    out["I2"] = 100.0 * s2 / (t + s2) ** 2 * TAU2_FLOOR
    out["H2"] = TAU2_FLOOR / s2
    r2 = fit.get("R2")
    if r2 is not None and r2 < 100:  # t0 = t / (1 - R2/100); dR2/dt = 100 / t0
        t0 = t / (1.0 - r2 / 100.0)
        out["R2"] = 100.0 / t0 * TAU2_FLOOR if t0 > 0 else 1e-14
    return out


def agrees(a: float, r: float, floor: float = 1e-14) -> bool:
    """Within 1e-10 relative, or ``floor`` absolute (see :func:`floors`)."""
    return (math.isnan(a) and math.isnan(r)) or abs(a - r) <= RTOL * abs(r) + floor


# --------------------------------------------------------------------------- #
# without R
# --------------------------------------------------------------------------- #
def _bcg_ablat() -> pd.DataFrame:
    bcg = pd.read_csv(METADAT / "dat.bcg.csv")
    e = mp.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    e["ablat"] = bcg.ablat
    return e


def test_bcg_ablat_prints_metafors_figures():
    # metafor: rma(yi, vi, mods = ~ ablat, data = dat) prints tau^2 0.0764,
    # QM(df = 1) = 16.3571, R^2 75.62%; the exact root gives QM 16.3582
    e = _bcg_ablat()
    res = rma(data=e, mods="~ ablat", method="REML", control="metafor")
    assert f"{res.tau2:.4f}" == "0.0764" and f"{res.QM:.4f}" == "16.3571"
    assert f"{res.R2:.2f}" == "75.62"
    text = res.summary()
    assert "QM(df = 1) = 16.3571" in text and "75.62%" in text
    exact = rma(data=e, mods="~ ablat", method="REML")
    assert f"{exact.QM:.4f}" == "16.3582"
    # metafor 3.8.1 (printed with %.17g): tau2 and QM of the default run
    assert abs(res.tau2 - 0.076354694705659823) <= 1e-10 * 0.0764
    assert abs(res.QM - 16.357125572159390003) <= 1e-10 * 16.36
    assert res.converged and res.iterations == 11


def test_default_is_the_exact_root():
    e = _bcg_ablat()
    a = rma(data=e, method="PM")
    b = rma(data=e, method="PM", control=None)
    assert a.tau2 == b.tau2 and a.se_tau2 == b.se_tau2
    c = rma(data=e, method="PM", control="metafor")
    assert c.tau2 != a.tau2 and abs(c.tau2 - a.tau2) < 1e-4  # uniroot's tol ~1.2e-4


def test_control_key_errors():
    y, v = [0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015]
    with pytest.raises(ValueError, match="valid keys: tau2.init, tau2.min, tau2.max, threshold"):
        rma(y, v, control={"maxiters": 10})
    with pytest.raises(ValueError, match="'tau2_init' is not a control setting"):
        rma(y, v, control={"tau2_init": 0.1})
    with pytest.raises(ValueError, match="'verbose' is a metafor setting .* not supported"):
        rma(y, v, control={"verbose": True})
    with pytest.raises(ValueError, match="valid keys"):
        rma_mods(y, v, [1.0, 2, 3, 4], control={"iter.max": 3})
    with pytest.raises(ValueError, match="'maxiter' must be a whole number"):
        rma(y, v, control={"maxiter": 2.5})
    with pytest.raises(ValueError, match="'maxiter' must be a whole number"):
        rma(y, v, control={"maxiter": True})
    with pytest.raises(ValueError, match="'threshold' must be a number"):
        rma(y, v, control={"threshold": "1e-5"})
    with pytest.raises(ValueError, match="'stepadj' must be > 0"):
        rma(y, v, control={"stepadj": 0})
    with pytest.raises(ValueError, match="'tol' must be >= 0"):
        rma(y, v, control={"tol": -1.0})
    with pytest.raises(ValueError, match="'ll0check' must be True or False"):
        rma(y, v, control={"ll0check": 1})
    with pytest.raises(ValueError, match="'tau2.max' must be finite"):
        rma(y, v, control={"tau2.max": float("inf")})
    with pytest.raises(ValueError, match="give None .* 'metafor'"):
        rma(y, v, control="R")
    with pytest.raises(ValueError, match="must be None, 'metafor' or a dict"):
        rma(y, v, control=[("maxiter", 3)])
    with pytest.raises(ValueError, match="tau2.min only for metafor's iterative"):
        rma(y, v, method="DL", control={"tau2.min": 0.1})
    assert set(CONTROL_KEYS) >= {"tau2.init", "tau2.min", "tau2.max", "threshold", "tol",
                                 "maxiter", "stepadj"}  # fmt: skip
    assert parse_control(None) is None and parse_control("metafor") == MetaforControl()
    assert parse_control({"maxiter": 5.0}).maxiter == 5
    assert parse_control({"tau2.init": 0.5, "tol": 1e-8}).as_metafor() == {
        "tau2.init": 0.5, "tol": 1e-8,
    }  # fmt: skip
    # closed forms ignore the iteration settings, as metafor
    dl = rma(y, v, method="DL")
    assert rma(y, v, method="DL", control={"maxiter": 1}).tau2 == dl.tau2


def test_non_convergence_raises_metafors_error():
    e = _bcg_ablat()
    with pytest.raises(ConvergenceError, match=r"^Fisher scoring algorithm did not converge\. "
                       r"See 'help\(rma\)' for possible remedies\.$") as info:  # fmt: skip
        rma(data=e, method="REML", control={"maxiter": 2})
    assert info.value.iterations == 3 and info.value.method == "REML"
    with pytest.raises(ValueError, match="Fisher scoring algorithm did not converge"):
        rma(data=e, mods="~ ablat", method="ML", control={"maxiter": 3})
    with pytest.raises(ConvergenceError, match=r"^Value of 'tau2.max' too low\. Try increasing"):
        rma(data=e, method="PMM", control={"tau2.max": 1e-3})
    with pytest.raises(ConvergenceError, match=r"^Iterative SJ estimator did not converge\.$"):
        rma(data=e, method="SJIT", control={"maxiter": 2})
    # DLIT up to metafor 4.4 oscillates on dat.bcg (metafor 3.8.1 stops with this error);
    # from 4.6 on its update converges to the PM root
    with metafor_version("3.8"):
        with pytest.raises(ConvergenceError, match=r"^Iterative DL estimator did not converge"):
            rma(data=e, method="DLIT", control="metafor")
    with metafor_version("5.1"):
        assert rma(data=e, method="DLIT", control="metafor").converged
    # uniroot's non-convergence is a warning in R; metafor goes on with uniroot's last point
    with pytest.warns(UserWarning, match=r"^_NOT_ converged in 2 iterations$"):
        res = rma(data=e, method="PM", control={"maxiter": 2})
    assert abs(res.tau2 - 23.038058456095175) <= 1e-10 * 23.04  # metafor 3.8.1


def test_zeroin_steps_like_uniroot():
    # R 4.2.2 (printed with %.17g): uniroot(function(x) x^3 - 2*x - 5, c(2, 3), tol = 1e-10)
    #   -> root 2.0945514815361843, iter 7
    f = lambda x: x**3 - 2 * x - 5  # noqa: E731
    assert zeroin(f, 2.0, 3.0, f(2.0), f(3.0), 1e-10, 1000) == (2.0945514815361843, 7, True)
    # uniroot(function(x) cos(x) - x, c(0, 1)) -> root 0.73909105828536981, iter 4
    g = lambda x: math.cos(x) - x  # noqa: E731
    tol = np.finfo(float).eps ** 0.25
    assert zeroin(g, 0.0, 1.0, g(0.0), g(1.0), tol, 1000) == (0.7390910582853698, 4, True)
    # maxiter = 2 or 3: "_NOT_ converged in 2 iterations" (a warning), the same last point
    assert zeroin(g, 0.0, 1.0, g(0.0), g(1.0), tol, 2) == (0.7390910582853698, 2, False)
    assert zeroin(g, 0.0, 1.0, g(0.0), g(1.0), tol, 3)[2] is False
    assert zeroin(g, 0.0, 1.0, g(0.0), g(1.0), tol, 4)[2] is True
    assert zeroin(g, 0.0, 1.0, 0.0, g(1.0), 1e-8, 10) == (0.0, 0, True)


def test_result_iterations_recorded():
    e = _bcg_ablat()
    res = rma(data=e, method="REML", control="metafor")
    assert res.iterations == 3 and res.converged
    assert rma(data=e, method="EB", control="metafor").iterations > 0
    assert rma(data=e, method="DL", control="metafor").iterations == 0


# --------------------------------------------------------------------------- #
# live metafor
# --------------------------------------------------------------------------- #
@pytest.mark.r
def test_grid_agrees_with_default_control_metafor(metafor):
    """Every case of :func:`grid` against metafor (default control or the same list)."""
    cases = grid()
    refs = metafor.run([bridge_call(c) for c in cases])
    n, worst, where, bad = 0, 0.0, "", []
    with metafor_version(metafor.versions()["metafor"]):
        for case, ref in zip(cases, refs, strict=True):
            for q, a, r, floor in compare_case(case, ref):
                n += 1
                d = rel(a, r)
                if d > worst and abs(r) >= 1e-8:
                    worst, where = d, f"{label(case)} {q}"
                if not agrees(a, r, floor):
                    bad.append(f"{label(case)} {q}: ours {a!r} metafor {r!r} (rel {d:.1e})")
    print(f"\ncontrol grid: {len(cases)} fits, {n} quantities, max rel diff {worst:.1e} ({where})")
    assert not bad, "\n".join(bad[:20])
    assert n > 1500


@pytest.mark.r
def test_bcg_ablat_live(metafor):
    e = _bcg_ablat()
    X = np.c_[np.ones(len(e)), e.ablat]
    ref = metafor.rma_mods(e.yi, e.vi, X, method="REML", control="metafor")
    res = rma(data=e, mods="~ ablat", method="REML", control="metafor")
    for q in ("tau2", "se_tau2", "QM", "R2", "I2", "QE", "H2"):
        assert agrees(getattr(res, q), ref["fit"][q]), q
    for q in ("b", "se"):
        for a, r in zip(getattr(res, q), ref["fit"][q], strict=True):
            assert agrees(a, r), q


@pytest.mark.r
def test_r2_refit_failure_is_nan_like_metafors_na(metafor):
    # PM with tau2.max = 0.2: the model with ablat (tau^2 0.142) fits, the intercept-only
    # refit behind R^2 (tau^2 0.318) stops at "Value of 'tau2.max' too low": metafor R2 NA
    e = _bcg_ablat()
    X = np.c_[np.ones(len(e)), e.ablat]
    ctl = {"tau2.max": 0.2}
    ref = metafor.rma_mods(e.yi, e.vi, X, method="PM", control=ctl)
    assert ref["ok"] and ref["fit"]["R2"] is None
    res = rma(data=e, mods="~ ablat", method="PM", control=ctl)
    assert math.isnan(res.R2) and agrees(res.tau2, ref["fit"]["tau2"])
    with pytest.raises(ConvergenceError, match="tau2.max' too low"):
        rma(data=e, method="PM", control=ctl)


@pytest.mark.r
@pytest.mark.parametrize("backend", ["rpy2", "rscript"])
def test_parity_cli_control_metafor(metafor, tmp_path, capsys, backend):
    from metaparity.cli import main

    bcg = METADAT / "dat.bcg.csv"
    cols = ["--col", "ai=tpos", "--col", "bi=tneg", "--col", "ci=cpos", "--col", "di=cneg"]
    j = tmp_path / "r.json"
    argv = ["parity", str(bcg), "--measure", "RR", *cols, "--method", "ML,REML,EB,PM,PMM,SJIT",
            "--control", "metafor", "--json", str(j), "--backend", backend]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "default control" in out and "all agree" in out
    rep = json.loads(j.read_text())
    assert rep["ok"] and rep["quantities"] > 300
    # the same analyses at the root, against metafor with the tight control, agree too --
    # and differ from the default-control run (that is what --control changes)
    tau2 = {a["method"]: next(c for c in a["comparisons"] if c["quantity"] == "tau2")
            for a in rep["analyses"]}  # fmt: skip
    exact = rma(data=_bcg_ablat(), method="PM")
    assert tau2["PM"]["metafor"] != exact.tau2
    # metafor's failure under the same control: metaparity stops with the same message
    argv = ["parity", str(bcg), "--measure", "RR", *cols, "--method", "REML",
            "--control", '{"maxiter": 2}', "--backend", backend]  # fmt: skip
    assert main(argv) == 2
    out = capsys.readouterr().out
    assert "Fisher scoring algorithm did not converge" in out and "the same error" in out
    # a key metafor does not have
    argv = ["parity", str(bcg), "--measure", "RR", *cols, "--control", '{"maxiters": 2}',
            "--backend", backend]  # fmt: skip
    assert main(argv) == 2
    assert "valid keys: tau2.init" in capsys.readouterr().err
