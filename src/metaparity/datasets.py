"""Bundled data sets."""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["selinexor_counts", "selinexor_published"]


def _read(name: str) -> pd.DataFrame:
    with resources.as_file(resources.files("metaparity") / "data" / name) as path:
        return pd.read_csv(path)


def selinexor_counts() -> pd.DataFrame:
    """Per-study counts of the selinexor meta-analysis (Tao, Zhou & Niu 2021).

    One row per study x outcome x grade; ``events`` is NaN where unknown and the
    ``source``/``note`` columns say where each count comes from.
    """
    return _read("selinexor_counts.csv")


def selinexor_published() -> pd.DataFrame:
    """The 116 pooled figures the paper prints, with typo notes."""
    return _read("selinexor_published.csv")
