"""Meta-regression in the parity harness (``metaparity parity FILE --mods "~ x * g"``): the
design R builds from the formula, and ``rma(yi, vi, mods = X)`` per estimator.

For each subgroup the harness asks metafor for

* ``model.matrix(formula, data)`` of the subgroup's rows (``mp_model_matrix``): compared
  column name by name and value by value with metaparity's design
  (:func:`metaparity.models.formula.model_matrix`), so that the formula is checked as R
  reads it, not only the fit;
* ``rma(yi, vi, mods = X, method, test, level)`` on the rows metaparity keeps (finite
  ``yi``, ``vi`` and moderators, as metafor omits the others), with the tight control of
  every harness fit: every coefficient, ``tau2``, ``QE``, ``QM``, ``R2`` ... compared by
  :func:`metaparity.parity.compare.compare_mods`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from metaparity._core.io import InputError
from metaparity._core.names import METHODS, TESTS, check_choice
from metaparity.models.formula import formula_columns, model_matrix
from metaparity.models.results import RmaResult
from metaparity.models.uni import rma
from metaparity.parity.compare import compare_mods
from metaparity.parity.rbridge import _coefficient_arrays, _plain
from metaparity.parity.rbridge import control_arg as rbridge_control
from metaparity.parity.tolerances import Comparison, compare_values

__all__ = ["mods_columns", "attach_mods", "design_call", "rma_mods_call", "mods_comparisons",
           "normalise_mods_ref", "mods_kept"]  # fmt: skip


def mods_columns(df: pd.DataFrame, mods: str, where: str) -> list[str]:
    """The columns ``mods`` uses, after checking that the formula reads on ``df`` (an
    unknown column or function, a one-level factor ... is an InputError before R)."""
    text = mods.strip()
    if not text.startswith("~"):
        raise InputError(f"--mods {mods!r}: give a one-sided formula such as '~ x + factor(g)'")
    try:
        model_matrix(text, df, na_ok=True)
    except ValueError as err:
        raise InputError(f"{where}: --mods {mods!r}: {err}") from None
    return formula_columns(text, df)


def attach_mods(esc: pd.DataFrame, sub: pd.DataFrame, mods: str, cols: list[str]) -> None:
    """Keep the formula and the subgroup's moderator columns with its escalc (in attrs)."""
    esc.attrs["mods"] = mods.strip()
    esc.attrs["mods_data"] = sub[cols].reset_index(drop=True)


def _design(esc: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """The subgroup's full design (NaN rows where a moderator is missing), its names, and
    the rows a fit keeps."""
    X, names = model_matrix(esc.attrs["mods"], esc.attrs["mods_data"], na_ok=True)
    yi, vi = esc["yi"].to_numpy(float), esc["vi"].to_numpy(float)
    keep = np.isfinite(yi) & np.isfinite(vi) & np.isfinite(X).all(axis=1)
    return X, names, keep


def _data_arg(d: pd.DataFrame) -> tuple[dict[str, list[Any]], list[str]]:
    out: dict[str, list[Any]] = {}
    logical = []
    for c in d.columns:
        s = d[c]
        if pd.api.types.is_bool_dtype(s.dtype):
            out[c] = ["TRUE" if v else "FALSE" for v in s]
            logical.append(c)
        elif pd.api.types.is_numeric_dtype(s.dtype):
            out[c] = [None if pd.isna(v) else float(v) for v in s]
        else:
            out[c] = [None if pd.isna(v) else str(v) for v in s]
    return out, logical


def design_call(esc: pd.DataFrame) -> dict[str, Any]:
    """The R call of ``model.matrix(formula, data)`` for the subgroup (a bridge.run call)."""
    data, logical = _data_arg(esc.attrs["mods_data"])
    args = {"formula": esc.attrs["mods"], "data": data, "logical": logical}
    return {"fn": "generic", "rfun": "mp_model_matrix",
            "args": {k: _plain(v) for k, v in args.items()}}  # fmt: skip


def rma_mods_call(esc: pd.DataFrame, method: str, test: str, level: float,
                  control: Any) -> dict[str, Any]:  # fmt: skip
    """The R call of ``rma(yi, vi, mods = X)`` on the rows a fit keeps (as
    :meth:`~metaparity.parity.rbridge.MetaforBridge.rma_mods` builds it)."""
    X, names, keep = _design(esc)
    Xk = X[keep]
    call = dict(
        fn="rma_mods", yi=esc["yi"].to_numpy(float)[keep].tolist(),
        vi=esc["vi"].to_numpy(float)[keep].tolist(), X=Xk.ravel(order="F").tolist(),
        nrow=int(Xk.shape[0]), colnames=list(names), method=method, test=test,
        level=float(level), control=rbridge_control(control),
    )  # fmt: skip
    w = esc.attrs.get("weights")
    if w is not None:  # (absent without --weights: recorded calls keep their form)
        call["weights"] = np.asarray(w, dtype=float)[keep].tolist()
    return call


def normalise_mods_ref(out: dict[str, Any]) -> dict[str, Any]:
    """A recorded or live ``rma_mods`` result with its coefficient fields as arrays (a copy:
    the record itself stays JSON-ready)."""
    if not out.get("fit"):
        return out
    fit = dict(out["fit"])
    _coefficient_arrays(fit)
    return dict(out, fit=fit)


def mods_kept(esc: pd.DataFrame) -> int:
    """How many studies the meta-regression keeps (finite yi, vi and moderators)."""
    return int(_design(esc)[2].sum())


def _fit(esc: pd.DataFrame, m: str, test: str, level: float, control: Any) -> RmaResult:
    d = esc.attrs["mods_data"].copy()
    d["__yi"], d["__vi"] = esc["yi"].to_numpy(float), esc["vi"].to_numpy(float)
    w = esc.attrs.get("weights")
    if w is not None:
        d["__w"] = np.asarray(w, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return rma("__yi", "__vi", mods=esc.attrs["mods"], data=d,
                   method=check_choice("method", m, METHODS),
                   test=check_choice("test", test, TESTS), level=level,
                   control=control, weights=None if w is None else "__w")  # fmt: skip


def mods_comparisons(
    esc: pd.DataFrame, m: str, test: str, level: float, control: Any, ref: dict[str, Any],
    design_ref: dict[str, Any] | None,
) -> list[Comparison]:  # fmt: skip
    """The design against R's model.matrix (once per subgroup: ``design_ref`` given), then
    the fit against metafor's ``rma(yi, vi, mods = X)``."""
    out: list[Comparison] = []
    if design_ref is not None:
        X, names, _ = _design(esc)
        rnames = [("intrcpt" if n == "(Intercept)" else str(n))
                  for n in np.atleast_1d(design_ref["names"])]  # fmt: skip
        same = list(names) == rnames
        out.append(Comparison("design.colnames", float(same), 1.0, 0.0 if same else 1.0,
                              0.0 if same else 1.0, compare_values("b", 0, 0, "EE").tol, same))  # fmt: skip
        if same:
            RX = np.asarray([np.nan if v is None else v for v in design_ref["values"]],
                            dtype=float).reshape(X.shape, order="F")  # fmt: skip
            for j, n in enumerate(names):
                for i in range(X.shape[0]):
                    c = compare_values("yi", float(X[i, j]), float(RX[i, j]), "EE")
                    out.append(Comparison(f"X[{i + 1},{n}]", c.ours, c.ref, c.abs_diff,
                                          c.rel_diff, c.tol, c.ok))  # fmt: skip
    out += compare_mods(_fit(esc, m, test, level, control), normalise_mods_ref(ref))
    return out
