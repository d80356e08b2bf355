"""Largest relative difference from metafor per quantity and data set, over the rma.peto
goldens (fixtures/goldens/metafor-*/peto.json), every option set, each version replayed
under its own behaviour (as tests/parity/test_goldens_peto.py does).

    PYTHONPATH=src:tests .venv/bin/python scripts/parity_summary_peto.py
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from metaparity import metafor_version  # noqa: E402
from peto_cases import compare  # noqa: E402


def _group(q: str) -> str:
    """Per-row quantities (leave1out.Q, cumul.estimate ...) summarised by their table."""
    return q.split(".")[0] if "." in q and not q.startswith("predict") else q


def main() -> None:
    worst: dict[str, dict[str, float]] = defaultdict(dict)
    n = 0
    for path in sorted((ROOT / "fixtures" / "goldens").glob("metafor-*/peto.json")):
        g = json.loads(path.read_text())
        v = g["provenance"]["metafor"]
        for rec in g["rma_peto"]:
            data = {k: [float("nan") if x is None else float(x) for x in rec[k]]
                    for k in ("ai", "bi", "ci", "di")}  # fmt: skip
            data["slab"] = rec["slab"]
            o = rec.get("options") or {}
            opts = {k: tuple(x) if isinstance(x, list) else x for k, x in o.items()}
            with metafor_version(v):
                diffs = compare(rec["result"], data, opts)
            n += 1
            ds = rec["dataset"].split(" table ")[0]
            for q, d in diffs.items():
                key = _group(q)
                worst[ds][key] = max(worst[ds].get(key, 0.0), d)
    qs = sorted({q for d in worst.values() for q in d})
    print(f"{n} rma.peto records (3 metafor versions x data sets x option sets)")
    print("max relative difference per quantity (rows) and data set (columns)")
    sets = sorted(worst)
    print(f"{'quantity':22s}" + "".join(f"{s[:14]:>15s}" for s in sets))
    for q in qs:
        print(f"{q:22s}" + "".join(f"{worst[s].get(q, float('nan')):15.1e}" for s in sets))


if __name__ == "__main__":
    main()
