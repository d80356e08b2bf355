"""Pieces shared by the case diagnostics (:mod:`metaparity.analysis.diagnostics`):
study labels, the checks on the fitted model, and the table of refits that
``leave1out`` and ``cumul`` return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from metaparity.models.results import BatchResult, RmaResult

__all__: list[str] = []


_TABLE = "estimate se zval pval ci_lb ci_ub Q Qp tau2 I2 H2".split()
_R_NAMES = {"ci_lb": "ci.lb", "ci_ub": "ci.ub"}


def _labels(res: RmaResult) -> tuple:
    """Study labels of the model (1, 2, ... when it has none, as metafor)."""
    return tuple(res.slab) if res.slab is not None else tuple(range(1, res.k + 1))


def _data(res: RmaResult) -> tuple[np.ndarray, np.ndarray]:
    """The ``yi``/``vi`` the fitted model carries (required fields of RmaResult)."""
    _need_standard_fit(res, "this diagnostic")
    return res.yi, res.vi


def _need_standard_fit(res: Any, what: str) -> None:
    """Refuse fits whose settings the refits here do not reproduce (metafor's refits keep
    ``tau2.fix``, ``weighted`` and zero sampling variances; these functions refit with an
    estimated tau^2, inverse-variance weights and positive variances)."""
    if not isinstance(res, RmaResult):
        return
    how = []
    if res.tau2_fix:
        how.append(f"tau^2 fixed at {res.tau2:g} (tau2=)")
    if not res.weighted:
        how.append("unweighted estimation (weighted=False)")
    if np.any(np.asarray(res.vi) == 0):
        how.append("sampling variances of 0")
    if how:
        raise NotImplementedError(
            f"{what}: the model was fitted with {' and '.join(how)}; metaparity's diagnostics "
            "and bias methods refit it with an estimated tau^2, inverse-variance weights and "
            "positive sampling variances only -- refit the model without them first"
        )


def _need_k2(res: RmaResult, what: str) -> None:
    """A model without moderators with k >= 2 (leave1out, cumul: metafor's condition)."""
    _need_deletable(res, what)
    _need_no_moderators(res, what, " -- influence(), rstudent(), rstandard() and baujat() take "
                        "meta-regressions")  # fmt: skip


def _need_no_moderators(res: RmaResult, what: str, hint: str = "") -> None:
    """A fit from rma() without moderators (metafor's message otherwise)."""
    if not isinstance(res, RmaResult):
        raise TypeError(f"{what}() needs a fitted model from metaparity.rma(); got {type(res)!r}")
    if not res.int_only:
        raise TypeError(
            f"{what}() is only applicable to models without moderators (metafor: 'Method only "
            "applicable to models without moderators.'); this model has "
            f"{', '.join(res.coef_names)}{hint}"
        )


def _need_deletable(res: RmaResult, what: str, k2: bool = True) -> None:
    """A model from rma() (with or without moderators) whose refits are reproduced, with
    k >= 2 unless ``k2`` is False."""
    if not isinstance(res, RmaResult):
        raise TypeError(f"{what}() needs a fitted model from metaparity.rma(); got {type(res)!r}")
    _need_standard_fit(res, f"{what}()")
    if k2 and res.k < 2:
        raise ValueError(f"{what}(): stopped because k = 1 (metafor: 'Stopped because k = 1.')")


def _need_unweighted(res: RmaResult, what: str) -> None:
    _need_standard_fit(res, f"{what}()")
    if res.weights is not None:
        raise NotImplementedError(
            f"{what}() for models fitted with user weights is not implemented "
            "(leave1out() and cumul() support them)"
        )


@dataclass(frozen=True)
class _FitTable:
    """One refitted model per row (shared by :class:`Leave1Out` and :class:`Cumul`)."""

    estimate: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    Q: np.ndarray
    Qp: np.ndarray
    tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    slab: tuple = field(repr=False)
    method: str = "REML"
    test: str = "z"
    level: float = 95.0

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with metafor's columns (``tval`` for t-based tests, no ``tau2``
        for equal-effects models), indexed by study label."""
        cols = {}
        for n in _TABLE:
            if n == "tau2" and self.method in ("EE", "FE"):
                continue
            name = _R_NAMES.get(n, n)
            if n == "zval" and self.test != "z":
                name = "tval"
            cols[name] = np.asarray(getattr(self, n))
        return pd.DataFrame(cols, index=pd.Index(list(self.slab), name="slab"))


_T = TypeVar("_T", bound=_FitTable)


def _table(cls: type[_T], fit: BatchResult, res: RmaResult, slab: tuple, **extra: Any) -> _T:
    """One refitted model per row, as the table ``cls`` (tau2 = 0 for EE/FE models)."""
    tau2 = fit.tau2 if res.method not in ("EE", "FE") else np.zeros_like(fit.tau2)
    return cls(
        estimate=fit.b,
        se=fit.se,
        zval=fit.zval,
        pval=fit.pval,
        ci_lb=fit.ci_lb,
        ci_ub=fit.ci_ub,
        Q=fit.QE,
        Qp=fit.QEp,
        tau2=tau2,
        I2=fit.I2,
        H2=fit.H2,
        slab=slab,
        method=res.method,
        test=res.test,
        level=res.level,
        **extra,
    )
