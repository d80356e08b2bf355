"""Fail-safe N (file drawer analysis) at parity with ``metafor::fsn``.

Rosenthal (1979, Stouffer's sum of z, or Fisher's pooling of p-values), Orwin (1983),
Rosenberg (2005), the sign-test count (``"Binomial"``) and Viechtbauer's general method
(``"General"``: Orwin's and Rosenberg's questions asked of a chosen -- by default
random-effects -- model).  Which of them exist, and how ``fsn`` treats a fitted model
and Orwin's weights, depends on the metafor release mirrored
(:mod:`metaparity._core.mfversion`; keys ``fsn_orwin_weighted``, ``fsn_general``,
``fsn_general_round``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from metaparity._core.mfversion import get_metafor_version, since
from metaparity._core.names import check_choice
from metaparity._core.rootfind import RootNotFound, uniroot
from metaparity.analysis._bias_common import _is_rma, _vector, _yi_vi
from metaparity.models.results import RmaResult
from metaparity.models.uni import rma

__all__ = ["fsn", "FsnResult", "FsnType"]

#: The fail-safe N methods (metafor's ``type=``; "Binomial" and "General" from 4.4).
FsnType = Literal["Rosenthal", "Binomial", "Orwin", "Rosenberg", "General"]

#: metafor counts a fail-safe N within ~1.5e-8 of an integer as that integer (measured with
#: Orwin's N: 7 + 1e-8 -> 7, 7 + 2e-8 -> 8, the same at 700 and 70000: an absolute margin)
_FSN_SNAP = math.sqrt(np.finfo(float).eps)

#: metafor's cap on the general method's N (reported as ">1e+07")
_MAXINT = 10**7
#: above this many added studies the "exact" general method uses the approximation
_EXACT_MAX = 5000


@dataclass(frozen=True)
class FsnResult:
    """Fail-safe N (what ``metafor::fsn`` returns).

    Attributes
    ----------
    type : str
        ``"Rosenthal"``, ``"Binomial"``, ``"Orwin"``, ``"Rosenberg"`` or ``"General"``.
    fsnum : int or float
        The number of studies averaging null results needed to bring the combined
        p-value above ``alpha`` (Rosenthal, Binomial, Rosenberg, General) or the pooled
        estimate down to ``target`` (Orwin, General with a target); ``inf`` for a
        target of 0 (General).
    alpha : float
        The target alpha level.
    pval : float
        The p-value of the observed results (NaN for Orwin).
    meanes : float
        The pooled estimate (NaN for Rosenthal and Binomial); metafor >= 4.4 also calls
        it ``est``.
    target : float
        The target pooled estimate (NaN unless Orwin, or General with a target).
    k : int
        The number of studies.
    tau2 : float
        General method: the tau^2 estimate of the observed studies (else NaN).
    method : str
        General method: the model's estimator (else "").
    est_fsn, tau2_fsn, pval_fsn : float
        General method: estimate, tau^2 and p-value with the file drawer added.
    ub_sign : str
        ``">"`` when the general method's N reached metafor's cap of 1e7.

    Examples
    --------
    >>> f = fsn([0.1, 0.3, 0.5, 0.2, 0.9], type="Orwin")  # metafor: fsn(yi, type="Orwin")
    >>> f.to_dict()["fsnum"], f.meanes, f.target
    (5, 0.4, 0.2)
    """

    type: str
    fsnum: int | float
    alpha: float
    pval: float
    meanes: float
    target: float
    k: int
    tau2: float = math.nan
    method: str = ""
    est_fsn: float = math.nan
    tau2_fsn: float = math.nan
    pval_fsn: float = math.nan
    ub_sign: str = ""

    @property
    def est(self) -> float:
        """The pooled estimate (metafor >= 4.4's name for ``meanes``)."""
        return self.meanes

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (metafor's names)."""
        names = "type fsnum alpha pval meanes target k tau2 method est_fsn tau2_fsn pval_fsn"
        return {q: getattr(self, q) for q in (*names.split(), "ub_sign")}


def _ceil(x: float) -> int:
    """``max(0, ceil(x))`` with values within sqrt(eps) above an integer taken as it."""
    return max(0, math.ceil(x - _FSN_SNAP))


def _round_fsn(x: float) -> float:
    """metafor's rounding of a fail-safe N found by root finding: an integer within
    sqrt(eps) is taken as it, anything else is rounded up (infinite stays infinite)."""
    if math.isfinite(x) and abs(x - round(x)) >= _FSN_SNAP:
        return float(math.ceil(x))
    return float(round(x)) if math.isfinite(x) else x


def _as_int(x: float) -> int | float:
    return int(x) if math.isfinite(x) else x


# --------------------------------------------------------------------------- #
# input handling
# --------------------------------------------------------------------------- #
def _check_alpha(alpha: float) -> float:
    if not 0 < float(alpha) < 1:
        raise ValueError(f"fsn: alpha={alpha!r} must lie in (0, 1)")
    return float(alpha)


def _unit_vi(yi: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``yi`` with unit variances (Orwin's unweighted average)."""
    y = _vector("yi", yi)
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError("fsn: yi must be finite and non-empty")
    return y, np.ones_like(y)


def _orwin_weighted(weighted: bool | None, has_vi: bool) -> bool:
    """Whether Orwin's average is weighted: metafor 3.8 only with ``weighted=TRUE``;
    from 4.4 whenever sampling variances are given (``weighted=`` still overrides)."""
    if weighted is not None:
        return bool(weighted)
    return has_vi and since("fsn_orwin_weighted")


def _need_release(type_: str) -> None:
    if not since("fsn_general"):
        raise ValueError(
            f"fsn: type={type_!r} was added in metafor 4.4; the selected metafor "
            f"{get_metafor_version()} has Rosenthal, Orwin and Rosenberg only "
            "(metaparity.metafor_version('4.4') or newer)"
        )


# --------------------------------------------------------------------------- #
# Rosenthal, Binomial, Orwin, Rosenberg
# --------------------------------------------------------------------------- #
def _rosenthal(y: np.ndarray, v: np.ndarray, alpha: float) -> FsnResult:
    """Stouffer's sum of z; the one-sided p-value of ``|Z|``."""
    k = y.size
    zsum = float((y / np.sqrt(v)).sum())
    p = float(stats.norm.sf(abs(zsum) / math.sqrt(k)))
    za = float(stats.norm.isf(alpha))
    n = _ceil((zsum / za) ** 2 - k)
    return FsnResult("Rosenthal", int(n), alpha, p, math.nan, math.nan, int(k))


def _fisher_pval(n: float, logp: float, k: int) -> float:
    """Fisher's combined p-value with ``n`` p-values of 0.5 added (R's ``rep(0.5, n)``
    keeps ``trunc(n)`` of them while the degrees of freedom take ``n`` as it is)."""
    x2 = -2.0 * (logp + math.trunc(n) * math.log(0.5))
    return float(stats.chi2.sf(x2, 2.0 * (k + n)))


def _rosenthal_fisher(y: np.ndarray, v: np.ndarray, alpha: float) -> FsnResult:
    """Rosenthal's question with the one-sided p-values of ``|z_i|`` pooled by Fisher's
    method: null studies (p = 0.5) added until the pooled p-value reaches ``alpha``."""
    k = y.size
    logp = float(np.log(stats.norm.sf(np.abs(y / np.sqrt(v)))).sum())
    pval = _fisher_pval(0, logp, k)
    if pval >= alpha:
        n = 0.0
    else:
        upper = 50.0 * k if since("fsn_general") else 1000.0
        try:
            root = uniroot(lambda x: _fisher_pval(x, logp, k) - alpha, 0.0, upper, extend_int="upX")
        except RootNotFound as exc:
            raise ValueError(f"fsn: could not find the Fisher fail-safe N ({exc})") from None
        n = _round_fsn(root)
    return FsnResult("Rosenthal", int(n), alpha, pval, math.nan, math.nan, int(k))


def _binom_pvals(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """R's two-sided ``binom.test(x, n, 0.5)$p.value`` (for p = 1/2 the outcomes as or
    less likely than x are those at least as far from n/2: twice the smaller tail)."""
    tail = stats.binom.cdf(np.minimum(x, n - x), n, 0.5)
    return np.where(2 * x == n, 1.0, np.minimum(1.0, 2.0 * tail))


def _binomial(y: np.ndarray, alpha: float) -> FsnResult:
    """Sign test of the number of positive estimates; pairs of studies (one positive,
    one not) added until its two-sided p-value reaches ``alpha``."""
    k = y.size
    kpos = int((y > 0).sum())
    pval = float(_binom_pvals(np.array([kpos]), np.array([k]))[0])
    n = 0
    if pval < alpha:
        step = 1024
        while True:  # metafor adds 2 at a time; checked here in blocks
            m = n + 2 * np.arange(1, step + 1)
            ok = np.nonzero(_binom_pvals(kpos + m // 2, k + m) >= alpha)[0]
            if ok.size:
                n = int(m[ok[0]])
                break
            n = int(m[-1])
    return FsnResult("Binomial", n, alpha, pval, math.nan, math.nan, int(k))


def _orwin(
    y: np.ndarray, v: np.ndarray, alpha: float, target: float | None, weighted: bool
) -> FsnResult:
    """Studies with outcome 0 needed to bring the (weighted) mean down to ``target``."""
    k = y.size
    if weighted:
        w = 1.0 / v
        meanes = float((w * y).sum() / w.sum())
    else:
        meanes = float(y.mean())
    tgt = meanes / 2.0 if target is None else float(target)
    if np.sign(tgt) != np.sign(meanes):
        tgt = -tgt
    if tgt == 0:
        raise ValueError("fsn: Orwin's target must not be 0 (the fail-safe N is infinite)")
    n = _ceil(k * meanes / tgt - k)
    return FsnResult("Orwin", int(n), alpha, math.nan, meanes, tgt, int(k))


def _rosenberg(y: np.ndarray, v: np.ndarray, alpha: float) -> FsnResult:
    """Null studies with the mean weight added to an equal-effects model."""
    k = y.size
    w = 1.0 / v
    sw = float(w.sum())
    swy = float((w * y).sum())
    meanes = swy / sw
    zval = swy / math.sqrt(sw)
    p = float(2.0 * stats.norm.sf(abs(zval)))
    za = float(stats.norm.isf(alpha / 2.0))
    n = _ceil(k * swy * swy / (za * za * sw) - k)
    return FsnResult("Rosenberg", int(n), alpha, p, meanes, math.nan, int(k))


# --------------------------------------------------------------------------- #
# the general method (metafor >= 4.4)
# --------------------------------------------------------------------------- #
def _null_values(n: int, sd: float) -> np.ndarray:
    """n outcomes with mean 0 and standard deviation ``sd`` (one: 0).

    metafor draws them at random and rescales them to exactly this mean and sd; every
    model metaparity fits here depends on the added studies (all with the same
    variance) only through their sum and sum of squares, so any such set gives the
    same fit.
    """
    if n <= 1:
        return np.zeros(n)
    z = np.linspace(-1.0, 1.0, n)
    return (z - z.mean()) / z.std(ddof=1) * sd


class _General:
    """The model behind ``fsn(type="General")`` and its re-evaluation with n null studies."""

    def __init__(self, y: np.ndarray, v: np.ndarray, method: str, test: str, exact: bool) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fit = rma(y, v, method=method, test=test)  # type: ignore[arg-type]
        self.y, self.v, self.method, self.test = y, v, fit.method, test
        self.k = y.size
        self.est, self.tau2, self.pval = float(fit.b), float(fit.tau2), float(fit.pval)
        self.vt = 1.0 / float(np.mean(1.0 / v))  # the variance of an added study
        self.exact = exact or test != "z"
        self.ee = self.method in ("EE", "FE", "CE")

    def at(self, fsnum: float) -> tuple[float, float, float]:
        """(est, tau2, pval) with ``floor(fsnum)`` null studies of variance vt added."""
        n = min(math.floor(fsnum), _MAXINT)
        if self.exact and n <= _EXACT_MAX:
            ynew = np.concatenate([self.y, _null_values(n, math.sqrt(self.vt + self.tau2))])
            vnew = np.concatenate([self.v, np.full(n, self.vt)])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                fit = rma(ynew, vnew, method=self.method, test=self.test)  # type: ignore[arg-type]
            return float(fit.b), float(fit.tau2), float(fit.pval)
        k = self.k
        if self.ee:
            tau2 = 0.0
        else:  # tau^2 of the pooled sample, its mean the observed one shrunk to 0
            est_n = k * self.est / (k + n)
            ss = (k - 1) * self.tau2 + max(0, n - 1) * self.tau2
            ss += k * (self.est - est_n) ** 2 + n * est_n**2
            tau2 = max(0.0, ss / (k + n - 1))
        w = 1.0 / (self.v + tau2)
        wt = 1.0 / (self.vt + tau2)
        est = float((w * self.y).sum() / (w.sum() + n * wt))  # the added outcomes sum to 0
        zval = est / math.sqrt(1.0 / (float(w.sum()) + n * wt))
        return est, tau2, float(2.0 * stats.norm.sf(abs(zval)))


def _general(
    y: np.ndarray,
    v: np.ndarray,
    alpha: float,
    target: float | None,
    method: str,
    test: str,
    exact: bool,
) -> FsnResult:
    """Null studies (variance: the harmonic mean of vi; outcomes spread as the model's
    heterogeneity) added until the model's p-value reaches ``alpha`` or, with a
    ``target``, until its estimate is down to the target."""
    g = _General(y, v, method, test, exact)
    k = g.k

    def find(f: Any, extend: str) -> float:
        try:
            root = uniroot(f, 0.0, 50.0 * k, extend_int=extend)
        except RootNotFound as exc:
            raise ValueError(f"fsn: could not find the general fail-safe N ({exc})") from None
        return min(root, float(_MAXINT))

    def finish(root: float) -> tuple[float, tuple[float, float, float]]:
        if since("fsn_general_round"):  # 4.8: the estimates at the rounded N
            fsnum = _round_fsn(root)
            return fsnum, g.at(fsnum)
        return _round_fsn(root), g.at(root)  # 4.4, 4.6: at the root found

    at_n: tuple[float, float, float] = (g.est, g.tau2, g.pval)
    tgt = math.nan
    if target is None:
        fsnum = 0.0
        if g.pval < alpha:

            def diff_p(x: float) -> float:
                return 0.0 if math.floor(x) >= _MAXINT else g.at(x)[2] - alpha

            fsnum, at_n = finish(find(diff_p, "upX"))
    else:
        tgt = float(target)
        if np.sign(tgt) != np.sign(g.est):
            tgt = -tgt
        if tgt == 0:
            fsnum, at_n = math.inf, (math.nan, math.nan, math.nan)
        elif abs(tgt) >= abs(g.est):
            fsnum = 0.0
        else:

            def diff_t(x: float) -> float:
                return 0.0 if math.floor(x) >= _MAXINT else g.at(x)[0] - tgt

            fsnum, at_n = finish(find(diff_t, "downX" if g.est > 0 else "upX"))
    if fsnum == 0:
        at_n = (g.est, g.tau2, g.pval)
    return FsnResult(
        "General", _as_int(fsnum), alpha, g.pval, g.est, tgt, int(k), tau2=g.tau2,
        method=g.method, est_fsn=at_n[0], tau2_fsn=at_n[1], pval_fsn=at_n[2],
        ub_sign=">" if fsnum >= _MAXINT else "",
    )  # fmt: skip


# --------------------------------------------------------------------------- #
# the function
# --------------------------------------------------------------------------- #
def _model_general(
    res: RmaResult, type_: str | None, vi: Any, sei: Any
) -> tuple[np.ndarray, np.ndarray, str, str]:
    """metafor >= 4.4 with a fitted model: the general method on the model's data,
    estimator and test (other types and vi/sei are overridden, with metafor's warnings)."""
    if type_ is not None and type_ != "General":
        warnings.warn(
            "fsn: setting type='General' when using fsn() on a model object (metafor >= 4.4)",
            UserWarning,
            stacklevel=3,
        )
    if vi is not None or sei is not None:
        warnings.warn(
            "fsn: arguments 'vi' and 'sei' ignored when 'yi' is a model object",
            UserWarning,
            stacklevel=3,
        )
    if res.weights is not None:
        raise ValueError("fsn: cannot use the function on models with custom weights")
    y, v = np.asarray(res.yi, dtype=float), np.asarray(res.vi, dtype=float)
    return y, v, str(res.method), str(res.test)


def fsn(
    yi: ArrayLike | RmaResult,
    vi: ArrayLike | None = None,
    *,
    sei: ArrayLike | None = None,
    type: FsnType | None = None,  # noqa: A002 - metafor's name
    alpha: float = 0.05,
    target: float | None = None,
    weighted: bool | None = None,
    pool: Literal["stouffer", "fisher"] = "stouffer",
    method: str | None = None,
    test: str | None = None,
    exact: bool = False,
) -> FsnResult:
    """Fail-safe N (file drawer analysis).

    Equivalent to ``metafor::fsn(yi, vi, type=, alpha=, target=, ...)`` of the metafor
    release selected (:func:`metaparity.metafor_version`).

    * ``"Rosenthal"`` (1979): Stouffer's combination ``Z = sum(z_i) / sqrt(k)`` of
      ``z_i = yi / sqrt(vi)``; ``pval`` is the one-sided p-value of ``|Z|``;
      ``fsnum = ceil((sum z_i / z_alpha)^2 - k)`` with the one-sided
      ``z_alpha = Phi^-1(1 - alpha)`` (0 when ``pval > alpha``).  With
      ``pool="fisher"`` (metafor's undocumented ``pool="fisher"``, in 3.8
      ``test="Fisher"``) the one-sided p-values of ``|z_i|`` are pooled by Fisher's
      method and studies with p = 0.5 are added (found with R's ``uniroot``).
    * ``"Binomial"`` (metafor >= 4.4, undocumented there): the two-sided sign test of
      the number of positive estimates; pairs of studies, one positive and one not,
      are added until its p-value reaches ``alpha``.
    * ``"Orwin"`` (1983): ``fsnum = ceil(k (meanes - target) / target)`` with ``meanes``
      the mean outcome, ``target`` default ``meanes / 2``; a target of the opposite
      sign is flipped (as metafor); 0 when ``|meanes| <= |target|``.  The mean is
      weighted by 1/vi when ``weighted`` -- by default in metafor 3.8 never, from 4.4
      whenever ``vi``/``sei`` are given.
    * ``"Rosenberg"`` (2005): studies with outcome 0 and the mean weight added to an
      equal-effects model until its two-sided p-value reaches ``alpha``:
      ``fsnum = ceil(k (sum w y)^2 / (z_{alpha/2}^2 sum w) - k)``.
    * ``"General"`` (metafor >= 4.4; Viechtbauer 2024): the model ``method`` (default
      REML) is fitted; studies with variance ``1 / mean(1/vi)`` and outcomes averaging
      0 are added until the model's p-value reaches ``alpha`` (or, with ``target``,
      until its estimate is down to the target).  By default the augmented model is
      approximated (tau^2 of the pooled sample, as metafor); ``exact=True`` (implied
      by a test other than ``"z"``) refits it for N <= 5000.  The search is R's
      ``uniroot`` over [0, 50 k], extended upwards, and its root is rounded up;
      ``est_fsn``/``tau2_fsn``/``pval_fsn`` are the augmented model's (at the rounded
      N from metafor 4.8, at the unrounded root in 4.4 and 4.6).

    A fitted model (``yi=`` an intercept-only :func:`metaparity.rma` result) gives the
    general method with the model's estimator and test from metafor 4.4 on (another
    ``type`` is overridden with a warning, as metafor does); in metafor 3.8, which has
    no such method, its ``yi``/``vi`` are used with the ``type`` given.

    Parameters
    ----------
    yi : array_like or RmaResult
        Effect sizes (or a fitted model).
    vi, sei : array_like, optional
        Sampling variances or standard errors (not needed for unweighted Orwin; the
        Binomial method does not use them, but metafor requires them).
    type : {"Rosenthal", "Binomial", "Orwin", "Rosenberg", "General"}, optional
        The method (default ``"Rosenthal"``; ``"General"`` for a model from 4.4).
    alpha : float
        Target alpha level (Rosenthal: one-sided; the others two-sided).
    target : float, optional
        The target pooled estimate (Orwin, General).
    weighted : bool, optional
        Orwin with the inverse-variance weighted mean (default: the release's rule).
    pool : {"stouffer", "fisher"}
        How Rosenthal's method pools the studies.
    method : str, optional
        The estimator of the general method (default: the model's, else ``"REML"``).
    test : str, optional
        The test of the general method (default: the model's, else ``"z"``).
    exact : bool
        The general method with refitted (rather than approximated) models.

    Returns
    -------
    FsnResult
        ``fsnum`` with ``pval``, ``meanes`` and ``target`` as the method defines them
        (and the augmented model's estimates for the general method).

    Raises
    ------
    ValueError
        ``alpha`` outside (0, 1), a target of 0 (Orwin), invalid ``yi``/``vi``, k = 1
        (metafor >= 4.4 stops there), or a type the selected metafor does not have.

    Examples
    --------
    >>> # metafor: fsn(c(.1,.3,.5,.2,.9), c(.01,.02,.03,.015,.08)) -> fsnum 39
    >>> f = fsn([0.1, 0.3, 0.5, 0.2, 0.9], [0.01, 0.02, 0.03, 0.015, 0.08])
    >>> f.fsnum, f"{f.pval:.3g}"
    (39, '6.49e-07')
    """
    alpha = _check_alpha(alpha)
    pool_ = check_choice("pool", str(pool).lower(), ("stouffer", "fisher"))
    type_ = None if type is None else check_choice("type", type, get_args(FsnType))
    if _is_rma(yi) and since("fsn_general"):
        y, v, m_method, m_test = _model_general(yi, type_, vi, sei)
        return _general(y, v, alpha, target, method or m_method, test or m_test, exact)
    if isinstance(yi, RmaResult) and since("fsn_general"):
        raise ValueError("fsn: the method applies to models without moderators only")
    type_ = type_ or "Rosenthal"
    if type_ in ("Binomial", "General"):
        _need_release(type_)
    has_vi = vi is not None or sei is not None or _is_rma(yi)
    if type_ == "Orwin" and not _orwin_weighted(weighted, has_vi):
        if _is_rma(yi):  # metafor 3.8 with a model: its yi
            y = np.asarray(yi.yi, dtype=float)
            y, v = y, np.ones_like(y)
        else:
            y, v = _unit_vi(cast(ArrayLike, yi))
    else:
        if type_ == "Orwin" and not has_vi:
            raise ValueError("fsn: weighted Orwin needs vi or sei")
        y, v = _yi_vi(yi, vi, sei, "fsn")
    if since("fsn_general") and y.size == 1:
        raise ValueError("fsn: stopped because k = 1 (metafor >= 4.4)")
    if type_ == "Rosenthal":
        return _rosenthal_fisher(y, v, alpha) if pool_ == "fisher" else _rosenthal(y, v, alpha)
    if type_ == "Binomial":
        return _binomial(y, alpha)
    if type_ == "Orwin":
        return _orwin(y, v, alpha, target, _orwin_weighted(weighted, has_vi))
    if type_ == "General":
        return _general(y, v, alpha, target, method or "REML", test or "z", exact)
    return _rosenberg(y, v, alpha)
