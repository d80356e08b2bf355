"""Multilevel and multivariate models: :func:`rma_mv` (``metafor::rma.mv``).

Random effects are given as metafor's formulas (:mod:`metaparity.models._mv_random`),
the likelihood is maximised with its exact gradient (:mod:`metaparity.models._mv_fit`), and
the result carries metafor's fields (``b, se, zval, pval, ci_lb, ci_ub, vb, sigma2, tau2,
rho, gamma2, phi, QE, QEp, QM, QMp``, the fit statistics).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from metaparity._core.validation import check_level, column
from metaparity.models._mv_fit import MvProblem, MvState, maximise
from metaparity.models._mv_random import STRUCTS, GTerm, SigmaTerm, parse_random
from metaparity.models.design import design_matrix
from metaparity.models.fitstats import information_criteria
from metaparity.models.formula import split_formula
from metaparity.models.mv_confint import confint_mv
from metaparity.models.mv_control import MvControl, expand_init, read_control
from metaparity.models.mv_predict import MvPrediction, predict_mv
from metaparity.models.mv_profile import profile_mv
from metaparity.models.mv_ranef import ranef_mv
from metaparity.models.results import ModelResult

__all__ = ["rma_mv", "MvResult", "STRUCTS"]

_LOG2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True, kw_only=True, repr=False)
class MvResult(ModelResult):
    """A fitted ``metafor::rma.mv`` model (metafor's names; arrays per coefficient)."""

    b: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    vb: np.ndarray
    coef_names: tuple[str, ...]
    sigma2: np.ndarray
    tau2: np.ndarray  # type: ignore[assignment]
    rho: np.ndarray
    gamma2: np.ndarray
    phi: np.ndarray
    s_names: tuple[str, ...]
    s_nlevels: tuple[int, ...]
    g_levels: tuple[str, ...]
    h_levels: tuple[str, ...]
    struct: tuple[str, ...]
    QE: float
    QEp: float
    QEdf: int
    QM: float
    QMp: float
    QMdf: tuple
    btt: tuple[int, ...]
    k: int
    p: int
    method: str
    test: str
    dfs: str
    ddf: np.ndarray
    level: float
    fit_stats: dict[str, dict[str, float]]
    parms: int
    converged: bool
    grad_max: float
    iterations: int
    yi: np.ndarray = field(repr=False)
    V: np.ndarray = field(repr=False)
    X: np.ndarray = field(repr=False)
    M: np.ndarray = field(repr=False)
    int_only: bool = False
    intercept: bool = True
    random: tuple[str, ...] = ()
    #: the grouping columns of the rows fitted, the known R matrices and the fixed values
    #: given (what a refit, or metafor's, needs)
    groups: pd.DataFrame | None = field(default=None, repr=False)
    R: dict[str, Any] | None = field(default=None, repr=False)
    Rscale: str = "cor"
    fixed: dict[str, Any] = field(default_factory=dict, repr=False)
    #: the rows of the data that were fitted (0-based; rows with missing values omitted)
    rows: np.ndarray | None = field(default=None, repr=False)
    #: the control list as read (:mod:`metaparity.models.mv_control`)
    control: MvControl = field(default_factory=MvControl, repr=False)
    _problem: Any = field(default=None, repr=False, compare=False)

    @property
    def tau(self) -> np.ndarray:  # type: ignore[override]
        return np.sqrt(self.tau2)

    @property
    def logLik(self) -> float:
        return self.fit_stats[self.method]["ll"]

    @property
    def deviance(self) -> float:
        return self.fit_stats[self.method]["dev"]

    @property
    def AIC(self) -> float:
        return self.fit_stats[self.method]["AIC"]

    @property
    def BIC(self) -> float:
        return self.fit_stats[self.method]["BIC"]

    @property
    def AICc(self) -> float:
        return self.fit_stats[self.method]["AICc"]

    def __repr__(self) -> str:
        shown = "b se sigma2 tau2 rho gamma2 phi QE QM k p method converged".split()
        return f"MvResult({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

    def loglik_at(
        self, sigma2: Any = None, tau2: Any = None, rho: Any = None, gamma2: Any = None,
        phi: Any = None, method: str | None = None,
    ) -> float:  # fmt: skip
        """This model's (restricted) log-likelihood at the given variance components
        (the fitted values where not given): to check another optimiser's point."""
        prob = self._problem
        if method is not None and (method == "REML") != prob.reml:
            prob = MvProblem(prob.y, prob.V, prob.X, prob.sig, prob.gts, method == "REML",
                             prob.remlf)  # fmt: skip
        vals = {"sigma2": sigma2, "tau2": tau2, "rho": rho, "gamma2": gamma2, "phi": phi}
        theta = _theta_for(prob, self, vals)
        return float(prob.evaluate(theta, grad=False).ll)

    def g_matrices(self) -> list[np.ndarray]:
        """The fitted inner-level covariance matrix of each ``~ inner | outer`` term (metafor's
        ``G``, then ``H``)."""
        prob = self._problem
        none = dict.fromkeys(("sigma2", "tau2", "rho", "gamma2", "phi"))
        _, parts = prob.split(_theta_for(prob, self, none))
        return [g.G_and_grad(th)[0] for g, th in zip(prob.gts, parts, strict=True)]

    def predict(
        self, newmods: Any = None, intercept: bool = True, tau2_levels: Any = None,
        gamma2_levels: Any = None, transf: Any = None, level: float | None = None,
    ) -> MvPrediction:  # fmt: skip
        """Predicted values with CI and PI (``metafor::predict.rma.mv``;
        :func:`metaparity.models.mv_predict.predict_mv`)."""
        return predict_mv(self, newmods, intercept, tau2_levels, gamma2_levels, transf, level)

    def profile_loglik(self, comp: str, j: int, value: float) -> float:
        """The (restricted) log-likelihood maximised over the other components with
        component ``comp`` (``"sigma2"``, ``"tau2"``, ``"rho"``, ``"gamma2"``, ``"phi"``) number
        ``j`` (0-based) held at ``value`` (metafor's profile likelihood); -inf where the
        marginal covariance is not positive definite there."""
        return float(self.profile_state(comp, j, value).ll)

    def profile_state(self, comp: str, j: int, value: float) -> MvState:
        """The refit behind :meth:`profile_loglik`: its log-likelihood, b and vb."""
        prob = self._problem
        sig = list(prob.sig)
        gts = list(prob.gts)
        if comp == "sigma2":
            s = sig[j]
            sig[j] = SigmaTerm(s.name, s.codes, s.levels, s.D, float(value))
        else:
            t = 0 if comp in ("tau2", "rho") else 1
            g = gts[t]
            vf, cf = g.var_fixed.copy(), g.cor_fixed.copy()
            (vf if comp in ("tau2", "gamma2") else cf)[j] = float(value)
            h = dataclasses.replace(g, var_fixed=vf, cor_fixed=cf, coords=[])
            h.setup_coords()
            gts[t] = h
        full, theta, _ = _maximise_scaled(prob.y, prob.V, prob.X, sig, gts, prob.reml,
                                          prob.remlf)  # fmt: skip
        return full.evaluate(theta, grad=False)

    def profile(self, sigma2: int | None = None, tau2: int | None = None,
                rho: int | None = None, gamma2: int | None = None, phi: int | None = None,
                xlim: Any = None, steps: Any = 20, lltol: float = 1e-3) -> Any:  # fmt: skip
        """Profile log-likelihoods of the variance components (``metafor::profile.rma.mv``;
        :func:`metaparity.models.mv_profile.profile_mv`; draw with
        :func:`metaparity.plots.profile_plot`)."""
        return profile_mv(self, sigma2, tau2, rho, gamma2, phi, xlim, steps, lltol)

    def confint(self, sigma2: int | None = None, tau2: int | None = None,
                rho: int | None = None, gamma2: int | None = None, phi: int | None = None,
                level: float | None = None) -> Any:  # fmt: skip
        """Profile-likelihood CIs of the variance components (``metafor::confint.rma.mv``;
        :func:`metaparity.models.mv_confint.confint_mv`)."""
        return confint_mv(self, sigma2, tau2, rho, gamma2, phi, level)

    def ranef(self, level: float | None = None) -> dict[str, pd.DataFrame]:
        """BLUPs of the random effects (``metafor::ranef.rma.mv``;
        :func:`metaparity.models.mv_ranef.ranef_mv`)."""
        return ranef_mv(self, level)

    def refit(self, method: str) -> MvResult:
        """The same model fitted by ``method`` ("ML" or "REML"; metafor's
        ``update(res, method=)``)."""
        prob = self._problem
        res = _fit(prob.y, prob.V, prob.X, self.coef_names, prob.sig, prob.gts, method,
                   self.test, self.dfs, self.level, self.btt, self.intercept,
                   list(self.random) or None, self.control)  # fmt: skip
        keep = {q: getattr(self, q) for q in ("groups", "R", "Rscale", "fixed", "rows")}
        return dataclasses.replace(res, **keep)

    def to_dict(self) -> dict[str, Any]:
        """Numbers and settings as a JSON-ready dict (arrays become lists)."""
        out: dict[str, Any] = {}
        for q in "b se zval pval ci_lb ci_ub sigma2 tau2 rho gamma2 phi ddf".split():
            out[q] = np.asarray(getattr(self, q), dtype=float).tolist()
        out["vb"] = self.vb.tolist()
        for q in "QE QEp QM QMp grad_max level".split():
            out[q] = float(getattr(self, q))
        for q in ("k", "p", "QEdf", "parms", "iterations", "converged", "method", "test", "dfs"):
            out[q] = getattr(self, q)
        out["QMdf"] = list(self.QMdf)
        out["btt"] = [i + 1 for i in self.btt]
        out["coef_names"] = list(self.coef_names)
        out["s_names"] = list(self.s_names)
        out["struct"] = list(self.struct)
        out["fit_stats"] = self.fit_stats
        return out


def _theta_for(prob: MvProblem, res: MvResult, vals: dict[str, Any]) -> np.ndarray:
    """Optimisation coordinates at given (sigma2, tau2, rho, gamma2, phi)."""

    def pick(name: str) -> np.ndarray:
        v = vals[name]
        return np.asarray(getattr(res, name) if v is None else v, dtype=float).ravel()

    sig2 = pick("sigma2")
    x = [sig2[j] for j in prob.free_sig]
    for j, g in enumerate(prob.gts):
        var = pick("tau2" if j == 0 else "gamma2")
        cor = pick("rho" if j == 0 else "phi")
        x += list(_coords_of(g, var, cor))
    return np.array(x, dtype=float)


def _coords_of(g: GTerm, var: np.ndarray, cor: np.ndarray) -> np.ndarray:
    if g.cholesky:
        s = np.sqrt(var)
        C = np.eye(g.n)
        idx = [(i, j) for j in range(g.n) for i in range(j + 1, g.n)]
        for m, (i, j) in enumerate(idx):
            C[i, j] = C[j, i] = cor[m]
        G = s[:, None] * C * s[None, :]
        L = _psd_cholesky(G)
        return np.array([L[c // g.n, c % g.n] for _, c in g.coords])
    out = []
    for kind, i in g.coords:
        out.append({"var": var[i] if kind == "var" else 0.0,
                    "sd": np.sqrt(var[i]) if kind == "sd" else 0.0,
                    "cor": cor[i] if kind == "cor" else 0.0}[kind])  # fmt: skip
    return np.array(out)


def _psd_cholesky(G: np.ndarray) -> np.ndarray:
    """Lower-triangular L with L L' = G for a positive semi-definite G (columns whose pivot
    is 0 -- a variance at 0, a correlation of +-1 -- are 0)."""
    n = G.shape[0]
    L = np.zeros((n, n))
    tiny = 1e-14 * max(1.0, float(np.abs(np.diag(G)).max()))
    for j in range(n):
        d = G[j, j] - L[j, :j] @ L[j, :j]
        if d <= tiny:
            continue
        L[j, j] = np.sqrt(d)
        L[j + 1 :, j] = (G[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]
    return L


def _read_V(V: Any, data: Any, k: int) -> np.ndarray:
    if isinstance(V, str):
        V = column("V", V, data)
    Va = np.asarray(V, dtype=float)
    if Va.ndim == 1 or (Va.ndim == 2 and 1 in Va.shape and Va.size == k):
        Va = np.diag(Va.ravel())
    if Va.shape != (k, k):
        raise ValueError(
            f"V is {'x'.join(map(str, Va.shape))}, but there are {k} estimates: give the "
            f"{k} sampling variances or the {k} x {k} sampling covariance matrix"
        )
    return Va


def _check_V(V: np.ndarray, labels: list[str]) -> None:
    if not np.allclose(V, V.T, rtol=1e-10, atol=1e-14):
        i, j = (int(t) for t in np.unravel_index(np.argmax(np.abs(V - V.T)), V.shape))
        raise ValueError(
            f"V is not symmetric: V[{labels[i]}, {labels[j]}] = {float(V[i, j])!r} but "
            f"V[{labels[j]}, {labels[i]}] = {float(V[j, i])!r}; make it symmetric"
        )
    neg = np.flatnonzero(np.diag(V) < 0)
    if neg.size:
        n = int(neg[0])
        raise ValueError(
            f"estimate {labels[n]} has sampling variance {float(V[n, n])!r} < 0; variances "
            "must be >= 0"
        )
    ev = np.linalg.eigvalsh(V)
    if ev.min() < -1e-10 * max(1.0, float(np.abs(ev).max())):
        raise ValueError(
            f"V is not positive semi-definite (smallest eigenvalue {ev.min():.3g}): a "
            "sampling covariance matrix must be; check the correlations used to build it "
            "(e.g. vcalc(rho=...))"
        )


def _missing_rows(
    y: np.ndarray, V: np.ndarray, X: np.ndarray, extra: list[np.ndarray]
) -> np.ndarray:
    bad = ~np.isfinite(y) | ~np.isfinite(np.diag(V)) | ~np.isfinite(X).all(axis=1)
    for e in extra:
        bad |= e
    return bad


def _group_missing(random: Any, data: Any) -> np.ndarray | None:
    if data is None:
        return None
    df = pd.DataFrame(data)
    bad = np.zeros(len(df), dtype=bool)
    for c in _random_columns(random, df):
        bad |= df[c].isna().to_numpy()
    return bad


def rma_mv(
    yi: ArrayLike | str = "yi",
    V: ArrayLike | str = "vi",
    *,
    random: str | list[str] | None = None,
    struct: str | list[str] = "CS",
    R: dict[str, Any] | None = None,
    Rscale: str = "cor",
    mods: Any = None,
    data: Any = None,
    intercept: bool = True,
    method: str = "REML",
    test: str = "z",
    dfs: str = "residual",
    level: float = 95,
    btt: Any = None,
    sigma2: Any = None,
    tau2: Any = None,
    rho: Any = None,
    gamma2: Any = None,
    phi: Any = None,
    slab: Any = None,
    control: dict[str, Any] | None = None,
) -> MvResult:
    """Fit a multilevel / multivariate meta-analytic model.

    Equivalent to ``metafor::rma.mv(yi, V, mods=, random=, struct=, R=, data=, method=,
    test=, dfs=, level=, sigma2=, tau2=, rho=, gamma2=, phi=, control=)``.

    Parameters
    ----------
    yi : array_like or str
        Estimates (or a column of ``data``; or a formula ``"yi ~ mods"``, as metafor's
        ``rma.mv(yi ~ mods, V)``).
    V : array_like or str
        Sampling variances (a vector, or a column) or the k x k sampling covariance
        matrix (block-diagonal for correlated estimates).
    random : str or list of str
        Random effects as metafor writes them: ``"~ 1 | study"``, ``"~ 1 | district/school"``
        (one ``sigma2`` per level of nesting), ``"~ outcome | trial"`` (a ``struct``
        covariance over the levels of ``outcome`` within ``trial``: ``tau2``/``rho``; a
        second such term has ``gamma2``/``phi``).  None: a fixed-effects model.
    struct : str or list of str
        CS (default), HCS, UN, ID, DIAG, AR, HAR or CAR, one per ``~ inner | outer`` term.
    R : dict, optional
        Known correlation matrices for ``~ 1 | group`` terms, keyed by the group's name: a
        DataFrame labelled by the levels (or a matrix in level order).  ``Rscale="cor"``
        (default) scales them to correlations, ``"none"`` leaves them as they are.
    mods : str or array_like, optional
        Moderators (formula of ``data`` columns, or values), as in :func:`metaparity.rma_mods`.
    method : {"REML", "ML"}
    test : {"z", "t"}
    dfs : {"residual", "contain"}
        Denominator degrees of freedom with ``test="t"`` (metafor's rules).
    sigma2, tau2, rho, gamma2, phi : optional
        Fixed values (one per component; None entries are estimated).
    control : dict, optional
        metafor's ``control`` list, with its names: starting values (``sigma2.init``,
        ``tau2.init``, ``rho.init``, ``gamma2.init``, ``phi.init``), ``REMLf``,
        ``check.k.gtr.1``, ``cholesky``, iteration limits (``iter.max``, ``maxit`` …) and
        ``verbose`` act as in metafor; metafor's optimiser choices and tolerances are
        accepted and change nothing here (:mod:`metaparity.models.mv_control`).

    Returns
    -------
    MvResult

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"yi": [0.1, 0.3, 0.2, 0.5, 0.4, 0.0], "vi": [0.02] * 6,
    ...                   "study": [1, 1, 2, 2, 3, 3], "esid": [1, 2, 1, 2, 1, 2]})
    >>> res = rma_mv("yi", "vi", random="~ 1 | study/esid", data=d)
    >>> res.s_names
    ('study', 'study/esid')
    """
    yi, mods = split_formula(yi, mods)
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise ValueError(f"method={method!r}: rma_mv estimates by 'REML' or 'ML'")
    if test not in ("z", "t"):
        raise ValueError(f"test={test!r}: rma_mv takes test='z' or 't'")
    if dfs not in ("residual", "contain"):
        raise ValueError(f"dfs={dfs!r}: rma_mv takes dfs='residual' or 'contain'")
    if Rscale not in ("cor", "none"):
        raise ValueError(f"Rscale={Rscale!r}: rma_mv takes Rscale='cor' or 'none'")
    level = check_level(level)
    ctl = read_control(control)
    df = None if data is None else pd.DataFrame(data).reset_index(drop=True)
    y_all = np.asarray(column("yi", yi, df) if isinstance(yi, str) else yi, dtype=float).ravel()
    k_all = y_all.size
    V_all = _read_V(V, df, k_all)
    labels = (
        [str(s) for s in np.atleast_1d(np.asarray(
            column("slab", slab, df) if isinstance(slab, str) else slab, dtype=object))]
        if slab is not None else [f"row {i + 1}" for i in range(k_all)]
    )  # fmt: skip
    if mods is None:
        X_all, names = np.ones((k_all, 1)), tuple[str, ...](("intrcpt",))
        if not intercept:
            raise ValueError("intercept=False without mods leaves no fixed effects")
    else:
        X_all, names = design_matrix(mods, df, intercept=intercept, k=k_all,
                                     rows=np.arange(k_all))  # fmt: skip
    extra = []
    gm = _group_missing(random, df) if random is not None else None
    if gm is not None:
        extra.append(gm)
    bad = _missing_rows(y_all, V_all, X_all, extra)
    if bad.all():
        raise ValueError("every estimate has a missing value (yi, V, mods or a grouping column)")
    if bad.any():
        warnings.warn(
            f"{int(bad.sum())} estimate(s) with missing values omitted from model fitting: "
            f"{', '.join(labels[i] for i in np.flatnonzero(bad)[:8])} (as metafor's na.omit)",
            UserWarning, stacklevel=2,
        )  # fmt: skip
    rows = np.flatnonzero(~bad)
    y, V_, X = y_all[rows], V_all[np.ix_(rows, rows)], X_all[rows]
    labs = [labels[i] for i in rows]
    _check_V(V_, labs)
    sig, gts = ([], []) if random is None else parse_random(
        random, df, rows, struct, R, Rscale, sigma2, tau2, rho, gamma2, phi, ctl.check_k,
        ctl.cholesky,
    )  # fmt: skip
    k, p = X.shape
    if k <= p:
        raise ValueError(f"{k} estimates for {p} coefficients: the model needs more estimates")
    res = _fit(y, V_, X, names, sig, gts, method, test, dfs, level, btt, intercept, random,
               ctl)  # fmt: skip
    extras = {
        "groups": None if df is None or random is None else
        df.iloc[rows][sorted(_random_columns(random, df))].reset_index(drop=True),
        "R": R, "Rscale": Rscale, "rows": rows,
        "fixed": {n: v for n, v in (("sigma2", sigma2), ("tau2", tau2), ("rho", rho),
                                    ("gamma2", gamma2), ("phi", phi)) if v is not None},
        "control": ctl,
    }  # fmt: skip
    return dataclasses.replace(res, **extras)


def _random_columns(random: Any, df: pd.DataFrame) -> set[str]:
    forms = [random] if isinstance(random, str) else list(random)
    out = set()
    for f in forms:
        for tok in f.replace("~", " ").replace("|", " ").replace("/", " ").split():
            if tok in df.columns:
                out.add(tok)
    return out


def _fit(y, V, X, names, sig, gts, method, test, dfs, level, btt, intercept, random,
         ctl: MvControl | None = None):  # fmt: skip
    k, p = X.shape
    ctl = ctl or MvControl()
    prob, theta, info = _maximise_scaled(y, V, X, sig, gts, method == "REML", ctl.remlf,
                                         _init_values(ctl, sig, gts), ctl.maxiter,
                                         ctl.verbose)  # fmt: skip
    if not info["converged"]:
        raise RuntimeError(
            f"rma_mv did not converge (largest projected gradient {info['grad_max']:.3g} "
            f"after {info['iterations']} iterations: {info['message']}); the model may not be "
            "identified by these data: fix a variance component (sigma2=/tau2=/rho=) or "
            "simplify 'random'"
        )
    st = prob.evaluate(theta, grad=False, full_M=True)
    other = MvProblem(y, V, X, sig, gts, method != "REML", ctl.remlf).evaluate(theta, grad=False)
    ll_ml, ll_reml = (other.ll, st.ll) if method == "REML" else (st.ll, other.ll)
    sig2, parts = prob.split(theta)
    sig2 = np.where(sig2 <= 10 * np.finfo(float).eps, 0.0, sig2)
    tv = [g.values_at(th) for g, th in zip(gts, parts, strict=True)]
    empty = np.zeros(0)
    b, vb = st.b, st.vb
    se = np.sqrt(np.diag(vb))
    zval = b / se
    ddf = _ddf(dfs, X, k, p, sig, gts) if test == "t" else np.full(p, np.nan)
    alpha = 1 - level / 100
    if test == "t":
        pval = 2 * stats.t.sf(np.abs(zval), ddf)
        crit = stats.t.isf(alpha / 2, ddf)
    else:
        pval = 2 * stats.norm.sf(np.abs(zval))
        crit = np.full(p, stats.norm.isf(alpha / 2))
    has_int = intercept and bool(np.all(X[:, 0] == 1.0))
    bt = tuple(range(1, p) if has_int and p > 1 else range(p)) if btt is None else tuple(btt)
    QM = float(b[list(bt)] @ np.linalg.solve(vb[np.ix_(bt, bt)], b[list(bt)]))
    m = len(bt)
    if test == "t":
        QMdf: tuple = (m, int(min(ddf[list(bt)])))
        QM = QM / m
        QMp = float(stats.f.sf(QM, m, QMdf[1]))
    else:
        QMdf = (m,)
        QMp = float(stats.chi2.sf(QM, m))
    QE, QEp = _qe(y, V, X)
    n_est = len(prob.free_sig) + sum(
        int(np.isnan(g.var_fixed).sum()) + int(np.isnan(g.cor_fixed).sum()) for g in gts
    )
    parms = p + n_est
    ll_qe = -0.5 * k * _LOG2PI - 0.5 * float(np.linalg.slogdet(V)[1])
    allpos = bool((np.diag(V) > 0).all())
    fs = {
        "ML": information_criteria(ll_ml, parms, k, -2 * (ll_ml - ll_qe) if allpos else -2 * ll_ml),
        "REML": information_criteria(ll_reml, parms, k - p, -2 * ll_reml),
    }
    return MvResult(
        b=b, se=se, zval=zval, pval=pval, ci_lb=b - crit * se, ci_ub=b + crit * se, vb=vb,
        coef_names=tuple(names), sigma2=sig2,
        tau2=tv[0][0] if gts else empty, rho=tv[0][1] if gts else empty,
        gamma2=tv[1][0] if len(gts) > 1 else empty, phi=tv[1][1] if len(gts) > 1 else empty,
        s_names=tuple(s.name for s in sig), s_nlevels=tuple(len(s.levels) for s in sig),
        g_levels=gts[0].levels if gts else (), h_levels=gts[1].levels if len(gts) > 1 else (),
        struct=tuple(g.struct for g in gts), QE=QE, QEp=QEp, QEdf=k - p, QM=QM, QMp=QMp,
        QMdf=QMdf, btt=bt, k=k, p=p, method=method, test=test, dfs=dfs, ddf=ddf, level=level,
        fit_stats=fs, parms=parms, converged=True, grad_max=info["grad_max"],
        iterations=info["iterations"], yi=y, V=V, X=X, M=st.M, int_only=(p == 1 and has_int),
        intercept=has_int, random=tuple([random] if isinstance(random, str) else (random or [])),
        control=ctl, _problem=prob,
    )  # fmt: skip


def _maximise_scaled(
    y, V, X, sig, gts, reml: bool, remlf: bool = True,
    init: dict[str, np.ndarray | None] | None = None, maxiter: int | None = None,
    verbose: bool = False,
) -> tuple[MvProblem, np.ndarray, dict]:  # fmt: skip
    """Maximise the likelihood on data scaled by c = sqrt(mean diag V) (by sd(y) when V is
    0), which keeps the optimiser's coordinates O(1); the problem on the original scale and
    the optimum in its coordinates.  ``init``: starting values by component (control
    ``sigma2.init`` …, on the original scale)."""
    c = float(np.sqrt(np.mean(np.diag(V)))) if np.mean(np.diag(V)) > 0 else float(np.std(y))
    c = c if c > 0 else 1.0
    scaled = MvProblem(y / c, V / c**2, X, _scaled_sig(sig, c), _scaled_g(gts, c), reml, remlf)
    start = None
    if init:
        start = scaled.start({n: None if v is None else
                              (v / c**2 if n in ("sigma2", "tau2", "gamma2") else v)
                              for n, v in init.items()})  # fmt: skip
    theta_s, info = maximise(scaled, start, maxiter, verbose)
    return MvProblem(y, V, X, sig, gts, reml, remlf), _unscale(scaled, theta_s, c), info


def _init_values(ctl: MvControl, sig: list[SigmaTerm], gts: list[GTerm]) -> dict[str, Any]:
    """The control's starting values, one per component (fixed ones included), checked
    against the model as metafor checks them."""
    out: dict[str, Any] = {}
    for comp in ctl.init:
        t = 0 if comp in ("tau2", "rho") else 1
        if comp == "sigma2":
            if not sig:
                raise ValueError("control sigma2.init: the model has no '~ 1 | group' term")
            out[comp] = expand_init(ctl, comp, len(sig))
            continue
        if len(gts) <= t:
            which = "first" if t == 0 else "second"
            raise ValueError(
                f"control {comp}.init: the model has no {which} '~ inner | outer' term"
            )
        g = gts[t]
        n = g.n_var if comp in ("tau2", "gamma2") else g.n_cor
        out[comp] = expand_init(ctl, comp, n, g.struct) if n else None
    return out


def _qe(y: np.ndarray, V: np.ndarray, X: np.ndarray) -> tuple[float, float]:
    k, p = X.shape
    if k - p <= 0:
        return 0.0, 1.0
    try:
        Vi = np.linalg.inv(V)
        bfe = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    except np.linalg.LinAlgError:
        return float("nan"), float("nan")
    r = y - X @ bfe
    QE = float(r @ Vi @ r)
    return QE, float(stats.chi2.sf(QE, k - p))


def _ddf(dfs: str, X, k: int, p: int, sig: list[SigmaTerm], gts: list[GTerm]) -> np.ndarray:
    """metafor's denominator df: ``k - p`` (residual), or by the containment rule."""
    if dfs == "residual":
        return np.full(p, float(max(k - p, 1)))
    groups = [s.codes for s in sig]
    for g in gts:
        groups += [g.icodes, g.ocodes]
    ddf = np.full(p, float(k))
    for j in range(p):
        for codes in groups:
            # X[:, j] constant within every level of the grouping: contained
            ok = all(len(np.unique(X[codes == lev, j])) == 1 for lev in np.unique(codes))
            if ok:
                ddf[j] = min(ddf[j], len(np.unique(codes)))
    return np.maximum(ddf - p, 1.0)


def _scaled_sig(sig: list[SigmaTerm], c: float) -> list[SigmaTerm]:
    return [SigmaTerm(s.name, s.codes, s.levels, s.D, None if s.fixed is None else s.fixed / c**2)
            for s in sig]  # fmt: skip


def _scaled_g(gts: list[GTerm], c: float) -> list[GTerm]:
    out = []
    for g in gts:
        h = dataclasses.replace(g, var_fixed=g.var_fixed / c**2, cor_fixed=g.cor_fixed.copy(),
                                coords=[])  # fmt: skip
        h.setup_coords()
        out.append(h)
    return out


def _unscale(scaled: MvProblem, theta: np.ndarray, c: float) -> np.ndarray:
    out = theta.copy()
    pos = len(scaled.free_sig)
    out[:pos] *= c**2
    for g in scaled.gts:
        for kind, _ in g.coords:
            out[pos] *= {"var": c**2, "sd": c, "chol": c, "cor": 1.0}[kind]
            pos += 1
    return out
