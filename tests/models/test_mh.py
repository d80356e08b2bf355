"""rma_mh (metafor::rma.mh): live parity with metafor, batch == loop, errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaparity.models.mh import rma_mh, rma_mh_batch
from mh_compare import FIELDS, compare

ROOT = Path(__file__).resolve().parents[2]
META = ROOT / "fixtures" / "metadat"


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(META / f"{name}.csv")


def _tables(name: str, subset: str | None = None) -> dict[str, list[float]]:
    d = _csv(name)
    if name == "dat.bcg":
        return {"ai": d.tpos, "bi": d.tneg, "ci": d.cpos, "di": d.cneg}  # type: ignore[dict-item]
    if subset is not None:
        d = d[d["table"].astype(str) == subset]
    return {q: d[q].astype(float).tolist() for q in ("ai", "n1i", "ci", "n2i")}


def _pt(name: str) -> dict[str, list[float]]:
    d = _csv(name)
    return {q: d[q].astype(float).tolist() for q in ("x1i", "t1i", "x2i", "t2i")}


#: a double-zero study (row 3), one with all events in both groups (row 5), a zero cell
SYNTH = {"ai": [0, 3, 0, 5, 10, 7], "bi": [10, 7, 10, 5, 0, 13],
         "ci": [2, 1, 0, 4, 10, 3], "di": [8, 9, 10, 6, 0, 17]}  # fmt: skip
SYNTH_PT = {"x1i": [0, 3, 0, 5, 9], "t1i": [100, 200, 150, 120, 300],
            "x2i": [2, 1, 0, 4, 12], "t2i": [110, 190, 160, 100, 280]}  # fmt: skip

TABLE_SETS = {
    "bcg": _tables("dat.bcg"),
    "li2007": _tables("dat.li2007"),
    "nielweise2007": _tables("dat.nielweise2007"),
    "yusuf1985_9": _tables("dat.yusuf1985", "9"),
    "synthetic": SYNTH,
}
PT_SETS = {"hart1999": _pt("dat.hart1999"), "nielweise2008": _pt("dat.nielweise2008"),
           "synthetic": SYNTH_PT}  # fmt: skip
OPTIONS = [
    {},
    {"correct": False},
    {"drop00": False},
    {"add": 0.25, "to": "all"},
    {"to": "if0all"},
    {"to": "none", "drop00": False},
    {"level": 90},
    # two values: the second applies to the MH computation itself (RevMan 5 / Stata's rule:
    # 0.5 added to the cells of zero-cell studies, double zeros dropped)
    {"add": [0.5, 0.5], "to": ["only0", "only0"], "drop00": [True, True]},
    {"add": [0.5, 0.25], "to": ["only0", "all"]},
    {"add": [0.5, 0.5], "to": ["all", "if0all"], "drop00": [False, False]},
    {"drop00": [False, True]},
]


def _fit(measure: str, data: dict, opts: dict):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = rma_mh(**data, measure=measure, **opts)
    return res, [str(x.message) for x in w]


@pytest.mark.r
@pytest.mark.parametrize(
    "opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default"
)
@pytest.mark.parametrize("name", sorted(TABLE_SETS))
@pytest.mark.parametrize("measure", ["OR", "RR", "RD"])
def test_tables_match_metafor(metafor, measure, name, opts):
    data = TABLE_SETS[name]
    res, warns = _fit(measure, data, opts)
    r = metafor.call("mp_rma_mh", measure=measure, args={k: list(map(float, v)) for k, v in data.items()},
                     **opts)  # fmt: skip
    compare(res, r)
    assert ("Some yi/vi values are NA." in warns) == ("Some yi/vi values are NA." in r["warnings"])


@pytest.mark.r
@pytest.mark.parametrize(
    "opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default"
)
@pytest.mark.parametrize("name", sorted(PT_SETS))
@pytest.mark.parametrize("measure", ["IRR", "IRD"])
def test_person_time_matches_metafor(metafor, measure, name, opts):
    data = PT_SETS[name]
    res, warns = _fit(measure, data, opts)
    r = metafor.call("mp_rma_mh", measure=measure, args={k: list(map(float, v)) for k, v in data.items()},
                     **opts)  # fmt: skip
    compare(res, r)
    assert ("Some yi/vi values are NA." in warns) == ("Some yi/vi values are NA." in r["warnings"])


# --------------------------------------------------------------------------- #
# without R
# --------------------------------------------------------------------------- #
def test_bcg_or_known_values():
    # metafor 3.8.1: rma.mh(measure="OR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
    res = rma_mh(**TABLE_SETS["bcg"])
    assert res.k == 13 and res.k_pos == 13
    assert round(res.b, 4) == -0.4734 and round(res.se, 4) == 0.0410
    assert "Model Results (OR scale):" in res.summary()
    assert res.to_dict()["measure"] == "OR"


@pytest.mark.parametrize("measure", ["OR", "RR", "RD"])
def test_batch_equals_loop_of_singles(measure):
    rng = np.random.default_rng(7)
    M, k = 40, 6
    n1, n2 = rng.integers(5, 60, (M, k)), rng.integers(5, 60, (M, k))
    a, c = rng.binomial(n1, 0.15), rng.binomial(n2, 0.2)
    A, B, C, D = (x.astype(float) for x in (a, n1 - a, c, n2 - c))
    A[3, 4:] = B[3, 4:] = C[3, 4:] = D[3, 4:] = np.nan  # a ragged set
    bat = rma_mh_batch(ai=A, bi=B, ci=C, di=D, measure=measure)
    for m in range(M):
        keep = ~np.isnan(A[m])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            one = rma_mh(ai=A[m, keep], bi=B[m, keep], ci=C[m, keep], di=D[m, keep],
                         measure=measure)  # fmt: skip
        for f in FIELDS + ["k", "k_yi"]:
            np.testing.assert_array_equal(getattr(bat, f)[m], getattr(one, f), err_msg=f)


@pytest.mark.parametrize("measure", ["IRR", "IRD"])
def test_batch_equals_loop_of_singles_person_time(measure):
    rng = np.random.default_rng(3)
    M, k = 30, 5
    t1, t2 = rng.uniform(50, 500, (M, k)), rng.uniform(50, 500, (M, k))
    x1, x2 = rng.poisson(0.02 * t1).astype(float), rng.poisson(0.03 * t2).astype(float)
    x1[5, 3:] = t1[5, 3:] = x2[5, 3:] = t2[5, 3:] = np.nan
    bat = rma_mh_batch(x1i=x1, t1i=t1, x2i=x2, t2i=t2, measure=measure, to="if0all")
    for m in range(M):
        keep = ~np.isnan(x1[m])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            one = rma_mh(x1i=x1[m, keep], t1i=t1[m, keep], x2i=x2[m, keep], t2i=t2[m, keep],
                         measure=measure, to="if0all")  # fmt: skip
        for f in FIELDS + ["k", "k_yi"]:
            np.testing.assert_array_equal(getattr(bat, f)[m], getattr(one, f), err_msg=f)


def test_undefined_estimate_warns():
    with pytest.warns(UserWarning, match="estimate is undefined"):
        res = rma_mh(ai=[0, 0], bi=[10, 10], ci=[1, 2], di=[9, 8], measure="RR")
    assert np.isnan(res.b) and np.isnan(res.QE)


def test_permutation_invariance():
    d = TABLE_SETS["li2007"]
    perm = np.random.default_rng(1).permutation(len(d["ai"]))
    r1 = rma_mh(**d)
    r2 = rma_mh(**{k: np.asarray(v)[perm] for k, v in d.items()})
    for f in FIELDS:
        np.testing.assert_allclose(
            getattr(r2, f), getattr(r1, f), rtol=1e-10, err_msg=f
        )  # sum order


def test_errors_name_the_study():
    with pytest.raises(ValueError, match=r"row 2.*ai=5 > n1i=4"):
        rma_mh(ai=[1, 5], n1i=[10, 4], ci=[1, 1], n2i=[10, 10])
    with pytest.raises(ValueError, match=r"row 1.*bi=-1"):
        rma_mh(ai=[1, 2], bi=[-1, 3], ci=[1, 1], di=[3, 3])
    with pytest.raises(ValueError, match=r"row 2.*n2i=0"):
        rma_mh(ai=[1, 2], bi=[3, 3], ci=[1, 0], di=[3, 0])
    with pytest.raises(ValueError, match=r"row 1.*t2i=0"):
        rma_mh(x1i=[1, 2], t1i=[10, 10], x2i=[1, 1], t2i=[0, 10], measure="IRR")
    with pytest.raises(ValueError, match="can only be used with measures"):
        rma_mh(**SYNTH, measure="PETO")
    with pytest.raises(ValueError, match=r"set 1: study in row 2"):
        rma_mh_batch(ai=[[1, 2], [1, 9]], n1i=[[5, 5], [5, 5]], ci=[[1, 1], [1, 1]],
                     n2i=[[5, 5], [5, 5]])  # fmt: skip


def test_warnings_for_double_zero_and_missing_tables():
    _, w = _fit("OR", SYNTH, {})
    assert w == ["Some yi/vi values are NA."]
    d = {k: [*v, np.nan] for k, v in SYNTH.items()}
    res, w = _fit("OR", d, {})
    assert res.k == 6 and any("omitted from model fitting" in x for x in w)


def test_column_names_with_data_and_labels():
    bcg = _csv("dat.bcg")
    res = rma_mh(ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg, slab="study",
                 measure="RR")  # fmt: skip
    same = rma_mh(**TABLE_SETS["bcg"], measure="RR")
    assert res.b == same.b and res.QE == same.QE
    assert res.slab == tuple(bcg["study"])
    l1o = res.leave1out(transf=True)
    assert len(l1o) == 13 and np.isnan(l1o["se"]).all()
    assert str(l1o.index[0]).endswith("Aronson 1948")  # "-Aronson 1948" from metafor 4.8
    cu = res.cumul(order=bcg["year"])
    assert cu.index[0] == bcg.loc[bcg["year"].idxmin(), "study"]  # stable: the first earliest
    np.testing.assert_allclose(cu["estimate"].iloc[-1], res.b, rtol=1e-12)
