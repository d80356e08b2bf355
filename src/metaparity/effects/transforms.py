"""Back-transformations (metafor's ``transf.*`` functions), from the published formulas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ilogit", "iarcsin", "ipft", "ipft_hm", "ztor", "BACK_TRANSFORMS", "resolve"]


def ilogit(x: Any) -> np.ndarray:
    """Inverse logit (``transf.ilogit``)."""
    x = np.asarray(x, dtype=float)
    return np.where(
        x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x)))
    )


def iarcsin(x: Any) -> np.ndarray:
    """Inverse arcsine square-root transform ``sin(x)^2`` clipped to [0, 1] (``transf.iarcsin``)."""
    x = np.asarray(x, dtype=float)
    z = np.sin(x) ** 2
    z = np.where(x < 0, 0.0, z)
    return np.where(x > np.pi / 2, 1.0, z)


def _pft(p: float, n: np.ndarray) -> np.ndarray:
    x = p * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def ipft(x: Any, n: Any) -> np.ndarray:
    """Inverse Freeman-Tukey double arcsine for sample size ``n`` (Miller 1978; ``transf.ipft``)."""
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    s = np.sin(2 * x)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = 1 - (s + (s - 1 / s) / n) ** 2
        z = 0.5 * (1 - np.sign(np.cos(2 * x)) * np.sqrt(inner))
    z = np.where(x > _pft(1.0, n), 1.0, z)
    z = np.where(x < _pft(0.0, n), 0.0, z)
    return z


def ipft_hm(x: Any, ni: Any) -> np.ndarray:
    """``ipft`` with the harmonic mean of the study sizes ``ni`` (``transf.ipft.hm``)."""
    ni = np.asarray(ni, dtype=float)
    nhm = 1.0 / np.mean(1.0 / ni)
    return ipft(x, nhm)


def ztor(x: Any) -> np.ndarray:
    """Fisher's z back to r (``transf.ztor``)."""
    return np.tanh(np.asarray(x, dtype=float))


#: the natural back-transform for each measure (``transf=True`` picks it).
BACK_TRANSFORMS: dict[str, str] = {
    "PLO": "ilogit",
    "PAS": "iarcsin",
    "PFT": "ipft.hm",
    "PLN": "exp",
    "OR": "exp",
    "RR": "exp",
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
    """Turn ``transf`` (None, True, a name or a callable) into a function of one array."""
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
