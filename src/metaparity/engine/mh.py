"""Mantel-Haenszel pooling, vectorised over sets of studies (``metafor::rma.mh``).

Every function takes arrays shaped ``(..., k)``: studies on the last axis, one
meta-analysis per leading index.  A study is *absent* (padding of a ragged set, or a
table metafor drops) where ``present`` is False; it then contributes nothing to any sum.

Pooled estimates (group 1 versus group 2; ``N = n1 + n2``, ``T = t1 + t2``):

* OR: ``psi = R / S`` with ``R = sum a d / N``, ``S = sum b c / N`` (Mantel & Haenszel
  1959); the variance of ``log psi`` is Robins, Breslow & Greenland's (1986),
  ``sum P R / 2R^2 + sum (P S + Q R) / 2RS + sum Q S / 2S^2`` with
  ``P = (a + d)/N``, ``Q = (b + c)/N`` per study.
* RR: ``R / S`` with ``R = sum a n2 / N``, ``S = sum c n1 / N``; the variance of
  ``log RR`` is Greenland & Robins' (1985), ``sum (n1 n2 (a + c)/N^2 - a c / N) / (R S)``.
* RD: ``sum (a n2 - c n1)/N / sum n1 n2 / N`` with Sato's (1989) variance, the one
  metafor uses (Greenland & Robins' 1985 estimator is not consistent in sparse data).
* IRR: ``R / S`` with ``R = sum x1 t2 / T``, ``S = sum x2 t1 / T``; variance of the log
  ``sum t1 t2 (x1 + x2) / T^2 / (R S)`` (Greenland & Robins 1985).
* IRD: ``sum (x1 t2 - x2 t1)/T / sum t1 t2 / T`` with variance
  ``sum (t1 t2 / T)^2 (x1 / t1^2 + x2 / t2^2) / (sum t1 t2 / T)^2`` (Greenland & Robins 1985).

Tests (metafor's names): ``CO`` Cochran's and ``MH`` the Cochran-Mantel-Haenszel
statistic of no association (OR; ``MH`` also for IRR), with the continuity correction
1/2 when ``correct``; ``BD`` Breslow & Day's (1980) and ``TA`` Tarone's (1985)
corrected test of a common odds ratio, over the ``k_pos`` tables whose expected cell
under ``psi`` is positive and that have events and non-events.  Undefined values
(metafor's NA) are NaN, under metafor's conditions (e.g. ``R = 0`` or ``S = 0``).

:func:`q_about` is Cochran's Q of the escalc'd ``yi``/``vi`` about the pooled value,
with I^2 and H^2 as metafor reports them for ``rma.mh``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special, stats

__all__ = ["MH_FIELDS", "mh_tables", "mh_person_time", "q_about", "TABLE_MEASURES", "IR_MEASURES"]

TABLE_MEASURES = ("OR", "RR", "RD")
IR_MEASURES = ("IRR", "IRD")
#: the per-fit fields the engine returns (metafor's names, ``.`` as ``_``)
MH_FIELDS: tuple[str, ...] = tuple(
    "b se zval pval ci_lb ci_ub CO COp MH MHp BD BDp TA TAp k_pos".split()
)


def _sum(x: np.ndarray, present: np.ndarray) -> np.ndarray:
    return np.sum(np.where(present, x, 0.0), axis=-1)


def _chi2_sf(x: np.ndarray, df: Any) -> np.ndarray:
    """Upper tail of chi^2 with ``df`` (NaN for NaN); for 1 df ``erfc(sqrt(x/2))``, the same
    function, 30x faster than the incomplete gamma."""
    with np.errstate(invalid="ignore"):
        if np.isscalar(df) and df == 1:
            return np.asarray(special.erfc(np.sqrt(np.asarray(x, dtype=float) / 2)), dtype=float)
        return np.asarray(special.chdtrc(df, x), dtype=float)


def _wald(b: np.ndarray, se: np.ndarray, level: float) -> dict[str, np.ndarray]:
    crit = stats.norm.isf((1 - level / 100) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = b / se
        p = 2 * stats.norm.sf(np.abs(z))
    return {"b": b, "se": se, "zval": z, "pval": p, "ci_lb": b - crit * se, "ci_ub": b + crit * se}


def _ratio(
    r: np.ndarray, s: np.ndarray, var_num: np.ndarray, undefined: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """log(R/S) and its SE from ``var = var_num``; NaN where ``undefined``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.where(undefined, np.nan, np.log(r / s))
        se = np.where(undefined, np.nan, np.sqrt(var_num))
    return b, se


def mh_tables(
    measure: str,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    present: np.ndarray,
    *,
    correct: bool = True,
    level: float = 95.0,
) -> dict[str, np.ndarray]:
    """Mantel-Haenszel estimate and tests of 2x2 tables (``measure`` OR, RR or RD).

    ``a, b, c, d`` are the cells (events / non-events of group 1, then group 2), shaped
    ``(..., k)``; ``present`` marks the studies used.  Returns :data:`MH_FIELDS` as
    arrays shaped ``a.shape[:-1]`` (``b`` on the log scale for OR and RR).

    >>> t = [np.array([x]) for x in ([4.0, 6], [10.0, 14], [2.0, 3], [12.0, 17])]
    >>> r = mh_tables("OR", *t, np.ones((1, 2), bool))
    >>> round(float(r["b"][0]), 6)  # log((4*12/28 + 6*17/40) / (10*2/28 + 14*3/40))
    0.882529
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        n1, n2 = a + b, c + d
        N = n1 + n2
        out: dict[str, np.ndarray]
        if measure == "OR":
            out = _or(a, b, c, d, n1, n2, N, present, correct, level)
        elif measure == "RR":
            r, s = _sum(a * (n2 / N), present), _sum(c * (n1 / N), present)
            v = _sum((n1 / N) * (n2 / N) * (a + c) - (a / N) * c, present) / (r * s)
            undefined = (_sum(a, present) == 0) | (_sum(c, present) == 0)
            out = _wald(*_ratio(r, s, v, undefined), level)
        elif measure == "RD":
            w = _sum(n1 * (n2 / N), present)
            est = _sum(a * (n2 / N) - c * (n1 / N), present) / w
            p1 = _sum(c * (n1 / N) ** 2 - a * (n2 / N) ** 2 + (n1 / N) * (n2 / N) * (n2 - n1) / 2,
                      present)  # fmt: skip
            p2 = _sum(a * (n2 - c) / N + c * (n1 - a) / N, present) / 2
            out = _wald(est, np.sqrt((est * p1 + p2) / w**2), level)
        else:
            raise ValueError(f"measure={measure!r}: tables give OR, RR or RD")
    nan = np.full(np.shape(out["b"]), np.nan)
    for f in MH_FIELDS:
        out.setdefault(f, nan if f != "k_pos" else np.zeros(nan.shape, dtype=int))
    return out


def _or(a, b, c, d, n1, n2, N, present, correct, level):
    R, S = _sum(a / N * d, present), _sum(b / N * c, present)
    P, Q = a / N + d / N, b / N + c / N
    var = 0.5 * (_sum(P * (a / N * d), present) / R**2
                 + _sum(P * (b / N * c) + Q * (a / N * d), present) / (R * S)
                 + _sum(Q * (b / N * c), present) / S**2)  # fmt: skip
    undefined = (R == 0) | (S == 0)
    out = _wald(*_ratio(R, S, var, undefined), level)
    # Cochran (1954) and Mantel-Haenszel (1959) statistics of no association
    xt, yt = a + c, b + d
    dev = np.abs(_sum(a - (n1 / N) * xt, present)) - (0.5 if correct else 0.0)
    f = (n1 / N) * (n2 / N)
    no_test = (_sum(xt, present) == 0) | (_sum(yt, present) == 0)
    co = np.where(no_test, np.nan, dev**2 / _sum(f * (xt * (yt / N)), present))
    mh = np.where(no_test, np.nan, dev**2 / _sum(f * (xt * (yt / (N - 1))), present))
    out.update(CO=co, COp=_chi2_sf(co, 1), MH=mh, MHp=_chi2_sf(mh, 1))
    out.update(_tarone(np.exp(out["b"]), a, n1, n2, N, xt, yt, present))
    return out


def _tarone(psi, a, n1, n2, N, xt, yt, present):
    """Breslow-Day statistic and Tarone's correction at the MH odds ratio ``psi``."""
    psi = np.asarray(psi)[..., None]
    # expected cell: the root in [max(0, xt - n2), min(n1, xt)] of
    # E (n2 - xt + E) = psi (n1 - E)(xt - E)
    A = psi * (n1 + xt) + (n2 - xt)
    B = np.sqrt(A**2 - 4 * n1 * xt * psi * (psi - 1))
    e11 = np.where(psi == 1, (n1 / N) * xt, (A - B) / (2 * (psi - 1)))
    pos = present & (e11 > 0) & (xt > 0) & (yt > 0) & ~np.isnan(psi)
    e12, e21 = n1 - e11, xt - e11
    e22 = e11 - n1 - xt + N
    vinv = 1 / e11 + 1 / e12 + 1 / e21 + 1 / e22  # 1 / Var(a) under psi
    bd = np.maximum(0.0, _sum((a - e11) ** 2 / vinv**-1, pos))
    ta = np.maximum(0.0, bd - _sum(a - e11, pos) ** 2 / _sum(vinv**-1, pos))
    k_pos = np.sum(pos, axis=-1)
    undefined = np.isnan(psi[..., 0])
    bd = np.where(undefined, np.nan, bd)
    ta = np.where(undefined, np.nan, ta)
    df = np.where(k_pos > 1, k_pos - 1, np.nan)
    return {"BD": bd, "BDp": _chi2_sf(bd, df), "TA": ta, "TAp": _chi2_sf(ta, df), "k_pos": k_pos}


def mh_person_time(
    measure: str,
    x1: np.ndarray,
    t1: np.ndarray,
    x2: np.ndarray,
    t2: np.ndarray,
    present: np.ndarray,
    *,
    correct: bool = True,
    level: float = 95.0,
) -> dict[str, np.ndarray]:
    """Mantel-Haenszel incidence rate ratio (log) or difference (``measure`` IRR, IRD).

    Events ``x1, x2`` over person-times ``t1, t2``, shaped ``(..., k)``.  Returns
    :data:`MH_FIELDS` (``MH``/``MHp``: the Mantel-Haenszel test, IRR only).

    >>> x1, t1 = np.array([[3.0, 5]]), np.array([[100.0, 200]])
    >>> x2, t2 = np.array([[1.0, 4]]), np.array([[90.0, 210]])
    >>> r = mh_person_time("IRR", x1, t1, x2, t2, np.ones((1, 2), bool))
    >>> round(float(np.exp(r["b"][0])), 6)  # (3*90/190 + 5*210/410) / (1*100/190 + 4*200/410)
    1.607254
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        T = t1 + t2
        if measure == "IRR":
            r, s = _sum(x1 * (t2 / T), present), _sum(x2 * (t1 / T), present)
            v = _sum((t1 / T) * (t2 / T) * (x1 + x2), present) / (r * s)
            undefined = (_sum(x1, present) == 0) | (_sum(x2, present) == 0)
            out = _wald(*_ratio(r, s, v, undefined), level)
            xt = x1 + x2
            dev = np.abs(_sum(x1 - xt * (t1 / T), present)) - (0.5 if correct else 0.0)
            mh = dev**2 / _sum(xt * (t1 / T) * (t2 / T), present)
            mh = np.where(_sum(xt, present) == 0, np.nan, mh)
            out.update(MH=mh, MHp=_chi2_sf(mh, 1))
        elif measure == "IRD":
            w = _sum((t1 / T) * t2, present)
            est = _sum((x1 * t2 - x2 * t1) / T, present) / w
            se = np.sqrt(_sum(((t1 / T) * t2) ** 2 * (x1 / t1**2 + x2 / t2**2), present)) / w
            out = _wald(est, se, level)
        else:
            raise ValueError(f"measure={measure!r}: person-time data give IRR or IRD")
    nan = np.full(np.shape(out["b"]), np.nan)
    for f in MH_FIELDS:
        out.setdefault(f, nan if f != "k_pos" else np.zeros(nan.shape, dtype=int))
    return out


def q_about(yi: np.ndarray, vi: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Cochran's Q of ``yi`` (weights ``1/vi``) about ``b``, with I^2 and H^2 (metafor's
    ``rma.mh``/``rma.peto``): studies with NaN ``yi`` or ``vi`` are left out (``k_yi``
    counts the rest); with fewer than two, ``QE = 0, QEp = 1, I2 = 0, H2 = 1``.

    >>> r = q_about(np.array([[0.1, 0.5]]), np.array([[0.04, 0.04]]), np.array([0.3]))
    >>> round(float(r["QE"][0]), 6), int(r["k_yi"][0])
    (2.0, 2)
    """
    ok = ~(np.isnan(yi) | np.isnan(vi))
    k_yi = np.sum(ok, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.maximum(0.0, _sum(1 / vi * (yi - np.asarray(b)[..., None]) ** 2, ok))
        df = k_yi - 1.0
        qp = _chi2_sf(q, np.where(k_yi > 1, df, np.nan))
        i2 = np.maximum(0.0, 100 * (q - df) / q)
        h2 = q / df
    many = k_yi > 1
    return {
        "QE": np.where(many, q, 0.0),
        "QEp": np.where(many, qp, 1.0),
        "I2": np.where(many, i2, 0.0),
        "H2": np.where(many, h2, 1.0),
        "k_yi": k_yi,
    }
