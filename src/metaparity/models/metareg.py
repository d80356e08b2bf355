"""Meta-regression: mixed- and fixed-effects models with moderators (``metafor::rma``, ``mods``).

:func:`rma_mods` builds the design (:mod:`metaparity.models.design`), fits it with the
meta-regression engine (:mod:`metaparity.engine.mods`) and returns the same
:class:`~metaparity.models.results.RmaResult` as :func:`metaparity.rma`, with one entry
per coefficient.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from metaparity._core.names import (
    METHODS,
    TESTS,
    Measure,
    MethodName,
    TestName,
    check_choice,
    estimating_test,
)
from metaparity._core.validation import check_level, study_label
from metaparity.effects.escalc import To
from metaparity.engine.mods import MODS_METHODS, MODS_WEIGHTED_METHODS, fit_mods
from metaparity.models.design import design_matrix
from metaparity.models.inputs import (
    check_zero_variances,
    fixed_tau2,
    model_inputs,
    raise_div0,
    read_control,
    warn_set_to_zero,
    warn_variance_ratio,
)
from metaparity.models.results import COEF_FIELDS, RmaModsResult, RmaResult

__all__ = ["rma_mods", "RmaModsResult", "design_matrix", "MODS_METHODS", "typical_variance"]


def rma_mods(
    yi: ArrayLike | str | None = None,
    vi: ArrayLike | str | None = None,
    mods: Any = None,
    *,
    data: Any = None,
    method: MethodName = "REML",
    test: TestName = "z",
    level: float = 95,
    intercept: bool = True,
    slab: ArrayLike | str | None = None,
    btt: Any = None,
    control: Any = None,
    sei: ArrayLike | str | None = None,
    weights: ArrayLike | str | None = None,
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
) -> RmaModsResult:
    """Fit a meta-regression (mixed- or fixed-effects model with moderators).

    Equivalent to ``metafor::rma(yi, vi, mods = ~ ..., data = ..., method =, test =)``.

    Parameters
    ----------
    yi, vi : array_like or str
        Effect sizes and sampling variances (or column names of ``data``; default
        ``"yi"``/``"vi"`` when ``data`` is given).
    mods : str, pandas.DataFrame, pandas.Series or array_like
        Moderators: a one-sided formula of ``data`` columns joined by ``+``
        (``"~ ablat + year"``, ``"~ factor(alloc)"``, ``"~ x - 1"``, ``"~ 0 + x"``;
        no interactions), or the moderator values (see :func:`design_matrix`).
        Character, categorical and bool columns become treatment-contrast dummies
        named as R names them (``"allocrandom"``).
    data : pandas.DataFrame, optional
    method : str
        tau^2 estimator: EE (FE), DL, DLIT, HE, HS, HSk, SJ, SJIT, ML, REML
        (default), EB, PM, PMM; GENQ with ``weights=`` (GENQM is not offered).
    test : {"z", "t", "knha", "adhoc"}
        ``"z"``: normal tests, chi^2 omnibus test.  Otherwise t(k - p) tests and
        ``F(m, k - p)`` for ``QM / m``; ``"knha"`` scales ``vb`` by ``s2``
        (Knapp & Hartung 2003), ``"adhoc"`` by ``max(1, s2)``.
    level : float
        Confidence level in percent.
    intercept : bool
        Add an intercept column to array/DataFrame ``mods`` (formulas decide themselves).
    slab : array_like or str, optional
        Study labels (used in error messages).
    btt : sequence of int, optional
        0-based indices of the coefficients in the omnibus test; default all but
        the intercept (all when there is none), as metafor.
    control : None, "metafor" or dict, optional
        As in :func:`metaparity.rma`: None solves tau^2 to its root; ``"metafor"`` or a
        dict of metafor's control settings runs metafor's own iteration, also for the
        intercept-only fit behind ``R2`` (as metafor refits it with the same control;
        R2 is NaN when that fit fails, as metafor's NA).
    sei : array_like or str, optional
        Standard errors, used when ``vi`` is not given (``vi = sei**2``).
    weights : array_like or str, optional
        User weights (metafor's ``weights=``): weighted least squares
        ``b = (X'AX)^-1 X'A y`` with ``vb = (X'AX)^-1 X'A M A X (X'AX)^-1``,
        ``M = diag(vi + tau2)``; with ``method="GENQ"`` also the weights of the
        generalised Q that estimates tau^2.  QE and I2 stay those of the
        inverse-variance fit, Knapp-Hartung's factor too (as metafor).
    measure, ai, bi, ci, di, n1i, n2i, m1i, m2i, sd1i, sd2i, xi, mi, ni, ri, add, to, drop00
        Effect sizes computed by :func:`metaparity.escalc` first, as in :func:`metaparity.rma`.
    subset : array_like of bool or int, or str, optional
        The studies to fit (a mask of length k, 0-based positions, or a boolean column
        of ``data``), applied first as metafor does; moderators follow the rows.
    tau2 : float, optional
        Hold tau^2 at this value (metafor's ``tau2=``); then ``k == p`` can be fitted.
        R2 compares with the intercept-only model whose tau^2 is estimated (metafor).
    weighted : bool
        ``False``: ordinary least squares for ``b`` with the sandwich ``vb`` above (A = I).
    na_action : {"omit", "fail"}
        Studies with a missing yi, vi, weight or moderator: omitted with a warning naming
        them (default, metafor's ``na.omit``) or an error naming them.

    Returns
    -------
    RmaResult
        The same type as :func:`metaparity.rma`'s, one entry per coefficient.

    Notes
    -----
    A singular design (a redundant or constant column) is a ``ValueError`` naming
    the column; metafor drops such columns with a warning.  Studies with a missing
    moderator are omitted with a warning (``na_action="omit"``), as metafor does.  With
    ``k == p`` only EE/FE or a fixed ``tau2`` can be fitted (metafor: "Number of
    parameters to be estimated is larger than the number of observations").

    Examples
    --------
    >>> # metafor: dat <- escalc("PR", xi=c(39,16,150,30), ni=c(122,78,195,42))
    >>> #          rma(yi, vi, mods = ~ subgroup, data = dat, method = "DL")
    >>> import metaparity as mp
    >>> dat = mp.escalc("PR", xi=[39, 16, 150, 30], ni=[122, 78, 195, 42])
    >>> dat["subgroup"] = ["SEL+DEX", "SEL+DEX", "SEL+DEX+PI", "SEL+DEX+PI"]
    >>> res = rma_mods(mods="~ subgroup", data=dat, method="DL")
    >>> res.coef_names
    ('intrcpt', 'subgroupSEL+DEX+PI')
    >>> [round(float(x), 4) for x in res.b], round(res.QM, 4), res.QMdf
    ([0.2645, 0.4879], 56.142, (1,))
    >>> round(res.R2, 2)  # pseudo R^2 against rma(yi, vi, method="DL")
    97.54
    """
    method = check_choice("method", method, METHODS)
    allowed = MODS_METHODS if weights is None else MODS_WEIGHTED_METHODS
    if method == "GENQ" and weights is None:
        raise ValueError("method='GENQ' needs weights= (the weights of the generalised Q)")
    if method not in allowed:
        raise ValueError(
            f"method={method!r} is not supported with moderators in metaparity; supported: "
            f"{', '.join(allowed)}"
        )
    test = estimating_test(check_choice("test", test, TESTS))  # metafor: "hksj" is "knha"
    level = check_level(level)
    ctl = read_control(control, method)
    if mods is None:
        raise ValueError("give mods= (a formula such as '~ x' or moderator values)")
    effects: dict[str, Any] = dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i, m1i=m1i, m2i=m2i, sd1i=sd1i,
                   sd2i=sd2i, xi=xi, mi=mi, ni=ni, ri=ri)  # fmt: skip
    inp = model_inputs(
        yi, vi, sei=sei, weights=weights, data=data, slab=slab, mods=mods, measure=measure,
        effects=effects, add=add, to=to, drop00=drop00, subset=subset, na_action=na_action,
        missing="give yi and vi, measure= with escalc's inputs, or data= with yi and vi "
        "columns (e.g. from escalc())",
    )  # fmt: skip
    st = inp.studies
    y, v, w, labels = st.yi, st.vi, st.weights, st.slab
    X, names = design_matrix(
        inp.mods, data=inp.data, intercept=intercept, k=inp.n_input, rows=inp.rows
    )
    k, p = X.shape
    has_int = bool(np.all(X[:, 0] == 1.0))
    if btt is None:
        btt_t = tuple(range(1, p)) if has_int and p > 1 else tuple(range(p))
    else:
        btt_t = tuple(sorted({int(i) for i in np.atleast_1d(btt)}))
        if not btt_t or min(btt_t) < 0 or max(btt_t) >= p:
            raise ValueError(f"btt={btt!r}: indices (0-based) must lie in 0..{p - 1}")
    t2 = fixed_tau2(tau2, method)
    if k == p and method not in ("EE", "FE", "CE") and t2 is None:
        raise ValueError(
            f"k = p = {k}: no residual degrees of freedom to estimate tau^2; metafor: 'Number of "
            "parameters to be estimated is larger than the number of observations' (only "
            "method='EE' or a fixed tau2= can be fitted)"
        )
    check_zero_variances(inp, method, control=ctl, tau2=t2)
    warn_variance_ratio(v)
    out = fit_mods(
        y[None, :], v[None, :], X[None, :, :],
        method=method, test=test, level=level, btt=list(btt_t), intercept=has_int,
        weights=None if w is None else w[None, :], weighted=bool(weighted),
        tau2_fix=None if t2 is None else np.array([t2]), control=ctl,
    )  # fmt: skip
    if out["div0"][0]:
        raise_div0(inp, method, t2)
    if out["set_to_zero"][0]:
        warn_set_to_zero()
    if labels is not None and not out["converged"][0]:  # pragma: no cover - defensive
        warnings.warn(f"{method} did not converge ({study_label(0, labels)})", stacklevel=2)
    m = len(btt_t)
    coefs: dict[str, Any] = {q: np.asarray(out[q][0], dtype=float) for q in COEF_FIELDS}
    stats_: dict[str, Any] = {
        q: float(out[q][0]) for q in "tau2 se_tau2 I2 H2 R2 QE QEp QM QMp dfs".split()
    }
    return RmaResult(
        **coefs,
        s2typ=typical_variance(v, X),
        coef_names=names,
        vb=out["vb"][0],
        **stats_,
        QMdf=(m,) if test == "z" else (m, k - p),
        k=k,
        p=p,
        method=method,
        test=test,
        level=level,
        converged=bool(out["converged"][0]),
        iterations=int(out["iterations"][0]),
        btt=btt_t,
        intercept=has_int,
        yi=y,
        vi=v,
        X=X,
        weights=w,
        slab=labels,
        measure=st.measure,
        ni=st.ni,
        tau2_fix=t2 is not None,
        weighted=bool(weighted),
    )


def typical_variance(v: np.ndarray, X: np.ndarray) -> float:
    """metafor's "typical" sampling variance ``vt = (k - p) / tr(P)`` of a meta-regression,
    ``P = W - W X (X'WX)^-1 X'W`` with ``W = diag(1/v)`` (the intercept-only case is
    ``(k - 1) sum w / ((sum w)^2 - sum w^2)``): the denominator of I^2 and H^2 and of their
    confidence bounds.  NaN when ``k = p`` or some ``v = 0`` (metafor: no QE, I^2, H^2).

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [1.0, 2.0, 3.0, 4.0]])
    >>> round(typical_variance(np.array([0.1, 0.2, 0.1, 0.3]), X), 6)
    0.163636
    """
    v = np.asarray(v, dtype=float)
    k, p = X.shape
    if k <= p or np.any(v <= 0):
        return float("nan")
    w = 1.0 / v
    xwx = (X * w[:, None]).T @ X
    xw2x = (X * (w * w)[:, None]).T @ X
    tr_p = float(np.sum(w) - np.trace(np.linalg.solve(xwx, xw2x)))
    return float((k - p) / tr_p)
