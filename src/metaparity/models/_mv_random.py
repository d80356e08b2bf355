"""Random effects of ``rma_mv``: formulas read as metafor reads them, and the covariance
terms they add to the marginal covariance ``M`` with their derivatives.

* ``~ 1 | f`` (and ``~ 1 | f1/f2``: one term per level of nesting, ``f1`` and ``f1/f2``)
  adds ``sigma2_j * Z_j R_j Z_j'`` (``R_j`` the identity, or a known correlation matrix).
* ``~ inner | outer`` adds ``(Z_inner G Z_inner') o (Z_outer Z_outer')``, ``G`` of the
  structure ``struct`` (CS, HCS, UN, ID, DIAG, AR, HAR, CAR) over the levels of ``inner``
  in R's ``factor()`` order; the first such term has ``tau2``/``rho``, the second
  ``gamma2``/``phi``.

Each estimated parameter lives in an optimisation coordinate with simple bounds: a variance
(``var``, >= 0, where ``G`` is linear in it), a standard deviation (``sd``, >= 0, HCS, HAR
and UN with fixed values), a correlation (``cor``, in [-1, 1]; [0, 1] for CAR) or an entry
of the Cholesky factor of ``G`` (``chol``, unbounded; UN without fixed values).  The
derivative of ``G`` in every coordinate is exact.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from metaparity.models.design import r_factor

__all__ = ["STRUCTS", "SigmaTerm", "GTerm", "parse_random", "expand_fixed"]

#: the ``struct=`` values of ``~ inner | outer`` terms that rma_mv fits (metafor's names)
STRUCTS: tuple[str, ...] = ("CS", "HCS", "UN", "ID", "DIAG", "AR", "HAR", "CAR")
_HETERO = ("HCS", "UN", "DIAG", "HAR")  # one variance per inner level
_WITH_COR = ("CS", "HCS", "AR", "HAR", "CAR")  # one correlation
_NAME = r"[A-Za-z_.][\w.]*"


def _lower(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Below-diagonal (i, j) pairs in R's ``lower.tri`` order (column by column)."""
    pairs = [(i, j) for j in range(n) for i in range(j + 1, n)]
    return (np.array([p[0] for p in pairs], dtype=int), np.array([p[1] for p in pairs], dtype=int))


def _column(data: pd.DataFrame | None, name: str, formula: str, rows: np.ndarray) -> pd.Series:
    if data is None:
        raise ValueError(
            f"random={formula!r} names column {name!r}, but no data= was given: pass "
            "data=DataFrame holding the grouping variables"
        )
    if name not in data.columns:
        close = [c for c in map(str, data.columns) if c.lower() == name.lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"random={formula!r} names column {name!r}, which is not in data{hint}; columns "
            f"are {', '.join(map(str, data.columns))}"
        )
    return data[name].iloc[rows].reset_index(drop=True)


@dataclass(frozen=True)
class SigmaTerm:
    """One ``sigma2`` component: level codes per row and ``D = Z R Z'`` (k x k)."""

    name: str
    codes: np.ndarray
    levels: tuple[str, ...]
    D: np.ndarray
    fixed: float | None = None
    #: the known correlation matrix over the levels (None: the identity)
    Rmat: np.ndarray | None = None


@dataclass
class GTerm:
    """One ``~ inner | outer`` term (``tau2``/``rho`` or ``gamma2``/``phi``)."""

    formula: str
    struct: str
    inner: str
    outer: str
    icodes: np.ndarray  # inner level per row, 0-based
    levels: tuple[str, ...]
    ocodes: np.ndarray
    values: np.ndarray  # numeric inner levels (CAR)
    var_fixed: np.ndarray  # NaN = estimate
    cor_fixed: np.ndarray
    S2: np.ndarray = field(repr=False)  # same-outer mask (k x k)
    Zi: np.ndarray = field(repr=False)  # inner indicators (k x n)
    coords: list[tuple[str, int]] = field(default_factory=list)
    olevels: tuple[str, ...] = ()  # outer levels (ocodes index them)
    #: UN on the Cholesky factor of G (metafor's default; control cholesky=False: not)
    use_cholesky: bool = True

    @property
    def n(self) -> int:
        return len(self.levels)

    @property
    def n_var(self) -> int:
        return self.n if self.struct in _HETERO else 1

    @property
    def n_cor(self) -> int:
        if self.struct == "UN":
            return self.n * (self.n - 1) // 2
        return 1 if self.struct in _WITH_COR else 0

    @property
    def cholesky(self) -> bool:
        return (
            self.struct == "UN"
            and self.use_cholesky
            and bool(np.isnan(self.var_fixed).all() and np.isnan(self.cor_fixed).all())
        )

    # -- optimisation coordinates -------------------------------------------------------
    def setup_coords(self) -> None:
        """The estimated coordinates, in the order metafor lists them (variances first)."""
        n = self.n
        if self.cholesky:
            self.coords = [("chol", i * n + j) for i in range(n) for j in range(i + 1)]
            return
        vk = "sd" if self.struct in ("HCS", "HAR", "UN") else "var"
        self.coords = [(vk, i) for i in range(self.n_var) if np.isnan(self.var_fixed[i])]
        self.coords += [("cor", m) for m in range(self.n_cor) if np.isnan(self.cor_fixed[m])]

    def bounds(self) -> list[tuple[float | None, float | None]]:
        out: list[tuple[float | None, float | None]] = []
        for kind, _ in self.coords:
            if kind == "chol":
                out.append((None, None))
            elif kind == "cor":
                out.append((0.0, 1.0) if self.struct == "CAR" else (-1.0, 1.0))
            else:
                out.append((0.0, None))
        return out

    def start(
        self, total: float, var: np.ndarray | None = None, cor: np.ndarray | None = None
    ) -> np.ndarray:
        """metafor's start: every variance ``total``, every correlation 0.5; or the
        variances ``var`` (``n_var`` of them) and correlations ``cor`` (``n_cor``) given
        (control ``tau2.init``/``rho.init``), in optimisation coordinates."""
        v = np.full(self.n_var, float(total)) if var is None else np.asarray(var, dtype=float)
        r = np.full(self.n_cor, 0.5) if cor is None else np.asarray(cor, dtype=float)
        if self.cholesky:
            C, _ = self._corr(r)
            sd = np.sqrt(np.broadcast_to(v, (self.n,)))
            G0 = C * np.outer(sd, sd)
            try:
                L0 = np.linalg.cholesky(G0)
            except np.linalg.LinAlgError:
                raise ValueError(
                    f"random={self.formula!r}: the starting values (tau2.init/rho.init) give a "
                    "G that is not positive definite; choose other starting correlations"
                ) from None
            return np.array([L0[c // self.n, c % self.n] for _, c in self.coords])
        x = []
        for kind, i in self.coords:
            x.append(r[i] if kind == "cor" else np.sqrt(v[i]) if kind == "sd" else v[i])
        return np.array(x, dtype=float)

    # -- G and its derivatives ---------------------------------------------------------
    def _corr(self, cor: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """The correlation pattern C(cor) and dC/dcor_m for every correlation m."""
        n = self.n
        eye = np.eye(n)
        if self.struct in ("CS", "HCS"):
            off = 1.0 - eye
            return eye + cor[0] * off, [off]
        if self.struct in ("AR", "HAR", "CAR"):
            if self.struct == "CAR":
                lag = np.abs(self.values[:, None] - self.values[None, :])
            else:
                idx = np.arange(n, dtype=float)
                lag = np.abs(idx[:, None] - idx[None, :])
            r = cor[0]
            with np.errstate(divide="ignore", invalid="ignore"):
                C = np.where(lag == 0, 1.0, np.power(r, lag))
                dC = np.where(lag == 0, 0.0, lag * np.power(r, lag - 1.0))
            return C, [np.nan_to_num(dC, nan=0.0, posinf=0.0)]
        if self.struct == "UN":
            C = eye.copy()
            dCs = []
            low = _lower(n)
            for m, (i, j) in enumerate(zip(*low, strict=True)):
                C[i, j] = C[j, i] = cor[m]
                d = np.zeros((n, n))
                d[i, j] = d[j, i] = 1.0
                dCs.append(d)
            return C, dCs
        return eye, []

    def values_at(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(variances, correlations) at the coordinates ``theta`` (fixed ones filled in)."""
        var = self.var_fixed.copy()
        cor = self.cor_fixed.copy()
        if self.cholesky:
            L = np.zeros((self.n, self.n))
            for (_, c), t in zip(self.coords, theta, strict=True):
                L[c // self.n, c % self.n] = t
            G = L @ L.T
            sd = np.sqrt(np.diag(G))
            with np.errstate(divide="ignore", invalid="ignore"):
                C = G / np.outer(sd, sd)
            return np.diag(G).copy(), np.nan_to_num(C[_lower(self.n)])
        for (kind, i), t in zip(self.coords, theta, strict=True):
            if kind == "var":
                var[i] = t
            elif kind == "sd":
                var[i] = t * t
            else:
                cor[i] = t
        if self.struct in ("ID", "DIAG"):
            cor = np.zeros(1)  # metafor reports rho = 0 (fixed) for ID and DIAG
        return var, cor

    def G_and_grad(self, theta: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """``G`` (n x n) and ``dG/dtheta_c`` for every coordinate."""
        n = self.n
        if self.cholesky:
            L = np.zeros((n, n))
            for (_, c), t in zip(self.coords, theta, strict=True):
                L[c // n, c % n] = t
            grads = []
            for _, c in self.coords:
                E = np.zeros((n, n))
                E[c // n, c % n] = 1.0
                grads.append(E @ L.T + L @ E.T)
            return L @ L.T, grads
        var, cor = self.values_at(theta)
        C, dC = self._corr(cor)
        if self.struct in ("HCS", "HAR", "UN"):
            s = np.sqrt(np.maximum(var, 0.0))
            G = s[:, None] * C * s[None, :]
            grads = []
            for kind, i in self.coords:
                if kind == "sd":
                    d = np.zeros((n, n))
                    d[i, :] = C[i, :] * s
                    d[:, i] += s * C[:, i]
                    grads.append(d)
                else:
                    grads.append(s[:, None] * dC[i] * s[None, :])
            return G, grads
        if self.struct == "DIAG":
            grads = []
            for _, i in self.coords:
                d = np.zeros((n, n))
                d[i, i] = 1.0
                grads.append(d)
            return np.diag(var), grads
        tau2 = var[0]
        grads = [C if kind == "var" else tau2 * dC[0] for kind, _ in self.coords]
        return tau2 * C, grads


def expand_fixed(value: Any, n: int, what: str, formula: str) -> np.ndarray:
    """A fixed-value argument (None, a number, or one entry per component; None/NaN entries
    are estimated) as a float array of length ``n``."""
    if value is None:
        return np.full(n, np.nan)
    arr = np.atleast_1d(
        np.asarray([np.nan if v is None else v for v in np.atleast_1d(value)], dtype=float)
    )
    if arr.size == 1 and n != 1:
        arr = np.full(n, arr[0])
    if arr.size != n:
        raise ValueError(
            f"{what} has {arr.size} values but random={formula!r} has {n}; give one value per "
            "component (None to estimate it) or a single value for all"
        )
    return arr


def _split(formula: str) -> tuple[str, str]:
    f = formula.strip()
    if not f.startswith("~") or f.count("|") != 1:
        raise ValueError(
            f"random={formula!r}: a random-effects formula reads '~ 1 | group', "
            "'~ 1 | outer/inner' or '~ inner | outer'"
        )
    inner, outer = (p.strip() for p in f[1:].split("|"))
    if ":" in outer or "%in%" in outer:
        raise ValueError(
            f"random={formula!r}: ':' and '%in%' are not read in random formulas (as in "
            "metafor); nest with '/' ('~ 1 | study/esid')"
        )
    return inner, outer


def _factor(cols: list[pd.Series]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes/levels of the interaction of ``cols`` (metafor: interaction(lex.order=TRUE, sep="/"))."""
    parts = [r_factor(c) for c in cols]
    keys = list(zip(*(p[0] for p in parts), strict=True))
    uniq = sorted(set(keys))
    index = {u: i for i, u in enumerate(uniq)}
    labels = tuple("/".join(parts[j][1][u[j]] for j in range(len(cols))) for u in uniq)
    return np.array([index[t] for t in keys], dtype=int), labels


def _r_matrix(R: Any, name: str, levels: tuple[str, ...], Rscale: str) -> np.ndarray:
    if isinstance(R, pd.DataFrame):
        lab = [str(i) for i in R.index]
        missing = [lev for lev in levels if lev not in lab]
        if missing:
            raise ValueError(
                f"R[{name!r}] has no row for level(s) {', '.join(missing[:5])} of {name!r}: "
                "give a matrix whose row and column names are the levels"
            )
        pos = [lab.index(lev) for lev in levels]
        mat = R.to_numpy(dtype=float)[np.ix_(pos, pos)]
    else:
        mat = np.asarray(R, dtype=float)
        if mat.shape != (len(levels), len(levels)):
            raise ValueError(
                f"R[{name!r}] is {mat.shape[0]} x {mat.shape[1]}, but {name!r} has "
                f"{len(levels)} levels: give a DataFrame labelled by the levels, or a matrix "
                f"in their order ({', '.join(levels[:5])}, ...)"
            )
    if not np.allclose(mat, mat.T, rtol=1e-12, atol=0):
        raise ValueError(f"R[{name!r}] is not symmetric")
    if Rscale == "cor":
        d = np.sqrt(np.diag(mat))
        if (np.diag(mat) <= 0).any():
            raise ValueError(
                f"R[{name!r}] has a diagonal entry <= 0, which Rscale='cor' cannot scale"
            )
        mat = mat / np.outer(d, d)
    ev = np.linalg.eigvalsh(mat).min()
    if ev < -1e-10 * np.abs(mat).max():
        raise ValueError(
            f"R[{name!r}] is not positive semi-definite (smallest eigenvalue {ev:.3g}): a known "
            "correlation matrix must be; check how it was built"
        )
    return mat


def parse_random(
    random: Any,
    data: pd.DataFrame | None,
    rows: np.ndarray,
    struct: Any = "CS",
    R: dict[str, Any] | None = None,
    Rscale: str = "cor",
    sigma2: Any = None,
    tau2: Any = None,
    rho: Any = None,
    gamma2: Any = None,
    phi: Any = None,
    check_k: bool = True,
    cholesky: tuple[bool | None, bool | None] = (None, None),
) -> tuple[list[SigmaTerm], list[GTerm]]:
    """The random-effect terms of ``random`` on the rows ``rows`` of ``data``.

    ``check_k=False`` (metafor's ``control=list(check.k.gtr.1=FALSE)``) leaves estimable the
    variances of single-level factors and of inner levels seen in one cluster only;
    ``cholesky`` (per term) False: UN on variances and correlations."""
    formulas = [random] if isinstance(random, str) else list(random)
    structs = [struct] if isinstance(struct, str) else list(struct)
    sig_specs: list[tuple[str, list[str], str]] = []
    g_specs: list[tuple[str, str, str]] = []
    for f in formulas:
        inner, outer = _split(f)
        if inner == "1":
            names = [p.strip() for p in outer.split("/")]
            for nm in names:
                if not re.fullmatch(_NAME, nm):
                    raise ValueError(f"random={f!r}: cannot read grouping variable {nm!r}")
            for depth in range(1, len(names) + 1):
                sig_specs.append(("/".join(names[:depth]), names[:depth], f))
        else:
            if not (re.fullmatch(_NAME, inner) and re.fullmatch(_NAME, outer)):
                raise ValueError(f"random={f!r}: '~ inner | outer' takes two column names")
            g_specs.append((inner, outer, f))
    if len(g_specs) > 2:
        raise ValueError("rma_mv takes at most two '~ inner | outer' terms (as metafor)")
    k = len(rows)
    R = R or {}
    unknown = [nm for nm in R if nm not in {s[0] for s in sig_specs}]
    if unknown:
        raise ValueError(
            f"R has matrices for {', '.join(map(repr, unknown))}, which no '~ 1 | group' term "
            "of random names"
        )
    fixed: Any = expand_fixed(sigma2, len(sig_specs), "sigma2", str(random)) if sig_specs else []
    sig_terms = []
    for (name, cols, f), fx in zip(sig_specs, fixed, strict=True):
        codes, levels = _factor([_column(data, c, f, rows) for c in cols])
        Rm = _r_matrix(R[name], name, levels, Rscale) if name in R else np.eye(len(levels))
        D = Rm[np.ix_(codes, codes)]
        fxv = None if np.isnan(fx) else float(fx)
        if len(levels) == 1 and fxv is None and check_k:
            warnings.warn(
                f"Single-level factor {name!r} found in 'random' argument. Corresponding "
                "'sigma2' value fixed to 0 (as metafor)", UserWarning, stacklevel=4,
            )  # fmt: skip
            fxv = 0.0
        sig_terms.append(SigmaTerm(name, codes, levels, D, fxv, Rm if name in R else None))
    g_terms = []
    for j, (inner, outer, f) in enumerate(g_specs):
        st = (structs[j] if j < len(structs) else structs[0]).upper()
        if st not in STRUCTS:
            raise ValueError(f"struct={st!r} is not one of {', '.join(STRUCTS)}")
        term = _g_term(f, st, inner, outer, data, rows, k,
                       (tau2, rho) if j == 0 else (gamma2, phi), j, check_k)  # fmt: skip
        if cholesky[j] is False:
            term.use_cholesky = False
            term.setup_coords()
        g_terms.append(term)
    return sig_terms, g_terms


def _g_term(f, st, inner, outer, data, rows, k, fixed, j, check_k=True) -> GTerm:
    vname, cname = ("tau2", "rho") if j == 0 else ("gamma2", "phi")
    si = _column(data, inner, f, rows)
    so = _column(data, outer, f, rows)
    icodes, levels = r_factor(si)
    ocodes, olevels = r_factor(so)
    n = len(levels)
    values = np.zeros(n)
    if st == "CAR":
        try:
            values = np.array([float(v) for v in levels])
        except ValueError:
            raise ValueError(
                f"random={f!r}: struct='CAR' needs a numeric inner variable (the times); "
                f"{inner!r} has level {levels[0]!r}"
            ) from None
    Zi = np.zeros((k, n))
    Zi[np.arange(k), icodes] = 1.0
    S2 = (ocodes[:, None] == ocodes[None, :]).astype(float)
    n_var = n if st in _HETERO else 1
    n_cor = n * (n - 1) // 2 if st == "UN" else (1 if st in _WITH_COR else 0)
    var_fixed = expand_fixed(fixed[0], n_var, vname, f)
    cor_fixed = expand_fixed(fixed[1], n_cor, cname, f) if n_cor else np.zeros(0)
    _metafor_fixes(st, f, vname, cname, icodes, ocodes, n, var_fixed, cor_fixed, check_k)
    term = GTerm(f, st, inner, outer, icodes, levels, ocodes, values, var_fixed, cor_fixed,
                 S2=S2, Zi=Zi, olevels=tuple(olevels))  # fmt: skip
    term.setup_coords()
    return term


def _metafor_fixes(st, f, vname, cname, icodes, ocodes, n, var_fixed, cor_fixed,
                   check_k=True) -> None:  # fmt: skip
    """Components metafor fixes itself (with its warnings): correlations that no data
    inform, variances of inner levels seen in one cluster only."""

    def warn(msg: str) -> None:
        warnings.warn(f"random={f!r}: {msg} (as metafor)", UserWarning, stacklevel=6)

    if st in _WITH_COR and np.isnan(cor_fixed).any():
        one_per_outer = len(np.unique(ocodes)) == len(ocodes)
        if n == 1:
            cor_fixed[:] = 0.0
            warn(f"Inner factor has only a single level, so fixed value of {cname} to 0")
        elif one_per_outer:
            cor_fixed[:] = 0.0
            warn(
                "Each level of the outer factor contains only a single level of the inner "
                f"factor, so fixed value of {cname} to 0"
            )
    if st in _HETERO and check_k:
        seen = np.array([len(np.unique(ocodes[icodes == i])) for i in range(n)])
        hit = np.isnan(var_fixed) & (seen == 1)
        if hit.any():
            var_fixed[hit] = 0.0
            warn(f"Inner factor has k=1 for one or more levels. Corresponding {vname} fixed to 0")
    if st == "UN" and n > 1:
        both = np.zeros((n, n), dtype=int)
        for o in np.unique(ocodes):
            present = np.zeros(n, dtype=bool)
            present[icodes[ocodes == o]] = True
            both += np.outer(present, present)
        never = both[_lower(n)] == 0
        hit = never & np.isnan(cor_fixed)
        if hit.any():
            cor_fixed[hit] = 0.0
            warn(
                "Some combinations of the levels of the inner factor never occurred. "
                f"Corresponding {cname} value(s) fixed to 0"
            )
