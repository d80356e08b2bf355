"""Bundled data sets (the selinexor meta-analysis of Tao, Zhou & Niu 2021).

metafor ships its data in the companion package metadat; these have no metafor
equivalent.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

__all__ = [
    "selinexor_counts",
    "selinexor_published",
    "selinexor_counts_path",
    "selinexor_published_path",
    "selinexor_claims_path",
]


def _read(name: str) -> pd.DataFrame:
    with resources.as_file(resources.files("metaparity.effects") / "data" / name) as path:
        return pd.read_csv(path)


def selinexor_counts() -> pd.DataFrame:
    """Per-study counts of the selinexor meta-analysis (Tao, Zhou & Niu 2021).

    One row per study x outcome x grade; ``events`` is NaN where unknown and the
    ``source``/``note`` columns say where each count comes from.  No metafor
    equivalent (a data set, like those of metadat).

    Returns
    -------
    pandas.DataFrame
        The counts, as read from the bundled CSV.

    Examples
    --------
    >>> d = selinexor_counts()
    >>> {"study", "events", "n"} <= set(d.columns)
    True
    """
    return _read("selinexor_counts.csv")


def selinexor_published() -> pd.DataFrame:
    """The 116 pooled figures the paper prints, with typo notes.

    No metafor equivalent (the figures to reproduce).

    Returns
    -------
    pandas.DataFrame
        One row per printed pooled estimate.

    Examples
    --------
    >>> list(selinexor_published().columns[:3])
    ['outcome', 'grade', 'subgroup']
    """
    return _read("selinexor_published.csv")


def _path(name: str) -> Path:
    return Path(str(resources.files("metaparity.effects") / "data" / name))


def selinexor_counts_path() -> Path:
    """Path of the bundled selinexor counts CSV (the default of ``metaparity reproduce``).

    Returns
    -------
    pathlib.Path
        Inside the installed package.

    Examples
    --------
    >>> selinexor_counts_path().name
    'selinexor_counts.csv'
    """
    return _path("selinexor_counts.csv")


def selinexor_published_path() -> Path:
    """Path of the bundled CSV of the paper's printed figures.

    Returns
    -------
    pathlib.Path
        Inside the installed package.

    Examples
    --------
    >>> selinexor_published_path().name
    'selinexor_published.csv'
    """
    return _path("selinexor_published.csv")


def selinexor_claims_path() -> Path:
    """Path of the bundled "a vs b %" pairs quoted in the paper's text, with their stated order.

    Returns
    -------
    pathlib.Path
        Inside the installed package.

    Examples
    --------
    >>> selinexor_claims_path().exists()
    True
    """
    return _path("selinexor_text_claims.csv")
