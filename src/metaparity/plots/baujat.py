"""Baujat plot of a fitted model; the numbers come from :func:`metaparity.baujat`.

The plot is ``baujat_plot`` (``baujat`` is the data function, metafor's ``baujat``
returning values); ``plot_baujat`` is its older name.  matplotlib is imported only when a
figure is drawn.

Examples
--------
>>> import metaparity as mp
>>> res = mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL")
>>> fig = baujat_plot(res)
>>> fig.axes[0].get_xlabel()
'Squared Pearson residual'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from metaparity.analysis.diagnostics import baujat
from metaparity.models.uni import RmaResult
from metaparity.plots._common import (
    C_STUDY,
    C_TEXT,
    FONT,
    SMALL,
    check_dpi,
    check_path,
    new_figure,
    place_labels,
    save,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["baujat_plot", "plot_baujat"]

_OFFSETS = ((5, 2), (5, -10), (-5, 2), (-5, -10), (0, 7), (0, -15))


def baujat_plot(
    res: RmaResult,
    path: str | Path | None = None,
    *,
    symbol: Literal["slab", "ids"] = "slab",
    dpi: int = 150,
    title: str | None = None,
) -> Figure:
    """Baujat plot: contribution to heterogeneity (x) against influence on the pooled
    estimate (y).

    Equivalent to ``metafor::baujat(res)``.  A label with no free place is shown as its
    study number (explained under the plot), else left out and listed.

    Parameters
    ----------
    res : RmaResult
        Fitted model (``k >= 2``, no user weights).
    path : str or Path, optional
        Where to save (``.png``/``.svg``/``.pdf`` by suffix).
    symbol : {"slab", "ids"}
        Label points with study labels (default) or 1-based study numbers.
    dpi : int
        Resolution of the figure and of a saved PNG.
    title : str, optional
        Default: ``"Baujat plot (<method>, k = <k>)"``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE")
    >>> baujat_plot(res, symbol="ids").axes[0].get_xlabel()
    'Contribution to overall heterogeneity'
    """
    if symbol not in ("slab", "ids"):
        raise ValueError(f"symbol={symbol!r}: use 'slab' or 'ids'")
    check_path(path)
    dpi = check_dpi(dpi)
    bj = baujat(res)
    labels = [str(s) for s in (bj.slab if symbol == "slab" else bj.ids)]
    fig = new_figure(6.0, 4.6, dpi)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(bj.x, bj.y, s=22, color=C_STUDY, zorder=3)
    xmax = float(np.nanmax(bj.x)) if bj.x.size else 1.0
    ymax = float(np.nanmax(bj.y)) if bj.y.size else 1.0
    ax.set_xlim(-0.04 * xmax, 1.25 * xmax if xmax > 0 else 1.0)
    ax.set_ylim(-0.04 * ymax, 1.15 * ymax if ymax > 0 else 1.0)
    ee = res.method in ("EE", "FE")
    ax.set_xlabel(
        "Contribution to overall heterogeneity" if ee else "Squared Pearson residual",
        fontsize=FONT,
    )
    ax.set_ylabel("Influence on overall result", fontsize=FONT)
    ax.tick_params(labelsize=SMALL)
    ax.set_title(title or f"Baujat plot ({res.method}, k = {res.k})", fontsize=10)
    short = [str(i) for i in bj.ids]
    numbered, left = place_labels(fig, ax, bj.x, bj.y, labels, short=short,
                                  key=lambda i: -bj.y[i], radius_pt=3.5, base=_OFFSETS,
                                  color=C_TEXT, leader="#999999", zorder=4)  # fmt: skip
    notes = []
    if numbered and symbol == "slab":
        notes.append("; ".join(f"{short[i]} = {labels[i]}" for i in numbered))
    if left:
        notes.append("not labelled (no room): " + "; ".join(labels[i] for i in left))
    for j, note in enumerate(notes):
        fig.text(0.02, -0.01 - 0.045 * j, note, fontsize=SMALL, color="#555555",
                 ha="left", va="top", wrap=True)  # fmt: skip
    ax.grid(True, color="#e3e3e3", lw=0.6, zorder=0)
    save(fig, path, dpi)
    return fig


#: the older name of :func:`baujat_plot`
plot_baujat = baujat_plot
