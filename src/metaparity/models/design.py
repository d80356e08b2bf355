"""Design matrices as metafor (R's ``model.matrix``) builds them: formulas, DataFrames, arrays.

A one-sided formula is read as R reads it (``"~ ablat * factor(alloc)"``, ``"~ poly(x, 2)"``,
``"~ I(year - 1980) + relevel(g, ref = 'b')"``, ``"~ x - 1"``: :mod:`metaparity.models.formula`);
non-numeric columns become treatment-contrast dummies named and ordered as R names and
orders them.  A singular design or a missing
moderator is an error naming the column (metafor drops them with a warning).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from metaparity._core.validation import as_float_array
from metaparity.models.formula import (
    _is_categorical,
    _r_level,
    _r_levels,
    formula_columns,
    model_matrix,
    r_factor,
)

__all__ = ["design_matrix", "moderator_missing", "r_factor"]


def _dummies(
    s, prefix: str, where: str, full: bool = False, na_ok: bool = False
) -> tuple[list[np.ndarray], list[str]]:
    """Treatment-contrast dummies as R's ``model.matrix`` makes them (first level = reference;
    ``full``: one indicator per level, as R codes the first factor of a model without
    intercept).

    Levels: pandas categorical order when categorical; else sorted as R's ``factor()``
    sorts (numbers numerically, logicals FALSE < TRUE, strings by code point, which is
    R's order in the C locale).  ``na_ok``: missing values give NaN rows (R's ``na.pass``)
    and are not a level.
    """
    if not na_ok:
        _check_missing(s, where)
    miss = s.isna().to_numpy()
    vals, levels = _r_levels(s, miss)
    cols, names = [], []
    for lev in levels if full else levels[1:]:
        cols.append(np.where(miss, np.nan, np.array([v == lev for v in vals], dtype=float)))
        names.append(f"{prefix}{_r_level(lev)}")
    if not cols or (full and len(cols) < 2):
        raise ValueError(
            f"{where} has a single level ({_r_level(levels[0]) if levels else 'none'!s}); "
            "a categorical moderator needs at least two levels"
        )
    return cols, names


def _check_missing(s, where: str) -> None:
    miss = s.isna().to_numpy()
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise ValueError(
            f"{where}: row {i + 1} is missing; metaparity does not drop studies with missing "
            "moderators (metafor does, with a warning): remove the row or fill it in"
        )


def _numeric_column(s, where: str, na_ok: bool = False) -> np.ndarray:
    """A numeric moderator; ``na_ok``: missing values become NaN (checked on the kept rows)."""
    if na_ok:
        return as_float_array(where, s.to_numpy(dtype=object, na_value=np.nan))
    _check_missing(s, where)
    x = as_float_array(where, s.to_numpy())
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"{where}: row {int(np.flatnonzero(bad)[0]) + 1} is not finite")
    return x


def _parse_formula(formula: str, data, na_ok: bool = False) -> tuple[np.ndarray, tuple[str, ...]]:
    """A formula's matrix, as R's ``model.matrix`` (:mod:`metaparity.models.formula`)."""
    return model_matrix(formula, data, na_ok)


def design_matrix(
    mods: Any,
    data: Any = None,
    intercept: bool = True,
    k: int | None = None,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The design matrix ``X`` (k x p) and its column names, as metafor builds them.

    Parameters
    ----------
    mods : str, pandas.DataFrame, pandas.Series or array_like
        A one-sided formula (``"~ ablat + year"``, ``"~ factor(alloc)"``,
        ``"~ x - 1"``, ``"~ 0 + x"``) naming columns of ``data``; or moderator
        values (1-D: one moderator, 2-D: one column per moderator).  Non-numeric
        columns (object, string, category, bool) become treatment-contrast dummies
        as R's ``model.matrix`` makes them.
    data : pandas.DataFrame, optional
        Where formula terms are looked up.
    intercept : bool
        Add an intercept column (ignored for formulas: the formula decides).
    k : int, optional
        Number of studies, to check the number of rows.
    rows : array_like of int, optional
        Keep only these rows (0-based), as metafor does with ``subset=`` and ``na.omit``:
        the matrix is built from all rows (factor levels and their order included), then
        the rows are taken and the rank is checked.  Missing values are allowed outside
        ``rows``.

    Returns
    -------
    X : numpy.ndarray
        The design matrix (``len(rows)`` x p, or k x p).
    names : tuple of str
        Its column names (``"intrcpt"`` first when there is an intercept).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"g": ["SEL+DEX", "SEL+DEX+PI", "SEL+DEX"]})
    >>> X, names = design_matrix("~ g", data=d)   # R: model.matrix(~ g, d)
    >>> names, X[:, 1].tolist()
    (('intrcpt', 'gSEL+DEX+PI'), [0.0, 1.0, 0.0])
    """
    X, names = _build(mods, data, intercept, na_ok=rows is not None)
    if k is not None and X.shape[0] != k:
        raise ValueError(
            f"mods has {X.shape[0]} rows but there are {k} studies; give one row per study"
        )
    if rows is not None:
        keep = np.asarray(rows, dtype=int)
        bad = ~np.isfinite(X[keep])
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"moderator {names[j]!r}: row {keep[i] + 1} is {X[keep[i], j]!r}, not a "
                "finite number (a missing value is NaN or None)"
            )
        X = X[keep]
    _check_rank(X, names)
    return X, names


def _build(
    mods: Any, data: Any, intercept: bool, na_ok: bool = False
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The matrix and names of :func:`design_matrix` before rows are taken and checked
    (``na_ok``: missing values stay NaN, R's ``na.pass``)."""
    if isinstance(mods, str):
        if isinstance(data, dict):
            data = pd.DataFrame(data)
        X, names = _parse_formula(mods, data, na_ok)
    else:
        if isinstance(mods, pd.Series):
            name = "mods" if mods.name is None else str(mods.name)
            mods = mods.to_frame(name=name)
        if isinstance(mods, pd.DataFrame):
            cols, names_l = [], []
            full = not intercept  # as model.matrix(~ 0 + ...): first factor fully coded
            for c in mods.columns:
                s = mods[c]
                where = f"moderator {c!r}"
                if _is_categorical(s):
                    cc, nn = _dummies(s, str(c), where, full, na_ok)
                    full = False
                else:
                    cc, nn = [_numeric_column(s, where, na_ok)], [str(c)]
                cols += cc
                names_l += nn
            X = np.column_stack(cols) if cols else np.empty((len(mods), 0))
        else:
            raw = np.asarray(mods, dtype=object) if na_ok else mods
            if na_ok:
                raw = np.where(pd.isna(raw), np.nan, raw)
            arr = as_float_array("mods", raw)
            if arr.ndim == 1:
                X, names_l = arr[:, None], ["mods"]
            elif arr.ndim == 2:
                X = arr
                names_l = [f"X{j + 1}" for j in range(arr.shape[1])]
            else:
                raise ValueError(f"mods must be 1-D or 2-D; got shape {arr.shape}")
            bad = ~np.isfinite(X)
            if bad.any() and not na_ok:
                i, j = np.argwhere(bad)[0]
                raise ValueError(
                    f"mods: row {i + 1}, column {names_l[j]!r} is {X[i, j]!r}, not a finite "
                    "number; metaparity does not drop studies with missing moderators"
                )
        if intercept:
            X = np.column_stack([np.ones(X.shape[0]), X])
            names_l = ["intrcpt", *names_l]
        if X.shape[1] == 0:
            raise ValueError("mods has no columns and intercept=False: no coefficient to fit")
        names = tuple(names_l)
    return X, names


def moderator_missing(mods: Any, data: Any = None) -> list[tuple[str, np.ndarray]]:
    """The rows where each moderator is missing (NaN, None, pandas NA), as metafor's ``na.omit``
    sees them: ``[(name, mask), ...]``, one boolean mask per moderator column.

    ``mods`` as :func:`design_matrix` takes it; a formula's terms are looked up in ``data``
    (names that are not columns are left to :func:`design_matrix` to report).

    Parameters
    ----------
    mods : str, pandas.DataFrame, pandas.Series or array_like
        The moderators.
    data : pandas.DataFrame, optional
        Where formula terms are looked up.

    Returns
    -------
    list of (str, numpy.ndarray)
        Moderator name and a mask that is True where its value is missing.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"x": [1.0, None, 3.0], "g": ["a", "b", None]})
    >>> [(n, m.tolist()) for n, m in moderator_missing("~ x + factor(g)", d)]
    [('x', [False, True, False]), ('g', [False, False, True])]
    """
    if isinstance(mods, str):
        if isinstance(data, dict):
            data = pd.DataFrame(data)
        text = mods.strip()
        if data is None or not text.startswith("~"):
            return []
        return [(c, data[c].isna().to_numpy()) for c in formula_columns(text, data)]
    if isinstance(mods, pd.Series):
        return [("mods" if mods.name is None else str(mods.name), mods.isna().to_numpy())]
    if isinstance(mods, pd.DataFrame):
        return [(str(c), mods[c].isna().to_numpy()) for c in mods.columns]
    arr = np.asarray(mods, dtype=object)
    if arr.ndim == 1:
        return [("mods", pd.isna(arr).astype(bool))]
    if arr.ndim == 2:
        return [(f"X{j + 1}", pd.isna(arr[:, j]).astype(bool)) for j in range(arr.shape[1])]
    return []


def _check_rank(X: np.ndarray, names: tuple[str, ...]) -> None:
    """A singular design is an error naming the redundant column(s).

    metafor drops redundant predictors with a warning ("Redundant predictors dropped
    from the model"); metaparity refuses instead, so that a coefficient never
    silently disappears.  A column is redundant when it is a linear combination of
    the columns before it (a constant column duplicates the intercept).
    """
    if X.shape[0] < X.shape[1]:
        raise ValueError(
            f"the model has {X.shape[1]} coefficients but only {X.shape[0]} studies; "
            "metafor: 'Number of parameters to be estimated is larger than the number of "
            "observations'"
        )
    scale = np.maximum(np.abs(X).max(axis=0), 1e-300)
    Xs = X / scale
    redundant = []
    keep: list[int] = []
    for j in range(X.shape[1]):
        cand = [*keep, j]
        sv = np.linalg.svd(Xs[:, cand], compute_uv=False)
        if sv[-1] <= 1e-10 * sv[0] or not np.any(Xs[:, j]):
            redundant.append(names[j])
        else:
            keep.append(j)
    if redundant:
        raise ValueError(
            "the design matrix is singular: "
            + ", ".join(repr(n) for n in redundant)
            + " (a linear combination of the columns before it, e.g. a constant column or "
            "a category no study has); remove it. metafor would drop it with the warning "
            "'Redundant predictors dropped from the model'"
        )
