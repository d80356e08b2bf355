"""Write fixtures/mv_tools_cases.json: the R calls of the rma_mv tool comparisons
(predict, confint, ranef, profile, anova, robust; tests/mv_tools_cases.py), for
r_scripts/goldens_mv_tools.R.

    .venv/bin/python scripts/mv_tools_golden_inputs.py     (needs R with metafor)

Each comparison is run once against live metafor through a bridge that keeps its calls
(``bridge.call(rfun, **args)`` as the bridge sends them: numbers as {"__num__": [...]},
strings as {"__str__": [...]}); one record per comparison: its name and calls.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import metaparity as mp  # noqa: E402
from bridge_calls import CapturingBridge  # noqa: E402
from metaparity.parity.mv import failures  # noqa: E402
from metaparity.parity.rbridge import get_bridge  # noqa: E402
from mv_tools_cases import TOOLS  # noqa: E402


def main() -> None:
    live = get_bridge()
    recs = []
    for name, run in TOOLS.items():
        cap = CapturingBridge(live)
        bad = failures(run(cap))
        print(f"{name:70s} {len(cap.calls)} call(s){'  DIFFERS: ' + bad[0] if bad else ''}")
        recs.append({"name": name, "calls": cap.calls})
    out = ROOT / "fixtures" / "mv_tools_cases.json"
    doc = {"generated_by": "scripts/mv_tools_golden_inputs.py", "metaparity": mp.__version__,
           "cases": recs}  # fmt: skip
    out.write_text(json.dumps(doc, indent=0) + "\n")
    print(f"wrote {out}: {len(recs)} comparisons")


if __name__ == "__main__":
    main()
