"""Peto's one-step method for 2x2 tables (``metafor::rma.peto``).

Each table contributes its observed events in group 1, ``O_i = ai``, their expectation
given the table's margins, ``E_i = (ai + ci) n1i / N_i``, and the hypergeometric
variance ``V_i = (ai + ci)(bi + di) n1i n2i / (N_i^2 (N_i - 1))`` (Yusuf, Peto, Lewis,
Collins & Sleight 1985).  The pooled log odds ratio and its standard error are

    b = sum(O - E) / sum(V),    se = 1 / sqrt(sum(V)),

a z-test and a Wald interval; ``tau2 = 0`` (an equal-effects method).  The test for
heterogeneity is Yusuf et al.'s, ``QE = sum((O - E)^2 / V) - sum(O - E)^2 / sum(V)``
over the tables with ``V > 0``, with ``k_yi - 1`` degrees of freedom (``k_yi``: the
studies with an effect size ``yi``); ``I2 = max(0, 100 (QE - (k_yi - 1)) / QE)`` and
``H2 = QE / (k_yi - 1)`` -- but ``QEp = 1, I2 = 0, H2 = 1`` when at most one table has
``V > 0``.  metafor prints the test as ``Q(df = k_pos - 1)`` (``k_pos``: tables with
``V > 0``) while computing its p-value with ``k_yi - 1`` df; both are kept here.

Settings, as metafor's: ``add``, ``to`` and ``drop00`` take one or two values.  The first
applies to the effect sizes ``yi, vi`` of :func:`metaparity.escalc` (``measure="PETO"``;
default ``add=1/2, to="only0", drop00=True``), which the model reports but does not use
for ``b``; the second to the tables that Peto's method pools (default ``add=0,
to="none", drop00=False``: tables are pooled as they are, and a table with no events, or
only events, in both groups has ``V = 0`` and contributes nothing, though it still counts
in ``k``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from metaparity._core.io import InputError
from metaparity._core.mfversion import since
from metaparity._core.validation import as_float_array, check_level, column, study_label
from metaparity.effects.escalc import escalc
from metaparity.effects.transforms import resolve
from metaparity.models.predict import Prediction, predict
from metaparity.models.results import ModelResult

__all__ = ["rma_peto", "PetoResult", "PetoTable", "PETO_FIELDS"]

#: the numeric results of :class:`PetoResult` that ``to_dict()`` reports (and parity compares)
PETO_FIELDS: tuple[str, ...] = (
    "b", "se", "zval", "pval", "ci_lb", "ci_ub", "QE", "QEp", "I2", "H2", "tau2", "k",
    "k_yi", "k_pos",
)  # fmt: skip
_TO = ("only0", "all", "if0all", "none")


@dataclass(frozen=True, kw_only=True)
class _Settings:
    """metafor's two-valued ``add``, ``to``, ``drop00`` and the confidence level."""

    add: tuple[float, float]
    to: tuple[str, str]
    drop00: tuple[bool, bool]
    level: float


@dataclass(frozen=True)
class PetoTable:
    """One refit per row (``PetoResult.leave1out()`` / ``cumul()``), metafor's columns.

    ``estimate, se, zval, pval, ci_lb, ci_ub, Q, Qp, I2, H2`` per refit (``se`` is NaN
    after ``transf``); ``k`` the tables in each refit; ``slab`` the study left out
    (leave1out) or added (cumul); ``ids`` its 0-based row in the data.
    """

    estimate: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    Q: np.ndarray
    Qp: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    k: np.ndarray
    slab: tuple = field(repr=False)
    ids: np.ndarray = field(repr=False)
    transf: bool = False

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with metafor's column names (``ci.lb``, ``ci.ub``), indexed by label."""
        names = ("k", "estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "Q", "Qp", "I2", "H2")
        cols = {n.replace("_", "."): np.asarray(getattr(self, n)) for n in names}
        return pd.DataFrame(cols, index=pd.Index(list(self.slab), name="slab"))


@dataclass(frozen=True, kw_only=True, repr=False)
class PetoResult(ModelResult):
    """A fitted ``metafor::rma.peto`` model (Peto's log odds ratio, equal effects).

    ``b, se, zval, pval, ci_lb, ci_ub`` on the log odds ratio scale; ``QE, QEp, I2, H2``
    the test for heterogeneity; ``tau2 = 0``.  ``k`` counts the tables pooled (metafor's
    ``k``), ``k_yi`` those with an effect size, ``k_pos`` those with ``V > 0``.  ``yi``,
    ``vi`` are the studies' effect sizes (``escalc("PETO")``, NaN ones omitted); ``slab``
    labels every study given (1, 2, ... without labels).
    """

    b: float
    se: float
    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    QE: float
    QEp: float
    I2: float
    H2: float
    k: int
    k_yi: int
    k_pos: int
    yi: np.ndarray
    vi: np.ndarray
    slab: tuple
    level: float
    tau2: float = 0.0
    measure: str = "PETO"
    method: str = "FE"
    test: str = "z"
    ni: np.ndarray | None = None
    #: the tables as given (after ``drop00[1]``), one row per study: ai, bi, ci, di
    tables: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    #: tables with no missing cell (metafor's ``not.na``)
    not_na: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    #: the tables as pooled (rows of ``not_na``, after ``add[2]``/``to[2]``)
    pooled: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    settings: _Settings | None = None

    def to_dict(self) -> dict[str, Any]:
        """The numeric results and settings as a JSON-ready dict."""
        out: dict[str, Any] = {q: getattr(self, q) for q in PETO_FIELDS}
        out.update(measure=self.measure, method=self.method, test=self.test, level=self.level)
        return out

    def __repr__(self) -> str:
        body = ", ".join(f"{n}={getattr(self, n)!r}" for n in PETO_FIELDS)
        return f"PetoResult({body})"

    def predict(self, transf: Any = None, level: float | None = None) -> Prediction:
        """Pooled log odds ratio (or, with ``transf=True``/``"exp"``, odds ratio) with its CI.

        Equivalent to ``metafor::predict(res, transf=exp)``; the prediction interval
        equals the CI (``tau2 = 0``).
        """
        return predict(self, transf=transf, level=level)  # type: ignore[arg-type]

    def leave1out(self, transf: Any = None) -> PetoTable:
        """Refit without each study in turn (``metafor::leave1out(res, transf=)``).

        Rows for the studies with complete tables; a refit that fails (e.g. no events
        left) gives NaN, as metafor's.
        """
        rows = np.flatnonzero(self.not_na)
        if self.k == 1:
            raise InputError("leave1out: stopped because k = 1 (metafor: 'Stopped because k = 1.')")
        if since("leave1out_pooled_tables"):  # metafor >= 4.8: the tables as pooled
            keep = [np.delete(np.arange(rows.size), j) for j in range(rows.size)]
            return self._refits(keep, rows, transf, self.pooled, rows)
        keep = [np.delete(np.arange(self.not_na.size), i) for i in rows]
        return self._refits(keep, rows, transf)

    def cumul(self, order: Any = None, transf: Any = None) -> PetoTable:
        """Cumulative meta-analysis in ``order`` (``metafor::cumul(res, order=, transf=)``).

        ``order`` sorts the studies (stable, ties keep data order); row ``j`` pools the
        first ``j + 1`` of them.  Rows for studies with missing cells are left out.
        """
        n = self.not_na.size
        if order is None:
            perm = np.arange(n)
        else:
            o = np.asarray(order).ravel()
            if o.size != n:
                raise InputError(
                    f"cumul: order has {o.size} values but the model has {n} studies; give "
                    "one per study (metafor: 'Length of the 'order' argument ... does not "
                    "correspond to the size of the original dataset')"
                )
            perm = np.argsort(o, kind="stable")
        shown = [j for j in range(n) if self.not_na[perm[j]]]
        return self._refits([perm[: j + 1] for j in shown], perm[shown], transf)

    def _refits(
        self, subsets: list[np.ndarray], ids: np.ndarray, transf: Any,
        tables: np.ndarray | None = None, rows: np.ndarray | None = None,
    ) -> PetoTable:  # fmt: skip
        """Refit on ``tables[sub]`` for each subset (default: the tables as given, whose
        row ``i`` is study ``i``; ``rows`` maps the rows of ``tables`` to studies)."""
        assert self.settings is not None
        tables = self.tables if tables is None else tables
        rows = np.arange(tables.shape[0]) if rows is None else rows
        cols = ("b", "se", "zval", "pval", "ci_lb", "ci_ub", "QE", "QEp", "I2", "H2", "k")
        vals = np.full((len(subsets), len(cols)), np.nan)
        for r, sub in enumerate(subsets):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    fit = _fit(tables[sub], self.settings, [self.slab[i] for i in rows[sub]])
                except (InputError, ValueError):
                    continue
            vals[r] = [float(getattr(fit, c)) for c in cols]
        est, se, lb, ub = vals[:, 0], vals[:, 1], vals[:, 4], vals[:, 5]
        f = resolve(transf, "PETO", None)
        if f is not None:
            est, lb, ub = (np.asarray(f(x), dtype=float) for x in (est, lb, ub))
            se = np.full_like(se, np.nan)
            lb, ub = np.fmin(lb, ub), np.fmax(lb, ub)
        return PetoTable(
            estimate=est, se=se, zval=vals[:, 2], pval=vals[:, 3], ci_lb=lb, ci_ub=ub,
            Q=vals[:, 6], Qp=vals[:, 7], I2=vals[:, 8], H2=vals[:, 9],
            k=vals[:, 10], slab=tuple(self.slab[i] for i in ids),
            ids=np.asarray(ids, dtype=int), transf=f is not None,
        )  # fmt: skip


def rma_peto(
    ai: Any = None,
    bi: Any = None,
    ci: Any = None,
    di: Any = None,
    n1i: Any = None,
    n2i: Any = None,
    *,
    data: pd.DataFrame | None = None,
    slab: Any = None,
    add: float | tuple[float, float] = 0.5,
    to: str | tuple[str, str] = "only0",
    drop00: bool | tuple[bool, bool] = True,
    level: float = 95,
) -> PetoResult:
    """Pool 2x2 tables with Peto's one-step log odds ratio.

    Equivalent to ``metafor::rma.peto(ai, bi, ci, di, n1i, n2i, add=1/2, to="only0",
    drop00=TRUE, level=95)``.

    Parameters
    ----------
    ai, bi, ci, di, n1i, n2i : array_like or str, optional
        Events ``ai``/``ci`` and non-events ``bi``/``di`` of groups 1 and 2, or the group
        sizes ``n1i``/``n2i`` instead of the non-events; column names with ``data=``.
        A missing (NaN) cell leaves its study out, with metafor's warning.
    data : pandas.DataFrame, optional
        Where string arguments are looked up.
    slab : array_like or str, optional
        Study labels (used in messages and by ``leave1out``/``cumul``).
    add, to, drop00 : scalar or pair
        metafor's continuity correction, which studies get it, and whether studies with
        no events (or only events) in both groups are dropped.  One value: for the
        effect sizes ``yi, vi`` only (the pooled tables get ``add=0, to="none",
        drop00=False``); a pair: (effect sizes, pooled tables).
    level : float
        Confidence level in percent.

    Returns
    -------
    PetoResult
        ``b, se, zval, pval, ci_lb, ci_ub, QE, QEp, I2, H2, tau2 (= 0), k`` with
        ``predict()``, ``summary()``, ``to_dict()``, ``leave1out()`` and ``cumul()``.

    Raises
    ------
    InputError
        Inconsistent tables (events above the group size, ``n1i != ai + bi``, negative
        counts; the study is named), no tables, or no events (or no non-events) at all.

    Examples
    --------
    >>> res = rma_peto(ai=[4, 6, 3], n1i=[123, 306, 231], ci=[11, 29, 11], n2i=[139, 303, 220])
    >>> round(res.b, 4), round(res.se, 4)  # metafor: rma.peto(...): -1.2373, 0.2566
    (-1.2373, 0.2566)
    >>> round(res.predict(transf="exp").pred, 4)  # pooled odds ratio (metafor: 0.2902)
    0.2902
    """
    st = _settings(add, to, drop00, level)
    tables, labels = _read_tables(ai, bi, ci, di, n1i, n2i, data, slab)
    return _fit(tables, st, labels)


def _settings(add: Any, to: Any, drop00: Any, level: float) -> _Settings:
    adds = _pair("add", add, 0.0)
    tos = _pair("to", to, "none")
    drops = _pair("drop00", drop00, False)
    for t in tos:
        if t not in _TO:
            raise InputError(
                f"to={t!r} is not one of {', '.join(_TO)} (metafor: \"Unknown 'to' argument specified.\")"
            )
    a2: tuple[float, float] = (float(adds[0]), float(adds[1]))
    for a in a2:
        if not math.isfinite(a) or a < 0:
            raise InputError(f"add={a!r} must be a non-negative number (metafor's default is 1/2)")
    d2: tuple[bool, bool] = (bool(drops[0]), bool(drops[1]))
    return _Settings(add=a2, to=(str(tos[0]), str(tos[1])), drop00=d2, level=check_level(level))


def _pair(name: str, value: Any, second: Any) -> tuple[Any, Any]:
    """metafor's one-or-two-valued argument: one value ``v`` means ``(v, second)``."""
    if isinstance(value, str) or np.ndim(value) == 0:
        return value, second
    vals = list(value)
    if len(vals) != 2:
        raise InputError(
            f"{name}={value!r}: give one or two values (metafor: \"Argument '{name}' should "
            "specify one or two values (see 'help(rma.peto)').\")"
        )
    return vals[0], vals[1]


def _read_tables(
    ai: Any, bi: Any, ci: Any, di: Any, n1i: Any, n2i: Any, data: Any, slab: Any
) -> tuple[np.ndarray, tuple]:
    """The tables as a ``(k, 4)`` float array (ai, bi, ci, di) and the study labels."""
    raw = {n: column(n, v, data) for n, v in
           (("ai", ai), ("bi", bi), ("ci", ci), ("di", di), ("n1i", n1i), ("n2i", n2i))}  # fmt: skip
    g = {
        n: None if v is None else np.atleast_1d(as_float_array(n, v)).ravel()
        for n, v in raw.items()
    }
    if (
        g["ai"] is None
        or g["ci"] is None
        or (g["bi"] is None and g["n1i"] is None)
        or (g["di"] is None and g["n2i"] is None)
    ):
        raise InputError(
            "rma_peto needs ai, bi, ci, di (or ai, ci, n1i, n2i) (metafor: 'Must specify "
            "arguments ai, bi, ci, di (or ai, ci, n1i, n2i).')"
        )
    sizes = {n: v.size for n, v in g.items() if v is not None}
    if len(set(sizes.values())) > 1:
        desc = ", ".join(f"{n} has {s}" for n, s in sizes.items())
        raise InputError(f"arguments differ in length ({desc}); give one value per study")
    k = next(iter(sizes.values()))
    if k == 0:
        raise InputError("no studies given (k = 0)")
    lab_raw = column("slab", slab, data)
    if lab_raw is None:
        labels: tuple = tuple(range(1, k + 1))
    else:
        labels = tuple(np.asarray(lab_raw, dtype=object).ravel().tolist())
        if len(labels) != k:
            raise InputError(
                f"slab has {len(labels)} labels but the tables are {k}; give one per study"
            )
    a, c = g["ai"], g["ci"]
    assert a is not None and c is not None
    b = _other(a, g["bi"], g["n1i"], "ai", "bi", "n1i", labels)
    d = _other(c, g["di"], g["n2i"], "ci", "di", "n2i", labels)
    for name, arr in (("ai", a), ("bi", b), ("ci", c), ("di", d)):
        for i, val in enumerate(arr):
            if not np.isnan(val) and (not np.isfinite(val) or val < 0):
                raise InputError(
                    f"{study_label(i, labels)} has {name}={val:g}; counts must be finite and "
                    ">= 0 (metafor: 'One or more counts are negative.') -- fix the count or "
                    "drop the study"
                )
    return np.column_stack([a, b, c, d]), labels


def _other(
    x: np.ndarray, non: np.ndarray | None, n: np.ndarray | None, xn: str, nonn: str, nn: str,
    labels: tuple,
) -> np.ndarray:  # fmt: skip
    """Non-events: given, or the group size minus the events (checked against each other)."""
    if n is not None:
        for i in range(x.size):
            if np.isnan(x[i]) or np.isnan(n[i]):
                continue
            if x[i] > n[i]:
                raise InputError(
                    f"{study_label(i, labels)} has {xn}={x[i]:g} > {nn}={n[i]:g}; events "
                    "cannot exceed the group size (metafor: 'One or more event counts are "
                    "larger than the corresponding group sizes.') -- check the extraction"
                )
            if non is not None and not np.isnan(non[i]) and x[i] + non[i] != n[i]:
                raise InputError(
                    f"{study_label(i, labels)} has {xn}={x[i]:g}, {nonn}={non[i]:g} but "
                    f"{nn}={n[i]:g} != {xn} + {nonn} (metafor: 'One or more '{nn}' values are "
                    f"not equal to '{xn} + {nonn}'.') -- give either {nonn} or {nn}, consistent"
                )
    if non is not None:
        return non
    assert n is not None
    return n - x


def _fit(tables: np.ndarray, st: _Settings, labels: list | tuple) -> PetoResult:
    """Peto's method on the ``(k, 4)`` tables (NaN cells: the study is left out)."""
    a, b, c, d = (tables[:, j].copy() for j in range(4))
    labs = tuple(labels)
    with np.errstate(invalid="ignore"):
        double = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    esc = escalc("PETO", ai=a, bi=b, ci=c, di=d, add=st.add[0], to=st.to[0],  # type: ignore[arg-type]
                 drop00=st.drop00[0], slab=list(labs))  # fmt: skip
    yi, vi = esc["yi"].to_numpy(), esc["vi"].to_numpy()
    if st.drop00[1]:
        for z in (a, b, c, d):
            z[double] = np.nan
    kept = np.column_stack([a, b, c, d])
    not_na = ~np.isnan(kept).any(axis=1)
    if not not_na.all():
        n_na = int((~not_na).sum())
        if since("mh_na_count"):
            msg = (
                f"{n_na} {'studies' if n_na > 1 else 'study'} with NAs omitted from model fitting."
            )
        else:
            msg = "Tables with NAs omitted from model fitting."
        warnings.warn(msg, UserWarning, stacklevel=3)
    t = kept[not_na]
    k = t.shape[0]
    if k < 1:
        raise InputError("no complete tables left (metafor: 'Processing terminated since k = 0.')")
    ok = ~(np.isnan(yi) | np.isnan(vi))
    if not ok.all():
        warnings.warn("Some yi/vi values are NA.", UserWarning, stacklevel=3)
    yi, vi = yi[ok], vi[ok]
    k_yi = int(yi.size)
    t = _correct(t, st.add[1], st.to[1])
    return _pool(t, st, k_yi, yi, vi, labs, kept, not_na)


def _correct(t: np.ndarray, add: float, to: str) -> np.ndarray:
    """The continuity correction of the pooled tables (``add[2]``, ``to[2]``)."""
    zero = (t == 0).any(axis=1)
    if to == "all":
        mask = np.ones(t.shape[0], bool)
    elif to == "only0":
        mask = zero
    elif to == "if0all":
        mask = np.full(t.shape[0], bool(zero.any()))
    else:
        mask = np.zeros(t.shape[0], bool)
    return t + np.where(mask, add, 0.0)[:, None]


def _het(qe: float, df: int) -> tuple[float, float, float]:
    """QEp, I2, H2 with R's arithmetic: ``df`` can be 0 (or below) when more tables have
    ``V > 0`` than studies have an effect size (tables corrected, effect sizes dropped)."""
    if df > 0:
        qep = float(stats.chi2.sf(qe, df))
    elif df == 0:
        qep = 1.0 if qe == 0 else 0.0  # chi^2 with 0 df: a point mass at 0
    else:
        qep = float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.float64(100.0) * (qe - df) / np.float64(qe)
        h2 = float(np.float64(qe) / np.float64(df))
    i2 = float("nan") if np.isnan(ratio) else max(0.0, float(ratio))  # R: max(0, NaN) is NaN
    return qep, i2, h2


def _pool(
    t: np.ndarray, st: _Settings, k_yi: int, yi: np.ndarray, vi: np.ndarray, labs: tuple,
    kept: np.ndarray, not_na: np.ndarray,
) -> PetoResult:  # fmt: skip
    a, b, c, d = t.T
    n1, n2 = a + b, c + d
    n = n1 + n2
    with np.errstate(divide="ignore", invalid="ignore"):
        e = (a + c) * n1 / n
        v = (a + c) * (b + d) * (n1 / n) * (n2 / n) / (n - 1)
    sv = float(v.sum())
    if sv == 0:
        raise InputError(
            "no events, or no non-events, in any table: Peto's method cannot be used "
            "(metafor: 'One of the two outcomes never occurred in any of the tables. Peto's "
            "method cannot be used.')"
        )
    oe = a - e
    beta = float(oe.sum()) / sv
    se = math.sqrt(1.0 / sv)
    z = beta / se
    crit = float(stats.norm.isf((1 - st.level / 100) / 2))
    pos = v > 0
    k_pos = int(pos.sum())
    qe = max(
        0.0, float((oe[pos] ** 2 / v[pos]).sum()) - float(oe[pos].sum()) ** 2 / float(v[pos].sum())
    )
    if k_pos > 1:
        qep, i2, h2 = _het(qe, k_yi - 1)
    else:
        qep, i2, h2 = 1.0, 0.0, 1.0
    return PetoResult(
        b=beta, se=se, zval=z, pval=float(2 * stats.norm.sf(abs(z))), ci_lb=beta - crit * se,
        ci_ub=beta + crit * se, QE=qe, QEp=qep, I2=float(i2), H2=float(h2), k=int(t.shape[0]),
        k_yi=k_yi, k_pos=k_pos, yi=yi, vi=vi, slab=labs, level=st.level, tables=kept,
        not_na=not_na, pooled=t, settings=st,
    )  # fmt: skip
