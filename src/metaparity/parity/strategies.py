"""Hypothesis strategies for meta-analytic data (public, composable).

Every strategy stays in the domain (events <= n, SDs > 0, variances > 0) unless
its name says otherwise (:func:`bad_counts`), and shrinks towards small, plain
counterexamples (few studies, round numbers, no heterogeneity).

>>> from hypothesis import given, settings
>>> from metaparity import rma
>>> from metaparity.parity.strategies import meta_analyses
>>> @settings(max_examples=20, derandomize=True)
... @given(meta_analyses(min_k=2, max_k=8))
... def test_tau2_nonnegative(ma):
...     assert rma(ma.yi, ma.vi, method="DL").tau2 >= 0
>>> test_tau2_nonnegative()

Requires ``hypothesis`` (a test dependency of metaparity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

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

#: tau^2 relative to the typical sampling variance, by name
HETEROGENEITY: dict[str, tuple[float, ...]] = {
    "none": (0.0,),
    "low": (0.0, 0.1, 0.3),
    "moderate": (0.5, 1.0, 2.0),
    "extreme": (10.0, 100.0, 1000.0),
}


@dataclass(frozen=True)
class MetaData:
    """A generated meta-analysis: effect sizes, sampling variances, and how they were made."""

    yi: np.ndarray
    vi: np.ndarray
    tau2: float  # the tau^2 used to generate yi (not an estimate)

    @property
    def k(self) -> int:
        return int(self.yi.size)

    def __repr__(self) -> str:  # readable counterexamples
        return f"MetaData(yi={self.yi.tolist()!r}, vi={self.vi.tolist()!r}, tau2={self.tau2!r})"


@st.composite
def proportions(
    draw: st.DrawFn, min_k: int = 1, max_k: int = 12, max_n: int = 500
) -> dict[str, np.ndarray]:
    """One-group counts with 0 <= xi <= ni (0 and ni included), for metafor's ``PR``, ``PLO`` ...

    Parameters
    ----------
    min_k, max_k : int
        Range of the number of studies.
    max_n : int
        Largest study size.

    Returns
    -------
    SearchStrategy of dict
        ``{"xi": events, "ni": sizes}``, float arrays of length k (``escalc(xi=, ni=)``).
    """
    k = draw(st.integers(min_k, max_k))
    ni = np.array(draw(st.lists(st.integers(1, max_n), min_size=k, max_size=k)), dtype=float)
    xi = []
    for n in ni.astype(int):
        xi.append(draw(st.one_of(st.just(0), st.just(n), st.integers(0, n))))
    return {"xi": np.array(xi, dtype=float), "ni": ni}


@st.composite
def two_by_two(
    draw: st.DrawFn, min_k: int = 1, max_k: int = 12, max_n: int = 300
) -> dict[str, np.ndarray]:
    """2x2 tables with groups of at least one participant, for metafor's ``OR``, ``RR``, ``RD``.

    Parameters
    ----------
    min_k, max_k : int
        Range of the number of studies.
    max_n : int
        Largest group size.

    Returns
    -------
    SearchStrategy of dict
        ``{"ai", "bi", "ci", "di"}``: float arrays of length k (``escalc(ai=, bi=, ci=, di=)``).
    """
    k = draw(st.integers(min_k, max_k))
    cols: dict[str, list[int]] = {c: [] for c in ("ai", "bi", "ci", "di")}
    for _ in range(k):
        n1, n2 = draw(st.integers(1, max_n)), draw(st.integers(1, max_n))
        a = draw(st.one_of(st.just(0), st.integers(0, n1)))
        c = draw(st.one_of(st.just(0), st.integers(0, n2)))
        cols["ai"].append(a)
        cols["bi"].append(n1 - a)
        cols["ci"].append(c)
        cols["di"].append(n2 - c)
    return {key: np.array(v, dtype=float) for key, v in cols.items()}


@st.composite
def continuous(draw: st.DrawFn, min_k: int = 1, max_k: int = 12) -> dict[str, np.ndarray]:
    """Two-group means/SDs/sizes (SDs > 0, n >= 2 per group) for metafor's MD, SMD, ROM.

    Parameters
    ----------
    min_k, max_k : int
        Range of the number of studies.

    Returns
    -------
    SearchStrategy of dict
        ``m1i, sd1i, n1i, m2i, sd2i, n2i``: float arrays of length k (``escalc(m1i=, ...)``).
    """
    k = draw(st.integers(min_k, max_k))
    pos = st.floats(0.5, 100.0, allow_nan=False, allow_infinity=False)
    sd = st.floats(0.1, 50.0, allow_nan=False, allow_infinity=False)
    n = st.integers(2, 300)
    out = {
        name: np.array(draw(st.lists(s, min_size=k, max_size=k)), dtype=float)
        for name, s in (
            ("m1i", pos),
            ("sd1i", sd),
            ("n1i", n),
            ("m2i", pos),
            ("sd2i", sd),
            ("n2i", n),
        )
    }
    return out


@st.composite
def meta_analyses(
    draw: st.DrawFn,
    min_k: int = 1,
    max_k: int = 20,
    heterogeneity: str | None = None,
    max_vi_ratio: float = 1e4,
) -> MetaData:
    """Effect sizes and variances of one meta-analysis (``rma(yi, vi)`` input).

    yi are ``mu + sqrt(vi + tau2) * z`` with z drawn by hypothesis, so examples shrink
    to z = 0 (identical studies).

    Parameters
    ----------
    min_k, max_k : int
        Range of the number of studies.
    heterogeneity : {"none", "low", "moderate", "extreme"}, optional
        tau^2 as a multiple of the smallest sampling variance (:data:`HETEROGENEITY`);
        None draws from every level.
    max_vi_ratio : float
        Largest ratio of sampling variances (huge ratios are a deliberate corner).

    Returns
    -------
    SearchStrategy of MetaData
    """
    k = draw(st.integers(min_k, max_k))
    vmin = draw(st.sampled_from([1e-4, 1e-2, 0.05, 1.0]))
    logr = st.floats(0.0, float(np.log10(max_vi_ratio)), allow_nan=False)
    vi = vmin * 10 ** np.array(draw(st.lists(logr, min_size=k, max_size=k)))
    levels = HETEROGENEITY[heterogeneity] if heterogeneity else sum(HETEROGENEITY.values(), ())
    tau2 = draw(st.sampled_from(levels)) * vmin
    mu = draw(st.sampled_from([0.0, 0.5, -1.0, 3.0]))
    z = np.array(draw(st.lists(st.floats(-4, 4, allow_nan=False), min_size=k, max_size=k)))
    yi = mu + np.sqrt(vi + tau2) * z
    return MetaData(yi=yi, vi=vi, tau2=float(tau2))


@st.composite
def batches(
    draw: st.DrawFn, max_rows: int = 8, min_k: int = 1, max_k: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Many meta-analyses at once, for ``rma_batch`` (a loop of metafor ``rma()`` calls).

    Parameters
    ----------
    max_rows : int
        Largest number of meta-analyses M.
    min_k, max_k : int
        Range of the number of studies per meta-analysis.

    Returns
    -------
    SearchStrategy of (ndarray, ndarray)
        ``(Y, V)`` shaped (M, K), ragged rows padded with NaN.
    """
    rows = draw(st.lists(meta_analyses(min_k=min_k, max_k=max_k), min_size=1, max_size=max_rows))
    width = max(r.k for r in rows)
    Y = np.full((len(rows), width), np.nan)
    V = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        Y[i, : r.k], V[i, : r.k] = r.yi, r.vi
    return Y, V


@st.composite
def bad_counts(
    draw: st.DrawFn, min_k: int = 1, max_k: int = 6
) -> tuple[dict[str, np.ndarray], int]:
    """Invalid one-group counts (events > n, negative, n = 0): for testing error messages.

    Parameters
    ----------
    min_k, max_k : int
        Range of the number of studies.

    Returns
    -------
    SearchStrategy of (dict, int)
        ``(data, bad_row)``: ``{"xi", "ni"}`` as :func:`proportions`, and the 0-based
        index of the invalid row (metafor ``escalc`` stops on it too).
    """
    data = draw(proportions(min_k=min_k, max_k=max_k))
    i = draw(st.integers(0, data["xi"].size - 1))
    kind = draw(st.sampled_from(["events>n", "negative", "n=0"]))
    xi, ni = data["xi"].copy(), data["ni"].copy()
    if kind == "events>n":
        xi[i] = ni[i] + draw(st.integers(1, 5))
    elif kind == "negative":
        xi[i] = -draw(st.integers(1, 5))
    else:
        ni[i], xi[i] = 0, 0
    return {"xi": xi, "ni": ni}, i
