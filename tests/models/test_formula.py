"""R formulas and model.matrix: metaparity.models.formula against R's model.matrix, live
(names and values of every column), and the parts that need no R."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metaparity.models.formula import deparse, model_matrix, parse_r
from metaparity.parity.rbridge import get_bridge  # noqa: F401  (the metafor fixture's bridge)


def _bcg() -> pd.DataFrame:
    from pathlib import Path

    return pd.read_csv(Path(__file__).resolve().parents[2] / "fixtures" / "metadat" /
                       "dat.bcg.csv")  # fmt: skip


def _synthetic() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    k = 24
    return pd.DataFrame({
        "x": np.round(rng.normal(10, 3, k), 3), "z": np.round(rng.uniform(1, 5, k), 3),
        "g": rng.choice(["lo", "mid", "hi"], k), "h": rng.choice(["p", "q"], k),
        "n": rng.integers(1, 4, k).astype(float), "flag": rng.uniform(size=k) < 0.5,
    })  # fmt: skip


#: (data set, formula): continuous, categorical, interactions, nesting, functions
FORMULAS: list[tuple[str, str]] = [
    ("bcg", "~ ablat * alloc"), ("bcg", "~ ablat:alloc"), ("bcg", "~ alloc:ablat + year"),
    ("bcg", "~ poly(ablat, 2)"), ("bcg", "~ poly(year, degree = 3)"),
    ("bcg", "~ poly(ablat, 2, raw = TRUE)"), ("bcg", "~ I(ablat^2) + year"),
    ("bcg", "~ alloc - 1"), ("bcg", "~ 0 + alloc + ablat"), ("bcg", "~ -1 + ablat + alloc"),
    ("bcg", '~ relevel(factor(alloc), ref = "random")'), ("bcg", "~ log(year) + sqrt(ablat)"),
    ("bcg", "~ (ablat + year + alloc)^2"), ("bcg", "~ ablat*year - ablat"),
    ("bcg", "~ I(year - 1980) * I(ablat > 30)"), ("bcg", "~ factor(ablat > 30) + scale(year)"),
    ("bcg", "~ log(ablat, 2) + exp(ablat/100)"), ("bcg", "~ alloc/ablat"),
    ("bcg", "~ I(ablat * 2.50) + I(year + 1e5)"), ("bcg", "~ ablat %in% alloc"),
    ("syn", "~ x * g * h"), ("syn", "~ g:h"), ("syn", "~ 0 + x + g + h"), ("syn", "~ g*h - g"),
    ("syn", "~ (x + z)*(g + h)"), ("syn", "~ x:z:g + x"), ("syn", "~ h:g"),
    ("syn", "~ flag + x:flag"), ("syn", "~ factor(n) * x"), ("syn", "~ relevel(factor(g), 'mid') + z"),
    ("syn", "~ poly(x, 2) * h"), ("syn", "~ x + I(x^2) + I(x^3)"), ("syn", "~ g + 0"),
    ("syn", "~ (x + z + g)^3 - x:z:g"), ("syn", "~ as.numeric(factor(g)) + round(z, 1)"),
    ("syn", "~ abs(x - 10) + I(!flag)"), ("syn", "~ 1"), ("syn", "~ x/g/h"),
]  # fmt: skip

DATA = {"bcg": _bcg, "syn": _synthetic}


def _data_arg(d: pd.DataFrame) -> dict:
    out = {}
    for c in d.columns:
        s = d[c]
        if pd.api.types.is_bool_dtype(s.dtype):
            out[c] = ["TRUE" if v else "FALSE" for v in s]  # as.logical() in R
        elif pd.api.types.is_numeric_dtype(s.dtype):
            out[c] = [float(v) for v in s]
        else:
            out[c] = [str(v) for v in s]
    return out


@pytest.mark.r
@pytest.mark.parametrize(("dname", "formula"), FORMULAS, ids=[f"{d}:{f}" for d, f in FORMULAS])
def test_model_matrix_agrees_with_r(metafor, dname, formula):
    d = DATA[dname]()
    X, names = model_matrix(formula, d)
    logical = [c for c in d.columns if pd.api.types.is_bool_dtype(d[c].dtype)]
    ref = metafor.call("mp_model_matrix", formula=formula, data=_data_arg(d), logical=logical)
    rnames = [("intrcpt" if n == "(Intercept)" else n) for n in np.atleast_1d(ref["names"])]
    assert list(names) == rnames
    RX = np.asarray(ref["values"], dtype=float).reshape(X.shape, order="F")
    np.testing.assert_allclose(X, RX, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("text", ["I(u > 3)", "I(u/2)", "I(u * 2)", "I(-u)", "I((u + 1)^2)",
                                  'relevel(a, ref = "y")', "poly(u, 2, raw = TRUE)",
                                  "log(u, 2)", "a %in% b", "I(u - 0.001)", "I(u + 1e+05)"])  # fmt: skip
def test_deparse_writes_what_r_writes(text):
    assert deparse(parse_r(text)) == text


def test_r_precedence():
    # R: a:b*c is (a:b)*c, a*b:c is a*(b:c), -x^2 is -(x^2), ^ is right-associative
    assert deparse(parse_r("a*b:c").args[1]) == "b:c"
    assert parse_r("a:b*c").args[0].value == ":"
    assert parse_r("-x^2").kind == "unop"
    assert deparse(parse_r("x^2^3").args[1]) == "2^3"


def test_single_level_factor_and_missing_values():
    d = pd.DataFrame({"g": ["a"] * 4, "x": [1.0, np.nan, 3, 4]})
    with pytest.raises(ValueError, match="single level"):
        model_matrix("~ g", d)
    with pytest.raises(ValueError, match="row 2 is missing"):
        model_matrix("~ x", d)
    X, _ = model_matrix("~ x", d, na_ok=True)
    assert np.isnan(X[1, 1])
    with pytest.raises(ValueError, match="missing values are not allowed in 'poly'"):
        model_matrix("~ poly(x, 2)", d, na_ok=True)
