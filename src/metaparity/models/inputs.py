"""The studies of one model, read the way every ``rma`` function reads them.

``yi``/``vi`` (or ``sei``) given as values or as column names of ``data``; with an
``escalc()`` DataFrame they default to its ``yi``/``vi`` columns and the measure, the
study labels and the group sizes travel with it (row by row, after any subsetting).  Errors name the study, the value and the fix.

:func:`model_inputs` is ``metafor::rma``'s front end in the order metafor applies it:
effect sizes computed by :func:`~metaparity.effects.escalc` when ``measure=`` and its
inputs are given, ``subset=`` (before escalc, so that ``to="if0all"`` looks only at the
selected studies), then studies with missing values (yi, vi, weights, moderators)
omitted with a warning naming them (``na_action="omit"``, metafor's default
``na.omit``) or refused (``"fail"``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metaparity._core.names import METHOD_ALIASES, estimating_method
from metaparity._core.validation import (
    as_float_array,
    check_same_length,
    check_yi_vi,
    column,
    study_label,
)
from metaparity.effects import escalc, study_labels, study_sizes
from metaparity.engine.control import CONTROL_METHODS, MetaforControl, parse_control
from metaparity.engine.estimators import POSITIVE_V_ONLY
from metaparity.models.design import moderator_missing

__all__ = [
    "Studies", "read_studies", "read_control", "warn_set_to_zero", "ModelInputs",
    "model_inputs", "EFFECT_ARGS", "NA_ACTIONS", "fixed_tau2", "check_zero_variances",
    "zero_variance_refusal", "raise_div0", "VI_RATIO_WARN", "warn_variance_ratio",
]  # fmt: skip

#: the effect-size inputs of :func:`~metaparity.effects.escalc` that ``rma(measure=...)``
#: takes (metafor's names)
EFFECT_ARGS: tuple[str, ...] = (
    "ai", "bi", "ci", "di", "n1i", "n2i", "m1i", "m2i", "sd1i", "sd2i", "xi", "mi", "ni", "ri",
)  # fmt: skip
#: what to do with studies that have missing values (metafor: ``options(na.action=)``)
NA_ACTIONS: tuple[str, ...] = ("omit", "fail")
#: estimators that accept sampling variances of 0 (metafor 3.8 and 5.1, measured)
_ZERO_V_OK = "REML, ML, EB, HE, SJ, SJIT (GENQ with weights=)"


@dataclass(frozen=True)
class Studies:
    """Effect sizes, sampling variances and what travels with them (one model)."""

    yi: np.ndarray
    vi: np.ndarray
    weights: np.ndarray | None
    slab: tuple | None
    measure: str
    ni: np.ndarray | None


def _vector(name: str, x: Any) -> np.ndarray:
    return np.atleast_1d(as_float_array(name, x)).ravel()


def read_studies(
    yi: Any,
    vi: Any,
    *,
    sei: Any = None,
    weights: Any = None,
    data: Any = None,
    slab: Any = None,
    missing: str = "give yi and vi (or sei), or data= from escalc()",
) -> Studies:
    """Resolve columns, convert to float vectors and check them (metafor's ``rma`` inputs).

    Parameters
    ----------
    yi, vi, sei, weights, slab : array_like or str, optional
        Values or column names of ``data``.
    data : pandas.DataFrame, optional
        An ``escalc()`` result (its ``measure`` and ``ni`` attributes travel) or any frame.
    missing : str
        The error message when neither ``yi`` nor ``vi``/``sei`` can be found.

    Returns
    -------
    Studies
    """
    measure, ni = "GEN", None
    if data is not None:
        attrs = getattr(data, "attrs", {}) or {}
        measure = attrs.get("measure", "GEN")
        if yi is None:
            yi = "yi"
        if vi is None and sei is None:
            vi = "vi"
        ni = study_sizes(data)  # escalc's sizes, row by row (ipft.hm needs them)
        if slab is None:
            slab = study_labels(data)  # escalc's labels travel with the rows
    yi, vi, sei, weights, slab = (
        column(n, x, data)
        for n, x in (("yi", yi), ("vi", vi), ("sei", sei), ("weights", weights), ("slab", slab))
    )
    if yi is None or (vi is None and sei is None):
        raise ValueError(missing)
    y = _vector("yi", yi)
    if vi is None:
        s = _vector("sei", sei)
        check_same_length(yi=y, sei=s)
        v = s * s
    else:
        v = _vector("vi", vi)
    w = None if weights is None else _vector("weights", weights)
    labels = None if slab is None else tuple(np.asarray(slab, dtype=object).ravel().tolist())
    check_same_length(yi=y, vi=v, weights=w, slab=None if labels is None else np.asarray(labels))
    check_yi_vi(y, v, labels)
    if w is not None:
        for i, wi in enumerate(w):
            if not np.isfinite(wi) or wi <= 0:
                raise ValueError(
                    f"{study_label(i, labels)} has weight {float(wi):g}; weights must be positive "
                    "and finite"
                )
    return Studies(y, v, w, labels, measure, ni)


#: metafor warns when max(vi)/min(vi) reaches 1/evtol (evtol = 1e-7 by default; 3.8 and 5.1)
VI_RATIO_WARN = 1e7
#: metafor's text (3.8.1 and 5.1-12 alike)
_VI_RATIO_TEXT = (
    "Ratio of largest to smallest sampling variance extremely large. "
    "May not be able to obtain stable results."
)


def warn_variance_ratio(v: np.ndarray, stacklevel: int = 3) -> None:
    """metafor's warning when ``max(vi)/min(vi) >= 1e7`` (finite ratios only: a vi of 0
    gives an infinite ratio, for which metafor does not warn)."""
    v = np.asarray(v, dtype=float)
    if v.size == 0:
        return
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = float(np.max(v) / np.min(v))
    if np.isfinite(ratio) and ratio >= VI_RATIO_WARN:
        warnings.warn(
            f"max(vi)/min(vi) = {ratio:.3g} >= 1e7 (vi from {np.min(v):g} to {np.max(v):g}); "
            f"metafor: '{_VI_RATIO_TEXT}' -- check the variances (units, sei given as vi?)",
            UserWarning,
            stacklevel=stacklevel,
        )


def warn_set_to_zero(stacklevel: int = 3) -> None:
    """metafor's switch to tau^2 = 0 when Fisher scoring ends below the likelihood at 0."""
    warnings.warn(
        "Fisher scoring reached a local maximum whose likelihood is below the one at "
        "tau^2 = 0; setting tau^2 = 0 (as metafor does)",
        UserWarning,
        stacklevel=stacklevel,
    )


# --------------------------------------------------------------------------- #
# metafor's rma() front end: escalc, subset, missing values
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class ModelInputs:
    """The studies one model is fitted to, and where they came from.

    ``rows`` are the 0-based positions of the fitted studies among the ``n_input`` input
    rows (before ``subset=`` and the omission of missing values), so that messages name
    the row the user gave.  ``data`` and ``mods`` are as given (all input rows): metafor
    builds the model matrix from all rows (factor levels included) and then keeps
    ``rows`` (:func:`~metaparity.models.design.design_matrix` with ``rows=``).
    """

    studies: Studies
    data: pd.DataFrame | None
    mods: Any
    rows: np.ndarray
    n_input: int

    def label(self, i: int) -> str:
        """``study 'X' (row r)`` or ``study in row r`` for fitted study ``i`` (r: input row)."""
        return _row_label(int(self.rows[i]), self.studies.slab, i)


def _row_label(row: int, slab: tuple | None, i: int) -> str:
    if slab is not None:
        return f"study {slab[i]!r} (row {row + 1})"
    return f"study in row {row + 1}"


def _listing(labels: list[str], limit: int = 8) -> str:
    more = len(labels) - limit
    return "; ".join(labels[:limit]) + (f"; ... and {more} more" if more > 0 else "")


def _raw_vector(name: str, x: Any) -> np.ndarray:
    """A float vector in which None, pandas NA and NaN all mean missing (NaN)."""
    if isinstance(x, pd.Series | pd.Index):
        x = x.to_numpy(dtype=object)
    arr = np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) else x
    if arr.dtype == object:
        arr = np.array([np.nan if _is_na(e) else e for e in np.atleast_1d(arr).ravel()],
                       dtype=object)  # fmt: skip
    return np.atleast_1d(as_float_array(name, arr)).ravel()


def _is_na(e: Any) -> bool:
    try:
        return bool(pd.isna(e))
    except (TypeError, ValueError):
        return False


def _subset_mask(subset: Any, k: int, data: pd.DataFrame | None) -> np.ndarray | None:
    """metafor's ``subset=``: a boolean mask of length k, 0-based positions, or a column of data."""
    if subset is None:
        return None
    what = "subset"
    if isinstance(subset, str):
        what = f"subset={subset!r}"
        subset = column("subset", subset, data)
    arr = subset.to_numpy() if isinstance(subset, pd.Series | pd.Index) else np.asarray(subset)
    arr = np.atleast_1d(arr)
    hint = (
        f"give a boolean mask of length k = {k} (one entry per study) or integer positions "
        f"0..{k - 1}"
    )
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D; got shape {arr.shape}; {hint}")
    if arr.dtype == object and all(isinstance(e, bool | np.bool_) for e in arr):
        arr = arr.astype(bool)
    if arr.dtype == bool:
        if arr.size != k:
            raise ValueError(f"{what} has {arr.size} entries but there are k = {k} studies; {hint}")
        mask = arr.copy()
    elif np.issubdtype(arr.dtype, np.integer):
        bad = arr[(arr < 0) | (arr >= k)]
        if bad.size:
            raise ValueError(
                f"{what} holds position {int(bad[0])}, outside 0..{k - 1} (k = {k} studies; "
                "positions are 0-based, negative ones are not accepted -- metafor's "
                f"subset=-i excludes study i: use a boolean mask); {hint}"
            )
        mask = np.zeros(k, dtype=bool)
        mask[arr] = True  # as metafor: the studies keep their order, repeats count once
    else:
        kinds = {type(e).__name__ for e in arr.tolist()} if arr.dtype == object else {arr.dtype}
        raise ValueError(
            f"{what} must be booleans or integers; got {', '.join(map(str, sorted(map(str, kinds))))}"
            f" values; {hint}"
        )
    if not mask.any():
        raise ValueError(f"{what} selects no study (k = 0); {hint}")
    return mask


def _n_rows(x: Any) -> int:
    return len(x) if isinstance(x, pd.Series | pd.DataFrame) else int(np.shape(np.asarray(x))[0])


def model_inputs(
    yi: Any,
    vi: Any,
    *,
    sei: Any = None,
    weights: Any = None,
    data: Any = None,
    slab: Any = None,
    mods: Any = None,
    measure: str | None = None,
    effects: dict[str, Any] | None = None,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
    subset: Any = None,
    na_action: str = "omit",
    missing: str = "give yi and vi (or sei), measure= with escalc's inputs, or data= from escalc()",
) -> ModelInputs:
    """Resolve, subset and clean the studies of one model as ``metafor::rma`` does.

    Parameters
    ----------
    yi, vi, sei, weights, slab : array_like or str, optional
        Values or column names of ``data`` (as :func:`read_studies`).
    data : pandas.DataFrame or dict, optional
        Where column names are looked up; an ``escalc()`` result also supplies
        ``yi``/``vi``, the measure, the labels and the study sizes.
    mods : str, DataFrame, Series or array_like, optional
        Moderators; a study with a missing moderator value counts as missing (metafor).
    measure : str, optional
        With escalc's inputs in ``effects``: the effect size to compute.  With ``yi``
        given: the measure the values are (used by ``predict(transf=True)``).
    effects : dict, optional
        escalc's inputs (:data:`EFFECT_ARGS`) as values or column names; ``ni`` alone
        (with ``yi``) is the study sizes.
    add, to, drop00 : optional
        escalc's continuity correction, passed on.
    subset : array_like of bool or int, or str, optional
        The studies to fit: a mask of length k, 0-based positions, or a boolean column of
        ``data``; applied before escalc (metafor's order).
    na_action : {"omit", "fail"}
        Studies with a missing yi, vi, weight or moderator: omitted with a warning naming
        them (metafor's default ``na.omit``), or an error naming them (``na.fail``).
    missing : str
        The error message when neither effect sizes nor their inputs can be found.

    Returns
    -------
    ModelInputs
        The studies (finite yi; vi >= 0, zeros allowed; weights > 0) and their input
        positions.
    """
    if na_action not in NA_ACTIONS:
        raise ValueError(
            f"na_action={na_action!r} is not one of {', '.join(map(repr, NA_ACTIONS))} "
            "(metafor's na.omit and na.fail)"
        )
    if isinstance(data, dict):
        data = pd.DataFrame(data)
    if data is not None and not isinstance(data, pd.DataFrame):
        raise ValueError(
            f"data must be a pandas DataFrame (or a dict of columns); got {type(data)!r}"
        )
    given = {n: x for n, x in (effects or {}).items() if x is not None}
    unknown = set(given) - set(EFFECT_ARGS)
    if unknown:
        raise ValueError(f"unknown effect-size input(s) {', '.join(sorted(unknown))}")
    computing = any(n != "ni" for n in given)
    if not computing and (add is not None or to != "only0" or drop00):
        raise ValueError(
            "add=, to= and drop00= apply when rma computes the effect sizes (measure= with "
            "escalc's inputs such as ai/bi/ci/di or xi/ni); with yi/vi given, compute them "
            "with escalc(..., add=, to=, drop00=) first"
        )
    if computing:
        if yi is not None or vi is not None or sei is not None:
            raise ValueError(
                "give either yi with vi (or sei), or measure= with escalc's inputs "
                f"({', '.join(n for n in given)}), not both"
            )
        if measure in (None, "GEN"):
            raise ValueError(
                f"escalc's inputs ({', '.join(given)}) were given without measure=; say which "
                "effect size to compute, e.g. measure='OR' (metafor: 'Specify the desired "
                "outcome measure via the measure argument')"
            )
    # ---- every per-study input as a vector over the input rows
    ni_given = given.pop("ni", None) if not computing else None
    ni_carried = None
    meas = measure or "GEN"
    labels_src = slab
    if not computing:
        if data is not None:
            attrs = getattr(data, "attrs", {}) or {}
            if measure is None:
                meas = attrs.get("measure", "GEN")
            if yi is None:
                yi = "yi"
            if vi is None and sei is None:
                vi = "vi"
            ni_carried = study_sizes(data)
            if labels_src is None:
                labels_src = study_labels(data)
        if yi is None or (vi is None and sei is None):
            raise ValueError(missing)
    vecs: dict[str, np.ndarray] = {}
    if computing:
        for n, x in given.items():
            vecs[n] = _raw_vector(n, column(n, x, data))
    else:
        vecs["yi"] = _raw_vector("yi", column("yi", yi, data))
        if vi is not None:
            vecs["vi"] = _raw_vector("vi", column("vi", vi, data))
        else:
            vecs["sei"] = _raw_vector("sei", column("sei", sei, data))
        if ni_given is not None:
            vecs["ni"] = _raw_vector("ni", column("ni", ni_given, data))
    if weights is not None:
        vecs["weights"] = _raw_vector("weights", column("weights", weights, data))
    labels = None
    lab_vals = column("slab", labels_src, data)
    if lab_vals is not None:
        labels = np.asarray(lab_vals, dtype=object).ravel()
    k = check_same_length(**vecs, slab=labels)
    if k == 0:
        raise ValueError("no studies given (k = 0); a meta-analysis needs at least one study")
    if labels is not None:
        na_lab = [i for i, e in enumerate(labels.tolist()) if _is_na(e)]
        if na_lab:
            raise ValueError(
                f"slab: row {na_lab[0] + 1} has no study label (missing); give every study a "
                "label (metafor: 'NAs in study labels.')"
            )
    if data is not None and len(data) != k:
        raise ValueError(
            f"data has {len(data)} rows but there are {k} studies; give one row per study"
        )
    if mods is not None and not isinstance(mods, str) and _n_rows(mods) != k:
        raise ValueError(
            f"mods has {_n_rows(mods)} rows but there are {k} studies; give one row per study"
        )
    if ni_carried is not None and ni_carried.size != k:
        ni_carried = None
    rows = np.arange(k)
    # ---- subset (before escalc, as metafor)
    mask = _subset_mask(subset, k, data)
    if mask is not None:
        vecs = {n: a[mask] for n, a in vecs.items()}
        labels = None if labels is None else labels[mask]
        ni_carried = None if ni_carried is None else ni_carried[mask]
        rows = rows[mask]
    slab_t = None if labels is None else tuple(labels.tolist())
    # ---- effect sizes
    reasons: list[list[str]] = [[] for _ in range(rows.size)]
    if computing:
        try:
            dat = escalc(meas, **{n: vecs[n] for n in given}, slab=None if slab_t is None else list(slab_t),  # type: ignore[arg-type]
                         add=add, to=to, drop00=drop00)  # type: ignore[arg-type]  # fmt: skip
        except ValueError as err:
            if mask is None:
                raise
            raise ValueError(
                f"{err} (rows counted among the studies selected by subset=)"
            ) from None
        y = dat["yi"].to_numpy(dtype=float)
        v = dat["vi"].to_numpy(dtype=float)
        ni = study_sizes(dat)
        for n in given:
            for i in np.flatnonzero(np.isnan(vecs[n])):
                reasons[i].append(n)
        for i in np.flatnonzero(np.isnan(y) | np.isnan(v)):
            if not reasons[i]:
                reasons[i].append(
                    f"yi/vi (escalc: {meas} not defined here -- drop00=True, or +-Inf without "
                    "a continuity correction)"
                )
        vname = "vi"
    else:
        y = vecs["yi"]
        if "vi" in vecs:
            v, vname = vecs["vi"], "vi"
        else:
            v, vname = vecs["sei"] ** 2, "sei"
        ni = vecs.get("ni", ni_carried)
        for i in np.flatnonzero(np.isnan(y)):
            reasons[i].append("yi")
        for i in np.flatnonzero(np.isnan(v)):
            reasons[i].append(vname)
    w = vecs.get("weights")
    if w is not None:
        for i in np.flatnonzero(np.isnan(w)):
            reasons[i].append("weights")
    if mods is not None:
        for name, miss in moderator_missing(mods, data):
            for i in np.flatnonzero(miss[rows]):
                reasons[i].append(f"moderator {name!r}")
    # ---- missing values: omitted with a warning, or an error
    drop = np.array([bool(r) for r in reasons], dtype=bool)
    if drop.any():
        listing = _listing(
            [
                f"{_row_label(int(rows[i]), slab_t, int(i))}: {', '.join(reasons[i])}"
                for i in np.flatnonzero(drop)
            ]  # fmt: skip
        )
        n_drop = int(drop.sum())
        if na_action == "fail":
            raise ValueError(
                f"missing values in {n_drop} {'study' if n_drop == 1 else 'studies'} ({listing}); "
                "metafor's na.fail stops here ('Missing values in data.'): fill them in, drop "
                "the studies, or use na_action='omit'"
            )
        if drop.all():
            raise ValueError(
                f"every study has a missing value ({listing}); no study is left to fit "
                "(metafor: 'Processing terminated since k = 0.')"
            )
        warnings.warn(
            f"{n_drop} {'study' if n_drop == 1 else 'studies'} with missing values omitted from "
            f"model fitting ({listing}), as metafor does ('Studies with NAs omitted from model "
            "fitting.'); na_action='fail' makes this an error",
            UserWarning,
            stacklevel=3,
        )
        keep = ~drop
        y, v, rows = y[keep], v[keep], rows[keep]
        w = None if w is None else w[keep]
        ni = None if ni is None else np.asarray(ni, dtype=float)[keep]
        slab_t = None if slab_t is None else tuple(np.asarray(slab_t, dtype=object)[keep].tolist())
    # ---- the values themselves
    for ix in range(y.size):
        lab = _row_label(int(rows[ix]), slab_t, ix)
        if not np.isfinite(y[ix]):
            raise ValueError(f"{lab} has yi={float(y[ix])!r}, which is not finite; remove the "
                             "study or supply its effect size")  # fmt: skip
        if not np.isfinite(v[ix]):
            raise ValueError(f"{lab} has {vname}={float(v[ix])!r}, which is not finite; remove "
                             "the study or supply its sampling variance")  # fmt: skip
        if v[ix] < 0:
            raise ValueError(
                f"{lab} has vi={float(v[ix])!r} < 0; sampling variances cannot be negative "
                "(metafor would set it to 0 with a warning: give 0 explicitly if that is meant)"
            )
        if w is not None and (not np.isfinite(w[ix]) or w[ix] <= 0):
            raise ValueError(f"{lab} has weight {float(w[ix]):g}; weights must be positive and "
                             "finite")  # fmt: skip
    return ModelInputs(Studies(y, v, w, slab_t, meas, ni), data, mods, rows, k)


def fixed_tau2(tau2: Any, method: str, stacklevel: int = 3) -> float | None:
    """metafor's ``tau2=``: None (estimate it) or a finite value >= 0 to hold tau^2 at.

    With the equal-effects model (EE/FE/CE) the value is ignored with a warning
    (metafor ignores it silently: the model has tau^2 = 0).
    """
    if tau2 is None:
        return None
    arr = np.asarray(tau2)
    if isinstance(tau2, bool) or arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(
            f"tau2={tau2!r} must be one number >= 0 (tau^2 held fixed at it), or None to "
            "estimate tau^2"
        )
    val = float(arr.reshape(()))
    if not np.isfinite(val) or val < 0:
        raise ValueError(
            f"tau2={val!r} must be a finite number >= 0 (tau^2 held fixed at it); give "
            "tau2=None to estimate tau^2"
        )
    if estimating_method(method) in ("EE", "FE"):
        warnings.warn(
            f"tau2={val!r} is ignored with method={method!r}: the equal-effects model has "
            "tau^2 = 0 (metafor ignores it as well)",
            UserWarning,
            stacklevel=stacklevel,
        )
        return None
    return val


#: :func:`zero_variance_refusal` for control= runs (metafor's own iterations)
_CONTROL_POSITIVE_ONLY = (
    "metafor's own iteration (control=) is implemented in metaparity for positive sampling "
    "variances only"
)


def zero_variance_refusal(
    method: str, with_control: bool = False, tau2: float | None = None
) -> str | None:
    """Why a sampling variance of 0 cannot be used with ``method`` (metafor's own message
    where metafor refuses it), or None when the estimator accepts it.

    >>> zero_variance_refusal("REML") is None, zero_variance_refusal("DL")[:26]
    (True, 'DL estimator cannot be use')
    """
    if with_control and tau2 is None and METHOD_ALIASES.get(method, method) in CONTROL_METHODS:
        return _CONTROL_POSITIVE_ONLY
    if method == "DLIT":
        return "Division by zero when computing the inverse variance weights."
    if estimating_method(method) in POSITIVE_V_ONLY:
        return (
            f"{method} estimator cannot be used when there are non-positive sampling "
            "variances in the data."
        )
    return None


def check_zero_variances(
    inp: ModelInputs,
    method: str,
    stacklevel: int = 3,
    control: MetaforControl | None = None,
    tau2: float | None = None,
) -> None:
    """Sampling variances of 0: refused with metafor's reason by the estimators metafor
    refuses them for; otherwise a warning (when only some are 0) that QE, I2 and H2 are NaN.
    With ``control=`` (metafor's iterations, run for positive variances only) and tau^2
    estimated by one of them, refused as well.
    """
    v = inp.studies.vi
    zero = np.flatnonzero(v == 0)
    if zero.size == 0:
        return
    named = _listing([inp.label(int(i)) for i in zero], limit=5)
    why = zero_variance_refusal(method, control is not None, tau2)
    if why == _CONTROL_POSITIVE_ONLY:
        raise ValueError(
            f"{named} {'has' if zero.size == 1 else 'have'} vi=0: control= runs metafor's own "
            "iteration, which metaparity implements for positive sampling variances only; "
            "leave control= unset (tau^2 is then solved to its root, which metafor's "
            "iteration approaches) or give the studies a positive variance"
        )
    if why is not None:
        raise ValueError(
            f"{named} {'has' if zero.size == 1 else 'have'} vi=0; method={method!r} needs "
            f"positive sampling variances (metafor: '{why}'); use an estimator that accepts "
            f"them ({_ZERO_V_OK}), or give the studies a positive variance (for 0 events a "
            "continuity correction, escalc(..., add=0.5))"
        )
    if zero.size < v.size:
        warnings.warn(
            f"{named} {'has' if zero.size == 1 else 'have'} vi=0: QE, QEp, I2 and H2 cannot be "
            "computed and are NaN (metafor: 'There are outcomes with non-positive sampling "
            "variances.')",
            UserWarning,
            stacklevel=stacklevel,
        )


def raise_div0(inp: ModelInputs, method: str, tau2: float | None) -> None:
    """The error for a fit that needs ``1/(vi + tau^2)`` with ``vi = 0`` at ``tau^2 = 0``."""
    zero = np.flatnonzero(inp.studies.vi == 0)
    named = _listing([inp.label(int(i)) for i in zero], limit=5)
    how = (
        "tau^2 is fixed at 0"
        if tau2 == 0
        else "the equal-effects model has tau^2 = 0"
        if estimating_method(method) in ("EE", "FE")
        else f"method={method!r} reaches tau^2 = 0 (in its estimate or on its way there)"
    )
    raise ValueError(
        f"{named} {'has' if zero.size == 1 else 'have'} vi=0 and {how}, so the "
        "inverse-variance weight 1/(vi + tau^2) is infinite (metafor: 'Division by zero when "
        "computing the inverse variance weights.'); fix tau2= at a positive value, pool with "
        "weights= or weighted=False (test='z' or 't'), or give the studies a positive "
        "sampling variance"
    )


def read_control(control: Any, method: str) -> MetaforControl | None:
    """The ``control=`` argument of ``rma``/``rma_mods``, validated for estimator ``method``.

    Parameters
    ----------
    control : None, "metafor" or dict
        See :func:`metaparity.rma` (metafor's ``control=`` names).
    method : str
        The estimator (metafor's name).

    Returns
    -------
    MetaforControl or None
        The settings (None: exact roots).

    Raises
    ------
    ValueError
        Unknown keys or bad values; or ``tau2.min`` other than 0 with a closed-form
        estimator (metafor truncates those at ``tau2.min`` too; metaparity does not run
        that: use an iterative estimator).
    """
    ctl = parse_control(control)
    if ctl is None:
        return None
    base = METHOD_ALIASES.get(method, method)
    if base not in CONTROL_METHODS and base != "EE" and method != "FE" and ctl.tau2_min != 0:
        raise ValueError(
            f"control tau2.min = {ctl.tau2_min:g} with method={method!r}: metaparity runs "
            "tau2.min only for metafor's iterative estimators (ML, REML, EB, PM, PMM, SJIT, "
            "DLIT) and SJ"
        )
    return ctl
