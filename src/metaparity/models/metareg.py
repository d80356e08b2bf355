"""Meta-regression: mixed-effects (and fixed-effects) models with moderators.

``rma_mods(yi, vi, mods)`` is ``metafor::rma(yi, vi, mods = ...)``.  The model is

    y = X beta + u + e,   u ~ N(0, tau^2 I),   e ~ N(0, diag(v)),

with ``X`` the ``k x p`` design matrix (intercept first when present).  With
``W = diag(1/(v + tau^2))`` (Raudenbush 2009; Viechtbauer 2005; ``?rma.uni``)

* ``b = (X'WX)^-1 X'W y``, ``vb = (X'WX)^-1``;
* ``QE = y' P y`` with ``P = W - W X (X'WX)^-1 X'W`` at ``tau^2 = 0`` (df ``k - p``);
* ``QM = b[btt]' vb[btt, btt]^-1 b[btt]`` (chi^2 with ``m`` df; under t-based tests
  ``QM / m`` against ``F(m, k - p)``);
* Knapp-Hartung: ``vb`` scaled by ``s2 = y' P y / (k - p)`` with ``P`` at the estimate.

Every projection is formed from a complete QR decomposition of ``W^(1/2) X``:
``P = B B'`` with ``B = W^(1/2) Q2`` (``Q2`` the orthonormal complement of the
column space), so ``y'Py``, ``tr(P)``, ``tr(PP)`` and ``tr(PSPS)`` are sums of
squares -- no difference of large sums, even with sampling variances 1e4 apart.

The engine (:func:`_fit_mods`) works on ``n`` meta-regressions at once (arrays
``(n, k)`` and designs ``(n, k, p)``); :func:`rma_mods` fits one.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from metaparity._core.names import METHODS, TESTS, check_choice
from metaparity._core.validation import (
    as_float_array,
    check_same_length,
    check_yi_vi,
    column,
    study_label,
)
from metaparity.engine.estimators import _refine, _sel, _solve_decreasing

__all__ = ["rma_mods", "RmaModsResult", "design_matrix", "MODS_METHODS"]

#: tau^2 estimators supported with moderators (metafor names).
MODS_METHODS: tuple[str, ...] = (
    "EE", "FE", "DL", "DLIT", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML", "EB", "PM", "PMM",
)  # fmt: skip

_EPS = float(np.finfo(float).eps)
_KNHA_RAW = True


# --------------------------------------------------------------------------- #
# design matrix: formula strings, DataFrames, arrays
# --------------------------------------------------------------------------- #
def _r_level(x: Any) -> str:
    """A factor level as R prints it (``as.character``): 2.0 -> "2", True -> "TRUE"."""
    if isinstance(x, bool | np.bool_):
        return "TRUE" if x else "FALSE"
    if isinstance(x, int | np.integer):
        return str(int(x))
    if isinstance(x, float | np.floating):
        xf = float(x)
        if xf.is_integer() and abs(xf) < 1e15:
            return str(int(xf))
        return f"{xf:.15g}"
    return str(x)


def _is_categorical(s) -> bool:
    import pandas as pd

    return bool(
        isinstance(s.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(s.dtype)
        or pd.api.types.is_string_dtype(s.dtype)
        or pd.api.types.is_bool_dtype(s.dtype)
    )


def _dummies(s, prefix: str, where: str, full: bool = False) -> tuple[list[np.ndarray], list[str]]:
    """Treatment-contrast dummies as R's ``model.matrix`` makes them (first level = reference;
    ``full``: one indicator per level, as R codes the first factor of a model without
    intercept).

    Levels: pandas categorical order when categorical; else sorted as R's ``factor()``
    sorts (numbers numerically, logicals FALSE < TRUE, strings by code point, which is
    R's order in the C locale).
    """
    import pandas as pd

    _check_missing(s, where)
    if isinstance(s.dtype, pd.CategoricalDtype):
        levels = list(s.cat.categories)
        vals = s.astype(object).to_numpy()
    else:
        vals = s.to_numpy(dtype=object)
        uniq = set(vals.tolist())
        if all(isinstance(u, bool | np.bool_) for u in uniq):
            levels = sorted(uniq)
        elif all(isinstance(u, int | float | np.integer | np.floating) for u in uniq):
            levels = sorted(uniq, key=float)
        else:
            levels = sorted(uniq, key=str)
    cols, names = [], []
    for lev in levels if full else levels[1:]:
        cols.append(np.array([v == lev for v in vals], dtype=float))
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


def _numeric_column(s, where: str) -> np.ndarray:
    _check_missing(s, where)
    x = as_float_array(where, s.to_numpy())
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"{where}: row {int(np.flatnonzero(bad)[0]) + 1} is not finite")
    return x


_TERM = re.compile(r"^(?:factor\(\s*([A-Za-z_.][\w.]*)\s*\)|([A-Za-z_.][\w.]*)|`([^`]+)`)$")


def _split_terms(rhs: str) -> list[tuple[str, str]]:
    """Split a formula's right-hand side into ``(sign, term)`` at top-level + and -."""
    out, depth, cur, sign = [], 0, "", "+"
    for ch in rhs:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if depth == 0 and ch in "+-":
            if cur.strip():
                out.append((sign, cur.strip()))
            elif ch == "-" and sign == "-":
                raise ValueError(f"cannot read formula term '--' in {rhs!r}")
            sign, cur = ch, ""
            continue
        cur += ch
    if cur.strip():
        out.append((sign, cur.strip()))
    return out


def _parse_formula(formula: str, data) -> tuple[np.ndarray, tuple[str, ...]]:
    text = formula.strip()
    if not text.startswith("~"):
        raise ValueError(
            f"mods={formula!r}: a formula must be one-sided and start with '~' (e.g. '~ ablat')"
        )
    rhs = text[1:].strip()
    for op in (":", "*", "^", "|", "%in%", "/"):
        if op in rhs:
            raise ValueError(
                f"mods={formula!r}: {op!r} (interactions / nesting / powers) is not supported; "
                "terms joined by '+' only -- build the product column in data and add it"
            )
    if data is None:
        raise ValueError(f"mods={formula!r} names columns, but no data= was given")
    intercept = True
    terms = []
    for sign, term in _split_terms(rhs):
        if term in ("0", "1"):
            intercept = not (term == "0" or sign == "-")
        else:
            terms.append((sign, term))
    cols: list[np.ndarray] = []
    names: list[str] = []
    seen: set[str] = set()
    full = not intercept  # R: without intercept the first factor gets all its levels
    for sign, term in terms:
        if sign == "-":
            raise ValueError(
                f"mods={formula!r}: removing the term {term!r} is not supported (only '- 1')"
            )
        mt = _TERM.match(term)
        if mt is None:
            raise ValueError(
                f"mods={formula!r}: cannot read the term {term!r}; use column names of data "
                "or factor(column), joined by '+' (transform columns in data beforehand)"
            )
        fac, plain, quoted = mt.groups()
        name = fac or plain or quoted
        if name not in data.columns:
            raise ValueError(
                f"mods={formula!r}: {name!r} is not a column of data "
                f"(columns: {', '.join(map(str, data.columns))})"
            )
        if term in seen:
            continue  # R drops repeated terms
        seen.add(term)
        s = data[name]
        where = f"moderator {name!r}"
        if fac is not None or _is_categorical(s):
            c, n = _dummies(s, f"factor({name})" if fac else name, where, full)
            full = False
        else:
            c, n = [_numeric_column(s, where)], [name]
        cols += c
        names += n
    k = len(data)
    if intercept:
        cols.insert(0, np.ones(k))
        names.insert(0, "intrcpt")
    if not cols:
        raise ValueError(f"mods={formula!r} leaves no coefficient in the model")
    return np.column_stack(cols), tuple(names)


def design_matrix(
    mods: Any, data: Any = None, intercept: bool = True, k: int | None = None
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

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"g": ["SEL+DEX", "SEL+DEX+PI", "SEL+DEX"]})
    >>> X, names = design_matrix("~ g", data=d)   # R: model.matrix(~ g, d)
    >>> names, X[:, 1].tolist()
    (('intrcpt', 'gSEL+DEX+PI'), [0.0, 1.0, 0.0])
    """
    import pandas as pd

    if isinstance(mods, str):
        if isinstance(data, dict):
            data = pd.DataFrame(data)
        X, names = _parse_formula(mods, data)
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
                    cc, nn = _dummies(s, str(c), where, full)
                    full = False
                else:
                    cc, nn = [_numeric_column(s, where)], [str(c)]
                cols += cc
                names_l += nn
            X = np.column_stack(cols) if cols else np.empty((len(mods), 0))
        else:
            arr = as_float_array("mods", mods)
            if arr.ndim == 1:
                X, names_l = arr[:, None], ["mods"]
            elif arr.ndim == 2:
                X = arr
                names_l = [f"X{j + 1}" for j in range(arr.shape[1])]
            else:
                raise ValueError(f"mods must be 1-D or 2-D; got shape {arr.shape}")
            bad = ~np.isfinite(X)
            if bad.any():
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
    if k is not None and X.shape[0] != k:
        raise ValueError(
            f"mods has {X.shape[0]} rows but there are {k} studies; give one row per study"
        )
    _check_rank(X, names)
    return X, names


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


# --------------------------------------------------------------------------- #
# the engine: n meta-regressions, arrays (n, k) and designs (n, k, p)
# --------------------------------------------------------------------------- #
class _Proj:
    """QR pieces of ``A^(1/2) X`` for weights ``a`` (n, k): ``P_a = B B'``."""

    def __init__(self, X: np.ndarray, a: np.ndarray):
        p = X.shape[-1]
        sa = np.sqrt(a)
        Q, R = np.linalg.qr(sa[..., None] * X, mode="complete")
        self.sa = sa
        self.Q1 = Q[..., :p]
        self.R = R[..., :p, :]
        self.B = sa[..., None] * Q[..., p:]  # (n, k, k - p)

    def coef(self, y: np.ndarray) -> np.ndarray:
        """Weighted least-squares coefficients (n, p)."""
        rhs = np.einsum("nkp,nk->np", self.Q1, self.sa * y)
        return np.linalg.solve(self.R, rhs[..., None])[..., 0]

    def vb(self) -> np.ndarray:
        """``(X'AX)^-1 = R^-1 R^-T`` (n, p, p)."""
        Ri = np.linalg.inv(self.R)
        return Ri @ np.swapaxes(Ri, -1, -2)

    def quad(self, y: np.ndarray) -> np.ndarray:
        """``y' P_a y = ||B'y||^2``."""
        u = np.einsum("nkj,nk->nj", self.B, y)
        return (u * u).sum(-1)

    def py2(self, y: np.ndarray) -> np.ndarray:
        """``y' P_a P_a y = ||P_a y||^2``."""
        u = np.einsum("nkj,nk->nj", self.B, y)
        py = np.einsum("nkj,nj->nk", self.B, u)
        return (py * py).sum(-1)

    def trp(self) -> np.ndarray:
        return (self.B * self.B).sum((-1, -2))

    def trpsps(self, s: np.ndarray) -> np.ndarray:
        """``tr(P S P S)`` for diagonal ``S`` (n, k): ``||B' S B||_F^2``."""
        M = np.einsum("nkj,nk,nkl->njl", self.B, s, self.B)
        return (M * M).sum((-1, -2))

    def trpp(self) -> np.ndarray:
        M = np.swapaxes(self.B, -1, -2) @ self.B
        return (M * M).sum((-1, -2))


def _tau2(method: str, y, v, X, df, k):
    """tau^2, se(tau^2), converged, iterations, set_to_zero -- arrays (n,)."""
    n = y.shape[0]
    zero = np.zeros(n)
    conv = np.ones(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    nan = np.full(n, np.nan)
    no = np.zeros(n, dtype=bool)
    if method in ("EE", "FE"):
        return zero, nan, conv, iters, no
    if method in ("DL", "HE"):
        a = 1.0 / v if method == "DL" else np.ones_like(v)
        pr = _Proj(X, a)
        qa, trp = pr.quad(y), pr.trp()
        trpv = df if method == "DL" else (pr.B * pr.B * v[..., None]).sum((-1, -2))
        tau2 = np.maximum((qa - trpv) / trp, 0.0)
        if method == "DL":
            se = _se_dl_form(pr, df, tau2)
        else:
            se = np.sqrt(2.0 * pr.trpsps(v + tau2[:, None])) / trp
        return tau2, se, conv, iters, no
    if method in ("HS", "HSk"):
        w = 1.0 / v
        pr = _Proj(X, w)
        q = pr.quad(y)
        sw = w.sum(-1)
        scale = k / df if method == "HSk" else np.ones(n)
        tau2 = np.maximum((q * scale - k) / sw, 0.0)
        se = _se_dl_form(pr, df, tau2) * pr.trp() * scale / sw
        return tau2, se, conv, iters, no
    if method == "SJ":
        # metafor starts SJ from the variance of y about its unweighted mean (the
        # intercept-only start, divisor k) even with moderators -- not from the OLS
        # residuals of the meta-regression (measured on dat.bcg, ~ ablat)
        r0 = y - y.mean(-1, keepdims=True)
        tau0 = (r0 * r0).sum(-1) / k
        a = 1.0 / (v + tau0[:, None])
        pr = _Proj(X, a)
        tau2 = tau0 * pr.quad(y) / df
        se = tau0 * np.sqrt(2.0 * pr.trpsps(v + tau2[:, None])) / df
        return tau2, se, conv, iters, no
    if method in ("PM", "EB", "SJIT", "PMM"):
        target = df if method != "PMM" else stats.chi2.ppf(0.5, df)

        def f(t, sel):
            pr = _Proj(X[sel], 1.0 / (v[sel] + t[:, None]))
            return pr.quad(y[sel]) - target[sel], -pr.py2(y[sel])

        tau2, conv, iters = _solve_decreasing(f, zero.copy(), np.ones(n, bool), newton=True)
        w = 1.0 / (v + tau2[:, None])
        se = k * np.sqrt(2.0 / df) / w.sum(-1)
        return tau2, se, conv, iters, no
    if method == "DLIT":

        def g(t, sel):
            pr = _Proj(X[sel], 1.0 / (v[sel] + t[:, None]))
            return (pr.quad(y[sel]) - df[sel]) / pr.trp() - t, None

        tau2, conv, iters = _solve_decreasing(g, zero.copy(), np.ones(n, bool))
        pr = _Proj(X, 1.0 / (v + tau2[:, None]))
        se = _se_dl_form(pr, df, tau2)
        return tau2, se, conv, iters, no
    if method in ("ML", "REML"):
        return _likelihood(method, y, v, X, k)
    raise ValueError(
        f"method={method!r} is not supported with moderators; supported: {', '.join(MODS_METHODS)}"
    )


def _se_dl_form(pr: _Proj, df, tau2):
    """``sqrt(2(k-p) + 4 tau2 tr(P) + 2 tau2^2 tr(PP)) / tr(P)`` (P from ``a``)."""
    trp, trpp = pr.trp(), pr.trpp()
    return np.sqrt(2.0 * df + 4.0 * tau2 * trp + 2.0 * tau2 * tau2 * trpp) / trp


def _likelihood(method, y, v, X, k):
    """ML / REML: Fisher scoring from the HE estimate (as metafor), then the root."""
    n = y.shape[0]
    pr_he = _Proj(X, np.ones_like(v))
    df = k - X.shape[-1]
    trpv = (pr_he.B * pr_he.B * v[..., None]).sum((-1, -2))
    tau2 = np.maximum(np.nan_to_num((pr_he.quad(y) - trpv) / df, nan=0.0), 0.0)

    def score_info(t, sel):
        vv = v[sel]
        w = 1.0 / (vv + t[:, None])
        pr = _Proj(X[sel], w)
        if method == "ML":
            b = pr.coef(y[sel])
            r = y[sel] - np.einsum("nkp,np->nk", X[sel], b)
            return (w * w * r * r).sum(-1) - w.sum(-1), (w * w).sum(-1)
        return pr.py2(y[sel]) - pr.trp(), pr.trpp()

    conv = np.zeros(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    for _ in range(100):
        idx = np.flatnonzero(~conv)
        if idx.size == 0:
            break
        s_, info = score_info(tau2[idx], _sel(n, idx))
        new = np.maximum(tau2[idx] + s_ / info, 0.0)
        iters[idx] += 1
        step = np.abs(new - tau2[idx])
        conv[idx] = (step <= 1e-10 * np.maximum(new, 1e-300)) | ((new == 0) & (tau2[idx] == 0))
        tau2[idx] = new
    # polish: the root of the score next to the Fisher-scoring point
    sel = np.ones(n, dtype=bool)
    t = tau2
    s0 = score_info(t, sel)[0]
    scale = np.maximum(t, 1e-12 * v.sum(-1) / k)
    delta = 1e-6 * scale
    a = np.where(s0 > 0, t, np.maximum(t - delta, 0.0))
    b = np.where(s0 > 0, t + delta, t)
    for _ in range(200):
        fa = score_info(a, sel)[0]
        fb = score_info(b, sel)[0]
        need_a = (fa <= 0) & (a > 0)
        need_b = fb > 0
        if not (need_a | need_b).any():
            break
        delta = delta * 4.0
        a = np.where(need_a, np.maximum(a - delta, 0.0), a)
        b = np.where(need_b, b + delta, b)
    at_zero = (score_info(a, sel)[0] <= 0) & (a == 0)
    root, ok, it = _refine(score_info, a, b, sel, newton=False)
    tau2 = np.where(at_zero, 0.0, root)
    conv = ok | at_zero
    iters += it
    switched = (tau2 > 0) & (_loglik(method, y, v, X, np.zeros(n)) > _loglik(method, y, v, X, tau2))
    tau2 = np.where(switched, 0.0, tau2)
    _, info = score_info(tau2, sel)
    return tau2, np.sqrt(2.0 / info), conv, iters, switched


def _loglik(method, y, v, X, tau2):
    s = v + tau2[:, None]
    pr = _Proj(X, 1.0 / s)
    ll = -0.5 * np.log(s).sum(-1) - 0.5 * pr.quad(y)
    if method == "REML":
        # log det(X'WX) = 2 sum log |diag R|
        ll -= np.log(np.abs(np.diagonal(pr.R, axis1=-2, axis2=-1))).sum(-1)
    return ll


def _fit_mods(y, v, X, *, method, test, level, btt, intercept):
    """Fit every row; ``y, v`` (n, k), ``X`` (n, k, p); returns a dict of arrays."""
    from metaparity.models.uni import _t_two_sided

    n, k_ = y.shape
    p = X.shape[-1]
    k = np.full(n, float(k_))
    df = k - p
    # metafor 3.8 estimates tau^2 and computes QE from the outcomes centred at their
    # unweighted mean (b itself from the raw outcomes).  With an intercept in the column
    # space this changes nothing; without one (``~ x - 1``) it changes tau^2 and QE --
    # measured (dat.bcg, mods = ablat, intercept = FALSE): QE 209.69, not sum w r^2 = 48.70.
    yc = y - y.mean(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2, se_tau2, conv, iters, switched = _tau2(method, yc, v, X, df, k)
    w = 1.0 / (v + tau2[:, None])
    pr = _Proj(X, w)
    b = pr.coef(y)
    vb = pr.vb()
    with np.errstate(divide="ignore", invalid="ignore"):
        if test in ("knha", "adhoc"):
            rss = pr.quad(y if _KNHA_RAW else yc)
            # metafor 3.8: a weighted RSS below machine epsilon counts as 0
            rss = np.where(rss < _EPS, 0.0, rss)
            s2 = np.where(rss == 0, 0.0, rss / df)
            if test == "adhoc":
                s2 = np.maximum(s2, 1.0)
            vb = vb * s2[:, None, None]
        se = np.sqrt(np.diagonal(vb, axis1=-2, axis2=-1))
        zval = b / se
    alpha = 1.0 - level / 100.0
    use_z = test == "z"
    dfs = np.where(use_z, np.nan, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        if use_z:
            pval = 2.0 * stats.norm.sf(np.abs(zval))
            crit = np.full(n, stats.norm.isf(alpha / 2.0))
        else:
            dfc = np.where(df > 0, df, np.nan)
            pval = _t_two_sided(zval, dfc[:, None])
            pval = np.where(df[:, None] > 0, pval, np.nan)
            crit = stats.t.isf(alpha / 2.0, dfc)
    ci_lb = b - crit[:, None] * se
    ci_ub = b + crit[:, None] * se

    # omnibus test of the coefficients in btt
    bt = b[:, btt]
    vt = vb[:, btt][:, :, btt]
    m = len(btt)
    with np.errstate(divide="ignore", invalid="ignore"):
        try:
            qm = np.einsum("np,np->n", bt, np.linalg.solve(vt, bt[..., None])[..., 0])
        except np.linalg.LinAlgError:  # vb scaled by s2 = 0 (knha, RSS 0)
            qm = np.full(n, np.nan)
        if use_z:
            qmp = stats.chi2.sf(qm, m)
        else:
            qm = qm / m
            # k == p: metafor reports QM / m but no p-value (F with 0 denominator df)
            qmp = np.where(df > 0, stats.f.sf(qm, m, np.where(df > 0, df, 1.0)), np.nan)

    # residual heterogeneity: equal-effects weights
    wfe = 1.0 / v
    pfe = _Proj(X, wfe)
    qe = np.where(df > 0, pfe.quad(yc), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        qep = np.where(df > 0, stats.chi2.sf(qe, np.maximum(df, 1.0)), 1.0)
        if method in ("EE", "FE"):
            i2 = np.where(qe > 0, np.maximum(0.0, 100.0 * (qe - df) / qe), 0.0)
            h2 = np.where(df > 0, qe / df, 1.0)
        else:
            s2typ = df / pfe.trp()
            i2 = 100.0 * tau2 / (tau2 + s2typ)
            h2 = (tau2 + s2typ) / s2typ
    # pseudo R^2 against the intercept-only model fitted with the same estimator
    r2 = np.full(n, np.nan)
    if intercept and p > 1:
        ones = np.ones((n, k_, 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            if method in ("EE", "FE"):
                q0 = _Proj(ones, wfe).quad(yc)
                h0 = q0 / (k - 1.0)
                r2 = np.where(h0 > 0, np.maximum(0.0, 100.0 * (h0 - qe / df) / h0), 0.0)
                r2 = np.where(df > 0, r2, np.nan)  # metafor: 0 when Q0 = 0, NaN when k = p
            else:
                t0 = _tau2(method, yc, v, ones, k - 1.0, k)[0]
                r2 = np.where(t0 > 0, np.maximum(0.0, 100.0 * (t0 - tau2) / t0), 0.0)
    return dict(
        b=b, se=se, zval=zval, pval=pval, ci_lb=ci_lb, ci_ub=ci_ub, vb=vb, tau2=tau2,
        se_tau2=se_tau2, I2=i2, H2=h2, R2=r2, QE=qe, QEp=qep, QM=qm, QMp=qmp, dfs=dfs,
        converged=conv, iterations=iters, set_to_zero=switched,
    )  # fmt: skip


# --------------------------------------------------------------------------- #
# public API
# --------------------------------------------------------------------------- #
_VEC = ("b", "se", "zval", "pval", "ci_lb", "ci_ub")


@dataclass(frozen=True)
class RmaModsResult:
    """A fitted meta-regression (``metafor::rma.uni`` with ``mods``), metafor's names.

    ``b, se, zval, pval, ci_lb, ci_ub`` are arrays with one entry per coefficient
    (``coef_names``); ``vb`` is their ``p x p`` covariance matrix.  ``QMdf`` is
    ``(m,)`` for the chi^2 test (``test="z"``) and ``(m, k - p)`` for the F test.
    ``R2`` is NaN where metafor reports none (no intercept, intercept-only model).
    """

    b: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    coef_names: tuple[str, ...]
    vb: np.ndarray
    tau2: float
    se_tau2: float
    I2: float
    H2: float
    R2: float
    QE: float
    QEp: float
    QM: float
    QMp: float
    QMdf: tuple
    k: int
    p: int
    method: str
    test: str
    level: float
    dfs: float
    converged: bool
    btt: tuple[int, ...] = ()
    intercept: bool = True
    yi: np.ndarray = field(repr=False, default=None)
    vi: np.ndarray = field(repr=False, default=None)
    X: np.ndarray = field(repr=False, default=None)
    slab: tuple | None = field(repr=False, default=None)

    @property
    def tau(self) -> float:
        return float(np.sqrt(self.tau2))

    @property
    def beta(self) -> np.ndarray:
        """Alias of ``b`` (metafor's ``beta``)."""
        return self.b

    def to_dict(self) -> dict[str, Any]:
        """Results and settings as a JSON-ready dict (arrays become lists)."""
        out: dict[str, Any] = {q: getattr(self, q).tolist() for q in _VEC}
        out["coef_names"] = list(self.coef_names)
        out["vb"] = self.vb.tolist()
        for q in "tau2 se_tau2 I2 H2 R2 QE QEp QM QMp dfs".split():
            out[q] = float(getattr(self, q))
        out["QMdf"] = list(self.QMdf)
        out["btt"] = [i + 1 for i in self.btt]  # 1-based, as metafor
        for q in ("k", "p", "method", "test", "level", "converged", "intercept"):
            out[q] = getattr(self, q)
        return out

    def summary(self, digits: int = 4) -> str:
        """A printout laid out like metafor's ``print.rma.uni`` for a meta-regression."""
        d = digits
        fe = self.method in ("EE", "FE")
        head = (
            f"Fixed-Effects with Moderators Model (k = {self.k})"
            if fe
            else f"Mixed-Effects Model (k = {self.k}; tau^2 estimator: {self.method})"
        )
        lines = [head, ""]
        if not fe:
            se_t = "" if np.isnan(self.se_tau2) else f" (SE = {self.se_tau2:.{d}f})"
            lines += [
                f"tau^2 (estimated amount of residual heterogeneity):     {self.tau2:.{d}f}{se_t}",
                f"tau (square root of estimated tau^2 value):             {self.tau:.{d}f}",
            ]
        lines += [
            f"I^2 (residual heterogeneity / unaccounted variability): {self.I2:.2f}%",
            f"H^2 (unaccounted variability / sampling variability):   {self.H2:.2f}",
        ]
        if not np.isnan(self.R2) or (self.intercept and self.p > 1):
            r2 = "NA" if np.isnan(self.R2) else f"{self.R2:.2f}"
            lines.append(f"R^2 (amount of heterogeneity accounted for):            {r2}%")
        lines += [
            "",
            "Test for Residual Heterogeneity:",
            f"QE(df = {self.k - self.p}) = {self.QE:.{d}f}, p-val {_p(self.QEp)}",
            "",
        ]
        which = _btt_text(self.btt)
        if self.test == "z":
            stat = f"QM(df = {self.QMdf[0]}) = {self.QM:.{d}f}"
        else:
            stat = f"F(df1 = {self.QMdf[0]}, df2 = {self.QMdf[1]}) = {self.QM:.{d}f}"
        lines += [f"Test of Moderators ({which}):", f"{stat}, p-val {_p(self.QMp)}", ""]
        lines += ["Model Results:", ""]
        tstat = "zval" if self.test == "z" else "tval"
        cols = ["", "estimate", "se", tstat] + (["df"] if self.test != "z" else [])
        cols += ["pval", "ci.lb", "ci.ub"]
        rows = []
        for j, name in enumerate(self.coef_names):
            pv = self.pval[j]
            r = [name, f"{self.b[j]:.{d}f}", f"{self.se[j]:.{d}f}", f"{self.zval[j]:.{d}f}"]
            if self.test != "z":
                r.append(f"{self.dfs:g}")
            r += [
                "NA" if np.isnan(pv) else (f"{pv:.{d}f}" if pv >= 1e-4 else "<.0001"),
                f"{self.ci_lb[j]:.{d}f}",
                f"{self.ci_ub[j]:.{d}f}",
            ]
            rows.append(r)
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cols, widths, strict=True))
            )  # noqa: E501
        )
        for r in rows:
            lines.append(
                "  ".join(
                    v.ljust(w) if i == 0 else v.rjust(w)
                    for i, (v, w) in enumerate(zip(r, widths, strict=True))
                )  # noqa: E501
            )
        if self.test == "knha":
            lines += ["", "(Knapp-Hartung adjustment applied; t- and F-distributions with k-p df)"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _p(p: float) -> str:
    if np.isnan(p):
        return "= NA"
    return "< .0001" if p < 1e-4 else f"= {p:.4f}"


def _btt_text(btt: tuple[int, ...]) -> str:
    one = [i + 1 for i in btt]
    if len(one) == 1:
        return f"coefficient {one[0]}"
    if one == list(range(one[0], one[-1] + 1)):
        return f"coefficients {one[0]}:{one[-1]}"
    return "coefficients " + ",".join(map(str, one))


def rma_mods(
    yi: Any = None,
    vi: Any = None,
    mods: Any = None,
    *,
    data: Any = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    intercept: bool = True,
    slab: Any = None,
    btt: Any = None,
) -> RmaModsResult:
    """Fit a meta-regression (mixed- or fixed-effects model with moderators).

    Equivalent to ``metafor::rma(yi, vi, mods = ~ ..., data = ..., method =, test =)``.

    Parameters
    ----------
    yi, vi : array_like or str
        Effect sizes and sampling variances (or column names of ``data``; default
        ``"yi"``/``"vi"`` when ``data`` is given).
    mods : str, pandas.DataFrame, pandas.Series or array_like
        Moderators: a one-sided formula of ``data`` columns joined by ``+``
        (``"~ ablat + year"``, ``"~ factor(alloc)"``, ``"~ x - 1"``, ``"~ 0 + x"``;
        no interactions), or the moderator values (see :func:`design_matrix`).
        Character, categorical and bool columns become treatment-contrast dummies
        named as R names them (``"allocrandom"``).
    data : pandas.DataFrame, optional
    method : str
        tau^2 estimator: EE (FE), DL, DLIT, HE, HS, HSk, SJ, SJIT, ML, REML
        (default), EB, PM, PMM.  (GENQ/GENQM need weights and are not offered.)
    test : {"z", "t", "knha", "adhoc"}
        ``"z"``: normal tests, chi^2 omnibus test.  Otherwise t(k - p) tests and
        ``F(m, k - p)`` for ``QM / m``; ``"knha"`` scales ``vb`` by ``s2``
        (Knapp & Hartung 2003), ``"adhoc"`` by ``max(1, s2)``.
    level : float
        Confidence level in percent.
    intercept : bool
        Add an intercept column to array/DataFrame ``mods`` (formulas decide themselves).
    slab : array_like or str, optional
        Study labels (used in error messages).
    btt : sequence of int, optional
        0-based indices of the coefficients in the omnibus test; default all but
        the intercept (all when there is none), as metafor.

    Returns
    -------
    RmaModsResult

    Notes
    -----
    A singular design (a redundant or constant column) is a ``ValueError`` naming
    the column; metafor drops such columns with a warning.  Studies with a missing
    moderator are an error as well (metafor drops them).  With ``k == p`` only
    EE/FE can be fitted (metafor: "Number of parameters to be estimated is larger
    than the number of observations").

    Examples
    --------
    >>> # metafor: dat <- escalc("PR", xi=c(39,16,150,30), ni=c(122,78,195,42))
    >>> #          rma(yi, vi, mods = ~ subgroup, data = dat, method = "DL")
    >>> import metaparity as mp
    >>> dat = mp.escalc("PR", xi=[39, 16, 150, 30], ni=[122, 78, 195, 42])
    >>> dat["subgroup"] = ["SEL+DEX", "SEL+DEX", "SEL+DEX+PI", "SEL+DEX+PI"]
    >>> res = rma_mods(mods="~ subgroup", data=dat, method="DL")
    >>> res.coef_names
    ('intrcpt', 'subgroupSEL+DEX+PI')
    >>> [round(float(x), 4) for x in res.b], round(res.QM, 4), res.QMdf
    ([0.2645, 0.4879], 56.142, (1,))
    >>> round(res.R2, 2)  # pseudo R^2 against rma(yi, vi, method="DL")
    97.54
    """
    method = check_choice("method", method, METHODS)
    if method not in MODS_METHODS:
        raise ValueError(
            f"method={method!r} is not supported with moderators in metaparity; supported: "
            f"{', '.join(MODS_METHODS)}"
        )
    test = check_choice("test", test, TESTS)
    from metaparity.models.uni import _check_level

    level = _check_level(level)
    if mods is None:
        raise ValueError("give mods= (a formula such as '~ x' or moderator values)")
    if data is not None:
        if yi is None:
            yi = "yi"
        if vi is None:
            vi = "vi"
    yi, vi, slab = (column(n, x, data) for n, x in (("yi", yi), ("vi", vi), ("slab", slab)))
    if yi is None or vi is None:
        raise ValueError("give yi and vi, or data= with yi and vi columns (e.g. from escalc())")
    y = np.atleast_1d(as_float_array("yi", yi)).ravel()
    v = np.atleast_1d(as_float_array("vi", vi)).ravel()
    labels = None if slab is None else tuple(np.asarray(slab, dtype=object).ravel().tolist())
    check_same_length(yi=y, vi=v, slab=None if labels is None else np.asarray(labels))
    check_yi_vi(y, v, labels)
    X, names = design_matrix(mods, data=data, intercept=intercept, k=y.size)
    k, p = X.shape
    has_int = bool(np.all(X[:, 0] == 1.0))
    if btt is None:
        btt_t = tuple(range(1, p)) if has_int and p > 1 else tuple(range(p))
    else:
        btt_t = tuple(sorted({int(i) for i in np.atleast_1d(btt)}))
        if not btt_t or min(btt_t) < 0 or max(btt_t) >= p:
            raise ValueError(f"btt={btt!r}: indices (0-based) must lie in 0..{p - 1}")
    if k == p and method not in ("EE", "FE"):
        raise ValueError(
            f"k = p = {k}: no residual degrees of freedom to estimate tau^2; metafor: 'Number of "
            "parameters to be estimated is larger than the number of observations' (only "
            "method='EE' can be fitted)"
        )
    out = _fit_mods(
        y[None, :], v[None, :], X[None, :, :],
        method=method, test=test, level=level, btt=list(btt_t), intercept=has_int,
    )  # fmt: skip
    if out["set_to_zero"][0]:
        warnings.warn(
            "Fisher scoring reached a local maximum whose likelihood is below the one at "
            "tau^2 = 0; setting tau^2 = 0 (as metafor does)",
            UserWarning,
            stacklevel=2,
        )
    if labels is not None and not out["converged"][0]:  # pragma: no cover - defensive
        warnings.warn(f"{method} did not converge ({study_label(0, labels)})", stacklevel=2)
    m = len(btt_t)
    return RmaModsResult(
        **{q: np.asarray(out[q][0], dtype=float) for q in _VEC},
        coef_names=names,
        vb=out["vb"][0],
        **{q: float(out[q][0]) for q in "tau2 se_tau2 I2 H2 R2 QE QEp QM QMp dfs".split()},
        QMdf=(m,) if test == "z" else (m, k - p),
        k=k,
        p=p,
        method=method,
        test=test,
        level=level,
        converged=bool(out["converged"][0]),
        btt=btt_t,
        intercept=has_int,
        yi=y,
        vi=v,
        X=X,
        slab=labels,
    )
