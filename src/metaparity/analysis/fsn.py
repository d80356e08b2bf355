"""Fail-safe N (file drawer analysis) at parity with ``metafor::fsn``.

Rosenthal (1979, Stouffer's sum of z), Orwin (1983) and Rosenberg (2005).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from metaparity._core.names import check_choice
from metaparity.analysis._bias_common import _is_rma, _vector, _yi_vi
from metaparity.models.results import RmaResult

__all__ = ["fsn", "FsnResult", "FsnType"]

#: The fail-safe N methods (metafor's ``type=``).
FsnType = Literal["Rosenthal", "Orwin", "Rosenberg"]

#: metafor counts a fail-safe N within ~1.5e-8 of an integer as that integer (measured with
#: Orwin's N: 7 + 1e-8 -> 7, 7 + 2e-8 -> 8, the same at 700 and 70000: an absolute margin)
_FSN_SNAP = math.sqrt(np.finfo(float).eps)


@dataclass(frozen=True)
class FsnResult:
    """Fail-safe N (what ``metafor::fsn`` returns).

    Attributes
    ----------
    type : str
        ``"Rosenthal"``, ``"Orwin"`` or ``"Rosenberg"``.
    fsnum : int
        The number of studies averaging null results needed to bring the combined
        p-value above ``alpha`` (Rosenthal, Rosenberg) or the average outcome down
        to ``target`` (Orwin).
    alpha : float
        The target alpha level.
    pval : float
        The p-value of the observed results (NaN for Orwin).
    meanes : float
        The average outcome (NaN for Rosenthal).
    target : float
        Orwin's target average outcome (NaN unless Orwin).
    k : int
        The number of studies.

    Examples
    --------
    >>> f = fsn([0.1, 0.3, 0.5, 0.2, 0.9], type="Orwin")  # metafor: fsn(yi, type="Orwin")
    >>> f.to_dict()["fsnum"], f.meanes, f.target
    (5, 0.4, 0.2)
    """

    type: str
    fsnum: int
    alpha: float
    pval: float
    meanes: float
    target: float
    k: int

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (metafor's names)."""
        return {q: getattr(self, q) for q in "type fsnum alpha pval meanes target k".split()}


def _ceil(x: float) -> int:
    """``max(0, ceil(x))`` with values within sqrt(eps) above an integer taken as it."""
    return max(0, math.ceil(x - _FSN_SNAP))


# --------------------------------------------------------------------------- #
# input handling
# --------------------------------------------------------------------------- #
def _check_alpha(alpha: float) -> float:
    if not 0 < float(alpha) < 1:
        raise ValueError(f"fsn: alpha={alpha!r} must lie in (0, 1)")
    return float(alpha)


def _data(
    yi: ArrayLike | RmaResult,
    vi: ArrayLike | None,
    sei: ArrayLike | None,
    needs_vi: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``yi``/``vi``; unit variances when the method needs none (unweighted Orwin)."""
    if not needs_vi and vi is None and sei is None and not _is_rma(yi):
        y = _vector("yi", yi)
        if y.size == 0 or not np.all(np.isfinite(y)):
            raise ValueError("fsn: yi must be finite and non-empty")
        return y, np.ones_like(y)
    return _yi_vi(yi, vi, sei, "fsn")


# --------------------------------------------------------------------------- #
# estimators and result assembly
# --------------------------------------------------------------------------- #
def _rosenthal(y: np.ndarray, v: np.ndarray, alpha: float) -> FsnResult:
    """Stouffer's sum of z; the one-sided p-value of ``|Z|``."""
    k = y.size
    zsum = float((y / np.sqrt(v)).sum())
    p = float(stats.norm.sf(abs(zsum) / math.sqrt(k)))
    za = float(stats.norm.isf(alpha))
    n = _ceil((zsum / za) ** 2 - k)
    return FsnResult("Rosenthal", int(n), alpha, p, math.nan, math.nan, int(k))


def _orwin(
    y: np.ndarray, v: np.ndarray, alpha: float, target: float | None, weighted: bool
) -> FsnResult:
    """Studies with outcome 0 needed to bring the (weighted) mean down to ``target``."""
    k = y.size
    if weighted:
        w = 1.0 / v
        meanes = float((w * y).sum() / w.sum())
    else:
        meanes = float(y.mean())
    tgt = meanes / 2.0 if target is None else float(target)
    if np.sign(tgt) != np.sign(meanes):
        tgt = -tgt
    if tgt == 0:
        raise ValueError("fsn: Orwin's target must not be 0 (the fail-safe N is infinite)")
    n = _ceil(k * meanes / tgt - k)
    return FsnResult("Orwin", int(n), alpha, math.nan, meanes, tgt, int(k))


def _rosenberg(y: np.ndarray, v: np.ndarray, alpha: float) -> FsnResult:
    """Null studies with the mean weight added to an equal-effects model."""
    k = y.size
    w = 1.0 / v
    sw = float(w.sum())
    swy = float((w * y).sum())
    meanes = swy / sw
    zval = swy / math.sqrt(sw)
    p = float(2.0 * stats.norm.sf(abs(zval)))
    za = float(stats.norm.isf(alpha / 2.0))
    n = _ceil(k * swy * swy / (za * za * sw) - k)
    return FsnResult("Rosenberg", int(n), alpha, p, meanes, math.nan, int(k))


def fsn(
    yi: ArrayLike | RmaResult,
    vi: ArrayLike | None = None,
    *,
    sei: ArrayLike | None = None,
    type: FsnType = "Rosenthal",  # noqa: A002 - metafor's name
    alpha: float = 0.05,
    target: float | None = None,
    weighted: bool = False,
) -> FsnResult:
    """Fail-safe N (file drawer analysis).

    Equivalent to ``metafor::fsn(yi, vi, type=, alpha=, target=, weighted=)``.

    * ``"Rosenthal"`` (1979): Stouffer's combination ``Z = sum(z_i) / sqrt(k)`` of
      ``z_i = yi / sqrt(vi)``; ``pval`` is the one-sided p-value of ``|Z|``;
      ``fsnum = ceil((sum z_i / z_alpha)^2 - k)`` with the one-sided
      ``z_alpha = Phi^-1(1 - alpha)`` (0 when ``pval > alpha``).
    * ``"Orwin"`` (1983): ``fsnum = ceil(k (meanes - target) / target)`` with ``meanes``
      the mean outcome (weighted by 1/vi when ``weighted``), ``target`` default
      ``meanes / 2``; a target of the opposite sign is flipped (as metafor); 0 when
      ``|meanes| <= |target|``.
    * ``"Rosenberg"`` (2005): studies with outcome 0 and the mean weight added to an
      equal-effects model until its two-sided p-value reaches ``alpha``:
      ``fsnum = ceil(k (sum w y)^2 / (z_{alpha/2}^2 sum w) - k)``.

    Parameters
    ----------
    yi : array_like or RmaResult
        Effect sizes (or a fitted model, whose ``yi``/``vi`` are used).
    vi, sei : array_like, optional
        Sampling variances or standard errors (not needed for unweighted Orwin).
    type : {"Rosenthal", "Orwin", "Rosenberg"}
        The method.
    alpha : float
        Target alpha level (Rosenthal: one-sided; Rosenberg: two-sided).
    target : float, optional
        Orwin's target average outcome.
    weighted : bool
        Orwin with the inverse-variance weighted mean.

    Returns
    -------
    FsnResult
        ``fsnum`` with ``pval``, ``meanes`` and ``target`` as the method defines them.

    Raises
    ------
    ValueError
        ``alpha`` outside (0, 1), a target of 0 (Orwin), or invalid ``yi``/``vi``.

    Examples
    --------
    >>> # metafor: fsn(c(.1,.3,.5,.2,.9), c(.01,.02,.03,.015,.08)) -> fsnum 39
    >>> f = fsn([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08])
    >>> f.fsnum, f"{f.pval:.3g}"
    (39, '6.49e-07')
    """
    type_ = check_choice("type", type, get_args(FsnType))
    alpha = _check_alpha(alpha)
    y, v = _data(yi, vi, sei, needs_vi=type_ != "Orwin" or weighted)
    if type_ == "Rosenthal":
        return _rosenthal(y, v, alpha)
    if type_ == "Orwin":
        return _orwin(y, v, alpha, target, weighted)
    return _rosenberg(y, v, alpha)
