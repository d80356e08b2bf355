"""Random-/equal-effects pooling: ``rma`` (one meta-analysis) and ``rma_batch`` (many).

There is one implementation, :func:`_fit`, working on ``(n, k)`` arrays.
``rma()`` validates its inputs, calls it with one row and wraps the row in an
:class:`RmaResult`.  ``rma_batch()`` calls it with all rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from scipy import stats

from metaparity._core.names import METHODS, TESTS, check_choice
from metaparity._core.validation import (
    as_float_array,
    check_same_length,
    check_yi_vi,
    column,
    study_label,
)
from metaparity.effects import study_labels
from metaparity.engine.estimators import estimate_tau2

__all__ = ["rma", "rma_batch", "RmaResult", "BatchResult"]


# --------------------------------------------------------------------------- #
# the engine
# --------------------------------------------------------------------------- #
def _prepare(Y: np.ndarray, V: np.ndarray, W: np.ndarray | None):
    """Flatten ``(..., k)`` to ``(n, k)``, build the mask, neutralise padding."""
    lead = Y.shape[:-1]
    k = Y.shape[-1]
    y = Y.reshape(-1, k)
    v = V.reshape(-1, k)
    present = np.isfinite(y) & np.isfinite(v)
    m = present.astype(float)
    y = np.where(present, y, 0.0)
    v = np.where(present, v, 1.0)
    w = None
    if W is not None:
        w = np.where(present, W.reshape(-1, k), 0.0)
    return lead, y, v, m, w


def _fit(
    y: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    *,
    method: str,
    test: str,
    level: float,
    weights: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Fit every row of ``(n, k)`` arrays; returns a dict of ``(n,)`` arrays."""
    k = m.sum(-1).astype(np.int64)
    kf = k.astype(float)
    fit = estimate_tau2(method, y, v, m, k, weights=weights)
    tau2 = fit.tau2

    # pooled estimate: inverse-variance weights, or the user's weights
    wre = m / (v + tau2[:, None])
    a = wre if weights is None else weights
    sa = a.sum(-1)
    b = (a * y).sum(-1) / sa
    r = (y - b[:, None]) * m
    if weights is None:
        vb = 1.0 / sa
    else:
        vb = (a * a * (v + tau2[:, None]) * m).sum(-1) / (sa * sa)

    df = kf - 1.0
    if test in ("knha", "adhoc"):
        rr = r
        if weights is not None:
            rr = (y - ((wre * y).sum(-1) / wre.sum(-1))[:, None]) * m
        rss = (wre * rr * rr).sum(-1)
        # metafor 3.8 treats a weighted residual sum of squares below machine epsilon
        # as 0 (identical studies up to rounding): the SE becomes 0, z = Inf
        rss = np.where(rss < np.finfo(float).eps, 0.0, rss)
        with np.errstate(divide="ignore", invalid="ignore"):
            s2 = rss / df
        s2 = np.where(k > 1, s2, 1.0)
        if test == "adhoc":
            s2 = np.maximum(s2, 1.0)
        vb = vb * s2
    se = np.sqrt(vb)
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = b / se  # se = 0 (identical yi under knha): Inf or NaN, as metafor
    alpha = 1.0 - level / 100.0
    # metafor: with k = 1 the test is set to "z" (there are no df for a t-test)
    use_z = np.full(b.shape, test == "z") | (k <= 1)
    dft = np.maximum(df, 1.0)
    pval = np.where(use_z, 2.0 * stats.norm.sf(np.abs(zval)), _t_two_sided(zval, dft))
    crit = np.where(use_z, stats.norm.isf(alpha / 2.0), stats.t.isf(alpha / 2.0, dft))
    dfs = np.where(use_z, np.nan, df)

    # heterogeneity (always from the equal-effects fit, as metafor)
    wfe = m / v
    swf = wfe.sum(-1)
    bfe = (wfe * y).sum(-1) / swf
    rfe = (y - bfe[:, None]) * m
    qe = (wfe * rfe * rfe).sum(-1)
    qe = np.where(k > 1, qe, 0.0)
    qep = np.where(k > 1, stats.chi2.sf(qe, np.maximum(df, 1.0)), 1.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # QE ~ 0: I2 -> 0
        s2typ = df * swf / (swf * swf - (wfe * wfe).sum(-1))
        if method in ("EE", "FE"):
            i2 = np.where(qe > 0, np.maximum(0.0, 100.0 * (qe - df) / qe), 0.0)
            h2 = qe / df
        else:
            i2 = 100.0 * tau2 / (tau2 + s2typ)
            h2 = (tau2 + s2typ) / s2typ
    single = k <= 1
    i2 = np.where(single, 0.0, i2)
    h2 = np.where(single, 1.0, h2)

    return dict(
        b=b,
        se=se,
        zval=zval,
        pval=pval,
        ci_lb=b - crit * se,
        ci_ub=b + crit * se,
        tau2=tau2,
        se_tau2=fit.se_tau2,
        I2=i2,
        H2=h2,
        QE=qe,
        QEp=qep,
        k=k,
        dfs=dfs,
        s2typ=np.where(single, np.nan, s2typ),
        converged=fit.converged,
        iterations=fit.iterations,
        set_to_zero=np.zeros(b.shape, bool) if fit.set_to_zero is None else fit.set_to_zero,
    )


def _t_two_sided(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided t p-value ``P(|T_df| > |t|)`` from the regularised incomplete beta.

    ``2 * scipy.stats.t.sf`` loses digits near p = 1 for df = 1 (3.8e-10 relative at
    t = 3.6e-8, found by the differential tests against R's ``pt``).  Each of the two
    beta forms is used where the quantity it computes directly is the small one.
    """
    from scipy import special

    t2 = np.asarray(t, dtype=float) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        q = special.betainc(0.5, df / 2.0, t2 / (df + t2))  # 1 - p, accurate when small
        tail = special.betainc(df / 2.0, 0.5, df / (df + t2))  # p, accurate when small
    out = np.where(q < 0.5, 1.0 - q, tail)
    return np.where(np.isinf(t2), 0.0, out)


# --------------------------------------------------------------------------- #
# batch API
# --------------------------------------------------------------------------- #
_BATCH_FIELDS = (
    "b se zval pval ci_lb ci_ub tau2 se_tau2 I2 H2 QE QEp k dfs converged iterations"
).split()


@dataclass(frozen=True)
class BatchResult:
    """Results of :func:`rma_batch`: every field is an array shaped like ``Y.shape[:-1]``."""

    b: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    tau2: np.ndarray
    se_tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    QE: np.ndarray
    QEp: np.ndarray
    k: np.ndarray
    dfs: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    method: str
    test: str
    level: float

    def to_dict(self) -> dict[str, Any]:
        """Fields as a plain dict (arrays stay arrays)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_frame(self):
        """Fields as a pandas DataFrame, one row per meta-analysis (flattened)."""
        import pandas as pd

        return pd.DataFrame({n: np.ravel(getattr(self, n)) for n in _BATCH_FIELDS})


def rma_batch(
    Y: Any,
    V: Any,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    weights: Any = None,
    engine: str = "auto",
    chunk_size: int | None = None,
) -> BatchResult:
    """Fit many meta-analyses at once.

    Parameters
    ----------
    Y, V : array_like, shape (..., k)
        Effect sizes and sampling variances; studies on the last axis.  NaN in
        ``Y`` or ``V`` marks padding (ragged sets); every other ``V`` must be > 0.
    method, test, level, weights
        As in :func:`rma`.
    engine : {"auto", "numba", "numpy"}
        ``"numpy"`` is the reference implementation (the one :func:`rma` uses);
        ``"numba"`` computes the same numbers in one compiled pass per row
        (``pip install 'metaparity[fast]'``); ``"auto"`` (default) takes numba
        when it is installed and the batch has >= 200,000 rows (the kernel compiles
        once per machine, ~1.5 min, then is cached).  See docs/batch_engine.md.
    chunk_size : int, optional
        Rows fitted at a time (default 65536); bounds the working memory.
        Results do not depend on it.

    Returns
    -------
    BatchResult
        Arrays shaped ``Y.shape[:-1]``, plus per-row ``converged`` flags.

    Examples
    --------
    >>> import numpy as np
    >>> res = rma_batch([[0.1, 0.3, 0.5], [0.2, 0.2, np.nan]],
    ...                 [[0.01, 0.02, 0.03], [0.01, 0.01, np.nan]], method="DL")
    >>> res.k.tolist()
    [3, 2]
    """
    # dask arrays: the same fit mapped lazily over row chunks (dask is imported only then)
    if any(type(a).__module__.startswith("dask.") for a in (Y, V, weights)):
        from metaparity.engine.dask import rma_batch_dask

        return rma_batch_dask(**{n: a for n, a in locals().items() if n != "rma_batch_dask"})
    method = check_choice("method", method, METHODS)
    test = check_choice("test", test, TESTS)
    level = _check_level(level)
    Yf = as_float_array("Y", Y)
    Vf = as_float_array("V", V)
    if Yf.ndim == 0 or Yf.shape != Vf.shape:
        raise ValueError(
            f"Y and V must be arrays of the same shape (..., k); got {Yf.shape} and {Vf.shape}"
        )
    Wf = None
    if weights is not None:
        Wf = np.broadcast_to(as_float_array("weights", weights), Yf.shape)
    from metaparity.engine.dispatch import fit_batch

    lead, k = Yf.shape[:-1], Yf.shape[-1]
    out = fit_batch(
        Yf.reshape(-1, k),
        Vf.reshape(-1, k),
        None if Wf is None else Wf.reshape(-1, k),
        method=method,
        test=test,
        level=level,
        engine=engine,
        chunk_size=chunk_size,
    )
    arrays = {n: out[n].reshape(lead) for n in _BATCH_FIELDS}
    return BatchResult(**arrays, method=method, test=test, level=float(level))


def _check_level(level: float) -> float:
    lv = float(level)
    if 0 < lv < 1:
        lv *= 100.0  # metafor accepts 0.95 as 95
    if not 0 < lv < 100:
        raise ValueError(f"level={level!r} must be a percentage in (0, 100), e.g. 95")
    return lv


_SCALAR_FIELDS = "b se zval pval ci_lb ci_ub tau2 se_tau2 I2 H2 QE QEp dfs s2typ".split()


# --------------------------------------------------------------------------- #
# single meta-analysis
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class RmaResult:
    """One fitted model (``metafor::rma.uni`` with intercept only)."""

    b: float
    se: float
    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    tau2: float
    se_tau2: float
    I2: float
    H2: float
    QE: float
    QEp: float
    k: int
    method: str
    test: str
    level: float
    dfs: float
    converged: bool
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    weights: np.ndarray | None = field(repr=False, default=None)
    slab: tuple | None = field(repr=False, default=None)
    measure: str = field(repr=False, default="GEN")
    ni: np.ndarray | None = field(repr=False, default=None)
    s2typ: float = field(repr=False, default=float("nan"))

    @property
    def tau(self) -> float:
        return float(np.sqrt(self.tau2))

    @property
    def beta(self) -> float:
        """Alias of ``b`` (metafor's ``beta``)."""
        return self.b

    def to_dict(self) -> dict[str, Any]:
        """The numeric results and settings as a JSON-ready dict."""
        keys = ("b se zval pval ci_lb ci_ub tau2 se_tau2 I2 H2 QE QEp k method test level").split()
        return {k: getattr(self, k) for k in keys}

    def predict(self, transf: Any = None, level: float | None = None, targs: dict | None = None):
        """Pooled estimate with CI and prediction interval (``metafor::predict.rma``)."""
        from metaparity.models.predict import predict

        return predict(self, transf=transf, level=level, targs=targs)

    def confint(self, level: float | None = None):
        """Q-profile CI for tau^2, tau, I^2, H^2 (``metafor::confint.rma.uni``)."""
        from metaparity.models.confint import confint

        return confint(self, level=level)

    def summary(self) -> str:
        """A printout laid out like metafor's ``print.rma.uni``."""
        from metaparity.models.summary import format_summary

        return format_summary(self)

    def __str__(self) -> str:
        return self.summary()


def rma(
    yi: Any = None,
    vi: Any = None,
    *,
    sei: Any = None,
    weights: Any = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    data: Any = None,
    slab: Any = None,
    mods: Any = None,
) -> RmaResult:
    """Fit an equal- or random-effects model (intercept only).

    With ``mods=`` (a formula such as ``"~ ablat"`` or moderator values) this is a
    meta-regression: the call is passed to :func:`metaparity.models.metareg.rma_mods` and
    returns its :class:`~metaparity.models.metareg.RmaModsResult`.

    Equivalent to ``metafor::rma(yi, vi, method=, test=, level=)``.

    Parameters
    ----------
    yi, vi : array_like or str
        Effect sizes and sampling variances (or column names in ``data``).
        When ``data`` is the output of :func:`metaparity.effects.escalc` they default to
        its ``yi``/``vi`` columns.
    sei : array_like or str, optional
        Standard errors, used when ``vi`` is not given (``vi = sei**2``).
    weights : array_like or str, optional
        User weights for the pooled estimate (and the weights of ``GENQ``).
    method : str
        tau^2 estimator: EE (alias FE), DL, DLIT, HE, HS, HSk, SJ, SJIT, ML,
        REML (default), EB, PM, PMM, GENQ.
    test : {"z", "t", "knha", "adhoc"}
        Inference for the pooled estimate.
    level : float
        Confidence level in percent.
    data : pandas.DataFrame, optional
    slab : array_like or str, optional
        Study labels (used in messages and printouts).
    mods : str, DataFrame, Series or array_like, optional
        Moderators (meta-regression, see :func:`metaparity.models.metareg.rma_mods`).

    Examples
    --------
    >>> # metafor: rma(c(.1,.3,.5,.2), c(.01,.02,.03,.015), method="DL") -> 0.2365, 0.0079
    >>> res = rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL")
    >>> round(res.b, 4), round(res.tau2, 4)
    (0.2365, 0.0079)
    """
    if mods is not None:
        if sei is not None or weights is not None:
            raise ValueError("mods= does not take sei= or weights=; give vi")
        from metaparity.models.metareg import rma_mods

        return rma_mods(yi, vi, mods, data=data, method=method, test=test, level=level,
                        slab=slab)  # fmt: skip
    method = check_choice("method", method, METHODS)
    test = check_choice("test", test, TESTS)
    level = _check_level(level)
    measure = "GEN"
    ni = None
    if data is not None:
        attrs = getattr(data, "attrs", {}) or {}
        measure = attrs.get("measure", "GEN")
        if yi is None:
            yi = "yi"
        if vi is None and sei is None:
            vi = "vi"
        if "ni" in attrs and attrs["ni"] is not None:
            ni = np.asarray(attrs["ni"], dtype=float)
        if slab is None:
            slab = study_labels(data)

    yi, vi, sei, weights, slab = (
        column(n, x, data)
        for n, x in (("yi", yi), ("vi", vi), ("sei", sei), ("weights", weights), ("slab", slab))
    )
    if yi is None or (vi is None and sei is None):
        raise ValueError("give yi and vi (or sei), or data= from escalc()")
    y = np.atleast_1d(as_float_array("yi", yi)).ravel()
    if vi is None:
        s = np.atleast_1d(as_float_array("sei", sei)).ravel()
        check_same_length(yi=y, sei=s)
        v = s * s
    else:
        v = np.atleast_1d(as_float_array("vi", vi)).ravel()
    w = None if weights is None else np.atleast_1d(as_float_array("weights", weights)).ravel()
    labels = None if slab is None else tuple(np.asarray(slab, dtype=object).ravel().tolist())
    check_same_length(yi=y, vi=v, weights=w, slab=None if labels is None else np.asarray(labels))
    check_yi_vi(y, v, labels)
    if w is not None:
        for i, wi in enumerate(w):
            if not np.isfinite(wi) or wi <= 0:
                raise ValueError(
                    f"{study_label(i, labels)} has weight {float(wi):g}; weights must be positive and finite"
                )
    if method == "GENQ" and w is None:
        raise ValueError("method='GENQ' needs weights= (the weights of the generalised Q)")
    if y.size == 1 and test != "z":
        warnings.warn('Setting test="z" since k=1 (as metafor does).', UserWarning, stacklevel=2)
        test = "z"
    out = _fit(
        y[None, :],
        v[None, :],
        np.ones((1, y.size)),
        method=method,
        test=test,
        level=level,
        weights=None if w is None else w[None, :],
    )
    g = {n: out[n][0].item() for n in out}
    if g["set_to_zero"]:
        warnings.warn(
            "Fisher scoring reached a local maximum whose likelihood is below the one at "
            "tau^2 = 0; setting tau^2 = 0 (as metafor does)",
            UserWarning,
            stacklevel=2,
        )
    nums = {f: float(g[f]) for f in _SCALAR_FIELDS}
    return RmaResult(
        **nums,
        k=int(g["k"]),
        method=method,
        test=test,
        level=level,
        converged=bool(g["converged"]),
        yi=y,
        vi=v,
        weights=w,
        slab=labels,
        measure=measure,
        ni=ni,
    )
