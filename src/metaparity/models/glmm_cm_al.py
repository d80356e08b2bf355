"""The conditional binomial-normal model (``rma.glmm`` ``OR``/``CM.AL`` and ``IRR``/``CM.EL``).

Conditional on the total events ``n_i = x_i + y_i`` of study ``i``, the events ``x_i`` of
group 1 are binomial; with a normal random effect on the log ratio::

    x_i ~ Binomial(n_i, p_i),  logit p_i = x_i' beta + off_i + u_i,  u_i ~ N(0, tau^2)

* ``measure="IRR"`` (person-time ``t1, t2``): exact, ``off_i = log(t1_i / t2_i)``
  (metafor's ``model="CM.EL"`` for IRR);
* ``measure="OR"``, ``model="CM.AL"``: the binomial approximation of the noncentral
  hypergeometric law (rare events), ``x = a``, ``n = a + c``, ``off = log(n1 / n2)``.

metafor fits it with ``lme4::glmer(nAGQ = 7)``; the marginal likelihood here is the same
adaptive Gauss-Hermite approximation (:mod:`metaparity.models.glmm`), maximised over
``(beta, tau)`` by BFGS on the analytic gradient and Newton steps.  The heterogeneity
tests and ``logLik`` follow ``rma.glmm(measure="PLO")`` (see ``docs/glmm.md``): ``QE.LRT``
is the binomial deviance of the equal-effects fit, ``QE.Wld`` the Wald test of the
saturated logits ``logit(x/n) - off`` (weights ``x (n - x) / n``) against ``X``, and
``logLik = ll_sat - deviance / 2`` with lme4's deviance at the conditional modes.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from metaparity.models._glm_saturated import saturated_glm, wald_condition, wald_residual
from metaparity.models.glmm import _binom_ll, _expit_parts, _lchoose, _modes, _study_loglik

__all__ = ["BinomialNormal"]

NAGQ = 7


class BinomialNormal:
    """The marginal log-likelihood of the model in ``th = (beta, tau)`` and its fit."""

    def __init__(self, x: np.ndarray, n: np.ndarray, off: np.ndarray, X: np.ndarray):
        self.x, self.n, self.off, self.X = x, n, off, X
        self.lc = _lchoose(x, n)

    def _eta(self, th: np.ndarray) -> np.ndarray:
        return self.X @ th[:-1] + self.off

    def ll(self, th: np.ndarray) -> float:
        tau = np.asarray([abs(float(th[-1]))])
        return float(_study_loglik(self.x, self.n, self.lc, self._eta(th), tau, NAGQ).sum())

    def grad(self, th: np.ndarray) -> np.ndarray:
        tau = np.asarray([abs(float(th[-1]))])
        _, gm, gt = _study_loglik(self.x, self.n, self.lc, self._eta(th), tau, NAGQ, grad=True)
        return np.concatenate([self.X.T @ gm, [math.copysign(1.0, th[-1]) * gt.sum()]])

    def hess(self, th: np.ndarray, h: float = 1e-4) -> np.ndarray:
        """Richardson-extrapolated central differences of the analytic gradient, taken
        along the columns of ``T = sqrt(k) R^-1`` (``X = QR``): directions in which the
        linear predictor moves by ~``h`` whatever the scale of the moderators (a year
        column would otherwise make the differences meaningless)."""
        k, p = self.X.shape
        T = np.eye(p + 1)
        T[:p, :p] = math.sqrt(k) * np.linalg.inv(np.linalg.qr(self.X, mode="r"))
        D = np.empty((p + 1, p + 1))
        for j in range(p + 1):

            def d(step, e=T[:, j]):
                return (self.grad(th + step * e) - self.grad(th - step * e)) / (2 * step)

            D[:, j] = (4.0 * d(h / 2) - d(h)) / 3.0
        H = D @ np.linalg.inv(T)  # D = H T
        H = 0.5 * (H + H.T)
        if th[-1] == 0.0:  # the equal-effects block in closed form: -X' diag(n p q) X
            pp, qq, _ = _expit_parts(self._eta(th))
            H[:p, :p] = -(self.X.T @ ((self.n * pp * qq)[:, None] * self.X))
        return H

    def fe_fit(self) -> np.ndarray:
        """Equal-effects binomial GLM with offset (Newton; the log-likelihood is concave)."""
        beta = np.zeros(self.X.shape[1])
        beta[0] = math.log(max(self.x.sum(), 0.5) / max((self.n - self.x).sum(), 0.5))
        for _ in range(100):
            th = np.append(beta, 0.0)
            g = self.grad(th)[:-1]
            p, q, _ = _expit_parts(self._eta(th))
            H = -(self.X.T @ ((self.n * p * q)[:, None] * self.X))
            step = -np.linalg.solve(H, g)
            beta = beta + step
            if np.all(np.abs(step) <= 1e-14 * (1 + np.abs(beta))):
                break
        return beta

    def fit(self) -> tuple[np.ndarray, bool, np.ndarray]:
        beta_fe = self.fe_fit()
        best = None
        for tau0 in (0.3, 1.0):
            r = optimize.minimize(
                lambda t: -self.ll(t), np.append(beta_fe, tau0), jac=lambda t: -self.grad(t),
                method="BFGS", options={"gtol": 1e-9, "maxiter": 2000},
            )  # fmt: skip
            if best is None or -r.fun > self.ll(best):
                best = r.x
        assert best is not None
        th, conv = self._newton(np.asarray(best, dtype=float))
        th[-1] = abs(th[-1])
        th0 = np.append(beta_fe, 0.0)
        if self.ll(th0) >= self.ll(th) or (th[-1] < 1e-7 and self.hess(th0)[-1, -1] <= 0):
            th, conv = th0, True
        return th, conv, beta_fe

    def _newton(self, th: np.ndarray, maxiter: int = 50) -> tuple[np.ndarray, bool]:
        f = self.ll(th)
        for _ in range(maxiter):
            g, H = self.grad(th), self.hess(th)
            try:
                step = -np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                return th, False
            if not np.all(np.linalg.eigvalsh(H) < 0) or g @ step < 0:
                step = 0.1 * g / max(1.0, float(np.linalg.norm(g)))
            lam = 1.0
            while lam > 1e-8:
                new = th + lam * step
                fn = self.ll(new)
                if fn >= f - 1e-13 * abs(f):
                    break
                lam *= 0.5
            done = np.all(np.abs(lam * step) <= 1e-12 * (1.0 + np.abs(th)))
            th, f = new, fn
            if done:
                return th, True
        return th, False

    def ll_sat(self) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(_binom_ll(self.x, self.n, np.true_divide(self.x, self.n)).sum())

    def conditional_ll(self, th: np.ndarray) -> float:
        """Binomial log-likelihood at the conditional modes (metafor's ``logLik`` via lme4)."""
        eta0 = self._eta(th)
        tau = abs(float(th[-1]))
        z = _modes(self.x, self.n, eta0, np.asarray([tau]))
        eta = eta0 + tau * z
        _, _, sp = _expit_parts(eta)
        return float((self.lc + self.x * eta - self.n * sp).sum())

    def heterogeneity(self, beta_fe: np.ndarray) -> tuple[float, float, float, float]:
        """``(QE_Wld, QE_LRT, dev_glm, cond)``: the saturated model's Wald test, the EE
        deviance, the residual deviance of metafor's saturated glm (its ``ll.QE`` is the
        exact saturated log-likelihood minus half of it) and the condition of metafor's
        Wald solve (:func:`~metaparity.models._glm_saturated.wald_condition`)."""
        # metafor's saturated glm, iterated as glm.fit does (0- or n-event studies: glm's
        # stopping point, ~0): metaparity.models._glm_saturated
        th, v, dev = saturated_glm(self.x, self.n, self.off)
        ll_fe = self.ll(np.append(beta_fe, 0.0))
        lrt = max(0.0, 2.0 * (self.ll_sat() - dev / 2 - ll_fe))
        return wald_residual(th, v, self.X), lrt, dev, wald_condition(v)
