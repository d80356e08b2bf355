"""Write fixtures/mv_cases.json: the rma_mv golden inputs (r_scripts/goldens_mv.R reads them).

    .venv/bin/python scripts/mv_golden_inputs.py

One record per case of tests/mv_cases.py: the arguments of mp_rma_mv (fam_mv.R) for the
rows metaparity fitted -- estimates, V, design, grouping columns, known R, fixed values,
metafor's control (parity.mv.MV_CONTROL) -- and ``at``: metaparity's estimates when the file
was written, at which metafor also reports its log-likelihood.  Needs a source checkout.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import metaparity as mp  # noqa: E402
from metaparity.parity.mv import rma_mv_call_args  # noqa: E402
from mv_cases import CASES, case_args  # noqa: E402


def _nan_to_none(x):
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return x


def main() -> None:
    recs = []
    for name in CASES:
        a = case_args(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = mp.rma_mv(a.pop("yi", "yi"), a.pop("V"), **a)
        recs.append({"name": name, "args": _nan_to_none(rma_mv_call_args(res))})
    out = ROOT / "fixtures" / "mv_cases.json"
    doc = {"generated_by": "scripts/mv_golden_inputs.py", "metaparity": mp.__version__,
           "cases": recs}  # fmt: skip
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}: {len(recs)} cases")


if __name__ == "__main__":
    main()
