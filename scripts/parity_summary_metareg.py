"""Quantities compared and the largest relative difference per function and metafor version,
from the metareg goldens (fixtures/goldens/metafor-*/metareg.json), without R.

    .venv/bin/python scripts/parity_summary_metareg.py

Each record is replayed as tests/parity/test_goldens_metareg.py replays it (under the
behaviour of its metafor version); relative differences of quantities whose tolerance is not
relative (Monte-Carlo, exact labels) are not included in the maxima, nor are values within
1e-8 of 0 (tau^2 = 0 against metafor's 1e-17, a z of 1e-4 ...): those are governed by the
table's absolute tolerance, whose largest use is reported as "max abs (near 0)".
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from metaparity import metafor_version  # noqa: E402
from metareg_cases import golden_calls  # noqa: E402


def main() -> None:
    calls = golden_calls()
    rows: dict[tuple[str, str], dict[str, float]] = defaultdict(
        lambda: {"calls": 0, "n": 0, "failed": 0, "max_rel": 0.0}
    )
    for path in sorted((ROOT / "fixtures" / "goldens").glob("metafor-*/metareg.json")):
        version = path.parent.name.removeprefix("metafor-")
        for rec in json.loads(path.read_text())["metareg"]:
            kind, _, compare = calls[rec["name"]]
            with metafor_version(version):
                cmps = compare(rec)
            r = rows[(kind, version)]
            r["calls"] += 1
            r["n"] += len(cmps)
            r["failed"] += sum(not c.ok for c in cmps)
            rel = [c.rel_diff for c in cmps if c.tol.rtol > 0 and math.isfinite(c.rel_diff)
                   and abs(c.ref) >= 1e-8]  # fmt: skip
            near = [c.abs_diff for c in cmps if c.tol.rtol > 0 and abs(c.ref) < 1e-8
                    and math.isfinite(c.abs_diff)]  # fmt: skip
            r["max_rel"] = max([r["max_rel"], *rel])
            r["max_abs0"] = max([r.get("max_abs0", 0.0), *near])
    print(f"{'function':10s} {'metafor':8s} {'calls':>5s} {'quantities':>10s} {'failed':>6s} "
          f"{'max rel':>9s} {'max abs (near 0)':>16s}")  # fmt: skip
    for (kind, version), r in sorted(rows.items()):
        print(f"{kind:10s} {version:8s} {int(r['calls']):5d} {int(r['n']):10d} "
              f"{int(r['failed']):6d} {r['max_rel']:9.2e} {r.get('max_abs0', 0.0):16.2e}")  # fmt: skip


if __name__ == "__main__":
    main()
