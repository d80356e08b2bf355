"""Input handling shared by the small-study tests (:mod:`metaparity.analysis.bias`).

A fitted intercept-only model or ``yi`` with ``vi``/``sei``, the k >= 3 rule, and the
inverse-variance-weights-only rule, each written once for ``ranktest``, ``regtest``,
``trimfill`` and ``fsn``.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import numpy as np
from numpy.typing import ArrayLike

from metaparity._core.validation import as_float_array, check_same_length, check_yi_vi
from metaparity.analysis._diag_common import _need_standard_fit
from metaparity.models.results import RmaResult

__all__: list[str] = []

_SMALL_K = (
    "with k < 3 the {what} is not defined (metafor: {metafor}); and with k < 10 it has "
    "little power (Sterne et al. 2011)"
)


def _is_rma(x: object) -> TypeGuard[RmaResult]:
    """A fitted intercept-only model of :func:`metaparity.rma` (not a meta-regression)."""
    return isinstance(x, RmaResult) and x.int_only


def _vector(name: str, x: object) -> np.ndarray:
    """``x`` as a 1-D float array (a scalar is one study); anything else is refused
    by :func:`~metaparity._core.validation.as_float_array` with its name."""
    return np.atleast_1d(as_float_array(name, x)).ravel()


def _model_data(res: RmaResult) -> tuple[np.ndarray, np.ndarray]:
    """The ``yi``/``vi`` a fitted model carries (always: they are required fields), as floats."""
    _need_standard_fit(res, "this bias method")
    return np.asarray(res.yi, dtype=float), np.asarray(res.vi, dtype=float)


def _yi_vi(
    x: RmaResult | ArrayLike | None, vi: ArrayLike | None, sei: ArrayLike | None, fn: str
) -> tuple[np.ndarray, np.ndarray]:
    """Effect sizes and sampling variances from a fitted model or from ``yi`` with
    ``vi`` or ``sei`` (validated: same length, finite, ``vi > 0``)."""
    if _is_rma(x):
        return _model_data(x)
    if x is None:
        raise ValueError(f"{fn}: give a fitted model (metaparity.rma(...)) or yi with vi/sei")
    y = _vector("yi", x)
    if vi is None and sei is None:
        raise ValueError(f"{fn}: give vi (sampling variances) or sei (standard errors) with yi")
    if vi is None:
        s = _vector("sei", sei)
        check_same_length(yi=y, sei=s)
        v = s * s
    else:
        v = _vector("vi", vi)
    check_same_length(yi=y, vi=v)
    check_yi_vi(y, v)
    return y, v


def _check_k(k: int, fn: str, what: str, metafor: str) -> None:
    """Refuse k < 3 studies, saying what metafor does instead."""
    if k < 3:
        raise ValueError(f"{fn}: k = {k} studies; " + _SMALL_K.format(what=what, metafor=metafor))


def _check_plain(res: Any, fn: str) -> None:
    """Refuse models fitted with user weights (inverse-variance weights only)."""
    if res.weights is not None or res.method == "GENQ":
        raise ValueError(
            f"{fn}: the model was fitted with user weights (method={res.method!r}); "
            "metaparity supports inverse-variance weighted models only here"
        )
