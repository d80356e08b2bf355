"""Distribution tails used by every model: p-values from ``sf`` forms, never ``1 - cdf``."""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["t_two_sided"]


def t_two_sided(t: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    """Two-sided t p-value ``P(|T_df| > |t|)`` from the regularised incomplete beta.

    ``2 * scipy.stats.t.sf`` loses digits near p = 1 for df = 1 (3.8e-10 relative at
    t = 3.6e-8, found by the differential tests against R's ``pt``).  Each of the two
    beta forms is used where the quantity it computes directly is the small one.

    Examples
    --------
    >>> round(float(t_two_sided(2.0, 10.0)), 12)  # R: 2 * pt(-2, 10)
    0.073388034771
    """
    t2 = np.asarray(t, dtype=float) ** 2
    dfa = np.asarray(df, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = special.betainc(0.5, dfa / 2.0, t2 / (dfa + t2))  # 1 - p, accurate when small
        tail = special.betainc(dfa / 2.0, 0.5, dfa / (dfa + t2))  # p, accurate when small
    out = np.where(q < 0.5, 1.0 - q, tail)
    return np.where(np.isinf(t2), 0.0, out)
