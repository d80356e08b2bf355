"""The numba engine of :func:`metaparity.rma_batch`: one fused pass per row.

The numpy engine (:func:`metaparity.engine.reference.fit` with :mod:`metaparity.engine.estimators`)
is the reference.  This module computes the same numbers row by row, in compiled
code, with no ``(n, k)`` temporaries, parallel over rows.  It mirrors the
reference operation for operation so that the two engines agree to the last bit
on almost every row:

* every elementwise expression is evaluated in the same order (``a * r * r`` is
  ``(a * r) * r``), with the same padding (``y = 0``, ``v = 1``, ``m = 0``);
* every row sum is summed in numpy's order (:func:`_psum`: ``0.0 +`` numpy's
  pairwise sum, which for k <= 8 is a plain loop and for larger k eight
  interleaved partial sums); cumulative sums are sequential, as ``np.cumsum``;
* no fused multiply-add and no reassociation (``fastmath=False``);
* the iterations (bracket growth, safeguarded Newton/bisection, Fisher
  scoring, the ML/REML polish) take the same steps with the same stopping
  rules, so ``converged`` and ``iterations`` are the reference's;
* p-values and quantiles call the very scipy.special functions the reference
  calls (``ndtr``, ``betainc`` through ``scipy.special.cython_special``), t and
  median-chi^2 quantiles come from tables built with scipy.stats -- except QEp,
  whose chi-square tail is summed in closed form for integer df (:func:`_chi2_sf`,
  closer to exact than the reference's ``chdtrc``; the one field not bitwise equal).

Every estimator is run across rows in SIMD lanes by :mod:`metaparity.engine.numba.lanes`
(the same arithmetic per row, reusing the building blocks here); this row kernel
does the rows wider than 128 studies.

Nothing here is imported by ``import metaparity``; :func:`metaparity.rma_batch`
imports it when the numba engine is chosen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import llvmlite.binding as _llvm
import numpy as np
from numba import njit, types
from numba.extending import get_cython_function_address
from scipy import stats

from metaparity.engine.facts import EPS as _EPS
from metaparity.engine.facts import FLOAT_FIELDS, METHOD_CODES, TEST_CODES
from metaparity.engine.facts import MAXIT as _MAXIT
from metaparity.engine.facts import MAXIT_FS as _MAXIT_FS

__all__ = ["fit_rows", "tables", "METHOD_CODES", "TEST_CODES"]

# --------------------------------------------------------------------------- #
# scipy.special functions, called from compiled code (same code as the ufuncs)
# --------------------------------------------------------------------------- #
_CS = "scipy.special.cython_special"
# registered as named symbols (not baked-in addresses) so that cache=True works
for _sym, _name in (
    ("metaparity_ndtr", "__pyx_fuse_1ndtr"),
    ("metaparity_chdtrc", "chdtrc"),
    ("metaparity_betainc", "__pyx_fuse_0betainc"),
):
    _llvm.add_symbol(_sym, get_cython_function_address(_CS, _name))
# numba's stubs type an ExternalFunction as a numba Type (calling a Type builds a
# signature); in compiled code it is the C function, so it is typed as what it computes
# (``cast`` returns the very object: the kernels see the same global)
_c_ndtr = cast(
    Callable[[float, int], float],
    types.ExternalFunction("metaparity_ndtr", types.float64(types.float64, types.intc)),
)
_c_chdtrc = cast(
    Callable[[float, float, int], float],
    types.ExternalFunction(
        "metaparity_chdtrc", types.float64(types.float64, types.float64, types.intc)
    ),
)
_c_betainc = cast(
    Callable[[float, float, float, int], float],
    types.ExternalFunction(
        "metaparity_betainc",
        types.float64(types.float64, types.float64, types.float64, types.intc),
    ),
)

# method/test codes and the reference's constants: one definition (engine.facts)
_FOUR_EPS = 4 * _EPS
_MACH_EPS = float(np.finfo(float).eps)
_NF = len(FLOAT_FIELDS)  # float outputs: b se zval pval ci_lb ci_ub tau2 se_tau2 I2 H2 QE QEp dfs
_NS = 12  # scratch vectors (s[0] .. s[11]); s[12] .. s[15] hold the row: y, v, m, w

#: numba.njit options of every kernel (Any: njit's keyword types differ per option)
_JIT: dict[str, Any] = dict(cache=True, error_model="numpy", fastmath=False, nogil=True)


# --------------------------------------------------------------------------- #
# numpy's summation order
# --------------------------------------------------------------------------- #
@njit(**_JIT)
def _pw0(x, lo, n):
    """numpy's pairwise sum of ``x[lo:lo+n]`` for n <= 128 (``pairwise_sum`` in numpy)."""
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += x[i]
        return res
    if n <= 128:
        r0 = x[lo]
        r1 = x[lo + 1]
        r2 = x[lo + 2]
        r3 = x[lo + 3]
        r4 = x[lo + 4]
        r5 = x[lo + 5]
        r6 = x[lo + 6]
        r7 = x[lo + 7]
        i = 8
        lim = n - n % 8
        while i < lim:
            j = lo + i
            r0 += x[j]
            r1 += x[j + 1]
            r2 += x[j + 2]
            r3 += x[j + 3]
            r4 += x[j + 4]
            r5 += x[j + 5]
            r6 += x[j + 6]
            r7 += x[j + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += x[lo + i]
            i += 1
        return res
    return np.nan  # not reached: callers split first


@njit(**_JIT)
def _split(n):
    n2 = n // 2
    return n2 - n2 % 8


@njit(**_JIT)
def _pw_big(x, lo, n):
    """numpy's recursion above 128 elements, with an explicit stack (numba cannot cache
    recursive functions, and an unrolled recursion would be inlined at every sum)."""
    los = np.empty(64, np.int64)
    ns = np.empty(64, np.int64)
    st = np.zeros(64, np.int64)  # 0: not split yet, 1: left running, 2: right running
    vals = np.empty(64)
    sp = 0
    los[0] = lo
    ns[0] = n
    while True:
        if ns[sp] > 128:
            n2 = _split(ns[sp])
            st[sp] = 1
            sp += 1
            los[sp] = los[sp - 1]
            ns[sp] = n2
            st[sp] = 0
            continue
        val = _pw0(x, los[sp], ns[sp])
        sp -= 1
        while sp >= 0 and st[sp] == 2:  # a right child finished: combine, go up
            val = vals[sp] + val
            sp -= 1
        if sp < 0:
            return val
        # a left child finished: keep it, run the right child
        vals[sp] = val
        st[sp] = 2
        n2 = _split(ns[sp])
        lo2 = los[sp] + n2
        n_right = ns[sp] - n2
        sp += 1
        los[sp] = lo2
        ns[sp] = n_right
        st[sp] = 0


@njit(**_JIT)
def _psum(x, K):
    """``x[:K].sum()`` exactly as numpy's ``add.reduce`` along a row: 0.0 + pairwise."""
    if K <= 128:
        return 0.0 + _pw0(x, 0, K)
    return 0.0 + _pw_big(x, 0, K)


@njit(**_JIT)
def _others(x, K, out):
    """``sum_{j != i} x_j`` from exclusive prefix + suffix sums (as estimators._others)."""
    out[0] = 0.0
    c = x[0]
    for i in range(1, K):
        out[i] = c
        c = c + x[i]
    out[K - 1] = out[K - 1] + 0.0
    c = x[K - 1]
    for i in range(K - 2, -1, -1):
        out[i] = out[i] + c
        c = c + x[i]


@njit(**_JIT)
def _nmax(x, y):
    """``np.maximum`` for scalars (NaN propagates)."""
    if x != x:
        return x
    if y != y:
        return y
    return x if x >= y else y


# --------------------------------------------------------------------------- #
# building blocks (scratch rows s[...] hold temporaries of length K)
# --------------------------------------------------------------------------- #
@njit(**_JIT)
def _wmean(y, m, a, K, r, tmp):
    """``_sums``: weighted mean b, residuals ``r = (y - b) m`` into ``r``; returns (b, sum a)."""
    sa = _psum(a, K)
    for j in range(K):
        tmp[j] = a[j] * y[j]
    b = _psum(tmp, K) / sa
    for j in range(K):
        r[j] = (y[j] - b) * m[j]
    return b, sa


@njit(**_JIT)
def _qa(a, r, K, tmp):
    """``sum a r r`` (as ``(a * r * r).sum(-1)``)."""
    for j in range(K):
        tmp[j] = a[j] * r[j] * r[j]
    return _psum(tmp, K)


@njit(**_JIT)
def _diag_p(v, m, a_in, K, a, oth, d):
    """``a = a_in m``, diagonal ``d`` of P_a; returns S = sum a."""
    for j in range(K):
        a[j] = a_in[j] * m[j]
    S = _psum(a, K)
    _others(a, K, oth)
    for j in range(K):
        d[j] = a[j] * oth[j] / S
    return S


@njit(**_JIT)
def _mom_parts(v, m, a_in, K, s):
    """(tr P_a, tr P_a V) as estimators._mom_parts."""
    _diag_p(v, m, a_in, K, s[4], s[5], s[6])
    d = s[6]
    tmp = s[7]
    trp = _psum(d, K)
    for j in range(K):
        tmp[j] = d[j] * v[j]
    return trp, _psum(tmp, K)


@njit(**_JIT)
def _trp_trpp_s2(v, m, a_in, K, s):
    """tr(P), tr(PP) and S^2; leaves a^2 in s[8] and its sums over the others in s[5]."""
    S = _diag_p(v, m, a_in, K, s[4], s[5], s[6])
    a, oth, d, t1, t2 = s[4], s[5], s[6], s[7], s[8]
    S2 = S * S
    trp = _psum(d, K)
    for j in range(K):
        t1[j] = d[j] * d[j]
    dd = _psum(t1, K)
    for j in range(K):
        t2[j] = a[j] * a[j]  # a2
    _others(t2, K, oth)
    for j in range(K):
        t1[j] = t2[j] * oth[j]
    return trp, dd + _psum(t1, K) / S2, S2


@njit(**_JIT)
def _traces(v, m, a_in, K, s):
    """tr(P), tr(PP), tr(PVP), tr(PVPV) as estimators._traces."""
    trp, trpp, S2 = _trp_trpp_s2(v, m, a_in, K, s)
    a, oth, d, t1, t2 = s[4], s[5], s[6], s[7], s[8]
    for j in range(K):
        t1[j] = d[j] * d[j] * v[j]
    ddv = _psum(t1, K)
    for j in range(K):
        t1[j] = d[j] * d[j] * v[j] * v[j]
    ddvv = _psum(t1, K)
    for j in range(K):
        t2[j] = t2[j] * v[j]  # a2 * v
    _others(t2, K, oth)
    for j in range(K):
        t1[j] = a[j] * a[j] * oth[j]
    trpvp = ddv + _psum(t1, K) / S2
    for j in range(K):
        t1[j] = t2[j] * oth[j]
    trpvpv = ddvv + _psum(t1, K) / S2
    return trp, trpp, trpvp, trpvpv


@njit(**_JIT)
def _trp_trpp(v, m, a_in, K, s):
    """tr(P), tr(PP) as estimators._trp_trpp (the first two of _traces, same bits)."""
    trp, trpp, _ = _trp_trpp_s2(v, m, a_in, K, s)
    return trp, trpp


@njit(**_JIT)
def _var_qa(v, m, a_in, tau2, K, s):
    _, trpp, trpvp, trpvpv = _traces(v, m, a_in, K, s)
    return 2.0 * (trpvpv + 2.0 * tau2 * trpvp + tau2 * tau2 * trpp)


@njit(**_JIT)
def _se_dl_form(v, m, a_in, tau2, kf, K, s):
    trp, trpp, _, _ = _traces(v, m, a_in, K, s)
    return math.sqrt(2.0 * (kf - 1.0) + 4.0 * tau2 * trp + 2.0 * tau2 * tau2 * trpp) / trp


@njit(**_JIT)
def _inv_var(v, m, t, K, w):
    """``w = m / (v + t)``."""
    for j in range(K):
        w[j] = m[j] / (v[j] + t)


# --------------------------------------------------------------------------- #
# root finding (estimators.solve_decreasing / _refine, one row)
# --------------------------------------------------------------------------- #
@njit(**_JIT)
def _froot(kind, x, y, v, m, target, kf, K, s):
    """The decreasing function of the PM family (kind 0: Q - target, with dQ) or DLIT (1)."""
    w = s[0]
    _inv_var(v, m, x, K, w)
    _wmean(y, m, w, K, s[1], s[2])
    r = s[1]
    if kind == 0:
        t = s[2]
        for j in range(K):
            t[j] = w[j] * r[j] * r[j]
        q = _psum(t, K)
        for j in range(K):
            t[j] = w[j] * t[j]
        return q - target, -_psum(t, K)
    ar2 = s[2]
    for j in range(K):
        ar2[j] = w[j] * r[j] * r[j]
    qa = _psum(ar2, K)
    t = s[3]
    for j in range(K):
        t[j] = w[j] * ar2[j]
    dq = _psum(t, K)
    trp, trpp = _trp_trpp(v, m, w, K, s)
    h = (qa - (kf - 1.0)) / trp
    return h - x, (h * trpp - dq) / trp - 1.0


@njit(**_JIT)
def _feval(code, x, y, v, m, target, kf, K, s):
    """The function whose root is polished (as ``_lanes._feval``): 0 Q - target (PM
    family), 1 DLIT's fixed point, 2 the ML score, 3 the REML score; value, derivative."""
    if code >= 2:
        return _score_d(code == 3, x, y, v, m, K, s)
    return _froot(code, x, y, v, m, target, kf, K, s)


@njit(**_JIT)
def _refine(code, a, b, x, y, v, m, target, kf, K, s):
    """Safeguarded Newton in [a, b] from x (estimators._refine with newton=True)."""
    done = False
    it = 0
    for _ in range(_MAXIT):
        fx, dfx = _feval(code, x, y, v, m, target, kf, K, s)
        it += 1
        if fx > 0:
            a = x
        else:
            b = x
        nx = x - fx / dfx
        ok = math.isfinite(nx)
        tiny = ok and abs(nx - x) <= _EPS * _nmax(abs(x), 1e-300)
        if tiny or (ok and nx > a and nx < b):
            nxt = nx
        else:
            nxt = 0.5 * (a + b)
        scale = _nmax(abs(b), 1e-300)
        exact = fx == 0
        fin = exact or tiny or (b - a <= _FOUR_EPS * scale) or (abs(nxt - x) <= _EPS * scale)
        if not exact:
            x = nxt
        if fin:
            done = True
            break
    return x, done, it


@njit(**_JIT)
def solve_decreasing(kind, y, v, m, target, kf, K, s):
    f_lo = _froot(kind, 0.0, y, v, m, target, kf, K, s)[0]
    if not f_lo > 0:
        return 0.0, True, 0
    a = 0.0
    step = 1.0
    b = a + step
    for _ in range(2000):
        if not _froot(kind, b, y, v, m, target, kf, K, s)[0] > 0:
            break
        a = b
        step = step * 4.0
        b = b + step
    return _refine(kind, a, b, 0.5 * (a + b), y, v, m, target, kf, K, s)


# --------------------------------------------------------------------------- #
# ML / REML (estimators._likelihood, one row)
# --------------------------------------------------------------------------- #
@njit(**_JIT)
def _score(reml, mode, t, y, v, m, K, s):
    """Score and information; mode 0 cheap (Fisher scoring), 1 exact."""
    w = s[0]
    _inv_var(v, m, t, K, w)
    _wmean(y, m, w, K, s[1], s[2])
    r, w2 = s[1], s[2]
    sw = _psum(w, K)  # the same sum _wmean formed first
    for j in range(K):
        w2[j] = w[j] * w[j]
    sw2 = _psum(w2, K)
    t3 = s[3]
    for j in range(K):
        t3[j] = w2[j] * r[j] * r[j]
    sc = _psum(t3, K)
    if not reml:
        return sc - sw, sw2
    if mode == 0:
        trp = sw - sw2 / sw
        for j in range(K):
            t3[j] = w2[j] * w[j]
        ratio = sw2 / sw
        info = sw2 - 2 * _psum(t3, K) / sw + ratio * ratio  # numpy: (sw2 / sw) ** 2
        return sc - trp, info
    trp, info, _, _ = _traces(v, m, w, K, s)
    return sc - trp, info


@njit(**_JIT)
def _score_d(reml, t, y, v, m, K, s):
    """The exact score and its derivative (estimators._likelihood's score_d)."""
    w = s[0]
    _inv_var(v, m, t, K, w)
    _wmean(y, m, w, K, s[1], s[2])
    r, w2, t3, tmp = s[1], s[2], s[3], s[9]
    sw = _psum(w, K)
    for j in range(K):
        w2[j] = w[j] * w[j]
    for j in range(K):
        t3[j] = w2[j] * r[j] * r[j]
    sc = _psum(t3, K)
    u = t3
    for j in range(K):
        u[j] = w[j] * r[j]
    for j in range(K):
        tmp[j] = w[j] * u[j]
    ubar = _psum(tmp, K) / sw
    for j in range(K):
        u[j] = (u[j] - ubar) * m[j]  # c
    for j in range(K):
        tmp[j] = w[j] * u[j] * u[j]
    ypppy = _psum(tmp, K)
    if not reml:
        return sc - sw, _psum(w2, K) - 2.0 * ypppy
    trp, trpp = _trp_trpp(v, m, w, K, s)
    return sc - trp, trpp - 2.0 * ypppy


@njit(**_JIT)
def _loglik(reml, t, y, v, m, K, s):
    sv, w, tmp = s[9], s[0], s[2]
    for j in range(K):
        sv[j] = (v[j] + t) * m[j] + (1 - m[j])
        w[j] = m[j] / sv[j]
    b, sw = _wmean(y, m, w, K, s[1], tmp)
    for j in range(K):
        tmp[j] = math.log(sv[j])
    ll = -0.5 * _psum(tmp, K) - 0.5 * _qa(w, s[1], K, tmp)
    if reml:
        ll -= 0.5 * math.log(sw)
    return ll


@njit(**_JIT)
def _likelihood(reml, y, v, m, k, kf, K, s):
    """Returns (tau2, se, converged, iterations) for a row with k > 1."""
    raw = _mom_raw(y, v, m, m, K, s)[0]  # HE
    if raw != raw:
        raw = 0.0
    elif raw == np.inf:
        raw = 1.7976931348623157e308
    elif raw == -np.inf:
        raw = -1.7976931348623157e308
    tau2 = _nmax(raw, 0.0)
    conv = False
    iters = 0
    for _ in range(_MAXIT_FS):
        if conv:
            break
        sc, info = _score(reml, 0, tau2, y, v, m, K, s)
        new = _nmax(tau2 + sc / info, 0.0)
        iters += 1
        step = abs(new - tau2)
        conv = (step <= 1e-10 * _nmax(new, 1e-300)) or (new == 0 and tau2 == 0)
        tau2 = new
    # polish: bracket the root of the exact score next to tau2, then safeguarded Newton
    t = tau2
    s0, d0 = _score_d(reml, t, y, v, m, K, s)
    tmp = s[9]
    for j in range(K):
        tmp[j] = v[j] * m[j]
    scale = _nmax(t, 1e-12 * _psum(tmp, K) / k)
    delta = 1e-6 * scale
    if s0 > 0:
        a = t
        b = t + delta
        fa = s0
        fb = _score_d(reml, b, y, v, m, K, s)[0]
    else:
        a = _nmax(t - delta, 0.0)
        b = t
        fa = _score_d(reml, a, y, v, m, K, s)[0]
        fb = s0
    for _ in range(200):
        need_a = fa <= 0 and a > 0
        need_b = fb > 0
        if not (need_a or need_b):
            break
        delta = delta * 4.0
        if need_a:
            a = _nmax(a - delta, 0.0)
            fa = _score_d(reml, a, y, v, m, K, s)[0]
        if need_b:
            b = b + delta
            fb = _score_d(reml, b, y, v, m, K, s)[0]
    at_zero = fa <= 0 and a == 0
    if at_zero:
        tau2 = 0.0
        conv = True
    else:
        nx = t - s0 / d0
        if math.isfinite(nx) and nx >= a and nx <= b:
            x0 = nx
        else:
            x0 = 0.5 * (a + b)
        tau2, conv, it = _refine(3 if reml else 2, a, b, x0, y, v, m, 0.0, 0.0, K, s)
        iters += it
    if tau2 > 0 and _loglik(reml, 0.0, y, v, m, K, s) > _loglik(reml, tau2, y, v, m, K, s):
        tau2 = 0.0
    info = _score(reml, 1, tau2, y, v, m, K, s)[1]
    return tau2, math.sqrt(2.0 / info), conv, iters


@njit(**_JIT)
def _mom_raw(y, v, m, a, K, s):
    """estimators.mom_tau2: (raw, trP_a, Q_a); uses s[1..8]."""
    _wmean(y, m, a, K, s[1], s[2])
    qa = _qa(a, s[1], K, s[2])
    trp, trpv = _mom_parts(v, m, a, K, s)
    return (qa - trpv) / trp, trp, qa


# --------------------------------------------------------------------------- #
# one row
# --------------------------------------------------------------------------- #
@njit(**_JIT)
def _tau2_row(method, y, v, m, w, k, kf, K, s, pmm_target):
    """estimators._estimate for one row: (tau2, se_tau2, converged, iterations)."""
    nan = np.nan
    one = k <= 1
    if method == 0:
        return 0.0, nan, True, 0
    a = s[10]
    if method <= 3:  # DL, HE, GENQ
        for j in range(K):
            if method == 1:
                a[j] = m[j] / v[j]
            elif method == 2:
                a[j] = m[j]
            else:
                a[j] = w[j] * m[j]
        raw, trp, _ = _mom_raw(y, v, m, a, K, s)
        tau2 = 0.0 if one else _nmax(raw, 0.0)
        if one:
            return tau2, nan, True, 0
        if method == 1:
            se = _se_dl_form(v, m, a, tau2, kf, K, s)
        else:
            se = math.sqrt(_var_qa(v, m, a, tau2, K, s)) / trp
        return tau2, se, True, 0
    if method <= 5:  # HS, HSk
        for j in range(K):
            a[j] = m[j] / v[j]
        _, sw = _wmean(y, m, a, K, s[1], s[2])
        q = _qa(a, s[1], K, s[2])
        scale = 1.0
        if method == 4:
            raw = (q - kf) / sw
        else:
            scale = kf / (kf - 1.0)
            raw = (q * scale - kf) / sw
        tau2 = 0.0 if one else _nmax(raw, 0.0)
        if one:
            return tau2, nan, True, 0
        se = _se_dl_form(v, m, a, tau2, kf, K, s)
        trp = _traces(v, m, a, K, s)[0]
        return tau2, se * trp * scale / sw, True, 0
    if method == 6:  # SJ
        _wmean(y, m, m, K, s[1], s[2])
        r0, tmp = s[1], s[2]
        for j in range(K):
            tmp[j] = r0[j] * r0[j]
        tau0 = _psum(tmp, K) / kf
        for j in range(K):
            a[j] = m[j] / (v[j] + tau0)
        _wmean(y, m, a, K, s[1], s[2])
        qa = _qa(a, s[1], K, s[2])
        tau2 = tau0 * qa / (kf - 1.0)
        if one:
            return 0.0, nan, True, 0
        se = tau0 * math.sqrt(_var_qa(v, m, a, tau2, K, s)) / (kf - 1.0)
        return tau2, se, True, 0
    if one:
        return 0.0, nan, True, 0
    if method <= 9:  # PM/EB/SJIT, PMM, DLIT
        if method == 9:
            tau2, conv, it = solve_decreasing(1, y, v, m, 0.0, kf, K, s)
            for j in range(K):
                a[j] = m[j] / (v[j] + tau2)
            se = _se_dl_form(v, m, a, tau2, kf, K, s)
            return tau2, se, conv, it
        target = kf - 1.0 if method == 7 else pmm_target
        tau2, conv, it = solve_decreasing(0, y, v, m, target, kf, K, s)
        _inv_var(v, m, tau2, K, a)
        se = kf * math.sqrt(2.0 / (kf - 1.0)) / _psum(a, K)
        return tau2, se, conv, it
    return _likelihood(method == 11, y, v, m, k, kf, K, s)


@njit(**_JIT)
def _t_two_sided(t, df):
    """rma._t_two_sided for one value; the tail form first, 1 - q only where it can win."""
    t2 = t * t  # numpy: t ** 2
    if math.isinf(t2):
        return 0.0
    tail = _c_betainc(df / 2.0, 0.5, df / (df + t2), 0)
    if tail <= 0.4:  # then q = 1 - tail >= 0.6: the reference takes the tail
        return tail
    q = _c_betainc(0.5, df / 2.0, t2 / (df + t2), 0)
    return 1.0 - q if q < 0.5 else tail


#: the closed form is used for df up to this (its cost grows with df) ...
_CHI2_MAX_DF = 200.0
#: ... and for x / 2 up to this (exp(-x / 2) stays a normal number)
_CHI2_MAX_H = 700.0
_TWO_OVER_SQRT_PI = 1.1283791670955126
_RINV = 1.0 / np.maximum(np.arange(101.0), 1.0)  # 1 / i
_RINV_HALF = 1.0 / (np.arange(101.0) + 1.5)  # 1 / (i + 3/2)


@njit(**_JIT)
def _chi2_sf(df, x):
    """P(chi^2_df > x) for x > 0 finite: closed form for integer df <= 200, else chdtrc.

    Even df = 2m: ``exp(-h) sum_{i<m} h^i / i!``; odd df = 2m + 1:
    ``erfc(sqrt h) + exp(-h) sum_{i<m} h^(i+1/2) / Gamma(i + 3/2)`` (h = x / 2).
    Every term is positive, so the sum keeps full relative precision (measured
    against 50-digit mpmath in tests/engine/test_lanes.py); about 4x cheaper than chdtrc,
    which stays for fractional or large df and for x / 2 > 700.
    """
    h = 0.5 * x
    n = int(df)
    if float(n) != df or df > _CHI2_MAX_DF or h > _CHI2_MAX_H:
        return _c_chdtrc(df, x, 0)
    e = math.exp(-h)
    if n % 2 == 0:
        term = e
        s = term
        for i in range(1, n // 2):
            term = term * (h * _RINV[i])  # the factor does not wait for the chain
            s = s + term
        return s
    rh = math.sqrt(h)
    s = math.erfc(rh)
    term = e * rh * _TWO_OVER_SQRT_PI
    for i in range(n // 2):
        s = s + term
        term = term * (h * _RINV_HALF[i])
    return s


@njit(**_JIT)
def _fit_row(i, io, Y, V, W, has_w, method, test, zcrit, tcrit, pmm_tab, F, KO, CONV, ITERS, s):
    """Fit input row ``i`` into output slot ``io``."""
    K = Y.shape[1]
    y, v, m, w = s[12], s[13], s[14], s[15]
    k = 0
    bad = -1
    for j in range(K):
        yj = Y[i, j]
        vj = V[i, j]
        if math.isfinite(yj) and math.isfinite(vj):
            y[j] = yj
            v[j] = vj
            m[j] = 1.0
            w[j] = W[i, j] if has_w else 0.0
            k += 1
            if not vj > 0 and bad < 0:
                bad = j
        else:
            y[j] = 0.0
            v[j] = 1.0
            m[j] = 0.0
            w[j] = 0.0
    if bad >= 0 or k == 0:  # invalid row: reported by the caller
        KO[io] = -1 - bad if bad >= 0 else 0
        for c in range(_NF):
            F[c, io] = np.nan
        CONV[io] = False
        ITERS[io] = 0
        return
    kf = float(k)
    tau2, se_tau2, conv, iters = _tau2_row(method, y, v, m, w, k, kf, K, s, pmm_tab[k])

    # pooled estimate (engine.reference.fit)
    wre, a, r, tmp = s[11], s[10], s[1], s[2]
    for j in range(K):
        wre[j] = m[j] / (v[j] + tau2)
        a[j] = w[j] if has_w else wre[j]
    b, sa = _wmean(y, m, a, K, r, tmp)
    if has_w:
        for j in range(K):
            tmp[j] = a[j] * a[j] * (v[j] + tau2) * m[j]
        vb = _psum(tmp, K) / (sa * sa)
    else:
        vb = 1.0 / sa
    df = kf - 1.0
    if test >= 2:  # knha, adhoc
        if has_w:
            _wmean(y, m, wre, K, r, tmp)
        rss = _qa(wre, r, K, tmp)
        if rss < _MACH_EPS:
            rss = 0.0
        s2 = rss / df if k > 1 else 1.0
        if test == 3:
            s2 = _nmax(s2, 1.0)
        vb = vb * s2
    se = math.sqrt(vb)
    zval = b / se
    use_z = test == 0 or k <= 1
    if use_z:
        pval = 2.0 * _c_ndtr(-abs(zval), 0)
        crit = zcrit
        dfs = np.nan
    else:
        pval = _t_two_sided(zval, _nmax(df, 1.0))
        crit = tcrit[k]
        dfs = df

    # heterogeneity from the equal-effects fit
    wfe = s[10]
    for j in range(K):
        wfe[j] = m[j] / v[j]
    _, swf = _wmean(y, m, wfe, K, r, tmp)
    qe = _qa(wfe, r, K, tmp) if k > 1 else 0.0
    if k > 1:
        if qe != qe:
            qep = qe
        elif qe <= 0:
            qep = 1.0
        elif math.isinf(qe):
            qep = 0.0
        else:
            qep = _chi2_sf(_nmax(df, 1.0), qe)
    else:
        qep = 1.0
    for j in range(K):
        tmp[j] = wfe[j] * wfe[j]
    s2typ = df * swf / (swf * swf - _psum(tmp, K))
    if method == 0:
        i2 = _nmax(0.0, 100.0 * (qe - df) / qe) if qe > 0 else 0.0
        h2 = qe / df
    else:
        i2 = 100.0 * tau2 / (tau2 + s2typ)
        h2 = (tau2 + s2typ) / s2typ
    if k <= 1:
        i2 = 0.0
        h2 = 1.0

    F[0, io] = b
    F[1, io] = se
    F[2, io] = zval
    F[3, io] = pval
    F[4, io] = b - crit * se
    F[5, io] = b + crit * se
    F[6, io] = tau2
    F[7, io] = se_tau2
    F[8, io] = i2
    F[9, io] = h2
    F[10, io] = qe
    F[11, io] = qep
    F[12, io] = dfs
    KO[io] = k
    CONV[io] = conv
    ITERS[io] = iters


@njit(**_JIT)
def _fit_kernel(
    Y, V, W, has_w, method, test, zcrit, tcrit, pmm_tab, lo, hi, off, F, KO, CONV, ITERS
):
    """Input rows ``lo:hi`` into output slots ``off + lo : off + hi``, serially.

    Releases the GIL: the caller runs slices of a chunk in threads.
    """
    K = Y.shape[1]
    # a tuple of separate vectors, not rows of one matrix: s[3] is then a plain
    # struct access, not a new view with reference counting in the inner loops
    s = (
        np.empty(K), np.empty(K), np.empty(K), np.empty(K),
        np.empty(K), np.empty(K), np.empty(K), np.empty(K),
        np.empty(K), np.empty(K), np.empty(K), np.empty(K),
        np.empty(K), np.empty(K), np.empty(K), np.empty(K),
    )  # fmt: skip
    for i in range(lo, hi):
        _fit_row(
            i, off + i, Y, V, W, has_w, method, test, zcrit, tcrit, pmm_tab, F, KO, CONV, ITERS, s
        )


# --------------------------------------------------------------------------- #
# Python entry point
# --------------------------------------------------------------------------- #
def tables(method: str, test: str, level: float, K: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Critical values and targets the kernels look up, from scipy.stats.

    Parameters
    ----------
    method : str
        The estimator (metafor ``rma(method=)``); PMM needs its chi^2 medians.
    test : str
        ``"z"``, ``"t"``, ``"knha"`` or ``"adhoc"`` (metafor ``test=``).
    level : float
        Confidence level in percent.
    K : int
        Widest row (number of studies).

    Returns
    -------
    tuple of (float, ndarray, ndarray)
        The z critical value, t critical values by k (``(K + 1,)``, df = max(k - 1, 1)),
        and PMM's targets by k (NaN unless ``method == "PMM"``).
    """
    alpha = 1.0 - level / 100.0
    ks = np.arange(K + 1, dtype=float)
    dft = np.maximum(ks - 1.0, 1.0)
    zcrit = float(stats.norm.isf(alpha / 2.0))
    tcrit = np.asarray(stats.t.isf(alpha / 2.0, dft), dtype=float)
    pmm = np.full(K + 1, np.nan)
    if method == "PMM":
        pmm = np.asarray(stats.chi2.ppf(0.5, dft), dtype=float)
    return zcrit, tcrit, pmm


def fit_rows(
    Y: np.ndarray,
    V: np.ndarray,
    W: np.ndarray | None,
    *,
    method: str,
    test: str,
    tabs: tuple[float, np.ndarray, np.ndarray],
    lo: int,
    hi: int,
    off: int,
    out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Fit rows ``lo:hi`` one by one (metafor ``rma(yi, vi, method=, test=)`` per row).

    Parameters
    ----------
    Y, V : ndarray
        C-contiguous ``(m, K)`` float arrays of effect sizes and sampling variances
        (NaN pads ragged rows).
    W : ndarray or None
        User weights shaped as ``Y`` (metafor ``weights=``), or None.
    method, test : str
        Estimator and test, as :data:`METHOD_CODES` / :data:`TEST_CODES` name them.
    tabs : tuple
        :func:`tables` for this method, test, level and K.
    lo, hi : int
        The rows fitted.
    off : int
        Offset of row ``lo`` in the outputs (results go to ``off + lo : off + hi``).
    out : tuple of ndarray
        ``(F, KO, CONV, ITERS)``, written in place.  ``F`` is ``(13, n)`` float:
        b se zval pval ci_lb ci_ub tau2 se_tau2 I2 H2 QE QEp dfs.  ``KO`` holds k, or
        0 (no studies), or ``-1 - j`` (study j has V <= 0): the caller raises for
        those rows.
    """
    F, KO, CONV, ITERS = out
    has_w = W is not None
    if W is None:
        W = _NO_W
    zcrit, tcrit, pmm = tabs
    _fit_kernel(
        Y,
        V,
        W,
        has_w,
        METHOD_CODES[method],
        TEST_CODES[test],
        zcrit,
        tcrit,
        pmm,
        lo,
        hi,
        off,
        F,
        KO,
        CONV,
        ITERS,
    )


_NO_W = np.empty((1, 1))
