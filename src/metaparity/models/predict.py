"""Pooled estimate with confidence and prediction intervals (``metafor::predict.rma``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from metaparity._core.validation import check_level
from metaparity.effects.transforms import BACK_TRANSFORMS, resolve

if TYPE_CHECKING:  # pragma: no cover
    from metaparity.models.results import RmaResult

__all__ = ["Prediction", "predict"]


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
