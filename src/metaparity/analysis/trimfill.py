"""Trim and fill (Duval & Tweedie 2000a, b) at parity with ``metafor::trimfill``.

The L0 or R0 estimator of the number of suppressed studies, iterated to a fixed point;
the filled (mirrored) studies and the model refitted on the augmented data with the
same estimator.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
from scipy import stats

from metaparity._core.names import MethodName, TestName, check_choice
from metaparity.analysis._bias_common import _check_k, _check_plain, _is_rma, _model_data
from metaparity.models.metareg import rma_mods
from metaparity.models.results import RmaResult
from metaparity.models.uni import rma

__all__ = ["trimfill", "TrimFillResult", "TrimFillEstimator", "Side"]

#: Estimators of the number of missing studies.
TrimFillEstimator = Literal["L0", "R0"]
#: Side of the funnel plot where studies are missing.
Side = Literal["left", "right"]
#: Attributes of :class:`TrimFillResult` read from the refitted model.
_FIT_FIELDS = ("b", "se", "zval", "pval", "ci_lb", "ci_ub", "tau2", "k", "method")


@dataclass(frozen=True)
class TrimFillResult:
    """Trim and fill (what ``metafor::trimfill`` returns): the estimated number of
    missing studies, the filled studies and the model refitted on the augmented data.

    Attributes
    ----------
    k0 : int
        Estimated number of missing studies.
    side : str
        ``"left"`` or ``"right"``: where the missing studies are.
    estimator : str
        ``"L0"`` or ``"R0"``.
    se_k0 : float
        Standard error of ``k0`` (Duval & Tweedie 2000b).
    p_k0 : float
        p-value of H0: no missing studies (R0 only, NaN for L0).
    yi, vi : numpy.ndarray
        The observed studies (in their order) followed by the ``k0`` filled ones.
    fill : numpy.ndarray of bool
        Marks the filled studies in ``yi``/``vi``.
    fit : RmaResult
        The model on the augmented data (the original model when ``k0 = 0``);
        ``b``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``, ``tau2``, ``k`` and
        ``method`` are shortcuts to it.
    k0_raw : float
        The unrounded estimate of the last iteration.
    iterations : int
        Number of iterations to the fixed point.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08], method="EE")
    >>> tf = trimfill(res)
    >>> tf.fill.tolist(), tf.k == tf.fit.k == 7
    ([False, False, False, False, False, True, True], True)
    """

    k0: int
    side: str
    estimator: str
    se_k0: float
    p_k0: float
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    fill: np.ndarray = field(repr=False)
    fit: RmaResult = field(repr=False)
    k0_raw: float = float("nan")
    iterations: int = 0

    @property
    def yi_fill(self) -> np.ndarray:
        """The outcomes of the filled studies."""
        return self.yi[self.fill]

    @property
    def vi_fill(self) -> np.ndarray:
        """The sampling variances of the filled studies."""
        return self.vi[self.fill]

    def __getattr__(self, name: str) -> Any:
        if name in _FIT_FIELDS:
            return getattr(self.fit, name)
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        """Estimates of ``k0``, the refitted model's summary and the filled studies."""
        out = {q: getattr(self, q) for q in "k0 side estimator se_k0 p_k0 iterations".split()}
        out.update({q: getattr(self.fit, q) for q in "b se pval ci_lb ci_ub tau2 k".split()})
        out["yi_fill"] = self.yi_fill.tolist()
        out["vi_fill"] = self.vi_fill.tolist()
        return out


# --------------------------------------------------------------------------- #
# input handling
# --------------------------------------------------------------------------- #
def _refit(
    y: np.ndarray, v: np.ndarray, method: MethodName, test: TestName = "z", level: float = 95
) -> RmaResult:
    return rma(y, v, method=method, test=test, level=level)


def _estimate_side(res: RmaResult) -> str:
    """Side of the missing studies: from the slope of the regression test with the
    standard errors as predictor (same estimator): a positive slope (small studies
    with larger outcomes) means studies missing on the left."""
    yi, vi = _model_data(res)
    fit = rma_mods(yi, vi, np.sqrt(vi), method=res.method, test="z")
    return "right" if fit.b[1] < 0 else "left"


def _check_model(res: object) -> RmaResult:
    """An intercept-only model fitted with inverse-variance weights."""
    if not _is_rma(res):
        raise ValueError("trimfill: give a fitted model (metaparity.rma(...))")
    _check_plain(res, "trimfill")
    return res


# --------------------------------------------------------------------------- #
# estimator
# --------------------------------------------------------------------------- #
def _k0_step(dev: np.ndarray, estimator: str) -> tuple[int, float]:
    """``k0`` and its unrounded value from the deviations of all k studies from the
    current estimate (missing studies on the left)."""
    k = dev.size
    ranks = stats.rankdata(np.abs(dev))
    if estimator == "L0":
        tn = float(ranks[dev > 0].sum())
        k0_raw = (4.0 * tn - k * (k + 1)) / (2.0 * k - 1.0)
    else:
        neg = ranks[dev < 0]
        gamma = k - (float(neg.max()) if neg.size else 0.0)
        k0_raw = gamma - 1.0
    return max(0, int(round(k0_raw))), k0_raw


def _iterate(
    ys: np.ndarray, vs: np.ndarray, sign: float, method: MethodName, estimator: str, maxiter: int
) -> tuple[int, float, float, int]:
    """Trim the ``k0`` largest of the sorted ``ys``, re-estimate, recount ``k0`` until it
    no longer changes: ``(k0, k0_raw, b, iterations)`` with ``b`` on the sorted scale."""
    k = ys.size
    k0 = 0
    k0_raw = float("nan")
    it = 0
    b = float("nan")
    while True:
        it += 1
        prev = k0
        fit = _refit(sign * ys[: k - k0], vs[: k - k0], method)
        b = sign * fit.b
        k0, k0_raw = _k0_step(ys - b, estimator)
        if k0 == prev:
            break
        if it >= maxiter:
            warnings.warn(
                f"trimfill: k0 did not converge in {maxiter} iterations (as metafor warns)",
                UserWarning,
                stacklevel=3,
            )
            break
    return k0, k0_raw, b, it


def _var_l0(n: int, g: float) -> float:
    """Var(L0) = 16 Var(T_n) / (2n - 1)^2 (Duval & Tweedie 2000b), Var(T_n) with g
    suppressed studies."""
    vt = (
        n * (n + 1) * (2 * n + 1)
        + 10 * g**3
        + 27 * g**2
        + 17 * g
        - 18 * n * g**2
        - 18 * n * g
        + 6 * n**2 * g
    ) / 24.0
    return 16.0 * vt / (2 * n - 1) ** 2


def _k0_inference(estimator: str, k: int, k0: int, k0_raw: float) -> tuple[float, float]:
    """Standard error of ``k0`` and (R0 only) the p-value of H0: no missing studies."""
    if estimator == "L0":
        var_l0 = _var_l0(k, k0_raw)
        if var_l0 < 0:
            # the variance formula is negative for small k with a negative unrounded L0:
            # metafor returns NaN (with R's warning "NaNs produced")
            warnings.warn(
                f"trimfill: the estimated variance of L0 is negative (k = {k}, "
                f"L0 = {k0_raw:.4g}); se_k0 is NaN (metafor: NaN, 'NaNs produced')",
                UserWarning,
                stacklevel=3,
            )
            return float("nan"), float("nan")
        return math.sqrt(var_l0), float("nan")
    se_k0 = math.sqrt(2.0 * max(0, k0) + 2.0)
    # P(R0 >= k0) = 2^-(k0+1) under H0 (Duval & Tweedie 2000b), formed as metafor's
    # value is: 1 - (1 - 2^-(k0+1)), which is exactly 0 from k0 = 53 on
    return se_k0, 1.0 - (1.0 - 0.5 ** (k0 + 1))


# --------------------------------------------------------------------------- #
# result assembly
# --------------------------------------------------------------------------- #
def _augmented(
    y0: np.ndarray, v0: np.ndarray, ys: np.ndarray, vs: np.ndarray, sign: float, b: float, k0: int
) -> tuple[np.ndarray, np.ndarray]:
    """The observed studies followed by the ``k0`` trimmed ones mirrored about ``b``."""
    if k0 == 0:
        return y0.copy(), v0.copy()
    k = y0.size
    yf = sign * (2.0 * b - ys[k - k0 :])
    return np.concatenate([y0, yf]), np.concatenate([v0, vs[k - k0 :]])


def trimfill(
    res: RmaResult,
    estimator: TrimFillEstimator = "L0",
    side: Side | None = None,
    *,
    maxiter: int = 100,
    test: TestName | None = None,
    level: float | None = None,
) -> TrimFillResult:
    """Trim and fill (Duval & Tweedie 2000a, b).

    Equivalent to ``metafor::trimfill(res, estimator=, side=)``: the outcomes are
    ranked by their distance from the pooled estimate; the ``k0`` most extreme on
    the side opposite to the missing studies are trimmed, the estimate is recomputed
    from the rest (same estimator as ``res``) and ``k0`` re-estimated with all
    studies, until ``k0`` no longer changes.  The trimmed studies are then mirrored
    about the last estimate (with their sampling variances) and the model is refitted
    on the augmented data.

    Parameters
    ----------
    res : RmaResult
        The fitted equal- or random-effects model (no user weights).
    estimator : {"L0", "R0"}
        ``L0 = (4 T_n - k(k + 1)) / (2k - 1)`` from the Wilcoxon signed-rank sum
        ``T_n``; ``R0 = gamma* - 1`` from the length of the rightmost run of ranks.
        ``k0`` is ``max(0, round(.))``.
    side : {"left", "right"}, optional
        Where the missing studies are.  Default, as metafor: from the sign of the
        slope in a regression test with the standard errors as predictor (same
        estimator as ``res``): a negative slope means "right", otherwise "left".
    maxiter : int
        Maximum number of iterations (a warning when reached, as metafor).
    test : {"z", "t", "knha", "adhoc"}, optional
        Test of the model refitted on the augmented data.  Default, as metafor 3.8:
        ``"z"`` *whatever* ``res`` used (metafor's ``trimfill`` refits with the
        estimator of ``res`` only; measured: a ``test="knha", level=90`` model gives
        a z-based 95% CI after trim and fill); but when nothing is filled
        (``k0 = 0``) ``fit`` is ``res`` itself, as metafor.
    level : float, optional
        Confidence level of the refitted model (default 95, as for ``test``).

    Returns
    -------
    TrimFillResult
        ``k0``, ``side``, ``se_k0``, ``p_k0``, the augmented ``yi``/``vi`` with
        ``fill``, and the refitted model ``fit``.

    Raises
    ------
    ValueError
        k < 3 (metafor stops with "Number of parameters to be estimated is larger
        than the number of observations" from the regression test for the side).

    Warns
    -----
    UserWarning
        When ``k0`` does not converge in ``maxiter`` iterations, and when the
        variance of L0 is negative (``se_k0`` is then NaN, as metafor).

    Examples
    --------
    >>> # metafor: trimfill(rma(yi, vi, method="EE")) on these data -> k0 = 2, side "left"
    >>> from metaparity import rma
    >>> res = rma([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08], method="EE")
    >>> tf = trimfill(res)
    >>> tf.k0, tf.side, [round(float(y), 4) for y in tf.yi_fill]
    (2, 'left', [-0.1462, -0.5462])
    """
    res = _check_model(res)
    estimator_ = check_choice("estimator", estimator, get_args(TrimFillEstimator))
    y0, v0 = _model_data(res)
    k = y0.size
    _check_k(k, "trimfill", "trim and fill", "an error from the regression test for the side")
    side_ = check_choice("side", _estimate_side(res) if side is None else side, get_args(Side))
    sign = -1.0 if side_ == "right" else 1.0  # work with the missing studies on the left
    order = np.argsort(sign * y0, kind="stable")
    ys, vs = (sign * y0)[order], v0[order]
    k0, k0_raw, b, it = _iterate(ys, vs, sign, res.method, estimator_, maxiter)
    se_k0, p_k0 = _k0_inference(estimator_, k, k0, k0_raw)
    yi, vi = _augmented(y0, v0, ys, vs, sign, b, k0)
    if k0 == 0 and test is None and level is None:
        out_fit = res  # nothing filled: metafor returns the model as fitted (its test/level)
    else:
        out_fit = _refit(yi, vi, res.method, "z" if test is None else test,
                         95 if level is None else level)  # fmt: skip
    fill = np.r_[np.zeros(k, bool), np.ones(yi.size - k, bool)]
    return TrimFillResult(
        k0=int(k0), side=side_, estimator=estimator_, se_k0=float(se_k0), p_k0=float(p_k0),
        yi=yi, vi=vi, fill=fill, fit=out_fit, k0_raw=float(k0_raw), iterations=it,
    )  # fmt: skip
