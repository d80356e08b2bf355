"""Plots as metafor users know them: each takes a fitted result, keeps the study labels,
saves by file suffix (``.png``, ``.svg``, ``.pdf``) and returns the matplotlib Figure.

Naming: a plot has metafor's name (``forest``, ``funnel``, ``radial``, ``galbraith``,
``labbe``, ``regplot``); where metaparity already uses that name for the numbers (``baujat``,
``leave1out`` in :mod:`metaparity.analysis.diagnostics`) the plot is ``<name>_plot``.  The
reproduction report's figures drawn from plain numbers are ``revman_forest`` and
``revman_galbraith``.  Older names stay as aliases: ``forest_plot``, ``galbraith_plot``,
``plot_baujat``, ``plot_leave1out``.

matplotlib is an optional, heavy dependency (``pip install 'metaparity[plot]'``): it is
imported only when a figure is drawn, so importing this package does not load it.

Examples
--------
>>> import metaparity as mp
>>> from metaparity.plots import forest
>>> res = mp.rma([0.1, 0.3, 0.2], [0.01, 0.02, 0.03], slab=["A", "B", "C"])
>>> fig = forest(res)        # forest(res, path="forest.pdf") also writes a PDF
>>> [t.get_text() for t in fig.axes[0].texts][2:4]
['A', '0.10']
"""

from metaparity.plots.baujat import baujat_plot, plot_baujat
from metaparity.plots.embed import encode_png
from metaparity.plots.forest import forest
from metaparity.plots.funnel import funnel
from metaparity.plots.galbraith import galbraith, galbraith_plot, revman_galbraith
from metaparity.plots.labbe import labbe
from metaparity.plots.leave1out import leave1out_plot, plot_leave1out
from metaparity.plots.profile import profile_plot
from metaparity.plots.radial import radial
from metaparity.plots.regplot import regplot, regplot_data
from metaparity.plots.revman import ForestPooled, ForestStudy, forest_plot, revman_forest

__all__ = [
    # metafor's plots of a fitted model
    "forest", "funnel", "radial", "galbraith", "labbe", "baujat_plot", "leave1out_plot",
    "profile_plot", "regplot", "regplot_data",
    # the report's figures from plain numbers
    "revman_forest", "revman_galbraith", "ForestStudy", "ForestPooled", "encode_png",
    # older names
    "forest_plot", "galbraith_plot", "plot_baujat", "plot_leave1out",
]  # fmt: skip
