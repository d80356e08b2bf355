"""rma()'s interface as metafor has it: ``measure=`` with escalc's inputs, ``add/to/drop00``,
``subset=``, ``tau2=`` (fixed), ``weighted=False``, ``na_action``, sampling variances of 0
and ``weights=`` with moderators.

Every feature is checked live against metafor (marked ``r``): the same call is made in R
(:meth:`metaparity.parity.rbridge._Bridge.rma_iface`, metafor's own ``rma()`` with the
same arguments as values) and every reported number is compared with the tolerance
table; where metafor stops, metaparity must stop too, quoting metafor's reason.  The
unit tests (no R) cover the bad-input errors.
"""

from __future__ import annotations

import collections
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import metaparity as mp
from metaparity import escalc, rma, rma_mods
from metaparity.models.inputs import EFFECT_ARGS
from metaparity.parity.compare import summarise
from metaparity.parity.tolerances import Comparison, compare_values, pvalue_condition

ROOT = Path(__file__).resolve().parents[2]
META = ROOT / "fixtures" / "metadat"
COEF = ("b", "se", "zval", "pval", "ci_lb", "ci_ub")
STATS: list[tuple[str, Comparison]] = []
BY_METHOD: list[tuple[str, Comparison]] = []
COUNTS: collections.Counter = collections.Counter()
ALL = ["EE", "DL", "DLIT", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML", "EB", "PM", "PMM"]
MAIN = ["EE", "DL", "REML", "ML", "PM", "HE", "SJ", "EB"]
TESTS = ["z", "knha"]


def _bcg() -> pd.DataFrame:
    d = pd.read_csv(META / "dat.bcg.csv")
    d["n1"] = d.tpos + d.tneg
    d["n2"] = d.cpos + d.cneg
    d["random"] = d.alloc == "random"
    return d


def _bcg_zeros() -> pd.DataFrame:
    """dat.bcg with zero cells: study 1 has no treated events, study 4 none at all (00),
    study 7 no control events -- the continuity corrections have something to do."""
    d = _bcg()
    d.loc[0, "tpos"] = 0
    d.loc[3, ["tpos", "cpos"]] = 0
    d.loc[6, "cpos"] = 0
    return d


def _normand() -> pd.DataFrame:
    return pd.read_csv(META / "dat.normand1999.csv")


def _pritz() -> pd.DataFrame:
    return pd.read_csv(META / "dat.pritz1997.csv")


# --------------------------------------------------------------------------- #
# the live harness: the same call in metafor and here, every number compared
# --------------------------------------------------------------------------- #
_PER_STUDY = {"yi", "vi", "sei", "weights", "slab", "subset", *EFFECT_ARGS}


def _r_call(kw: dict[str, Any], data: pd.DataFrame | None) -> tuple[dict, pd.DataFrame | None, Any]:
    """metafor's arguments for our keyword arguments: column names become values, a
    subset becomes a logical vector, moderators a formula evaluated in ``data``."""
    args: dict[str, Any] = {}
    mods = None
    k = None if data is None else len(data)
    for n, x in kw.items():
        if x is None or n == "na_action":
            continue
        if n == "mods":
            mods = x
            continue
        if n in _PER_STUDY and isinstance(x, str):
            x = data[x]  # type: ignore[index]
        if n == "subset":
            a = np.asarray(x)
            if a.dtype != bool:
                mask = np.zeros(k or len(kw["yi"]), dtype=bool)
                mask[a] = True
                a = mask
            x = a
        args[n] = x
    rdata = None
    if mods is not None:
        cols = [c for c in data.columns if c != "slab"]  # type: ignore[union-attr]
        rdata = data[cols]  # type: ignore[index]
    return args, rdata, mods


def _ours(kw: dict[str, Any], data: pd.DataFrame | None):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = rma(**kw, data=data)
        except ValueError as err:
            return err, [str(w.message) for w in caught]
    return res, [str(w.message) for w in caught]


def _compare(res, ref: dict[str, Any]) -> list[Comparison]:
    """Every number metafor reports for the fit, with the table's tolerance."""
    method = res.method
    fit = ref["fit"]
    out: list[Comparison] = []
    df = res.k - res.p
    dist = "z" if res.test == "z" else "t"
    for q in COEF:
        ours = np.atleast_1d(np.asarray(getattr(res, q), dtype=float))
        theirs = np.atleast_1d(np.asarray(fit[q], dtype=float))
        assert ours.size == theirs.size, f"{q}: {ours.size} coefficients vs metafor's {theirs.size}"
        z = np.atleast_1d(res.zval)
        for j in range(ours.size):
            cond = pvalue_condition(z[j], dist, max(df, 1)) if q == "pval" else 1.0
            out.append(compare_values(f"{q}[{j + 1}]", ours[j], theirs[j], method, cond))
    m = res.QMdf[0]
    cond = {
        "QEp": pvalue_condition(res.QE, "chi2", max(df, 1)),
        "QMp": (
            pvalue_condition(res.QM, "chi2", m)
            if res.test == "z"
            else pvalue_condition(res.QM, "F", m, max(df, 1))
        ),
    }
    fields = ["tau2", "se_tau2", "I2", "H2", "QE", "QEp", "QM", "QMp", "k"]
    if not res.int_only:
        fields.append("R2")
    for q in fields:
        if q == "se_tau2" and method in ("EE", "FE"):
            continue  # NA in metafor, NaN here (unit-tested)
        if q == "se_tau2" and df == 0:
            # k = p with tau^2 fixed: metafor's formula divides 0 by a rounding residue of
            # tr(P) = 0 (1e14 for dat.bcg[1:2]); ours reports NaN
            COUNTS["se_tau2 not compared: k = p (no residual df)"] += 1
            continue
        out.append(compare_values(q, getattr(res, q), fit.get(q), method, cond.get(q, 1.0)))
    if ref.get("predict"):
        p = res.predict()
        for q in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            if ref["predict"].get(q) is None:
                continue  # metafor 3.8: no PI for EE models
            out.append(compare_values(f"predict_{q}", getattr(p, q), ref["predict"][q], method))
    for q in ("yi", "vi"):
        theirs = np.asarray(ref[q], dtype=float)
        ours = np.asarray(getattr(res, q), dtype=float)
        assert ours.size == theirs.size, f"{q}: {ours.size} studies vs metafor's {theirs.size}"
        out += [compare_values(q, a, b, method) for a, b in zip(ours, theirs, strict=True)]
    return out


#: metafor errors and the words of metafor's message that ours must quote
_QUOTES = (
    "estimator cannot be used when there are non-positive sampling variances",
    "Division by zero when computing the inverse variance weights",
)


def _live(metafor, feature: str, kw: dict[str, Any], data: pd.DataFrame | None = None):
    """Fit ``rma(**kw, data=data)`` here and in metafor; compare everything; returns ours."""
    args, rdata, mods = _r_call(kw, data)
    ref = metafor.rma_iface(args, data=rdata, mods=mods)
    res, warned = _ours(kw, data)
    tag = f"{feature} {kw.get('method', 'REML')}/{kw.get('test', 'z')}"
    if not ref["ok"] and "object 'vi0' not found" in ref["error"]:
        # a metafor bug (3.8.1 and 5.1.12): with measure= and a sampling variance of 0 its
        # escalc branch never defines vi0; rma(yi, vi) on metafor's own escalc output fits
        assert "subset" not in kw, tag
        inputs = {n: np.asarray(args.pop(n), dtype=float) for n in EFFECT_ARGS if n in args}
        corr = {n: args.pop(n) for n in ("add", "to", "drop00") if n in args}
        yi, vi = metafor.escalc(args.pop("measure"), **corr, **inputs)
        ref = metafor.rma_iface(dict(args, yi=yi, vi=vi), data=rdata, mods=mods)
        COUNTS["metafor bug 'vi0' not found: compared with rma(escalc(...))"] += 1
    if not ref["ok"] and "did not converge" in ref["error"]:
        # metafor's iteration (DLIT, SJIT) oscillates at the tight threshold; ours is the
        # root (see tests/parity: the goldens record these as metafor failures)
        assert not isinstance(res, Exception) and res.converged, f"{tag}: {res}"
        COUNTS[f"metafor did not converge ({res.method}); ours converged"] += 1
        return res
    if not ref["ok"]:
        assert isinstance(res, ValueError), f"{tag}: metafor stopped ({ref['error']}), we fitted"
        quote = [q for q in _QUOTES if q in ref["error"]]
        assert not quote or quote[0] in str(res), f"{tag}: {res} does not quote {ref['error']!r}"
        COUNTS[f"{feature}: both stop ({ref['error'][:45]})"] += 1
        return res
    assert not isinstance(res, Exception), f"{tag}: metafor fitted, we stopped: {res}"
    cmps = _compare(res, ref)
    bad = [c for c in cmps if not c.ok]
    assert not bad, f"{tag}:\n" + "\n".join(
        f"  {c.quantity}: ours={c.ours!r} metafor={c.ref!r} rel={c.rel_diff:.2e}" for c in bad
    )
    assert res.tau2_fix == bool(ref["tau2_fix"]) and res.weighted == bool(ref["weighted"])
    if any("NAs omitted" in w for w in ref["warnings"]):
        assert any("omitted from model fitting" in w for w in warned), tag
    if any("non-positive sampling variances." in w for w in ref["warnings"]):
        assert any("vi=0: QE, QEp, I2 and H2 cannot be computed" in w for w in warned), tag
    STATS.extend((feature, c) for c in cmps)
    BY_METHOD.extend((res.method, c) for c in cmps)
    COUNTS[feature] += 1
    return res


# --------------------------------------------------------------------------- #
# 1. measure= with escalc's inputs (escalc inside), labels carried
# --------------------------------------------------------------------------- #
_ESCALC_CASES = {
    "bcg|RR": (_bcg, dict(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")),
    "bcg|OR(n1i,n2i)": (_bcg, dict(measure="OR", ai="tpos", n1i="n1", ci="cpos", n2i="n2")),
    "bcg|RD": (_bcg, dict(measure="RD", ai="tpos", bi="tneg", ci="cpos", di="cneg")),
    "normand|SMD": (
        _normand,
        dict(measure="SMD", m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i", n2i="n2i"),
    ),  # fmt: skip
    "normand|MD": (
        _normand,
        dict(measure="MD", m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i", n2i="n2i"),
    ),  # fmt: skip
    "normand|ROM": (
        _normand,
        dict(measure="ROM", m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i", n2i="n2i"),
    ),  # fmt: skip
    "pritz|PLO": (_pritz, dict(measure="PLO", xi="xi", ni="ni")),
    "pritz|PFT": (_pritz, dict(measure="PFT", xi="xi", ni="ni")),
    "pritz|PR": (_pritz, dict(measure="PR", xi="xi", ni="ni")),
}


@pytest.mark.r
@pytest.mark.parametrize("case", sorted(_ESCALC_CASES))
def test_escalc_inside_live(metafor, case):
    make, kw = _ESCALC_CASES[case]
    data = make()
    for method in MAIN + ["HS", "PMM", "SJIT"]:
        for test in TESTS:
            res = _live(metafor, "escalc inside", dict(kw, method=method, test=test), data)
    # the labels travel as from escalc output
    res = _live(metafor, "escalc inside", dict(kw, slab="study", method="REML"), data)
    assert res.slab == tuple(data["study"])
    assert res.measure == kw["measure"]


_CORRECTIONS = [
    dict(),
    dict(add=1.0, to="all"),
    dict(add=0.5, to="if0all"),
    dict(add=0.25, to="only0"),
    dict(to="none"),
    dict(drop00=True),
    dict(add=0.5, to="all", drop00=True),
]


@pytest.mark.r
@pytest.mark.parametrize("measure", ["OR", "RR", "RD"])
def test_add_to_drop00_live(metafor, measure):
    data = _bcg_zeros()
    cells = dict(measure=measure, ai="tpos", bi="tneg", ci="cpos", di="cneg")
    for corr in _CORRECTIONS:
        for method in ("REML", "DL"):
            kw = dict(cells, **corr, method=method)
            res = _live(metafor, "add/to/drop00", kw, data)
            if isinstance(res, Exception):
                continue
            # the same numbers as escalc's, then rma
            e = escalc(measure, ai="tpos", bi="tneg", ci="cpos", di="cneg", data=data, **corr)
            ok = ~np.isnan(e["yi"].to_numpy())
            np.testing.assert_array_equal(res.yi, e["yi"].to_numpy()[ok])


@pytest.mark.r
def test_proportion_corrections_live(metafor):
    d = _pritz()
    d.loc[2, "xi"] = 0
    d.loc[5, "xi"] = d.loc[5, "ni"]
    for corr in _CORRECTIONS[:5]:
        for measure in ("PLO", "PR", "PAS"):
            _live(metafor, "add/to/drop00", dict(measure=measure, xi="xi", ni="ni", **corr), d)


# --------------------------------------------------------------------------- #
# 2. subset= (before escalc, as metafor)
# --------------------------------------------------------------------------- #
@pytest.mark.r
@pytest.mark.parametrize("method", MAIN)
def test_subset_live(metafor, method):
    d = _bcg()
    cells = dict(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", method=method)
    mask = (d.alloc == "random").to_numpy()
    for test in TESTS:
        a = _live(metafor, "subset", dict(cells, subset=mask, test=test, slab="study"), d)
        b = _live(metafor, "subset", dict(cells, subset=np.flatnonzero(mask), test=test), d)
        c = _live(metafor, "subset", dict(cells, subset="random", test=test), d)
        assert a.b == b.b == c.b and a.slab == tuple(d.study[mask])
        _live(metafor, "subset", dict(cells, subset=[0, 2, 3, 5, 8, 9, 12], test=test), d)
        _live(metafor, "subset", dict(cells, subset=d.year > 1940, test=test, mods="~ ablat"), d)


@pytest.mark.r
def test_subset_before_escalc_live(metafor):
    # to="if0all": the zero cell of study 1 lies outside the subset, so metafor (subset
    # first) adds nothing; escalc on all studies would correct every study
    d = _bcg_zeros()
    keep = np.arange(13) >= 8  # studies 9..13: no zero cell
    kw = dict(measure="OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", add=0.5, to="if0all")
    res = _live(metafor, "subset", dict(kw, subset=keep), d)
    e = escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=d.iloc[8:])
    np.testing.assert_array_equal(res.yi, e["yi"].to_numpy())
    allcorr = escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=d, to="if0all")
    assert not np.allclose(res.yi, allcorr["yi"].to_numpy()[8:])
    _live(metafor, "subset", dict(kw, subset=keep, mods="~ ablat", method="DL"), d)


# --------------------------------------------------------------------------- #
# 3. tau2= fixed
# --------------------------------------------------------------------------- #
@pytest.mark.r
@pytest.mark.parametrize("tau2", [0.0, 0.05, 0.3])
def test_tau2_fixed_live(metafor, tau2):
    e = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=_bcg())
    e["alloc"] = _bcg().alloc.to_numpy()
    for method in ALL:
        for test in ("z", "knha", "t", "adhoc"):
            kw = dict(yi="yi", vi="vi", tau2=tau2, method=method, test=test)
            res = _live(metafor, "tau2 fixed", kw, e)
            assert res.tau2_fix == (method != "EE")
            if method != "EE":
                assert res.tau2 == tau2
                with pytest.raises(ValueError, match="estimated random-effects component"):
                    res.confint()
            _live(metafor, "tau2 fixed", dict(kw, mods="~ ablat"), e)
            _live(metafor, "tau2 fixed", dict(kw, mods="~ alloc"), e)
    # k = p can be fitted once tau^2 is fixed (metafor: p > k only is refused)
    for method in ("REML", "DL"):
        _live(metafor, "tau2 fixed", dict(yi="yi", vi="vi", tau2=tau2, method=method,
                                          mods="~ ablat", subset=[0, 1]), e)  # fmt: skip
    # k = 1: tau^2 stays at the value, SE NA (metafor)
    _live(metafor, "tau2 fixed", dict(yi="yi", vi="vi", tau2=tau2, subset=[3]), e)


@pytest.mark.r
def test_tau2_fixed_normand_live(metafor):
    d = _normand()
    for method in ("REML", "PM", "SJ", "HS"):
        kw = dict(measure="MD", m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i",
                  n2i="n2i", tau2=100.0, method=method)  # fmt: skip
        for test in TESTS:
            _live(metafor, "tau2 fixed", dict(kw, test=test), d)


# --------------------------------------------------------------------------- #
# 4. weighted=False (unweighted estimation)
# --------------------------------------------------------------------------- #
@pytest.mark.r
@pytest.mark.parametrize("method", ALL)
def test_unweighted_live(metafor, method):
    e = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=_bcg())
    e["alloc"] = _bcg().alloc.to_numpy()
    e["n"] = _bcg().n.to_numpy()
    for test in ("z", "knha", "t", "adhoc"):
        kw = dict(yi="yi", vi="vi", weighted=False, method=method, test=test)
        res = _live(metafor, "weighted=FALSE", kw, e)
        assert res.b == pytest.approx(e.yi.mean(), rel=1e-13)
        _live(metafor, "weighted=FALSE", dict(kw, mods="~ ablat"), e)
        _live(metafor, "weighted=FALSE", dict(kw, mods="~ ablat + alloc"), e)
        _live(metafor, "weighted=FALSE", dict(kw, tau2=0.1), e)
        # user weights are ignored for b (they would only enter GENQ's tau^2)
        _live(metafor, "weighted=FALSE", dict(kw, weights="n"), e)
    n = _normand()
    md = dict(measure="SMD", m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i",
              n2i="n2i", weighted=False, method=method)  # fmt: skip
    _live(metafor, "weighted=FALSE", md, n)


@pytest.mark.r
def test_unweighted_genq_live(metafor):
    e = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=_bcg())
    e["n"] = _bcg().n.to_numpy()
    for test in ("z", "knha"):
        kw = dict(yi="yi", vi="vi", weights="n", method="GENQ", test=test)
        _live(metafor, "weighted=FALSE", dict(kw, weighted=False), e)
        _live(metafor, "weighted=FALSE", dict(kw, weighted=False, mods="~ ablat"), e)


# --------------------------------------------------------------------------- #
# 5. missing values: metafor's na.omit
# --------------------------------------------------------------------------- #
@pytest.mark.r
@pytest.mark.parametrize("method", ["REML", "DL", "EE", "PM"])
def test_na_omit_live(metafor, method):
    d = _bcg()
    d.loc[1, "tpos"] = np.nan  # escalc input missing -> yi, vi NA
    d.loc[6, "ablat"] = np.nan  # moderator missing
    d.loc[9, "alloc"] = None  # factor moderator missing
    d.loc[11, "n"] = np.nan  # weight missing
    cells = dict(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", method=method)
    for test in TESTS:
        res = _live(metafor, "na.omit", dict(cells, test=test, slab="study"), d)
        assert res.k == 12 and "Ferguson & Simes 1949" not in res.slab
        res = _live(metafor, "na.omit", dict(cells, test=test, mods="~ ablat + alloc"), d)
        assert res.k == 10
        _live(metafor, "na.omit", dict(cells, test=test, weights="n"), d)
        _live(metafor, "na.omit", dict(cells, test=test, weights="n", mods="~ ablat"), d)
    e = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=_bcg())
    e.loc[2, "yi"] = np.nan
    e.loc[5, "vi"] = np.nan
    _live(metafor, "na.omit", dict(yi="yi", vi="vi", method=method), e)
    _live(metafor, "na.omit", dict(yi="yi", vi="vi", method=method, subset=np.arange(1, 13)), e)


# --------------------------------------------------------------------------- #
# 6. sampling variances of 0
# --------------------------------------------------------------------------- #
#: R formulas for mods= (metaparity.models.formula; model.matrix itself: test_formula.py)
R_FORMULAS = [
    "~ ablat * alloc", "~ poly(ablat, 2)",
    '~ relevel(factor(alloc), ref = "random") + I(year - 1950)', "~ I(year - 1950):ablat",
    "~ 0 + alloc + ablat", "~ log(ablat) + ablat:random", "~ (ablat + I(year - 1950))^2",
]  # fmt: skip


@pytest.mark.r
@pytest.mark.parametrize("formula", R_FORMULAS)
@pytest.mark.parametrize("method", ["REML", "DL"])
def test_r_formulas_live(metafor, formula, method):
    d = _bcg()
    cells = dict(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", method=method)
    for test in TESTS:
        res = _live(metafor, "formula", dict(cells, test=test, mods=formula), d)
        args, rdata, mods = _r_call(dict(cells, test=test, mods=formula), d)
        ref = metafor.rma_iface(args, data=rdata, mods=mods)
        assert list(res.coef_names) == list(np.atleast_1d(ref["fit"]["coef_names"]))
    # a missing moderator: the row is omitted, as na.omit (poly(): both stop, as R's poly)
    d.loc[3, "ablat"] = np.nan
    res = _live(metafor, "formula na.omit", dict(cells, mods=formula), d)
    if "poly" in formula:
        assert isinstance(res, ValueError) and "not allowed in 'poly'" in str(res)
    else:
        assert res.k == (12 if "ablat" in formula else 13)


@pytest.mark.r
def test_a_raw_year_in_an_interaction_is_metafors_rounding(metafor):
    """With a raw year, ``~ (ablat + year)^2`` has cond(X) = 6.9e7 and metafor's QE moves by
    1.6e-10; centring the year (the same column space) brings metafor to ours to ~1e-14,
    and ours does not move: the difference is metafor's rounding (the live formula tests
    centre the year; docs/metaregression.md)."""
    e = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=_bcg())
    raw, centred = "~ (ablat + year)^2", "~ (ablat + I(year - 1950))^2"
    ours = {f: rma("yi", "vi", mods=f, data=e, method="DL") for f in (raw, centred)}
    ref = {f: metafor.rma_iface(dict(yi=e.yi, vi=e.vi, method="DL"), data=e[["ablat", "year"]],
                                mods=f)["fit"] for f in (raw, centred)}  # fmt: skip
    for q in ("QE", "tau2"):
        mine = [getattr(ours[f], q) for f in (raw, centred)]
        assert mine[0] == pytest.approx(mine[1], rel=1e-12)  # ours: invariant
        assert ref[centred][q] == pytest.approx(mine[1], rel=1e-12)
    assert abs(ref[raw]["QE"] / ours[raw].QE - 1) > 1e-11  # metafor's raw-year rounding


def _bcg_v0(which: str) -> pd.DataFrame:
    e = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=_bcg())
    e["ablat"] = _bcg().ablat.to_numpy()
    e["n"] = _bcg().n.to_numpy()
    if which == "some":
        e.loc[[1, 4], "vi"] = 0.0
    elif which == "one":
        e.loc[7, "vi"] = 0.0
    else:
        e["vi"] = 0.0
    return e


@pytest.mark.r
@pytest.mark.parametrize("which", ["one", "some", "all"])
def test_zero_variances_live(metafor, which):
    e = _bcg_v0(which)
    for method in [*ALL, "GENQ"]:
        for test in TESTS:
            kw = dict(yi="yi", vi="vi", method=method, test=test)
            if method == "GENQ":
                kw["weights"] = "n"
            _live(metafor, "vi=0", kw, e)
            _live(metafor, "vi=0", dict(kw, mods="~ ablat"), e)
            _live(metafor, "vi=0", dict(kw, tau2=0.2), e)
            _live(metafor, "vi=0", dict(kw, weighted=False), e)
            _live(metafor, "vi=0", dict(kw, weights="n"), e)


@pytest.mark.r
def test_zero_variances_at_tau2_zero_live(metafor):
    # homogeneous outcomes: tau^2 = 0 (HE) with a vi of 0 -> metafor stops (division by
    # zero) unless the pooling needs no inverse-variance weight (user weights, unweighted)
    d = pd.DataFrame(dict(yi=[1.0, 1.01, 0.99, 1.0], vi=[0.0, 0.1, 0.1, 0.1], w=[1.0, 2, 3, 4]))
    for method in ("HE", "REML", "ML", "EB", "SJ", "EE"):
        for extra in (dict(), dict(weighted=False), dict(weights="w"), dict(tau2=0.0),
                      dict(weighted=False, test="knha")):  # fmt: skip
            _live(metafor, "vi=0", dict(yi="yi", vi="vi", method=method, **extra), d)
    _live(metafor, "vi=0", dict(yi="yi", vi="vi", method="GENQ", weights="w"), d)


# --------------------------------------------------------------------------- #
# 7. weights= with moderators (weighted least squares; GENQ)
# --------------------------------------------------------------------------- #
@pytest.mark.r
@pytest.mark.parametrize("method", [*ALL, "GENQ"])
def test_mods_weights_live(metafor, method):
    e = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=_bcg())
    b = _bcg()
    e["ablat"], e["alloc"], e["n"] = b.ablat.to_numpy(), b.alloc.to_numpy(), b.n.to_numpy()
    for test in ("z", "knha", "t"):
        for mods in ("~ ablat", "~ ablat + alloc", "~ alloc - 1"):
            kw = dict(yi="yi", vi="vi", weights="n", method=method, test=test, mods=mods)
            res = _live(metafor, "weights + mods", kw, e)
            assert res.weights is not None and not np.isnan(res.se).any()
    # GENQ without moderators and with weights = 1/vi: the DL estimate (metafor's identity)
    if method == "GENQ":
        w = 1.0 / e.vi.to_numpy()
        g = rma(e.yi, e.vi, weights=w, method="GENQ", mods=e.ablat)
        dl = rma(e.yi, e.vi, method="DL", mods=e.ablat)
        assert g.tau2 == pytest.approx(dl.tau2, rel=1e-12)


@pytest.mark.r
def test_rma_iface_backends_agree(metafor):
    """The Rscript backend asks metafor the same question as rpy2 (NA, logical subset,
    character moderators and a formula travel through JSON)."""
    from metaparity.parity import rbridge

    d = _bcg()
    d.loc[2, "ablat"] = np.nan
    d.loc[4, "alloc"] = None
    args = dict(measure="RR", ai=d.tpos, bi=d.tneg, ci=d.cpos, di=d.cneg, method="DL",
                weights=d.n, subset=(d.year > 1940).to_numpy(), tau2=0.1)  # fmt: skip
    a = metafor.rma_iface(args, data=d[["ablat", "alloc"]], mods="~ ablat + alloc")
    b = rbridge.get_bridge("rscript").rma_iface(args, data=d[["ablat", "alloc"]],
                                                mods="~ ablat + alloc")  # fmt: skip
    assert a["ok"] and b["ok"] and a["warnings"] == b["warnings"]
    np.testing.assert_array_equal(a["fit"]["b"], b["fit"]["b"])
    assert a["fit"]["coef_names"] == b["fit"]["coef_names"] and a["fit"]["k"] == 11


def test_zz_report(capsys):
    """What was compared live and the largest relative difference (pytest -s)."""
    with capsys.disabled():
        for title, rows in (("feature", STATS), ("estimator", BY_METHOD)):
            stats = summarise(rows)
            if not stats:
                continue
            print(f"\nrma interface parity by {title}:", sum(s["n"] for s in stats.values()))
            for key, s in sorted(stats.items()):
                print(f"  {key:16s} n={int(s['n']):6d} failed={int(s['failed'])} "
                      f"max_rel={s['max_rel']:.2e} max_abs={s['max_abs']:.2e}")  # fmt: skip
        if COUNTS:
            print("  fits:", dict(COUNTS))
    assert all(c.ok for _, c in STATS)


# --------------------------------------------------------------------------- #
# unit tests (no R): equivalences and bad input
# --------------------------------------------------------------------------- #
def test_escalc_inside_equals_escalc_then_rma():
    d = _bcg()
    e = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=d, slab="study")
    a = rma(data=e, method="DL")
    b = rma(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=d, slab="study",
            method="DL")  # fmt: skip
    assert a.b == b.b and a.tau2 == b.tau2 and a.slab == b.slab and b.measure == "RR"
    c = rma(measure="RR", ai=d.tpos, bi=d.tneg, ci=d.cpos, di=d.cneg, method="DL")
    assert c.b == a.b and c.slab is None
    m = rma(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=d, mods="~ ablat")
    assert m.coef_names == ("intrcpt", "ablat") and m.measure == "RR"
    # PFT: the sizes travel for the back-transform
    p = _pritz()
    pf = rma(measure="PFT", xi="xi", ni="ni", data=p)
    np.testing.assert_array_equal(pf.ni, p.ni.to_numpy(dtype=float))
    assert 0 < pf.predict(transf=True).pred < 1


def test_subset_forms_agree_and_keep_order():
    d = _bcg()
    e = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=d, slab="study")
    mask = (d.alloc == "random").to_numpy()
    a = rma(data=e, subset=mask)
    b = rma(data=e, subset=np.flatnonzero(mask)[::-1])  # positions: order as in the data
    c = rma(data=e.assign(random=mask), subset="random")
    d_ = rma(e.yi[mask], e.vi[mask])
    assert a.b == b.b == c.b == d_.b and a.slab == b.slab == tuple(d.study[mask])
    assert a.k == 7


@pytest.mark.parametrize(
    "subset,match",
    [
        (
            np.ones(12, bool),
            r"subset has 12 entries but there are k = 13 studies; give a boolean "
            r"mask of length k = 13",
        ),  # fmt: skip
        ([0.5, 1.0], r"subset must be booleans or integers; got float64 values.*length k = 13"),
        ([0, 13], r"position 13, outside 0\.\.12 \(k = 13 studies"),
        ([-1, 2], r"position -1, outside 0\.\.12.*negative ones are not accepted"),
        (np.zeros(13, bool), r"selects no study \(k = 0\)"),
        ("alloc", r"subset='alloc' must be booleans or integers; got str values"),
        ("nope", r"subset='nope' is not a column of data"),
        (np.ones((13, 1), bool), r"subset must be 1-D"),
    ],
)
def test_subset_bad(subset, match):
    d = _bcg()
    with pytest.raises(ValueError, match=match):
        rma(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=d, subset=subset)


def test_missing_values_omitted_with_a_warning_or_refused():
    d = _bcg()
    d.loc[1, "tpos"] = np.nan
    d.loc[6, "ablat"] = None
    cells = dict(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=d, slab="study")
    with pytest.warns(UserWarning) as rec:
        res = rma(**cells, mods="~ ablat")
    msg = str(rec[0].message)
    assert "2 studies with missing values omitted from model fitting" in msg
    assert "study 'Ferguson & Simes 1949' (row 2): ai" in msg
    assert "study 'Vandiviere et al 1973' (row 7): moderator 'ablat'" in msg
    assert res.k == 11 and "Vandiviere et al 1973" not in res.slab
    with pytest.raises(ValueError, match=r"missing values in 2 studies \(study 'Ferguson.*"
                                         r"na_action='omit'"):  # fmt: skip
        rma(**cells, mods="~ ablat", na_action="fail")
    with pytest.raises(ValueError, match=r"na_action='drop' is not one of 'omit', 'fail'"):
        rma(**cells, na_action="drop")
    # None, NaN and pandas NA all mean missing
    y = pd.array([0.1, None, 0.3, 0.2], dtype="Float64")
    with pytest.warns(UserWarning, match=r"study in row 2: yi"):
        r = rma(y, [0.01, 0.02, 0.03, 0.01], method="DL")
    assert r.k == 3
    with pytest.warns(UserWarning, match=r"study in row 3: weights"):
        rma([0.1, 0.2, 0.3, 0.2], [0.01, 0.02, 0.03, 0.01], weights=[1, 2, None, 1])
    with pytest.raises(ValueError, match=r"every study has a missing value.*k = 0"):
        rma([np.nan, np.nan], [0.01, 0.02])
    # row numbers are those of the input, also after subset=
    with pytest.warns(UserWarning, match=r"study in row 4: vi"):
        rma([0.1, 0.2, 0.3, 0.2, 0.5], [0.01, 0.02, 0.03, np.nan, 0.02], subset=[1, 2, 3, 4])


def test_effect_inputs_bad():
    d = _bcg()
    with pytest.raises(ValueError, match=r"without measure=.*'Specify the desired outcome"):
        rma(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=d)
    with pytest.raises(ValueError, match=r"give either yi with vi \(or sei\), or measure="):
        rma(d.tpos, d.n, measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=d)
    with pytest.raises(ValueError, match=r"add=, to= and drop00= apply when rma computes"):
        rma([0.1, 0.2], [0.01, 0.02], add=0.5)
    with pytest.raises(ValueError, match=r"ai='events' is not a column of data"):
        rma(measure="RR", ai="events", bi="tneg", ci="cpos", di="cneg", data=d)
    d.loc[2, "tpos"] = d.loc[2, "n1"] + 1
    with pytest.raises(ValueError, match=r"row 3"):
        rma(measure="RR", ai="tpos", n1i="n1", ci="cpos", n2i="n2", data=d)
    with pytest.raises(ValueError, match=r"row 3.*\(rows counted among the studies selected"):
        rma(measure="RR", ai="tpos", n1i="n1", ci="cpos", n2i="n2", data=d, subset=[0, 1, 2])


def test_tau2_fixed_unit():
    y, v = [0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015]
    r = rma(y, v, tau2=0.02, method="DL")
    w = 1 / (np.asarray(v) + 0.02)
    assert r.tau2 == 0.02 and r.tau2_fix and r.b == pytest.approx((w * y).sum() / w.sum())
    assert r.QE == rma(y, v, method="DL").QE
    assert "user-specified tau^2 value" in str(r)
    with pytest.warns(UserWarning, match=r"tau2=0.02 is ignored with method='EE'"):
        e = rma(y, v, tau2=0.02, method="EE")
    assert e.tau2 == 0 and not e.tau2_fix
    for bad in (-0.1, np.nan, [0.1, 0.2], True, "0.1"):
        with pytest.raises(ValueError, match=r"tau2=.* must be"):
            rma(y, v, tau2=bad)
    with pytest.raises(NotImplementedError, match=r"tau\^2 fixed at 0.02"):
        mp.leave1out(r)


def test_unweighted_unit():
    y, v = np.array([0.1, 0.3, 0.5, 0.2]), np.array([0.01, 0.02, 0.03, 0.015])
    r = rma(y, v, weighted=False, method="DL")
    t2 = rma(y, v, method="DL").tau2
    assert r.b == pytest.approx(y.mean()) and not r.weighted
    assert r.se == pytest.approx(np.sqrt((v + t2).sum()) / 4)
    x = np.array([1.0, 2, 3, 5])
    m = rma_mods(y, v, x, weighted=False, method="EE")
    ols = np.polyfit(x, y, 1)[::-1]
    np.testing.assert_allclose(m.b, ols, rtol=1e-12)
    with pytest.raises(NotImplementedError, match=r"unweighted estimation"):
        mp.influence(r)


def test_zero_variances_unit():
    y, v = [0.1, 0.3, 0.5, 0.2, 0.4], [0.01, 0.0, 0.03, 0.015, 0.02]
    lab = ["A", "B", "C", "D", "E"]
    with pytest.warns(UserWarning, match=r"study 'B' \(row 2\) has vi=0: QE, QEp, I2 and H2"):
        r = rma(y, v, slab=lab)
    assert np.isnan(r.QE) and np.isnan(r.I2) and r.tau2 > 0
    assert "Test for Heterogeneity" not in str(r) and "I^2" not in str(r)
    with pytest.raises(ValueError, match=r"Q-profile interval needs them positive"):
        r.confint()
    for method in ("DL", "HS", "HSk", "PM", "PMM", "MP"):
        with pytest.raises(ValueError, match=rf"study 'B' \(row 2\) has vi=0; method='{method}' "
                                             r"needs positive.*'.* estimator cannot be used"):  # fmt: skip
            rma(y, v, slab=lab, method=method)
    with pytest.raises(ValueError, match=r"'DLIT'.*Division by zero"):
        rma(y, v, method="DLIT")

    def some_zero():
        return pytest.warns(UserWarning, match="vi=0: QE, QEp, I2 and H2 cannot be computed")

    with some_zero(), pytest.raises(ValueError, match=r"row 2 has vi=0 and the equal-effects"):
        rma(y, v, method="EE")
    with some_zero():
        ee = rma(y, v, method="EE", weighted=False)  # no inverse-variance weight needed
    assert ee.b == pytest.approx(np.mean(y))
    with some_zero(), pytest.raises(ValueError, match=r"vi=0 and tau\^2 is fixed at 0"):
        rma(y, v, tau2=0)
    with pytest.raises(ValueError, match=r"vi=0: control= runs metafor's own iteration"):
        rma(y, v, control="metafor")
    with pytest.raises(ValueError, match=r"row 2 has vi=-0.1 < 0.*set it to 0"):
        rma(y, [0.01, -0.1, 0.03, 0.015, 0.02])
    # rma_batch keeps refusing them (documented)
    with pytest.raises(ValueError, match=r"V\[0, 1\] = 0"):
        mp.rma_batch([y], [v])


def test_mods_weights_unit():
    y, v = np.array([0.1, 0.3, 0.5, 0.2, 0.6]), np.array([0.01, 0.02, 0.03, 0.015, 0.02])
    x, w = np.array([1.0, 2, 3, 5, 4]), np.array([10.0, 20, 15, 30, 12])
    r = rma_mods(y, v, x, weights=w, method="EE")
    X = np.column_stack([np.ones(5), x])
    A = np.diag(w)
    b = np.linalg.solve(X.T @ A @ X, X.T @ A @ y)
    H = np.linalg.solve(X.T @ A @ X, X.T @ A)
    np.testing.assert_allclose(r.b, b, rtol=1e-12)
    np.testing.assert_allclose(r.vb, H @ np.diag(v) @ H.T, rtol=1e-12)
    assert rma(y, v, mods=x, weights=w, method="GENQ").tau2 >= 0
    with pytest.raises(ValueError, match="GENQ' needs weights"):
        rma(y, v, mods=x, method="GENQ")
