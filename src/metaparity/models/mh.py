"""Mantel-Haenszel equal-effects model (``metafor::rma.mh``).

The pooled estimate, its variance and the tests come from the raw counts
(:mod:`metaparity.engine.mh`); ``add``, ``to`` and ``drop00`` act only on the
escalc'd ``yi``/``vi``, which enter Cochran's Q, I^2 and H^2 about the MH estimate --
as in metafor:

* ``k`` counts the tables used by the MH estimate: every complete table, double-zero
  studies (no events, or only events, in both groups) included -- they add nothing to
  the OR/RR/IRR sums but do enter the RD/IRD weights.
* ``k_yi`` counts the studies with a ``yi``: with ``drop00=True`` (default) the
  double-zero ones have none ("Some yi/vi values are NA."), nor has a study whose
  ``yi``/``vi`` is +-inf (a zero cell with ``to="none"``).
* a table with a missing (NaN) count is left out of everything, with metafor's warning.

One set is the batch path with one row: :func:`rma_mh` calls the code of
:func:`rma_mh_batch`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from metaparity._core.mfversion import since
from metaparity._core.validation import as_float_array, check_level, column, study_label
from metaparity.effects import incidence, twobytwo
from metaparity.engine.mh import (
    IR_MEASURES,
    MH_FIELDS,
    TABLE_MEASURES,
    mh_person_time,
    mh_tables,
    q_about,
)
from metaparity.models.predict import Prediction, predict
from metaparity.models.results import ModelResult

__all__ = ["rma_mh", "rma_mh_batch", "MhResult", "MhBatchResult", "MH_MEASURES"]

MH_MEASURES = TABLE_MEASURES + IR_MEASURES
_TO = ("only0", "all", "if0all", "none")
#: per-fit float fields (metafor's names; ``ci.lb`` as ``ci_lb``)
_FLOATS = MH_FIELDS[:-1] + ("QE", "QEp", "I2", "H2")
_COUNTS = ("k", "k_yi", "k_pos")
_L1O = ("estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "Q", "Qp", "I2", "H2")


# --------------------------------------------------------------------------- #
# inputs
# --------------------------------------------------------------------------- #
def _where(i: tuple[int, ...], slab: Any) -> str:
    """Name the study (and the set, in a batch) of index ``i``."""
    st = study_label(i[-1], slab)
    return st if len(i) == 1 else f"set {i[:-1] if len(i) > 2 else i[0]}: {st}"


def _first_bad(mask: np.ndarray) -> tuple[int, ...] | None:
    idx = np.argwhere(mask)
    return None if idx.size == 0 else tuple(int(j) for j in idx[0])


def _check(cells: dict[str, np.ndarray], slab: Any, person_time: bool) -> None:
    """Counts >= 0 and finite (NaN = missing), person-times > 0, groups not empty."""
    for name, arr in cells.items():
        pt = name in ("t1i", "t2i")
        bad = ~np.isnan(arr) & (~np.isfinite(arr) | ((arr <= 0) if pt else (arr < 0)))
        i = _first_bad(bad)
        if i is not None:
            what = ("person-times must be finite and > 0" if pt
                    else "counts must be finite and >= 0 (metafor: 'One or more counts are "
                         "negative.')")  # fmt: skip
            raise ValueError(
                f"{_where(i, slab)} has {name}={arr[i]:g}; {what} -- fix the value or drop the "
                "study"
            )
    if person_time:
        return
    for ev, non, n in (("ai", "bi", "n1i"), ("ci", "di", "n2i")):
        i = _first_bad(cells[ev] + cells[non] == 0)
        if i is not None:
            raise ValueError(
                f"{_where(i, slab)} has {n}=0; a group needs at least one participant (metafor: "
                "'One or more group sizes are <= 0.') -- fix the count or drop the study"
            )


def _cells_from_n(x: np.ndarray, n: np.ndarray, xn: str, nn: str, slab: Any) -> np.ndarray:
    i = _first_bad(x > n)
    if i is not None:
        raise ValueError(
            f"{_where(i, slab)} has {xn}={x[i]:g} > {nn}={n[i]:g}; events cannot exceed the "
            "group size (metafor: 'One or more event counts are larger than the corresponding "
            "group sizes.') -- check the extraction"
        )
    return n - x


def _read(measure: str, given: dict[str, Any], data: Any, slab: Any, batch: bool):
    """The four cells (a, b, c, d or x1, t1, x2, t2) as float arrays of one shape."""
    arr = {
        n: None if v is None else as_float_array(n, column(n, v, data)) for n, v in given.items()
    }
    if not batch:
        arr = {n: None if v is None else np.atleast_1d(v).ravel() for n, v in arr.items()}
    if measure in TABLE_MEASURES:
        a, c = arr["ai"], arr["ci"]
        if (
            a is None
            or c is None
            or (arr["bi"] is None and arr["n1i"] is None)
            or (arr["di"] is None and arr["n2i"] is None)
        ):
            raise ValueError(
                f"measure={measure!r} needs ai, bi, ci, di (or ai, ci, n1i, n2i), as metafor's "
                "rma.mh"
            )
        _same_shape(arr)
        b, d = arr["bi"], arr["di"]
        if b is None:
            b = _cells_from_n(a, arr["n1i"], "ai", "n1i", slab)  # type: ignore[arg-type]
        if d is None:
            d = _cells_from_n(c, arr["n2i"], "ci", "n2i", slab)  # type: ignore[arg-type]
        cells = {"ai": a, "bi": b, "ci": c, "di": d}
    else:
        miss = [n for n in ("x1i", "t1i", "x2i", "t2i") if arr[n] is None]
        if miss:
            raise ValueError(f"measure={measure!r} needs x1i, t1i, x2i, t2i (missing: {miss})")
        _same_shape(arr)
        cells = {n: arr[n] for n in ("x1i", "t1i", "x2i", "t2i")}  # type: ignore[misc]
    _check(cells, slab, measure in IR_MEASURES)
    return cells


def _same_shape(arr: dict[str, np.ndarray | None]) -> None:
    shapes = {n: v.shape for n, v in arr.items() if v is not None}
    if len(set(shapes.values())) > 1:
        desc = ", ".join(f"{n} has shape {s}" for n, s in shapes.items())
        raise ValueError(f"arguments differ in shape ({desc}); give one value per study")
    if any(len(s) == 0 or s[-1] == 0 for s in shapes.values()):
        raise ValueError("no studies given (k = 0)")


# --------------------------------------------------------------------------- #
# the fit (arrays shaped (..., k))
# --------------------------------------------------------------------------- #
def _corrected(measure, vals, present, add, to, drop00):
    """metafor's zero-cell rule (escalc's, and rma.mh's second ``add``/``to``/``drop00``):
    the cells with ``add`` added where ``to`` says, and the studies ``drop00`` drops (no
    events, or for 2x2 tables only events, in both groups)."""
    if measure in TABLE_MEASURES:
        a, b, c, d = vals
        zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
        both = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
        corrected = [0, 1, 2, 3]
    else:
        x1, _, x2, _ = vals
        zero = (x1 == 0) | (x2 == 0)
        both = (x1 == 0) & (x2 == 0)
        corrected = [0, 2]
    dropped = both & present if drop00 else np.zeros_like(both)
    zero = zero & present & ~dropped  # metafor sets dropped studies to NA before the correction
    if to == "none" or add == 0:
        cc = np.zeros_like(zero)
    elif to == "all":
        cc = present & ~dropped
    elif to == "if0all":
        cc = np.broadcast_to(zero.any(axis=-1, keepdims=True), zero.shape) & present & ~dropped
    else:
        cc = zero
    adj = [np.where(cc, v + add, v) if j in corrected else v for j, v in enumerate(vals)]
    return adj, dropped


def _escalc(measure, cells, present, add, to, drop00):
    """metafor's escalc yi/vi of each study (NaN: absent, dropped, or +-inf)."""
    adj, dropped = _corrected(measure, list(cells.values()), present, add, to, drop00)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = twobytwo.yi_vi if measure in TABLE_MEASURES else incidence.yi_vi
        yi, vi = f(measure, *adj)
    inf = (np.isinf(yi) | np.isinf(vi)) & present & ~dropped
    out = ~present | dropped | inf
    return np.where(out, np.nan, yi), np.where(out, np.nan, vi), inf


def _fit(measure, cells, add, to, drop00, correct, level,
         mh=(0.0, "none", False)) -> dict[str, np.ndarray]:  # fmt: skip
    """``add``/``to``/``drop00``: escalc's for yi/vi; ``mh``: ``(add, to, drop00)`` for the
    cells of the MH computation itself (metafor's second values; none by default)."""
    present = np.all([~np.isnan(v) for v in cells.values()], axis=0)
    yi, vi, inf = _escalc(measure, cells, present, add, to, drop00)
    vals = [np.where(present, v, 1.0) for v in cells.values()]  # absent: inert
    add_mh, to_mh, drop_mh = mh
    vals, dropped = _corrected(measure, vals, present, add_mh, to_mh, drop_mh)
    present = present & ~dropped  # metafor: NA, then omitted like a missing table
    c1, c2, c3, c4 = (np.where(present, v, 1.0) for v in vals)
    pool = mh_tables if measure in TABLE_MEASURES else mh_person_time
    est = pool(measure, c1, c2, c3, c4, present, correct=correct, level=level)
    het = q_about(yi, vi, est["b"])
    out = {**est, **het, "k": np.sum(present, axis=-1)}
    out["_yi"], out["_vi"], out["_present"], out["_inf"] = yi, vi, present, inf
    return out


def _options(
    measure: str, add: Any, to: Any, drop00: Any, level: float
) -> tuple[tuple[float, str, bool], tuple[float, str, bool], float]:
    """Checked options: ``(add, to, drop00)`` for escalc, ``(add, to, drop00)`` for the MH
    computation (metafor: one value is escalc's, and the MH cells are left as they are; two
    values are escalc's and MH's), and the level."""
    if measure not in MH_MEASURES:
        raise ValueError(
            f"measure={measure!r}: the Mantel-Haenszel method can only be used with measures "
            "OR, RR, RD, IRR, and IRD (metafor's message)"
        )
    adds = _pair("add", add, 0.0)
    tos = _pair("to", to, "none")
    drops = _pair("drop00", drop00, False)
    for t in tos:
        if t not in _TO:
            raise ValueError(f"to={t!r} is not one of {', '.join(_TO)}")
    out = []
    for a in adds:
        try:
            a_ = float(a)
        except (TypeError, ValueError):
            a_ = float("nan")
        if not np.isfinite(a_) or a_ < 0:
            raise ValueError(f"add={a!r} must be a non-negative number (metafor's default is 0.5)")
        out.append(a_)
    es = (out[0], str(tos[0]), bool(drops[0]))
    mh = (out[1], str(tos[1]), bool(drops[1]))
    return es, mh, check_level(level)


def _pair(name: str, value: Any, second: Any) -> tuple[Any, Any]:
    """metafor's one-or-two-values rule: ``x`` -> ``(x, second)``, ``(x, y)`` -> ``(x, y)``."""
    if isinstance(value, (list, tuple, np.ndarray)):
        vals = list(value)
        if len(vals) == 1:
            return vals[0], second
        if len(vals) == 2:
            return vals[0], vals[1]
        raise ValueError(
            f"{name}={value!r}: give one or two values (the second applies to the "
            "Mantel-Haenszel computation itself, as in metafor)"
        )
    return value, second


def _warn_fit(fit: dict[str, np.ndarray], slab: Any) -> None:
    """metafor's warnings for one set: tables with NAs, +-inf yi/vi, yi/vi NA."""
    present, inf = fit["_present"][0], fit["_inf"][0]
    n_na = int(np.sum(~present))
    if n_na:
        msg = (
            f"{n_na} {'studies' if n_na > 1 else 'study'} with NAs omitted from model fitting."
            if since("mh_na_count")
            else "Tables with NAs omitted from model fitting."
        )
        warnings.warn(msg, UserWarning, stacklevel=4)
    if inf.any():
        named = "; ".join(study_label(int(i), slab) for i in np.flatnonzero(inf)[:8])
        warnings.warn(
            f"Some 'yi' and/or 'vi' values equal to +-Inf. Recoded to NAs. ({named}; a "
            "continuity correction, add= and to=, gives them finite values)",
            UserWarning,
            stacklevel=4,
        )
    if np.any(np.isnan(fit["_yi"][0])):
        warnings.warn("Some yi/vi values are NA.", UserWarning, stacklevel=4)
    if np.isnan(fit["b"][0]):  # metafor: NA without a word
        warnings.warn(
            "the Mantel-Haenszel estimate is undefined (no events, or no non-events, in one "
            "group of every table: a zero sum R or S): b, se, zval, pval, ci_lb, ci_ub and the "
            "statistics that need them are NaN, as metafor's NA; consider measure='RD'",
            UserWarning,
            stacklevel=4,
        )


# --------------------------------------------------------------------------- #
# results
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, kw_only=True, repr=False)
class MhResult(ModelResult):
    """A fitted ``metafor::rma.mh`` model (equal effects; ``tau2 = 0``).

    ``b, se, zval, pval, ci_lb, ci_ub``: the MH estimate (log scale for OR, RR, IRR).
    ``QE, QEp, I2, H2``: Cochran's Q of ``yi``/``vi`` about ``b`` (``k_yi`` studies).
    ``CO/COp`` (Cochran), ``MH/MHp`` (Cochran-Mantel-Haenszel; OR and, as metafor, IRR),
    ``BD/BDp`` (Breslow-Day), ``TA/TAp`` (Tarone; ``k_pos`` tables): NaN where metafor
    gives NA.  ``yi``/``vi`` are the studies that have one (metafor's ``res$yi``);
    ``slab`` labels every study given.
    """

    b: float
    se: float
    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    tau2: float = 0.0
    QE: float
    QEp: float
    I2: float
    H2: float
    CO: float
    COp: float
    MH: float
    MHp: float
    BD: float
    BDp: float
    TA: float
    TAp: float
    k: int
    k_yi: int
    k_pos: int
    measure: str
    level: float
    yi: np.ndarray
    vi: np.ndarray
    slab: tuple | None = None
    add: float = 0.5
    to: str = "only0"
    drop00: bool = True
    #: the second add/to/drop00 values: applied to the cells of the MH computation itself
    add_mh: float = 0.0
    to_mh: str = "none"
    drop00_mh: bool = False
    correct: bool = True
    method: str = "FE"
    test: str = "z"
    ni: np.ndarray | None = field(default=None)
    #: the tables as given (metafor's ``outdat.f``), for leave1out() and cumul()
    cells: dict[str, np.ndarray] = field(default_factory=dict)

    _SHOWN = ("b", "se", "zval", "pval", "ci_lb", "ci_ub", "QE", "QEp", "I2", "H2", "MH", "MHp",
              "TA", "TAp", "k", "measure")  # fmt: skip

    def __repr__(self) -> str:
        return "MhResult(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self._SHOWN) + ")"

    def to_dict(self) -> dict[str, Any]:
        """The numeric results and settings as a JSON-ready dict (arrays become lists)."""
        out: dict[str, Any] = {q: float(getattr(self, q)) for q in _FLOATS}
        out.update({q: int(getattr(self, q)) for q in _COUNTS})
        out.update(tau2=0.0, measure=self.measure, level=self.level, method=self.method)
        out.update(add=self.add, to=self.to, drop00=self.drop00, correct=self.correct)
        out.update(add_mh=self.add_mh, to_mh=self.to_mh, drop00_mh=self.drop00_mh)
        out.update(yi=self.yi.tolist(), vi=self.vi.tolist())
        return out

    def predict(self, transf: Any = None, level: float | None = None) -> Prediction:
        """Pooled estimate with CI (``metafor::predict(res, transf=exp)``); ``transf=True``
        is ``exp`` for OR, RR and IRR.  The prediction interval equals the CI (``tau2 = 0``)."""
        return predict(self, transf=transf, level=level)  # type: ignore[arg-type]

    def _given(self) -> np.ndarray:
        """The studies in the MH fit: a complete table, not dropped by the second drop00."""
        vals = list(self.cells.values())
        given = ~np.isnan(np.stack(vals)).any(axis=0)
        _, dropped = _corrected(self.measure, vals, given, 0.0, "none", self.drop00_mh)
        return given & ~dropped

    def _refits(self, present: np.ndarray, source: dict[str, np.ndarray] | None = None
                ) -> dict[str, np.ndarray]:  # fmt: skip
        """Refit on each row of ``present`` (shape (m, k)) of ``source`` (default: the
        tables as given): the batch path."""
        given = self.cells if source is None else source
        cells = {n: np.where(present, v[None, :], np.nan) for n, v in given.items()}
        return _fit(
            self.measure,
            cells,
            self.add,
            self.to,
            self.drop00,
            self.correct,
            self.level,
            (self.add_mh, self.to_mh, self.drop00_mh),
        )

    def _table(self, fit: dict[str, np.ndarray], rows: np.ndarray, transf: Any, index):
        out = {"estimate": fit["b"], "se": fit["se"], "zval": fit["zval"], "pval": fit["pval"],
               "ci_lb": fit["ci_lb"], "ci_ub": fit["ci_ub"], "Q": fit["QE"], "Qp": fit["QEp"],
               "I2": fit["I2"], "H2": fit["H2"]}  # fmt: skip
        out = {n: np.where(rows, np.asarray(v, float), np.nan) for n, v in out.items()}
        f = _transf(transf, self.measure)
        if f is not None:
            lo, hi = f(out["ci_lb"]), f(out["ci_ub"])
            out.update(estimate=f(out["estimate"]), se=np.full(lo.shape, np.nan),
                       ci_lb=np.fmin(lo, hi), ci_ub=np.fmax(lo, hi))  # fmt: skip
        return pd.DataFrame(out, index=pd.Index(index, name="slab"))

    def leave1out(self, transf: Any = None) -> pd.DataFrame:
        """Leave-one-out refits (``metafor::leave1out.rma.mh``): one row per study with a
        complete table, columns ``estimate se zval pval ci_lb ci_ub Q Qp I2 H2``
        (``transf=True``: exp for OR/RR/IRR, ``se`` NaN); rows labelled by the study left
        out (``"-<slab>"`` as from metafor 4.8)."""
        if self.k == 1:
            raise ValueError("Stopped because k = 1 (metafor's message): nothing to leave out")
        given = self._given()
        present = given[None, :] & ~np.eye(given.size, dtype=bool)
        source = None
        if since("leave1out_pooled_tables"):
            # metafor >= 4.8 refits the tables as pooled (after the second add/to) and applies
            # add/to again: the same as the tables as given unless add has two values
            vals = [np.where(given, v, 1.0) for v in self.cells.values()]
            adj, _ = _corrected(self.measure, vals, given, self.add_mh, self.to_mh, False)
            source = {n: np.where(given, a, np.nan) for n, a in zip(self.cells, adj, strict=True)}
        fit = self._refits(present, source)
        rows = given & (np.sum(present, axis=1) > 0)
        labels = list(self._labels())
        if since("l1o_cumul_labels"):  # metafor 4.8: "-<slab>", the study left out
            labels = [f"-{x}" for x in labels]
        tab = self._table(fit, rows, transf, labels)
        return tab[given]

    def cumul(self, order: Any = None, transf: Any = None) -> pd.DataFrame:
        """Cumulative refits (``metafor::cumul.rma.mh``), adding the studies in ``order``
        (values to sort by, one per study; default: as given): the columns of
        :meth:`leave1out`, led by ``k`` (the tables used) as from metafor 4.8."""
        labels = np.asarray(self._labels(), dtype=object)
        kk = labels.size
        perm = np.arange(kk) if order is None else np.argsort(np.asarray(order), kind="stable")
        if perm.size != kk:
            raise ValueError(f"order has {perm.size} values but the model has {kk} studies")
        given = self._given()
        present = np.zeros((kk, kk), dtype=bool)
        for i in range(kk):
            present[i, perm[: i + 1]] = True
        present &= given[None, :]
        fit = self._refits(present)
        tab = self._table(fit, given[perm], transf, list(labels[perm]))
        if since("l1o_cumul_labels"):  # metafor 4.8 reports k
            tab.insert(0, "k", fit["k"])
        return tab[given[perm]]

    def _labels(self) -> tuple:
        if self.slab is not None:
            return tuple(self.slab)
        return tuple(range(1, next(iter(self.cells.values())).size + 1))


def _transf(transf: Any, measure: str):
    if transf is None or transf is False:
        return None
    if transf is True:
        return np.exp if measure in ("OR", "RR", "IRR") else None
    if callable(transf):
        return transf
    if transf == "exp":
        return np.exp
    raise ValueError(f"transf={transf!r}: give True, 'exp' or a callable")


@dataclass(frozen=True)
class MhBatchResult:
    """Results of :func:`rma_mh_batch`: each field an array shaped ``ai.shape[:-1]``
    (the names of :class:`MhResult`)."""

    b: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    QE: np.ndarray
    QEp: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    CO: np.ndarray
    COp: np.ndarray
    MH: np.ndarray
    MHp: np.ndarray
    BD: np.ndarray
    BDp: np.ndarray
    TA: np.ndarray
    TAp: np.ndarray
    k: np.ndarray
    k_yi: np.ndarray
    k_pos: np.ndarray
    measure: str
    level: float

    def to_frame(self) -> pd.DataFrame:
        """One row per meta-analysis (flattened leading axes)."""
        return pd.DataFrame(
            {
                f.name: np.ravel(getattr(self, f.name))
                for f in fields(self)
                if f.name not in ("measure", "level")
            }  # fmt: skip
        )


# --------------------------------------------------------------------------- #
# the public functions
# --------------------------------------------------------------------------- #
def rma_mh(
    ai: Any = None,
    bi: Any = None,
    ci: Any = None,
    di: Any = None,
    n1i: Any = None,
    n2i: Any = None,
    x1i: Any = None,
    x2i: Any = None,
    t1i: Any = None,
    t2i: Any = None,
    *,
    measure: str = "OR",
    data: pd.DataFrame | None = None,
    slab: Any = None,
    add: float | tuple[float, float] = 0.5,
    to: str | tuple[str, str] = "only0",
    drop00: bool | tuple[bool, bool] = True,
    correct: bool = True,
    level: float = 95,
) -> MhResult:
    """Mantel-Haenszel equal-effects meta-analysis of 2x2 tables or person-time data.

    Equivalent to ``metafor::rma.mh(ai, bi, ci, di, n1i, n2i, x1i, x2i, t1i, t2i,
    measure, data, slab, add, to, drop00, correct, level)``.

    Parameters
    ----------
    ai, bi, ci, di, n1i, n2i : array_like or str, optional
        2x2 tables (OR, RR, RD): events ``ai``/``ci`` with non-events ``bi``/``di`` or
        group sizes ``n1i``/``n2i`` (or column names of ``data``).  NaN: a missing table,
        left out with metafor's warning.
    x1i, x2i, t1i, t2i : array_like or str, optional
        Events and person-times of the two groups (IRR, IRD).
    measure : {"OR", "RR", "RD", "IRR", "IRD"}
        The effect measure.
    data : pandas.DataFrame, optional
        Where string arguments are looked up.
    slab : array_like or str, optional
        Study labels.
    add, to, drop00 : float, str, bool, or two of each
        One value: the continuity correction of the escalc'd ``yi``/``vi`` (which enter Q,
        I^2, H^2 only); the MH estimate uses the counts as given.  Two values (metafor's
        ``add=c(1/2, 1/2)`` ...): the first for ``yi``/``vi``, the second for the cells of
        the MH computation itself (estimate, se, CMH, Breslow-Day and Tarone tests) --
        RevMan 5's and Stata's default is ``add=(0.5, 0.5), to=("only0", "only0"),
        drop00=(True, True)``; a study the second ``drop00`` drops is omitted like a missing
        table.
    correct : bool
        Continuity correction of the CMH (and, for IRR, MH) test.
    level : float
        Confidence level in percent.

    Returns
    -------
    MhResult
        Estimate, tests and heterogeneity statistics with metafor's names.

    Examples
    --------
    >>> res = rma_mh(ai=[4, 6, 5], bi=[10, 14, 9], ci=[2, 3, 1], di=[12, 17, 13])
    >>> round(res.b, 4), round(res.MH, 4), res.k  # metafor: 1.1498, 3.7799, k = 3
    (1.1498, 3.7799, 3)
    """
    es, mh, level_ = _options(measure, add, to, drop00, level)
    given = dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i) if measure in TABLE_MEASURES \
        else dict(x1i=x1i, t1i=t1i, x2i=x2i, t2i=t2i)  # fmt: skip
    labels = _slab(slab, data)
    cells = _read(measure, given, data, labels, batch=False)
    kk = next(iter(cells.values())).size
    if labels is not None and len(labels) != kk:
        raise ValueError(f"slab has {len(labels)} labels but there are {kk} studies")
    fit = _fit(measure, {n: v[None, :] for n, v in cells.items()}, es[0], es[1], es[2],
               bool(correct), level_, mh)  # fmt: skip
    if int(fit["k"][0]) < 1:
        raise ValueError("Processing terminated since k = 0 (every table has a missing count)")
    _warn_fit(fit, labels)
    ok = ~np.isnan(fit["_yi"][0])
    vals: dict[str, Any] = {q: float(fit[q][0]) for q in _FLOATS}
    vals.update({q: int(fit[q][0]) for q in _COUNTS})
    vals1 = list(cells.values())
    ni = (vals1[0] + vals1[1] + vals1[2] + vals1[3]) if measure in TABLE_MEASURES \
        else vals1[1] + vals1[3]  # fmt: skip
    return MhResult(
        **vals, measure=measure, level=level_, yi=fit["_yi"][0][ok],
        vi=fit["_vi"][0][ok], slab=None if labels is None else tuple(labels), add=es[0],
        to=es[1], drop00=es[2], add_mh=mh[0], to_mh=mh[1], drop00_mh=mh[2],
        correct=bool(correct), ni=ni[ok], cells=cells,
    )  # fmt: skip


def _slab(slab: Any, data: Any) -> list | None:
    if slab is None:
        return None
    vals = column("slab", slab, data)
    return list(np.atleast_1d(np.asarray(vals, dtype=object)))


def rma_mh_batch(
    ai: Any = None,
    bi: Any = None,
    ci: Any = None,
    di: Any = None,
    n1i: Any = None,
    n2i: Any = None,
    x1i: Any = None,
    x2i: Any = None,
    t1i: Any = None,
    t2i: Any = None,
    *,
    measure: str = "OR",
    add: float | tuple[float, float] = 0.5,
    to: str | tuple[str, str] = "only0",
    drop00: bool | tuple[bool, bool] = True,
    correct: bool = True,
    level: float = 95,
) -> MhBatchResult:
    """Many Mantel-Haenszel meta-analyses at once (a loop of ``metafor::rma.mh`` in one call).

    Every row is fitted as :func:`rma_mh` fits it (the same code).

    Parameters
    ----------
    ai, bi, ci, di, n1i, n2i, x1i, x2i, t1i, t2i : array_like, shape (..., k)
        As in :func:`rma_mh`, studies on the last axis; NaN pads ragged sets (a table
        with a NaN count is left out, as metafor leaves out tables with NAs, silently here).
    measure, add, to, drop00, correct, level
        As in :func:`rma_mh`.

    Returns
    -------
    MhBatchResult
        Arrays shaped ``ai.shape[:-1]`` with :class:`MhResult`'s names.

    Examples
    --------
    >>> import numpy as np
    >>> res = rma_mh_batch(ai=[[4, 6, 5], [1, 2, np.nan]], bi=[[10, 14, 9], [9, 8, np.nan]],
    ...                    ci=[[2, 3, 1], [2, 2, np.nan]], di=[[12, 17, 13], [8, 8, np.nan]])
    >>> res.k.tolist(), round(float(res.b[0]), 4)
    ([3, 2], 1.1498)
    """
    es, mh, level_ = _options(measure, add, to, drop00, level)
    given = dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i) if measure in TABLE_MEASURES \
        else dict(x1i=x1i, t1i=t1i, x2i=x2i, t2i=t2i)  # fmt: skip
    cells = _read(measure, given, None, None, batch=True)
    cells = {n: v if v.ndim > 1 else v[None, :] for n, v in cells.items()}
    fit = _fit(measure, cells, es[0], es[1], es[2], bool(correct), level_, mh)
    out = {q: np.asarray(fit[q], dtype=float) for q in _FLOATS}
    out.update({q: np.asarray(fit[q], dtype=int) for q in _COUNTS})
    return MhBatchResult(**out, measure=measure, level=level_)
