"""Record the R calls a comparison makes, and replay metafor's recorded answers to them.

Test tooling (needs a source checkout).  :class:`CapturingBridge` wraps the live bridge and
keeps every ``bridge.call(rfun, **args)`` with metafor's answer: the golden inputs
(``scripts/mv_tools_golden_inputs.py``) are those calls.  The golden producer runs the same
calls in R as the Rscript backend does (``r_scripts/goldens_mv_tools.R``), and
:class:`ReplayBridge` answers a comparison's calls from that recording -- after checking that
each call is the recorded one (the same R function; the same arguments, numbers to 1e-9
relative), so a stale golden is refused, never silently compared.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from metaparity.parity.rbridge import _Bridge

__all__ = ["CapturingBridge", "ReplayBridge", "StaleGolden", "same_call"]


class StaleGolden(AssertionError):
    """The comparison made a call other than the recorded one."""


class CapturingBridge(_Bridge):
    """The live bridge, keeping each generic call and its answer (``calls``)."""

    backend = "capture"

    def __init__(self, live: _Bridge) -> None:
        self.live = live
        self._versions = live.versions()
        self.calls: list[dict[str, Any]] = []

    def run(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = self.live.run(calls)
        for c in calls:
            if c.get("fn") != "generic":
                raise ValueError(f"only bridge.call(...) can be recorded, not {c.get('fn')!r}")
            self.calls.append({"rfun": c["rfun"], "args": copy.deepcopy(c["args"])})
        return out


def same_call(a: Any, b: Any, path: str = "args", rtol: float = 1e-9) -> str | None:
    """None when ``a`` and ``b`` are the same call arguments (numbers to ``rtol``), else where
    they first differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        if sorted(a) != sorted(b):
            return f"{path}: keys {sorted(a)} vs recorded {sorted(b)}"
        for k in a:
            why = same_call(a[k], b[k], f"{path}.{k}", rtol)
            if why:
                return why
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} values vs {len(b)} recorded"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            why = same_call(x, y, f"{path}[{i}]", rtol)
            if why:
                return why
        return None
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) \
            and not isinstance(b, bool):  # fmt: skip
        if a == b or math.isclose(float(a), float(b), rel_tol=rtol, abs_tol=1e-300):
            return None
        return f"{path}: {a!r} vs recorded {b!r}"
    return None if a == b else f"{path}: {a!r} vs recorded {b!r}"


class ReplayBridge(_Bridge):
    """Answers the calls of one comparison from a recording (calls and results in order)."""

    backend = "golden"

    def __init__(self, calls: list[dict[str, Any]], results: list[dict[str, Any]],
                 versions: dict[str, str], label: str = "") -> None:  # fmt: skip
        if len(calls) != len(results):
            raise StaleGolden(f"{label}: {len(calls)} recorded calls but {len(results)} results")
        self._queue = list(zip(calls, results, strict=True))
        self._versions = dict(versions)
        self.label = label

    def run(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for c in calls:
            if not self._queue:
                raise StaleGolden(f"{self.label}: a call to {c.get('rfun')} was not recorded; "
                                  "re-record the golden inputs and goldens")  # fmt: skip
            rec, result = self._queue.pop(0)
            if c.get("rfun") != rec["rfun"]:
                raise StaleGolden(f"{self.label}: called {c.get('rfun')}, recorded {rec['rfun']}")
            why = same_call(c["args"], rec["args"])
            if why:
                raise StaleGolden(f"{self.label}: {c['rfun']} {why}; re-record the golden inputs "
                                  "(scripts/mv_tools_golden_inputs.py) and goldens")  # fmt: skip
            out.append(copy.deepcopy(result))
        return out

    @property
    def exhausted(self) -> bool:
        """Every recorded call was made."""
        return not self._queue
