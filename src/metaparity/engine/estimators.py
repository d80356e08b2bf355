"""tau^2 estimators, vectorised over many meta-analyses at once.

Every function here works on 2-D arrays shaped ``(n, k)``: ``n`` meta-analyses
(rows) of up to ``k`` studies each.  Ragged sets are padded; ``m`` is a float
mask (1 = study present, 0 = padding), padded ``y`` are 0 and padded ``v`` are 1
so that no arithmetic on padding can produce NaN or warnings.

The estimators follow the definitions given in the metafor 3.8 documentation
(``?rma.uni``) and the methods papers it cites:

* EE/FE -- tau^2 = 0 (equal-/fixed-effects model).
* DL, HE, GENQ -- generalised method-of-moments estimators
  (DerSimonian & Kacker 2007): weights ``a`` = 1/v (DL), 1 (HE), user (GENQ).
* HS, HSk -- Hunter-Schmidt, and with the k/(k-1) correction (Brannick et al. 2019).
* SJ -- Sidik & Jonkman (2005), started at the unweighted variance.
* ML, REML -- maximum / restricted maximum likelihood (Viechtbauer 2005).
* EB, PM, SJIT -- the Paule-Mandel root of Q(tau^2) = k - 1 (the empirical Bayes
  estimator and the iterated SJ estimator converge to the same value).
* PMM -- median-unbiased Paule-Mandel: Q(tau^2) = median of chi^2_{k-1}.
* DLIT -- iterated DL as metafor 3.8 runs it: the fixed point of
  tau^2 <- max(0, (Q_a - (k-1)) / (sum a - sum a^2 / sum a)) with
  a = 1/(v + tau^2).

Iterative estimators are solved to the root (bracketed Newton/bisection to
machine precision on tau^2), not to a loose stopping rule; each row carries its
own convergence flag.  Standard errors of tau^2 are those metafor reports
(derived from the variance of the estimating equation at the estimate).

A fixed tau^2 (metafor's ``tau2=``) skips the estimation; the SE is the estimator's
formula evaluated at the fixed value, as metafor reports it.  Sampling variances of 0
are accepted by the estimators metafor accepts them for (HE, GENQ, SJ, SJIT, EB, ML,
REML) as long as tau^2 stays positive where ``1/(v + tau^2)`` is needed; rows where it
would be infinite are flagged in ``TauFit.div0`` (metafor: "Division by zero when
computing the inverse variance weights").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import stats

from metaparity.engine.facts import EPS as _EPS
from metaparity.engine.facts import MAXIT as _MAXIT
from metaparity.engine.facts import MAXIT_FS as _MAXIT_FS

__all__ = [
    "TauFit", "estimate_tau2", "q_gen", "mom_tau2", "solve_decreasing", "zero_v",
    "POSITIVE_V_ONLY", "positive_lower_bracket", "boundary_tau2", "BOUNDARY", "others_sum",
]  # fmt: skip


@dataclass(frozen=True)
class TauFit:
    """tau^2 estimates for a batch (all arrays shaped ``(n,)``)."""

    tau2: np.ndarray
    se_tau2: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    #: ML/REML rows where a local maximum was replaced by tau^2 = 0 (metafor warns)
    set_to_zero: np.ndarray | None = None
    #: rows whose estimator needs ``1/(v + tau^2)`` with ``v = 0`` at ``tau^2 = 0``
    #: (metafor stops: "Division by zero when computing the inverse variance weights");
    #: their tau^2 and SE are meaningless
    div0: np.ndarray | None = None


#: estimators that need every sampling variance positive (metafor refuses them otherwise:
#: "... estimator cannot be used when there are non-positive sampling variances", or,
#: for DLIT, whose iteration starts at tau^2 = 0, "Division by zero ...")
POSITIVE_V_ONLY: frozenset[str] = frozenset({"DL", "DLIT", "HS", "HSk", "PM", "PMM"})


def zero_v(v: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Rows (n,) with a study (``m > 0``) whose sampling variance is exactly 0."""
    return ((v == 0) & (m > 0)).any(-1)


def _sums(y: np.ndarray, m: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted mean ``b``, residuals ``r`` (0 on padding) and ``sum a`` for weights ``a``."""
    sa = a.sum(-1)
    b = (a * y).sum(-1) / sa
    r = (y - b[:, None]) * m
    return b, r, sa


def q_gen(
    y: np.ndarray, v: np.ndarray, m: np.ndarray, tau2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised Q statistic ``sum w (y - b_w)^2`` with ``w = 1/(v + tau2)``.

    Returns ``(Q, dQ/dtau2)``; Q is decreasing in tau2.
    """
    w = m / (v + tau2[:, None])
    _, r, _ = _sums(y, m, w)
    wr2 = w * r * r
    return wr2.sum(-1), -(w * wr2).sum(-1)


def _mom_parts(v: np.ndarray, m: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tr(P_a) and tr(P_a V) for the generalised Q with weights ``a`` (no cancellation)."""
    a = a * m
    d = a * _others(a) / a.sum(-1, keepdims=True)  # diagonal of P_a
    return d.sum(-1), (d * v).sum(-1)


def _others(x: np.ndarray) -> np.ndarray:
    """``sum_{j != i} x_j`` for each i, from exclusive prefix and suffix sums.

    For non-negative x this never subtracts, so a dominant term (a weight 1e4
    times the others) does not wipe out the digits of the rest.
    """
    pre = np.concatenate([np.zeros_like(x[..., :1]), np.cumsum(x, axis=-1)[..., :-1]], axis=-1)
    rev = x[..., ::-1]
    suf = np.concatenate([np.zeros_like(rev[..., :1]), np.cumsum(rev, axis=-1)[..., :-1]], axis=-1)
    return pre + suf[..., ::-1]


def others_sum(x: np.ndarray) -> np.ndarray:
    """``sum_{j != i} x_j`` for each i along the last axis, without subtracting
    (see :func:`_others`)."""
    return _others(x)


def _trp_trpp(v: np.ndarray, m: np.ndarray, a: np.ndarray):
    """tr(P), tr(PP) of :func:`_traces` (the same operations, the same bits)."""
    a = a * m
    S = a.sum(-1, keepdims=True)
    d = a * _others(a) / S
    a2 = a * a
    S2 = S[..., 0] ** 2
    return d.sum(-1), (d * d).sum(-1) + (a2 * _others(a2)).sum(-1) / S2


def _traces(v: np.ndarray, m: np.ndarray, a: np.ndarray):
    """tr(P), tr(PP), tr(PVP), tr(PVPV) for P = A - a a'/sum(a), computed entrywise.

    ``P_ij = a_i d_ij - a_i a_j / S``: the diagonal entries ``a_i (S - a_i)/S`` and
    the sums over ``i != j`` are formed from sums of the *other* studies
    (:func:`_others`), never as a difference of large sums, so a dominant study
    (vi ratios of 1e4 and more) does not cancel digits away.
    """
    a = a * m
    S = a.sum(-1, keepdims=True)
    d = a * _others(a) / S  # diagonal of P
    a2 = a * a
    S2 = S[..., 0] ** 2
    trp = d.sum(-1)
    trpp = (d * d).sum(-1) + (a2 * _others(a2)).sum(-1) / S2
    trpvp = (d * d * v).sum(-1) + (a2 * _others(a2 * v)).sum(-1) / S2
    trpvpv = (d * d * v * v).sum(-1) + (a2 * v * _others(a2 * v)).sum(-1) / S2
    return trp, trpp, trpvp, trpvpv


def _var_qa(v: np.ndarray, m: np.ndarray, a: np.ndarray, tau2: np.ndarray) -> np.ndarray:
    """Var(Q_a) = 2 tr(P_a S P_a S), S = V + tau2 I, under the random-effects model."""
    _, trpp, trpvp, trpvpv = _traces(v, m, a)
    return 2.0 * (trpvpv + 2.0 * tau2 * trpvp + tau2 * tau2 * trpp)


def mom_tau2(
    y: np.ndarray, v: np.ndarray, m: np.ndarray, a: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generalised method-of-moments estimate with weights ``a`` (untruncated).

    Returns ``(tau2_raw, trP_a, Q_a)``.
    """
    _, r, _ = _sums(y, m, a)
    qa = (a * r * r).sum(-1)
    trp, trpv = _mom_parts(v, m, a)
    return (qa - trpv) / trp, trp, qa


def solve_decreasing(
    f, lo: np.ndarray, active: np.ndarray, newton: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Find the root of a decreasing function ``f(x) = 0`` on ``[lo, inf)`` per row.

    ``f(x, sel)`` evaluates the rows selected by the boolean mask ``sel`` and
    returns ``(f, f')`` (``f'`` may be None; used when ``newton``).  Rows with ``f(lo) <= 0`` return
    ``lo``.  A bracket is grown geometrically, then :func:`_refine` runs.
    Returns ``(root, converged, iters)``.
    """
    n = lo.shape[0]
    x = lo.copy()
    conv = np.ones(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    f_lo = np.full(n, -np.inf)
    if active.any():
        f_lo[active] = f(lo[active], active)[0]
    todo = active & (f_lo > 0)
    if not todo.any():
        return x, conv, iters
    idx = np.flatnonzero(todo)
    a = lo[idx].copy()
    step = np.maximum(1.0, np.abs(a))
    b = a + step
    sel = _sel(n, idx)
    for _ in range(2000):  # grow the upper end until f(b) <= 0
        grow = f(b, sel)[0] > 0
        if not grow.any():
            break
        a = np.where(grow, b, a)
        step = np.where(grow, step * 4.0, step)
        b = np.where(grow, b + step, b)
    x[idx], conv[idx], iters[idx] = _refine(f, a, b, sel, newton)
    return x, conv, iters


def _refine(f, a: np.ndarray, b: np.ndarray, sel: np.ndarray, newton: bool, x0=None):
    """Shrink brackets with ``f(a) > 0 >= f(b)`` to machine precision.

    Safeguarded Newton (when ``newton``; the step must stay inside the bracket)
    falling back to bisection, from ``x0`` (default: the midpoint).  Stops when
    the bracket or the step is a few ulp of the root, relative to its size (so
    small tau^2 scales are solved as precisely as large ones); a Newton step
    below that tolerance ends the iteration even where rounding puts it on the
    bracket end it approaches (Newton from one side never shrinks the far end).  Converged rows drop out: each iteration
    evaluates ``f`` only on the rows still running.
    """
    n = sel.size
    rows = np.flatnonzero(sel)
    x = 0.5 * (a + b) if x0 is None else x0.copy()
    done = np.zeros(a.size, dtype=bool)
    it = np.zeros(a.size, dtype=np.int64)
    for _ in range(_MAXIT):
        run = np.flatnonzero(~done)
        if run.size == 0:
            break
        xr, ar, br = x[run], a[run], b[run]
        fx, dfx = f(xr, _sel(n, rows[run]))
        it[run] += 1
        pos = fx > 0
        ar = np.where(pos, xr, ar)
        br = np.where(pos, br, xr)
        tiny = False
        if newton and dfx is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                nx = xr - fx / dfx
            ok = np.isfinite(nx)
            # a Newton step below the tolerance is convergence, even when rounding
            # puts it on (or an ulp past) the end of the bracket it approaches
            tiny = ok & (np.abs(nx - xr) <= _EPS * np.maximum(np.abs(xr), 1e-300))
            inside = ok & (nx > ar) & (nx < br)
            nxt = np.where(tiny | inside, nx, 0.5 * (ar + br))
        else:
            nxt = 0.5 * (ar + br)
        scale = np.maximum(np.abs(br), 1e-300)
        exact = fx == 0
        fin = exact | tiny | ((br - ar) <= 4 * _EPS * scale) | (np.abs(nxt - xr) <= _EPS * scale)
        x[run] = np.where(exact, xr, nxt)
        a[run], b[run] = ar, br
        done[run] = fin
    return x, done, it


def _set(out: np.ndarray, which: np.ndarray, f, x: np.ndarray, idx: np.ndarray, n: int) -> None:
    """``out[which] = f(x[which])[0]`` for the rows ``idx[which]`` (of ``n``)."""
    if which.any():
        out[which] = f(x[which], _sel(n, idx[which]))[0]


def _sel(n: int, idx: np.ndarray) -> np.ndarray:
    s = np.zeros(n, dtype=bool)
    s[idx] = True
    return s


def estimate_tau2(
    method: str,
    y: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    k: np.ndarray,
    weights: np.ndarray | None = None,
    tau2_fix: np.ndarray | None = None,
) -> TauFit:
    """Estimate tau^2 for every row with estimator ``method`` (metafor name).

    Rows with k = 1 get tau^2 = 0 and SE NaN (metafor); the arithmetic for them
    divides by k - 1 = 0, whose results are discarded, so those warnings are off.
    ``tau2_fix`` (shape ``(n,)``, values >= 0) holds tau^2 at the given values
    (metafor's ``tau2=``): no estimation, the estimator's SE formula at that value.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if tau2_fix is not None and method not in ("EE", "FE"):
            t = np.broadcast_to(np.asarray(tau2_fix, dtype=float), y.shape[:1]).copy()
            return _at_fixed(method, y, v, m, k, weights, t)
        fitted = _estimate(method, y, v, m, k, weights)
        if method in POSITIVE_V_ONLY:
            zv = zero_v(v, m)
            if zv.any():
                nan = np.where(zv, np.nan, 1.0)
                fitted = TauFit(fitted.tau2 * nan, fitted.se_tau2 * nan, fitted.converged,
                                fitted.iterations, fitted.set_to_zero, zv)  # fmt: skip
        return fitted


def _estimate(method, y, v, m, k, weights):
    n = y.shape[0]
    if method in ("EE", "FE"):
        return TauFit(np.zeros(n), np.full(n, np.nan), np.ones(n, dtype=bool),
                      np.zeros(n, dtype=np.int64))  # fmt: skip
    if method in ("ML", "REML"):
        return _likelihood(method, y, v, m, k)
    family = _FAMILIES.get(method)
    if family is None:
        raise ValueError(f"unknown method {method!r}")
    return family(method, y, v, m, k, weights)


def _at_fixed(method, y, v, m, k, weights, t) -> TauFit:
    """tau^2 held at ``t``: the SE metafor reports for ``method`` at that value.

    Each formula is the one the estimator's own fit evaluates at its estimate (see the
    family functions below); k = 1 rows keep ``t`` with SE NaN, as metafor.
    """
    n = y.shape[0]
    one = k <= 1
    kf = k.astype(float)
    zv = zero_v(v, m)
    div0 = np.zeros(n, dtype=bool)
    if method == "DL":
        se = _se_dl_form(v, m, m / v, t)
    elif method in ("HE", "GENQ"):
        if method == "GENQ" and weights is None:
            raise ValueError("method='GENQ' needs weights= (the a_i of the generalised Q)")
        a = m.copy() if method == "HE" else weights * m
        se = np.sqrt(_var_qa(v, m, a, t)) / _mom_parts(v, m, a)[0]
    elif method in ("HS", "HSk"):
        wfe = m / v
        sw = wfe.sum(-1)
        scale = kf / (kf - 1.0) if method == "HSk" else np.ones(n)
        se = _se_dl_form(v, m, wfe, t) * _traces(v, m, wfe)[0] * scale / sw
    elif method == "SJ":
        _, r0, _ = _sums(y, m, m)
        tau0 = (r0 * r0).sum(-1) / kf
        div0 = zv & (tau0 <= 0)
        a = m / (v + tau0[:, None])
        se = tau0 * np.sqrt(_var_qa(v, m, a, t)) / (kf - 1.0)
    elif method in ("PM", "EB", "SJIT", "PMM"):
        se = _se_pm(v, m, t)
        if method == "EB":  # metafor's EB iteration evaluates 1/(v + tau^2) at the value
            div0 = zv & (t <= 0)
    elif method == "DLIT":
        se = _se_dl_form(v, m, m / (v + t[:, None]), t)
        div0 = zv  # metafor's DLIT iteration starts at tau^2 = 0: 1/v
    elif method in ("ML", "REML"):
        _, info = _score_info(method, y, v, m, t, np.ones(n, dtype=bool))
        se = np.sqrt(2.0 / info)
        div0 = zv & (t <= 0)
    else:
        raise ValueError(f"unknown method {method!r}")
    if method in POSITIVE_V_ONLY:
        div0 = div0 | zv
    se = np.where(one | div0, np.nan, se)
    return TauFit(t, se, np.ones(n, dtype=bool), np.zeros(n, dtype=np.int64), None, div0)


def _closed(tau2, se, one, n) -> TauFit:
    """A closed-form estimate: converged, no iterations, k = 1 rows NaN SE."""
    return TauFit(tau2, np.where(one, np.nan, se), np.ones(n, dtype=bool),
                  np.zeros(n, dtype=np.int64))  # fmt: skip


def _moment(method, y, v, m, k, weights):
    """DL (a = 1/v), HE (a = 1) and GENQ (the user's a): the generalised Q's moment root."""
    one = k <= 1  # metafor: tau^2 cannot be estimated from one study -> 0
    if method == "DL":
        a = m / v
    elif method == "HE":
        a = m.copy()
    else:
        if weights is None:
            raise ValueError("method='GENQ' needs weights= (the a_i of the generalised Q)")
        a = weights * m
    raw, trp, _ = mom_tau2(y, v, m, a)
    tau2 = np.where(one, 0.0, np.maximum(raw, 0.0))
    if method == "DL":
        se = _se_dl_form(v, m, a, tau2)
    else:
        se = np.sqrt(_var_qa(v, m, a, tau2)) / trp
    return _closed(tau2, se, one, y.shape[0])


def _hunter_schmidt(method, y, v, m, k, weights):
    """HS and HSk (the latter with the k / (k - 1) correction)."""
    n = y.shape[0]
    one = k <= 1
    kf = k.astype(float)
    wfe = m / v
    _, r, sw = _sums(y, m, wfe)
    q = (wfe * r * r).sum(-1)
    raw = (q - kf) / sw
    scale = np.ones(n)
    if method == "HSk":
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = kf / (kf - 1.0)
        raw = (q * scale - kf) / sw
    tau2 = np.where(one, 0.0, np.maximum(raw, 0.0))
    se = _se_dl_form(v, m, wfe, tau2) * _traces(v, m, wfe)[0] * scale / sw
    return _closed(tau2, se, one, n)


def _sidik_jonkman(method, y, v, m, k, weights):
    """SJ: one step from the unweighted variance of the outcomes."""
    one = k <= 1
    kf = k.astype(float)
    _, r0, _ = _sums(y, m, m)
    tau0 = (r0 * r0).sum(-1) / kf
    a = m / (v + tau0[:, None])
    _, r, _ = _sums(y, m, a)
    qa = (a * r * r).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = tau0 * qa / (kf - 1.0)
        se = tau0 * np.sqrt(_var_qa(v, m, a, tau2)) / (kf - 1.0)
    tau2 = np.where(one, 0.0, tau2)
    fitted = _closed(tau2, se, one, y.shape[0])
    div0 = zero_v(v, m) & (tau0 <= 0) & ~one  # identical outcomes: 1/(0 + 0)
    if not div0.any():
        return fitted
    return TauFit(np.where(div0, np.nan, tau2), np.where(div0, np.nan, fitted.se_tau2),
                  fitted.converged, fitted.iterations, None, div0)  # fmt: skip


def _paule_mandel(method, y, v, m, k, weights):
    """PM, EB and SJIT (Q_w = k - 1) and PMM (Q_w = median of chi^2(k - 1))."""
    one = k <= 1
    df = k.astype(float) - 1.0
    target = df if method != "PMM" else stats.chi2.ppf(0.5, np.maximum(df, 1.0))

    def f(t, sel):
        q, dq = q_gen(y[sel], v[sel], m[sel], t)
        return q - target[sel], dq

    lo = np.zeros(y.shape[0])
    div0 = np.zeros(y.shape[0], dtype=bool)
    zv = zero_v(v, m) & ~one
    if zv.any():  # Q(0) is not defined with a v = 0: start the bracket above 0
        lo, div0 = positive_lower_bracket(f, y, m, zv)
        if method == "EB":  # metafor's EB iteration starts at max(0, HE): 1/(0 + 0) there
            div0 |= zv & ~(mom_tau2(y, v, m, m.copy())[0] > 0)
    tau2, conv, iters = solve_decreasing(f, lo, ~one & ~div0, newton=True)
    div0 |= zv & boundary_tau2(tau2, v, m)
    tau2 = np.where(one, 0.0, np.where(div0, np.nan, tau2))
    se = _se_pm(v, m, tau2)
    return TauFit(tau2, np.where(one | div0, np.nan, se), conv, iters, None,
                  div0 if div0.any() else None)  # fmt: skip


#: an iterated tau^2 below this fraction of the largest sampling variance, with a v = 0,
#: is taken for the boundary tau^2 -> 0 (see :func:`boundary_tau2`)
BOUNDARY = 1e-10


def boundary_tau2(tau2: np.ndarray, v: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Rows whose iterated tau^2 is at the boundary 0 in all but name: below
    :data:`BOUNDARY` times the largest sampling variance.

    With a sampling variance of 0 such a tau^2 gives that study a weight 1e10 times the
    others' and more: the "root" is the iteration creeping towards 0 (metafor stops there
    at a value set by its threshold -- 2.2e-11, 1.5e-14, 9.9e-18 for thresholds 1e-5,
    1e-8, 1e-12 on the same data -- or divides by zero), not an estimate.
    """
    vmax = np.where(m > 0, v, 0.0).max(-1)
    return ~(np.nan_to_num(tau2, nan=np.inf) > BOUNDARY * vmax)


def positive_lower_bracket(f, y: np.ndarray, m: np.ndarray, rows: np.ndarray):
    """A lower end ``lo > 0`` with ``f(lo) > 0`` for each of ``rows`` (decreasing ``f``).

    With a sampling variance of 0 the weights ``1/(v + tau^2)`` are infinite at 0, so
    the root search must start above it.  From the variance of the outcomes about their
    unweighted mean (SJIT's start in metafor), ``lo`` is divided by 4 until ``f(lo) > 0``;
    a row where ``f`` stays <= 0 down to 1e-24 of that start has its root at tau^2 = 0,
    where the weights are infinite: it is returned in ``div0`` (metafor's iteration then
    reaches 0 and stops with "Division by zero", or ends at a value set by its threshold).

    Returns ``(lo, div0)``, arrays ``(n,)``; rows outside ``rows`` get ``lo = 0``.
    """
    n = y.shape[0]
    kf = m.sum(-1)
    _, r0, _ = _sums(y, m, m)
    start = np.where(rows, (r0 * r0).sum(-1) / np.maximum(kf, 1.0), 0.0)
    lo = start.copy()
    div0 = rows & ~(start > 0)
    todo = rows & ~div0
    for _ in range(40):
        if not todo.any():
            break
        fx = np.full(n, np.nan)
        fx[todo] = f(lo[todo], todo)[0]
        ok = todo & (fx > 0)
        todo = todo & ~ok
        lo = np.where(todo, lo / 4.0, lo)
    div0 = div0 | todo
    return np.where(rows & ~div0, lo, 0.0), div0


def _dl_iterated(method, y, v, m, k, weights):
    """DLIT: the fixed point of the DL update, as a root of ``h(t) - t``."""
    one = k <= 1
    kf = k.astype(float)

    def g(t, sel):
        # g = h - t, h = (Q_a - (k-1)) / tr(P_a); dQ_a/dt = -sum a^2 r^2 and
        # d tr(P_a)/dt = -tr(P_a P_a), so g' = (h tr(PP) - sum a^2 r^2) / tr(P) - 1
        a = m[sel] / (v[sel] + t[:, None])
        _, r, _ = _sums(y[sel], m[sel], a)
        ar2 = a * r * r
        qa = ar2.sum(-1)
        dq = (a * ar2).sum(-1)
        trp, trpp = _trp_trpp(v[sel], m[sel], a)
        h = (qa - (kf[sel] - 1.0)) / trp
        return h - t, (h * trpp - dq) / trp - 1.0

    tau2, conv, iters = solve_decreasing(g, np.zeros(y.shape[0]), ~one, newton=True)
    tau2 = np.where(one, 0.0, tau2)
    se = _se_dl_form(v, m, m / (v + tau2[:, None]), tau2)
    return TauFit(tau2, np.where(one, np.nan, se), conv, iters)


#: the estimator of each method (ML and REML: :func:`_likelihood`)
_FAMILIES = {
    "DL": _moment, "HE": _moment, "GENQ": _moment, "HS": _hunter_schmidt,
    "HSk": _hunter_schmidt, "SJ": _sidik_jonkman, "PM": _paule_mandel, "EB": _paule_mandel,
    "SJIT": _paule_mandel, "PMM": _paule_mandel, "DLIT": _dl_iterated,
}  # fmt: skip


def _se_pm(v, m, tau2):
    """SE that metafor reports for the PM/EB/PMM/SJIT estimates.

    ``k * sqrt(2 / (k - 1)) / sum(w)`` with ``w = 1/(v + tau2)``: the
    empirical-Bayes information evaluated at the estimate (matches metafor 3.8
    to machine precision, see tests/parity/test_goldens.py).
    """
    w = m / (v + tau2[:, None])
    kf = m.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return kf * np.sqrt(2.0 / (kf - 1.0)) / w.sum(-1)


def _se_dl_form(v, m, a, tau2):
    """``sqrt(2(k-1) + 4 tau2 trP + 2 tau2^2 tr(PP)) / trP`` with P built from ``a``.

    The DL variance formula, which treats ``a`` as the inverse variances (so that
    PVP = P); metafor reports it for DL (a = 1/v) and DLIT (a = 1/(v + tau2)).
    """
    trp, trpp, _, _ = _traces(v, m, a)
    kf = m.sum(-1)
    return np.sqrt(2.0 * (kf - 1.0) + 4.0 * tau2 * trp + 2.0 * tau2 * tau2 * trpp) / trp


def _likelihood(method, y, v, m, k):
    """ML / REML by Fisher scoring from the HE estimate, as metafor iterates.

    The (restricted) likelihood of tau^2 can have more than one local maximum;
    starting where metafor starts (max(0, HE)) and taking Fisher-scoring steps,
    truncated at 0, lands on the same local maximum.  Fisher scoring runs until
    its step is 1e-10 relative (not metafor's default 1e-5 threshold); then the
    root of the exact score next to that point is bracketed and polished to
    machine precision by safeguarded Newton with the observed information
    (the derivative of the score; 1-3 evaluations, bisection only as fallback).
    """
    n = y.shape[0]
    one = k <= 1
    raw, _, _ = mom_tau2(y, v, m, m.copy())  # HE
    tau2 = np.where(one, 0.0, np.maximum(np.nan_to_num(raw, nan=0.0), 0.0))
    zv = zero_v(v, m) & ~one
    # a v = 0 with the HE start at 0: metafor's first Fisher step divides by 0
    div0 = zv & (tau2 <= 0)
    if (
        div0.any()
    ):  # those rows are not iterated (their v set to 1 only to keep the arithmetic quiet)
        v = np.where(div0[:, None], 1.0, v)
    score_info = functools.partial(_score_info, method, y, v, m)
    score_d = functools.partial(_score_d, method, y, v, m)
    active = ~one & ~div0
    conv, iters = _fisher_scoring(score_info, tau2, active, one | div0, zv if zv.any() else None)
    div0 = div0 | (zv & (tau2 <= 0))  # a step halved onto 0 exactly: the next one divides by 0
    active = active & ~div0
    idx = np.flatnonzero(active)
    if idx.size:
        floor = np.where(zv[idx], 0.5 * tau2[idx], 0.0)
        tau2[idx], conv[idx], it, bound = _polish_score_root(
            score_d, tau2[idx], idx, v, m, k, floor
        )
        iters[idx] += it
        div0[idx] |= bound & zv[idx]  # the maximum is at tau^2 -> 0: 1/(0 + tau^2) diverges
    div0 |= zv & boundary_tau2(tau2, v, m)
    # metafor: a local maximum below the likelihood at tau^2 = 0 is replaced by 0
    # ("Fisher scoring algorithm may have gotten stuck at a local maximum"); not checked
    # with a v = 0 (metafor: only when all sampling variances are positive)
    pos = (tau2 > 0) & ~zv
    switched = pos & (_loglik(method, y, v, m, np.zeros(n)) > _loglik(method, y, v, m, tau2))
    tau2 = np.where(switched, 0.0, tau2)
    _, info = score_info(tau2, np.ones(n, dtype=bool))
    se = np.sqrt(2.0 / info)
    if not div0.any():
        return TauFit(tau2, np.where(one, np.nan, se), conv, iters, switched)
    return TauFit(np.where(div0, np.nan, tau2), np.where(one | div0, np.nan, se), conv, iters,
                  switched, div0)  # fmt: skip


def _score_info(method, y, v, m, t, sel, exact=True):
    """The score of tau^2 and the Fisher information (cheap forms unless ``exact``)."""
    mm = m[sel]
    w = mm / (v[sel] + t[:, None])
    sw = w.sum(-1)
    b = (w * y[sel]).sum(-1) / sw
    r = (y[sel] - b[:, None]) * mm
    w2 = w * w
    sw2 = w2.sum(-1)
    if method == "ML":
        return (w2 * r * r).sum(-1) - sw, sw2
    if exact:  # tr(P), tr(PP) without cancellation, for the root itself
        trp, info, _, _ = _traces(v[sel], mm, w)
    else:  # cheap forms for the Fisher-scoring approach
        trp = sw - sw2 / sw
        info = sw2 - 2 * (w2 * w).sum(-1) / sw + (sw2 / sw) ** 2
    return (w2 * r * r).sum(-1) - trp, info


def _score_d(method, y, v, m, t, sel):
    """The exact score and its derivative, -2 y'PPPy + tr(PP) (ML: sum w^2)."""
    mm = m[sel]
    w = mm / (v[sel] + t[:, None])
    sw = w.sum(-1)
    b = (w * y[sel]).sum(-1) / sw
    r = (y[sel] - b[:, None]) * mm
    w2 = w * w
    sc = (w2 * r * r).sum(-1)
    # y'PPPy = u'Pu with u = Py = w r: a weighted sum of squares about the
    # weighted mean of u (no cancellation)
    u = w * r
    ubar = (w * u).sum(-1) / sw
    c = (u - ubar[:, None]) * mm
    ypppy = (w * c * c).sum(-1)
    if method == "ML":
        return sc - sw, w2.sum(-1) - 2.0 * ypppy
    trp, trpp = _trp_trpp(v[sel], mm, w)
    return sc - trp, trpp - 2.0 * ypppy


def _fisher_scoring(score_info, tau2, active, conv, halve=None):
    """Fisher scoring in place on ``tau2``, as metafor, so the same local maximum is reached.

    A step below 0 is truncated at 0; in the rows of ``halve`` (a sampling variance of
    0, where tau^2 = 0 has infinite weights) it is halved until it lands at or above 0,
    as metafor's step-halving does.
    """
    n = tau2.shape[0]
    iters = np.zeros(n, dtype=np.int64)
    for _ in range(_MAXIT_FS):
        idx = np.flatnonzero(active & ~conv)
        if idx.size == 0:
            break
        s_, info = score_info(tau2[idx], _sel(n, idx), exact=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            # 0/0 when the score and the information both underflow (one study with a
            # weight 1e300 times the others'): no step, the point is kept
            new = np.maximum(tau2[idx] + np.nan_to_num(s_ / info, nan=0.0), 0.0)
        if halve is not None and halve[idx].any():
            adj = s_ / info
            h = halve[idx]
            for _ in range(1100):  # 2^-1074: every step reaches >= 0 by then
                neg = h & (tau2[idx] + adj < 0)
                if not neg.any():
                    break
                adj = np.where(neg, adj / 2.0, adj)
            new = np.where(h, tau2[idx] + adj, new)
        iters[idx] += 1
        step = np.abs(new - tau2[idx])
        conv[idx] = (step <= 1e-10 * np.maximum(new, 1e-300)) | ((new == 0) & (tau2[idx] == 0))
        tau2[idx] = new
    return conv, iters


def _polish_score_root(score_d, t, idx, v, m, k, floor=None):
    """The root of the score next to the Fisher-scoring point ``t``, to machine precision:
    bracket it, then safeguarded Newton on the exact score (observed information).

    The bracket does not go below ``floor`` (default 0; above 0 where a sampling variance
    is 0 and the score is not defined at 0).  Returns ``(root, converged, iterations,
    at_floor)``; ``at_floor`` marks rows whose score is <= 0 down to ``floor`` (root 0).
    """
    n = m.shape[0]
    sel = _sel(n, idx)
    fl = np.zeros(idx.size) if floor is None else floor
    s0, d0 = score_d(t, sel)
    scale = np.maximum(t, 1e-12 * (v[idx] * m[idx]).sum(-1) / k[idx])
    delta = 1e-6 * scale
    pos0 = s0 > 0
    a = np.where(pos0, t, np.maximum(t - delta, fl))
    b = np.where(pos0, t + delta, t)
    fa = s0.copy()
    fb = s0.copy()
    _set(fa, ~pos0, score_d, a, idx, n)
    _set(fb, pos0, score_d, b, idx, n)
    for _ in range(200):
        need_a = (fa <= 0) & (a > fl)
        need_b = fb > 0
        if not (need_a | need_b).any():
            break
        delta = delta * 4.0
        a = np.where(need_a, np.maximum(a - delta, fl), a)
        b = np.where(need_b, b + delta, b)
        _set(fa, need_a, score_d, a, idx, n)
        _set(fb, need_b, score_d, b, idx, n)
    at_zero = (fa <= 0) & (a == fl)
    # the first Newton step from t uses the score already evaluated there
    nx = t - s0 / d0
    x0 = np.where(np.isfinite(nx) & (nx >= a) & (nx <= b), nx, 0.5 * (a + b))
    go = ~at_zero
    root = np.zeros(idx.size)
    ok = np.ones(idx.size, dtype=bool)
    it = np.zeros(idx.size, dtype=np.int64)
    if go.any():
        root[go], ok[go], it[go] = _refine(
            score_d, a[go], b[go], _sel(n, idx[go]), newton=True, x0=x0[go]
        )
    return root, ok, it, at_zero


def _loglik(method, y, v, m, tau2):
    """(Restricted) log-likelihood of tau^2 up to a constant."""
    s = (v + tau2[:, None]) * m + (1 - m)  # padding contributes log(1) = 0
    w = m / s
    sw = w.sum(-1)
    b = (w * y).sum(-1) / sw
    r = (y - b[:, None]) * m
    ll = -0.5 * np.log(s).sum(-1) - 0.5 * (w * r * r).sum(-1)
    if method == "REML":
        ll -= 0.5 * np.log(sw)
    return ll
