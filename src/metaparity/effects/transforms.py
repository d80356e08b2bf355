"""Back-transformations (metafor's ``transf.*`` functions), from the published formulas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ilogit", "iarcsin", "ipft", "ipft_hm", "ztor", "BACK_TRANSFORMS", "resolve"]


def ilogit(x: ArrayLike) -> np.ndarray:
    """Inverse logit ``1 / (1 + exp(-x))``, computed without overflow.

    Equivalent to ``metafor::transf.ilogit(x)``.

    Parameters
    ----------
    x : array_like
        Logits (e.g. PLO effect sizes or their CI bounds).

    Returns
    -------
    numpy.ndarray
        Proportions in [0, 1].

    Examples
    --------
    >>> ilogit([-2, 0, 3]).round(4).tolist()  # metafor: 0.1192029220 0.5 0.9525741268
    [0.1192, 0.5, 0.9526]
    """
    x = np.asarray(x, dtype=float)
    return np.where(
        x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x)))
    )


def iarcsin(x: ArrayLike) -> np.ndarray:
    """Inverse arcsine square-root transform ``sin(x)^2``, clipped to [0, 1].

    Equivalent to ``metafor::transf.iarcsin(x)``.

    Parameters
    ----------
    x : array_like
        PAS effect sizes; below 0 gives 0, above pi/2 gives 1.

    Returns
    -------
    numpy.ndarray
        Proportions in [0, 1].

    Examples
    --------
    >>> iarcsin([-0.1, 0.3, 2]).round(4).tolist()  # metafor: 0 0.08733219255 1
    [0.0, 0.0873, 1.0]
    """
    x = np.asarray(x, dtype=float)
    z = np.sin(x) ** 2
    z = np.where(x < 0, 0.0, z)
    return np.where(x > np.pi / 2, 1.0, z)


def _pft(p: float, n: np.ndarray) -> np.ndarray:
    x = p * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def ipft(x: ArrayLike, n: ArrayLike) -> np.ndarray:
    """Inverse Freeman-Tukey double arcsine for sample size ``n`` (Miller 1978).

    Equivalent to ``metafor::transf.ipft(x, ni)``.

    Parameters
    ----------
    x : array_like
        PFT effect sizes.
    n : array_like
        Sample sizes (broadcast against ``x``).

    Returns
    -------
    numpy.ndarray
        Proportions in [0, 1] (0 and 1 beyond the transform's range for ``n``).

    Examples
    --------
    >>> ipft([0.5, 1.0], 30).round(4).tolist()  # metafor: 0.2210490076 0.7148738582
    [0.221, 0.7149]
    """
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    s = np.sin(2 * x)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = 1 - (s + (s - 1 / s) / n) ** 2
        z = 0.5 * (1 - np.sign(np.cos(2 * x)) * np.sqrt(inner))
    z = np.where(x > _pft(1.0, n), 1.0, z)
    z = np.where(x < _pft(0.0, n), 0.0, z)
    return z


def ipft_hm(x: ArrayLike, ni: ArrayLike) -> np.ndarray:
    """:func:`ipft` with the harmonic mean of the study sizes ``ni``.

    Equivalent to ``metafor::transf.ipft.hm(x, targs=list(ni=ni))``, the back-transform
    of a pooled PFT estimate.

    Parameters
    ----------
    x : array_like
        PFT values (a pooled estimate, its CI or PI bounds).
    ni : array_like
        The sample sizes of the studies pooled.

    Returns
    -------
    numpy.ndarray
        Proportions in [0, 1].

    Examples
    --------
    >>> float(ipft_hm(0.5, [20, 40]).round(4))  # metafor: 0.2199768651
    0.22
    """
    ni = np.asarray(ni, dtype=float)
    nhm = 1.0 / np.mean(1.0 / ni)
    return ipft(x, nhm)


def ztor(x: ArrayLike) -> np.ndarray:
    """Fisher's z back to the correlation r, ``tanh(x)``.

    Equivalent to ``metafor::transf.ztor(x)``.

    Parameters
    ----------
    x : array_like
        ZCOR values.

    Returns
    -------
    numpy.ndarray
        Correlations in [-1, 1].

    Examples
    --------
    >>> float(ztor(0.5).round(4))  # metafor: 0.4621171573
    0.4621
    """
    return np.tanh(np.asarray(x, dtype=float))


#: the natural back-transform for each measure (``transf=True`` picks it).
BACK_TRANSFORMS: dict[str, str] = {
    "PLO": "ilogit",
    "PAS": "iarcsin",
    "PFT": "ipft.hm",
    "PLN": "exp",
    "OR": "exp",
    "PETO": "exp",
    "RR": "exp",
    "IRR": "exp",
    "ROM": "exp",
    "ZCOR": "ztor",
}

_BY_NAME: dict[str, Callable[..., np.ndarray]] = {
    "exp": np.exp,
    "ilogit": ilogit,
    "iarcsin": iarcsin,
    "ztor": ztor,
}


def resolve(transf: Any, measure: str, ni: np.ndarray | None) -> Callable[[Any], np.ndarray] | None:
    """Turn ``transf`` (None, True, a name or a callable) into a function of one array.

    Equivalent to choosing metafor's ``transf=`` for ``predict()``: ``True`` picks the
    measure's natural back-transform (:data:`BACK_TRANSFORMS`), a name may carry the
    ``transf.`` prefix, and ``"ipft.hm"`` closes over the study sizes ``ni``.

    Parameters
    ----------
    transf : None, bool, str or callable
        What to apply; None or False means no transform.
    measure : str
        The measure of the fitted effect sizes (for ``transf=True``).
    ni : numpy.ndarray or None
        Study sizes, needed by ``"ipft.hm"``.

    Returns
    -------
    callable or None
        A function of one array, or None for no transform.

    Examples
    --------
    >>> f = resolve(True, "PLO", None)
    >>> float(f(0.0))
    0.5
    >>> resolve(True, "PR", None) is None
    True
    """
    if transf is None or transf is False:
        return None
    if transf is True:
        if measure not in BACK_TRANSFORMS:
            return None  # PR, RD, MD, SMD, COR, GEN: already on the natural scale
        transf = BACK_TRANSFORMS[measure]
    if callable(transf):
        return transf
    name = str(transf).removeprefix("transf.")
    if name == "ipft.hm":
        if ni is None:
            raise ValueError(
                "transf='ipft.hm' needs the study sizes: fit rma(data=escalc('PFT', ...)) "
                "so that the sizes travel with the data"
            )
        return lambda x: ipft_hm(x, ni)
    if name not in _BY_NAME:
        raise ValueError(
            f"unknown transf {transf!r}; use True (the measure's back-transform), a callable, "
            f"or one of: {', '.join(sorted([*_BY_NAME, 'ipft.hm']))}"
        )
    return _BY_NAME[name]
