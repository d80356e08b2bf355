"""Hypothesis strategies for meta-analytic data (public path of :mod:`metaparity.parity.strategies`).

>>> from metaparity.strategies import meta_analyses
"""

from metaparity.parity.strategies import (
    HETEROGENEITY,
    MetaData,
    bad_counts,
    batches,
    continuous,
    meta_analyses,
    proportions,
    two_by_two,
)

__all__ = [
    "MetaData",
    "proportions",
    "two_by_two",
    "continuous",
    "meta_analyses",
    "batches",
    "bad_counts",
    "HETEROGENEITY",
]
