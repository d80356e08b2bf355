"""Best linear unbiased predictions for ``rma`` fits: ``blup()`` and ``ranef()``.

As ``metafor::blup.rma.uni`` and ``metafor::ranef.rma.uni``, from the empirical Bayes
results of Raudenbush & Bryk (1985, *J. Educ. Stat.* 10, 75-98, appendix).  With
``lambda_i = tau2 / (tau2 + v_i)`` and the fitted value ``x_i b``:

* ``blup``: the study's true effect ``lambda_i y_i + (1 - lambda_i) x_i b`` with variance
  ``lambda_i v_i + (1 - lambda_i)^2 x_i Var(b) x_i'``;
* ``ranef``: its random effect ``lambda_i (y_i - x_i b)`` with variance
  ``lambda_i v_i + lambda_i^2 x_i Var(b) x_i'`` (0 and 0 for an equal-effects model).

Prediction intervals are ``pred +/- crit se``, ``crit`` from the normal distribution, or
from t with the model's df for ``test="t"``/``"knha"``/``"adhoc"``.  A ``transf`` applies to
``pred`` and the bounds (the SE becomes NaN) and the bounds are put in increasing order, as
metafor does.  Models with user weights or unweighted estimation have no BLUPs (metafor
refuses them too).

>>> import metaparity as mp
>>> res = mp.rma([0.1, 0.5, 0.3], [0.02, 0.05, 0.03], method="DL")
>>> blup(res).round(4).columns.tolist()
['pred', 'se', 'pi_lb', 'pi_ub']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from metaparity._core.validation import check_level
from metaparity.effects.transforms import resolve

if TYPE_CHECKING:  # pragma: no cover
    from metaparity.models.results import RmaResult

__all__ = ["blup", "ranef"]


def _parts(res: RmaResult, level: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """lambda_i, x_i b, x_i Var(b) x_i' and the critical value."""
    if not hasattr(res, "weighted") or not hasattr(res, "tau2"):  # not an rma() fit
        raise TypeError(
            f"blup()/ranef() take an rma() fit, not {type(res).__name__}; for rma_mv fits use "
            "res.ranef()"
        )
    if res.weights is not None or not res.weighted:
        raise ValueError(
            "BLUPs are not available for models with user weights or unweighted estimation "
            "(as metafor's 'non-standard weights'); refit without weights= / weighted=False"
        )
    lv = res.level if level is None else check_level(level)
    alpha = 1 - lv / 100
    crit = (float(stats.norm.isf(alpha / 2)) if res.test == "z"
            else float(stats.t.isf(alpha / 2, res.dfs)))  # fmt: skip
    vi = np.asarray(res.vi, dtype=float)
    k = vi.size
    tau2 = float(res.tau2)
    lam = np.ones(k) if np.isinf(tau2) else tau2 / (tau2 + vi)
    if res.X is None:
        fitted = np.full(k, float(res.b))
        xvx = np.full(k, float(res.se) ** 2)
    else:
        X = np.asarray(res.X, dtype=float)
        b = np.asarray(res.b, dtype=float)
        vb = np.asarray(res.vb, dtype=float)
        fitted = X @ b
        xvx = np.einsum("ij,jk,ik->i", X, vb, X)
    return lam, fitted, xvx, crit


def _frame(
    res: RmaResult, pred: np.ndarray, var: np.ndarray, crit: float, transf: Any,
    targs: dict[str, Any] | None,
) -> pd.DataFrame:  # fmt: skip
    se = np.sqrt(var)
    labels = list(res.slab) if res.slab is not None else [str(i + 1) for i in range(pred.size)]
    out = pd.DataFrame({"pred": pred, "se": se, "pi_lb": pred - crit * se,
                        "pi_ub": pred + crit * se}, index=pd.Index(labels, name="slab"))  # fmt: skip
    return _transformed(out, res, transf, targs)


def _transformed(
    frame: pd.DataFrame, res: Any, transf: Any, targs: dict[str, Any] | None
) -> pd.DataFrame:
    """``transf`` applied to the predictions (the first column) and the bounds (SE NaN,
    bounds in increasing order)."""
    ni = getattr(res, "ni", None)
    if targs and targs.get("ni") is not None:
        ni = np.asarray(targs["ni"], float)
    f = resolve(transf, str(getattr(res, "measure", "GEN")), ni)
    if f is None:
        return frame
    out = frame.copy()
    value = frame.columns[0]  # "pred"; rma_mv's ranef names it as metafor ("intrcpt")
    out[value] = np.asarray(f(frame[value].to_numpy(float)), dtype=float)
    lb = np.asarray(f(frame["pi_lb"].to_numpy(float)), dtype=float)
    ub = np.asarray(f(frame["pi_ub"].to_numpy(float)), dtype=float)
    out["se"] = np.nan
    out["pi_lb"], out["pi_ub"] = np.minimum(lb, ub), np.maximum(lb, ub)
    return out


def blup(
    res: RmaResult, level: float | None = None, transf: Any = None,
    targs: dict[str, Any] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """The BLUPs of the studies' true effects (fitted values plus random effects).

    Equivalent to ``metafor::blup(res, level=, transf=, targs=)`` for an ``rma.uni`` fit.

    Parameters
    ----------
    res : RmaResult
        An ``rma()`` fit (with or without moderators), without user weights.
    level : float, optional
        Level of the prediction intervals (default: the model's).
    transf : None, True, str or callable, optional
        Applied to ``pred`` and the bounds (True: the measure's back-transform).
    targs : dict, optional
        ``{"ni": sizes}`` for ``"ipft.hm"``.

    Returns
    -------
    DataFrame
        ``pred``, ``se``, ``pi_lb``, ``pi_ub`` by study label.
    """
    lam, fitted, xvx, crit = _parts(res, level)
    yi = np.asarray(res.yi, dtype=float)
    pred = lam * yi + (1 - lam) * fitted
    var = lam * np.asarray(res.vi, float) + np.where(lam == 1, 0.0, (1 - lam) ** 2 * xvx)
    return _frame(res, pred, var, crit, transf, targs)


def ranef(
    res: Any, level: float | None = None, transf: Any = None,
    targs: dict[str, Any] | None = None,
) -> Any:  # fmt: skip
    """The BLUPs of the random effects: ``u_i`` of an ``rma()`` fit, or each random term's
    of an ``rma_mv()`` fit (:meth:`metaparity.MvResult.ranef`).

    Equivalent to ``metafor::ranef(res, level=, transf=, targs=)``; for an ``rma.uni`` fit an
    equal-effects model (``method="EE"``) has ``u_i = 0`` with SE 0.

    Parameters
    ----------
    res : RmaResult or MvResult
    level, transf, targs
        As :func:`blup`.

    Returns
    -------
    DataFrame (rma) or dict of DataFrame (rma_mv, one per random term)
        ``pred``, ``se``, ``pi_lb``, ``pi_ub`` by study label (or level).
    """
    if not hasattr(res, "weighted") and callable(getattr(res, "ranef", None)):  # rma_mv
        return {term: _transformed(frame, res, transf, targs)
                for term, frame in res.ranef(level=level).items()}  # fmt: skip
    lam, fitted, xvx, crit = _parts(res, level)
    yi = np.asarray(res.yi, dtype=float)
    if res.method in ("EE", "FE", "CE"):
        pred = var = np.zeros(yi.size)
    else:
        pred = lam * (yi - fitted)
        var = lam * np.asarray(res.vi, float) + lam**2 * xvx
    return _frame(res, pred, var, crit, transf, targs)
