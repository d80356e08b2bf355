"""Case diagnostics: leave-one-out, influence, residuals, cumulative meta-analysis, Baujat.

Every refit goes through :func:`metaparity.rma_batch` (one engine, batch first): the
``k`` leave-one-out models of a meta-analysis are the rows of a NaN-padded ``(k, k)``
batch, the ``k`` cumulative models the rows of a lower-triangular one.  The
definitions are those of metafor 3.8 (``?influence.rma.uni``, ``?rstudent.rma.uni``,
``?leave1out``, ``?cumul``, ``?baujat``) and Viechtbauer & Cheung (2010), for models
without moderators.  With ``w_i = 1/(v_i + tau2)`` of the full model, ``b``, ``vb``
its estimate and variance, and ``b_(i)``, ``vb_(i)``, ``tau2_(i)``, ``s2_(i)`` those of
the fit without study ``i`` (``s2`` is the Knapp-Hartung factor, 1 for tests z and t):

* ``hat_i = w_i / sum(w)``, ``weight_i = 100 hat_i`` (percent);
* ``rstandard``: ``e_i = y_i - b`` over ``sqrt(v_i + tau2 - 1/sum(w))``;
* ``rstudent``: ``y_i - b_(i)`` over ``sqrt(s2_(i) (v_i + tau2_(i)) + vb_(i))``;
* ``dffits_i = (b - b_(i)) / sqrt(s2_(i) hat_i (v_i + tau2_(i)))``;
* ``cook.d_i = (b - b_(i))^2 / vb`` (the full model's ``vb``);
* ``cov.r_i = vb_(i) / vb``;
* ``dfbs_i = (b - b_(i)) / sqrt(s2_(i) / sum_j 1/(v_j + tau2_(i)))`` (the sum over
  all ``k`` studies, with the deleted fit's ``tau2``);
* ``inf``: ``|dffits| > 3 sqrt(1/(k-1))``, or ``P(chi2_1 <= cook.d) > 0.5``, or
  ``hat > 3/k``, or ``|dfbs| > 1``;
* Baujat: ``x_i = (y_i - b)^2 / (v_i + tau2)`` (the squared Pearson residual; for an
  equal-effects model the study's contribution to QE), ``y_i = (b - b_(i))^2 / vb_(i)``.

As in metafor, ``leave1out``, ``influence``, ``rstudent`` and ``baujat`` stop for
``k = 1``; models fitted with user ``weights`` are supported by ``leave1out`` and
``cumul`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from metaparity._core.names import MethodName, TestName
from metaparity._core.validation import as_float_array
from metaparity.models.results import BatchResult, RmaResult
from metaparity.models.uni import rma_batch

__all__ = [
    "Leave1Out",
    "Cumul",
    "Influence",
    "Residuals",
    "Baujat",
    "leave1out",
    "leave1out_batch",
    "influence",
    "rstandard",
    "rstudent",
    "cumul",
    "baujat",
]

_TABLE = "estimate se zval pval ci_lb ci_ub Q Qp tau2 I2 H2".split()
_R_NAMES = {"ci_lb": "ci.lb", "ci_ub": "ci.ub"}


def _labels(res: RmaResult) -> tuple:
    """Study labels of the model (1, 2, ... when it has none, as metafor)."""
    return tuple(res.slab) if res.slab is not None else tuple(range(1, res.k + 1))


def _data(res: RmaResult) -> tuple[np.ndarray, np.ndarray]:
    """The ``yi``/``vi`` the fitted model carries."""
    if res.yi is None or res.vi is None:
        raise ValueError("the fitted model does not carry its data (yi, vi)")
    return res.yi, res.vi


def _need_k2(res: RmaResult, what: str) -> None:
    if not isinstance(res, RmaResult) or not res.int_only:
        raise TypeError(f"{what}() needs a fitted model from metaparity.rma(); got {type(res)!r}")
    if res.k < 2:
        raise ValueError(f"{what}(): stopped because k = 1 (metafor: 'Stopped because k = 1.')")


def _need_unweighted(res: RmaResult, what: str) -> None:
    if res.weights is not None:
        raise NotImplementedError(
            f"{what}() for models fitted with user weights is not implemented "
            "(leave1out() and cumul() support them)"
        )


# --------------------------------------------------------------------------- #
# result containers
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _FitTable:
    """One refitted model per row (shared by :class:`Leave1Out` and :class:`Cumul`)."""

    estimate: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    Q: np.ndarray
    Qp: np.ndarray
    tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    slab: tuple = field(repr=False)
    method: str = "REML"
    test: str = "z"
    level: float = 95.0

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with metafor's columns (``tval`` for t-based tests, no ``tau2``
        for equal-effects models), indexed by study label."""
        cols = {}
        for n in _TABLE:
            if n == "tau2" and self.method in ("EE", "FE"):
                continue
            name = _R_NAMES.get(n, n)
            if n == "zval" and self.test != "z":
                name = "tval"
            cols[name] = np.asarray(getattr(self, n))
        return pd.DataFrame(cols, index=pd.Index(list(self.slab), name="slab"))


@dataclass(frozen=True)
class Leave1Out(_FitTable):
    """Row ``i``: the model refitted without study ``i`` (what ``metafor::leave1out``
    returns).

    Attributes
    ----------
    estimate, se, zval, pval, ci_lb, ci_ub : numpy.ndarray
        The pooled estimate of each refit with its standard error, test statistic
        (a t statistic for t-based tests), p-value and confidence interval.
    Q, Qp : numpy.ndarray
        The test for heterogeneity of each refit and its p-value.
    tau2, I2, H2 : numpy.ndarray
        Heterogeneity of each refit (``tau2`` is 0 for equal-effects models).
    slab : tuple
        Study labels, one per row.
    method, test : str
        Estimator and test of the model.
    level : float
        Confidence level in percent.

    Examples
    --------
    >>> import metaparity as mp
    >>> l1o = leave1out(mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL"))
    >>> list(l1o.to_frame().columns)
    ['estimate', 'se', 'zval', 'pval', 'ci.lb', 'ci.ub', 'Q', 'Qp', 'tau2', 'I2', 'H2']
    """


@dataclass(frozen=True)
class Cumul(_FitTable):
    """Row ``j``: the model fitted to the first ``j + 1`` studies in ``order`` (what
    ``metafor::cumul`` returns).

    Attributes
    ----------
    estimate, se, zval, pval, ci_lb, ci_ub : numpy.ndarray
        The pooled estimate of each refit with its standard error, test statistic
        (a t statistic for t-based tests), p-value and confidence interval.
    Q, Qp : numpy.ndarray
        The test for heterogeneity of each refit and its p-value.
    tau2, I2, H2 : numpy.ndarray
        Heterogeneity of each refit (``tau2`` is 0 for equal-effects models).
    slab : tuple
        Label of the study added in each row (in ``order``).
    method, test : str
        Estimator and test of the model.
    level : float
        Confidence level in percent.
    ids : numpy.ndarray
        0-based position in the data of the study added in each row.

    Examples
    --------
    >>> import metaparity as mp
    >>> c = cumul(mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE"), order=[3, 1, 2])
    >>> c.ids.tolist(), list(c.to_frame().index)
    ([1, 2, 0], [2, 3, 1])
    """

    ids: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))


@dataclass(frozen=True)
class Influence:
    """Outlier and influence diagnostics (what ``metafor::influence.rma.uni`` returns),
    one entry per study; the formulas are in the module docstring.

    Attributes
    ----------
    rstudent : numpy.ndarray
        Externally standardized residuals.
    dffits, cook_d, cov_r : numpy.ndarray
        DFFITS, Cook's distances, covariance ratios.
    tau2_del, QE_del : numpy.ndarray
        tau^2 and QE of the model without the study (``tau2_del`` 0 for EE/FE).
    hat, weight : numpy.ndarray
        Hat values and weights in percent.
    dfbs : numpy.ndarray
        DFBETAS of the intercept.
    inf : numpy.ndarray of bool
        Whether the study is flagged as influential (also ``is_infl``).
    slab : tuple
        Study labels.

    Examples
    --------
    >>> import metaparity as mp
    >>> inf = influence(mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL"))
    >>> list(inf.to_frame().columns)
    ['rstudent', 'dffits', 'cook.d', 'cov.r', 'tau2.del', 'QE.del', 'hat', 'weight', 'dfbs', 'inf']
    """

    rstudent: np.ndarray
    dffits: np.ndarray
    cook_d: np.ndarray
    cov_r: np.ndarray
    tau2_del: np.ndarray
    QE_del: np.ndarray
    hat: np.ndarray
    weight: np.ndarray
    dfbs: np.ndarray
    inf: np.ndarray
    slab: tuple = field(repr=False)

    @property
    def is_infl(self) -> np.ndarray:
        """Alias of ``inf`` (metafor's ``is.infl``)."""
        return self.inf

    def to_frame(self) -> pd.DataFrame:
        """Columns as metafor prints them: rstudent dffits cook.d cov.r tau2.del QE.del
        hat weight dfbs inf (bool)."""
        names = {"cook_d": "cook.d", "cov_r": "cov.r", "tau2_del": "tau2.del", "QE_del": "QE.del"}
        cols = {
            names.get(f.name, f.name): np.asarray(getattr(self, f.name))
            for f in fields(self)
            if f.name != "slab"
        }
        return pd.DataFrame(cols, index=pd.Index(list(self.slab), name="slab"))


@dataclass(frozen=True)
class Residuals:
    """Residuals, their standard errors and ``z = resid / se`` (what
    ``metafor::rstandard`` and ``metafor::rstudent`` return).

    Attributes
    ----------
    resid, se, z : numpy.ndarray
        Residual, its standard error and the standardized residual of each study.
    slab : tuple
        Study labels.

    Examples
    --------
    >>> import metaparity as mp
    >>> r = rstandard(mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE"))
    >>> r.to_frame().round(4).values.tolist()[0]  # metafor: rstandard(res)[1, ]
    [-0.1273, 0.0674, -1.8878]
    """

    resid: np.ndarray
    se: np.ndarray
    z: np.ndarray
    slab: tuple = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Columns resid, se, z, indexed by study label."""
        return pd.DataFrame(
            {"resid": self.resid, "se": self.se, "z": self.z},
            index=pd.Index(list(self.slab), name="slab"),
        )


@dataclass(frozen=True)
class Baujat:
    """Baujat plot coordinates (what ``metafor::baujat`` returns).

    Attributes
    ----------
    x : numpy.ndarray
        Contribution of each study to the (generalised) Q.
    y : numpy.ndarray
        Influence of each study on the pooled estimate.
    ids : numpy.ndarray
        1-based study numbers.
    slab : tuple
        Study labels.

    Examples
    --------
    >>> import metaparity as mp
    >>> bj = baujat(mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE"))
    >>> list(bj.to_frame().columns), bj.ids.tolist()
    (['x', 'y', 'ids', 'slab'], [1, 2, 3])
    """

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    slab: tuple

    def to_frame(self) -> pd.DataFrame:
        """Columns x, y, ids, slab (as metafor returns them)."""
        return pd.DataFrame({"x": self.x, "y": self.y, "ids": self.ids, "slab": list(self.slab)})


# --------------------------------------------------------------------------- #
# batch engine
# --------------------------------------------------------------------------- #
def _drop_each(A: np.ndarray) -> np.ndarray:
    """``(..., k)`` -> ``(..., k, k)`` with row ``i`` = ``A`` with entry ``i`` set to NaN."""
    k = A.shape[-1]
    out = np.broadcast_to(A[..., None, :], A.shape[:-1] + (k, k)).copy()
    idx = np.arange(k)
    out[..., idx, idx] = np.nan
    return out


def leave1out_batch(
    Y: ArrayLike,
    V: ArrayLike,
    *,
    method: MethodName = "REML",
    test: TestName = "z",
    level: float = 95,
    weights: ArrayLike | None = None,
) -> BatchResult:
    """Leave-one-out refits of many meta-analyses at once.

    Equivalent to ``metafor::leave1out(rma(yi, vi, method=, test=, level=))`` for
    each meta-analysis (row) of ``Y``/``V``, with all refits in one batch.

    Parameters
    ----------
    Y, V : array_like, shape (..., k)
        Effect sizes and sampling variances, NaN-padded as in
        :func:`metaparity.rma_batch`.
    method : str
        tau^2 estimator, as in :func:`metaparity.rma_batch`.
    test : {"z", "t", "knha", "adhoc"}
        Test of the pooled estimate.
    level : float
        Confidence level in percent.
    weights : array_like, optional
        User weights, shaped as ``Y``.

    Returns
    -------
    BatchResult
        Arrays shaped ``Y.shape`` (``(..., k)``): entry ``[..., i]`` is the fit
        without study ``i``; NaN where study ``i`` is padding.

    Raises
    ------
    ValueError
        When a meta-analysis has fewer than 2 studies (metafor stops: k = 1).

    Examples
    --------
    >>> import numpy as np
    >>> out = leave1out_batch([[0.1, 0.3, 0.5]], [[0.01, 0.02, 0.03]], method="EE")
    >>> np.round(out.b, 4).tolist()  # metafor: leave1out(rma(..., method="EE"))$estimate
    [[0.38, 0.2, 0.1667]]
    """
    return _leave1out_fits(Y, V, method, test, level, weights)


def _leave1out_fits(
    Y: ArrayLike, V: ArrayLike, method: str, test: str, level: float, weights: ArrayLike | None
) -> BatchResult:
    """:func:`leave1out_batch` for estimator and test names already checked (a model's)."""
    Yf = as_float_array("Y", Y)
    Vf = as_float_array("V", V)
    if Yf.ndim == 0 or Yf.shape != Vf.shape:
        raise ValueError(
            f"Y and V must be arrays of the same shape (..., k); got {Yf.shape} and {Vf.shape}"
        )
    present = np.isfinite(Yf) & np.isfinite(Vf)
    kk = present.sum(-1)
    if (kk < 2).any():
        row = int(np.flatnonzero(np.ravel(kk < 2))[0])
        raise ValueError(
            f"meta-analysis {row} has k = {int(np.ravel(kk)[row])} studies; leave-one-out "
            "needs k >= 2 (metafor: 'Stopped because k = 1.')"
        )
    Wl = None
    if weights is not None:
        Wl = _drop_each(np.broadcast_to(as_float_array("weights", weights), Yf.shape))
    out = rma_batch(
        _drop_each(Yf), _drop_each(Vf), method=method, test=test, level=level, weights=Wl
    )
    if present.all():
        return out
    gone = ~present
    upd: dict[str, Any] = {}
    for f in fields(out):
        val = getattr(out, f.name)
        if isinstance(val, np.ndarray) and val.dtype.kind == "f":
            upd[f.name] = np.where(gone, np.nan, val)
    return replace(out, **upd)


def _loo(res: RmaResult) -> BatchResult:
    """The leave-one-out fits of one model: a batch of one row, squeezed."""
    yi, vi = _data(res)
    w = None if res.weights is None else res.weights[None, :]
    out = _leave1out_fits(yi[None, :], vi[None, :], res.method, res.test, res.level, w)
    arrays = {f.name: getattr(out, f.name) for f in fields(out)}
    return replace(out, **{n: a[0] for n, a in arrays.items() if isinstance(a, np.ndarray)})


_T = TypeVar("_T", bound=_FitTable)


def _table(cls: type[_T], fit: BatchResult, res: RmaResult, slab: tuple, **extra: Any) -> _T:
    """One refitted model per row, as the table ``cls`` (tau2 = 0 for EE/FE models)."""
    tau2 = fit.tau2 if res.method not in ("EE", "FE") else np.zeros_like(fit.tau2)
    return cls(
        estimate=fit.b,
        se=fit.se,
        zval=fit.zval,
        pval=fit.pval,
        ci_lb=fit.ci_lb,
        ci_ub=fit.ci_ub,
        Q=fit.QE,
        Qp=fit.QEp,
        tau2=tau2,
        I2=fit.I2,
        H2=fit.H2,
        slab=slab,
        method=res.method,
        test=res.test,
        level=res.level,
        **extra,
    )


# --------------------------------------------------------------------------- #
# public functions on one fitted model
# --------------------------------------------------------------------------- #
def leave1out(res: RmaResult) -> Leave1Out:
    """Refit the model leaving out one study at a time.

    Equivalent to ``metafor::leave1out(res)``.

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` with ``k >= 2``; the refits use its
        method, test and level (and weights).

    Returns
    -------
    Leave1Out
        Arrays ``estimate se zval pval ci_lb ci_ub Q Qp tau2 I2 H2`` (entry ``i``:
        without study ``i``); ``to_frame()`` gives metafor's columns.  Rows with
        ``k - 1 = 1`` studies use a z-test, as metafor does.

    Raises
    ------
    TypeError
        ``res`` is not an intercept-only model from :func:`metaparity.rma`.
    ValueError
        k = 1 (metafor: "Stopped because k = 1.").

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL")
    >>> l1o = leave1out(res)
    >>> [round(float(x), 4) for x in l1o.estimate]  # metafor: leave1out(res)$estimate
    [0.3, 0.2293, 0.1769, 0.2674]
    """
    _need_k2(res, "leave1out")
    return _table(Leave1Out, _loo(res), res, _labels(res))


def cumul(res: RmaResult, order: ArrayLike | None = None) -> Cumul:
    """Cumulative meta-analysis: add one study at a time.

    Equivalent to ``metafor::cumul(res, order=)``.

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma`.
    order : array_like, optional
        A variable of length ``k`` by which the studies are sorted (stable, as R's
        ``order()``: ties keep data order), e.g. the publication year.  Default:
        data order.

    Returns
    -------
    Cumul
        Row ``j`` is the model fitted to the first ``j + 1`` studies; ``slab`` and
        ``ids`` give the study added in that row.  The first row (k = 1) uses a
        z-test, as metafor does.

    Raises
    ------
    TypeError
        ``res`` is not an intercept-only model from :func:`metaparity.rma`.
    ValueError
        ``order`` does not have one entry per study.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE")
    >>> [round(float(x), 4) for x in cumul(res).estimate]  # metafor: cumul(res)$estimate
    [0.1, 0.1667, 0.2273]
    >>> c = cumul(res, order=[2003, 2001, 2002])
    >>> c.ids.tolist(), [round(float(x), 4) for x in c.estimate]
    ([1, 2, 0], [0.3, 0.38, 0.2273])
    """
    if not isinstance(res, RmaResult) or not res.int_only:
        raise TypeError(f"cumul() needs a fitted model from metaparity.rma(); got {type(res)!r}")
    k = res.k
    if order is None:
        idx = np.arange(k)
    else:
        o = np.asarray(order).ravel()
        if o.shape[0] != k:
            raise ValueError(f"order has length {o.shape[0]}; the model has k = {k} studies")
        idx = np.argsort(o, kind="stable")
    yi, vi = _data(res)
    lower = np.tril(np.ones((k, k), bool))
    Y = np.where(lower, yi[idx][None, :], np.nan)
    V = np.where(lower, vi[idx][None, :], np.nan)
    W = None if res.weights is None else np.where(lower, res.weights[idx][None, :], np.nan)
    fit = rma_batch(Y, V, method=res.method, test=res.test, level=res.level, weights=W)
    labels = _labels(res)
    return _table(Cumul, fit, res, tuple(labels[i] for i in idx), ids=idx)


def rstandard(res: RmaResult) -> Residuals:
    """Internally standardized residuals (marginal).

    Equivalent to ``metafor::rstandard(res)`` (``rstandard.rma.uni``):
    ``resid = y_i - b`` with ``se = sqrt(v_i + tau2 - 1/sum(w))``, ``w = 1/(v + tau2)``
    (the diagonal of ``(I - H) M (I - H)'``; no Knapp-Hartung factor, as metafor).

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` (no user weights).

    Returns
    -------
    Residuals
        ``resid``, ``se``, ``z`` per study.

    Raises
    ------
    TypeError
        ``res`` is not an intercept-only model from :func:`metaparity.rma`.
    NotImplementedError
        The model was fitted with user weights.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE")
    >>> [round(float(z), 4) for z in rstandard(res).z]  # metafor: rstandard(res)$z
    [-1.8878, 0.603, 1.7408]
    """
    if not isinstance(res, RmaResult) or not res.int_only:
        raise TypeError(
            f"rstandard() needs a fitted model from metaparity.rma(); got {type(res)!r}"
        )
    _need_unweighted(res, "rstandard")
    yi, vi = _data(res)
    w = 1.0 / (vi + res.tau2)
    e = yi - res.b
    se = np.sqrt(np.maximum(vi + res.tau2 - 1.0 / w.sum(), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = e / se
    return Residuals(resid=e, se=se, z=z, slab=_labels(res))


def _deleted(
    res: RmaResult,
) -> tuple[BatchResult, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Leave-one-out fits plus the pieces the influence measures share: the fits,
    ``yi``, ``vi``, the Knapp-Hartung factors and ``1 / sum_j 1/(v_j + tau2_(i))``."""
    L = _loo(res)
    y, v = _data(res)
    vz = 1.0 / ((1.0 / (v[None, :] + L.tau2[:, None])) * ~np.eye(res.k, dtype=bool)).sum(-1)
    s2 = L.se**2 / vz  # Knapp-Hartung factor of each deleted fit (1 for z and t)
    vall = 1.0 / (1.0 / (v[None, :] + L.tau2[:, None])).sum(-1)  # all k, tau2_(i)
    return L, y, v, s2, vall


def rstudent(res: RmaResult) -> Residuals:
    """Externally standardized (deleted) residuals.

    Equivalent to ``metafor::rstudent(res)`` (``rstudent.rma.uni``):
    ``resid = y_i - b_(i)`` (the prediction of the model fitted without study ``i``),
    ``se = sqrt(s2_(i) (v_i + tau2_(i)) + vb_(i))`` with ``s2`` the Knapp-Hartung
    factor of that fit (1 for tests z and t).

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` (no user weights) with ``k >= 2``.

    Returns
    -------
    Residuals
        ``resid``, ``se``, ``z`` per study.

    Raises
    ------
    TypeError
        ``res`` is not an intercept-only model from :func:`metaparity.rma`.
    ValueError
        k = 1 (metafor: "Stopped because k = 1.").
    NotImplementedError
        The model was fitted with user weights.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE")
    >>> [round(float(z), 4) for z in rstudent(res).z]  # = rstandard for EE models
    [-1.8878, 0.603, 1.7408]
    """
    _need_k2(res, "rstudent")
    _need_unweighted(res, "rstudent")
    L, y, v, s2, _ = _deleted(res)
    e = y - L.b
    se = np.sqrt(s2 * (v + L.tau2) + L.se**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = e / se
    return Residuals(resid=e, se=se, z=z, slab=_labels(res))


def influence(res: RmaResult) -> Influence:
    """Outlier and influence diagnostics.

    Equivalent to ``metafor::influence(res)`` (``influence.rma.uni``).

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` (no user weights) with ``k >= 2``.

    Returns
    -------
    Influence
        ``rstudent dffits cook_d cov_r tau2_del QE_del hat weight dfbs inf``; the
        formulas are listed in the module docstring.  ``inf`` flags a study when
        ``|dffits| > 3 sqrt(1/(k-1))``, ``P(chi2_1 <= cook.d) > 0.5``, ``hat > 3/k``
        or ``|dfbs| > 1`` (metafor's rule with p = 1).

    Raises
    ------
    TypeError
        ``res`` is not an intercept-only model from :func:`metaparity.rma`.
    ValueError
        k = 1 (metafor: "Stopped because k = 1.").
    NotImplementedError
        The model was fitted with user weights.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL")
    >>> inf = influence(res)
    >>> [round(float(x), 4) for x in inf.cook_d], inf.inf.tolist()  # metafor: influence(res)
    ([0.6526, 0.0084, 0.5752, 0.1542], [True, False, True, False])
    """
    _need_k2(res, "influence")
    _need_unweighted(res, "influence")
    L, y, v, s2, vall = _deleted(res)
    k = res.k
    w = 1.0 / (v + res.tau2)
    hat = w / w.sum()
    vb = res.se**2
    d = res.b - L.b
    with np.errstate(divide="ignore", invalid="ignore"):
        rst = (y - L.b) / np.sqrt(s2 * (v + L.tau2) + L.se**2)
        dffits = d / np.sqrt(s2 * hat * (v + L.tau2))
        cook = d * d / vb
        covr = L.se**2 / vb
        dfbs = d / np.sqrt(s2 * vall)
    p = 1
    inf = (
        (np.abs(dffits) > 3.0 * np.sqrt(p / (k - p)))
        | (stats.chi2.cdf(cook, p) > 0.5)
        | (hat > 3.0 * p / k)
        | (np.abs(dfbs) > 1.0)
    )
    tau2_del = L.tau2 if res.method not in ("EE", "FE") else np.zeros(k)
    return Influence(
        rstudent=rst,
        dffits=dffits,
        cook_d=cook,
        cov_r=covr,
        tau2_del=tau2_del,
        QE_del=L.QE,
        hat=hat,
        weight=100.0 * hat,
        dfbs=dfbs,
        inf=inf,
        slab=_labels(res),
    )


def baujat(res: RmaResult) -> Baujat:
    """Baujat plot coordinates.

    Equivalent to ``metafor::baujat(res)`` (the coordinates it returns):
    ``x_i = (y_i - b)^2 / (v_i + tau2)`` (squared Pearson residual; for an
    equal-effects model the contribution of study ``i`` to QE) and
    ``y_i = (b - b_(i))^2 / vb_(i)`` (squared change of the pooled estimate when the
    study is left out, standardized by the variance of the leave-one-out estimate).

    Parameters
    ----------
    res : RmaResult
        A model from :func:`metaparity.rma` (no user weights) with ``k >= 2``.

    Returns
    -------
    Baujat
        ``x``, ``y``, ``ids`` (1-based) and ``slab`` per study.

    Raises
    ------
    TypeError
        ``res`` is not an intercept-only model from :func:`metaparity.rma`.
    ValueError
        k = 1 (metafor: "Stopped because k = 1.").
    NotImplementedError
        The model was fitted with user weights.

    Examples
    --------
    >>> import metaparity as mp
    >>> res = mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="EE")
    >>> bj = baujat(res)
    >>> [round(float(x), 4) for x in bj.x], [round(float(y), 4) for y in bj.y]  # metafor: baujat(res)
    ([1.6198, 0.2645, 2.4793], [1.9438, 0.0992, 0.551])
    """
    _need_k2(res, "baujat")
    _need_unweighted(res, "baujat")
    L = _loo(res)
    yi, vi = _data(res)
    x = (yi - res.b) ** 2 / (vi + res.tau2)
    with np.errstate(divide="ignore", invalid="ignore"):
        yv = (res.b - L.b) ** 2 / L.se**2
    return Baujat(x=x, y=yv, ids=np.arange(1, res.k + 1), slab=_labels(res))
