"""The studies of one model, read the way every ``rma`` function reads them.

``yi``/``vi`` (or ``sei``) given as values or as column names of ``data``; with an
``escalc()`` DataFrame they default to its ``yi``/``vi`` columns and the measure, the
study labels and the group sizes travel with it (row by row, after any subsetting).  Errors name the study, the value and the fix.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from metaparity._core.names import METHOD_ALIASES
from metaparity._core.validation import (
    as_float_array,
    check_same_length,
    check_yi_vi,
    column,
    study_label,
)
from metaparity.effects import study_labels, study_sizes
from metaparity.engine.control import CONTROL_METHODS, MetaforControl, parse_control

__all__ = ["Studies", "read_studies", "read_control", "warn_set_to_zero"]


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


def warn_set_to_zero(stacklevel: int = 3) -> None:
    """metafor's switch to tau^2 = 0 when Fisher scoring ends below the likelihood at 0."""
    warnings.warn(
        "Fisher scoring reached a local maximum whose likelihood is below the one at "
        "tau^2 = 0; setting tau^2 = 0 (as metafor does)",
        UserWarning,
        stacklevel=stacklevel,
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
