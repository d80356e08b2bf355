"""One-line parity checks for a user's own test suite.

>>> # in a test module (the `metafor` fixture comes with metaparity's pytest plugin):
>>> # def test_my_pooling(metafor):
>>> #     res = metaparity.rma(yi, vi, method="PM")
>>> #     assert_agrees_with_metafor(res, bridge=metafor)
"""

from __future__ import annotations

from typing import Any

from metaparity.parity.compare import compare_result
from metaparity.parity.tolerances import Comparison

__all__ = ["assert_agrees_with_metafor"]


def assert_agrees_with_metafor(result: Any, bridge: Any = None, **call: Any) -> list[Comparison]:
    """Fit the same model in metafor and assert every quantity agrees (tolerance table).

    ``result`` is an :class:`~metaparity.models.uni.RmaResult`; metafor is called with its
    ``yi, vi, method, test, level`` (and weights), overridable through ``call``.
    Returns the comparisons; raises ``AssertionError`` listing every difference.
    """
    if bridge is None:
        from metaparity.parity.rbridge import get_bridge

        bridge = get_bridge()
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
