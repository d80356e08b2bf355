"""Case diagnostics (metaparity.analysis.diagnostics): unit tests without R, and live parity with
metafor's leave1out / influence / rstudent / rstandard / cumul / baujat."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaparity as mp
from metaparity.analysis.diagnostics import (
    baujat,
    cumul,
    influence,
    leave1out,
    leave1out_batch,
    rstandard,
    rstudent,
)
from metaparity.parity.tolerances import compare_values, pvalue_condition

ROOT = Path(__file__).resolve().parents[2]
METADAT = ROOT / "fixtures" / "metadat"


def _bcg():
    d = pd.read_csv(METADAT / "dat.bcg.csv")
    e = mp.escalc("RR", ai=d.tpos, bi=d.tneg, ci=d.cpos, di=d.cneg)
    return e.yi.to_numpy(), e.vi.to_numpy(), tuple(d.study)


def _normand():
    d = pd.read_csv(METADAT / "dat.normand1999.csv")
    e = mp.escalc("SMD", m1i=d.m1i, sd1i=d.sd1i, n1i=d.n1i, m2i=d.m2i, sd2i=d.sd2i, n2i=d.n2i)
    return e.yi.to_numpy(), e.vi.to_numpy(), tuple(d.source)


def _selinexor():
    e = mp.escalc("PR", xi=[39, 16, 150, 25, 9, 14], ni=[122, 78, 195, 40, 18, 21])
    return e.yi.to_numpy(), e.vi.to_numpy(), None


DATASETS = {"bcg": _bcg, "normand1999": _normand, "selinexor": _selinexor}
Y3 = np.array([0.1, 0.3, 0.5, 0.2, -0.1])
V3 = np.array([0.01, 0.02, 0.03, 0.015, 0.05])


def _fit(y, v, method, test, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return mp.rma(y, v, method=method, test=test, **kw)


# --------------------------------------------------------------------------- #
# without R
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("method", ["EE", "DL", "REML", "PM", "SJ"])
@pytest.mark.parametrize("test", ["z", "knha"])
def test_leave1out_row_is_rma_without_the_study(method, test):
    y, v, _ = _bcg()
    res = mp.rma(y, v, method=method, test=test)
    l1o = leave1out(res)
    for i in range(res.k):
        keep = np.arange(res.k) != i
        ri = mp.rma(y[keep], v[keep], method=method, test=test)
        got = [l1o.estimate[i], l1o.se[i], l1o.zval[i], l1o.pval[i], l1o.ci_lb[i],
               l1o.ci_ub[i], l1o.Q[i], l1o.Qp[i], l1o.I2[i], l1o.H2[i]]  # fmt: skip
        want = [ri.b, ri.se, ri.zval, ri.pval, ri.ci_lb, ri.ci_ub, ri.QE, ri.QEp, ri.I2, ri.H2]
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
        assert l1o.tau2[i] == pytest.approx(ri.tau2 if method != "EE" else 0.0, abs=1e-15)


def test_leave1out_batch_equals_loop_and_handles_padding():
    rng = np.random.default_rng(1)
    Y = rng.normal(0.2, 0.3, size=(4, 6))
    V = rng.uniform(0.01, 0.1, size=(4, 6))
    Y[1, 4:] = np.nan
    V[1, 4:] = np.nan
    out = leave1out_batch(Y, V, method="REML", test="knha")
    assert out.b.shape == (4, 6)
    for r in range(4):
        ok = np.isfinite(Y[r])
        one = leave1out(mp.rma(Y[r, ok], V[r, ok], method="REML", test="knha"))
        np.testing.assert_allclose(out.b[r, ok], one.estimate, rtol=1e-13)
        np.testing.assert_allclose(out.se[r, ok], one.se, rtol=1e-13)
        np.testing.assert_allclose(out.tau2[r, ok], one.tau2, rtol=1e-12, atol=1e-15)
        assert np.isnan(out.b[r, ~ok]).all()
    # (2, 2, k) leading shape
    out2 = leave1out_batch(Y.reshape(2, 2, 6), V.reshape(2, 2, 6), method="REML", test="knha")
    np.testing.assert_array_equal(out2.b.reshape(4, 6), out.b)


def test_leave1out_batch_errors():
    with pytest.raises(ValueError, match="k = 1"):
        leave1out_batch([[0.1, np.nan]], [[0.01, np.nan]])
    with pytest.raises(ValueError, match="same shape"):
        leave1out_batch([[0.1, 0.2]], [[0.01]])


def test_weighted_leave1out_and_cumul():
    w = np.array([1.0, 2.0, 3.0, 1.0, 0.5])
    res = mp.rma(Y3, V3, weights=w, method="GENQ")
    l1o = leave1out(res)
    ri = mp.rma(Y3[1:], V3[1:], weights=w[1:], method="GENQ")
    assert l1o.estimate[0] == pytest.approx(ri.b, rel=1e-13)
    assert l1o.tau2[0] == pytest.approx(ri.tau2, rel=1e-12)
    c = cumul(res)
    assert c.estimate[-1] == pytest.approx(res.b, rel=1e-13)
    with pytest.raises(NotImplementedError, match="weights"):
        influence(res)


@pytest.mark.parametrize("test", ["z", "knha"])
def test_k2_edge_case(test):
    y, v = np.array([0.2, 0.5]), np.array([0.01, 0.02])
    res = mp.rma(y, v, method="REML", test=test)
    l1o = leave1out(res)
    # each deleted fit has k = 1: tau2 = 0, Q = 0, z-test (as metafor)
    np.testing.assert_allclose(l1o.estimate, [0.5, 0.2])
    np.testing.assert_allclose(l1o.se, np.sqrt([0.02, 0.01]))
    np.testing.assert_array_equal(l1o.Q, [0.0, 0.0])
    np.testing.assert_array_equal(l1o.Qp, [1.0, 1.0])
    np.testing.assert_array_equal(l1o.tau2, [0.0, 0.0])
    np.testing.assert_allclose(l1o.zval, l1o.estimate / l1o.se)
    inf = influence(res)
    assert inf.inf.dtype == bool and inf.hat.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(rstudent(res).z, inf.rstudent)
    c = cumul(res)
    assert c.tau2[0] == 0.0 and c.estimate[1] == pytest.approx(res.b, rel=1e-14)


def test_k3_edge_case():
    res = mp.rma(Y3[:3], V3[:3], method="PM", test="knha")
    l1o = leave1out(res)
    assert np.isfinite(l1o.pval).all()
    bj = baujat(res)
    np.testing.assert_array_equal(bj.ids, [1, 2, 3])
    assert (bj.x >= 0).all() and (bj.y >= 0).all()


def test_k1_stops_like_metafor():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = mp.rma([0.2], [0.01], method="REML")
    for fn in (leave1out, influence, rstudent, baujat):
        with pytest.raises(ValueError, match="k = 1"):
            fn(res)
    # as metafor: rstandard gives se 0 (z undefined), cumul gives the single fit
    rs = rstandard(res)
    assert rs.se[0] == 0.0 and np.isnan(rs.z[0])
    assert cumul(res).estimate[0] == pytest.approx(0.2)


def test_influence_identities():
    y, v, slab = _bcg()
    res = mp.rma(y, v, method="REML", slab=slab)
    inf = influence(res)
    l1o = leave1out(res)
    np.testing.assert_allclose(inf.weight, 100 * inf.hat)
    assert inf.hat.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(inf.tau2_del, l1o.tau2)
    np.testing.assert_array_equal(inf.QE_del, l1o.Q)
    np.testing.assert_allclose(inf.cov_r, l1o.se**2 / res.se**2)
    np.testing.assert_allclose(baujat(res).y, ((res.b - l1o.estimate) / l1o.se) ** 2)
    # EE: the externally and internally standardized residuals coincide
    ee = mp.rma(y, v, method="EE")
    np.testing.assert_allclose(rstudent(ee).z, rstandard(ee).z, rtol=1e-10)
    # frames carry metafor's names
    f = inf.to_frame()
    assert (
        list(f.columns)
        == ("rstudent dffits cook.d cov.r tau2.del QE.del hat weight dfbs inf").split()
    )
    assert f.index[0] == "Aronson 1948"
    lf = l1o.to_frame()
    assert list(lf.columns) == "estimate se zval pval ci.lb ci.ub Q Qp tau2 I2 H2".split()
    assert "tval" in leave1out(mp.rma(y, v, test="knha")).to_frame().columns
    assert "tau2" not in leave1out(ee).to_frame().columns
    assert list(baujat(res).to_frame().columns) == ["x", "y", "ids", "slab"]
    assert list(rstudent(res).to_frame().columns) == ["resid", "se", "z"]


def test_cumul_order_is_a_stable_sort_key():
    y, v, slab = _bcg()
    year = pd.read_csv(METADAT / "dat.bcg.csv").year.to_numpy()
    res = mp.rma(y, v, method="DL", slab=slab)
    c = cumul(res, order=year)
    idx = np.argsort(year, kind="stable")
    np.testing.assert_array_equal(c.ids, idx)
    assert c.slab == tuple(slab[i] for i in idx)
    for j in (0, 4, 12):
        sub = idx[: j + 1]
        rj = _fit(y[sub], v[sub], "DL", "z")
        assert c.estimate[j] == pytest.approx(rj.b, rel=1e-13)
        assert c.tau2[j] == pytest.approx(rj.tau2, rel=1e-12, abs=1e-15)
    with pytest.raises(ValueError, match="length"):
        cumul(res, order=[1, 2])


def test_not_a_model():
    with pytest.raises(TypeError):
        influence({"b": 1})


def test_leave1out_batch_is_fast():
    import time

    rng = np.random.default_rng(2)
    Y = rng.normal(0.2, 0.3, size=(2000, 8))
    V = rng.uniform(0.01, 0.1, size=(2000, 8))
    t0 = time.perf_counter()
    out = leave1out_batch(Y, V, method="DL")
    assert out.b.shape == (2000, 8)
    assert time.perf_counter() - t0 < 5.0  # 16 000 DL fits


def test_diagnostic_plots(tmp_path):
    pytest.importorskip("matplotlib")
    from metaparity.plots import plot_baujat, plot_leave1out

    y, v, slab = _bcg()
    res = mp.rma(y, v, method="REML", slab=slab)
    fig = plot_baujat(res, tmp_path / "baujat.png")
    assert (tmp_path / "baujat.png").read_bytes()[:4] == b"\x89PNG"
    assert fig.axes[0].get_ylabel() == "Influence on overall result"
    plot_leave1out(res, tmp_path / "sub" / "l1o.svg", transf=np.exp, xlab="Risk ratio")
    assert "<svg" in (tmp_path / "sub" / "l1o.svg").read_text()[:500]
    by_name = plot_leave1out(res, transf="exp")  # a transform's name, as in predict(transf=)
    by_func = plot_leave1out(res, transf=np.exp)
    assert by_name.axes[0].get_xlim() == by_func.axes[0].get_xlim()
    ee = plot_baujat(mp.rma(y, v, method="EE"), symbol="ids")
    assert ee.axes[0].get_xlabel() == "Contribution to overall heterogeneity"
    with pytest.raises(ValueError, match="format"):
        plot_leave1out(res, tmp_path / "x.gif")
    with pytest.raises(ValueError, match="symbol"):
        plot_baujat(res, symbol="pch")


# --------------------------------------------------------------------------- #
# live parity with metafor
# --------------------------------------------------------------------------- #
_L1O = [("estimate", "estimate"), ("se", "se"), ("zval", "zval"), ("pval", "pval"),
        ("ci_lb", "ci.lb"), ("ci_ub", "ci.ub"), ("Q", "Q"), ("Qp", "Qp"), ("tau2", "tau2"),
        ("I2", "I2"), ("H2", "H2")]  # fmt: skip
_INF = [("rstudent", "rstudent"), ("dffits", "dffits"), ("cook_d", "cook.d"),
        ("cov_r", "cov.r"), ("tau2_del", "tau2.del"), ("QE_del", "QE.del"), ("hat", "hat"),
        ("weight", "weight"), ("dfbs", "dfbs")]  # fmt: skip
#: largest relative difference per function over the live grid (printed with -s)
MAX_REL: dict[str, float] = {}


def _tolerance_name(q: str) -> str:
    # quantities outside the tolerance table fall back to the rule for "b"
    return {"Q": "QE", "Qp": "QEp", "estimate": "b", "tau2_del": "tau2", "QE_del": "QE"}.get(q, q)


def _check(part: str, q: str, ours, ref, method, conds, failures):
    ours = np.atleast_1d(np.asarray(ours, dtype=float))
    ref = np.atleast_1d(np.asarray(ref, dtype=float))
    assert ours.shape == ref.shape, f"{part}.{q}: shape {ours.shape} vs metafor {ref.shape}"
    for i, (o, r) in enumerate(zip(ours, ref, strict=True)):
        c = compare_values(_tolerance_name(q), o, r, method, conds[i] if conds is not None else 1.0)
        if np.isfinite(c.rel_diff) and abs(r) >= 1e-8:
            MAX_REL[part] = max(MAX_REL.get(part, 0.0), c.rel_diff)
        if not c.ok:
            failures.append(f"{part}.{q}[{i}]: ours={o!r} metafor={r!r} rel={c.rel_diff:.2e}")


def _table_conds(tab, test, kvec):
    """p-value condition numbers for a leave1out/cumul table with k studies per row."""
    zc = [pvalue_condition(z, "z" if (test == "z" or kk <= 1) else "t", max(kk - 1, 1))
          for z, kk in zip(tab.zval, kvec, strict=True)]  # fmt: skip
    qc = [pvalue_condition(q, "chi2", max(kk - 1, 1)) for q, kk in zip(tab.Q, kvec, strict=True)]
    return {"pval": zc, "Qp": qc}


_CASES = [(d, m, t) for d in DATASETS for m in ("EE", "DL", "REML", "PM") for t in ("z", "knha")]
_CASES += [("bcg", "REML", "t"), ("bcg", "ML", "adhoc"), ("normand1999", "SJ", "adhoc")]


@pytest.mark.r
@pytest.mark.parametrize("dataset,method,test", _CASES, ids=["-".join(c) for c in _CASES])
def test_diagnostics_match_metafor(metafor, dataset, method, test):
    y, v, slab = DATASETS[dataset]()
    ref = metafor.influence(y, v, method=method, test=test)
    assert ref["ok"], ref.get("error")
    res = mp.rma(y, v, method=method, test=test, slab=slab)
    k = res.k
    failures: list[str] = []
    ee = method in ("EE", "FE")

    l1o = leave1out(res)
    conds = _table_conds(l1o, test, np.full(k, k - 1))
    for ours, theirs in _L1O:
        if ee and ours == "tau2":
            assert len(ref["leave1out"]["tau2"]) == 0  # metafor: no tau2 for EE models
            continue
        _check("leave1out", ours, getattr(l1o, ours), ref["leave1out"][theirs], method,
               conds.get(ours), failures)  # fmt: skip

    inf = influence(res)
    for ours, theirs in _INF:
        _check("influence", ours, getattr(inf, ours), ref["influence"][theirs], method, None,
               failures)  # fmt: skip
    assert inf.inf.tolist() == ref["influence"]["inf"].tolist()

    for name, fn in (("rstudent", rstudent), ("rstandard", rstandard)):
        r = fn(res)
        for q in ("resid", "se", "z"):
            _check(name, q, getattr(r, q), ref[name][q], method, None, failures)

    c = cumul(res)
    conds = _table_conds(c, test, np.arange(1, k + 1))
    for ours, theirs in _L1O:
        if ee and ours == "tau2":
            continue
        _check("cumul", ours, getattr(c, ours), ref["cumul"][theirs], method, conds.get(ours),
               failures)  # fmt: skip

    bj = baujat(res)
    for q in ("x", "y"):
        _check("baujat", q, getattr(bj, q), ref["baujat"][q], method, None, failures)

    assert not failures, "\n".join(failures[:30])


@pytest.mark.r
def test_k2_and_k1_match_metafor(metafor):
    y, v, _ = _selinexor()
    ref = metafor.influence(y[:2], v[:2], method="REML", test="knha")
    res = mp.rma(y[:2], v[:2], method="REML", test="knha")
    failures: list[str] = []
    l1o = leave1out(res)
    for ours, theirs in _L1O:
        _check("leave1out", ours, getattr(l1o, ours), ref["leave1out"][theirs], "REML", None,
               failures)  # fmt: skip
    inf = influence(res)
    for ours, theirs in _INF:
        _check("influence", ours, getattr(inf, ours), ref["influence"][theirs], "REML", None,
               failures)  # fmt: skip
    assert inf.inf.tolist() == ref["influence"]["inf"].tolist()
    assert not failures, "\n".join(failures)
    one = metafor.influence(y[:1], v[:1], method="REML", test="z")
    for part in ("leave1out", "influence", "rstudent", "baujat"):
        assert one[part] == {"error": "Stopped because k = 1."}


@pytest.mark.r
def test_report_max_rel(metafor):
    """Runs last in this module: prints the largest relative difference per function."""
    if MAX_REL:
        print("\nmax rel diff vs metafor:", {k: f"{v:.1e}" for k, v in MAX_REL.items()})


@pytest.mark.r
def test_rscript_backend_gives_the_same_answers(metafor):
    from metaparity.parity.rbridge import RUnavailable, get_bridge

    try:
        rs = get_bridge("rscript")
    except RUnavailable as err:  # pragma: no cover
        from metaparity.parity.pytest_plugin import r_required

        if r_required():
            pytest.fail(f"Rscript backend unavailable under CI=true: {err}")
        pytest.skip(str(err))
    y, v = Y3[:4], V3[:4]
    a = rs.influence(y, v, method="REML", test="knha")
    b = metafor.influence(y, v, method="REML", test="knha")
    for part in ("leave1out", "influence", "rstudent", "rstandard", "cumul", "baujat"):
        for q, val in b[part].items():
            np.testing.assert_array_equal(a[part][q], val)
