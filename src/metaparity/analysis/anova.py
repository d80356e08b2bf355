"""Tests of fitted models: :func:`anova` (``metafor::anova.rma``) for rma_mv fits, and its
Wald tests for rma fits (with or without moderators).

* ``anova(res, btt=)``: the Wald test that the coefficients ``btt`` are 0 (chi^2, or F with
  the model's denominator df under ``test="t"``, as metafor).
* ``anova(res, X=)``: linear combinations ``X b`` with their se, z (t) and p, and the
  omnibus Wald test that all are 0 (``QM`` on ``m = rows of X`` df; NaN when ``X`` is not of
  full row rank).
* ``anova(full, reduced)``: the likelihood-ratio test between nested fits: ``LRT`` =
  difference of the deviances, on the difference of the numbers of parameters, with each
  model's fit statistics and ``QE``.  REML fits with different fixed effects are refused a
  meaningful comparison (metafor's warning) unless ``refit=True`` refits both by ML.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from metaparity.models.mv import MvResult
from metaparity.models.results import RmaResult

__all__ = ["anova", "AnovaWald", "AnovaLRT"]


@dataclass(frozen=True)
class AnovaWald:
    """A Wald test of coefficients (``btt``) or of linear combinations (``X``)."""

    QM: float
    QMdf: tuple
    QMp: float
    test: str
    btt: tuple[int, ...] | None = None
    hyp: tuple[str, ...] | None = None
    Xb: np.ndarray | None = None
    se: np.ndarray | None = None
    zval: np.ndarray | None = None
    pval: np.ndarray | None = None
    ddf: np.ndarray | None = None


@dataclass(frozen=True)
class AnovaLRT:
    """A likelihood-ratio test between a full and a reduced model."""

    df_f: int
    df_r: int
    fit_stats_f: dict[str, float]
    fit_stats_r: dict[str, float]
    LRT: float
    pval: float
    QE_f: float
    QE_r: float
    method: str
    refitted: bool = False


def _coef(res: MvResult | RmaResult) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients and their covariance matrix (an intercept-only rma fit: 1 x 1)."""
    b = np.atleast_1d(np.asarray(res.b, dtype=float))
    vb = res.vb if res.vb is not None else np.array([[float(res.se) ** 2]])
    return b, np.asarray(vb, dtype=float)


def _t_based(res: MvResult | RmaResult) -> bool:
    """t/F inference: rma_mv's test="t"; rma's "t", "knha" and "adhoc"."""
    return res.test != "z"


def _ddf(res: MvResult | RmaResult) -> np.ndarray:
    """Denominator df per coefficient: rma_mv's ``ddf``; rma's ``k - p`` for every one."""
    if isinstance(res, MvResult):
        return np.asarray(res.ddf, dtype=float)
    return np.full(res.p, float(res.k - res.p))


def _btt(res: MvResult | RmaResult, btt: Any) -> tuple[int, ...]:
    items = [btt] if isinstance(btt, (int, np.integer, str)) else list(btt)
    out = []
    for b in items:
        if isinstance(b, str):
            if b not in res.coef_names:
                raise ValueError(
                    f"btt={b!r} is not a coefficient; the coefficients are "
                    f"{', '.join(res.coef_names)}"
                )
            out.append(res.coef_names.index(b))
        else:
            if not 0 <= int(b) < res.p:
                raise ValueError(
                    f"btt={b} is out of range: the model has {res.p} coefficients (0-based "
                    f"indices 0..{res.p - 1}: {', '.join(res.coef_names)})"
                )
            out.append(int(b))
    return tuple(sorted(set(out)))


def _hyp(row: np.ndarray, names: tuple[str, ...]) -> str:
    parts = []
    for c, n in zip(row, names, strict=True):
        if c == 0:
            continue
        coef = "" if abs(c) == 1 else f"{abs(c):g}*"
        sign = "-" if c < 0 else "+"
        parts.append((sign, f"{coef}{n}"))
    if not parts:
        return "0 = 0"
    first = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    return " ".join([first] + [f"{s} {t}" for s, t in parts[1:]]) + " = 0"


def _wald_btt(res: MvResult | RmaResult, btt: Any) -> AnovaWald:
    bt = _btt(res, btt)
    idx = list(bt)
    m = len(idx)
    bv, vb = _coef(res)
    QM = float(bv[idx] @ np.linalg.solve(vb[np.ix_(idx, idx)], bv[idx]))
    if _t_based(res):
        QM /= m
        df2 = res.QMdf[1] if isinstance(res, MvResult) else res.k - res.p
        QMdf: tuple = (m, df2)
        QMp = float(stats.f.sf(QM, m, QMdf[1]))
    else:
        QMdf, QMp = (m,), float(stats.chi2.sf(QM, m))
    return AnovaWald(QM=QM, QMdf=QMdf, QMp=QMp, test=res.test, btt=bt)


def _wald_X(res: MvResult | RmaResult, X: Any) -> AnovaWald:
    Xm = np.atleast_2d(np.asarray(X, dtype=float))
    bv, vb = _coef(res)
    ddf_all = _ddf(res)
    if Xm.shape[1] != res.p:
        raise ValueError(
            f"X has {Xm.shape[1]} columns but the model has {res.p} coefficients "
            f"({', '.join(res.coef_names)}): one column per coefficient, in that order"
        )
    m = Xm.shape[0]
    Xb = Xm @ bv
    vXb = Xm @ vb @ Xm.T
    se = np.sqrt(np.diag(vXb))
    zval = Xb / se
    if _t_based(res):
        ddf = np.array([np.min(ddf_all[row != 0]) if np.any(row != 0) else np.nan for row in Xm])
        pval = 2 * stats.t.sf(np.abs(zval), ddf)
    else:
        ddf = np.full(m, np.nan)
        pval = 2 * stats.norm.sf(np.abs(zval))
    # X not of full row rank: no omnibus test
    QM, QMp, QMdf = float("nan"), float("nan"), tuple[float, ...]()
    if np.linalg.matrix_rank(Xm) == m:
        QMdf = (m,)
        QM = float(Xb @ np.linalg.solve(vXb, Xb))
        if _t_based(res):
            QM /= m
            QMdf = (m, float(np.min(ddf)))
            QMp = float(stats.f.sf(QM, m, float(np.min(ddf))))
        else:
            QMp = float(stats.chi2.sf(QM, m))
    hyp = tuple(_hyp(row, res.coef_names) for row in Xm)
    return AnovaWald(QM=QM, QMdf=QMdf, QMp=QMp, test=res.test, hyp=hyp, Xb=Xb, se=se,
                     zval=zval, pval=pval, ddf=ddf)  # fmt: skip


def _nested(Xf: np.ndarray, Xr: np.ndarray) -> bool:
    """The column space of Xr lies in that of Xf."""
    coef, *_ = np.linalg.lstsq(Xf, Xr, rcond=None)
    return bool(np.allclose(Xf @ coef, Xr, rtol=1e-8, atol=1e-10 * max(1.0, np.abs(Xr).max())))


def _lrt(a: MvResult, b: MvResult, refit: bool) -> AnovaLRT:
    if a.parms == b.parms:
        raise ValueError(
            f"the two models have the same number of parameters ({a.parms}): a likelihood-ratio "
            "test needs a full model with more parameters than the reduced one"
        )
    full, red = (a, b) if a.parms > b.parms else (b, a)
    if full.k != red.k or not (np.array_equal(full.yi, red.yi) and np.array_equal(full.V, red.V)):
        raise ValueError(
            "The observed outcomes and/or sampling variances/covariances are not equal in the "
            "full and reduced model (as metafor): fit both to the same estimates and V"
        )
    if full.method != red.method:
        raise ValueError(
            f"Mismatch between the use of {full.method} and {red.method} estimation in the full "
            "versus reduced model (as metafor): fit both with the same method"
        )
    same_X = full.X.shape == red.X.shape and np.array_equal(full.X, red.X)
    refitted = False
    if full.method == "REML" and not same_X:
        if refit:
            full, red, refitted = full.refit("ML"), red.refit("ML"), True
        else:
            warnings.warn(
                "REML comparisons not meaningful for models with different fixed effects (use "
                "refit=True to refit both models based on ML estimation) (as metafor)",
                UserWarning, stacklevel=3,
            )  # fmt: skip
    if not same_X and not _nested(full.X, red.X):
        warnings.warn("The models being compared appear not to be nested (as metafor).",
                      UserWarning, stacklevel=3)  # fmt: skip
    fs_f, fs_r = full.fit_stats[full.method], red.fit_stats[red.method]
    LRT = fs_r["dev"] - fs_f["dev"]
    df = full.parms - red.parms
    return AnovaLRT(df_f=full.parms, df_r=red.parms, fit_stats_f=dict(fs_f),
                    fit_stats_r=dict(fs_r), LRT=LRT, pval=float(stats.chi2.sf(LRT, df)),
                    QE_f=full.QE, QE_r=red.QE, method=full.method,
                    refitted=refitted)  # fmt: skip


def anova(
    res: MvResult | RmaResult, res2: MvResult | None = None, *, btt: Any = None, X: Any = None,
    refit: bool = False,
) -> AnovaWald | AnovaLRT:  # fmt: skip
    """Wald tests of coefficients or contrasts, or the likelihood-ratio test of two fits.

    Equivalent to ``metafor::anova(res, btt=)``, ``anova(res, X=)`` and
    ``anova(full, reduced, refit=)`` for ``rma.mv`` fits; the Wald tests also for ``rma.uni``
    fits (chi^2 / z, or F / t with k - p df under ``test="t"``, ``"knha"``, ``"adhoc"``).

    Parameters
    ----------
    res : MvResult or RmaResult
        A fit of :func:`metaparity.rma_mv`, or of :func:`metaparity.rma` /
        :func:`metaparity.rma_mods`.
    res2 : MvResult, optional
        A second fit of the same estimates: the likelihood-ratio test (the one with more
        parameters is the full model).
    btt : int, str or sequence, optional
        Coefficients to test (0-based indices or coefficient names).
    X : array_like, optional
        Linear combinations to test, one row each, one column per coefficient.
    refit : bool
        Refit both models by ML when REML fits with different fixed effects are compared.

    Returns
    -------
    AnovaWald or AnovaLRT
    """
    if isinstance(res, RmaResult):
        if res2 is not None:
            raise TypeError(
                "anova(full, reduced) takes rma_mv fits; the likelihood-ratio test of rma fits "
                "is not built yet (their Wald tests are: anova(res, btt=) or anova(res, X=))"
            )
    elif not isinstance(res, MvResult) or (res2 is not None and not isinstance(res2, MvResult)):
        raise TypeError("anova() takes fits of rma(), rma_mods() or rma_mv()")
    if res2 is not None:
        if btt is not None or X is not None:
            raise ValueError("give either a second model, or btt= / X=, not both")
        assert isinstance(res, MvResult)
        return _lrt(res, res2, refit)
    if X is not None:
        if btt is not None:
            raise ValueError("give either btt= or X=, not both")
        return _wald_X(res, X)
    default = res.btt if res.btt else (0,)  # an intercept-only rma: the intercept
    return _wald_btt(res, default if btt is None else btt)
