"""predict() of meta-regressions: live against metafor's predict.rma (tests/predict_cases.py),
and the parts that need no R (newmods forms, names, bad input)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metaparity.parity.predict import compare_predict, metafor_predict  # noqa: E402
from predict_cases import CASES, _bcg  # noqa: E402


def _case(name):
    fit, kw = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(), kw


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_predict_agrees_with_metafor(metafor, name):
    res, kw = _case(name)
    ref = metafor_predict(res, metafor, **kw)
    assert ref["ok"], ref.get("error")
    bad = [c for c in compare_predict(res, ref, **kw) if not c.ok]
    assert not bad, "\n".join(f"{c.quantity}: {c.ours!r} vs {c.ref!r}" for c in bad[:5])
    if "newmods" not in kw:  # fitted values: one per study (metafor labels them 1..k here)
        assert len(res.predict(**kw)) == len(np.atleast_1d(ref["slab"])) == res.k


def test_newmods_forms_give_the_same_rows():
    res = _bcg("~ ablat * alloc")
    names = res.coef_names[1:]
    rows = np.array([[20, 1, 0, 20, 0], [40, 0, 1, 0, 40]], dtype=float)
    a = res.predict(newmods=rows)
    b = res.predict(newmods=pd.DataFrame(rows[:, ::-1], columns=names[::-1]))
    c = res.predict(newmods=dict(zip(names, rows.T, strict=True)))
    d = res.predict(newmods=np.column_stack([np.ones(2), rows]))
    for other in (b, c, d):  # the same rows; the product may take another BLAS path (1 ulp)
        np.testing.assert_allclose(a.pred, other.pred, rtol=1e-15, atol=0)
        np.testing.assert_allclose(a.pi_ub, other.pi_ub, rtol=1e-15, atol=0)
    one = res.predict(newmods=rows[0])  # a vector: one prediction
    assert len(one) == 1 and one.pred[0] == pytest.approx(a.pred[0], rel=1e-15)
    single = _bcg("~ ablat").predict(newmods=[10, 20, 30])  # one moderator: one per value
    assert len(single) == 3
    assert list(a.to_frame(addx=True).columns[-6:]) == [f"X.{n}" for n in res.coef_names]


def test_fitted_values_are_x_b():
    res = _bcg("~ ablat")
    p = res.predict()
    np.testing.assert_allclose(p.pred, res.X @ res.b, rtol=1e-14)
    assert p.slab[0] == "Aronson 1948"


@pytest.mark.parametrize(
    ("newmods", "match"),
    [([1, 2], r"newmods has 2 column\(s\); the model's moderators are ablat, allocrandom"),
     ({"ablat": [1], "alloc": [1]}, "missing: 'allocrandom'"),
     ([[1, np.nan, 0, 1, 0]], "row 1, column 2 is nan"), ([["a", 1, 0, 1, 0]], "numbers")],
)  # fmt: skip
def test_bad_newmods_say_the_expected_columns(newmods, match):
    res = _bcg("~ ablat * alloc")
    with pytest.raises(ValueError, match=match):
        res.predict(newmods=newmods)


def test_newmods_for_an_intercept_only_model_is_an_error():
    import metaparity as mp

    res = mp.rma([0.1, 0.3, 0.2], [0.01, 0.02, 0.03])
    with pytest.raises(ValueError, match="without moderators"):
        res.predict(newmods=[1])
