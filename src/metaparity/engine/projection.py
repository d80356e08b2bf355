"""Weighted projections of a design, from its QR decomposition (no cancellation).

For weights ``a`` (n, k) and designs ``X`` (n, k, p), ``P_a = A - A X (X'AX)^-1 X'A`` is
``B B'`` with ``B = A^(1/2) Q2``, ``Q2`` the orthonormal complement of the column space of
``A^(1/2) X`` (a complete QR decomposition): ``y'P_a y``, ``tr(P_a)``, ``tr(P_a P_a)`` and
``tr(P_a S P_a S)`` are then sums of squares.  Used by the meta-regression engine
(:mod:`metaparity.engine.mods`) and metafor's iterations (:mod:`metaparity.engine.control`).
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


class _Proj:
    """QR pieces of ``A^(1/2) X`` for weights ``a`` (n, k): ``P_a = B B'``."""

    def __init__(self, X: np.ndarray, a: np.ndarray):
        p = X.shape[-1]
        sa = np.sqrt(a)
        Q, R = np.linalg.qr(sa[..., None] * X, mode="complete")
        self.sa = sa
        self.Q1 = Q[..., :p]
        self.R = R[..., :p, :]
        self.B = sa[..., None] * Q[..., p:]  # (n, k, k - p)

    def coef(self, y: np.ndarray) -> np.ndarray:
        """Weighted least-squares coefficients (n, p)."""
        rhs = np.einsum("nkp,nk->np", self.Q1, self.sa * y)
        return np.linalg.solve(self.R, rhs[..., None])[..., 0]

    def vb(self) -> np.ndarray:
        """``(X'AX)^-1 = R^-1 R^-T`` (n, p, p)."""
        Ri = np.linalg.inv(self.R)
        return Ri @ np.swapaxes(Ri, -1, -2)

    def quad(self, y: np.ndarray) -> np.ndarray:
        """``y' P_a y = ||B'y||^2``."""
        u = np.einsum("nkj,nk->nj", self.B, y)
        return (u * u).sum(-1)

    def py2(self, y: np.ndarray) -> np.ndarray:
        """``y' P_a P_a y = ||P_a y||^2``."""
        u = np.einsum("nkj,nk->nj", self.B, y)
        py = np.einsum("nkj,nj->nk", self.B, u)
        return (py * py).sum(-1)

    def trp(self) -> np.ndarray:
        return (self.B * self.B).sum((-1, -2))

    def trpsps(self, s: np.ndarray) -> np.ndarray:
        """``tr(P S P S)`` for diagonal ``S`` (n, k): ``||B' S B||_F^2``."""
        M = np.einsum("nkj,nk,nkl->njl", self.B, s, self.B)
        return (M * M).sum((-1, -2))

    def trpp(self) -> np.ndarray:
        M = np.swapaxes(self.B, -1, -2) @ self.B
        return (M * M).sum((-1, -2))

    def hat(self) -> np.ndarray:
        """``(X'AX)^-1 X'A = R^-1 Q1' A^(1/2)`` (n, p, k): b = hat @ y."""
        return np.linalg.solve(self.R, np.swapaxes(self.Q1, -1, -2)) * self.sa[..., None, :]
