"""Write fixtures/vcalc_cases.json: the vcalc golden inputs (r_scripts/goldens_vcalc.R reads them).

    .venv/bin/python scripts/vcalc_golden_inputs.py

One record per case of tests/vcalc_cases.py: the arguments of mp_vcalc (fam_vcalc.R), i.e.
the columns (values as metaparity read them), which vcalc arguments name them, rho, phi,
rvars, checkpd and nearpd.  Needs a source checkout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import metaparity as mp  # noqa: E402
from metaparity.parity.vcalc import vcalc_call_args  # noqa: E402
from vcalc_cases import CASES, VERSIONED, run  # noqa: E402


def main() -> None:
    recs = []
    for name in [*CASES, *VERSIONED]:
        dat, kw = run(name)
        recs.append({"name": name, "args": vcalc_call_args(data=dat, **kw)})
    out = ROOT / "fixtures" / "vcalc_cases.json"
    doc = {"generated_by": "scripts/vcalc_golden_inputs.py", "metaparity": mp.__version__,
           "cases": recs}  # fmt: skip
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}: {len(recs)} cases")


if __name__ == "__main__":
    main()
