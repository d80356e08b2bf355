"""Predicted values of an rma_mv fit (``metafor::predict.rma.mv``).

``pred = x'b`` with ``se = sqrt(x' vb x)``; the CI uses the normal quantile (``test="z"``)
or t with, per prediction, the smallest ``ddf`` of the coefficients it involves.  The
prediction interval adds the variance components to ``se^2``: the sum of the ``sigma2``,
plus ``tau2`` (and ``gamma2``) -- the single value of a structure with one variance, or the
value of the inner level named by ``tau2_levels`` (``gamma2_levels``); with several values
and no level given the bounds are NaN, as metafor's NA.  Without ``newmods`` an
intercept-only model predicts its pooled value and a model with moderators its fitted
values (each at its own inner levels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from metaparity._core.validation import check_level
from metaparity.effects.transforms import resolve

if TYPE_CHECKING:  # pragma: no cover
    from metaparity.models.mv import MvResult

__all__ = ["MvPrediction", "predict_mv"]


@dataclass(frozen=True)
class MvPrediction:
    """One row per prediction: ``pred, se, ci_lb, ci_ub, pi_lb, pi_ub`` (``se`` NaN after a
    transform) and the inner levels whose ``tau2``/``gamma2`` entered the PI."""

    pred: np.ndarray
    se: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    pi_lb: np.ndarray
    pi_ub: np.ndarray
    tau2_levels: tuple | None = None
    gamma2_levels: tuple | None = None

    def to_frame(self) -> pd.DataFrame:
        d = {q: getattr(self, q) for q in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub")}
        if self.tau2_levels is not None:
            d["tau2_level"] = list(self.tau2_levels)
        if self.gamma2_levels is not None:
            d["gamma2_level"] = list(self.gamma2_levels)
        return pd.DataFrame(d)


def _new_design(res: MvResult, newmods: Any, intercept: bool) -> np.ndarray:
    if newmods is None:
        return np.ones((1, 1)) if res.int_only else res.X
    Xn = np.asarray(newmods, dtype=float)
    width = res.p - (1 if res.intercept else 0)
    if Xn.ndim == 1:
        Xn = Xn[None, :] if (width > 1 or Xn.size == 1) else Xn[:, None]
    if res.intercept:
        if Xn.shape[1] == res.p and not intercept:
            return Xn
        if Xn.shape[1] != width:
            raise ValueError(
                f"newmods has {Xn.shape[1]} columns; the model's moderators are "
                f"{', '.join(res.coef_names[1:])} ({width} columns, in that order)"
            )
        return np.column_stack([np.full(len(Xn), 1.0 if intercept else 0.0), Xn])
    if Xn.shape[1] != res.p:
        raise ValueError(
            f"newmods has {Xn.shape[1]} columns; the model's coefficients are "
            f"{', '.join(res.coef_names)} ({res.p} columns, in that order)"
        )
    return Xn


def _het_variance(values: np.ndarray, levels_all: tuple[str, ...], given: Any, k_new: int,
                  what: str) -> tuple[np.ndarray, tuple | None]:  # fmt: skip
    """The tau2 (gamma2) added to each PI and the levels used."""
    if values.size == 0:
        return np.zeros(k_new), None
    if values.size == 1:
        return np.full(k_new, float(values[0])), None
    if given is None:
        return np.full(k_new, np.nan), (None,) * k_new
    lev = [given] if isinstance(given, (str, int, np.integer)) else list(given)
    if len(lev) == 1:
        lev = lev * k_new
    if len(lev) != k_new:
        raise ValueError(f"{what}_levels has {len(lev)} values for {k_new} predictions")
    pos = []
    for v in lev:
        if isinstance(v, (int, np.integer)):
            if not 1 <= int(v) <= len(levels_all):
                raise ValueError(f"{what}_levels={v}: there are {len(levels_all)} {what} values")
            pos.append(int(v) - 1)
        elif str(v) in levels_all:
            pos.append(levels_all.index(str(v)))
        else:
            raise ValueError(
                f"{what}_levels={v!r} is not a level of the inner factor ({', '.join(levels_all)})"
            )
    return values[pos], tuple(levels_all[i] for i in pos)


def predict_mv(
    res: MvResult,
    newmods: Any = None,
    intercept: bool = True,
    tau2_levels: Any = None,
    gamma2_levels: Any = None,
    transf: Any = None,
    level: float | None = None,
) -> MvPrediction:
    """Predicted values with confidence and prediction intervals.

    Equivalent to ``metafor::predict(res, newmods=, intercept=, tau2.levels=,
    gamma2.levels=, transf=, level=)`` for an ``rma.mv`` fit.

    Parameters
    ----------
    res : MvResult
        A fit of :func:`metaparity.rma_mv`.
    newmods : array_like, optional
        Moderator values, one row per prediction, columns in the order of the model's
        moderators (without the intercept).  None: the pooled value (intercept-only model)
        or the fitted values.
    intercept : bool
        Include the intercept in the predictions (models with an intercept).
    tau2_levels, gamma2_levels : str, int or sequence, optional
        Inner-factor levels (names, or 1-based positions) whose ``tau2``/``gamma2`` enter the
        prediction interval when the structure has several values.
    transf : callable or str, optional
        Applied to pred and the bounds (``se`` becomes NaN).
    level : float, optional
        Confidence level (default: the model's).

    Returns
    -------
    MvPrediction
    """
    lv = res.level if level is None else check_level(level)
    Xn = _new_design(res, newmods, intercept)
    k_new = len(Xn)
    fitted = newmods is None and not res.int_only
    if fitted:
        gts = res._problem.gts
        tau2_levels = [gts[0].levels[i] for i in gts[0].icodes] if gts else None
        gamma2_levels = [gts[1].levels[i] for i in gts[1].icodes] if len(gts) > 1 else None
    pred = Xn @ res.b
    vpred = np.einsum("ij,jk,ik->i", Xn, res.vb, Xn)
    se = np.sqrt(np.where(vpred < 0, np.nan, vpred))
    alpha = 1 - lv / 100
    if res.test == "t":
        ddf = np.array([np.min(res.ddf[x != 0]) if np.any(x != 0) else res.k - res.p for x in Xn])
        crit = stats.t.isf(alpha / 2, ddf)
    else:
        crit = np.full(k_new, stats.norm.isf(alpha / 2))
    t2, tl = _het_variance(np.asarray(res.tau2), res.g_levels, tau2_levels, k_new, "tau2")
    g2, gl = _het_variance(np.asarray(res.gamma2), res.h_levels, gamma2_levels, k_new, "gamma2")
    pi_se = np.sqrt(vpred + float(np.sum(res.sigma2)) + t2 + g2)
    out = [pred, pred - crit * se, pred + crit * se, pred - crit * pi_se, pred + crit * pi_se]
    f = resolve(transf, "GEN", None)
    if f is not None:
        out = [np.asarray(f(np.asarray(x, dtype=float)), dtype=float) for x in out]
        se = np.full(k_new, np.nan)
    return MvPrediction(out[0], se, out[1], out[2], out[3], out[4], tl, gl)
