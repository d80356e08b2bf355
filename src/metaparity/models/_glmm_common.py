"""Shared numerics of the GLMM modules (glmm.py, _glmm_engine.py): the Gauss-Hermite rule
and an overflow-free logistic."""

from __future__ import annotations

import functools

import numpy as np
from scipy import special


@functools.lru_cache(maxsize=32)
def _gh_rule(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes ``t`` and log weights for ``int f(t) exp(-t^2/2) dt``."""
    t, w = special.roots_hermitenorm(q)
    return t, np.log(w)


def _expit_parts(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``p``, ``1 - p`` and ``log(1 + e^eta)`` without overflow."""
    e = np.exp(-np.abs(eta))
    big = eta >= 0
    p = np.where(big, 1.0 / (1.0 + e), e / (1.0 + e))
    q = np.where(big, e / (1.0 + e), 1.0 / (1.0 + e))
    sp = np.maximum(eta, 0.0) + np.log1p(e)
    return p, q, sp
