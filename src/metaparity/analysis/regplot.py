"""The numbers of a meta-regression's bubble plot: metafor's ``regplot()`` without the
drawing (:func:`metaparity.plots.regplot` draws them).

:func:`regplot_data` computes what the plot shows, as metafor's ``regplot.rma`` does (and
returns, invisibly, as its ``"regplot"`` data frame):

* the observed outcomes against one moderator (``mod``: a coefficient name or 0-based
  column of ``X``; by default the only one besides the intercept);
* point sizes from the square roots of the model's weights (``weights(res)``, in percent),
  scaled linearly onto ``plim = (0.5, 3)`` (1 for all when the weights are all equal, as
  metafor: a range below ``sqrt(machine eps)``); ``psize="seinv"`` / ``"vinv"`` scale
  ``1/sqrt(vi)`` or ``1/vi`` instead, an array gives the sizes; points are drawn largest
  first (``order``);
* the regression line with its CI band (and the prediction interval) at 1000 points over
  the moderator's range extended by 4 % each side (``predlim``), or at ``xvals``, with every
  other column of ``X`` held at its mean (``colMeans(X)``);
* ``label``: True labels every study, ``"ciout"`` / ``"piout"`` those outside the CI / PI of
  the line at their moderator value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from metaparity.effects.transforms import resolve
from metaparity.models.predict import predict_mods
from metaparity.models.results import RmaResult

__all__ = ["regplot_data", "RegplotData"]


@dataclass(frozen=True)
class RegplotData:
    """What :func:`regplot` draws (metafor's ``"regplot"`` object, plus the line).

    ``xi, yi, psize, order, pred_i`` per study (``order``: 0-based drawing order, largest
    point first; ``pred_i``: the fitted line at each study's moderator value); ``xs`` and
    ``pred, ci_lb, ci_ub, pi_lb, pi_ub`` the line and its bands; ``label`` which studies get
    a label; values after ``transf`` where one was given.
    """

    mod: int
    mod_name: str
    xi: np.ndarray
    yi: np.ndarray
    psize: np.ndarray
    order: np.ndarray
    pred_i: np.ndarray
    xs: np.ndarray
    pred: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    pi_lb: np.ndarray
    pi_ub: np.ndarray
    slab: tuple
    label: np.ndarray
    level: float
    transformed: bool


def _mod_column(res: RmaResult, mod: Any) -> int:
    names = res.coef_names
    if mod is None:
        if res.p == 2 and res.intercept:
            return 1
        if res.p == 1:
            return 0
        raise ValueError(
            f"regplot: the model has {res.p} coefficients ({', '.join(names)}); name the "
            "moderator to plot with mod= (metafor: 'Must specify the 'mod' argument for models "
            "with multiple predictors.')"
        )
    if isinstance(mod, str):
        if mod in names:
            return names.index(mod)
        hits = [j for j, n in enumerate(names) if n.startswith(mod)]  # R's charmatch
        if len(hits) == 1:
            return hits[0]
        raise ValueError(
            f"regplot: mod={mod!r} does not name one coefficient; the coefficients are "
            f"{', '.join(names)}"
        )
    j = int(mod)
    if not 0 <= j < res.p:
        raise ValueError(f"regplot: mod={mod} is out of range: columns 0..{res.p - 1} "
                         f"({', '.join(names)})")  # fmt: skip
    return j


def _weights_pct(res: RmaResult) -> np.ndarray:
    """``weights(res)``: the model's weights in percent."""
    if not res.weighted:
        w = np.ones(res.k)
    elif res.weights is not None:
        w = np.asarray(res.weights, dtype=float).ravel()
    else:
        w = 1.0 / (np.asarray(res.vi, dtype=float) + res.tau2)
    return 100 * w / np.sum(w)


def _point_sizes(res: RmaResult, psize: Any, plim: tuple[float, float]) -> np.ndarray:
    if psize is not None and not isinstance(psize, str):
        ps = np.asarray(psize, dtype=float).ravel()
        if ps.size == 1:
            ps = np.full(res.k, float(ps[0]))
        if ps.size != res.k:
            raise ValueError(f"regplot: psize has {ps.size} values for {res.k} studies")
        return ps
    v = np.asarray(res.vi, dtype=float)
    if psize is None:
        wi = np.sqrt(_weights_pct(res))
    elif psize in ("seinv", "vinv"):
        wi = 1 / np.sqrt(v) if psize == "seinv" else 1 / v
    else:
        raise ValueError(f"regplot: psize={psize!r}; give 'seinv', 'vinv' or the sizes")
    lo, hi = plim
    rng = float(np.max(wi) - np.min(wi))
    if rng <= np.sqrt(np.finfo(float).eps):
        return np.ones(res.k)
    return (wi - np.min(wi)) / rng * (hi - lo) + lo


def regplot_data(
    res: RmaResult, mod: Any = None, *, level: float | None = None, predlim: Any = None,
    xvals: Any = None, plim: tuple[float, float] = (0.5, 3.0), psize: Any = None,
    transf: Any = None, label: bool | str = False,
) -> RegplotData:  # fmt: skip
    """The numbers of the bubble plot of ``res`` (see the module's description).

    Parameters
    ----------
    res : RmaResult
        A meta-regression (:func:`metaparity.rma` with ``mods=``).
    mod : str or int, optional
        The moderator on the x-axis: a coefficient name (or its unique prefix) or 0-based
        column of ``X``.
    level : float, optional
        Level of the bands (default: the model's).
    predlim : (float, float), optional
        Range of the line (default: the moderator's range extended by 4 % each side).
    xvals : array_like, optional
        The moderator values of the line instead (its range becomes ``predlim``).
    plim : (float, float)
        Smallest and largest point size.
    psize : {"seinv", "vinv"} or array_like, optional
        What scales the points (default: the square root of the weights), or the sizes.
    transf : None, True, str or callable
        Applied to the outcomes, the line and its bands (as predict's ``transf=``).
    label : bool or {"ciout", "piout"}
        Which studies are labelled.

    Returns
    -------
    RegplotData

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.5, 0.3, 0.9], [0.02, 0.03, 0.01, 0.04], mods=[1, 2, 3, 4])
    >>> d = regplot_data(res)
    >>> d.mod_name, len(d.xs), [round(float(s), 3) for s in d.psize]
    ('mods', 1000, [1.957, 1.149, 3.0, 0.5])
    """
    if not isinstance(res, RmaResult) or res.X is None:
        raise ValueError(
            "regplot needs a meta-regression: fit rma(..., mods=...) (metafor's regplot takes "
            "models with moderators)"
        )
    j = _mod_column(res, mod)
    X = np.asarray(res.X, dtype=float)
    xi = X[:, j]
    if xvals is not None:
        xs = np.asarray(xvals, dtype=float).ravel()
    else:
        if predlim is None:
            r = float(np.max(xi) - np.min(xi))
            predlim = (float(np.min(xi)) - 0.04 * r, float(np.max(xi)) + 0.04 * r)
        if len(predlim) != 2:
            raise ValueError("regplot: predlim must be two numbers (from, to)")
        xs = np.linspace(float(predlim[0]), float(predlim[1]), 1000)
    means = X.mean(axis=0)
    lv = res.level if level is None else level

    def line(at: np.ndarray) -> Any:
        Xn = np.tile(means, (at.size, 1))
        Xn[:, j] = at
        return predict_mods(res, Xn, True, transf=transf, level=lv)

    band, at_i = line(xs), line(xi)
    f = resolve(transf, res.measure, res.ni)
    yi = np.asarray(res.yi, dtype=float)
    y_shown = yi if f is None else np.asarray(f(yi), dtype=float)
    ps = _point_sizes(res, psize, plim)
    if label is True:
        lab = np.ones(res.k, dtype=bool)
    elif label is False or label is None:
        lab = np.zeros(res.k, dtype=bool)
    elif label in ("ciout", "piout"):
        lo, hi = (at_i.ci_lb, at_i.ci_ub) if label == "ciout" else (at_i.pi_lb, at_i.pi_ub)
        lab = (y_shown < lo) | (y_shown > hi)
    else:
        raise ValueError(f"regplot: label={label!r}; give True, False, 'ciout' or 'piout'")
    slab = res.slab if res.slab is not None else tuple(str(i + 1) for i in range(res.k))
    return RegplotData(
        mod=j, mod_name=res.coef_names[j], xi=xi, yi=y_shown, psize=ps,
        order=np.argsort(-ps, kind="stable"), pred_i=at_i.pred, xs=xs, pred=band.pred,
        ci_lb=band.ci_lb, ci_ub=band.ci_ub, pi_lb=band.pi_lb, pi_ub=band.pi_ub,
        slab=tuple(slab), label=lab, level=float(lv), transformed=f is not None,
    )  # fmt: skip
