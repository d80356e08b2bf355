"""Random-/equal-effects pooling: ``rma`` (one meta-analysis) and ``rma_batch`` (many).

There is one implementation, :func:`metaparity.engine.reference.fit`, working on
``(n, k)`` arrays.  ``rma()`` validates its inputs, calls it with one row and wraps the
row in an :class:`~metaparity.models.results.RmaResult`; ``rma_batch()`` calls it (or
the compiled engine, which gives the same numbers) with all rows.  ``rma(mods=...)`` is
:func:`metaparity.models.metareg.rma_mods` and returns the same result type.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from metaparity._core.mfversion import get_metafor_version, metafor_version
from metaparity._core.names import (
    METHODS,
    TESTS,
    Measure,
    MethodName,
    TestName,
    check_choice,
    estimating_method,
    estimating_test,
)
from metaparity._core.validation import as_float_array, check_level
from metaparity.effects.escalc import To
from metaparity.engine import reference
from metaparity.engine.dask import is_dask, map_fit
from metaparity.engine.dispatch import fit_batch
from metaparity.engine.facts import BATCH_FIELDS, SCALAR_FIELDS
from metaparity.models.formula import split_formula
from metaparity.models.inputs import (
    VI_RATIO_WARN,
    check_zero_variances,
    fixed_tau2,
    model_inputs,
    raise_div0,
    read_control,
    warn_set_to_zero,
    warn_variance_ratio,
)
from metaparity.models.metareg import rma_mods
from metaparity.models.results import BatchResult, DaskBatchResult, RmaResult

__all__ = ["rma", "rma_batch"]


def rma_batch(
    Y: ArrayLike,
    V: ArrayLike,
    *,
    method: MethodName = "REML",
    test: TestName = "z",
    level: float = 95,
    weights: Any = None,
    engine: Literal["auto", "numba", "numpy"] = "auto",
    chunk_size: int | None = None,
) -> BatchResult:
    """Fit many meta-analyses at once (a loop of ``metafor::rma`` over the rows, in one call).

    Every row is fitted as :func:`rma` fits it (the same numpy code); the numba engine
    gives the same numbers to the last bit (QEp: within a bound, see docs/batch_engine.md).

    Parameters
    ----------
    Y, V : array_like, shape (..., k)
        Effect sizes and sampling variances; studies on the last axis.  NaN in
        ``Y`` or ``V`` marks padding (ragged sets); +-inf is refused (naming the row and
        study), every other ``V`` must be > 0.  Rows with ``max(V)/min(V) >= 1e7`` are
        fitted and named in one warning (metafor warns for each such fit).
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
    if any(is_dask(a) for a in (Y, V, weights)):
        chunk_fit = functools.partial(_fit_chunk, method=method, test=test, level=level,
                                      engine=engine, chunk_size=chunk_size,
                                      metafor=get_metafor_version())  # fmt: skip
        return DaskBatchResult(**map_fit(Y, V, weights, fit=chunk_fit))
    method = check_choice("method", method, METHODS)
    test = estimating_test(check_choice("test", test, TESTS))  # metafor: "hksj" is "knha"
    level = check_level(level)
    Yf = as_float_array("Y", Y)
    Vf = as_float_array("V", V)
    if Yf.ndim == 0 or Yf.shape != Vf.shape:
        raise ValueError(
            f"Y and V must be arrays of the same shape (..., k); got {Yf.shape} and {Vf.shape}"
        )
    Wf = None
    if weights is not None:
        Wf = np.broadcast_to(as_float_array("weights", weights), Yf.shape)
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
    _warn_batch_ratio(Vf.reshape(-1, k), Yf.reshape(-1, k))
    arrays = {n: out[n].reshape(lead) for n in BATCH_FIELDS}
    return BatchResult(**arrays, method=method, test=test, level=float(level))


def rma(
    yi: ArrayLike | str | None = None,
    vi: ArrayLike | str | None = None,
    *,
    sei: ArrayLike | str | None = None,
    weights: ArrayLike | str | None = None,
    method: MethodName = "REML",
    test: TestName = "z",
    level: float = 95,
    data: Any = None,
    slab: ArrayLike | str | None = None,
    mods: Any = None,
    control: Any = None,
    measure: Measure | None = None,
    ai: ArrayLike | str | None = None,
    bi: ArrayLike | str | None = None,
    ci: ArrayLike | str | None = None,
    di: ArrayLike | str | None = None,
    n1i: ArrayLike | str | None = None,
    n2i: ArrayLike | str | None = None,
    m1i: ArrayLike | str | None = None,
    m2i: ArrayLike | str | None = None,
    sd1i: ArrayLike | str | None = None,
    sd2i: ArrayLike | str | None = None,
    xi: ArrayLike | str | None = None,
    mi: ArrayLike | str | None = None,
    ni: ArrayLike | str | None = None,
    ri: ArrayLike | str | None = None,
    add: float | None = None,
    to: To = "only0",
    drop00: bool = False,
    subset: ArrayLike | str | None = None,
    tau2: float | None = None,
    weighted: bool = True,
    na_action: Literal["omit", "fail"] = "omit",
) -> RmaResult:
    """Fit an equal- or random-effects model (intercept only).

    With ``mods=`` (a formula such as ``"~ ablat"`` or moderator values) this is a
    meta-regression: the call is passed to :func:`metaparity.rma_mods`; the result is the
    same :class:`~metaparity.models.results.RmaResult` with one entry per coefficient.

    Equivalent to ``metafor::rma(yi, vi, method=, test=, level=)``, with metafor's
    ``measure=`` and escalc's inputs (``rma(measure="OR", ai=, bi=, ci=, di=, data=)``),
    ``subset=``, ``tau2=``, ``weighted=`` and ``na.action`` (``na_action=``).

    Parameters
    ----------
    yi, vi : array_like or str
        Effect sizes and sampling variances (or column names in ``data``); ``yi`` may be
        a two-sided formula, ``"yi ~ ablat * alloc"`` (metafor's ``rma(yi ~ mods, vi)``):
        its left side names the estimates, its right side the moderators.
        When ``data`` is the output of :func:`metaparity.escalc` they default to
        its ``yi``/``vi`` columns.  Sampling variances of 0 are accepted by the
        estimators metafor accepts them for (REML, ML, EB, HE, SJ, SJIT, GENQ) as
        long as no inverse-variance weight ``1/(vi + tau^2)`` is infinite; QE, QEp, I2
        and H2 are then NaN (metafor: NA).  EE, DL, DLIT, HS, HSk, PM and PMM refuse
        them, naming the studies, as metafor does.  ``max(vi)/min(vi) >= 1e7`` gives
        metafor's warning ("Ratio of largest to smallest sampling variance extremely
        large ..."); the fit stays exact there (vi down to 1e-300 are fitted in the unit
        of the smallest variance).
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
        Moderators (meta-regression, see :func:`metaparity.rma_mods`).
    control : None, "metafor" or dict, optional
        None (default): iterative estimators are solved to their exact root.
        ``"metafor"``: run metafor's own iteration with its default control and stop
        where metafor stops (Fisher scoring for ML/REML/EB, the SJIT/DLIT updates,
        ``uniroot`` for PM/PMM), so the numbers are those of a default metafor run.
        A dict: metafor's ``control=list(...)`` settings under metafor's names
        (``"tau2.init"``, ``"tau2.min"``, ``"tau2.max"``, ``"threshold"``, ``"tol"``,
        ``"maxiter"``, ``"stepadj"``, ``"ll0check"``), the others at metafor's defaults.
        Where metafor's iteration fails, :class:`~metaparity.engine.control.ConvergenceError`
        (a ``ValueError``) carries metafor's message.  See docs/control_metafor.md.
    measure : str, optional
        With escalc's inputs (``ai`` ... ``ri``): the effect size to compute first, as
        :func:`metaparity.escalc` computes it (metafor's ``rma(measure=, ai=, ...)``);
        with ``yi`` given: the measure the values are (for ``predict(transf=True)``).
    ai, bi, ci, di, n1i, n2i, m1i, m2i, sd1i, sd2i, xi, mi, ni, ri : array_like or str, optional
        escalc's inputs (values or column names of ``data``); the study labels and the
        sizes travel as with escalc output.  With ``yi`` given, ``ni`` alone is the study
        sizes (for ``ipft.hm``).
    add, to, drop00 : optional
        escalc's continuity correction (metafor's defaults: ``add=1/2`` -- 0 for PAS and
        PFT --, ``to="only0"``, ``drop00=False``), applied after ``subset``.
    subset : array_like of bool or int, or str, optional
        The studies to fit: a boolean mask of length k, 0-based integer positions, or
        the name of a boolean column of ``data``.  Applied first (before escalc, so
        ``to="if0all"`` looks only at the selected studies), as metafor does.
    tau2 : float, optional
        Hold tau^2 at this value (>= 0) instead of estimating it (metafor's ``tau2=``):
        ``se_tau2`` is the estimator's formula at that value, I2/H2 follow from it, QE is
        unchanged; ignored with EE (with a warning).
    weighted : bool
        ``False``: unweighted estimation (the mean, with variance ``sum(vi + tau2)/k^2``);
        user weights then enter only GENQ's tau^2; Knapp-Hartung's factor still comes from
        the inverse-variance weighted fit, as in metafor.
    na_action : {"omit", "fail"}
        Studies with a missing (NaN/None) yi, vi, weight or moderator: omitted with a
        warning naming them (default, metafor's ``na.omit``), or an error naming them.

    Returns
    -------
    RmaResult
        metafor's fields (``b, se, zval, pval, ci_lb, ci_ub, tau2, se_tau2, I2, H2, QE,
        QEp, k`` ...), with ``predict()``, ``confint()`` and ``summary()``; floats for the
        intercept-only model, one entry per coefficient with ``mods``.

    Examples
    --------
    >>> # metafor: rma(c(.1,.3,.5,.2), c(.01,.02,.03,.015), method="DL") -> 0.2365, 0.0079
    >>> res = rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, 0.015], method="DL")
    >>> round(res.b, 4), round(res.tau2, 4)
    (0.2365, 0.0079)
    """
    effects: dict[str, Any] = dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i, m1i=m1i, m2i=m2i, sd1i=sd1i,
                   sd2i=sd2i, xi=xi, mi=mi, ni=ni, ri=ri)  # fmt: skip
    yi, mods = split_formula(yi, mods)
    if mods is not None:
        return rma_mods(yi, vi, mods, data=data, method=method, test=test, level=level,
                        slab=slab, control=control, sei=sei, weights=weights,
                        measure=measure, **effects, add=add, to=to, drop00=drop00,
                        subset=subset, tau2=tau2, weighted=weighted,
                        na_action=na_action)  # fmt: skip
    method = check_choice("method", method, METHODS)
    ctl = read_control(control, method)
    test = estimating_test(check_choice("test", test, TESTS))  # metafor: "hksj" is "knha"
    level = check_level(level)
    inp = model_inputs(yi, vi, sei=sei, weights=weights, data=data, slab=slab, measure=measure,
                       effects=effects, add=add, to=to, drop00=drop00, subset=subset,
                       na_action=na_action)  # fmt: skip
    st = inp.studies
    y, v, w = st.yi, st.vi, st.weights
    if method == "GENQ" and w is None:
        raise ValueError("method='GENQ' needs weights= (the weights of the generalised Q)")
    t2 = fixed_tau2(tau2, method)
    check_zero_variances(inp, method, control=ctl, tau2=t2)
    warn_variance_ratio(v)
    if y.size == 1 and test != "z":
        warnings.warn('Setting test="z" since k=1 (as metafor does).', UserWarning, stacklevel=2)
        test = "z"
    # |yi| ~ 1e150 and beyond: squares overflow to inf (checked on the result below)
    with np.errstate(over="ignore", invalid="ignore"):
        out = _fit_one(y, v, w, method, test, level, weighted, t2, ctl)
    g = {n: out[n][0].item() for n in out}
    if g["div0"]:
        raise_div0(inp, method, t2)
    if g["set_to_zero"]:
        warn_set_to_zero()
    nums: dict[str, Any] = {f: float(g[f]) for f in SCALAR_FIELDS}
    overflow = np.isinf(nums["QE"]) and estimating_method(method) not in ("EE", "FE")
    if (
        overflow
        or not (np.isfinite(nums["b"]) and np.isfinite(nums["tau2"]))
        or np.isnan(nums["se"])
    ):
        raise ValueError(
            f"the fit is not finite (b={nums['b']:g}, tau^2={nums['tau2']:g}): |yi| up to "
            f"{np.max(np.abs(y)):g} with vi from {np.min(v):g} to {np.max(v):g} overflows "
            'double precision in the squared residuals (metafor stops with "singular matrix '
            "'a' in solve\" or returns Inf there) -- rescale the effect sizes (yi / c, vi / c^2)"
        )
    # metafor's omnibus test of the intercept: z^2 (or t^2, F(1, k-1)); NA when vb = 0
    # (its Cholesky factorisation of vb fails: identical yi under knha, vi = 0 with tau2 = 0)
    qm_ok = nums["se"] > 0
    return RmaResult(
        **nums,
        vb=np.array([[nums["se"] ** 2]]),
        QM=nums["zval"] * nums["zval"] if qm_ok else float("nan"),  # inf, not OverflowError
        QMp=nums["pval"] if qm_ok else float("nan"),
        QMdf=(1,) if test == "z" else (1, int(g["k"]) - 1),
        btt=(0,),
        k=int(g["k"]),
        method=method,
        test=test,
        level=level,
        converged=bool(g["converged"]),
        iterations=int(g["iterations"]),
        yi=y,
        vi=v,
        weights=w,
        slab=st.slab,
        measure=st.measure,
        ni=st.ni,
        tau2_fix=t2 is not None,
        weighted=bool(weighted),
    )


def _fit_one(y, v, w, method, test, level, weighted, t2, ctl) -> dict[str, np.ndarray]:
    """The reference engine on one meta-analysis (a row of one)."""
    return reference.fit(
        y[None, :],
        v[None, :],
        np.ones((1, y.size)),
        method=method,
        test=test,
        level=level,
        weights=None if w is None else w[None, :],
        weighted=bool(weighted),
        tau2_fix=None if t2 is None else np.array([t2]),
        control=ctl,
    )


def _warn_batch_ratio(V2: np.ndarray, Y2: np.ndarray) -> None:
    """One warning for the rows whose max(vi)/min(vi) >= 1e7 (metafor warns per fit)."""
    present = np.isfinite(Y2) & np.isfinite(V2)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(present, V2, -np.inf).max(-1) / np.where(present, V2, np.inf).min(-1)
    rows = np.flatnonzero(np.isfinite(ratio) & (ratio >= VI_RATIO_WARN))
    if rows.size:
        shown = ", ".join(str(int(r)) for r in rows[:8]) + (" ..." if rows.size > 8 else "")
        warnings.warn(
            f"{rows.size} meta-analys{'is' if rows.size == 1 else 'es'} (flat row "
            f"{'index' if rows.size == 1 else 'indices'} {shown}) {'has' if rows.size == 1 else 'have'} "
            "max(vi)/min(vi) >= 1e7; metafor warns for each: 'Ratio of largest to smallest "
            "sampling variance extremely large. May not be able to obtain stable results.' -- "
            "check the variances of those rows",
            UserWarning,
            stacklevel=3,
        )


def _fit_chunk(
    y: np.ndarray, v: np.ndarray, w: np.ndarray | None, *, metafor: str, **settings: Any
) -> BatchResult:
    """One row chunk of a dask batch: the numpy :func:`rma_batch` itself, under the metafor
    release the caller had selected (a worker may run later, or in another process)."""
    with metafor_version(metafor):
        return rma_batch(y, v, weights=w, **settings)
