"""Write fixtures/metareg_cases.json: the meta-regression golden inputs (r_scripts/goldens_metareg.R
reads them).

    .venv/bin/python scripts/metareg_golden_inputs.py

One record per call of tests/metareg_cases.py's golden_calls(): predict(), anova() Wald tests,
fit statistics, likelihood-ratio tests and confint() of rma fits -- the kind, the R function of
src/metaparity/parity/r/fam_metareg.R and its arguments (the rows and design as metaparity
fitted them).  Needs a source checkout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import metaparity as mp  # noqa: E402
from metareg_cases import R_FUNCTIONS, golden_calls  # noqa: E402


def main() -> None:
    recs = [{"name": name, "kind": kind, "fn": R_FUNCTIONS[kind], "args": args}
            for name, (kind, args, _) in golden_calls().items()]  # fmt: skip
    out = ROOT / "fixtures" / "metareg_cases.json"
    doc = {"generated_by": "scripts/metareg_golden_inputs.py", "metaparity": mp.__version__,
           "cases": recs}  # fmt: skip
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}: {len(recs)} calls")


if __name__ == "__main__":
    main()
