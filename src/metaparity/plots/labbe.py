"""L'Abbé plot for 2x2 data: metafor's ``labbe()``.

matplotlib is imported only when a figure is drawn (:mod:`metaparity.plots._common`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike

from metaparity._core.names import MethodName
from metaparity.effects.escalc import escalc
from metaparity.models.uni import rma
from metaparity.plots._common import check_path, finish, new_figure
from metaparity.plots.funnel import LINE

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["labbe"]


def _counts(ai: ArrayLike, n1i: ArrayLike, ci: ArrayLike, n2i: ArrayLike, measure: str):
    a, n1, c, n2 = (np.atleast_1d(np.asarray(v, dtype=float)).ravel() for v in (ai, n1i, ci, n2i))
    if not (a.size == n1.size == c.size == n2.size) or a.size == 0:
        raise ValueError("labbe: ai, n1i, ci, n2i must have one value per study")
    if np.any(n1 <= 0) or np.any(n2 <= 0) or np.any(a < 0) or np.any(c < 0) or np.any(a > n1) \
            or np.any(c > n2):  # fmt: skip
        raise ValueError("labbe: need 0 <= ai <= n1i and 0 <= ci <= n2i with n1i, n2i > 0")
    if measure not in ("RR", "OR", "RD"):
        raise ValueError(f"labbe: measure={measure!r}; choose RR, OR or RD")
    return a, n1, c, n2


def _effect_curve(xs: np.ndarray, b: float, measure: str) -> np.ndarray:
    """Treatment risk at control risk ``xs`` under the pooled effect ``b``."""
    if measure == "RR":
        return np.exp(b) * xs
    if measure == "OR":
        o = xs / (1 - np.minimum(xs, 1 - 1e-12)) * np.exp(b)
        return o / (1 + o)
    return xs + b


def labbe(
    ai: ArrayLike,
    n1i: ArrayLike,
    ci: ArrayLike,
    n2i: ArrayLike,
    path: str | Path | None = None,
    *,
    measure: Literal["RR", "OR", "RD"] = "RR",
    method: MethodName = "REML",
    title: str | None = None,
) -> Figure:
    """L'Abbé plot for 2x2 data.

    Equivalent to ``metafor::labbe(res)`` with ``transf`` back to risks.  Each study is a
    circle at (control risk ``ci / n2i``, treatment risk ``ai / n1i``), its area
    proportional to the study's weight in the pooled model; the solid diagonal is "no
    effect", the dashed curve the pooled effect from ``rma(escalc(measure, ...),
    method=method)`` (RR: ``y = exp(b) x``; OR: ``odds(y) = exp(b) odds(x)``; RD:
    ``y = x + b``).

    Parameters
    ----------
    ai, n1i : array_like
        Events and sizes of the treatment groups.
    ci, n2i : array_like
        Events and sizes of the control groups.
    path : str or Path, optional
        ``.png`` or ``.svg`` file to write.
    measure : {"RR", "OR", "RD"}
        Effect measure of the pooled curve.
    method : str
        Estimator of the pooled model (as :func:`metaparity.rma`).
    title : str, optional
        Printed above the plot.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = labbe([4, 6, 3, 62], [123, 306, 231, 13598], [11, 29, 11, 248],
    ...             [139, 303, 220, 12867])
    >>> fig.axes[0].get_xlabel()
    'Risk in control group'
    """
    check_path(path)
    a, n1, c, n2 = _counts(ai, n1i, ci, n2i, measure)
    dat = escalc(measure, ai=a, n1i=n1, ci=c, n2i=n2)
    res = rma(dat["yi"].to_numpy(), dat["vi"].to_numpy(), method=method)
    w = 1.0 / (np.asarray(res.vi) + (0.0 if method in ("EE", "FE") else res.tau2))
    size = 40.0 + 400.0 * w / np.max(w)
    p1, p2 = a / n1, c / n2
    fig = new_figure(5.4, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    hi = min(1.0, max(float(p1.max()), float(p2.max())) * 1.15 + 0.01)
    xs = np.linspace(0.0, hi, 200)
    ax.plot([0, hi], [0, hi], color=LINE, lw=1.0, label="no effect")
    b = float(res.b)
    yl = _effect_curve(xs, b, measure)
    ok = (yl >= 0) & (yl <= hi)
    name = {"RR": "risk ratio", "OR": "odds ratio", "RD": "risk difference"}[measure]
    est = f"{np.exp(b):.2f}" if measure != "RD" else f"{b:.3f}"
    ax.plot(xs[ok], yl[ok], color=LINE, lw=1.0, ls="--", label=f"pooled {name} = {est}")
    ax.scatter(p2, p1, s=size, facecolor="#bcd0e6", edgecolor="#1f4e79", lw=0.8, zorder=3)
    m = 0.02 * hi  # circles at 0 are not cut by the axes
    ax.set_xlim(-m, hi)
    ax.set_ylim(-m, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("Risk in control group")
    ax.set_ylabel("Risk in treatment group")
    return finish(fig, ax, title, path)
