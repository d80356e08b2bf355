"""The model of an rma fit as the R bridge's family functions take it (``fam_metareg.R``'s
model spec): the rows, the design, the estimator, test and level, and the user weights,
``weighted`` and a fixed tau^2 when the fit had them."""

from __future__ import annotations

from typing import Any

import numpy as np

from metaparity.models.results import RmaResult

__all__ = ["uni_spec"]


def uni_spec(res: RmaResult) -> dict[str, Any]:
    """``mp_fit_spec``'s arguments for the fit ``res``, as plain Python (JSON-ready).

    Examples
    --------
    >>> import metaparity as mp
    >>> spec = uni_spec(mp.rma([0.1, 0.3, 0.5], [0.01, 0.02, 0.03], method="DL"))
    >>> spec["X"], spec["X_names"], spec["method"], "weights" in spec
    ([1.0, 1.0, 1.0], ['intrcpt'], 'DL', False)
    """
    k = int(np.asarray(res.yi).size)
    Xd = np.ones((k, 1)) if res.X is None else np.asarray(res.X, dtype=float)
    spec: dict[str, Any] = dict(
        yi=np.asarray(res.yi, float).tolist(), vi=np.asarray(res.vi, float).tolist(),
        X=Xd.ravel(order="F").tolist(), X_names=list(res.coef_names), method=res.method,
        test=res.test, level=float(res.level),
    )  # fmt: skip
    if res.weights is not None:
        spec["weights"] = np.asarray(res.weights, float).ravel().tolist()
    if not res.weighted:
        spec["weighted"] = False
    if res.tau2_fix:
        spec["tau2"] = float(res.tau2)
    return spec
