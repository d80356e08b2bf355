"""Peto cases shared by the live tests (tests/models/test_peto.py) and the golden replay
(tests/parity/test_goldens_peto.py): the data sets, the options, and one comparison of our
``rma_peto`` with a record of ``mp_rma_peto`` (src/metaparity/parity/r/fam_peto.R), live or
recorded by r_scripts/goldens_peto.R."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metaparity import rma_peto
from metaparity._core.io import InputError

ROOT = Path(__file__).resolve().parents[1]
META = ROOT / "fixtures" / "metadat"
RTOL = 1e-10  # closed form
ATOL = 1e-13  # for quantities that are 0 (I2) or ~1e-16


def tables(name: str) -> pd.DataFrame:
    return pd.read_csv(META / f"{name}.csv")


def yusuf(table: str) -> dict:
    d = tables("dat.yusuf1985")
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
    out = {f"yusuf1985 table {t}": yusuf(t)
           for t in sorted(tables("dat.yusuf1985")["table"].astype(str).unique())}  # fmt: skip
    bcg = tables("dat.bcg")
    out["bcg"] = _counts(bcg, bcg["study"])
    li = tables("dat.li2007")
    out["li2007"] = _counts(li, li["study"])
    nw = tables("dat.nielweise2007")
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


def close(ours, ref, what: str) -> float:
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


def r_args(data: dict, opts: dict) -> dict:
    args = {k: data[k] for k in ("ai", "bi", "ci", "di")}
    for k in ("add", "to", "drop00"):
        if k in opts:
            v = opts[k]
            args[k] = list(v) if isinstance(v, tuple) else v
    args["level"] = opts.get("level", 95)
    return args


def check_against_metafor(metafor, data: dict, opts: dict) -> dict[str, float]:
    """Fit ours and metafor's on ``data`` with ``opts``; assert parity; return max rel diffs."""
    return compare(metafor.call("mp_rma_peto", **r_args(data, opts)), data, opts)


def compare(ref: dict[str, Any], data: dict, opts: dict) -> dict[str, float]:
    """Our fit on ``data`` with ``opts`` against metafor's ``ref``; assert parity; return the
    max relative difference per quantity."""
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
        diffs[q] = close(getattr(res, q), f[q], q)
    for q in ("k", "k_yi", "k_pos"):
        assert getattr(res, q) == int(f[q]), q
    diffs["yi"] = close(res.yi, ref["yi"], "yi")
    diffs["vi"] = close(res.vi, ref["vi"], "vi")
    p, pt = res.predict(), res.predict(transf="exp")
    for q in ("pred", "se", "ci_lb", "ci_ub"):
        diffs[f"predict.{q}"] = close(getattr(p, q), ref["predict"][q], f"predict {q}")
    for q in ("pred", "ci_lb", "ci_ub"):
        diffs[f"predict(exp).{q}"] = close(getattr(pt, q), ref["predict_transf"][q], q)
    if ref.get("leave1out") is not None:
        for key, tr in (("leave1out", None), ("leave1out_exp", "exp")):
            tab = res.leave1out(transf=tr)
            for q in TABLE:
                if tr and q == "se":
                    continue
                diffs[f"{key}.{q}"] = close(getattr(tab, q), ref[key][q], f"{key} {q}")
    cu = res.cumul()
    for q in TABLE:
        diffs[f"cumul.{q}"] = close(getattr(cu, q), ref["cumul"][q], f"cumul {q}")
    if ref["cumul"].get("k") is not None:  # metafor >= 4.x reports k per step
        np.testing.assert_array_equal(cu.k, np.asarray(ref["cumul"]["k"], float))
    ours_w = {str(w.message) for w in caught}
    for w in ref["warnings"]:  # ours say it in metafor's words (escalc's: quoting them)
        assert any(w in o for o in ours_w), f"metafor warned {w!r}; we: {sorted(ours_w)}"
    assert res.summary().splitlines()[0] == ref["printout"].strip().splitlines()[0]
    return diffs
