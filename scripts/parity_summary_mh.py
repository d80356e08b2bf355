"""Largest relative difference from metafor per quantity and data set, over the rma.mh
goldens (fixtures/goldens/metafor-*/mh.json), every measure and option set, each version
replayed under its own behaviour (as tests/parity/test_goldens_mh.py does).

    PYTHONPATH=src:tests .venv/bin/python scripts/parity_summary_mh.py
"""

from __future__ import annotations

import json
import sys
import warnings
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from metaparity import metafor_version, rma_mh  # noqa: E402
from mh_compare import compare  # noqa: E402


def main() -> None:
    worst: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    n = 0
    for path in sorted((ROOT / "fixtures" / "goldens").glob("metafor-*/mh.json")):
        g = json.loads(path.read_text())
        v = g["provenance"]["metafor"]
        for rec in g["mh"]:
            args = {k: [float("nan") if x is None else float(x) for x in vals]
                    for k, vals in rec["args"].items()}  # fmt: skip
            with metafor_version(v), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = rma_mh(**args, measure=rec["measure"], **(rec["options"] or {}))
                d = compare(res, rec)
            key = (rec["measure"], rec["dataset"])
            for q, x in d.items():
                worst[key][q] = max(worst[key].get(q, 0.0), x)
            n += 1
    cols = ["b", "se", "pval", "ci_lb", "QE", "QEp", "I2", "MH", "MHp", "TA", "TAp", "yi", "vi",
            "predict", "leave1out", "cumul"]  # fmt: skip
    print(f"{n} records; max relative difference (0 = identical)")
    print("| measure | data set | " + " | ".join(cols) + " |")
    print("|" + "---|" * (len(cols) + 2))
    for (m, ds), d in sorted(worst.items()):
        cells = [f"{d[c]:.0e}" if d.get(c) else "0" for c in cols]
        print(f"| {m} | {ds} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
