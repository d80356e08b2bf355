"""``vcalc()``: the sampling covariance matrix V of dependent estimates (``metafor::vcalc``).

Rows in the same cluster (and subgroup) may be dependent; rows in different clusters are
independent, so V is block-diagonal in the clusters (kept in the data's row order). Within a
cluster, the correlation of the sampling errors of estimates i and j is a product of two parts:

* the **construct** part: 1 for the same ``type`` and ``obs``; the within-construct correlation
  ``rho[0][obs_i, obs_j]`` for the same type and different obs; the between-construct correlation
  ``rho[1][type_i, type_j]`` for different types;
* the **design** part: each estimate is a contrast of two condition outcomes, ``(grp1, time1)``
  with weight ``w1`` minus ``(grp2, time2)`` with weight ``w2``. Condition outcomes have variance
  ``1 / w``; two of them are correlated ``phi ** |t - t'|`` when they are measured in the same
  group and independent otherwise. The design part is the correlation of the two contrasts that
  this implies (1 when no groups, times or weights are given).

With ``rvars``, the correlation matrix of each cluster is read from columns of ``data`` (the
first ``k_i`` columns for a cluster of ``k_i`` rows, lower triangle) instead. Finally
``V = diag(sqrt(vi)) R diag(sqrt(vi))``.

Version difference mirrored (:data:`metaparity._core.mfversion.CHANGES`, ``vcalc_names``):
before metafor 4.0, numeric ``obs``/``type`` values were used as positions in a ``rho`` matrix
rather than as its row/column names.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse as sp

from metaparity._core.mfversion import since
from metaparity._core.validation import as_float_array, column

__all__ = ["vcalc", "blsplit", "nearpd_corr"]

_DESIGN_ARGS = ("type", "obs", "grp1", "grp2", "time1", "time2", "w1", "w2", "rho", "phi")


def vcalc(
    vi: Any, cluster: Any, subgroup: Any = None, obs: Any = None, type: Any = None,
    time1: Any = None, time2: Any = None, grp1: Any = None, grp2: Any = None,
    w1: Any = None, w2: Any = None, data: pd.DataFrame | None = None, rho: Any = None,
    phi: float | None = None, rvars: Sequence[str] | None = None, checkpd: bool = True,
    nearpd: bool = False, sparse: bool = False,
) -> Any:  # fmt: skip
    """Construct or approximate V, as ``metafor::vcalc``.

    Parameters
    ----------
    vi : array-like, str or float
        Sampling variances (a column name of ``data``, or one number for every row).
    cluster : array-like or str
        Clustering variable (e.g. study): rows of different clusters are independent.
    subgroup : array-like or str, optional
        Independent subgroups within clusters.
    obs, type : array-like or str, optional
        Estimates of the same construct (``obs``) and types of construct (``type``); need ``rho``.
    time1, time2 : array-like or str, optional
        Numeric time points of the (first, second) condition; need ``phi``.
    grp1, grp2 : array-like or str, optional
        Groups of the first and second condition of a contrast.
    w1, w2 : array-like or str, optional
        Group sizes (inverse-variance weights) of the two conditions.
    data : DataFrame, optional
        Where column names are looked up.
    rho : float, pair, labelled matrix or list of two, optional
        Correlation(s): with only ``obs`` or only ``type`` a scalar or a matrix (a DataFrame whose
        index and columns are the obs/type values); with both, ``[within, between]`` (each a
        scalar or such a matrix).
    phi : float, optional
        Autocorrelation for estimates one time unit apart, in [-1, 1].
    rvars : list of str, optional
        Columns of ``data`` holding each cluster's correlation matrix (lower triangle).
    checkpd : bool
        Warn about clusters whose correlation matrix is not positive definite.
    nearpd : bool
        Replace such matrices by the nearest correlation matrix (Higham 2002, as
        ``Matrix::nearPD(corr=TRUE)``).
    sparse : bool
        Return a ``scipy.sparse.csr_matrix`` instead of a dense array.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        The k x k matrix V in the row order of the input.
    """
    vals = _read(vi, cluster, subgroup, data)
    vi_a, clusters = vals
    k = vi_a.size
    if rvars is None:
        R = _design_R(k, clusters, data, rho, phi, obs=obs, type=type, time1=time1,
                      time2=time2, grp1=grp1, grp2=grp2, w1=w1, w2=w2)  # fmt: skip
    else:
        given = {"type": type, "obs": obs, "grp1": grp1, "grp2": grp2, "time1": time1,
                 "time2": time2, "w1": w1, "w2": w2, "rho": rho, "phi": phi}  # fmt: skip
        ignored = [n for n in _DESIGN_ARGS if given[n] is not None]
        if ignored:
            warnings.warn(f"vcalc: argument(s) {', '.join(ignored)} ignored when rvars= is "
                          "given (as metafor)", UserWarning, stacklevel=2)  # fmt: skip
        R = _rvars_R(k, clusters, data, rvars)
    if checkpd or nearpd:
        _check_pd(R, clusters, nearpd)
    s = np.sqrt(vi_a)
    V = R * np.outer(s, s)
    if sparse:
        return sp.csr_matrix(V)
    return V


# -- inputs --------------------------------------------------------------------------------


def _read(vi: Any, cluster: Any, subgroup: Any, data: Any) -> tuple[np.ndarray, list[Any]]:
    if cluster is None:
        raise ValueError("vcalc: give cluster= (e.g. the study identifier)")
    cl = np.asarray(column("cluster", cluster, data), dtype=object).ravel()
    k = cl.size
    v = as_float_array("vi", column("vi", vi, data)).ravel()
    if v.size == 1 and k > 1:
        v = np.full(k, float(v[0]))
    if v.size != k:
        raise ValueError(f"vcalc: cluster has {k} values but vi has {v.size}; give one per row")
    if k == 1:
        raise ValueError("vcalc: there is only one row (k = 1); V is then just vi")
    _no_missing("cluster", cl)
    bad = np.flatnonzero(~np.isfinite(v) | (v < 0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"vcalc: vi in row {i + 1} is {float(v[i])!r}; sampling variances must be "
                         "finite and >= 0")  # fmt: skip
    keys: list[Any] = list(cl)
    if subgroup is not None:
        sg = np.asarray(column("subgroup", subgroup, data), dtype=object).ravel()
        _length("subgroup", sg, k)
        _no_missing("subgroup", sg)
        keys = list(zip(cl, sg, strict=True))
    return v, keys


def _no_missing(name: str, x: np.ndarray) -> None:
    miss = pd.isna(pd.Series(x, dtype=object)).to_numpy()
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise ValueError(f"vcalc: {name} is missing in row {i + 1}; no missing values are "
                         f"allowed in {name} (drop or fill those rows)")  # fmt: skip


def _length(name: str, x: np.ndarray, k: int) -> None:
    if x.size != k:
        raise ValueError(f"vcalc: {name} has {x.size} values but vi has {k}; give one per row")


def _labels(name: str, x: Any, data: Any, k: int, default: Any) -> np.ndarray:
    if x is None:
        return np.full(k, default, dtype=object)
    arr = column(name, x, data)
    out = np.asarray(arr, dtype=object).ravel()
    _length(name, out, k)
    _no_missing(name, out)
    return out


def _numbers(name: str, x: Any, data: Any, k: int, default: np.ndarray) -> np.ndarray:
    if x is None:
        return default
    out = as_float_array(name, column(name, x, data)).ravel()
    _length(name, out, k)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"vcalc: {name} in row {i + 1} is {float(out[i])!r}; give a finite number "
                         "(no missing values are allowed)")  # fmt: skip
    return out


# -- the correlation matrix from the design ------------------------------------------------


def _design_R(k: int, clusters: list[Any], data: Any, rho: Any, phi: float | None,
              **a: Any) -> np.ndarray:  # fmt: skip
    if a["type"] is not None and rho is None:
        raise ValueError("vcalc: type= is given, so give rho= (the between-construct correlation)")
    if a["obs"] is not None and rho is None:
        raise ValueError("vcalc: obs= is given, so give rho= (the within-construct correlation)")
    if a["grp2"] is not None and a["grp1"] is None:
        raise ValueError("vcalc: give only grp1, both grp1 and grp2, or neither")
    if a["time2"] is not None and a["time1"] is None:
        raise ValueError("vcalc: give only time1, both time1 and time2, or neither")
    if a["time2"] is not None and a["grp2"] is None:
        raise ValueError("vcalc: time2= is given, so give grp2= too")
    if a["w2"] is not None and a["w1"] is None:
        raise ValueError("vcalc: give only w1, both w1 and w2, or neither")
    if a["w2"] is not None and a["grp2"] is None:
        raise ValueError("vcalc: w2= is given, so give grp2= too")
    timed = a["time1"] is not None or a["time2"] is not None
    if timed and phi is None:
        raise ValueError("vcalc: time1=/time2= are given, so give phi= (the autocorrelation)")
    ph = float(phi) if timed and phi is not None else 1.0
    if not abs(ph) <= 1:
        raise ValueError(f"vcalc: phi = {phi!r}; it must be in [-1, 1]")

    typ = _labels("type", a["type"], data, k, 1)
    obs = _labels("obs", a["obs"], data, k, 1)
    g1 = _labels("grp1", a["grp1"], data, k, 1)
    g2 = _labels("grp2", a["grp2"], data, k, 2)
    t1 = _numbers("time1", a["time1"], data, k, np.ones(k))
    t2 = _numbers("time2", a["time2"], data, k, t1)
    w1 = _numbers("w1", a["w1"], data, k, np.ones(k))
    w2 = _numbers("w2", a["w2"], data, k, w1)
    for name, w in (("w1", w1), ("w2", w2)):
        bad = np.flatnonzero(w <= 0)
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"vcalc: {name} in row {i + 1} is {float(w[i])!r}; group sizes (weights) "
                             "must be > 0")  # fmt: skip

    within, between = _rho_parts(rho, a["obs"] is not None, a["type"] is not None)
    c_obs = _construct(within, obs, "obs")
    c_typ = _construct(between, typ, "type")
    same_t = typ[:, None] == typ[None, :]
    same_o = obs[:, None] == obs[None, :]
    construct = np.where(same_t, np.where(same_o, 1.0, c_obs), c_typ)

    def cor(ga: np.ndarray, ta: np.ndarray, gb: np.ndarray, tb: np.ndarray) -> np.ndarray:
        dt = np.abs(ta[:, None] - tb[None, :])
        ac = np.where(dt == 0, 1.0, ph ** np.where(dt == 0, 1.0, dt))
        return np.where(ga[:, None] == gb[None, :], ac, 0.0)

    s1, s2 = 1 / np.sqrt(w1), 1 / np.sqrt(w2)
    cov = (cor(g1, t1, g1, t1) * np.outer(s1, s1) - cor(g1, t1, g2, t2) * np.outer(s1, s2)
           - cor(g2, t2, g1, t1) * np.outer(s2, s1) + cor(g2, t2, g2, t2) * np.outer(s2, s2))  # fmt: skip
    var = np.diag(cov).copy()
    bad = np.flatnonzero(var <= 1e-14 * (1 / w1 + 1 / w2))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"vcalc: row {i + 1} contrasts a condition with itself (grp1 = grp2 = {g1[i]!r}, "
            f"time1 = time2 = {t1[i]!r}{' with phi = 1' if ph == 1 and t1[i] != t2[i] else ''});"
            " check grp1/grp2 and time1/time2 for that row"
        )
    design = cov / np.sqrt(np.outer(var, var))
    same_c = _same_cluster(clusters)
    _outside(construct, same_c, obs, typ)
    R = np.where(same_c, construct * design, 0.0)
    R = np.tril(R, -1) + np.tril(R, -1).T  # the lower triangle, mirrored (exactly symmetric)
    np.fill_diagonal(R, 1.0)
    return R


def _same_cluster(clusters: list[Any]) -> np.ndarray:
    codes = pd.factorize(pd.Series(clusters, dtype=object))[0]
    return codes[:, None] == codes[None, :]


def _rho_parts(rho: Any, has_obs: bool, has_type: bool) -> tuple[Any, Any]:
    """(within-construct, between-construct) specification from ``rho`` (metafor's rules)."""
    if not (has_obs or has_type):
        return 0.0, 0.0
    is_pair = isinstance(rho, list | tuple) or (
        isinstance(rho, np.ndarray) and rho.ndim == 1 and rho.size == 2
    )
    if has_obs and has_type:
        if not is_pair or len(rho) != 2:
            raise ValueError("vcalc: with both type= and obs=, give rho=[within, between] (the "
                             "within- and between-construct correlations)")  # fmt: skip
        return rho[0], rho[1]
    if isinstance(rho, list | tuple):
        if len(rho) != 1:
            raise ValueError(f"vcalc: with only {'obs' if has_obs else 'type'}=, rho must be one "
                             "scalar or one matrix")  # fmt: skip
        rho = rho[0]
    if np.ndim(rho) == 1:
        raise ValueError(f"vcalc: with only {'obs' if has_obs else 'type'}=, rho must be one "
                         "scalar or one matrix")  # fmt: skip
    return (rho, 0.0) if has_obs else (0.0, rho)


def _key(v: Any) -> str:
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _construct(spec: Any, labels: np.ndarray, name: str) -> np.ndarray:
    """Matrix of ``spec[labels_i, labels_j]`` for a scalar or a labelled correlation matrix
    (NaN where metafor < 4.0 would index outside the matrix)."""
    if np.ndim(spec) == 0:
        r = float(spec)
        if not abs(r) <= 1:
            raise ValueError(f"vcalc: rho for {name} is {spec!r}; correlations must be in [-1, 1]")
        n = len(pd.unique(pd.Series(labels, dtype=object)))
        M = np.full((n, n), r)
        np.fill_diagonal(M, 1.0)
        index = {_key(v): i for i, v in enumerate(pd.unique(pd.Series(labels, dtype=object)))}
    else:
        if not isinstance(spec, pd.DataFrame):
            raise ValueError(f"vcalc: a rho matrix for {name} needs its {name} values as row and "
                             "column names: give a pandas DataFrame with them as index and "
                             "columns")  # fmt: skip
        M = spec.to_numpy(dtype=float)
        if M.ndim != 2 or M.shape[0] != M.shape[1]:
            raise ValueError(f"vcalc: the rho matrix for {name} must be square (is {M.shape})")
        if not np.all(np.abs(M) <= 1):
            raise ValueError(f"vcalc: the rho matrix for {name} has entries outside [-1, 1] or "
                             "missing; give a correlation for every pair")  # fmt: skip
        index = {_key(v): i for i, v in enumerate(spec.index)}
        missing = [v for v in pd.unique(pd.Series(labels, dtype=object)) if _key(v) not in index]
        if missing:
            raise ValueError(f"vcalc: {name} value(s) {', '.join(map(repr, missing))} have no "
                             f"row/column in the rho matrix (its names: "
                             f"{', '.join(map(str, spec.index))})")  # fmt: skip
    if not since("vcalc_names") and _numeric(labels):
        pos = np.trunc(np.asarray(labels, dtype=float)).astype(int) - 1
        inside = (pos >= 0) & (pos < M.shape[0])
        out = np.full((labels.size, labels.size), np.nan)
        ok = np.ix_(inside, inside)
        out[ok] = M[np.ix_(pos[inside], pos[inside])]
        return out
    pos = np.array([index[_key(v)] for v in labels])
    return M[np.ix_(pos, pos)]


def _numeric(labels: np.ndarray) -> bool:
    return all(isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
               for v in labels)  # fmt: skip


def _outside(construct: np.ndarray, same_c: np.ndarray, obs: np.ndarray, typ: np.ndarray) -> None:
    """metafor < 4.0 took numeric obs/type values as 1-based positions in the rho matrix."""
    bad = np.argwhere(np.isnan(construct) & same_c)
    if bad.size:
        i, j = (int(t) for t in bad[0])
        raise ValueError(
            f"vcalc: rows {i + 1} and {j + 1} (obs {obs[i]!r}/{obs[j]!r}, type {typ[i]!r}/"
            f"{typ[j]!r}): the selected metafor (< 4.0) uses numeric obs/type values as "
            "positions in the rho matrix, and these fall outside it (metafor errors: subscript "
            "out of bounds); renumber obs/type from 1 or select metafor >= 4.0"
        )


# -- rvars ------------------------------------------------------------------------------------


def _rvars_R(k: int, clusters: list[Any], data: Any, rvars: Sequence[str]) -> np.ndarray:
    if data is None:
        raise ValueError("vcalc: rvars= names columns, so give data=")
    names = [rvars] if isinstance(rvars, str) else list(rvars)
    missing = [n for n in names if n not in data.columns]
    if missing:
        raise ValueError(f"vcalc: rvars column(s) {', '.join(missing)} are not in data")
    vals = np.column_stack([as_float_array(n, data[n].to_numpy()) for n in names])
    codes, uniq = pd.factorize(pd.Series(clusters, dtype=object))
    largest = int(np.max(np.bincount(np.asarray(codes, dtype=int))))
    if largest > len(names):
        raise ValueError(f"vcalc: {len(names)} rvars columns are given, but a cluster has "
                         f"{largest} rows; give one column per row of the largest cluster")  # fmt: skip
    if largest != len(names):
        raise ValueError(f"vcalc: {len(names)} rvars columns are given, but no cluster has "
                         "that many rows; give one column per row of the largest cluster")  # fmt: skip
    R = np.zeros((k, k))
    for c, lab in enumerate(uniq):
        rows = np.flatnonzero(codes == c)
        if rows.size > 1 and np.any(np.diff(rows) != 1):
            raise ValueError(f"vcalc: with rvars=, the rows of cluster {lab!r} must be "
                             f"consecutive (they are rows {', '.join(str(r + 1) for r in rows)});"
                             " sort the data by cluster")  # fmt: skip
        block = vals[np.ix_(rows, np.arange(rows.size))]
        low = np.tril(block)
        if np.isnan(block[np.tril_indices(rows.size)]).any():
            warnings.warn(f"vcalc: there are missing values in rvars for cluster {lab!r}",
                          UserWarning, stacklevel=3)  # fmt: skip
        full = low + np.tril(block, -1).T
        R[np.ix_(rows, rows)] = full
    return R


# -- positive definiteness ------------------------------------------------------------------


def _check_pd(R: np.ndarray, clusters: list[Any], nearpd: bool) -> None:
    codes, uniq = pd.factorize(pd.Series(clusters, dtype=object))
    for c, lab in enumerate(uniq):
        rows = np.flatnonzero(codes == c)
        Ri = R[np.ix_(rows, rows)]
        if np.isnan(Ri).any() or np.linalg.eigvalsh(Ri).min() > np.finfo(float).eps:
            continue
        if not nearpd:
            warnings.warn(f"vcalc: the var-cov matrix appears to be not positive definite in "
                          f"cluster {lab!r}", UserWarning, stacklevel=3)  # fmt: skip
            continue
        Ri = nearpd_corr(Ri)
        if np.linalg.eigvalsh(Ri).min() <= np.finfo(float).eps:
            warnings.warn(f"vcalc: the var-cov matrix still appears to be not positive definite "
                          f"in cluster {lab!r} even after nearpd", UserWarning, stacklevel=3)  # fmt: skip
        R[np.ix_(rows, rows)] = Ri


def nearpd_corr(x: np.ndarray, eig_tol: float = 1e-6, conv_tol: float = 1e-7,
                posd_tol: float = 1e-8, maxit: int = 100) -> np.ndarray:  # fmt: skip
    """The nearest correlation matrix (Higham 2002: alternating projections onto the PSD cone
    and the unit-diagonal matrices with Dykstra's correction, then eigenvalues raised to
    ``posd_tol`` times the largest), with the defaults of ``Matrix::nearPD(corr=TRUE)``."""
    X = (np.asarray(x, dtype=float) + np.asarray(x, dtype=float).T) / 2
    correction = np.zeros_like(X)
    for _ in range(maxit):
        Y = X
        Rk = Y - correction
        d, Q = np.linalg.eigh(Rk)
        keep = d > eig_tol * d.max()
        if not keep.any():
            raise ValueError("nearpd: the matrix seems negative semi-definite")
        X = (Q[:, keep] * d[keep]) @ Q[:, keep].T
        correction = X - Rk
        np.fill_diagonal(X, 1.0)
        if np.abs(Y - X).sum(axis=1).max() / np.abs(Y).sum(axis=1).max() <= conv_tol:
            break
    else:
        warnings.warn(f"nearpd did not converge in {maxit} iterations", UserWarning, stacklevel=2)
    d, Q = np.linalg.eigh(X)
    eps = posd_tol * abs(d.max())
    if d.min() < eps:
        diag0 = np.diag(X).copy()
        X = (Q * np.maximum(d, eps)) @ Q.T
        D = np.sqrt(np.maximum(eps, diag0) / np.diag(X))
        X = D[:, None] * X * D[None, :]
    X = np.tril(X, -1) + np.tril(X, -1).T
    np.fill_diagonal(X, 1.0)
    return X


def blsplit(V: Any, cluster: Any, data: pd.DataFrame | None = None) -> dict[Any, np.ndarray]:
    """The blocks of a block-diagonal V, one per cluster (``metafor::blsplit``).

    Parameters
    ----------
    V : array-like or scipy sparse matrix
        A k x k matrix (e.g. from :func:`vcalc`).
    cluster : array-like or str
        The clustering variable (or a column name of ``data``).
    data : DataFrame, optional
        Where ``cluster`` is looked up.

    Returns
    -------
    dict
        Cluster value -> its block of V, in the order the clusters first appear.
    """
    cl = np.asarray(column("cluster", cluster, data), dtype=object).ravel()
    M = V.toarray() if hasattr(V, "toarray") else np.asarray(V, dtype=float)
    codes, uniq = pd.factorize(pd.Series(cl, dtype=object))
    return {lab: M[np.ix_(codes == c, codes == c)] for c, lab in enumerate(uniq)}
