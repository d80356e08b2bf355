"""Effect sizes and sampling variances: ``escalc`` (metafor names and defaults).

Equivalent to ``metafor::escalc(measure, ...)`` for the measures below, with
metafor's continuity-correction defaults (``add=1/2, to="only0"``) and
``vtype="LS"`` (large-sample variances).

========  =====================================  ====================================
measure   input                                   yi
========  =====================================  ====================================
PR        xi, ni (or xi, mi)                      proportion
PLN       xi, ni                                  log proportion
PLO       xi, ni                                  logit proportion
PAS       xi, ni                                  arcsine square-root proportion
PFT       xi, ni                                  Freeman-Tukey double arcsine
OR        ai, bi, ci, di (or ai, n1i, ci, n2i)    log odds ratio
RR        ai, bi, ci, di (or ai, n1i, ci, n2i)    log risk ratio
RD        ai, bi, ci, di (or ai, n1i, ci, n2i)    risk difference
PETO      ai, bi, ci, di (or ai, n1i, ci, n2i)    Peto's log odds ratio (O - E) / V
MD        m1i, sd1i, n1i, m2i, sd2i, n2i          raw mean difference
SMD       m1i, sd1i, n1i, m2i, sd2i, n2i          Hedges' g (exact bias correction)
ROM       m1i, sd1i, n1i, m2i, sd2i, n2i          log ratio of means
ZCOR      ri, ni                                  Fisher's r-to-z
COR       ri, ni                                  raw correlation
GEN       yi with vi or sei                       given
========  =====================================  ====================================

Each family of measures lives in its own module -- ``proportions`` (PR ... PFT),
``twobytwo`` (OR, RR, RD, PETO), ``continuous`` (MD, SMD, ROM), ``correlations`` (ZCOR, COR),
``generic`` (GEN) -- behind :func:`escalc`; what they share (count checks, the continuity
correction) is in ``_common``.  A new measure goes into its family's module (or a new
family module added to ``_FAMILIES`` below) and into ``metaparity._core.names.Measure``.

Study labels travel as the DataFrame index, named ``"slab"`` (metafor keeps them as the
``slab`` attribute of ``yi``): rows and labels move together under ``iloc``, boolean
masks, ``sort_values`` and ``concat``; :func:`study_labels` reads them back.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import get_args

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from metaparity._core.mfversion import get_metafor_version, since
from metaparity._core.names import Measure
from metaparity._core.validation import as_float_array, column, study_label
from metaparity.effects import continuous, correlations, generic, proportions, twobytwo
from metaparity.effects._common import Effect, To, check_options

__all__ = ["escalc", "study_labels", "study_sizes", "MEASURES", "SLAB"]

_FAMILIES = (proportions, twobytwo, continuous, correlations, generic)
#: every measure :func:`escalc` knows, family by family (the order of ``Measure``)
MEASURES: tuple[Measure, ...] = get_args(Measure)
assert MEASURES == tuple(m for fam in _FAMILIES for m in fam.MEASURES), "Measure lists the families"
_COMPUTE: dict[str, Callable[..., Effect]] = {
    m: fam.compute for fam in _FAMILIES for m in fam.MEASURES
}
#: the name of the index that carries the study labels
SLAB = "slab"
_ARGS = (
    "ai", "bi", "ci", "di", "n1i", "n2i", "m1i", "m2i", "sd1i", "sd2i",
    "xi", "mi", "ni", "ri", "yi", "vi", "sei",
)  # fmt: skip


def _get(name: str, x: object, data: pd.DataFrame | None) -> np.ndarray | None:
    if x is None:
        return None
    return np.atleast_1d(as_float_array(name, column(name, x, data))).ravel()


def escalc(
    measure: Measure,
    ai: ArrayLike | str | None = None,
    bi: ArrayLike | str | None = None,
    ci: ArrayLike | str | None = None,
    di: ArrayLike | str | None = None,
    n1i: ArrayLike | str | None = None,
    n2i: ArrayLike | str | None = None,
    m1i: ArrayLike | str | None = None,
    m2i: ArrayLike | str | None = None,
    sd1i: ArrayLike | str | None = None,
    sd2i: ArrayLike | str | None = None,
    xi: ArrayLike | str | None = None,
    mi: ArrayLike | str | None = None,
    ni: ArrayLike | str | None = None,
    ri: ArrayLike | str | None = None,
    yi: ArrayLike | str | None = None,
    vi: ArrayLike | str | None = None,
    sei: ArrayLike | str | None = None,
    *,
    data: pd.DataFrame | None = None,
    slab: ArrayLike | str | None = None,
    add: float | None = None,
    to: To = "only0",
    drop00: bool = False,
    vtype: str = "LS",
    correct: bool | None = None,
) -> pd.DataFrame:
    """Compute effect sizes ``yi`` and sampling variances ``vi``.

    Equivalent to ``metafor::escalc(measure, ..., add=1/2, to="only0", drop00=FALSE)``.
    As in metafor, leaving ``add`` unset means 1/2, except for PAS and PFT, where
    it means 0 (an explicit ``add`` applies to them as well).

    Parameters
    ----------
    measure : str
        One of :data:`MEASURES` (metafor's names, case-sensitive).
    ai, bi, ci, di, n1i, n2i : array_like or str, optional
        2x2 tables (OR, RR, RD, PETO): events ``ai``/``ci``, non-events ``bi``/``di`` or group
        sizes ``n1i``/``n2i``; ``n1i``/``n2i`` are also the group sizes of MD, SMD, ROM.
    m1i, m2i, sd1i, sd2i : array_like or str, optional
        Means and standard deviations of the two groups (MD, SMD, ROM).
    xi, mi, ni : array_like or str, optional
        Events, non-events and sample sizes of one group (PR, PLN, PLO, PAS, PFT);
        ``ni`` is also the sample size of ZCOR and COR.
    ri : array_like or str, optional
        Correlations (ZCOR, COR).
    yi, vi, sei : array_like or str, optional
        Given effect sizes with variances or standard errors (GEN).
    data : pandas.DataFrame, optional
        Where string arguments are looked up as column names; its columns come first in
        the result.
    slab : array_like or str, optional
        Study labels (or a column name).  They become the result's index, named
        ``"slab"``; without them the index of ``data`` (or 0, 1, ...) is kept, and an
        index of ``data`` already named ``"slab"`` keeps its labels.
    add : float, optional
        Continuity correction (metafor's default: 1/2, but 0 for PAS and PFT).
    to : {"only0", "all", "if0all", "none"}
        Which studies get ``add``: those with a zero cell (or ``xi = ni``), all, all when
        any has one, none.
    drop00 : bool
        For 2x2 tables: studies with no events (or only events) in both groups get
        ``yi = vi = NaN`` (metafor's ``drop00=TRUE``).  A ``yi`` or ``vi`` of +-Inf (a
        zero cell without correction, ``to="none"``) is set to NaN with a warning, as
        metafor does.
    vtype : {"LS"}
        Large-sample variances (metafor's default; the only one so far).
    correct : bool, optional
        metafor's ``correct=`` (from 4.8; metafor 3.8 disregards it with a warning, and
        so does metaparity when mirroring 3.8): the bias correction of SMD (Hedges' g;
        ``False``: Cohen's d) and, from metafor 5.0, of ROM (Lajeunesse 2015, eq. 8; on
        by default there, absent before).  Unset means the selected release's default.

    Returns
    -------
    pandas.DataFrame
        The columns of ``data`` (if given) followed by ``yi`` and ``vi``, one row per
        study, indexed by the study labels when there are any.  ``attrs["measure"]`` and
        ``attrs["ni"]`` (total sample sizes) are set so that ``rma(data=...)`` and
        ``predict()`` can back-transform; ``attrs["slab"]`` repeats the labels for older
        readers -- after subsetting only the index is right, so read them with
        :func:`study_labels`.

    Examples
    --------
    >>> escalc("PR", xi=[2, 16], ni=[122, 78]).round(4)
           yi      vi
    0  0.0164  0.0001
    1  0.2051  0.0021
    >>> dat = escalc("PLO", xi=[2, 16], ni=[122, 78], slab=["Chari", "Vogl"])
    >>> dat.round(4)  # doctest: +NORMALIZE_WHITESPACE
               yi      vi
    slab
    Chari -4.0943  0.5083
    Vogl  -1.3545  0.0786

    (metafor: ``escalc("PLO", xi=c(2,16), ni=c(122,78), slab=c("Chari","Vogl"))`` prints
    -4.0943, 0.5083 and -1.3545, 0.0786.)
    """
    if not isinstance(measure, str) or measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose one of: {', '.join(MEASURES)}")
    add_ = check_options(measure, add, to, vtype)
    given = dict(zip(_ARGS, (ai, bi, ci, di, n1i, n2i, m1i, m2i, sd1i, sd2i,
                             xi, mi, ni, ri, yi, vi, sei), strict=True))  # fmt: skip
    g = {n: _get(n, x, data) for n, x in given.items()}
    lengths = {n: a.size for n, a in g.items() if a is not None}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            "arguments differ in length ("
            + ", ".join(f"{n} has {s}" for n, s in lengths.items())
            + "); give one value per study"
        )
    k = next(iter(lengths.values())) if lengths else 0
    labels = _labels(slab, data, k)
    if k == 0:
        raise ValueError(f"no studies given for measure={measure!r} (k = 0)")

    if correct is not None and not since("escalc_correct"):
        warnings.warn(
            f"escalc: metafor {get_metafor_version()} has no 'correct' argument: "
            "\"Extra argument ('correct') disregarded.\"",
            UserWarning,
            stacklevel=2,
        )
        correct = None
    if measure in continuous.MEASURES:
        y_, v_, ntot = continuous.compute(measure, g, labels, correct=correct)
    else:
        y_, v_, ntot = _COMPUTE[measure](measure, g, labels, add=add_, to=to, drop00=drop00)
    y_, v_ = np.asarray(y_, dtype=float), np.asarray(v_, dtype=float)
    if not drop00:  # drop00=True asks for those NA
        _warn_undefined(measure, y_, g, labels)
    y_, v_ = _infinite_to_nan(y_, v_, labels)

    if data is not None:
        out = data.copy()
        if len(out) != k:
            raise ValueError(f"data has {len(out)} rows but the arguments have {k} values")
    else:
        out = pd.DataFrame(index=pd.RangeIndex(k))
    out["yi"] = y_
    out["vi"] = v_
    out.attrs["measure"] = measure
    # a list, not an array: pandas compares attrs when concatenating (an array is ambiguous)
    out.attrs["ni"] = None if ntot is None else ntot.tolist()
    if labels is not None and len(labels) == k:
        out.index = pd.Index(labels, name=SLAB)
        out.attrs["slab"] = list(labels)
    else:
        out.attrs.pop("slab", None)  # stale labels of data would not match the rows
    # the row each size belongs to, so that study_sizes() can follow subsetting
    out.attrs["ni_index"] = None if ntot is None else list(out.index)
    return out


def _warn_undefined(
    measure: str, y: np.ndarray, g: dict[str, np.ndarray | None], labels: list[object] | None
) -> None:
    """A NaN yi from inputs that are all present (e.g. SMD with equal means and both SDs 0,
    0/0): metafor gives NA without a word; here the same NaN, with a warning naming them."""
    present = np.ones(y.shape, dtype=bool)
    for a in g.values():
        if a is not None and a.shape == y.shape:
            present &= np.isfinite(np.asarray(a, dtype=float))
    rows = np.flatnonzero(np.isnan(y) & present)
    if rows.size == 0:
        return
    named = "; ".join(study_label(int(i), labels) for i in rows[:8])
    if rows.size > 8:
        named += f"; ... and {rows.size - 8} more"
    eg = " (e.g. both SDs 0 and equal means)" if measure in continuous.MEASURES else ""
    warnings.warn(
        f"{measure} is undefined (0/0) for {named}: yi and vi are NaN (missing), as metafor's "
        f"NA (which it gives without a warning); check those values{eg}, or drop the studies",
        UserWarning,
        stacklevel=3,
    )


def _infinite_to_nan(
    y: np.ndarray, v: np.ndarray, labels: list[object] | None
) -> tuple[np.ndarray, np.ndarray]:
    """metafor: a yi or vi of +-Inf (e.g. a log odds ratio of a zero cell with ``to="none"``)
    makes both NA, with a warning; here NaN, the warning naming the studies."""
    inf = np.isinf(y) | np.isinf(v)
    if not inf.any():
        return y, v
    rows = np.flatnonzero(inf)
    named = "; ".join(study_label(int(i), labels) for i in rows[:8])
    if rows.size > 8:
        named += f"; ... and {rows.size - 8} more"
    warnings.warn(
        f"yi or vi is +-Inf for {named}: set to NaN (missing), as metafor does ('Some 'yi' "
        "and/or 'vi' values equal to +-Inf. Recoded to NAs.'); a continuity correction "
        "(add=, to=) gives them finite values",
        UserWarning,
        stacklevel=3,
    )
    y, v = y.copy(), v.copy()
    y[inf] = np.nan
    v[inf] = np.nan
    return y, v


def _labels(slab: object, data: pd.DataFrame | None, k: int) -> list[object] | None:
    """The study labels: ``slab`` (values or a column of ``data``), else those ``data`` carries."""
    values = column("slab", slab, data)
    if values is None:
        carried = study_labels(data) if data is not None else None
        # data of the wrong length is reported once the values are checked
        return None if carried is None or len(carried) != k else list(carried)
    labels: list[object] = np.asarray(values, dtype=object).ravel().tolist()
    if k and len(labels) != k:
        raise ValueError(
            f"slab has {len(labels)} labels but the arguments have {k} values; "
            "give one label per study"
        )
    return labels


def study_labels(data: object) -> tuple[str, ...] | None:
    """The study labels an :func:`escalc` result carries, or None when it has none.

    The labels are the index named ``"slab"``, so they follow the rows through
    ``iloc``, boolean masks, ``sort_values`` and ``concat``.  An index that is no
    longer the ``"slab"`` index (``reset_index``, ``set_index``, concatenating with
    unlabelled rows) means no labels; if ``attrs["slab"]`` is still there it may not
    match the rows, so it is ignored with a warning rather than misaligned.

    Equivalent to reading metafor's ``attr(dat$yi, "slab")`` of an ``escalc`` object.

    Parameters
    ----------
    data : pandas.DataFrame or object
        Usually the output of :func:`escalc`, possibly subset or reordered.

    Returns
    -------
    tuple of str or None
        One label per row, as strings, in row order.

    Examples
    --------
    >>> dat = escalc("PR", xi=[2, 16, 5], ni=[122, 78, 40], slab=["A", "B", "C"])
    >>> study_labels(dat)
    ('A', 'B', 'C')
    >>> study_labels(dat[dat.yi > 0.05].sort_values("yi"))
    ('C', 'B')
    >>> study_labels(escalc("PR", xi=[2, 16], ni=[122, 78])) is None
    True
    """
    index = getattr(data, "index", None)
    if isinstance(index, pd.Index) and not isinstance(index, pd.MultiIndex):
        if index.name == SLAB:
            return tuple(str(s) for s in index)
    attrs = getattr(data, "attrs", None)
    if isinstance(attrs, dict) and attrs.get("slab") is not None:
        warnings.warn(
            "data has study labels in attrs['slab'] but its index is no longer the 'slab' "
            "index (reset or replaced), so they may not match the rows; ignoring them -- "
            "keep the index (or set_index('slab')), or pass slab=",
            UserWarning,
            stacklevel=2,
        )
    return None


def study_sizes(data: object) -> np.ndarray | None:
    """The total sample sizes an :func:`escalc` result carries, aligned with its rows.

    ``attrs["ni"]`` holds one size per study *as escalc made them*; this looks each
    row up by its index label, so ``iloc``, masks and ``sort_values`` keep sizes and
    rows together (``ipft.hm`` needs them).  None when there are none, or when the rows
    can no longer be matched (a repeated or replaced index).  Without study labels the
    index is 0, 1, ...: ``reset_index(drop=True)`` after subsetting renumbers the rows
    and cannot be told apart from the original, so give ``slab=`` when you subset.

    Equivalent to metafor's ``attr(dat$yi, "ni")``, which ``[.escalc`` subsets with the rows.

    Parameters
    ----------
    data : pandas.DataFrame or object
        Usually the output of :func:`escalc`, possibly subset or reordered.

    Returns
    -------
    numpy.ndarray or None
        One total sample size per row, in row order.

    Examples
    --------
    >>> dat = escalc("PFT", xi=[2, 16, 5], ni=[122, 78, 40], slab=["A", "B", "C"])
    >>> study_sizes(dat.sort_values("yi").iloc[1:]).tolist()
    [40.0, 78.0]
    """
    attrs = getattr(data, "attrs", None)
    index = getattr(data, "index", None)
    if not isinstance(attrs, dict) or attrs.get("ni") is None or not isinstance(index, pd.Index):
        return None
    ni = np.asarray(attrs["ni"], dtype=float)
    keys = attrs.get("ni_index")
    if keys is None:  # sizes set by hand, without their rows: trust them only if they fit
        return ni if ni.size == len(index) else None
    if len(keys) != ni.size:
        return None
    if list(index) == list(keys):
        return ni
    pos = {key: i for i, key in enumerate(keys)}
    if len(pos) != len(keys) or not index.is_unique or any(key not in pos for key in index):
        return None
    return ni[[pos[key] for key in index]]
