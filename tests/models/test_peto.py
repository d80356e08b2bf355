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

import numpy as np
import pytest

from metaparity import escalc, rma_peto
from metaparity._core.io import InputError
from metaparity.models.peto import PetoResult
from peto_cases import OPTIONS, SETS, SYNTH, check_against_metafor, close, r_args, tables, yusuf


@pytest.mark.r
@pytest.mark.parametrize("opts", list(OPTIONS.values()), ids=list(OPTIONS))
@pytest.mark.parametrize("name", list(SETS))
def test_rma_peto_matches_metafor(metafor, name, opts):
    check_against_metafor(metafor, SETS[name], opts)


@pytest.mark.r
@pytest.mark.parametrize("name", list(SETS))
def test_summary_matches_metafor_print(metafor, name):
    data = SETS[name]
    ref = metafor.call("mp_rma_peto", **r_args(data, {}))
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
    close(dat["yi"], yi, "yi")
    close(dat["vi"], vi, "vi")


# --------------------------------------------------------------------------- without R


def test_yusuf_table6_as_metafor_prints_it():
    """metafor 3.8-1: ``rma.peto(ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.yusuf1985,
    subset=(table=="6"))`` prints k = 21, Q(df = 17) = 10.8275, p-val = 0.8654, estimate
    -0.0692, se 0.1194, CI -0.3031 to 0.1648 (OR 0.9332, 0.7385 to 1.1792)."""
    with pytest.warns(UserWarning, match="with NAs omitted from model fitting"):
        res = rma_peto(**yusuf("6"))
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
    d = tables("dat.li2007")
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
