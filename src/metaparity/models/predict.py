"""Pooled estimate with confidence and prediction intervals (``metafor::predict.rma``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from metaparity._core.validation import check_level
from metaparity.effects.transforms import BACK_TRANSFORMS, resolve

if TYPE_CHECKING:  # pragma: no cover
    from metaparity.models.results import RmaResult

__all__ = ["Prediction", "Predictions", "predict", "predict_mods", "new_design"]


@dataclass(frozen=True)
class Prediction:
    """``pred, se, ci_lb, ci_ub, pi_lb, pi_ub`` (``se`` is NaN after a transform)."""

    pred: float
    se: float
    ci_lb: float
    ci_ub: float
    pi_lb: float
    pi_ub: float
    transf: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def predict(
    res: RmaResult, transf: Any = None, level: float | None = None, targs: dict | None = None
) -> Prediction:
    """Predicted pooled value, CI and prediction interval.

    The prediction interval is ``b +/- crit * sqrt(se^2 + tau2)`` with ``crit``
    from the normal distribution for ``test="z"`` and from t with k-1 df
    otherwise (metafor 3.8).  ``transf`` (a callable, a name such as
    ``"ilogit"``/``"ipft.hm"``/``"exp"``, or ``True`` for the measure's natural
    back-transform) is applied to the bounds, never to the SE.  ``targs`` passes
    arguments to the transform, as in metafor: ``targs={"ni": n}`` gives
    ``ipft.hm`` the study sizes when the model was not fitted on escalc() output.

    Equivalent to ``metafor::predict(res, transf=...)``.
    """
    lv = res.level if level is None else check_level(level)
    alpha = 1 - lv / 100
    if res.test == "z":
        crit = stats.norm.isf(alpha / 2)
    else:
        crit = stats.t.isf(alpha / 2, max(res.k - 1, 1))
    se = res.se
    ci = (res.b - crit * se, res.b + crit * se)
    spi = np.sqrt(se * se + res.tau2)
    pi = (res.b - crit * spi, res.b + crit * spi)
    ni = res.ni if not targs or targs.get("ni") is None else np.asarray(targs["ni"], float)
    f = resolve(transf, res.measure, ni)
    if f is None:
        return Prediction(res.b, se, *ci, *pi)
    vals = [float(np.asarray(f(np.asarray(x, dtype=float)))) for x in (res.b, *ci, *pi)]
    name = transf if isinstance(transf, str) else getattr(transf, "__name__", "callable")
    if transf is True:
        name = BACK_TRANSFORMS.get(res.measure)
    return Prediction(vals[0], float("nan"), vals[1], vals[2], vals[3], vals[4], transf=name)


@dataclass(frozen=True)
class Predictions:
    """One row per prediction of a meta-regression: ``pred, se, ci_lb, ci_ub, pi_lb, pi_ub``
    (``se`` NaN after a transform), ``slab`` (the studies' labels for fitted values, else
    1, 2, ...) and ``X`` (the rows of the design used, intercept included)."""

    pred: np.ndarray
    se: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    pi_lb: np.ndarray
    pi_ub: np.ndarray
    slab: tuple
    X: np.ndarray
    coef_names: tuple[str, ...] = ()
    transf: str | None = None

    def __len__(self) -> int:
        return len(self.pred)

    def to_frame(self, addx: bool = False) -> pd.DataFrame:
        """As ``as.data.frame(predict(res, addx=))``: the intervals, and with ``addx`` the
        design row of each prediction (columns ``X.<name>``)."""
        d = {q: getattr(self, q) for q in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub")}
        out = pd.DataFrame(d, index=list(self.slab))
        if addx:
            for j, name in enumerate(self.coef_names):
                out[f"X.{name}"] = self.X[:, j]
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {q: np.asarray(getattr(self, q), dtype=float).tolist()
                               for q in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub")}  # fmt: skip
        out["slab"] = [str(s) for s in self.slab]
        out["transf"] = self.transf
        return out


def new_design(
    coef_names: tuple[str, ...], intercept: bool, newmods: Any, use_intercept: bool = True
) -> np.ndarray:
    """The design rows for ``newmods`` as metafor's predict builds them: one row per
    prediction; columns in the order of the model's moderators (without the intercept,
    which is added: 1, or 0 with ``use_intercept=False``), or all ``p`` columns; a vector
    is one prediction, or one value per prediction when the model has a single moderator;
    a DataFrame or dict is matched to the coefficients by name."""
    p = len(coef_names)
    mods = coef_names[1:] if intercept else coef_names
    if isinstance(newmods, dict):
        newmods = pd.DataFrame({k: np.atleast_1d(v) for k, v in newmods.items()})
    if isinstance(newmods, pd.Series):
        newmods = newmods.to_frame().T if newmods.index.isin(coef_names).all() else newmods
    if isinstance(newmods, pd.DataFrame):
        cols = [str(c) for c in newmods.columns]
        if intercept and "intrcpt" in cols:
            mods = coef_names
        missing = [m for m in mods if m not in cols]
        extra = [c for c in cols if c not in coef_names]
        if missing or extra:
            raise ValueError(
                f"newmods has columns {', '.join(map(repr, cols))}; the model's moderators are "
                f"{', '.join(map(repr, mods))}"
                + (f" (missing: {', '.join(map(repr, missing))})" if missing else "")
                + (f" (not in the model: {', '.join(map(repr, extra))})" if extra else "")
            )
        newmods = newmods[list(mods)].to_numpy(dtype=float)
    try:
        Xn = np.asarray(newmods, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("newmods must hold numbers (one column per moderator)") from None
    width = len(mods) if intercept else p
    if Xn.ndim == 0:
        Xn = Xn.reshape(1, 1)
    if Xn.ndim == 1:
        Xn = Xn[:, None] if width == 1 else Xn[None, :]
    if Xn.ndim != 2:
        raise ValueError(f"newmods must be a vector or a matrix; got shape {Xn.shape}")
    if not np.isfinite(Xn).all():
        i, j = np.argwhere(~np.isfinite(Xn))[0]
        raise ValueError(f"newmods row {i + 1}, column {j + 1} is {Xn[i, j]:g}, not a number")
    if intercept and Xn.shape[1] == p and width != p:
        return Xn
    if Xn.shape[1] != width:
        what = "moderators" if intercept else "coefficients"
        raise ValueError(
            f"newmods has {Xn.shape[1]} column(s); the model's {what} are "
            f"{', '.join(mods)} ({width} column(s), in that order"
            + (", or all p columns with the intercept first)" if intercept else ")")
        )
    if intercept:
        return np.column_stack([np.full(len(Xn), 1.0 if use_intercept else 0.0), Xn])
    return Xn


def predict_mods(
    res: RmaResult, newmods: Any = None, intercept: bool = True, transf: Any = None,
    level: float | None = None, targs: dict | None = None,
) -> Predictions:  # fmt: skip
    """Predicted values of a meta-regression with CIs and prediction intervals.

    ``pred = x'b``, ``se = sqrt(x' vb x)``; the CI is ``pred +/- crit se`` and the PI
    ``pred +/- crit sqrt(se^2 + tau2)``, ``crit`` the normal quantile (``test="z"``) or
    t with ``k - p`` df (``t``, ``knha``, ``adhoc``), as metafor's ``predict.rma`` (3.8 to
    5.x).  Without ``newmods``: the fitted values of the studies, labelled by ``slab``.
    ``transf`` is applied to pred and the bounds, which are then put in increasing order.

    Equivalent to ``metafor::predict(res, newmods=, intercept=, transf=, level=)``.
    """
    lv = res.level if level is None else check_level(level)
    if res.int_only:
        raise ValueError(
            "newmods given for a model without moderators (metafor: 'Cannot specify new "
            "moderator values for models without moderators.')"
        )
    assert res.X is not None and res.vb is not None
    if newmods is None:
        Xn = np.asarray(res.X, dtype=float)
        slab = tuple(res.slab) if res.slab is not None else tuple(range(1, len(Xn) + 1))
    else:
        Xn = new_design(res.coef_names, res.intercept, newmods, intercept)
        slab = tuple(range(1, len(Xn) + 1))
        if isinstance(newmods, pd.DataFrame) and not isinstance(newmods.index, pd.RangeIndex):
            slab = tuple(newmods.index)
    b = np.asarray(res.b, dtype=float)
    pred = Xn @ b
    vpred = np.einsum("ij,jk,ik->i", Xn, res.vb, Xn)
    se = np.sqrt(np.where(vpred < 0, np.nan, vpred))
    alpha = 1 - lv / 100
    if res.test == "z":
        crit = stats.norm.isf(alpha / 2)
    else:
        crit = stats.t.isf(alpha / 2, max(res.k - res.p, 1))
    pi_se = np.sqrt(vpred + res.tau2)
    out = [pred, pred - crit * se, pred + crit * se, pred - crit * pi_se, pred + crit * pi_se]
    name = None
    ni = res.ni if not targs or targs.get("ni") is None else np.asarray(targs["ni"], float)
    f = resolve(transf, res.measure, ni)
    if f is not None:
        out = [np.asarray(f(np.asarray(x, dtype=float)), dtype=float) for x in out]
        se = np.full(len(pred), np.nan)
        name = transf if isinstance(transf, str) else getattr(transf, "__name__", "callable")
        if transf is True:
            name = BACK_TRANSFORMS.get(res.measure)
    ci_lb, ci_ub = np.minimum(out[1], out[2]), np.maximum(out[1], out[2])
    pi_lb, pi_ub = np.minimum(out[3], out[4]), np.maximum(out[3], out[4])
    return Predictions(out[0], se, ci_lb, ci_ub, pi_lb, pi_ub, slab, Xn, tuple(res.coef_names),
                       name)  # fmt: skip
