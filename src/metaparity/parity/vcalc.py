"""vcalc() against metafor's: the same inputs through the R bridge, V compared entry by entry.

>>> ref = metafor_vcalc(vi="vi", cluster="study", obs="esid", rho=0.6, data=dat)  # doctest: +SKIP
>>> cmp = compare_vcalc(mp.vcalc("vi", "study", obs="esid", rho=0.6, data=dat), ref)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from metaparity._core.validation import column
from metaparity.parity.compare import _cmp
from metaparity.parity.rbridge import get_bridge
from metaparity.parity.tolerances import VCALC_TOLERANCE, Comparison

__all__ = ["metafor_vcalc", "vcalc_call_args", "compare_vcalc", "as_matrix"]

_COLUMNS = ("vi", "cluster", "subgroup", "obs", "type", "time1", "time2", "grp1", "grp2",
            "w1", "w2")  # fmt: skip


def _values(name: str, x: Any, data: Any, k: int | None) -> list[Any]:
    vals = np.asarray(column(name, x, data), dtype=object).ravel()
    if vals.size == 1 and k is not None and k > 1:
        vals = np.repeat(vals, k)
    if all(isinstance(v, str) for v in vals):
        return [str(v) for v in vals]
    if all(isinstance(v, int | float | np.integer | np.floating) for v in vals):
        return [float(v) for v in vals]
    return [str(v) for v in vals]


def _rho(spec: Any) -> dict[str, Any] | None:
    if spec is None:
        return None
    if isinstance(spec, pd.DataFrame):
        return {"kind": "matrix", "values": spec.to_numpy(dtype=float).ravel(order="F").tolist(),
                "names": [str(i) for i in spec.index]}  # fmt: skip
    if isinstance(spec, list) and any(isinstance(e, pd.DataFrame) for e in spec):
        return {"kind": "list", "items": {str(i + 1): _rho(e) for i, e in enumerate(spec)}}
    return {"kind": "vector", "values": np.atleast_1d(np.asarray(spec, dtype=float)).tolist()}


def vcalc_call_args(*, data: pd.DataFrame | None = None, rho: Any = None,
                    phi: float | None = None, rvars: list[str] | None = None,
                    checkpd: bool = True, nearpd: bool = False, **cols: Any) -> dict[str, Any]:  # fmt: skip
    """The arguments of the bridge's ``mp_vcalc`` (fam_vcalc.R) for the inputs of
    :func:`metaparity.vcalc` (``cols``: vi, cluster and any of subgroup, obs, type, time1,
    time2, grp1, grp2, w1, w2, as values or column names of ``data``), JSON-ready."""
    unknown = set(cols) - set(_COLUMNS)
    if unknown:
        raise ValueError(f"metafor_vcalc: unknown argument(s) {', '.join(sorted(unknown))}")
    k = len(_values("cluster", cols["cluster"], data, None))
    plain = {n: _values(n, x, data, k) for n, x in cols.items() if x is not None}
    if rvars is not None:
        if data is None:
            raise ValueError("metafor_vcalc: rvars= names columns, so give data=")
        for n in rvars:
            plain[n] = [float(v) for v in data[n].to_numpy(dtype=float)]
    return {"cols": plain, "use": cols_present(cols), "rho": _rho(rho), "phi": phi,
            "rvars": rvars, "checkpd": checkpd, "nearpd": nearpd}  # fmt: skip


def metafor_vcalc(bridge: Any = None, **kwargs: Any) -> dict[str, Any]:
    """metafor's ``vcalc`` on the same inputs as :func:`metaparity.vcalc` (the keyword
    arguments of :func:`vcalc_call_args`); a bridge record with ``V`` (k x k), ``warnings``
    or ``error``."""
    if bridge is None:
        bridge = get_bridge()
    return as_matrix(bridge.call("mp_vcalc", **vcalc_call_args(**kwargs)))


def as_matrix(out: dict[str, Any]) -> dict[str, Any]:
    """A bridge or golden record with ``V`` reshaped to k x k (R's column-major numbers)."""
    if out.get("ok"):
        kk = int(out["k"])
        out["V"] = np.asarray([np.nan if v is None else v for v in out["V"]],
                              dtype=float).reshape((kk, kk), order="F")  # fmt: skip
    return out


def cols_present(cols: dict[str, Any]) -> list[str]:
    """The vcalc arguments that are given (in metafor's order)."""
    return [n for n in _COLUMNS if cols.get(n) is not None]


def compare_vcalc(ours: Any, ref: dict[str, Any]) -> list[Comparison]:
    """Every entry of our V against metafor's (a shape mismatch is one failed comparison)."""
    M = ours.toarray() if hasattr(ours, "toarray") else np.asarray(ours, dtype=float)
    R = ref["V"]
    if M.shape != R.shape:
        return [_cmp("V.shape", M.shape[0], R.shape[0], VCALC_TOLERANCE)]
    return [_cmp(f"V[{i},{j}]", M[i, j], R[i, j], VCALC_TOLERANCE)
            for i in range(M.shape[0]) for j in range(i + 1)]  # fmt: skip
