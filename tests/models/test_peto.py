"""Peto's method (``rma_peto``) and ``escalc("PETO")`` at parity with metafor.

R, for each case below (``dat`` one of the data sets; ``...`` the case's options)::

    library(metafor)
    res <- rma.peto(ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat, ...)
    res$beta; res$se; res$zval; res$pval; res$ci.lb; res$ci.ub
    res$QE; res$QEp; res$I2; res$H2; res$k; res$k.yi; res$k.pos
    predict(res, transf=exp); leave1out(res); leave1out(res, transf=exp); cumul(res)

(the live tests run exactly this through ``mp_rma_peto`` in
``src/metaparity/parity/r/fam_peto.R``).  Everything is closed form: rtol 1e-10.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaparity import escalc, rma_peto
from metaparity._core.io import InputError
from metaparity.models.peto import PetoResult

ROOT = Path(__file__).resolve().parents[2]
META = ROOT / "fixtures" / "metadat"
RTOL = 1e-10  # closed form
ATOL = 1e-13  # for quantities that are 0 (I2) or ~1e-16


def _tables(name: str) -> pd.DataFrame:
    return pd.read_csv(META / f"{name}.csv")


def _yusuf(table: str) -> dict:
    d = _tables("dat.yusuf1985")
    d = d[d["table"].astype(str) == table]
    return _counts(d, d["trial"])


def _counts(d: pd.DataFrame, labels) -> dict:
    if "tpos" in d:
        ai, bi, ci, di = (d[c].to_numpy(float) for c in ("tpos", "tneg", "cpos", "cneg"))
    else:
        ai, ci = d["ai"].to_numpy(float), d["ci"].to_numpy(float)
        bi, di = d["n1i"].to_numpy(float) - ai, d["n2i"].to_numpy(float) - ci
    return dict(ai=ai, bi=bi, ci=ci, di=di, slab=[str(s) for s in labels])


#: a synthetic set with zero cells, two double-zero tables (no events; only events) and a
#: table with a missing cell
SYNTH = dict(
    ai=np.array([0, 3, 0, 5, 2, 0, 7, 4.0]),
    bi=np.array([10, 7, 10, 5, 8, 12, 0, np.nan]),
    ci=np.array([0, 2, 4, 6, 1, 3, 9, 2.0]),
    di=np.array([10, 8, 6, 4, 9, 9, 0, 8.0]),
    slab=[f"s{i}" for i in range(1, 9)],
)


def _sets() -> dict[str, dict]:
    out = {f"yusuf1985 table {t}": _yusuf(t)
           for t in sorted(_tables("dat.yusuf1985")["table"].astype(str).unique())}  # fmt: skip
    bcg = _tables("dat.bcg")
    out["bcg"] = _counts(bcg, bcg["study"])
    li = _tables("dat.li2007")
    out["li2007"] = _counts(li, li["study"])
    nw = _tables("dat.nielweise2007")
    out["nielweise2007"] = _counts(nw, nw["label"])
    out["synthetic double-zero"] = SYNTH
    return out


SETS = _sets()
OPTIONS = {
    "defaults": dict(),
    "level=90": dict(level=90),
    "drop00=False": dict(drop00=False),
    "drop00=(True,True)": dict(drop00=(True, True)),
    "add=0.25,to=all": dict(add=0.25, to="all"),
    "to=if0all": dict(to="if0all"),
    "to=none,drop00=False": dict(to="none", drop00=False),
    "tables corrected": dict(add=(0.5, 0.5), to=("only0", "only0"), drop00=(True, False)),
}
FIELDS = ("b", "se", "zval", "pval", "ci_lb", "ci_ub", "QE", "QEp", "I2", "H2", "tau2")
TABLE = ("estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "Q", "Qp", "I2", "H2")


def _close(ours, ref, what: str) -> float:
    """Assert agreement (NaN where metafor has NA) and return the max relative difference."""
    a = np.atleast_1d(np.asarray(ours, dtype=float))
    r = np.atleast_1d(np.asarray([np.nan if v is None else v for v in np.atleast_1d(ref)], float))
    assert a.shape == r.shape, f"{what}: shape {a.shape} != metafor {r.shape}"
    np.testing.assert_array_equal(np.isnan(a), np.isnan(r), err_msg=what)
    ok = ~np.isnan(r)
    np.testing.assert_allclose(a[ok], r[ok], rtol=RTOL, atol=ATOL, err_msg=what)
    if not ok.any():
        return 0.0
    return float(np.max(np.abs(a[ok] - r[ok]) / np.maximum(np.abs(r[ok]), 1e-300)))


def _r_args(data: dict, opts: dict) -> dict:
    args = {k: data[k] for k in ("ai", "bi", "ci", "di")}
    for k in ("add", "to", "drop00"):
        if k in opts:
            v = opts[k]
            args[k] = list(v) if isinstance(v, tuple) else v
    args["level"] = opts.get("level", 95)
    return args


def check_against_metafor(metafor, data: dict, opts: dict) -> dict[str, float]:
    """Fit ours and metafor's on ``data`` with ``opts``; assert parity; return max rel diffs."""
    ref = metafor.call("mp_rma_peto", **_r_args(data, opts))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = rma_peto(**{k: data[k] for k in ("ai", "bi", "ci", "di", "slab")}, **opts)
        except InputError as err:
            assert ref["ok"] is False, f"we refused ({err}) where metafor fitted"
            return {}
    assert ref["ok"], f"metafor failed: {ref.get('error')}"
    diffs = {}
    f = ref["fields"]
    for q in FIELDS:
        diffs[q] = _close(getattr(res, q), f[q], q)
    for q in ("k", "k_yi", "k_pos"):
        assert getattr(res, q) == int(f[q]), q
    diffs["yi"] = _close(res.yi, ref["yi"], "yi")
    diffs["vi"] = _close(res.vi, ref["vi"], "vi")
    p, pt = res.predict(), res.predict(transf="exp")
    for q in ("pred", "se", "ci_lb", "ci_ub"):
        diffs[f"predict.{q}"] = _close(getattr(p, q), ref["predict"][q], f"predict {q}")
    for q in ("pred", "ci_lb", "ci_ub"):
        diffs[f"predict(exp).{q}"] = _close(getattr(pt, q), ref["predict_transf"][q], q)
    if ref.get("leave1out") is not None:
        for key, tr in (("leave1out", None), ("leave1out_exp", "exp")):
            tab = res.leave1out(transf=tr)
            for q in TABLE:
                if tr and q == "se":
                    continue
                diffs[f"{key}.{q}"] = _close(getattr(tab, q), ref[key][q], f"{key} {q}")
    cu = res.cumul()
    for q in TABLE:
        diffs[f"cumul.{q}"] = _close(getattr(cu, q), ref["cumul"][q], f"cumul {q}")
    if ref["cumul"].get("k") is not None:  # metafor >= 4.x reports k per step
        np.testing.assert_array_equal(cu.k, np.asarray(ref["cumul"]["k"], float))
    ours_w = {str(w.message) for w in caught}
    for w in ref["warnings"]:  # ours say it in metafor's words (escalc's: quoting them)
        assert any(w in o for o in ours_w), f"metafor warned {w!r}; we: {sorted(ours_w)}"
    assert res.summary().splitlines()[0] == ref["printout"].strip().splitlines()[0]
    return diffs


@pytest.mark.r
@pytest.mark.parametrize("opts", list(OPTIONS.values()), ids=list(OPTIONS))
@pytest.mark.parametrize("name", list(SETS))
def test_rma_peto_matches_metafor(metafor, name, opts):
    check_against_metafor(metafor, SETS[name], opts)


@pytest.mark.r
@pytest.mark.parametrize("name", list(SETS))
def test_summary_matches_metafor_print(metafor, name):
    data = SETS[name]
    ref = metafor.call("mp_rma_peto", **_r_args(data, {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = rma_peto(**{k: data[k] for k in ("ai", "bi", "ci", "di")})
    theirs = [ln.rstrip() for ln in ref["printout"].strip("\n").splitlines()]
    assert res.summary().splitlines() == theirs


@pytest.mark.r
@pytest.mark.parametrize("opts", [dict(), dict(drop00=True), dict(to="all", add=0.25),
                                  dict(to="none")], ids=str)  # fmt: skip
@pytest.mark.parametrize("name", ["li2007", "nielweise2007", "synthetic double-zero"])
def test_escalc_peto_matches_metafor(metafor, name, opts):
    data = {k: SETS[name][k] for k in ("ai", "bi", "ci", "di")}
    yi, vi = metafor.escalc("PETO", **data, **opts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dat = escalc("PETO", **data, **opts)
    _close(dat["yi"], yi, "yi")
    _close(dat["vi"], vi, "vi")


# --------------------------------------------------------------------------- without R


def test_yusuf_table6_as_metafor_prints_it():
    """metafor 3.8-1: ``rma.peto(ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.yusuf1985,
    subset=(table=="6"))`` prints k = 21, Q(df = 17) = 10.8275, p-val = 0.8654, estimate
    -0.0692, se 0.1194, CI -0.3031 to 0.1648 (OR 0.9332, 0.7385 to 1.1792)."""
    with pytest.warns(UserWarning, match="with NAs omitted from model fitting"):
        res = rma_peto(**_yusuf("6"))
    assert isinstance(res, PetoResult)
    assert (res.k, res.k_pos) == (21, 18)
    assert [round(x, 4) for x in (res.QE, res.QEp, res.b, res.se, res.ci_lb, res.ci_ub)] == [
        10.8275, 0.8654, -0.0692, 0.1194, -0.3031, 0.1648,
    ]  # fmt: skip
    p = res.predict(transf="exp")
    assert [round(x, 4) for x in (p.pred, p.ci_lb, p.ci_ub)] == [0.9332, 0.7385, 1.1792]
    assert "Q(df = 17) = 10.8275, p-val = 0.8654" in res.summary()


def test_peto_yi_vi_are_o_minus_e_over_v():
    a, b, c, d = 4.0, 119.0, 11.0, 128.0
    n1, n2, n = a + b, c + d, a + b + c + d
    e = (a + c) * n1 / n
    v = (a + c) * (b + d) * n1 * n2 / (n * n * (n - 1))
    dat = escalc("PETO", ai=[a], bi=[b], ci=[c], di=[d])
    np.testing.assert_allclose(dat["yi"], [(a - e) / v], rtol=1e-14)
    np.testing.assert_allclose(dat["vi"], [1 / v], rtol=1e-14)


def test_double_zero_tables_count_in_k_but_not_in_k_yi():
    with pytest.warns(UserWarning):
        res = rma_peto(**SYNTH)
    # s8 has a missing cell: left out; s1 (no events) and s7 (only events): V = 0
    assert (res.k, res.k_yi, res.k_pos) == (7, 5, 5)
    assert res.yi.size == 5 and res.tau2 == 0.0
    d = res.to_dict()
    assert d["k"] == 7 and d["measure"] == "PETO" and d["tau2"] == 0.0


def test_pooled_estimate_is_invariant_to_study_order():
    data = SETS["bcg"]
    perm = np.random.default_rng(1).permutation(len(data["ai"]))
    res = rma_peto(**{k: np.asarray(v)[perm] if k != "slab" else None for k, v in data.items()})
    ref = rma_peto(**{k: v for k, v in data.items() if k != "slab"})
    for q in ("b", "se", "QE", "I2"):
        assert getattr(res, q) == pytest.approx(getattr(ref, q), rel=1e-13)


def test_leave1out_and_cumul_rows_are_refits():
    data = {k: v for k, v in SETS["bcg"].items()}
    res = rma_peto(**data)
    l1o = res.leave1out()
    assert len(l1o.slab) == 13 and l1o.slab[0] == data["slab"][0]
    sub = rma_peto(**{k: np.delete(np.asarray(v), 0) for k, v in data.items()})
    assert l1o.estimate[0] == pytest.approx(sub.b, rel=1e-14)
    cu = res.cumul(order=np.arange(13)[::-1])
    assert cu.estimate[-1] == pytest.approx(res.b, rel=1e-13)
    assert cu.ids.tolist() == list(range(12, -1, -1))
    ex = res.leave1out(transf="exp")
    np.testing.assert_allclose(ex.estimate, np.exp(l1o.estimate), rtol=1e-15)
    assert np.isnan(ex.se).all()
    assert list(l1o.to_frame().columns)[:3] == ["k", "estimate", "se"]


def test_columns_by_name_with_data():
    d = _tables("dat.li2007")
    res = rma_peto(ai="ai", n1i="n1i", ci="ci", n2i="n2i", data=d, slab="study")
    ref = rma_peto(ai=d.ai, n1i=d.n1i, ci=d.ci, n2i=d.n2i)
    assert res.b == ref.b and res.slab[0] == "Morton 1984"


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(ai=[3, 12], n1i=[10, 10], ci=[1, 2], n2i=[10, 10]), r"study 'B' \(row 2\) has ai=12 > n1i=10"),
        (dict(ai=[3, 2], bi=[7, 8], n1i=[10, 11], ci=[1, 2], n2i=[10, 10]), r"study 'B' \(row 2\).*n1i=11 != ai \+ bi"),
        (dict(ai=[3, -1], bi=[7, 8], ci=[1, 2], di=[9, 8]), r"study 'B' \(row 2\) has ai=-1"),
        (dict(ai=[0, 0], bi=[7, 8], ci=[0, 0], di=[9, 8]), "Peto's method cannot be used"),
        (dict(ai=[3, 2], bi=[7, 8], ci=[1, 2]), "needs ai, bi, ci, di"),
        (dict(ai=[3, 2], bi=[7, 8], ci=[1, 2], di=[9, 8], to="some"), "to='some' is not one of"),
        (dict(ai=[3, 2], bi=[7, 8], ci=[1, 2], di=[9, 8], add=(0.5, 0.5, 1)), "one or two values"),
    ],
)  # fmt: skip
def test_bad_tables_are_refused_naming_the_study(kw, match):
    with pytest.raises(InputError, match=match):
        rma_peto(**kw, slab=["A", "B"])


def test_na_warning_follows_the_metafor_release():
    from metaparity import metafor_version

    data = dict(ai=[3, np.nan, 4], bi=[7, 8, 6], ci=[1, 2, 3], di=[9, 8, 7])
    with metafor_version("3.8"), pytest.warns(UserWarning, match="^Tables with NAs omitted"):
        rma_peto(**data)
    with metafor_version("4.8"), pytest.warns(UserWarning, match="^1 study with NAs omitted"):
        rma_peto(**data)
