"""Effect sizes and sampling variances: ``escalc`` (metafor names and defaults).

Equivalent to ``metafor::escalc(measure, ...)`` for the measures below, with
metafor's continuity-correction defaults (``add=1/2, to="only0"``) and
``vtype="LS"`` (large-sample variances).

========  =====================================  ====================================
measure   input                                   yi
========  =====================================  ====================================
PR        xi, ni (or xi, mi)                      proportion
PLN       xi, ni                                  log proportion
PLO       xi, ni                                  logit proportion
PAS       xi, ni                                  arcsine square-root proportion
PFT       xi, ni                                  Freeman-Tukey double arcsine
OR        ai, bi, ci, di (or ai, n1i, ci, n2i)    log odds ratio
RR        ai, bi, ci, di (or ai, n1i, ci, n2i)    log risk ratio
RD        ai, bi, ci, di (or ai, n1i, ci, n2i)    risk difference
MD        m1i, sd1i, n1i, m2i, sd2i, n2i          raw mean difference
SMD       m1i, sd1i, n1i, m2i, sd2i, n2i          Hedges' g (exact bias correction)
ROM       m1i, sd1i, n1i, m2i, sd2i, n2i          log ratio of means
ZCOR      ri, ni                                  Fisher's r-to-z
COR       ri, ni                                  raw correlation
GEN       yi with vi or sei                       given
========  =====================================  ====================================
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from metaparity._core.validation import as_float_array, column, study_label

__all__ = ["escalc", "MEASURES"]

MEASURES: tuple[str, ...] = (
    "PR",
    "PLN",
    "PLO",
    "PAS",
    "PFT",
    "OR",
    "RR",
    "RD",
    "MD",
    "SMD",
    "ROM",
    "ZCOR",
    "COR",
    "GEN",
)
_ONE_GROUP = ("PR", "PLN", "PLO", "PAS", "PFT")
_TWO_BY_TWO = ("OR", "RR", "RD")
_MEANS = ("MD", "SMD", "ROM")
_CORR = ("ZCOR", "COR")
_TO = ("only0", "all", "if0all", "none")


def _get(name: str, x: Any, data: pd.DataFrame | None) -> np.ndarray | None:
    if x is None:
        return None
    return np.atleast_1d(as_float_array(name, column(name, x, data))).ravel()


def _need(measure: str, **args: np.ndarray | None) -> None:
    missing = [k for k, v in args.items() if v is None]
    if missing:
        raise ValueError(f"measure={measure!r} needs {', '.join(missing)}")


def _check_counts(slab, **counts: np.ndarray) -> None:
    for name, arr in counts.items():
        for i, val in enumerate(arr):
            if np.isnan(val):
                continue
            if not np.isfinite(val) or val < 0:
                raise ValueError(
                    f"{study_label(i, slab)} has {name}={val:g}; counts must be finite and >= 0"
                )


def _check_events(slab, x: np.ndarray, n: np.ndarray, xname: str, nname: str) -> None:
    for i in range(x.size):
        if np.isnan(x[i]) or np.isnan(n[i]):
            continue
        if n[i] <= 0:
            raise ValueError(
                f"{study_label(i, slab)} has {nname}={n[i]:g}; a group needs at least one "
                "participant -- fix the count or drop the study"
            )
        if x[i] > n[i]:
            raise ValueError(
                f"{study_label(i, slab)} has {xname}={x[i]:g} > {nname}={n[i]:g}; events cannot "
                "exceed the group size -- check the extraction"
            )


def _cc_mask(zero: np.ndarray, to: str, add: float) -> np.ndarray:
    """Which studies get the continuity correction ``add``."""
    if to == "none" or add == 0:
        return np.zeros_like(zero)
    if to == "all":
        return np.ones_like(zero)
    if to == "if0all":
        return np.full_like(zero, bool(zero.any()))
    return zero


def escalc(
    measure: str,
    ai: Any = None,
    bi: Any = None,
    ci: Any = None,
    di: Any = None,
    n1i: Any = None,
    n2i: Any = None,
    m1i: Any = None,
    m2i: Any = None,
    sd1i: Any = None,
    sd2i: Any = None,
    xi: Any = None,
    mi: Any = None,
    ni: Any = None,
    ri: Any = None,
    yi: Any = None,
    vi: Any = None,
    sei: Any = None,
    *,
    data: pd.DataFrame | None = None,
    slab: Any = None,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
    vtype: str = "LS",
) -> pd.DataFrame:
    """Compute effect sizes ``yi`` and sampling variances ``vi``.

    Equivalent to ``metafor::escalc(measure, ..., add=1/2, to="only0", drop00=FALSE)``.
    As in metafor, leaving ``add`` unset means 1/2, except for PAS and PFT, where
    it means 0 (an explicit ``add`` applies to them as well).
    Arguments may be arrays or names of columns in ``data``.  The result is a
    DataFrame with the columns of ``data`` (if given) followed by ``yi`` and
    ``vi``; ``attrs["measure"]`` and ``attrs["ni"]`` (total sample sizes) are set
    so that :func:`metaparity.rma` and ``predict()`` can back-transform.

    Examples
    --------
    >>> escalc("PR", xi=[2, 16], ni=[122, 78]).round(4)
           yi      vi
    0  0.0164  0.0001
    1  0.2051  0.0021
    """
    if not isinstance(measure, str) or measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose one of: {', '.join(MEASURES)}")
    if to not in _TO:
        raise ValueError(f"to={to!r} is not one of {', '.join(_TO)}")
    if vtype != "LS":
        raise ValueError(f"vtype={vtype!r} is not supported yet; only 'LS' (metafor's default)")
    # metafor: add=1/2 by default, but a *missing* add means 0 for PAS and PFT
    # (variance-stabilised; defined at 0 and n); given explicitly, it applies to them too
    add = (0.0 if measure in ("PAS", "PFT") else 0.5) if add is None else float(add)
    if not np.isfinite(add) or add < 0:
        raise ValueError(f"add={add!r} must be a non-negative number (metafor's default is 0.5)")

    g = {
        n: _get(n, x, data)
        for n, x in dict(
            ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i, m1i=m1i, m2i=m2i, sd1i=sd1i,
            sd2i=sd2i, xi=xi, mi=mi, ni=ni, ri=ri, yi=yi, vi=vi, sei=sei,
        ).items()
    }  # fmt: skip
    given = {n: a for n, a in g.items() if a is not None}
    lengths = {n: a.size for n, a in given.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            "arguments differ in length ("
            + ", ".join(f"{n} has {s}" for n, s in lengths.items())
            + "); give one value per study"
        )
    slab = column("slab", slab, data)
    labels = None if slab is None else list(slab)
    k = next(iter(lengths.values())) if lengths else 0
    if k == 0:
        raise ValueError(f"no studies given for measure={measure!r} (k = 0)")

    with np.errstate(divide="ignore", invalid="ignore"):
        if measure in _ONE_GROUP:
            y_, v_, ntot = _one_group(measure, g, labels, add, to)
        elif measure in _TWO_BY_TWO:
            y_, v_, ntot = _two_by_two(measure, g, labels, add, to, drop00)
        elif measure in _MEANS:
            y_, v_, ntot = _means(measure, g, labels)
        elif measure in _CORR:
            y_, v_, ntot = _corr(measure, g, labels)
        else:
            y_, v_, ntot = _generic(g, labels)

    out = pd.DataFrame(index=data.index if data is not None else None)
    if data is not None:
        out = data.copy()
        if len(out) != k:
            raise ValueError(f"data has {len(out)} rows but the arguments have {k} values")
    out["yi"] = y_
    out["vi"] = v_
    out.attrs["measure"] = measure
    out.attrs["ni"] = ntot
    if labels is not None:
        out.attrs["slab"] = labels
    return out


def _one_group(measure, g, slab, add, to):
    x, n, mm = g["xi"], g["ni"], g["mi"]
    if x is None or (n is None and mm is None):
        raise ValueError(f"measure={measure!r} needs xi and ni (or xi and mi)")
    if n is None:
        n = x + mm
    _check_counts(slab, xi=x, ni=n)
    _check_events(slab, x, n, "xi", "ni")
    ntot = n.copy()
    # continuity correction (add = 0 for PAS/PFT unless given: see escalc)
    cc = _cc_mask((x == 0) | (x == n), to, add)
    x = np.where(cc, x + add, x)
    n = np.where(cc, n + 2 * add, n)
    p = x / n
    if measure == "PR":
        return p, p * (1 - p) / n, ntot
    if measure == "PLN":
        return np.log(p), 1 / x - 1 / n, ntot
    if measure == "PLO":
        return np.log(p / (1 - p)), 1 / x + 1 / (n - x), ntot
    if measure == "PAS":
        return np.arcsin(np.sqrt(p)), 1 / (4 * n), ntot
    # PFT: Freeman-Tukey double arcsine
    yi = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
    return yi, 1 / (4 * n + 2), ntot


def _two_by_two(measure, g, slab, add, to, drop00):
    a, b, c, d = g["ai"], g["bi"], g["ci"], g["di"]
    n1, n2 = g["n1i"], g["n2i"]
    if a is None or c is None:
        raise ValueError(f"measure={measure!r} needs ai and ci, with bi, di or n1i, n2i")
    if b is None:
        _need(measure, n1i=n1)
        _check_events(slab, a, n1, "ai", "n1i")
        b = n1 - a
    if d is None:
        _need(measure, n2i=n2)
        _check_events(slab, c, n2, "ci", "n2i")
        d = n2 - c
    _check_counts(slab, ai=a, bi=b, ci=c, di=d)
    for i in range(a.size):
        if a[i] + b[i] == 0 or c[i] + d[i] == 0:
            raise ValueError(
                f"{study_label(i, slab)} has an empty group (n1i={a[i] + b[i]:g}, "
                f"n2i={c[i] + d[i]:g}); each group needs at least one participant"
            )
    ntot = a + b + c + d
    both = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    cc = _cc_mask(zero, to, add)
    if drop00:
        cc = cc & ~both
    a, b, c, d = (np.where(cc, z + add, z) for z in (a, b, c, d))
    n1, n2 = a + b, c + d
    if measure == "OR":
        yi = np.log(a * d / (b * c))
        vi = 1 / a + 1 / b + 1 / c + 1 / d
    elif measure == "RR":
        yi = np.log((a / n1) / (c / n2))
        vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
    else:
        p1, p2 = a / n1, c / n2
        yi = p1 - p2
        vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    if drop00:
        yi = np.where(both, np.nan, yi)
        vi = np.where(both, np.nan, vi)
    return yi, vi, ntot


def _means(measure, g, slab):
    m1, m2, s1, s2, n1, n2 = (g[n] for n in ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"))
    _need(measure, m1i=m1, sd1i=s1, n1i=n1, m2i=m2, sd2i=s2, n2i=n2)
    for name, arr in (("sd1i", s1), ("sd2i", s2)):
        for i, val in enumerate(arr):
            if not np.isnan(val) and val < 0:
                raise ValueError(f"{study_label(i, slab)} has {name}={val:g}; SDs must be >= 0")
    for name, arr in (("n1i", n1), ("n2i", n2)):
        for i, val in enumerate(arr):
            if not np.isnan(val) and val < 1:
                raise ValueError(f"{study_label(i, slab)} has {name}={val:g}; a group needs n >= 1")
    ntot = n1 + n2
    if measure == "MD":
        return m1 - m2, s1**2 / n1 + s2**2 / n2, ntot
    if measure == "ROM":
        for name, arr in (("m1i", m1), ("m2i", m2)):
            for i, val in enumerate(arr):
                if not np.isnan(val) and val <= 0:
                    raise ValueError(
                        f"{study_label(i, slab)} has {name}={val:g}; the log ratio of means "
                        "needs positive means"
                    )
        return np.log(m1 / m2), s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2), ntot
    mdf = n1 + n2 - 2
    for i, val in enumerate(mdf):
        if not np.isnan(val) and val < 2:
            raise ValueError(
                f"{study_label(i, slab)} has n1i + n2i = {val + 2:g}; SMD needs n1i + n2i >= 4"
            )
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / mdf)
    cm = np.exp(special.gammaln(mdf / 2) - 0.5 * np.log(mdf / 2) - special.gammaln((mdf - 1) / 2))
    yi = cm * (m1 - m2) / sp
    vi = 1 / n1 + 1 / n2 + yi**2 / (2 * ntot)
    return yi, vi, ntot


def _corr(measure, g, slab):
    r, n = g["ri"], g["ni"]
    _need(measure, ri=r, ni=n)
    for i in range(r.size):
        if not np.isnan(r[i]) and not -1 <= r[i] <= 1:
            raise ValueError(f"{study_label(i, slab)} has ri={r[i]:g}; correlations lie in [-1, 1]")
        if measure == "ZCOR" and not np.isnan(n[i]) and n[i] <= 3:
            raise ValueError(f"{study_label(i, slab)} has ni={n[i]:g}; ZCOR needs ni > 3")
        if measure == "COR" and not np.isnan(n[i]) and n[i] <= 1:
            raise ValueError(f"{study_label(i, slab)} has ni={n[i]:g}; COR needs ni > 1")
    if measure == "ZCOR":
        return np.arctanh(r), 1 / (n - 3), n.copy()
    return r.copy(), (1 - r**2) ** 2 / (n - 1), n.copy()


def _generic(g, slab):
    y, v, s = g["yi"], g["vi"], g["sei"]
    if y is None or (v is None and s is None):
        raise ValueError("measure='GEN' needs yi and vi (or sei)")
    if v is None:
        v = s * s
    return y.copy(), v.copy(), None
