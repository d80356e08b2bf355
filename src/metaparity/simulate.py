"""Seeded simulation of many meta-analyses, ready for :func:`metaparity.rma_batch`.

Everything is vectorised over meta-analyses (rows) and studies (columns); the
arrays are NaN-padded ``(M, k)`` arrays exactly as ``rma_batch`` takes them.

* :func:`simulate_normal` -- ``y_ij ~ N(mu, tau2 + v_ij)`` with known ``v_ij``
  (the normal-normal random-effects model).
* :func:`simulate_binomial` -- event counts ``x_ij ~ Binomial(n_ij, p_ij)`` with
  ``logit(p_ij) ~ N(mu_logit, tau2)``.
* :func:`escalc_batch` -- the one-group measures (PR, PLN, PLO, PAS, PFT) of
  :func:`metaparity.escalc` on whole ``(M, k)`` count arrays.
* :func:`coverage_study` -- CI coverage of estimator/test pairs (DL, REML,
  Knapp-Hartung, ...) over many replicates.

Reproducibility: every function takes ``seed=`` (anything
:func:`numpy.random.default_rng` accepts) or ``rng=`` (a ``numpy.random.Generator``).
Rows are generated in fixed blocks of :data:`BLOCK` rows, in order, from one
generator, so :func:`iter_normal` (block by block, for data that do not fit in
memory) and :func:`simulate_normal` give the same numbers for the same seed.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from metaparity._core.io import atomic_write
from metaparity._core.names import METHODS, TESTS, check_choice
from metaparity.models.uni import rma_batch

__all__ = [
    "BLOCK",
    "simulate_normal",
    "iter_normal",
    "simulate_binomial",
    "escalc_batch",
    "coverage_study",
    "save_normal_npz",
    "npz_path",
]

#: Rows drawn per step from the generator (fixed: it defines the random stream).
BLOCK = 65536

_ONE_GROUP = ("PR", "PLN", "PLO", "PAS", "PFT")


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _rng(seed: Any, rng: np.random.Generator | None) -> np.random.Generator:
    if rng is not None:
        if seed is not None:
            raise ValueError("give seed= or rng=, not both")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    return np.random.default_rng(seed)


def _check_mk(M: int, k: int) -> tuple[int, int]:
    for name, x in (("M", M), ("k", k)):
        if isinstance(x, bool) or not float(x).is_integer():
            raise ValueError(f"{name}={x!r} must be a whole number")
    M, k = int(M), int(k)
    if M < 0:
        raise ValueError(f"M={M} must be >= 0 (the number of meta-analyses)")
    if k < 1:
        raise ValueError(f"k={k} must be >= 1 (studies per meta-analysis)")
    return M, k


def _per_row(name: str, x: Any, M: int) -> np.ndarray:
    """A scalar or an ``(M,)`` array of per-meta-analysis parameters, as ``(M, 1)``."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        return np.full((M, 1), float(a))
    if a.shape != (M,):
        raise ValueError(f"{name} must be a scalar or have shape ({M},); got {a.shape}")
    return a[:, None]


def _k_sampler(k: int, k_dist: Any) -> Callable[[np.random.Generator, int], np.ndarray] | None:
    """``None`` (every row has k studies) or a function drawing k_i for a block."""
    if k_dist is None:
        return None
    if callable(k_dist):
        return lambda rng, n: np.asarray(k_dist(rng, n), dtype=np.int64)
    lo, hi = (int(x) for x in k_dist)
    if not 1 <= lo <= hi <= k:
        raise ValueError(
            f"k_dist=({lo}, {hi}) must satisfy 1 <= lo <= hi <= k={k} "
            "(k is the width of the arrays, i.e. the largest number of studies)"
        )
    return lambda rng, n: rng.integers(lo, hi, size=n, endpoint=True)


def _draw_k(sampler, rng, n: int, k: int) -> np.ndarray | None:
    if sampler is None:
        return None
    ks = sampler(rng, n)
    if ks.shape != (n,) or (ks < 1).any() or (ks > k).any():
        raise ValueError(f"k_dist must give {n} integers in [1, {k}]; got {ks!r}")
    return ks


def _draw_vi(vi: Any, rng: np.random.Generator, rows: slice, M: int, k: int) -> np.ndarray:
    n = rows.stop - rows.start
    if callable(vi):
        v = np.asarray(vi(rng, (n, k)), dtype=float)
        if v.shape != (n, k):
            raise ValueError(f"vi(rng, shape) must return shape {(n, k)}; got {v.shape}")
    elif isinstance(vi, tuple) and vi and isinstance(vi[0], str):
        kind, lo, hi = vi
        if not 0 < lo <= hi:
            raise ValueError(f"vi=({kind!r}, {lo}, {hi}) needs 0 < lo <= hi")
        if kind == "uniform":
            v = rng.uniform(lo, hi, (n, k))
        elif kind == "loguniform":
            v = np.exp(rng.uniform(np.log(lo), np.log(hi), (n, k)))
        else:
            raise ValueError(f"vi=({kind!r}, ...): use 'uniform' or 'loguniform'")
    else:
        a = np.asarray(vi, dtype=float)
        if a.ndim == 2 and a.shape[0] == M:
            a = a[rows]
        v = np.broadcast_to(a, (n, k)).copy()
    if not (v > 0).all():
        raise ValueError("sampling variances vi must all be > 0")
    return v


def _pad(arrays: tuple[np.ndarray, ...], ks: np.ndarray | None, k: int) -> None:
    if ks is None:
        return
    pad = np.arange(k)[None, :] >= ks[:, None]
    for a in arrays:
        a[pad] = np.nan


# --------------------------------------------------------------------------- #
# normal-normal model
# --------------------------------------------------------------------------- #
def iter_normal(
    M: int,
    k: int,
    *,
    mu: Any = 0.0,
    tau2: Any = 0.1,
    vi: Any = ("uniform", 0.01, 0.2),
    k_dist: Any = None,
    seed: Any = None,
    rng: np.random.Generator | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(Y, V)`` blocks of at most :data:`BLOCK` rows; see :func:`simulate_normal`.

    Concatenating the blocks gives exactly ``simulate_normal(...)`` with the same
    arguments, so data larger than memory can be written block by block.

    Parameters
    ----------
    M, k, mu, tau2, vi, k_dist, seed, rng
        As :func:`simulate_normal`.

    Yields
    ------
    tuple of (ndarray, ndarray)
        ``(Y, V)`` for the next rows, shaped ``(n, k)`` with ``n <= BLOCK``; NaN pads
        rows with fewer than k studies.

    Examples
    --------
    >>> blocks = list(iter_normal(70000, 5, seed=1))
    >>> [b[0].shape for b in blocks]
    [(65536, 5), (4464, 5)]
    >>> Y, V = simulate_normal(70000, 5, seed=1)
    >>> bool((np.concatenate([b[0] for b in blocks]) == Y).all())
    True
    """
    M, k = _check_mk(M, k)
    g = _rng(seed, rng)
    mu_, tau2_ = _per_row("mu", mu, M), _per_row("tau2", tau2, M)
    if not (tau2_ >= 0).all():
        raise ValueError(
            f"tau2={tau2!r}: the between-study variance must be >= 0 (0: no heterogeneity)"
        )
    sampler = _k_sampler(k, k_dist)
    for start in range(0, M, BLOCK):
        rows = slice(start, min(M, start + BLOCK))
        n = rows.stop - rows.start
        ks = _draw_k(sampler, g, n, k)
        v = _draw_vi(vi, g, rows, M, k)
        # y = mu + u + e with u ~ N(0, tau2), e ~ N(0, v): one normal draw per study
        y = mu_[rows] + np.sqrt(tau2_[rows] + v) * g.standard_normal((n, k))
        _pad((y, v), ks, k)
        yield y, v


def simulate_normal(
    M: int,
    k: int,
    *,
    mu: Any = 0.0,
    tau2: Any = 0.1,
    vi: Any = ("uniform", 0.01, 0.2),
    k_dist: Any = None,
    seed: Any = None,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate M meta-analyses from the normal-normal random-effects model.

    ``y_ij = mu + u_ij + e_ij`` with ``u_ij ~ N(0, tau2)`` and ``e_ij ~ N(0, v_ij)``
    (drawn as one normal with variance ``tau2 + v_ij``).

    Parameters
    ----------
    M : int
        Number of meta-analyses (rows).
    k : int
        Studies per meta-analysis; with ``k_dist`` the width of the arrays (the
        largest number of studies).
    mu, tau2 : float or array of shape (M,)
        True pooled effect and between-study variance (per row if an array).
    vi : tuple, callable or array_like
        Sampling variances: ``("uniform", lo, hi)`` (default ``("uniform", 0.01, 0.2)``)
        or ``("loguniform", lo, hi)``; a callable ``vi(rng, shape) -> array``; or
        fixed values broadcastable to ``(M, k)``.
    k_dist : None, (lo, hi) or callable, optional
        ``None``: every row has ``k`` studies.  ``(lo, hi)``: ``k_i`` uniform on the
        integers ``lo..hi`` (``hi <= k``); a callable ``k_dist(rng, n) -> ints``.
        Studies beyond ``k_i`` are NaN in both arrays (ragged sets, as
        :func:`metaparity.rma_batch` takes them).
    seed : int, SeedSequence or None
        Seed for :func:`numpy.random.default_rng`.
    rng : numpy.random.Generator, optional
        Use (and advance) this generator instead of ``seed``.

    Returns
    -------
    Y, V : ndarray, shape (M, k)

    Examples
    --------
    >>> import metaparity as mp
    >>> Y, V = simulate_normal(4, 3, mu=0.2, tau2=0.05, seed=42)
    >>> Y.shape, bool((V >= 0.01).all() and (V <= 0.2).all())
    ((4, 3), True)
    >>> Y2, _ = simulate_normal(4, 3, mu=0.2, tau2=0.05, seed=42)
    >>> bool((Y == Y2).all())
    True
    >>> Y, V = simulate_normal(1000, 8, k_dist=(2, 8), seed=1)
    >>> k = mp.rma_batch(Y, V, method="DL").k
    >>> int(k.min()), int(k.max())
    (2, 8)
    """
    M, k = _check_mk(M, k)
    blocks = list(iter_normal(M, k, mu=mu, tau2=tau2, vi=vi, k_dist=k_dist, seed=seed, rng=rng))
    if not blocks:
        return np.empty((0, k)), np.empty((0, k))
    return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])


# --------------------------------------------------------------------------- #
# binomial-normal model
# --------------------------------------------------------------------------- #
def simulate_binomial(
    M: int,
    k: int,
    *,
    mu_logit: Any = 0.0,
    tau2: Any = 0.1,
    n: Any = (20, 200),
    k_dist: Any = None,
    seed: Any = None,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate event counts of M single-arm meta-analyses (proportions).

    ``logit(p_ij) ~ N(mu_logit, tau2)`` and ``x_ij ~ Binomial(n_ij, p_ij)``.

    Parameters
    ----------
    M, k, k_dist, seed, rng
        As in :func:`simulate_normal`.
    mu_logit, tau2 : float or array of shape (M,)
        Mean and variance of the true logit proportions.
    n : (lo, hi), callable or array_like
        Study sizes: uniform on the integers ``lo..hi`` (default ``(20, 200)``); a
        callable ``n(rng, shape) -> ints``; or fixed values broadcastable to ``(M, k)``.

    Returns
    -------
    xi, ni : ndarray of float, shape (M, k)
        Events and study sizes (NaN where a ragged set has no study).  Feed them
        to :func:`escalc_batch` for PR/PLN/PLO/PAS/PFT effect sizes.

    Examples
    --------
    >>> xi, ni = simulate_binomial(3, 4, mu_logit=-1.0, tau2=0.2, n=(50, 60), seed=3)
    >>> bool(((xi >= 0) & (xi <= ni) & (ni >= 50) & (ni <= 60)).all())
    True
    >>> Y, V = escalc_batch("PLO", xi, ni)
    >>> Y.shape
    (3, 4)
    """
    M, k = _check_mk(M, k)
    g = _rng(seed, rng)
    mu_, tau2_ = _per_row("mu_logit", mu_logit, M), _per_row("tau2", tau2, M)
    if not (tau2_ >= 0).all():
        raise ValueError(
            f"tau2={tau2!r}: the between-study variance must be >= 0 (0: no heterogeneity)"
        )
    ks = _draw_k(_k_sampler(k, k_dist), g, M, k)
    if callable(n):
        nn = np.asarray(n(g, (M, k)))
    elif isinstance(n, tuple) and len(n) == 2:
        lo, hi = int(n[0]), int(n[1])
        if not 1 <= lo <= hi:
            raise ValueError(f"n=({lo}, {hi}) needs 1 <= lo <= hi")
        nn = g.integers(lo, hi, size=(M, k), endpoint=True)
    else:
        nn = np.broadcast_to(np.asarray(n), (M, k))
    if nn.shape != (M, k) or (nn < 1).any() or (nn != np.round(nn)).any():
        raise ValueError(f"study sizes n must be integers >= 1 of shape {(M, k)}")
    nn = nn.astype(np.int64)
    p = 1.0 / (1.0 + np.exp(-(mu_ + np.sqrt(tau2_) * g.standard_normal((M, k)))))
    x = g.binomial(nn, p).astype(float)
    nf = nn.astype(float)
    _pad((x, nf), ks, k)
    return x, nf


def escalc_batch(
    measure: str,
    xi: Any,
    ni: Any,
    *,
    add: float | None = None,
    to: str = "only0",
) -> tuple[np.ndarray, np.ndarray]:
    """One-group effect sizes for whole ``(..., k)`` arrays of counts, vectorised.

    The same numbers as :func:`metaparity.escalc` (``measure``, ``xi``, ``ni``,
    ``add``, ``to``) applied to each row, without a Python loop; ``to="if0all"``
    acts per row (per meta-analysis).  NaN counts stay NaN (padding).

    Parameters
    ----------
    measure : {"PR", "PLN", "PLO", "PAS", "PFT"}
    xi, ni : array_like, shape (..., k)
        Events and study sizes.
    add, to
        Continuity correction as in :func:`metaparity.escalc` (``add`` defaults to
        1/2, or 0 for PAS and PFT; ``to`` in only0, all, if0all, none).

    Returns
    -------
    Y, V : ndarray, shape (..., k)

    Examples
    --------
    >>> import metaparity as mp
    >>> Y, V = escalc_batch("PLO", [[2, 16], [0, 5]], [[122, 78], [40, 50]])
    >>> ref = mp.escalc("PLO", xi=[0, 5], ni=[40, 50])
    >>> bool((Y[1] == ref["yi"].to_numpy()).all() and (V[1] == ref["vi"].to_numpy()).all())
    True
    """
    if measure not in _ONE_GROUP:
        raise ValueError(f"measure={measure!r}: escalc_batch handles {', '.join(_ONE_GROUP)}")
    if to not in ("only0", "all", "if0all", "none"):
        raise ValueError(f"to={to!r} is not one of only0, all, if0all, none")
    x = np.asarray(xi, dtype=float)
    n = np.asarray(ni, dtype=float)
    if x.shape != n.shape or x.ndim == 0:
        raise ValueError(f"xi and ni must be arrays of the same shape; got {x.shape} and {n.shape}")
    add = (0.0 if measure in ("PAS", "PFT") else 0.5) if add is None else float(add)
    if not np.isfinite(add) or add < 0:
        raise ValueError(f"add={add!r} must be a non-negative number")
    given = ~(np.isnan(x) | np.isnan(n))
    bad = given & ~((x >= 0) & (n > 0) & (x <= n) & np.isfinite(x) & np.isfinite(n))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"xi{list(idx)} = {x[idx]:g}, ni{list(idx)} = {n[idx]:g}: counts must be finite "
            "with 0 <= xi <= ni and ni > 0"
        )
    zero = given & ((x == 0) | (x == n))
    if to == "none" or add == 0:
        cc = np.zeros_like(zero)
    elif to == "all":
        cc = given
    elif to == "if0all":
        cc = given & zero.any(axis=-1, keepdims=True)
    else:
        cc = zero
    x = np.where(cc, x + add, x)
    n = np.where(cc, n + 2 * add, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        if measure == "PR":
            y, v = p, p * (1 - p) / n
        elif measure == "PLN":
            y, v = np.log(p), 1 / x - 1 / n
        elif measure == "PLO":
            y, v = np.log(p / (1 - p)), 1 / x + 1 / (n - x)
        elif measure == "PAS":
            y, v = np.arcsin(np.sqrt(p)), 1 / (4 * n)
        else:
            y = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
            v = 1 / (4 * n + 2)
    # metafor (and escalc): a yi or vi of +-Inf (0 or n events, no correction) becomes NA
    inf = np.isinf(y) | np.isinf(v)
    if inf.any():
        warnings.warn(
            f"{int(inf.sum())} studies have yi or vi = +-Inf (0 or all events without a "
            "continuity correction): set to NaN, as metafor's escalc does, so rma_batch "
            "leaves them out",
            UserWarning,
            stacklevel=2,
        )
        y, v = np.where(inf, np.nan, y), np.where(inf, np.nan, v)
    return y, v


# --------------------------------------------------------------------------- #
# coverage study
# --------------------------------------------------------------------------- #
#: (label, method, test) pairs compared by default in :func:`coverage_study`.
COVERAGE_DESIGNS: tuple[tuple[str, str, str], ...] = (
    ("DL", "DL", "z"),
    ("REML", "REML", "z"),
    ("DL + Knapp-Hartung", "DL", "knha"),
    ("REML + Knapp-Hartung", "REML", "knha"),
)


def coverage_study(
    M: int = 100_000,
    ks: tuple[int, ...] = (5, 10),
    tau2s: tuple[float, ...] = (0.0, 0.02, 0.1, 0.5),
    *,
    mu: float = 0.0,
    vi: Any = ("uniform", 0.01, 0.2),
    designs: tuple[tuple[str, str, str], ...] = COVERAGE_DESIGNS,
    level: float = 95,
    seed: Any = 2024,
    progress: Callable[[int, int, str], None] | None = None,
) -> pd.DataFrame:
    """Coverage of the confidence interval for ``mu`` by estimator and test.

    For each ``k`` in ``ks`` and ``tau2`` in ``tau2s`` simulates ``M`` meta-analyses
    with :func:`simulate_normal` (the same data for every design) and fits each
    ``(label, method, test)`` design with :func:`metaparity.rma_batch` (metafor:
    ``rma(yi, vi, method=, test=)`` row by row).

    Parameters
    ----------
    M : int
        Meta-analyses per (k, tau2) cell.
    ks, tau2s : tuple
        Numbers of studies and true heterogeneities of the grid.
    mu : float
        True pooled effect.
    vi : tuple or callable
        Sampling variances, as :func:`simulate_normal`.
    designs : tuple of (label, method, test)
        Estimator (metafor ``method=``) and test (``"z"``, ``"knha"`` ...) per design.
    level : float
        Confidence level in percent.
    seed : Any
        Seed of the ``SeedSequence`` that spawns one stream per cell.
    progress : callable, optional
        Called as ``progress(done, total, label)`` after each design.

    Returns
    -------
    pandas.DataFrame
        One row per (k, tau2, design): ``coverage`` (share of CIs containing ``mu``),
        its Monte-Carlo standard error ``mcse``, the median CI width, the share of
        fits with ``tau2 = 0`` and the number of rows that did not converge.

    Examples
    --------
    >>> tab = coverage_study(2000, ks=(5,), tau2s=(0.1,), seed=1)
    >>> tab["design"].tolist()
    ['DL', 'REML', 'DL + Knapp-Hartung', 'REML + Knapp-Hartung']
    >>> bool((tab["coverage"] > 0.8).all())
    True
    """
    seeds = np.random.SeedSequence(seed).spawn(len(ks) * len(tau2s))
    rows = []
    n_cells = len(ks) * len(tau2s) * len(designs)
    done = 0
    for i, k in enumerate(ks):
        for j, t2 in enumerate(tau2s):
            Y, V = simulate_normal(M, k, mu=mu, tau2=t2, vi=vi, seed=seeds[i * len(tau2s) + j])
            for label, method, test in designs:
                res = rma_batch(Y, V, method=check_choice("method", method, METHODS),
                                test=check_choice("test", test, TESTS), level=level)  # fmt: skip
                hit = (res.ci_lb <= mu) & (mu <= res.ci_ub)
                cov = float(hit.mean())
                rows.append(
                    dict(
                        design=label,
                        method=method,
                        test=test,
                        k=int(k),
                        tau2=float(t2),
                        M=int(M),
                        coverage=cov,
                        mcse=float(np.sqrt(cov * (1 - cov) / M)),
                        median_width=float(np.median(res.ci_ub - res.ci_lb)),
                        tau2_zero=float((res.tau2 == 0).mean()),
                        not_converged=int((~res.converged).sum()),
                    )
                )
                done += 1
                if progress is not None:
                    progress(done, n_cells, f"k={k} tau2={t2:g} {label}")
    return pd.DataFrame(rows)


def npz_path(path: str | os.PathLike[str]) -> str:
    """The file :func:`save_normal_npz` writes for ``path``: ``.npz`` appended when missing.

    >>> npz_path("sim"), npz_path("sim.npz")
    ('sim.npz', 'sim.npz')
    """
    p = os.fspath(path)
    return p if p.endswith(".npz") else p + ".npz"


def save_normal_npz(
    path: str | os.PathLike[str],
    M: int,
    k: int,
    *,
    progress: Callable[[int, int], None] | None = None,
    **kwargs: Any,
) -> tuple[int, int]:
    """Simulate with :func:`iter_normal` and write ``Y``, ``V`` to an ``.npz`` file.

    The same numbers as ``simulate_normal(M, k, **kwargs)``; ``progress(rows_done, M)``
    is called after each block (``metaparity simulate`` draws a progress bar with it).
    Both arrays are held in memory once (``16 * M * k`` bytes); for larger data
    write the blocks of :func:`iter_normal` to a chunked store instead.

    The file is written atomically (a temporary file, then renamed), so an error or
    Ctrl-C leaves no partial file.

    Parameters
    ----------
    path : str
        The ``.npz`` to write (``.npz`` is appended when missing, as :func:`numpy.savez`
        does).
    M, k : int
        Meta-analyses and studies per meta-analysis.
    progress : callable, optional
        Called as ``progress(rows_done, M)``.
    **kwargs
        ``mu``, ``tau2``, ``vi``, ``k_dist``, ``seed`` as :func:`simulate_normal`.

    Returns
    -------
    tuple of (int, int)
        ``(M, k)``, the shape of ``Y`` and ``V``.

    Examples
    --------
    >>> import os, tempfile
    >>> f = os.path.join(tempfile.mkdtemp(), "sim.npz")
    >>> save_normal_npz(f, 100, 4, seed=1)
    (100, 4)
    >>> with np.load(f) as z:
    ...     bool((z["Y"] == simulate_normal(100, 4, seed=1)[0]).all())
    True
    """
    M, k = _check_mk(M, k)
    path = npz_path(path)
    Y = np.empty((M, k))
    V = np.empty((M, k))
    done = 0
    for y, v in iter_normal(M, k, **kwargs):
        Y[done : done + len(y)], V[done : done + len(y)] = y, v
        done += len(y)
        if progress is not None:
            progress(done, M)
    atomic_write(path, lambda fh: np.savez(fh, Y=Y, V=V), mode="wb")
    return M, k
