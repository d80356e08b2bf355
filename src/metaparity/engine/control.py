"""metafor's own tau^2 iterations, stopping where metafor stops (``control=``).

By default metaparity solves every iterative estimator to its exact root.  metafor
instead stops its iterations by rules set in ``control=list(...)`` (``?rma.uni``,
section "Note"): with its defaults, a REML fit of dat.bcg with ``mods = ~ ablat``
prints ``QM = 16.3571`` where the exact root gives 16.3582.  This module runs the
iterations as metafor describes them, so that ``control="metafor"`` (or a dict of
metafor's control settings) reproduces a default (or that) metafor run:

* ML, REML, EB -- Fisher scoring from ``tau2.init`` or else ``max(0, HE, tau2.min)``;
  each step ``adj`` (scaled by ``stepadj``) is halved while it would take tau^2 below
  ``tau2.min``; it stops when a step changes tau^2 by at most ``threshold`` (absolute),
  and fails after ``maxiter`` steps.  For ML/REML (``ll0check``) a converged tau^2 above
  ``threshold`` whose (restricted) log-likelihood is more than ``tol`` below that at
  tau^2 = 0 is replaced by 0.  EB's step is ``(Q k / (k - p) - k) / sum(w)``.
* SJIT -- ``tau^2 <- tau^2 Q(tau^2) / (k - p)`` from the SJ start (or ``tau2.init``).
* DLIT -- from 0 (or ``tau2.init``): ``tau^2 <- (Q - (k - p)) / tr(P)`` up to metafor 4.4,
  ``(Q - tr(PV)) / tr(P)`` from 4.6 on (:data:`metaparity._core.mfversion.CHANGES`,
  ``dlit_pm``), truncated at ``tau2.min`` at every step.
* PM, PMM -- tau^2 = ``tau2.min`` when ``Q(tau2.min)`` is below the target (k - p, or
  the median of chi^2(k - p)), an error when ``Q(tau2.max)`` is still above it, otherwise
  the root of ``Q - target`` by R's ``uniroot`` on ``[tau2.min, tau2.max]`` with ``tol``
  and ``maxiter``: Brent's (1973) method, :func:`zeroin`, taking the same steps.
  ``tau2.max`` defaults to ``max(100, 10 mad(yi)^2)``.
* SJ -- the one-step estimator started at ``tau2.init`` when that is given.

Everything else (SEs, I^2, the coefficients ...) is computed at the tau^2 found, by the
formulas the default path uses; where metafor evaluates a SE with weights from the
previous iterate (DLIT before 4.6) that is done as well.  A failed iteration raises
:class:`ConvergenceError` with metafor's message.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import stats

from metaparity._core.mfversion import since
from metaparity._core.names import METHOD_ALIASES
from metaparity.engine.projection import _Proj

__all__ = [
    "CONTROL_KEYS",
    "CONTROL_METHODS",
    "ConvergenceError",
    "MetaforControl",
    "parse_control",
    "ControlFit",
    "control_tau2",
    "zeroin",
]

#: metafor's ``control=`` settings of ``rma.uni`` that metaparity runs (metafor's names).
CONTROL_KEYS: tuple[str, ...] = (
    "tau2.init", "tau2.min", "tau2.max", "threshold", "tol", "maxiter", "stepadj", "ll0check",
)  # fmt: skip

#: estimators whose tau^2 the control settings change (SJ only through ``tau2.init``).
CONTROL_METHODS: frozenset[str] = frozenset(
    {"ML", "REML", "EB", "PM", "MP", "PMM", "SJIT", "DLIT", "SJ"}
)

#: metafor's other ``rma.uni`` control settings, which do not change the estimates
_OTHER_METAFOR_KEYS = ("verbose", "evtol", "REMLf")

_DBL_EPS = float(np.finfo(float).eps)
#: step halvings after which an ``adj`` has underflowed to 0 (2^-1075 of any double)
_MAX_HALVINGS = 2200

MSG_FISHER = "Fisher scoring algorithm did not converge. See 'help(rma)' for possible remedies."
MSG_DLIT = "Iterative DL estimator did not converge."
MSG_SJIT = "Iterative SJ estimator did not converge."
MSG_TAU2_MAX = (
    "Value of 'tau2.max' too low. Try increasing 'tau2.max' or switch to another 'method'."
)
MSG_NEGATIVE = "Some marginal variances are negative."
MSG_DIVZERO = "Division by zero when computing the inverse variance weights."


def _msg_uniroot() -> str:
    what = "tau^2" if since("uniroot_message") else "tau2"
    return f"Error in iterative search for {what} using uniroot()."


class ConvergenceError(ValueError):
    """metafor stops with an error here (its iteration failed); the message is metafor's.

    ``iterations`` is the number of iterations run before metafor gave up (0 when it
    stopped before iterating, e.g. ``tau2.max`` too low), ``method`` the estimator.
    """

    def __init__(self, message: str, *, method: str = "", iterations: int = 0):
        super().__init__(message)
        self.method = method
        self.iterations = iterations


@dataclass(frozen=True)
class MetaforControl:
    """metafor's ``control=`` settings for the tau^2 iterations (its defaults).

    ``tau2_max`` None is metafor's adaptive default ``max(100, 10 * mad(yi)^2)``.
    """

    tau2_init: float | None = None
    tau2_min: float = 0.0
    tau2_max: float | None = None
    threshold: float = 1e-5
    tol: float = _DBL_EPS**0.25
    maxiter: int = 100
    stepadj: float = 1.0
    ll0check: bool = True

    def as_metafor(self) -> dict[str, Any]:
        """The settings given (not the defaults) under metafor's names.

        Parameters
        ----------
        None

        Returns
        -------
        dict
            ``{"tau2.init": ..., ...}`` for every setting that differs from metafor's
            default, ready for ``rma(..., control = list(...))`` in metafor.
        """
        default = MetaforControl()
        out: dict[str, Any] = {}
        for key in CONTROL_KEYS:
            attr = key.replace(".", "_")
            if getattr(self, attr) != getattr(default, attr):
                out[key] = getattr(self, attr)
        return out


def _real(key: str, value: Any, *, low: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"control {key!r} must be a number; got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"control {key!r} must be finite; got {value!r}")
    if low is not None and (x <= low if strict else x < low):
        raise ValueError(f"control {key!r} must be {'>' if strict else '>='} {low:g}; got {x:g}")
    return x


def _count(key: str, value: Any) -> int:
    ok = isinstance(value, int | np.integer | float | np.floating) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) != int(value) or value < 0:
        raise ValueError(f"control {key!r} must be a whole number >= 0; got {value!r}")
    return int(value)


def parse_control(control: Any) -> MetaforControl | None:
    """Validate a ``control=`` argument: None, ``"metafor"`` or a dict of metafor's settings.

    Parameters
    ----------
    control : None, "metafor" or dict
        None: metaparity's exact roots (no metafor stopping rules).  ``"metafor"``:
        metafor's default control.  A dict: metafor's settings under metafor's names
        (``"tau2.init"``, ``"tau2.min"``, ``"tau2.max"``, ``"threshold"``, ``"tol"``,
        ``"maxiter"``, ``"stepadj"``, ``"ll0check"``); the others keep metafor's
        defaults, as ``rma(..., control = list(...))`` in metafor.

    Returns
    -------
    MetaforControl or None
        The settings, or None for the exact roots.

    Raises
    ------
    ValueError
        An unknown key (the message lists the valid ones), or a value of the wrong type
        or range.
    """
    if control is None:
        return None
    if isinstance(control, str):
        if control != "metafor":
            raise ValueError(
                f"control={control!r}: give None (exact roots), 'metafor' (metafor's default "
                f"control) or a dict with metafor's keys: {', '.join(CONTROL_KEYS)}"
            )
        return MetaforControl()
    if isinstance(control, MetaforControl):
        return control
    if not isinstance(control, Mapping):
        raise ValueError(
            f"control must be None, 'metafor' or a dict of metafor's settings; got "
            f"{type(control).__name__}"
        )
    values: dict[str, Any] = {}
    for key, value in control.items():
        if key not in CONTROL_KEYS:
            why = (
                "is a metafor setting that does not change the estimates and is not supported"
                if key in _OTHER_METAFOR_KEYS
                else "is not a control setting of metafor's rma.uni"
            )
            raise ValueError(f"control key {key!r} {why}; valid keys: {', '.join(CONTROL_KEYS)}")
        attr = key.replace(".", "_")
        if key == "tau2.init":
            values[attr] = None if value is None else _real(key, value)
        elif key == "tau2.max":
            values[attr] = None if value is None else _real(key, value)
        elif key == "tau2.min":
            values[attr] = _real(key, value)
        elif key in ("threshold", "tol"):
            values[attr] = _real(key, value, low=0.0)
        elif key == "stepadj":
            values[attr] = _real(key, value, low=0.0, strict=True)
        elif key == "maxiter":
            values[attr] = _count(key, value)
        else:  # ll0check
            if not isinstance(value, bool | np.bool_):
                raise ValueError(f"control 'll0check' must be True or False; got {value!r}")
            values[attr] = bool(value)
    return MetaforControl(**values)


@dataclass(frozen=True)
class ControlFit:
    """tau^2 of one model as metafor's iteration leaves it."""

    tau2: float
    se_tau2: float
    iterations: int
    #: ML/REML: the converged tau^2 was replaced by 0 (metafor's ll0check warning)
    set_to_zero: bool = False
    #: warnings metafor gives on the way (uniroot's "_NOT_ converged ...", tau2.min)
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------- #
# Brent's zero finder, stepping as R's uniroot
# --------------------------------------------------------------------------- #
def zeroin(
    f: Callable[[float], float],
    lower: float,
    upper: float,
    f_lower: float,
    f_upper: float,
    tol: float,
    maxiter: int,
) -> tuple[float, int, bool]:
    """Brent's (1973) zero finder with the steps and stopping rule of R's ``uniroot``.

    The bracket holds the best point ``b``, the previous one ``a`` and the point ``c``
    with ``f(c)`` of the opposite sign to ``f(b)``.  Each pass makes ``b`` the end with
    the smaller ``|f|``, stops when half the bracket ``|c - b| / 2`` is within
    ``2 eps |b| + tol / 2`` (or ``f(b) = 0``), and otherwise steps from ``b`` by inverse
    quadratic interpolation through ``a, b, c`` (secant when ``a = c``), accepted only
    when it lands well inside the bracket and is less than half the step before last;
    else it bisects.  No step is shorter than the tolerance.  At most ``maxiter + 1``
    function evaluations, as R.

    Parameters
    ----------
    f : callable
        The function, ``f(x) -> float``.
    lower, upper : float
        The interval (``lower < upper``), as ``uniroot(interval = ...)``.
    f_lower, f_upper : float
        ``f`` at the ends (of opposite signs, or one of them 0).
    tol : float
        ``uniroot``'s ``tol`` (metafor's ``control$tol``).
    maxiter : int
        ``uniroot``'s ``maxiter`` (metafor passes ``control$maxiter``).

    Returns
    -------
    tuple
        ``(root, iterations, converged)``; when not converged the root is the last point,
        as R's ``uniroot`` returns it (with a warning) and ``iterations`` is ``maxiter``.
    """
    a, fa, b, fb = lower, f_lower, upper, f_upper
    c, fc = a, fa
    if fa == 0.0:
        return a, 0, True
    if fb == 0.0:
        return b, 0, True
    evaluations = 0
    for _ in range(maxiter + 1):
        before_last = b - a
        if abs(fc) < abs(fb):  # b becomes the best of the two ends, c the other
            a, fa = b, fb
            b, fb = c, fc
            c, fc = a, fa
        tol_act = 2.0 * _DBL_EPS * abs(b) + tol / 2.0
        step = (c - b) / 2.0
        if abs(step) <= tol_act or fb == 0.0:
            return b, evaluations, True
        if abs(before_last) >= tol_act and abs(fa) > abs(fb):
            step = _interpolated(a, fa, b, fb, c, fc, tol_act, before_last, step)
        if abs(step) < tol_act:
            step = tol_act if step > 0.0 else -tol_act
        a, fa = b, fb
        b = b + step
        fb = f(b)
        evaluations += 1
        if (fb > 0.0 and fc > 0.0) or (fb < 0.0 and fc < 0.0):
            c, fc = a, fa
    return b, maxiter, False


def _interpolated(a, fa, b, fb, c, fc, tol_act, before_last, bisect):
    """The interpolation step of :func:`zeroin` from ``b``, or ``bisect`` when rejected."""
    cb = c - b
    if a == c:  # two distinct points: secant
        s = fb / fa
        num = cb * s
        den = 1.0 - s
    else:  # inverse quadratic interpolation through a, b, c
        r_ac = fa / fc
        r_bc = fb / fc
        r_ba = fb / fa
        num = r_ba * (cb * r_ac * (r_ac - r_bc) - (b - a) * (r_bc - 1.0))
        den = (r_ac - 1.0) * (r_bc - 1.0) * (r_ba - 1.0)
    if num > 0.0:
        den = -den
    else:
        num = -num
    if num < (0.75 * cb * den - abs(tol_act * den) / 2.0) and num < abs(before_last * den / 2.0):
        return num / den
    return bisect


# --------------------------------------------------------------------------- #
# pieces of one model
# --------------------------------------------------------------------------- #
class _Model:
    """One model's data: centred outcomes, variances, design (metafor's Ymc, vi, X)."""

    def __init__(self, y: np.ndarray, v: np.ndarray, X: np.ndarray):
        self.yraw = np.asarray(y, dtype=float)
        self.y = self.yraw - self.yraw.mean()
        self.v = np.asarray(v, dtype=float)
        self.X = np.asarray(X, dtype=float)
        self.k, self.p = self.X.shape
        self.df = float(self.k - self.p)

    def proj(self, w: np.ndarray) -> _Proj:
        return _Proj(self.X[None], w[None])

    def weights(self, tau2: float, method: str, iterations: int) -> np.ndarray:
        """``1 / (v + tau2)``, with metafor's checks of the marginal variances."""
        s = self.v + tau2
        if np.any(s < 0):
            raise ConvergenceError(MSG_NEGATIVE, method=method, iterations=iterations)
        with np.errstate(divide="ignore"):
            w = 1.0 / s
        if np.any(np.isinf(w)):
            raise ConvergenceError(MSG_DIVZERO, method=method, iterations=iterations)
        return w

    def q(self, tau2: float) -> float:
        """``Q(tau2) = y' P y`` (the residual heterogeneity at tau2)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(self.proj(1.0 / (self.v + tau2)).quad(self.y[None])[0])

    def he(self) -> float:
        """The Hedges (HE) estimate, untruncated."""
        pr = self.proj(np.ones(self.k))
        trpv = float((pr.B * pr.B * self.v[None, :, None]).sum())
        return (float(pr.quad(self.y[None])[0]) - trpv) / self.df

    def sj_start(self) -> float:
        """metafor's SJ start: the variance of the outcomes with divisor k."""
        return float((self.y * self.y).sum() / self.k)

    def tau2_max(self, ctl: MetaforControl) -> float:
        if ctl.tau2_max is not None:
            return ctl.tau2_max
        med = np.median(self.yraw)
        mad = 1.4826 * float(np.median(np.abs(self.yraw - med)))
        return max(100.0, 10.0 * mad * mad)

    def loglik(self, tau2: float, reml: bool) -> float:
        """(Restricted) log-likelihood at tau2, up to the constant shared by all tau2."""
        s = self.v + tau2
        pr = self.proj(1.0 / s)
        ll = -0.5 * float(np.log(s).sum()) - 0.5 * float(pr.quad(self.y[None])[0])
        if reml:  # -1/2 log det(X'WX) = -sum log |diag R|
            ll -= float(np.log(np.abs(np.diagonal(pr.R[0]))).sum())
        return ll

    # SE forms ------------------------------------------------------------ #
    def se_pm(self, tau2: float) -> float:
        """``sqrt(2 k^2 / (k - p)) / sum(w)`` (EB, PM, PMM, SJIT; DLIT from 4.6)."""
        w = 1.0 / (self.v + tau2)
        return self.k * math.sqrt(2.0 / self.df) / float(w.sum())

    def se_dl(self, w: np.ndarray, tau2: float) -> float:
        """The DL form ``sqrt(2(k-p) + 4 t tr(P) + 2 t^2 tr(PP)) / tr(P)``, t = max(tau2, 0)."""
        pr = self.proj(w)
        trp, trpp = float(pr.trp()[0]), float(pr.trpp()[0])
        t = max(tau2, 0.0)
        return math.sqrt(2.0 * self.df + 4.0 * t * trp + 2.0 * t * t * trpp) / trp


# --------------------------------------------------------------------------- #
# the iterations
# --------------------------------------------------------------------------- #
def _fisher_scoring(method: str, md: _Model, ctl: MetaforControl) -> ControlFit:
    """ML, REML and EB as metafor iterates them (see the module docstring)."""
    tau2 = max(0.0, md.he(), ctl.tau2_min) if ctl.tau2_init is None else ctl.tau2_init
    change = ctl.threshold + 1.0
    it = 0
    while change > ctl.threshold:
        it += 1
        old = tau2
        w = md.weights(tau2, method, it)
        pr = md.proj(w)
        if method == "ML":
            adj = (float(pr.py2(md.y[None])[0]) - float(w.sum())) / float((w * w).sum())
        elif method == "REML":
            adj = (float(pr.py2(md.y[None])[0]) - float(pr.trp()[0])) / float(pr.trpp()[0])
        else:  # EB
            adj = (float(pr.quad(md.y[None])[0]) * md.k / md.df - md.k) / float(w.sum())
        adj *= ctl.stepadj
        if math.isnan(adj):
            adj = 0.0
        adj = _halve_into_range(tau2, adj, ctl.tau2_min, method, it)
        tau2 = tau2 + adj
        change = abs(old - tau2)
        if it > ctl.maxiter:
            raise ConvergenceError(MSG_FISHER, method=method, iterations=it)
    zeroed = False
    if method in ("ML", "REML") and ctl.ll0check and bool(np.all(md.v > 0)):
        reml = method == "REML"
        ll0, ll = md.loglik(0.0, reml), md.loglik(tau2, reml)
        if ll0 - ll > ctl.tol and tau2 > ctl.threshold:
            tau2, zeroed = 0.0, True
    # ML/REML: the SE from the weights at the converged (or zeroed) tau^2, before the
    # final truncation at tau2.min; EB: the PM form at the final tau^2
    w = md.weights(tau2, method, it)
    info = float((w * w).sum()) if method == "ML" else float(md.proj(w).trpp()[0])
    tau2 = max(ctl.tau2_min, tau2)
    se = md.se_pm(tau2) if method == "EB" else math.sqrt(2.0 / info)
    return ControlFit(tau2, se, it, zeroed)


def _halve_into_range(tau2: float, adj: float, low: float, method: str, it: int) -> float:
    """metafor's step halving: halve ``adj`` while ``tau2 + adj`` is below ``low``."""
    for _ in range(_MAX_HALVINGS):
        if not tau2 + adj < low:
            return adj
        adj = adj / 2.0
    raise ConvergenceError(
        f"{method}: tau2.init is below tau2.min and no step reaches tau2.min (metafor's "
        "step halving would not end); give tau2.init >= tau2.min",
        method=method,
        iterations=it,
    )


def _sj_iterated(md: _Model, ctl: MetaforControl) -> ControlFit:
    """SJIT: ``tau^2 <- tau^2 Q(tau^2) / (k - p)`` until a step is within ``threshold``."""
    tau2 = md.sj_start() if ctl.tau2_init is None else ctl.tau2_init
    change = ctl.threshold + 1.0
    it = 0
    while change > ctl.threshold:
        it += 1
        old = tau2
        tau2 = tau2 * md.q(tau2) / md.df
        change = abs(old - tau2)
        if it > ctl.maxiter:
            raise ConvergenceError(MSG_SJIT, method="SJIT", iterations=it)
    tau2 = max(ctl.tau2_min, tau2)
    return ControlFit(tau2, md.se_pm(tau2), it)


def _dl_iterated(md: _Model, ctl: MetaforControl) -> ControlFit:
    """DLIT: the DL update (metafor's form of the selected release) truncated at tau2.min."""
    pm_form = since("dlit_pm")
    tau2 = 0.0 if ctl.tau2_init is None else ctl.tau2_init
    change = ctl.threshold + 1.0
    it = 0
    w = md.v  # replaced by the first step's weights (the loop runs at least once)
    while change > ctl.threshold:
        it += 1
        old = tau2
        w = md.weights(tau2, "DLIT", it)
        pr = md.proj(w)
        trp = float(pr.trp()[0])
        moment = float((pr.B * pr.B * md.v[None, :, None]).sum()) if pm_form else md.df
        tau2 = (float(pr.quad(md.y[None])[0]) - moment) / trp
        tau2 = max(tau2, ctl.tau2_min)
        change = abs(old - tau2)
        if it > ctl.maxiter:
            raise ConvergenceError(MSG_DLIT, method="DLIT", iterations=it)
    tau2 = max(ctl.tau2_min, tau2)
    # before 4.6 the SE is the DL form with P from the last step's weights (tau^2 before it)
    se = md.se_pm(tau2) if pm_form else md.se_dl(w, tau2)
    return ControlFit(tau2, se, it)


def _paule_mandel(method: str, md: _Model, ctl: MetaforControl) -> ControlFit:
    """PM and PMM: the sign checks at tau2.min / tau2.max, then R's uniroot between them."""
    target = float(stats.chi2.ppf(0.5, md.df)) if method == "PMM" else md.df
    lo, hi = ctl.tau2_min, md.tau2_max(ctl)
    f_lo = md.q(lo) - target
    notes: tuple[str, ...] = ()
    if f_lo < 0:
        tau2, it = lo, 0
    else:
        f_hi = md.q(hi) - target
        if f_hi > 0:
            raise ConvergenceError(MSG_TAU2_MAX, method=method)
        if not lo < hi or math.isnan(f_lo) or math.isnan(f_hi):  # uniroot stops with an error
            raise ConvergenceError(_msg_uniroot(), method=method)
        tau2, it, ok = zeroin(lambda t: md.q(t) - target, lo, hi, f_lo, f_hi,
                              ctl.tol, ctl.maxiter)  # fmt: skip
        if not ok:  # uniroot warns and returns its last point; metafor goes on with it
            s = "" if ctl.maxiter == 1 else "s"
            notes = (f"_NOT_ converged in {ctl.maxiter} iteration{s}",)
    tau2 = max(ctl.tau2_min, tau2)
    return ControlFit(tau2, md.se_pm(tau2), it, warnings=notes)


def _sj_started(md: _Model, ctl: MetaforControl) -> ControlFit:
    """SJ from ``tau2.init`` (else metafor's start): one step, SE at the start's weights."""
    tau0 = md.sj_start() if ctl.tau2_init is None else ctl.tau2_init
    pr = md.proj(md.weights(tau0, "SJ", 0))
    tau2 = max(ctl.tau2_min, tau0 * float(pr.quad(md.y[None])[0]) / md.df)
    t = max(tau2, 0.0)
    se = tau0 * math.sqrt(2.0 * float(pr.trpsps((md.v + t)[None])[0])) / md.df
    return ControlFit(tau2, se, 0)


def control_tau2(
    method: str, y: np.ndarray, v: np.ndarray, X: np.ndarray, ctl: MetaforControl
) -> ControlFit:
    """tau^2 of one model as metafor's iteration ``method`` leaves it under control ``ctl``.

    Parameters
    ----------
    method : str
        A metafor estimator of :data:`CONTROL_METHODS` (aliases allowed; ``"DLIT"`` runs
        the DL iteration of the selected metafor release).
    y, v : numpy.ndarray, shape (k,)
        Outcomes (not centred: metafor centres them itself) and sampling variances.
    X : numpy.ndarray, shape (k, p)
        The design (a column of ones for the intercept-only model).
    ctl : MetaforControl
        metafor's control settings (:func:`parse_control`).

    Returns
    -------
    ControlFit
        tau^2, its SE (metafor's form for the estimator), the iterations run, whether
        ML/REML's ll0 check set tau^2 to 0, and metafor's warnings on the way.

    Raises
    ------
    ConvergenceError
        Where metafor stops with an error (no convergence within ``maxiter``,
        ``tau2.max`` too low, negative marginal variances ...), with metafor's message.
    """
    method = METHOD_ALIASES.get(method, method)
    md = _Model(y, v, X)
    notes: tuple[str, ...] = ()
    if ctl.tau2_min < 0 and -ctl.tau2_min > float(md.v.min()):
        low = -float(md.v.min())
        notes = (f"Value of 'tau2.min' constrained to -min(vi) = {low:.4f}.",)
        ctl = replace(ctl, tau2_min=low)
    if method in ("ML", "REML", "EB"):
        fit = _fisher_scoring(method, md, ctl)
    elif method == "SJIT":
        fit = _sj_iterated(md, ctl)
    elif method == "DLIT":
        fit = _dl_iterated(md, ctl)
    elif method in ("PM", "PMM"):
        fit = _paule_mandel(method, md, ctl)
    elif method == "SJ":
        fit = _sj_started(md, ctl)
    else:
        raise ValueError(f"method {method!r} has no metafor iteration to control")
    if notes:
        fit = replace(fit, warnings=notes + fit.warnings)
    return fit


def emit(fit: ControlFit, stacklevel: int = 3) -> None:
    """Issue metafor's warnings of ``fit`` as Python warnings (UserWarning)."""
    for note in fit.warnings:
        warnings.warn(note, UserWarning, stacklevel=stacklevel)
