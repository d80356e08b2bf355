"""Tests of fitted models: :func:`anova` (``metafor::anova.rma``) for rma_mv fits, and its
Wald tests for rma fits (with or without moderators).

* ``anova(res, btt=)``: the Wald test that the coefficients ``btt`` are 0 (chi^2, or F with
  the model's denominator df under ``test="t"``, as metafor).
* ``anova(res, X=)``: linear combinations ``X b`` with their se, z (t) and p, and the
  omnibus Wald test that all are 0 (``QM`` on ``m = rows of X`` df; NaN when ``X`` is not of
  full row rank).
* ``anova(full, reduced)``: the likelihood-ratio test between nested fits (rma_mv, or rma
  with or without moderators): ``LRT`` = difference of the deviances (0 when rounding makes
  it negative, as metafor), on the difference of the numbers of parameters, with each
  model's fit statistics and ``QE``; for rma fits also both tau^2 and the pseudo-R^2, the
  proportional reduction in tau^2 (for EE/FE/CE fits: in the residual variance of the
  weighted regression, as metafor).  REML fits with different fixed effects are refused a
  meaningful comparison (metafor's warning) unless ``refit=True`` refits both by ML.  The
  reduced model may be an EE/FE/CE fit of a REML/ML full model, not the other way round;
  other estimators than ML/REML give metafor's warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from metaparity.models.metareg import rma_mods
from metaparity.models.mv import MvResult
from metaparity.models.results import RmaResult
from metaparity.models.uni import rma

__all__ = ["anova", "AnovaWald", "AnovaLRT", "btt_indices"]


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
    #: rma fits: both tau^2 and the pseudo-R^2 (%); NaN for rma_mv fits, as metafor
    tau2_f: float = float("nan")
    tau2_r: float = float("nan")
    R2: float = float("nan")


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


def btt_indices(res: MvResult | RmaResult, btt: Any) -> tuple[int, ...]:
    """``btt`` (0-based indices or coefficient names) as sorted 0-based indices, checked."""
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
    bt = btt_indices(res, btt)
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
    LRT = max(0.0, fs_r["dev"] - fs_f["dev"])
    df = full.parms - red.parms
    return AnovaLRT(df_f=full.parms, df_r=red.parms, fit_stats_f=dict(fs_f),
                    fit_stats_r=dict(fs_r), LRT=LRT, pval=float(stats.chi2.sf(LRT, df)),
                    QE_f=full.QE, QE_r=red.QE, method=full.method,
                    refitted=refitted)  # fmt: skip


_FE = ("EE", "FE", "CE")


def _design(res: RmaResult) -> np.ndarray:
    return np.ones((res.k, 1)) if res.X is None else np.asarray(res.X, dtype=float)


def _refit_ml(res: RmaResult) -> RmaResult:
    """``res`` refitted by ML on the same rows, design, weights and settings."""
    kw: dict[str, Any] = dict(weights=res.weights if res.weights is None else
                              np.asarray(res.weights, float).ravel(), method="ML",
                              test=res.test, level=res.level, weighted=res.weighted,
                              tau2=res.tau2 if res.tau2_fix else None)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if res.int_only:
            return rma(res.yi, res.vi, **kw)
        return rma_mods(res.yi, res.vi, mods=_design(res), intercept=False, **kw)


def _resid_var(res: RmaResult) -> float:
    """metafor's ``sigma(lm(yi ~ X, weights))^2`` for the pseudo-R^2 of EE/FE/CE fits: the
    residual variance of the least-squares fit of ``yi`` on an intercept and ``X`` (R's
    ``lm`` adds the intercept; aliased columns are dropped), weighted by ``1/vi``, by the
    user weights, or unweighted."""
    y = np.asarray(res.yi, dtype=float)
    if not res.weighted:
        w = np.ones_like(y)
    elif res.weights is not None:
        w = np.asarray(res.weights, dtype=float).ravel()
    else:
        w = 1.0 / np.asarray(res.vi, dtype=float)
    Z = np.column_stack([np.ones_like(y), _design(res)])
    sw = np.sqrt(w)
    coef, _, rank, _ = np.linalg.lstsq(Z * sw[:, None], y * sw, rcond=None)
    resid = y - Z @ coef
    return float(np.sum(w * resid**2) / (y.size - rank))


def _lrt_uni(a: RmaResult, b: RmaResult, refit: bool) -> AnovaLRT:
    if a.parms == b.parms:
        raise ValueError(
            f"the two models have the same number of parameters ({a.parms}): a likelihood-ratio "
            "test needs a full model with more parameters than the reduced one (metafor: "
            "'Models have the same number of parameters')"
        )
    full, red = (a, b) if a.parms > b.parms else (b, a)
    same_data = full.k == red.k and np.array_equal(full.yi, red.yi) and np.array_equal(
        full.vi, red.vi)  # fmt: skip
    if not same_data:
        raise ValueError(
            "The observed outcomes and/or sampling variances are not equal in the full and "
            f"reduced model (as metafor; k = {full.k} and {red.k}): fit both to the same yi and vi"
        )
    if full.method in _FE and red.method not in _FE:
        raise ValueError(
            f"Full model uses a fixed- and reduced model uses a random/mixed-effects model "
            f"({full.method} vs {red.method}, as metafor): the reduced model must be the "
            "EE/FE/CE one"
        )
    if {full.method, red.method} == {"ML", "REML"}:
        raise ValueError(
            f"Mismatch between the use of {full.method} and {red.method} estimation in the full "
            "versus reduced model (as metafor): fit both with the same method"
        )
    allowed = _FE + ("ML", "REML")
    if full.method not in allowed or red.method not in allowed:
        warnings.warn(f"LRTs should be based on ML/REML estimation (as metafor; here "
                      f"{full.method} and {red.method}).", UserWarning, stacklevel=3)  # fmt: skip
    Xf, Xr = _design(full), _design(red)
    same_X = Xf.shape == Xr.shape and np.array_equal(Xf, Xr)
    refitted = False
    if full.method == "REML" and not same_X:
        if refit:
            full, red, refitted = _refit_ml(full), _refit_ml(red), True
        else:
            warnings.warn(
                "REML comparisons not meaningful for models with different fixed effects (use "
                "refit=True to refit both models based on ML estimation) (as metafor)",
                UserWarning, stacklevel=3,
            )  # fmt: skip
    if not same_X and not _nested(Xf, Xr):
        warnings.warn("The models being compared appear not to be nested (as metafor).",
                      UserWarning, stacklevel=3)  # fmt: skip
    if full.method in _FE:
        s2f, s2r = _resid_var(full), _resid_var(red)
        R2 = 100 * max(0.0, (s2r - s2f) / s2r)
    elif red.tau2 == 0:
        R2 = 0.0
    else:
        R2 = 100 * max(0.0, (red.tau2 - full.tau2) / red.tau2)
    col = "REML" if full.method == "REML" else "ML"
    fs_f, fs_r = full.fit_stats[col], red.fit_stats[col]
    LRT = max(0.0, fs_r["dev"] - fs_f["dev"])
    return AnovaLRT(df_f=full.parms, df_r=red.parms, fit_stats_f=fs_f, fit_stats_r=fs_r,
                    LRT=LRT, pval=float(stats.chi2.sf(LRT, full.parms - red.parms)),
                    QE_f=full.QE, QE_r=red.QE, method=full.method, refitted=refitted,
                    tau2_f=float(full.tau2), tau2_r=float(red.tau2), R2=float(R2))  # fmt: skip


def anova(
    res: MvResult | RmaResult, res2: MvResult | None = None, *, btt: Any = None, X: Any = None,
    refit: bool = False,
) -> AnovaWald | AnovaLRT:  # fmt: skip
    """Wald tests of coefficients or contrasts, or the likelihood-ratio test of two fits.

    Equivalent to ``metafor::anova(res, btt=)``, ``anova(res, X=)`` and
    ``anova(full, reduced, refit=)`` for ``rma.mv`` and ``rma.uni`` fits (the Wald tests with
    chi^2 / z, or F / t with k - p df under ``test="t"``, ``"knha"``, ``"adhoc"``).

    Parameters
    ----------
    res : MvResult or RmaResult
        A fit of :func:`metaparity.rma_mv`, or of :func:`metaparity.rma` /
        :func:`metaparity.rma_mods`.
    res2 : MvResult or RmaResult, optional
        A second fit of the same kind to the same estimates: the likelihood-ratio test (the
        one with more parameters is the full model).
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
    if not isinstance(res, (RmaResult, MvResult)):
        raise TypeError("anova() takes fits of rma(), rma_mods() or rma_mv()")
    if res2 is not None:
        if type(res2) is not type(res):
            raise TypeError(
                f"anova(full, reduced) compares two fits of the same kind; got "
                f"{type(res).__name__} and {type(res2).__name__} (metafor: 'Class of 'object' "
                "must be the same as class of 'object2'')"
            )
        if btt is not None or X is not None:
            raise ValueError("give either a second model, or btt= / X=, not both")
        if isinstance(res, RmaResult):
            assert isinstance(res2, RmaResult)
            return _lrt_uni(res, res2, refit)
        assert isinstance(res2, MvResult)
        return _lrt(res, res2, refit)
    if X is not None:
        if btt is not None:
            raise ValueError("give either btt= or X=, not both")
        return _wald_X(res, X)
    default = res.btt if res.btt else (0,)  # an intercept-only rma: the intercept
    return _wald_btt(res, default if btt is None else btt)
