"""Largest relative difference per tool and metafor version, from the mv_tools goldens
(replayed without R, as tests/parity/test_goldens_mv_tools.py does), and the largest share
of its tolerance any comparison uses (abs diff / (atol + rtol |metafor|); a relative
difference can be large for a BLUP or bound near 0 that is compared on the scale of its SE
or of its centre, see parity/mv.py).

    .venv/bin/python scripts/parity_summary_mv_tools.py
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from bridge_calls import ReplayBridge  # noqa: E402
from metaparity import metafor_version  # noqa: E402
from mv_tools_cases import TOOLS  # noqa: E402


def main() -> None:
    inputs = {c["name"]: c["calls"] for c in
              json.loads((ROOT / "fixtures" / "mv_tools_cases.json").read_text())["cases"]}  # fmt: skip
    table: dict[str, dict[str, float]] = defaultdict(dict)
    counts: dict[str, int] = defaultdict(int)
    versions = []
    for path in sorted((ROOT / "fixtures" / "goldens").glob("metafor-*/mv_tools.json")):
        g = json.loads(path.read_text())
        v = g["provenance"]["metafor"]
        versions.append(v)
        for rec in g["cases"]:
            tool = rec["name"].split(" | ")[0]
            bridge = ReplayBridge(inputs[rec["name"]], rec["results"], g["provenance"], rec["name"])
            with metafor_version(v):
                comps = TOOLS[rec["name"]](bridge)
            assert all(c.ok for c in comps), rec["name"]
            rel = [c.rel_diff for c in comps if c.rel_diff == c.rel_diff]
            share = [
                c.abs_diff / (c.tol.atol + c.tol.rtol * abs(c.ref))
                for c in comps
                if c.abs_diff == c.abs_diff and c.tol.atol + c.tol.rtol * abs(c.ref) > 0
            ]
            table[tool][v] = max(table[tool].get(v, 0.0), max(rel, default=0.0))
            table[tool][v + " share"] = max(
                table[tool].get(v + " share", 0.0), max(share, default=0.0)
            )
            if v == versions[0]:
                counts[tool] += len(comps)
    cols = [c for v in versions for c in (v, v + " share")]
    head = [f"max rel {c}" if not c.endswith(" share") else f"share of tol {c[:-6]}" for c in cols]
    print("| tool | comparisons | " + " | ".join(head) + " |")
    print("|---|---|" + "---|" * len(cols))
    for tool, row in table.items():
        print(f"| {tool} | {counts[tool]} | " + " | ".join(f"{row[c]:.1e}" for c in cols) + " |")


if __name__ == "__main__":
    main()
