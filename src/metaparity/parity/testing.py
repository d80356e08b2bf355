"""One-line parity checks for a user's own test suite.

>>> # in a test module (the `metafor` fixture comes with metaparity's pytest plugin):
>>> # def test_my_pooling(metafor):
>>> #     res = metaparity.rma(yi, vi, method="PM")
>>> #     assert_agrees_with_metafor(res, bridge=metafor)
"""

from __future__ import annotations

from typing import Any

from metaparity.models.results import RmaResult
from metaparity.parity import rbridge
from metaparity.parity.compare import compare_result
from metaparity.parity.tolerances import Comparison

__all__ = ["assert_agrees_with_metafor"]


def assert_agrees_with_metafor(
    result: RmaResult, bridge: Any = None, **call: Any
) -> list[Comparison]:
    """Fit the same model in metafor (``rma()``, ``predict()``, ``confint()``) and assert
    every quantity agrees (tolerance table).

    Parameters
    ----------
    result : RmaResult
        A metaparity fit (:func:`metaparity.rma`); metafor is called with its
        ``yi, vi, method, test, level, weights, measure, ni``.
    bridge : optional
        A metafor bridge (the plugin's ``metafor`` fixture); default
        :func:`metaparity.parity.rbridge.get_bridge`.
    **call
        Overrides of the arguments passed to metafor (e.g. ``transf="ilogit"``).

    Returns
    -------
    list of Comparison
        Every comparison (all within tolerance).

    Raises
    ------
    AssertionError
        metafor failed, or some quantity differs (each one is listed).
    RUnavailable
        No bridge was given and R/metafor is unavailable.
    """
    if bridge is None:
        bridge = rbridge.get_bridge()
    args = dict(
        yi=result.yi, vi=result.vi, method=result.method, test=result.test, level=result.level,
        weights=result.weights, measure=result.measure, ni=result.ni,
    )  # fmt: skip
    args.update(call)
    ref = bridge.rma(**args)
    if not ref.get("ok"):
        raise AssertionError(f"metafor failed: {ref.get('error')}")
    cmps = compare_result(result, dict(ref, method=args["method"]))
    bad = [c for c in cmps if not c.ok]
    if bad:
        lines = [
            f"  {c.quantity}: metaparity {c.ours!r} vs metafor {c.ref!r} (rel {c.rel_diff:.2e}, "
            f"rtol {c.tol.rtol:g}, atol {c.tol.atol:g})"
            for c in bad
        ]
        raise AssertionError("metaparity disagrees with metafor:\n" + "\n".join(lines))
    return cmps
