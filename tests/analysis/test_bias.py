"""Small-study / publication-bias methods: ranktest, regtest, trimfill, fsn (+ plots).

Unit tests run without R (recorded metafor 3.8-1 values where a number is checked);
``@pytest.mark.r`` tests compare every quantity with live metafor (``mp_bias`` in
``metaparity/r/metaparity.R``) at the tolerance table's 1e-10.
"""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaparity as mp
from metaparity.analysis.bias import _kendall, _pkendall, fsn, ranktest, regtest, trimfill
from metaparity.parity.tolerances import compare_values, pvalue_condition

ROOT = Path(__file__).resolve().parents[2]
METADAT = ROOT / "fixtures" / "metadat"


def _bcg():
    b = pd.read_csv(METADAT / "dat.bcg.csv")
    return mp.escalc("RR", ai=b.tpos, bi=b.tneg, ci=b.cpos, di=b.cneg)


def _normand():
    n = pd.read_csv(METADAT / "dat.normand1999.csv")
    return mp.escalc("SMD", m1i=n.m1i, sd1i=n.sd1i, n1i=n.n1i, m2i=n.m2i, sd2i=n.sd2i, n2i=n.n2i)


def _selinexor():
    return mp.escalc("PR", xi=[39, 16, 150, 25, 9, 14], ni=[122, 78, 195, 40, 18, 21])


DATASETS = {"bcg": _bcg, "normand1999": _normand, "selinexor": _selinexor}


def _fit(dat, method, test="z"):
    return mp.rma(data=dat, method=method, test=test)


# --------------------------------------------------------------------------- #
# unit tests (no R)
# --------------------------------------------------------------------------- #
def test_kendall_exact_distribution_by_enumeration():
    for n in (3, 4, 5, 6):
        perms = list(itertools.permutations(range(n)))
        conc = [sum(p[i] < p[j] for i in range(n) for j in range(i + 1, n)) for p in perms]
        for q in range(n * (n - 1) // 2 + 1):
            assert _pkendall(q, n) == pytest.approx(np.mean(np.array(conc) <= q), abs=1e-15)


def test_kendall_tau_b_with_ties_matches_scipy():
    from scipy import stats

    x = np.array([1.0, 2, 2, 3, 4, 4, 4, 5])
    y = np.array([2.0, 1, 3, 3, 5, 4, 6, 6])
    tau, p, exact = _kendall(x, y)
    ref = stats.kendalltau(x, y)  # tau-b, normal approximation with tie-corrected variance
    assert not exact
    assert tau == pytest.approx(ref.statistic, rel=1e-14)
    assert p == pytest.approx(ref.pvalue, rel=1e-12)


def test_recorded_metafor_values_bcg():
    """metafor 3.8-1 on dat.bcg (RR), printed at 17 digits (see docs/bias.md)."""
    dat = _bcg()
    ee, dl = _fit(dat, "EE"), _fit(dat, "DL")
    r = ranktest(ee)
    assert r.tau == pytest.approx(0.02564102564102564, rel=1e-13)
    assert r.pval == pytest.approx(0.95236190796086628, rel=1e-13)
    g = regtest(ee)
    assert g.zval == pytest.approx(-4.8019462450234638, rel=1e-12)
    assert g.est == pytest.approx(-0.19092864235982066, rel=1e-12)
    g = regtest(dl, model="lm")
    assert (g.zval, g.dfs) == (pytest.approx(-1.4012820022893326, rel=1e-12), 11.0)
    assert g.ci_lb == pytest.approx(-0.67533235027608185, rel=1e-12)
    t = trimfill(ee)
    assert (t.k0, t.side) == (4, "right")
    assert t.se_k0 == pytest.approx(2.3853255911929505, rel=1e-12)
    assert t.b == pytest.approx(-0.2910259921063531, rel=1e-12)
    t = trimfill(ee, estimator="R0")
    assert (t.k0, t.p_k0, t.se_k0) == (4, 0.03125, pytest.approx(math.sqrt(10), rel=1e-15))
    t = trimfill(dl)
    assert (t.k0, t.side) == (1, "right")
    assert t.b == pytest.approx(-0.65607321298860177, rel=1e-12)
    assert fsn(dat.yi, dat.vi).fsnum == 598
    assert fsn(dat.yi, dat.vi).pval == pytest.approx(8.813956896261146e-30, rel=1e-12)
    assert fsn(dat.yi, type="Orwin").fsnum == 13
    assert fsn(dat.yi, dat.vi, type="Orwin", weighted=True, target=math.log(0.95)).fsnum == 97
    assert fsn(dat.yi, dat.vi, type="Rosenberg").fsnum == 370


def test_trimfill_filled_studies_mirror_the_trimmed_ones():
    dat = _bcg()
    t = trimfill(_fit(dat, "EE"))
    assert t.fill.sum() == t.k0 == t.yi_fill.size
    np.testing.assert_array_equal(t.yi[~t.fill], dat.yi.to_numpy())
    # right side: the k0 smallest outcomes mirrored about the estimate of the trimmed data
    lo = np.sort(dat.yi.to_numpy())[: t.k0]
    centre = (np.sort(t.yi_fill) + lo[::-1]) / 2
    assert np.ptp(centre) < 1e-12
    assert set(np.round(t.vi_fill, 12)) <= set(np.round(dat.vi.to_numpy(), 12))
    assert t.fit.k == dat.shape[0] + t.k0


def test_trimfill_side_forced_and_k0_zero_returns_the_model():
    dat = _selinexor()
    res = _fit(dat, "DL", test="knha")
    t = trimfill(res, side="left")
    if t.k0 == 0:
        assert t.fit is res
    t2 = trimfill(res, side="right", test="knha", level=90)
    assert t2.fit.test == "knha" and t2.fit.level == 90


def test_trimfill_negative_variance_of_l0_is_nan_with_warning():
    ee = _fit(_bcg(), "EE")
    with pytest.warns(UserWarning, match="variance of L0 is negative"):
        t = trimfill(ee, side="left")
    assert t.k0 == 0 and math.isnan(t.se_k0)  # metafor: NaN ('NaNs produced')


@pytest.mark.parametrize("fn", ["ranktest", "regtest", "trimfill"])
@pytest.mark.parametrize("k", [1, 2])
def test_k_too_small_is_a_clear_error(fn, k):
    y, v = [0.1, 0.5][:k], [0.01, 0.02][:k]
    res = mp.rma(y, v, method="EE")
    f = {"ranktest": ranktest, "regtest": regtest, "trimfill": trimfill}[fn]
    with pytest.raises(ValueError, match=rf"{fn}: k = {k} studies"):
        f(res)


def test_regtest_input_errors():
    dat = _bcg()
    res = _fit(dat, "REML")
    with pytest.raises(ValueError, match="unknown predictor"):
        regtest(res, predictor="se")
    with pytest.raises(ValueError, match="needs the sample sizes"):
        regtest(dat.yi, dat.vi, predictor="ni")
    with pytest.raises(ValueError, match="taken from the fitted model"):
        regtest(res, method="DL")
    # escalc() records ni, so a model fitted on its output has them
    assert np.isfinite(regtest(res, predictor="ninv").zval)
    assert math.isnan(regtest(res, predictor="ni").est)  # no limit estimate (metafor: NULL)
    with pytest.raises(ValueError, match="user weights"):
        regtest(mp.rma(dat.yi, dat.vi, weights=np.ones(len(dat)), method="DL"))


def test_regtest_vectors_use_metafor_defaults():
    dat = _bcg()
    a = regtest(dat.yi, dat.vi)
    b = regtest(_fit(dat, "REML"))
    assert (a.method, a.test, a.level) == ("REML", "z", 95.0)
    # (metafor with its default control prints -0.80332911; at the REML root, as with the
    # tight control of the live tests, it is -0.80332919: compared there at 1e-10)
    assert a.zval == b.zval


def test_fsn_rules():
    y, v = np.array([0.2, 0.4, 0.6]), np.array([0.01, 0.02, 0.03])
    # exactly k (mean - target) / target = 3: metafor does not round 3 + 4e-16 up
    assert fsn(y, type="Orwin", target=0.2).fsnum == 3
    f = fsn(y, type="Orwin", target=-0.2)  # a target of the other sign is flipped
    assert f.target == 0.2 and math.isnan(f.pval)
    assert fsn(y, v, type="Orwin", target=1.0).fsnum == 0  # mean below target
    assert fsn([0.01, -0.02, 0.0], [0.1, 0.1, 0.1]).fsnum == 0  # not significant
    with pytest.raises(ValueError, match="unknown type"):
        fsn(y, v, type="rosenthal")
    with pytest.raises(ValueError, match="alpha"):
        fsn(y, v, alpha=5)
    with mp.metafor_version("3.8"):  # metafor 3.8: a fitted model's yi/vi, the type given
        r = fsn(mp.rma(y, v), type="Rosenberg")
    assert r.meanes == pytest.approx(float(np.sum(y / v) / np.sum(1 / v)), rel=1e-14)
    with mp.metafor_version("4.8"), pytest.warns(UserWarning, match="type='General'"):
        r = fsn(mp.rma(y, v), type="Rosenberg")  # metafor >= 4.4: the general method
    assert (r.type, r.method) == ("General", "REML")


def test_results_serialise():
    res = _fit(_bcg(), "DL")
    for obj in (ranktest(res), regtest(res), trimfill(res), fsn(res.yi, res.vi)):
        d = obj.to_dict()
        assert isinstance(d, dict) and d


# --------------------------------------------------------------------------- #
# plots
# --------------------------------------------------------------------------- #
def test_plots_write_png_and_svg(tmp_path):
    pytest.importorskip("matplotlib")
    from metaparity.plots import funnel, labbe, radial

    b = pd.read_csv(METADAT / "dat.bcg.csv")
    dat = _bcg()
    ee = _fit(dat, "EE")
    tf = trimfill(ee)
    files = {
        "funnel.png": lambda p: funnel(ee, p),
        "funnel_tf.svg": lambda p: funnel(ee, p, trimfill=tf),
        "contour.png": lambda p: funnel(_fit(dat, "REML"), p, contours=(0.90, 0.95, 0.99)),
        "radial.png": lambda p: radial(_fit(dat, "REML"), p),
        "labbe.svg": lambda p: labbe(b.tpos, b.tpos + b.tneg, b.cpos, b.cpos + b.cneg, p),
    }
    for name, draw in files.items():
        fig = draw(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 1000
        assert fig.axes
    head = (tmp_path / "funnel.png").read_bytes()[:8]
    assert head == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "labbe.svg").read_text()[:200].lstrip().startswith("<?xml")
    ax = funnel(ee).axes[0]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # inverted: SE 0 at the top
    funnel(ee, tmp_path / "f.pdf")  # every plot saves by suffix: png, svg or pdf
    assert (tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ValueError, match=r"unknown figure format '\.gif'"):
        funnel(ee, tmp_path / "f.gif")
    with pytest.raises(ValueError, match="contours"):
        funnel(ee, contours=(0.9, -1))


# --------------------------------------------------------------------------- #
# live parity with metafor
# --------------------------------------------------------------------------- #
_REG_Q = ("zval", "pval", "dfs", "est", "ci_lb", "ci_ub")
_TF_FIT_Q = ("b", "se", "zval", "pval", "ci_lb", "ci_ub", "tau2")


_ROWS: dict[tuple[str, str, str], list] = {}


def _rows(metafor, dataset, method, test):
    """Comparisons of one case, computed once per session (parity test and summary)."""
    key = (dataset, method, test)
    if key not in _ROWS:
        _ROWS[key] = _compare_all(metafor, DATASETS[dataset](), method, test)
    return _ROWS[key]


def _compare_all(metafor, dat, method, test="z"):
    """(function, Comparison) for every quantity of mp_bias on one data set."""
    with mp.metafor_version(metafor.versions()["metafor"]):  # mirror the metafor asked
        return _compare_in_version(metafor, dat, method, test)


def _compare_in_version(metafor, dat, method, test):
    yi, vi = dat.yi.to_numpy(), dat.vi.to_numpy()
    ni = np.asarray(dat.attrs["ni"], dtype=float)
    ref = metafor.bias(yi, vi, method=method, test=test, ni=ni)
    assert ref["ok"], ref.get("error")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = mp.rma(data=dat, method=method, test=test)  # escalc() records ni
    assert res.ni is not None
    rows = []

    def add(fn, q, ours, theirs, cond=1.0):
        rows.append((fn, compare_values(q, ours, theirs, method, cond)))

    r = ranktest(res)
    add("ranktest", "tau", r.tau, ref["ranktest"]["tau"])
    add("ranktest", "pval", r.pval, ref["ranktest"]["pval"])

    for key, g in ref["regtest"].items():
        model, pred = key.split("_")
        assert "error" not in g, (key, g)
        o = regtest(res, model=model, predictor=pred)
        dist = "z" if math.isnan(o.dfs) else "t"
        cond = pvalue_condition(o.zval, dist, o.dfs)
        for q in _REG_Q:
            add(f"regtest[{key}]", q, getattr(o, q), g[q], cond if q == "pval" else 1.0)
        b = o.fit.b if model == "rma" else o.fit["b"]
        for j in range(2):
            add(f"regtest[{key}]", "b", b[j], g["b"][j])
        if model == "rma":
            add(f"regtest[{key}]", "tau2", o.fit.tau2, g["tau2"])

    for key, t in ref["trimfill"].items():
        assert "error" not in t, (key, t)
        est, *side = key.split("_")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # se_k0 NaN, as metafor
            o = trimfill(res, estimator=est, side=side[0] if side else None)
        fn = f"trimfill[{key}]"
        assert (o.k0, o.side, o.fit.k) == (int(t["k0"]), t["side"], int(t["k"])), (key, o, t)
        np.testing.assert_array_equal(o.fill, t["fill"])
        add(fn, "k", o.k0, t["k0"])
        add(fn, "se_k0", o.se_k0, t["se_k0"])
        add(fn, "pval", o.p_k0, t["p_k0"])
        for q, arr in (("yi", o.yi), ("vi", o.vi)):
            for a, b in zip(arr, t[q], strict=True):
                add(fn, q, a, b)
        f = o.fit
        cond = pvalue_condition(f.zval, "z" if f.test == "z" else "t", f.dfs)
        for q in _TF_FIT_Q:
            add(fn, q, getattr(f, q), t[q], cond if q == "pval" else 1.0)

    for key, f in ref["fsn"].items():
        typ = key.split("_")[0]
        kw = {"weighted": True} if key == "Orwin_weighted" else {}
        if key.endswith("_01"):
            kw["alpha"] = 0.01
        o = fsn(yi, vi, type=typ, **kw)
        assert o.fsnum == int(f["fsnum"]), (key, o, f)
        for q in ("pval", "meanes", "target"):
            add(f"fsn[{key}]", q, getattr(o, q), f[q])
    return rows


CASES = [(d, m, "z") for d in DATASETS for m in ("EE", "DL", "REML")]
CASES += [("bcg", "REML", "knha"), ("normand1999", "PM", "knha"), ("selinexor", "ML", "z")]


@pytest.mark.r
@pytest.mark.parametrize("dataset,method,test", CASES, ids=["|".join(c) for c in CASES])
def test_bias_live_parity(metafor, dataset, method, test):
    rows = _rows(metafor, dataset, method, test)
    bad = [f"{fn} {c.quantity}: ours={c.ours!r} metafor={c.ref!r}" for fn, c in rows if not c.ok]
    assert len(rows) > 100
    assert not bad, "\n".join(bad[:20])


@pytest.mark.r
def test_bias_live_summary(metafor, capsys):
    """Report: quantities compared and the largest relative difference per function."""
    per: dict[str, list[float]] = {}
    n = 0
    for d, m, t in CASES:
        for fn, c in _rows(metafor, d, m, t):
            n += 1
            base = fn.split("[")[0]
            if np.isfinite(c.rel_diff) and abs(c.ref) >= 1e-8:
                per.setdefault(base, []).append(c.rel_diff)
            assert c.ok, (d, m, fn, c)
    with capsys.disabled():
        print(f"\nbias parity: {n} quantities; max rel diff " + ", ".join(
            f"{k} {max(v):.2e}" for k, v in sorted(per.items())))  # fmt: skip


@pytest.mark.r
def test_bias_live_small_k(metafor):
    """k = 2: metafor stops (REML regtest/trimfill) or returns a degenerate tau = 1, p = 1;
    metaparity raises for all three (documented)."""
    ref = metafor.bias([0.1, 0.5], [0.01, 0.02], method="REML", test="z")
    assert "error" in ref["regtest"]["rma_sei"]
    assert "error" in ref["trimfill"]["L0"]
    assert ref["ranktest"]["pval"] == 1.0
    res = mp.rma([0.1, 0.5], [0.01, 0.02])
    for f in (ranktest, regtest, trimfill):
        with pytest.raises(ValueError, match="k = 2"):
            f(res)
