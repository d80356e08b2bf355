"""R's ``uniroot``: Brent's (1973) zero finder with R's interval extension.

metafor finds several fail-safe numbers with ``uniroot`` and then rounds the root up to
an integer.  The functions are step functions of the number of added studies, so the
integer depends on where the search stops -- only the same iterates reproduce
metafor's answer.  :func:`uniroot` therefore follows R's definition step by step:

* ``extendInt`` ("no", "yes", "upX", "downX") widens the interval before the search as
  R documents it: the bounds move out by ``0.01 * max(1e-4, |bound|)``, doubling at
  each step, until the sign condition holds (at most ``maxiter`` steps);
* the search is Brent's method as published (Brent 1973, ch. 4; the ``zeroin`` of
  Forsythe, Malcolm & Moler 1977): keep a bracketing pair (b, c) with ``|f(b)| <=
  |f(c)|``; stop when half the bracket is within ``2 eps |b| + tol / 2`` or
  ``f(b) == 0``; otherwise try inverse quadratic (or, with two distinct points,
  linear) interpolation, accepted only when it falls inside the bracket and is less
  than half the step before the last one, else bisect; a step is never smaller than
  the tolerance.  The root returned is b.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["uniroot", "RootNotFound"]

_EPS = 2.220446049250313e-16
_TOL = _EPS**0.25


class RootNotFound(ValueError):
    """No sign change, or no convergence within ``maxiter`` (R's ``uniroot`` errors)."""


def _extend(
    f: Callable[[float], float],
    lower: float,
    upper: float,
    f_lower: float,
    f_upper: float,
    sig: int | None,
    maxiter: int,
) -> tuple[float, float, float, float]:
    """Widen [lower, upper] as ``uniroot(extendInt=)`` does (sig None = "yes")."""
    big = 1.7976931348623157e308

    def trunc(x: float) -> float:
        return max(min(x, big), -big)

    fl, fu = trunc(f_lower), trunc(f_upper)
    if sig is None:
        need = fl * fu > 0
    else:
        need = sig * fl > 0 or sig * fu < 0
    if not need:
        return lower, upper, f_lower, f_upper
    it = 0
    if sig is None:
        dl, du = (0.01 * max(1e-4, abs(u)) for u in (lower, upper))
        while f_lower * f_upper > 0 and (math.isfinite(lower) or math.isfinite(upper)):
            it += 1
            if it > maxiter:
                raise RootNotFound(f"no sign change found in {it - 1} iterations")
            if math.isfinite(lower):
                new = f(lower - dl)
                if math.isnan(new):
                    dl /= 4
                else:
                    lower, f_lower = lower - dl, new
            if math.isfinite(upper):
                new = f(upper + du)
                if math.isnan(new):
                    du /= 4
                else:
                    upper, f_upper = upper + du, new
            dl, du = 2 * dl, 2 * du
    else:
        delta = 0.01 * max(1e-4, abs(lower))
        while sig * f_lower > 0:
            it += 1
            if it > maxiter:
                raise RootNotFound(f"no sign change found in {it - 1} iterations")
            lower -= delta
            f_lower = f(lower)
            delta *= 2
        delta = 0.01 * max(1e-4, abs(upper))
        while sig * f_upper < 0:
            it += 1
            if it > maxiter:
                raise RootNotFound(f"no sign change found in {it - 1} iterations")
            upper += delta
            f_upper = f(upper)
            delta *= 2
    return lower, upper, f_lower, f_upper


def _brent(
    f: Callable[[float], float], a: float, b: float, fa: float, fb: float, tol: float, maxiter: int
) -> float:
    """Brent's zero finder on a bracketing interval (see the module docstring)."""
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    c, fc = a, fa
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):  # b must be the best approximation
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _EPS * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:  # two distinct points: secant
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:  # inverse quadratic interpolation
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    raise RootNotFound(f"no convergence in {maxiter} iterations")


def uniroot(
    f: Callable[[float], float],
    lower: float,
    upper: float,
    *,
    extend_int: str = "no",
    tol: float = _TOL,
    maxiter: int = 1000,
) -> float:
    """A root of ``f`` in [lower, upper] exactly as R's ``uniroot`` finds it.

    metafor's ``fsn()`` uses R's ``uniroot(f, interval, extendInt=, tol=, maxiter=)``;
    this gives the same root (the same iterates), so that the fail-safe N rounded up
    from it is metafor's.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    lower, upper : float
        The interval (``lower < upper``).
    extend_int : {"no", "yes", "upX", "downX"}
        R's ``extendInt``: widen the interval until the signs at its ends differ
        ("yes"), or until f is <= 0 at ``lower`` and >= 0 at ``upper`` ("upX", an
        increasing f) or the reverse ("downX").
    tol : float
        R's ``tol`` (default ``.Machine$double.eps^0.25``).
    maxiter : int
        R's ``maxiter`` for the extension and for the search.

    Returns
    -------
    float
        The root (R's ``uniroot(...)$root``).

    Raises
    ------
    RootNotFound
        f is NaN at an end, the signs do not differ (after any extension), or the
        search does not converge -- where R's ``uniroot`` stops with an error.
    """
    if not lower < upper:
        raise ValueError("lower < upper  is not fulfilled")
    sigs: dict[str, int | None] = {"yes": None, "downX": -1, "no": 0, "upX": 1}
    if extend_int not in sigs:
        raise ValueError(f"invalid extend_int {extend_int!r}")
    fl, fu = f(lower), f(upper)
    if math.isnan(fl) or math.isnan(fu):
        raise RootNotFound("f is NaN at an end of the interval")
    lower, upper, fl, fu = _extend(f, lower, upper, fl, fu, sigs[extend_int], maxiter)
    if not (math.copysign(1.0, fl) if fl else 0.0) * (math.copysign(1.0, fu) if fu else 0.0) <= 0:
        raise RootNotFound("f() values at end points not of opposite sign")
    return _brent(f, lower, upper, fl, fu, tol, maxiter)
