"""Tests of fitted models: :func:`anova` (``metafor::anova.rma``) for rma_mv fits.

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


def _btt(res: MvResult, btt: Any) -> tuple[int, ...]:
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


def _wald_btt(res: MvResult, btt: Any) -> AnovaWald:
    bt = _btt(res, btt)
    idx = list(bt)
    m = len(idx)
    QM = float(res.b[idx] @ np.linalg.solve(res.vb[np.ix_(idx, idx)], res.b[idx]))
    if res.test == "t":
        QM /= m
        QMdf: tuple = (m, res.QMdf[1])
        QMp = float(stats.f.sf(QM, m, QMdf[1]))
    else:
        QMdf, QMp = (m,), float(stats.chi2.sf(QM, m))
    return AnovaWald(QM=QM, QMdf=QMdf, QMp=QMp, test=res.test, btt=bt)


def _wald_X(res: MvResult, X: Any) -> AnovaWald:
    Xm = np.atleast_2d(np.asarray(X, dtype=float))
    if Xm.shape[1] != res.p:
        raise ValueError(
            f"X has {Xm.shape[1]} columns but the model has {res.p} coefficients "
            f"({', '.join(res.coef_names)}): one column per coefficient, in that order"
        )
    m = Xm.shape[0]
    Xb = Xm @ res.b
    vXb = Xm @ res.vb @ Xm.T
    se = np.sqrt(np.diag(vXb))
    zval = Xb / se
    if res.test == "t":
        ddf = np.array([np.min(res.ddf[row != 0]) if np.any(row != 0) else np.nan for row in Xm])
        pval = 2 * stats.t.sf(np.abs(zval), ddf)
    else:
        ddf = np.full(m, np.nan)
        pval = 2 * stats.norm.sf(np.abs(zval))
    # X not of full row rank: no omnibus test
    QM, QMp, QMdf = float("nan"), float("nan"), tuple[float, ...]()
    if np.linalg.matrix_rank(Xm) == m:
        QMdf = (m,)
        QM = float(Xb @ np.linalg.solve(vXb, Xb))
        if res.test == "t":
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
    res: MvResult, res2: MvResult | None = None, *, btt: Any = None, X: Any = None,
    refit: bool = False,
) -> AnovaWald | AnovaLRT:  # fmt: skip
    """Wald tests of coefficients or contrasts, or the likelihood-ratio test of two fits.

    Equivalent to ``metafor::anova(res, btt=)``, ``anova(res, X=)`` and
    ``anova(full, reduced, refit=)`` for ``rma.mv`` fits.

    Parameters
    ----------
    res : MvResult
        A fit of :func:`metaparity.rma_mv`.
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
    if not isinstance(res, MvResult) or (res2 is not None and not isinstance(res2, MvResult)):
        raise TypeError("anova() takes rma_mv fits (rma and rma_mods fits: not yet)")
    if res2 is not None:
        if btt is not None or X is not None:
            raise ValueError("give either a second model, or btt= / X=, not both")
        return _lrt(res, res2, refit)
    if X is not None:
        if btt is not None:
            raise ValueError("give either btt= or X=, not both")
        return _wald_X(res, X)
    return _wald_btt(res, res.btt if btt is None else btt)
