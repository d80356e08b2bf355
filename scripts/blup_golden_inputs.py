"""Write fixtures/blup_cases.json: the blup/ranef golden inputs (r_scripts/goldens_blup.R reads them).

    .venv/bin/python scripts/blup_golden_inputs.py

One record per case of tests/blup_cases.py (and the fixed-tau2 case): the arguments of
mp_blup_uni (fam_blup.R) -- yi, vi and the design as metaparity fitted them, the estimator,
test, level, transform.  Needs a source checkout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import metaparity as mp  # noqa: E402
from blup_cases import golden_cases  # noqa: E402
from metaparity.parity.blup import blup_call_args  # noqa: E402


def main() -> None:
    recs = [{"name": name, "args": blup_call_args(res, **opts)}
            for name, (res, opts) in golden_cases().items()]  # fmt: skip
    out = ROOT / "fixtures" / "blup_cases.json"
    doc = {"generated_by": "scripts/blup_golden_inputs.py", "metaparity": mp.__version__,
           "cases": recs}  # fmt: skip
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}: {len(recs)} cases")


if __name__ == "__main__":
    main()
