"""The numba engine's main path: blocks of rows in SIMD lanes, every estimator and test.

:mod:`metaparity.engine.numba.kernels` fits one row at a time: every row sum is a short,
dependent chain of K additions, and the CPU's vector units stay idle.  Here a
block of ``B`` rows is transposed into ``(K, B)`` scratch arrays that live in
the cache, and every operation of the reference runs *across the rows of the
block* -- ``for j in range(K): for ln in range(B): acc[ln] += t[j, ln]`` -- so the
inner loops are independent lanes that the compiler turns into AVX
instructions (divisions and square roots included).

The numbers are still the reference's, bit for bit: within each lane the
operations are the ones :mod:`metaparity.engine.numba.kernels` performs (and so the numpy
engine), in the same order -- the same elementwise expressions, every row sum
in numpy's pairwise order (a plain loop below 8 terms, eight interleaved
partial sums up to 128), no fused multiply-add (``fastmath=False``).  Vectorising
*across* independent rows changes no rounding; only reassociation within a row
would.

Covered: every estimator with every test, K <= 128 studies (wider rows use
:mod:`metaparity.engine.numba.kernels`).  The iterative ones run with active-set masking:
each lane takes the reference's steps, a lane that has stopped keeps its state,
the lanes still running are compacted to the front when half have stopped, and
ML/REML lanes still in Fisher scoring after 32 iterations are resumed later in
blocks of their own.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from metaparity.engine.numba.kernels import (
    _EPS,
    _FOUR_EPS,
    _JIT,
    _MACH_EPS,
    _MAXIT,
    _MAXIT_FS,
    _NO_W,
    _c_ndtr,
    _chi2_sf,
    _nmax,
    _t_two_sided,
)

__all__ = ["MAX_K", "BLOCK", "fit_lanes"]

#: widest row done here (numpy's pairwise sum splits recursively above 128 terms)
MAX_K = 128
#: rows per block: (K, B) scratch arrays of K = 10 x 64 rows stay in L1/L2
BLOCK = 64
_NT = 18  # (K, B) scratch arrays
_NV = 41  # (B,) lane vectors
_NM = 6  # (B,) lane masks
#: Fisher-scoring iterations after which a lane is deferred to a block of stragglers
_FISHER_CAP = 32


# --------------------------------------------------------------------------- #
# lane-wise building blocks: T is (K, B), out is (B,); lanes ln < nb
# --------------------------------------------------------------------------- #
@njit(**_JIT)
def _rsum(T, K, nb, R, out):
    """numpy's row sum of ``T[:K, ln]`` for every lane: 0.0 + pairwise (K <= 128)."""
    if K < 8:
        for ln in range(nb):
            out[ln] = -0.0
        for j in range(K):
            for ln in range(nb):
                out[ln] += T[j, ln]
    else:
        for c in range(8):
            for ln in range(nb):
                R[c, ln] = T[c, ln]
        i = 8
        lim = K - K % 8
        while i < lim:
            for c in range(8):
                for ln in range(nb):
                    R[c, ln] += T[i + c, ln]
            i += 8
        for ln in range(nb):
            out[ln] = ((R[0, ln] + R[1, ln]) + (R[2, ln] + R[3, ln])) + (
                (R[4, ln] + R[5, ln]) + (R[6, ln] + R[7, ln])
            )
        while i < K:
            for ln in range(nb):
                out[ln] += T[i, ln]
            i += 1
    for ln in range(nb):
        out[ln] = 0.0 + out[ln]


@njit(**_JIT)
def _others(X, K, nb, c, out):
    """``sum_{j != i} X[j]`` per lane from exclusive prefix + suffix sums (as _kernels._others)."""
    for ln in range(nb):
        out[0, ln] = 0.0
        c[ln] = X[0, ln]
    for i in range(1, K):
        for ln in range(nb):
            out[i, ln] = c[ln]
            c[ln] = c[ln] + X[i, ln]
    for ln in range(nb):
        out[K - 1, ln] = out[K - 1, ln] + 0.0
        c[ln] = X[K - 1, ln]
    for i in range(K - 2, -1, -1):
        for ln in range(nb):
            out[i, ln] = out[i, ln] + c[ln]
            c[ln] = c[ln] + X[i, ln]


@njit(**_JIT)
def _wmean(y, m, a, K, nb, r, tmp, R, b, sa):
    """``_kernels._wmean`` per lane: b, sa = sum a, r = (y - b) m."""
    _rsum(a, K, nb, R, sa)
    for j in range(K):
        for ln in range(nb):
            tmp[j, ln] = a[j, ln] * y[j, ln]
    _rsum(tmp, K, nb, R, b)
    for ln in range(nb):
        b[ln] = b[ln] / sa[ln]
    for j in range(K):
        for ln in range(nb):
            r[j, ln] = (y[j, ln] - b[ln]) * m[j, ln]


@njit(**_JIT)
def _qa(a, r, K, nb, tmp, R, out):
    """``sum a r r`` per lane."""
    for j in range(K):
        for ln in range(nb):
            tmp[j, ln] = a[j, ln] * r[j, ln] * r[j, ln]
    _rsum(tmp, K, nb, R, out)


@njit(**_JIT)
def _diag_p(m, a_in, K, nb, a, oth, d, R, c, S):
    """``a = a_in m``; diagonal ``d`` of P_a; S = sum a (as _kernels._diag_p)."""
    for j in range(K):
        for ln in range(nb):
            a[j, ln] = a_in[j, ln] * m[j, ln]
    _rsum(a, K, nb, R, S)
    _others(a, K, nb, c, oth)
    for j in range(K):
        for ln in range(nb):
            d[j, ln] = a[j, ln] * oth[j, ln] / S[ln]


@njit(**_JIT)
def _traces(v, m, a_in, K, nb, T, R, L, full):
    """tr(P), tr(PP) into L[10], L[11]; with ``full`` also tr(PVP), tr(PVPV) into
    L[12], L[13] (as _kernels._traces; uses T[4..8], L[9..15])."""
    a, oth, d, t1, t2 = T[4], T[5], T[6], T[7], T[8]
    S, trp, trpp, trpvp, trpvpv, x, c = L[9], L[10], L[11], L[12], L[13], L[14], L[15]
    _diag_p(m, a_in, K, nb, a, oth, d, R, c, S)
    _rsum(d, K, nb, R, trp)
    for j in range(K):
        for ln in range(nb):
            t1[j, ln] = d[j, ln] * d[j, ln]
    _rsum(t1, K, nb, R, trpp)  # dd
    for j in range(K):
        for ln in range(nb):
            t2[j, ln] = a[j, ln] * a[j, ln]  # a2
    _others(t2, K, nb, c, oth)
    for j in range(K):
        for ln in range(nb):
            t1[j, ln] = t2[j, ln] * oth[j, ln]
    _rsum(t1, K, nb, R, x)
    for ln in range(nb):
        trpp[ln] = trpp[ln] + x[ln] / (S[ln] * S[ln])
    if not full:
        return
    for j in range(K):
        for ln in range(nb):
            t1[j, ln] = d[j, ln] * d[j, ln] * v[j, ln]
    _rsum(t1, K, nb, R, trpvp)  # ddv
    for j in range(K):
        for ln in range(nb):
            t1[j, ln] = d[j, ln] * d[j, ln] * v[j, ln] * v[j, ln]
    _rsum(t1, K, nb, R, trpvpv)  # ddvv
    for j in range(K):
        for ln in range(nb):
            t2[j, ln] = t2[j, ln] * v[j, ln]  # a2 * v
    _others(t2, K, nb, c, oth)
    for j in range(K):
        for ln in range(nb):
            t1[j, ln] = a[j, ln] * a[j, ln] * oth[j, ln]
    _rsum(t1, K, nb, R, x)
    for ln in range(nb):
        trpvp[ln] = trpvp[ln] + x[ln] / (S[ln] * S[ln])
    for j in range(K):
        for ln in range(nb):
            t1[j, ln] = t2[j, ln] * oth[j, ln]
    _rsum(t1, K, nb, R, x)
    for ln in range(nb):
        trpvpv[ln] = trpvpv[ln] + x[ln] / (S[ln] * S[ln])


@njit(**_JIT)
def _var_qa(v, m, a_in, tau2, K, nb, T, R, L, out):
    """``_kernels._var_qa`` per lane into ``out``."""
    _traces(v, m, a_in, K, nb, T, R, L, True)
    trpp, trpvp, trpvpv = L[11], L[12], L[13]
    for ln in range(nb):
        t = tau2[ln]
        out[ln] = 2.0 * (trpvpv[ln] + 2.0 * t * trpvp[ln] + t * t * trpp[ln])


@njit(**_JIT)
def _se_dl_form(v, m, a_in, tau2, kf, K, nb, T, R, L, out):
    """``_kernels._se_dl_form`` per lane into ``out``; leaves tr(P) in L[10]."""
    _traces(v, m, a_in, K, nb, T, R, L, False)
    trp, trpp = L[10], L[11]
    for ln in range(nb):
        t = tau2[ln]
        out[ln] = (
            math.sqrt(2.0 * (kf[ln] - 1.0) + 4.0 * t * trp[ln] + 2.0 * t * t * trpp[ln]) / trp[ln]
        )


# --------------------------------------------------------------------------- #
# tau^2 of the closed-form estimators (_kernels._tau2_row, per lane)
# --------------------------------------------------------------------------- #
@njit(**_JIT)
def _tau2_lanes(method, y, v, m, w, kf, K, nb, T, R, L, tau2, se_tau2, qe_out):
    """tau2 and se_tau2 per lane (rows with k <= 1 are set by the caller).

    For DL the moment weights are the equal-effects weights, so Q_a is QE: it is
    left in ``qe_out`` (same operations, same bits) and the flag returned.
    """
    a, r, tmp = T[10], T[1], T[2]
    b, sa, raw, trp, x = L[0], L[1], L[2], L[3], L[4]
    if method == 0:
        for ln in range(nb):
            tau2[ln] = 0.0
            se_tau2[ln] = np.nan
        return False
    if method <= 3:  # DL, HE, GENQ: _mom_raw
        for j in range(K):
            for ln in range(nb):
                if method == 1:
                    a[j, ln] = m[j, ln] / v[j, ln]
                elif method == 2:
                    a[j, ln] = m[j, ln]
                else:
                    a[j, ln] = w[j, ln] * m[j, ln]
        _wmean(y, m, a, K, nb, r, tmp, R, b, sa)
        _qa(a, r, K, nb, tmp, R, qe_out)  # Q_a
        # _mom_parts: tr P_a, tr P_a V
        _diag_p(m, a, K, nb, T[4], T[5], T[6], R, L[15], L[9])
        d = T[6]
        _rsum(d, K, nb, R, trp)
        for j in range(K):
            for ln in range(nb):
                tmp[j, ln] = d[j, ln] * v[j, ln]
        _rsum(tmp, K, nb, R, x)
        for ln in range(nb):
            raw[ln] = (qe_out[ln] - x[ln]) / trp[ln]
            tau2[ln] = _nmax(raw[ln], 0.0)
        if method == 1:
            _se_dl_form(v, m, a, tau2, kf, K, nb, T, R, L, se_tau2)
            return True
        _var_qa(v, m, a, tau2, K, nb, T, R, L, x)
        for ln in range(nb):
            se_tau2[ln] = math.sqrt(x[ln]) / trp[ln]
        return False
    if method <= 5:  # HS, HSk
        for j in range(K):
            for ln in range(nb):
                a[j, ln] = m[j, ln] / v[j, ln]
        _wmean(y, m, a, K, nb, r, tmp, R, b, sa)
        _qa(a, r, K, nb, tmp, R, qe_out)
        for ln in range(nb):
            if method == 4:
                tau2[ln] = _nmax((qe_out[ln] - kf[ln]) / sa[ln], 0.0)
            else:
                tau2[ln] = _nmax((qe_out[ln] * (kf[ln] / (kf[ln] - 1.0)) - kf[ln]) / sa[ln], 0.0)
        _se_dl_form(v, m, a, tau2, kf, K, nb, T, R, L, se_tau2)
        trp = L[10]  # _traces' tr(P), as the reference recomputes it
        for ln in range(nb):
            scale = 1.0 if method == 4 else kf[ln] / (kf[ln] - 1.0)
            se_tau2[ln] = se_tau2[ln] * trp[ln] * scale / sa[ln]
        return True
    # SJ
    _wmean(y, m, m, K, nb, r, tmp, R, b, sa)
    tau0 = L[5]
    for j in range(K):
        for ln in range(nb):
            tmp[j, ln] = r[j, ln] * r[j, ln]
    _rsum(tmp, K, nb, R, tau0)
    for ln in range(nb):
        tau0[ln] = tau0[ln] / kf[ln]
    for j in range(K):
        for ln in range(nb):
            a[j, ln] = m[j, ln] / (v[j, ln] + tau0[ln])
    _wmean(y, m, a, K, nb, r, tmp, R, b, sa)
    _qa(a, r, K, nb, tmp, R, x)
    for ln in range(nb):
        tau2[ln] = tau0[ln] * x[ln] / (kf[ln] - 1.0)
    _var_qa(v, m, a, tau2, K, nb, T, R, L, x)
    for ln in range(nb):
        se_tau2[ln] = tau0[ln] * math.sqrt(x[ln]) / (kf[ln] - 1.0)
    return False


# --------------------------------------------------------------------------- #
# ML / REML (_kernels._likelihood, per lane, active-set masking)
# --------------------------------------------------------------------------- #
@njit(**_JIT)
def _inv_var(v, m, x, K, nb, w):
    """``w = m / (v + x)`` with a per-lane x."""
    for j in range(K):
        for ln in range(nb):
            w[j, ln] = m[j, ln] / (v[j, ln] + x[ln])


@njit(**_JIT)
def _score(reml, mode, x, y, v, m, K, nb, T, R, L, sc, info):
    """``_kernels._score`` per lane at x: score into sc, information into info
    (uses T[0..3] views passed in T, L[0..2], and _traces' T[4..8], L[9..15])."""
    w, r, w2, t3 = T[12], T[1], T[2], T[13]
    b, sw, sw2 = L[0], L[1], L[2]
    _inv_var(v, m, x, K, nb, w)
    _wmean(y, m, w, K, nb, r, w2, R, b, sw)
    for j in range(K):
        for ln in range(nb):
            w2[j, ln] = w[j, ln] * w[j, ln]
    _rsum(w2, K, nb, R, sw2)
    for j in range(K):
        for ln in range(nb):
            t3[j, ln] = w2[j, ln] * r[j, ln] * r[j, ln]
    _rsum(t3, K, nb, R, sc)
    if not reml:
        for ln in range(nb):
            sc[ln] = sc[ln] - sw[ln]
            info[ln] = sw2[ln]
        return
    if mode == 0:
        for j in range(K):
            for ln in range(nb):
                t3[j, ln] = w2[j, ln] * w[j, ln]
        _rsum(t3, K, nb, R, info)
        for ln in range(nb):
            trp = sw[ln] - sw2[ln] / sw[ln]
            ratio = sw2[ln] / sw[ln]
            info[ln] = sw2[ln] - 2 * info[ln] / sw[ln] + ratio * ratio
            sc[ln] = sc[ln] - trp
        return
    _traces(v, m, w, K, nb, T, R, L, False)
    for ln in range(nb):
        sc[ln] = sc[ln] - L[10, ln]
        info[ln] = L[11, ln]


@njit(**_JIT)
def _score_d(reml, x, y, v, m, K, nb, T, R, L, fx, dfx):
    """``_kernels._score_d`` per lane at x: exact score into fx, its derivative into dfx."""
    w, r, w2, t3, u = T[12], T[1], T[2], T[13], T[14]
    b, sw, ubar, yp = L[0], L[1], L[2], L[3]
    _inv_var(v, m, x, K, nb, w)
    _wmean(y, m, w, K, nb, r, w2, R, b, sw)
    for j in range(K):
        for ln in range(nb):
            w2[j, ln] = w[j, ln] * w[j, ln]
    for j in range(K):
        for ln in range(nb):
            t3[j, ln] = w2[j, ln] * r[j, ln] * r[j, ln]
    _rsum(t3, K, nb, R, fx)
    for j in range(K):
        for ln in range(nb):
            u[j, ln] = w[j, ln] * r[j, ln]
    for j in range(K):
        for ln in range(nb):
            t3[j, ln] = w[j, ln] * u[j, ln]
    _rsum(t3, K, nb, R, ubar)
    for ln in range(nb):
        ubar[ln] = ubar[ln] / sw[ln]
    for j in range(K):
        for ln in range(nb):
            u[j, ln] = (u[j, ln] - ubar[ln]) * m[j, ln]
    for j in range(K):
        for ln in range(nb):
            t3[j, ln] = w[j, ln] * u[j, ln] * u[j, ln]
    _rsum(t3, K, nb, R, yp)
    if not reml:
        _rsum(w2, K, nb, R, dfx)
        for ln in range(nb):
            fx[ln] = fx[ln] - sw[ln]
            dfx[ln] = dfx[ln] - 2.0 * yp[ln]
        return
    _traces(v, m, w, K, nb, T, R, L, False)
    for ln in range(nb):
        fx[ln] = fx[ln] - L[10, ln]
        dfx[ln] = L[11, ln] - 2.0 * yp[ln]


@njit(**_JIT)
def _loglik(reml, x, y, v, m, K, nb, T, R, L, out):
    """``_kernels._loglik`` per lane at x."""
    sv, w, r, tmp = T[14], T[12], T[1], T[2]
    b, sw, q = L[0], L[1], L[2]
    for j in range(K):
        for ln in range(nb):
            sv[j, ln] = (v[j, ln] + x[ln]) * m[j, ln] + (1 - m[j, ln])
            w[j, ln] = m[j, ln] / sv[j, ln]
    _wmean(y, m, w, K, nb, r, tmp, R, b, sw)
    for j in range(K):
        for ln in range(nb):
            tmp[j, ln] = math.log(sv[j, ln])
    _rsum(tmp, K, nb, R, out)
    _qa(w, r, K, nb, tmp, R, q)
    for ln in range(nb):
        out[ln] = -0.5 * out[ln] - 0.5 * q[ln]
        if reml:
            out[ln] -= 0.5 * math.log(sw[ln])


@njit(**_JIT)
def _compact(act, idx, nc, y, v, m, K, T):
    """Keep the active lanes of ``idx[:nc]``: their indices first in ``idx``, their
    columns of y, v, m in T[15], T[16], T[17]; returns their number."""
    na = 0
    for c in range(nc):
        if act[idx[c]]:
            idx[na] = idx[c]
            na += 1
    yc, vc, mc = T[15], T[16], T[17]
    for j in range(K):
        for c in range(na):
            ln = idx[c]
            yc[j, c] = y[j, ln]
            vc[j, c] = v[j, ln]
            mc[j, c] = m[j, ln]
    return na


@njit(**_JIT)
def _froot(kind, x, y, v, m, tg, kf, K, nb, T, R, L, f, df):
    """``_kernels._froot`` per lane: kind 0 ``Q(x) - tg`` and ``dQ``; kind 1 (DLIT)
    ``h(x) - x`` and its derivative."""
    w, r, t, t3 = T[12], T[1], T[2], T[13]
    q, dq = L[2], L[3]
    _inv_var(v, m, x, K, nb, w)
    _wmean(y, m, w, K, nb, r, t, R, L[0], L[1])
    for j in range(K):
        for ln in range(nb):
            t[j, ln] = w[j, ln] * r[j, ln] * r[j, ln]
    _rsum(t, K, nb, R, q)
    for j in range(K):
        for ln in range(nb):
            t3[j, ln] = w[j, ln] * t[j, ln]
    _rsum(t3, K, nb, R, dq)
    if kind == 0:
        for ln in range(nb):
            f[ln] = q[ln] - tg[ln]
            df[ln] = -dq[ln]
        return
    _traces(v, m, w, K, nb, T, R, L, False)
    trp, trpp = L[10], L[11]
    for ln in range(nb):
        h = (q[ln] - (kf[ln] - 1.0)) / trp[ln]
        f[ln] = h - x[ln]
        df[ln] = (h * trpp[ln] - dq[ln]) / trp[ln] - 1.0


@njit(**_JIT)
def _feval(code, x, y, v, m, tg, kf, K, nb, T, R, L, f, df):
    """The function whose root is polished: 0 Q - target (PM family), 1 DLIT's fixed
    point, 2 the ML score, 3 the REML score (value and derivative)."""
    if code >= 2:
        _score_d(code == 3, x, y, v, m, K, nb, T, R, L, f, df)
    else:
        _froot(code, x, y, v, m, tg, kf, K, nb, T, R, L, f, df)


@njit(**_JIT)
def _refine(code, act, nact, pt, a, b, conv, iters, y, v, m, kf, tg, K, nb, T, R, L, IDX):
    """Safeguarded Newton in the brackets [a, b] from pt, per lane with ``act``
    (``_kernels._refine``): pt ends at each lane's last x,
    ``conv``/``iters`` as the reference's.  Uses L[30..32], L[38..40]."""
    x, fx, dfx, kfs, tgs = L[30], L[31], L[32], L[38], L[39]
    nc = nb
    for ln in range(nb):
        IDX[ln] = ln
    ye, ve, me = y, v, m
    for _ in range(_MAXIT):
        if nact == 0:
            break
        if nact <= nc // 2:  # half the lanes done: the rest to the front
            nc = _compact(act, IDX, nc, y, v, m, K, T)
            ye, ve, me = T[15], T[16], T[17]
        for c in range(nc):
            x[c] = pt[IDX[c]]
            kfs[c] = kf[IDX[c]]
            tgs[c] = tg[IDX[c]]
        _feval(code, x, ye, ve, me, tgs, kfs, K, nc, T, R, L, fx, dfx)
        nact = 0
        for c in range(nc):
            ln = IDX[c]
            if not act[ln]:
                continue
            xl = pt[ln]
            iters[ln] += 1
            if fx[c] > 0:
                a[ln] = xl
            else:
                b[ln] = xl
            nx = xl - fx[c] / dfx[c]
            ok = math.isfinite(nx)
            tiny = ok and abs(nx - xl) <= _EPS * _nmax(abs(xl), 1e-300)
            if tiny or (ok and nx > a[ln] and nx < b[ln]):
                nxt = nx
            else:
                nxt = 0.5 * (a[ln] + b[ln])
            scl = _nmax(abs(b[ln]), 1e-300)
            exact = fx[c] == 0
            fin = (
                exact or tiny or (b[ln] - a[ln] <= _FOUR_EPS * scl) or (abs(nxt - xl) <= _EPS * scl)
            )
            if not exact:
                pt[ln] = nxt
            if fin:
                conv[ln] = True
                act[ln] = False
            else:
                nact += 1


@njit(**_JIT)
def _decreasing(method, y, v, m, kf, live, pmm, KL, K, nb, T, R, L, M, IDX, tau2, se_tau2,
                conv, iters):  # fmt: skip
    """PM/EB/SJIT (7), PMM (8), DLIT (9) per lane: ``_kernels.solve_decreasing`` (the
    root of Q(tau2) - target, or DLIT's fixed point) and the SE of ``_tau2_row``."""
    kind = 1 if method == 9 else 0
    a, b, st, x, dfx, tg, pt = L[26], L[27], L[28], L[30], L[32], L[40], L[33]
    fb, f0 = L[34], L[35]
    act = M[0]
    for ln in range(nb):
        x[ln] = 0.0
        tg[ln] = 0.0 if kind == 1 else (kf[ln] - 1.0 if method == 7 else pmm[KL[ln]])
    _froot(kind, x, y, v, m, tg, kf, K, nb, T, R, L, f0, dfx)
    nact = 0
    for ln in range(nb):
        conv[ln] = True
        iters[ln] = 0
        tau2[ln] = 0.0
        act[ln] = live[ln] and f0[ln] > 0
        a[ln] = 0.0
        st[ln] = 1.0
        b[ln] = 1.0
        nact += 1 if act[ln] else 0
    # bracket: grow b by 4x steps while f(b) > 0 (only the lanes still growing)
    for _ in range(2000):
        if nact == 0:
            break
        _feval_at(kind, act, b, fb, y, v, m, tg, kf, K, nb, T, R, L, IDX)
        nact = 0
        for ln in range(nb):
            if act[ln]:
                if not fb[ln] > 0:
                    act[ln] = False
                else:
                    a[ln] = b[ln]
                    st[ln] = st[ln] * 4.0
                    b[ln] = b[ln] + st[ln]
                    nact += 1
    # lanes with f(0) > 0: safeguarded Newton from the midpoint of their bracket
    nact = 0
    for ln in range(nb):
        act[ln] = live[ln] and f0[ln] > 0
        if act[ln]:
            conv[ln] = False
            pt[ln] = 0.5 * (a[ln] + b[ln])
            nact += 1
    _refine(kind, act, nact, pt, a, b, conv, iters, y, v, m, kf, tg, K, nb, T, R, L, IDX)
    for ln in range(nb):
        if live[ln] and f0[ln] > 0:
            tau2[ln] = pt[ln]
    # SE (_kernels._tau2_row)
    w = T[10]
    _inv_var(v, m, tau2, K, nb, w)
    if method == 9:
        _se_dl_form(v, m, w, tau2, kf, K, nb, T, R, L, se_tau2)
        return
    _rsum(w, K, nb, R, x)
    for ln in range(nb):
        se_tau2[ln] = kf[ln] * math.sqrt(2.0 / (kf[ln] - 1.0)) / x[ln]


@njit(**_JIT)
def _feval_at(code, mask, pts, out, y, v, m, tg, kf, K, nb, T, R, L, IDX):
    """``out[l] = f(pts[l])`` (value only) for the lanes with ``mask`` (uses L[30..32],
    L[38..39])."""
    x, fx, dfx, kfs, tgs = L[30], L[31], L[32], L[38], L[39]
    n = _gather(mask, pts, y, v, m, K, nb, T, IDX, x)
    for c in range(n):
        kfs[c] = kf[IDX[c]]
        tgs[c] = tg[IDX[c]]
    if n:
        _feval(code, x, T[15], T[16], T[17], tgs, kfs, K, n, T, R, L, fx, dfx)
        for c in range(n):
            out[IDX[c]] = fx[c]


@njit(**_JIT)
def _gather(mask, pts, y, v, m, K, nb, T, IDX, x):
    """Lanes with ``mask``: their columns to T[15..17], their points to x; returns their
    number (IDX maps slot -> lane)."""
    for ln in range(nb):
        IDX[ln] = ln
    n = _compact(mask, IDX, nb, y, v, m, K, T)
    for c in range(n):
        x[c] = pts[IDX[c]]
    return n


@njit(**_JIT)
def _score_d_at(reml, mask, pts, out, y, v, m, K, nb, T, R, L, IDX):
    """``out[l] = score(pts[l])`` for the lanes with ``mask`` only (uses L[30..32])."""
    x, fx, dfx = L[30], L[31], L[32]
    n = _gather(mask, pts, y, v, m, K, nb, T, IDX, x)
    if n:
        _score_d(reml, x, T[15], T[16], T[17], K, n, T, R, L, fx, dfx)
        for c in range(n):
            out[IDX[c]] = fx[c]


@njit(**_JIT)
def _loglik_at(reml, mask, pts, out, y, v, m, K, nb, T, R, L, IDX):
    """``out[l] = loglik(pts[l])`` for the lanes with ``mask`` only (uses L[30..31])."""
    x, ll = L[30], L[31]
    n = _gather(mask, pts, y, v, m, K, nb, T, IDX, x)
    if n:
        _loglik(reml, x, T[15], T[16], T[17], K, n, T, R, L, ll)
        for c in range(n):
            out[IDX[c]] = ll[c]


@njit(**_JIT)
def _likelihood(reml, y, v, m, kf, live, K, nb, T, R, L, M, IDX, tau2, se_tau2, conv, iters,
                cap, resume, T0, I0, dfr):  # fmt: skip
    """tau2, se_tau2, converged, iterations per lane, as _kernels._likelihood on each
    row (lanes with ``live`` False -- k <= 1 or invalid -- are left to the caller).

    Every lane takes the reference's steps; a lane that has stopped keeps its
    state while the others go on (its evaluations are computed and ignored).
    """
    sc, info, a, b, fa, fb, x, fx, dfx, t, s0, d0, dl, pt = (
        L[24], L[25], L[26], L[27], L[28], L[29], L[30], L[31], L[32], L[33], L[34], L[35],
        L[36], L[37],
    )  # fmt: skip
    act, na, nbk = M[0], M[1], M[2]
    # HE start (_mom_raw with a = m)
    ah, r, tmp = T[10], T[1], T[2]
    for j in range(K):
        for ln in range(nb):
            ah[j, ln] = m[j, ln]
    _wmean(y, m, ah, K, nb, r, tmp, R, L[0], L[1])
    _qa(ah, r, K, nb, tmp, R, L[20])
    _diag_p(m, ah, K, nb, T[4], T[5], T[6], R, L[15], L[9])
    d = T[6]
    _rsum(d, K, nb, R, L[3])
    for j in range(K):
        for ln in range(nb):
            tmp[j, ln] = d[j, ln] * v[j, ln]
    _rsum(tmp, K, nb, R, L[4])
    for ln in range(nb):
        if resume:
            tau2[ln] = T0[ln]
            conv[ln] = False
            iters[ln] = I0[ln]
            act[ln] = live[ln]
            continue
        raw = (L[20, ln] - L[4, ln]) / L[3, ln]
        if raw != raw:
            raw = 0.0
        elif raw == np.inf:
            raw = 1.7976931348623157e308
        elif raw == -np.inf:
            raw = -1.7976931348623157e308
        tau2[ln] = _nmax(raw, 0.0)
        conv[ln] = False
        iters[ln] = 0
        act[ln] = live[ln]
    # Fisher scoring; when half the lanes have stopped, the rest move to the front
    # (T[15..17]) so that the stragglers of a block do not carry it
    nc = nb
    nact = 0
    for ln in range(nb):
        IDX[ln] = ln
        nact += 1 if act[ln] else 0
    ye, ve, me = y, v, m
    for _ in range(_MAXIT_FS):
        if nact == 0:
            break
        if nact <= nc // 2:
            nc = _compact(act, IDX, nc, y, v, m, K, T)
            ye, ve, me = T[15], T[16], T[17]
        for c in range(nc):
            x[c] = tau2[IDX[c]]
        _score(reml, 0, x, ye, ve, me, K, nc, T, R, L, sc, info)
        nact = 0
        for c in range(nc):
            ln = IDX[c]
            if act[ln]:
                new = _nmax(tau2[ln] + sc[c] / info[c], 0.0)
                iters[ln] += 1
                step = abs(new - tau2[ln])
                cv = (step <= 1e-10 * _nmax(new, 1e-300)) or (new == 0 and tau2[ln] == 0)
                conv[ln] = cv
                tau2[ln] = new
                if not cv and iters[ln] >= cap:
                    if cap < _MAXIT_FS:  # deferred: resumed in a block of stragglers
                        dfr[ln] = True
                        live[ln] = False
                    cv = True
                act[ln] = not cv
                nact += 0 if cv else 1
    # polish: bracket the root of the exact score next to tau2
    for ln in range(nb):
        t[ln] = tau2[ln]
    _score_d(reml, t, y, v, m, K, nb, T, R, L, s0, d0)
    for j in range(K):
        for ln in range(nb):
            tmp[j, ln] = v[j, ln] * m[j, ln]
    _rsum(tmp, K, nb, R, dl)
    for ln in range(nb):
        scale = _nmax(t[ln], 1e-12 * dl[ln] / kf[ln])
        dl[ln] = 1e-6 * scale
        if s0[ln] > 0:
            a[ln] = t[ln]
            b[ln] = t[ln] + dl[ln]
            pt[ln] = b[ln]
        else:
            a[ln] = _nmax(t[ln] - dl[ln], 0.0)
            b[ln] = t[ln]
            pt[ln] = a[ln]
    _score_d(reml, pt, y, v, m, K, nb, T, R, L, fx, dfx)
    for ln in range(nb):
        if s0[ln] > 0:
            fa[ln] = s0[ln]
            fb[ln] = fx[ln]
        else:
            fa[ln] = fx[ln]
            fb[ln] = s0[ln]
        act[ln] = live[ln]
    for _ in range(200):
        any_a = False
        any_b = False
        for ln in range(nb):
            if act[ln]:
                na[ln] = fa[ln] <= 0 and a[ln] > 0
                nbk[ln] = fb[ln] > 0
                if not (na[ln] or nbk[ln]):
                    act[ln] = False
                else:
                    dl[ln] = dl[ln] * 4.0
                    if na[ln]:
                        a[ln] = _nmax(a[ln] - dl[ln], 0.0)
                        any_a = True
                    if nbk[ln]:
                        b[ln] = b[ln] + dl[ln]
                        any_b = True
            else:
                na[ln] = False
                nbk[ln] = False
        if not (any_a or any_b):
            break
        # only the lanes whose bracket grows are evaluated (near tau2 = 0 a bracket
        # grows from ~1e-6 tau2 in steps of 4: ~10 rounds for a few lanes of the block)
        if any_a:
            _score_d_at(reml, na, a, fa, y, v, m, K, nb, T, R, L, IDX)
        if any_b:
            _score_d_at(reml, nbk, b, fb, y, v, m, K, nb, T, R, L, IDX)
    # safeguarded Newton (_kernels._refine) from the Newton point of t
    nact = 0
    for ln in range(nb):
        act[ln] = False
        if not live[ln]:
            continue
        if fa[ln] <= 0 and a[ln] == 0:
            tau2[ln] = 0.0
            conv[ln] = True
        else:
            nx = t[ln] - s0[ln] / d0[ln]
            x[ln] = (
                nx if (math.isfinite(nx) and nx >= a[ln] and nx <= b[ln]) else 0.5 * (a[ln] + b[ln])
            )
            conv[ln] = False
            act[ln] = True
            nact += 1
    ran = M[1]
    for ln in range(nb):
        pt[ln] = x[ln]
        ran[ln] = act[ln]
    _refine(
        3 if reml else 2, act, nact, pt, a, b, conv, iters, y, v, m, kf, kf, K, nb, T, R, L, IDX
    )
    for ln in range(nb):
        if ran[ln]:  # refined (converged or not: the reference returns its last x)
            tau2[ln] = pt[ln]
        t[ln] = 0.0
    # a local maximum below the likelihood at 0 -> 0 (metafor's rule)
    for ln in range(nb):
        act[ln] = live[ln] and tau2[ln] > 0
    _loglik_at(reml, act, t, fa, y, v, m, K, nb, T, R, L, IDX)
    _loglik_at(reml, act, tau2, fb, y, v, m, K, nb, T, R, L, IDX)
    for ln in range(nb):
        if act[ln] and fa[ln] > fb[ln]:
            tau2[ln] = 0.0
    _score(reml, 1, tau2, y, v, m, K, nb, T, R, L, sc, info)
    for ln in range(nb):
        se_tau2[ln] = math.sqrt(2.0 / info[ln])


# --------------------------------------------------------------------------- #
# one block of rows (_kernels._fit_row, per lane)
# --------------------------------------------------------------------------- #
@njit(**_JIT)
def _fit_block(rows, nb, Y, V, W, has_w, method, test, zcrit, tcrit, pmm, F, KO, CONV, ITERS, off,
               T, R, L, M, KL, BAD, IT, IDX, cap, resume, T0, I0, DR, DT, DI, nd):  # fmt: skip
    """Fit input rows ``rows[:nb]`` (outputs at ``off + row``).  ML/REML lanes whose Fisher
    scoring is still running after ``cap`` iterations (32) are not finished here: their
    row, tau2 and iteration count are appended to DR, DT, DI at ``nd`` (the new
    count is returned) and resumed later (``resume``: start from T0, I0)."""
    K = Y.shape[1]
    y, v, m, w = T[0], T[3], T[9], T[11]
    # load and transpose, with the reference's padding (y = 0, v = 1, m = 0)
    for ln in range(nb):
        k = 0
        bad = -1
        for j in range(K):
            yj = Y[rows[ln], j]
            vj = V[rows[ln], j]
            if math.isfinite(yj) and math.isfinite(vj):
                y[j, ln] = yj
                v[j, ln] = vj
                m[j, ln] = 1.0
                w[j, ln] = W[rows[ln], j] if has_w else 0.0
                k += 1
                if not vj > 0 and bad < 0:
                    bad = j
            else:
                y[j, ln] = 0.0
                v[j, ln] = 1.0
                m[j, ln] = 0.0
                w[j, ln] = 0.0
        KL[ln] = k
        BAD[ln] = bad
        if bad >= 0:  # keep the block's arithmetic finite; the row is reported
            for j in range(K):
                v[j, ln] = 1.0
    kf, df = L[16], L[17]
    for ln in range(nb):
        kf[ln] = float(KL[ln])
        df[ln] = kf[ln] - 1.0
    tau2, se_tau2, qe = L[18], L[19], L[20]
    live, cl, itl, dfr = M[3], M[4], IT, M[5]
    for ln in range(nb):
        live[ln] = KL[ln] > 1 and BAD[ln] < 0
        cl[ln] = True
        itl[ln] = 0
        dfr[ln] = False
    if method >= 10:  # ML, REML
        fe_done = False
        _likelihood(method == 11, y, v, m, kf, live, K, nb, T, R, L, M, IDX, tau2, se_tau2, cl,
                    itl, cap, resume, T0, I0, dfr)  # fmt: skip
        for ln in range(nb):
            if dfr[ln]:
                DR[nd] = rows[ln]
                DT[nd] = tau2[ln]
                DI[nd] = itl[ln]
                nd += 1
    elif method >= 7:  # PM/EB/SJIT, PMM, DLIT
        fe_done = False
        _decreasing(method, y, v, m, kf, live, pmm, KL, K, nb, T, R, L, M, IDX, tau2, se_tau2,
                    cl, itl)  # fmt: skip
    else:
        fe_done = _tau2_lanes(method, y, v, m, w, kf, K, nb, T, R, L, tau2, se_tau2, qe)
    for ln in range(nb):
        if KL[ln] <= 1:
            tau2[ln] = 0.0
            se_tau2[ln] = np.nan
            cl[ln] = True
            itl[ln] = 0

    # pooled estimate (engine.reference.fit)
    wre, a, r, tmp = T[8], T[10], T[1], T[2]
    b, sa, vb = L[0], L[1], L[21]
    for j in range(K):
        for ln in range(nb):
            wre[j, ln] = m[j, ln] / (v[j, ln] + tau2[ln])
    if has_w:
        for j in range(K):
            for ln in range(nb):
                a[j, ln] = w[j, ln]
        _wmean(y, m, a, K, nb, r, tmp, R, b, sa)
        for j in range(K):
            for ln in range(nb):
                tmp[j, ln] = a[j, ln] * a[j, ln] * (v[j, ln] + tau2[ln]) * m[j, ln]
        _rsum(tmp, K, nb, R, vb)
        for ln in range(nb):
            vb[ln] = vb[ln] / (sa[ln] * sa[ln])
    else:
        _wmean(y, m, wre, K, nb, r, tmp, R, b, sa)
        for ln in range(nb):
            vb[ln] = 1.0 / sa[ln]
    if test >= 2:  # knha, adhoc
        bw, saw, rss = L[2], L[3], L[4]
        if has_w:
            _wmean(y, m, wre, K, nb, r, tmp, R, bw, saw)
        _qa(wre, r, K, nb, tmp, R, rss)
        for ln in range(nb):
            x = rss[ln]
            if x < _MACH_EPS:
                x = 0.0
            s2 = x / df[ln] if KL[ln] > 1 else 1.0
            if test == 3:
                s2 = _nmax(s2, 1.0)
            vb[ln] = vb[ln] * s2
    se = L[22]
    for ln in range(nb):
        se[ln] = math.sqrt(vb[ln])

    # heterogeneity from the equal-effects fit
    swf, sw2 = L[23], L[5]
    wfe = T[10]
    for j in range(K):
        for ln in range(nb):
            wfe[j, ln] = m[j, ln] / v[j, ln]
    if fe_done:  # DL, HS, HSk: Q_a was formed with these weights; only sum w is needed
        _rsum(wfe, K, nb, R, swf)
    else:
        bf = L[2]
        _wmean(y, m, wfe, K, nb, r, tmp, R, bf, swf)
        _qa(wfe, r, K, nb, tmp, R, qe)
    for j in range(K):
        for ln in range(nb):
            tmp[j, ln] = wfe[j, ln] * wfe[j, ln]
    _rsum(tmp, K, nb, R, sw2)

    # per row: p-values, CI, I2, H2, outputs
    for ln in range(nb):
        if dfr[ln]:
            continue
        io = off + rows[ln]
        k = KL[ln]
        if BAD[ln] >= 0 or k == 0:  # invalid row: reported by the caller
            KO[io] = -1 - BAD[ln] if BAD[ln] >= 0 else 0
            for c in range(13):
                F[c, io] = np.nan
            CONV[io] = False
            ITERS[io] = 0
            continue
        bl, sel, dfl, t2 = b[ln], se[ln], df[ln], tau2[ln]
        zval = bl / sel
        if test == 0 or k <= 1:
            pval = 2.0 * _c_ndtr(-abs(zval), 0)
            crit = zcrit
            dfs = np.nan
        else:
            pval = _t_two_sided(zval, _nmax(dfl, 1.0))
            crit = tcrit[k]
            dfs = dfl
        q = qe[ln] if k > 1 else 0.0
        if k > 1:
            if q != q:
                qep = q
            elif q <= 0:
                qep = 1.0
            elif math.isinf(q):
                qep = 0.0
            else:
                qep = _chi2_sf(_nmax(dfl, 1.0), q)
        else:
            qep = 1.0
        s2typ = dfl * swf[ln] / (swf[ln] * swf[ln] - sw2[ln])
        if method == 0:
            i2 = _nmax(0.0, 100.0 * (q - dfl) / q) if q > 0 else 0.0
            h2 = q / dfl
        else:
            i2 = 100.0 * t2 / (t2 + s2typ)
            h2 = (t2 + s2typ) / s2typ
        if k <= 1:
            i2 = 0.0
            h2 = 1.0
        F[0, io] = bl
        F[1, io] = sel
        F[2, io] = zval
        F[3, io] = pval
        F[4, io] = bl - crit * sel
        F[5, io] = bl + crit * sel
        F[6, io] = t2
        F[7, io] = se_tau2[ln]
        F[8, io] = i2
        F[9, io] = h2
        F[10, io] = q
        F[11, io] = qep
        F[12, io] = dfs
        KO[io] = k
        CONV[io] = cl[ln]
        ITERS[io] = itl[ln]
    return nd


@njit(**_JIT)
def _lanes_kernel(Y, V, W, has_w, method, test, zcrit, tcrit, pmm, lo, hi, off, F, KO, CONV,
                  ITERS):  # fmt: skip
    """Rows ``lo:hi`` into output slots ``off + lo : off + hi``, in blocks of BLOCK rows."""
    K = Y.shape[1]
    B = BLOCK
    T = np.empty((_NT, K, B))
    R = np.empty((8, B))
    L = np.empty((_NV, B))
    M = np.empty((_NM, B), np.bool_)
    KL = np.empty(B, np.int64)
    BAD = np.empty(B, np.int64)
    IT = np.empty(B, np.int64)
    IDX = np.empty(B, np.int64)
    rows = np.empty(B, np.int64)
    # stragglers of ML/REML's Fisher scoring, resumed in blocks of their own
    nmax = hi - lo if method >= 10 else 0
    DR = np.empty(nmax, np.int64)
    DT = np.empty(nmax)
    DI = np.empty(nmax, np.int64)
    nd = 0
    for i0 in range(lo, hi, B):
        nb = min(B, hi - i0)
        for ln in range(nb):
            rows[ln] = i0 + ln
        nd = _fit_block(rows, nb, Y, V, W, has_w, method, test, zcrit, tcrit, pmm, F, KO, CONV, ITERS,
                        off, T, R, L, M, KL, BAD, IT, IDX, _FISHER_CAP, False, DT, DI, DR, DT, DI,
                        nd)  # fmt: skip
    for i0 in range(0, nd, B):
        nb = min(B, nd - i0)
        _fit_block(DR[i0 : i0 + nb], nb, Y, V, W, has_w, method, test, zcrit, tcrit, pmm, F, KO, CONV,
                   ITERS, off, T, R, L, M, KL, BAD, IT, IDX, _MAXIT_FS, True, DT[i0 : i0 + nb],
                   DI[i0 : i0 + nb], DR, DT, DI, 0)  # fmt: skip


def fit_lanes(
    Y: np.ndarray,
    V: np.ndarray,
    W: np.ndarray | None,
    *,
    method_code: int,
    test_code: int,
    tabs: tuple[float, np.ndarray, np.ndarray],
    lo: int,
    hi: int,
    off: int,
    out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """As :func:`metaparity.engine.numba.kernels.fit_rows` (any method code), for rows of
    K <= MAX_K, BLOCK rows at a time in SIMD lanes.

    Parameters
    ----------
    Y, V, W, tabs, lo, hi, off, out
        As :func:`~metaparity.engine.numba.kernels.fit_rows`.
    method_code, test_code : int
        :data:`~metaparity.engine.numba.kernels.METHOD_CODES` and ``TEST_CODES`` values
        of the estimator (metafor ``method=``) and test.
    """
    F, KO, CONV, ITERS = out
    has_w = W is not None
    zcrit, tcrit, pmm = tabs
    _lanes_kernel(Y, V, _NO_W if W is None else W, has_w, method_code, test_code, zcrit, tcrit,
                  pmm, lo, hi, off, F, KO, CONV, ITERS)  # fmt: skip
