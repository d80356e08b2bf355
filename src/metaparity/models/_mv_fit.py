"""The (restricted) likelihood of ``rma_mv`` with its exact gradient, and its maximisation.

``M = V + sum_j sigma2_j D_j + sum_terms (Z G Z') o (Z_o Z_o')``; ``b`` is the GLS estimate.
ML: ``ll = -1/2 (k log 2 pi + log|M| + r'M^-1 r)``; REML (metafor's full REML likelihood):
``ll = -1/2 ((k - p) log 2 pi - log|X'X| + log|M| + log|X'M^-1 X| + r'M^-1 r)``
(computed on an orthonormal basis of ``X``).  The
gradient in a parameter with ``dM``: ``-1/2 tr(T dM) + 1/2 u'dM u`` with ``u = M^-1 r`` and
``T = M^-1`` (ML) or ``P = M^-1 - M^-1 X (X'M^-1 X)^-1 X'M^-1`` (REML).

The problem is solved on a scaled copy (``y / c``, ``V / c^2``) so that the variances are
of order one, by L-BFGS-B with the exact gradient from metafor's start, then polished by
Newton steps on the coordinates that are not at a bound (Hessian by central differences of
the exact gradient), until the projected gradient is at rounding level.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg, optimize
from scipy.sparse import csgraph, csr_matrix

from metaparity.models._mv_random import GTerm, SigmaTerm

__all__ = ["MvProblem", "MvState", "maximise"]

_LOG2PI = float(np.log(2.0 * np.pi))
#: metafor sets variances below this to 0 (``.Machine$double.eps * 10``)
_ZERO_VAR = 10.0 * np.finfo(float).eps


@dataclass
class MvState:
    """Everything at one parameter point."""

    ll: float
    grad: np.ndarray
    b: np.ndarray
    vb: np.ndarray
    M: np.ndarray
    ok: bool


class MvProblem:
    """One rma_mv likelihood: data, design, terms; parameters in optimisation coordinates."""

    def __init__(
        self,
        y: np.ndarray,
        V: np.ndarray,
        X: np.ndarray,
        sig: list[SigmaTerm],
        gts: list[GTerm],
        reml: bool,
        remlf: bool = True,
    ) -> None:
        self.y, self.V, self.X = y, V, X
        self.sig, self.gts, self.reml = sig, gts, reml
        #: metafor's control REMLf: False drops 1/2 log|X'X| from the REML log-likelihood
        self.remlf = remlf
        self.k, self.p = X.shape
        self.free_sig = [j for j, s in enumerate(sig) if s.fixed is None]
        self.n_theta = len(self.free_sig) + sum(len(g.coords) for g in gts)
        # an orthonormal basis of the design: the REML terms log|X'X| and log|X'M^-1 X| are
        # taken as log|Q'M^-1 Q| (they differ by 2 log|R| on both), and b, vb come back
        # through R -- exact for any X, and without the rounding a badly scaled moderator
        # (a raw year) puts into log|X'M^-1 X| (measured: 5e-11 in the log-likelihood)
        self.Q, self.Rx = np.linalg.qr(X)
        self.blocks = _blocks(V, sig, gts)
        # blocks of equal size are stacked and handled as one batch: rows (nb, s) and the
        # slices of V, every D_j, S2 and Z_inner, (nb, s, s) / (nb, s, n)
        self._groups = []
        for size in sorted({len(b) for b in self.blocks}):
            idx = np.array([b for b in self.blocks if len(b) == size])
            rr, cc = idx[:, :, None], idx[:, None, :]
            self._groups.append({
                "idx": idx, "V": V[rr, cc], "D": [s_.D[rr, cc] for s_ in sig],
                "S2": [g.S2[rr, cc] for g in gts], "Zi": [g.Zi[idx] for g in gts],
                "ic": [g.icodes[idx] for g in gts],
            })  # fmt: skip

    # -- parameters ----------------------------------------------------------------------
    def split(self, theta: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        sig2 = np.array([0.0 if s.fixed is None else s.fixed for s in self.sig])
        sig2[self.free_sig] = theta[: len(self.free_sig)]
        pos = len(self.free_sig)
        parts = []
        for g in self.gts:
            parts.append(theta[pos : pos + len(g.coords)])
            pos += len(g.coords)
        return sig2, parts

    def bounds(self) -> list[tuple[float | None, float | None]]:
        out: list[tuple[float | None, float | None]] = [(0.0, None)] * len(self.free_sig)
        for g in self.gts:
            out += g.bounds()
        return out

    def start(self, init: dict[str, np.ndarray | None] | None = None) -> np.ndarray:
        """metafor's start: ``total = max(0.001 * m, var(y - X b_FE) - 1 / mean(1 / diag V))``
        shared equally by the ``m`` variance components; correlations 0.5.  ``init``: the
        starting values given (control ``sigma2.init`` …: one per component, fixed ones
        included, on this problem's scale) replace metafor's."""
        init = init or {}
        m = max(len(self.sig) + sum(g.n_var for g in self.gts), 1)
        try:
            Vi = np.linalg.inv(self.V)
            bfe = np.linalg.solve(self.X.T @ Vi @ self.X, self.X.T @ Vi @ self.y)
            dv = np.diag(self.V)
            inv_mean = 1.0 / np.mean(1.0 / dv) if (dv > 0).all() else 0.0
            total = max(0.001 * m, float(np.var(self.y - self.X @ bfe, ddof=1)) - inv_mean)
        except np.linalg.LinAlgError:
            total = float(np.var(self.y, ddof=1))
        each = float(total / m)
        s_init = init.get("sigma2")
        x = [each if s_init is None else float(s_init[j]) for j in self.free_sig]
        for t, g in enumerate(self.gts):
            vn, cn = ("tau2", "rho") if t == 0 else ("gamma2", "phi")
            x += list(g.start(each, init.get(vn), init.get(cn)))
        return np.array(x, dtype=float)

    # -- likelihood ---------------------------------------------------------------------
    def evaluate(self, theta: np.ndarray, grad: bool = True, full_M: bool = False) -> MvState:
        """Log-likelihood, gradient, b and vb at ``theta``, block by block of ``M`` (blocks:
        the connected groups of rows that V and the random effects tie together; blocks of
        one size as one batch).  ``full_M``: also assemble the k x k ``M``."""
        sig2, parts = self.split(theta)
        Gs = [g.G_and_grad(th) for g, th in zip(self.gts, parts, strict=True)]
        bad = MvState(-np.inf, np.zeros(self.n_theta), np.full(self.p, np.nan),
                      np.full((self.p, self.p), np.nan), np.zeros((0, 0)), False)  # fmt: skip
        logdet = 0.0
        QWQ = np.zeros((self.p, self.p))
        QWy = np.zeros(self.p)
        work = []
        for grp in self._groups:
            M = grp["V"].copy()
            for j, D in enumerate(grp["D"]):
                if sig2[j] > _ZERO_VAR:
                    M += sig2[j] * D
            for t, (G, _) in enumerate(Gs):
                ic = grp["ic"][t]
                M += G[ic[:, :, None], ic[:, None, :]] * grp["S2"][t]
            try:
                L = np.linalg.cholesky(M)
            except np.linalg.LinAlgError:
                return bad
            if not np.all(np.isfinite(L)):
                return bad
            Li = np.linalg.inv(L)
            W = np.swapaxes(Li, 1, 2) @ Li
            Qb = self.Q[grp["idx"]]  # (nb, s, p)
            WQ = W @ Qb
            QWQ += np.einsum("bsp,bsq->pq", Qb, WQ)
            QWy += np.einsum("bsp,bs->p", WQ, self.y[grp["idx"]])
            logdet += 2.0 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum())
            work.append((M, W, WQ))
        try:
            cx = linalg.cho_factor(QWQ, lower=True)
        except linalg.LinAlgError:
            return bad
        vq = linalg.cho_solve(cx, np.eye(self.p))
        bq = vq @ QWy
        r = self.y - self.Q @ bq
        us = [np.einsum("bst,bt->bs", W, r[grp["idx"]])
              for grp, (_, W, _) in zip(self._groups, work, strict=True)]  # fmt: skip
        rss = float(sum(np.sum(r[grp["idx"]] * u)
                        for grp, u in zip(self._groups, us, strict=True)))  # fmt: skip
        b = linalg.solve_triangular(self.Rx, bq)
        Ri = linalg.solve_triangular(self.Rx, np.eye(self.p))
        vb = Ri @ vq @ Ri.T
        if self.reml:
            ll = -0.5 * ((self.k - self.p) * _LOG2PI + logdet
                         + 2.0 * float(np.log(np.diag(cx[0])).sum()) + rss)  # fmt: skip
        else:
            ll = -0.5 * (self.k * _LOG2PI + logdet + rss)
        if self.reml and not self.remlf:
            ll -= float(np.log(np.abs(np.diag(self.Rx))).sum())
        g = np.zeros(self.n_theta) if not (grad and self.n_theta) else self._gradient(
            Gs, work, vq, us)  # fmt: skip
        Mfull = np.zeros((0, 0))
        if full_M:
            Mfull = np.zeros((self.k, self.k))
            for grp, (M, _, _) in zip(self._groups, work, strict=True):
                idx = grp["idx"]
                Mfull[idx[:, :, None], idx[:, None, :]] = M
        return MvState(ll, g, b, vb, Mfull, True)

    def _gradient(self, Gs, work, vq, us) -> np.ndarray:
        """``-1/2 tr(T dM) + 1/2 u'dM u`` per coordinate, summed over the blocks (``dM`` lives
        inside them, so only ``T``'s diagonal blocks are needed)."""
        nsig = len(self.free_sig)
        g = np.zeros(self.n_theta)
        aggA = [np.zeros((t.n, t.n)) for t in self.gts]
        aggB = [np.zeros((t.n, t.n)) for t in self.gts]
        for grp, (_, W, WQ), u in zip(self._groups, work, us, strict=True):
            T = W - WQ @ vq @ np.swapaxes(WQ, 1, 2) if self.reml else W
            uu = u[:, :, None] * u[:, None, :]
            for c, j in enumerate(self.free_sig):
                D = grp["D"][j]
                g[c] += -0.5 * float((T * D).sum()) + 0.5 * float((uu * D).sum())
            for t in range(len(self.gts)):
                S2, Zi = grp["S2"][t], grp["Zi"][t]
                aggA[t] += np.einsum("bsi,bst,btj->ij", Zi, T * S2, Zi)
                aggB[t] += np.einsum("bsi,bst,btj->ij", Zi, uu * S2, Zi)
        pos = nsig
        for t, (_, dGs) in enumerate(Gs):
            for dG in dGs:
                g[pos] = -0.5 * float((dG * aggA[t]).sum()) + 0.5 * float((dG * aggB[t]).sum())
                pos += 1
        return g


def _blocks(V: np.ndarray, sig: list[SigmaTerm], gts: list[GTerm]) -> list[np.ndarray]:
    """Groups of rows that no nonzero of V, a D_j or an outer mask S2 connects to another."""
    pattern = V != 0
    for s in sig:
        pattern |= s.D != 0
    for g in gts:
        pattern |= g.S2 != 0
    n, labels = csgraph.connected_components(csr_matrix(pattern), directed=False)
    return [np.flatnonzero(labels == i) for i in range(n)]


def _objective(problem: MvProblem):
    best = {"f": np.inf}

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        st = problem.evaluate(theta)
        if not st.ok:
            # not positive definite: a value above every one seen pushes the line search back
            return (abs(best["f"]) + 1.0) * 1e3, np.zeros_like(theta)
        best["f"] = min(best["f"], -st.ll)
        return -st.ll, -st.grad

    return fun


def _projected(g: np.ndarray, theta: np.ndarray, bounds) -> np.ndarray:
    """The ascent gradient with the components that push through an active bound zeroed."""
    pg = g.copy()
    for i, (lo, hi) in enumerate(bounds):
        if lo is not None and theta[i] <= lo and g[i] < 0:
            pg[i] = 0.0
        if hi is not None and theta[i] >= hi and g[i] > 0:
            pg[i] = 0.0
    return pg


def _newton_polish(problem: MvProblem, theta: np.ndarray, bounds, steps: int = 30) -> np.ndarray:
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    hi = np.array([np.inf if b[1] is None else b[1] for b in bounds])
    st = problem.evaluate(theta)
    for _ in range(steps):
        pg = _projected(st.grad, theta, bounds)
        free = np.flatnonzero((pg != 0) | ((theta > lo) & (theta < hi)))
        if free.size == 0 or np.max(np.abs(pg)) < 1e-13:
            break
        h = 1e-6 * np.maximum(1.0, np.abs(theta[free]))
        H = np.zeros((free.size, free.size))
        for a, i in enumerate(free):
            tp, tm = theta.copy(), theta.copy()
            tp[i] += h[a]
            tm[i] -= h[a]
            H[:, a] = (problem.evaluate(tp).grad[free] - problem.evaluate(tm).grad[free]) / (
                2 * h[a]
            )
        H = 0.5 * (H + H.T)
        try:
            step = -np.linalg.solve(H, st.grad[free])
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or float(step @ st.grad[free]) <= 0:
            break  # not an ascent direction: the Hessian is not negative definite here
        # a step at rounding level in the parameters is the last one (taken if it does not
        # lose more than rounding)
        last = bool(np.max(np.abs(step) / (1.0 + np.abs(theta[free]))) < 1e-13)
        moved = False
        t = 1.0
        for _ls in range(30):
            cand = theta.copy()
            cand[free] = np.clip(theta[free] + t * step, lo[free], hi[free])
            cs = problem.evaluate(cand)
            # near the maximum the gain is below the rounding of ll: then a step that keeps
            # ll within rounding and shrinks the projected gradient is taken
            flat = cs.ok and cs.ll >= st.ll - 1e-14 * max(1.0, abs(st.ll)) and (
                np.max(np.abs(_projected(cs.grad, cand, bounds)))
                < np.max(np.abs(_projected(st.grad, theta, bounds))))  # fmt: skip
            if cs.ok and (cs.ll > st.ll or flat):
                theta, st, moved = cand, cs, True
                break
            t *= 0.5
            if t < 1e-4:
                break
        if not moved or last:
            break
    return theta


def maximise(
    problem: MvProblem,
    start: np.ndarray | None = None,
    maxiter: int | None = None,
    verbose: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The maximising coordinates and a convergence record (``converged``, ``grad_max``,
    ``iterations``, ``message``).  ``maxiter`` caps the L-BFGS-B iterations (control
    ``iter.max`` …: reaching it leaves ``converged`` False unless the optimum is reached);
    ``verbose`` prints the log-likelihood at each iteration."""
    bounds = problem.bounds()
    if problem.n_theta == 0:
        return np.zeros(0), {"converged": True, "grad_max": 0.0, "iterations": 0, "message": ""}
    x0 = problem.start() if start is None else start
    x0 = np.array([np.clip(v, b[0] if b[0] is not None else -np.inf,
                           b[1] if b[1] is not None else np.inf)
                   for v, b in zip(x0, bounds, strict=True)])  # fmt: skip
    fun = _objective(problem)
    limit = 20000 if maxiter is None else int(maxiter)

    count = [0]

    def show(xk: np.ndarray) -> None:
        count[0] += 1
        ll = problem.evaluate(xk, grad=False).ll
        print(
            f"rma_mv iteration {count[0]}: log-likelihood {ll:.12g} (on the data scaled to "
            f"unit sampling variance) at {np.array2string(xk, precision=6)}"
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                                callback=show if verbose else None,
                                options={"maxiter": limit, "maxfun": 2 * limit, "ftol": 1e-15,
                                         "gtol": 1e-12, "maxcor": 30})  # fmt: skip
        theta = res.x if res.status == 1 and maxiter is not None else _newton_polish(
            problem, res.x, bounds)  # fmt: skip
    st = problem.evaluate(theta)
    pg = _projected(st.grad, theta, bounds)
    gmax = float(np.max(np.abs(pg))) if pg.size else 0.0
    scale = max(1.0, abs(st.ll))
    info = {
        "converged": bool(st.ok and gmax <= 1e-6 * scale),
        "grad_max": gmax,
        "iterations": int(res.nit),
        "message": str(res.message),
    }
    return theta, info
