"""The rma_mv goldens at a glance: per metafor version, the largest relative difference per
quantity over the cases, and the likelihood evidence (replayed without R).

    .venv/bin/python scripts/parity_summary_mv.py
"""

from __future__ import annotations

import collections
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import metaparity as mp  # noqa: E402
from metaparity.parity.mv import compare_mv  # noqa: E402
from mv_cases import case_args  # noqa: E402

GROUPS = {
    "b, se, zval, CI, vb": ("b", "se", "zval", "ci_lb", "ci_ub", "vb"),
    "sigma2, tau2, rho, gamma2, phi": ("sigma2", "tau2", "rho", "gamma2", "phi"),
    "QM": ("QM",), "QE": ("QE",), "p-values": ("pval", "QMp", "QEp"),
    "logLik/dev/AIC/BIC/AICc (fitted method)": ("own",),
    "the same, other method": ("other",),
    "our ll at metafor's components vs metafor's ll": ("loglik_at_metafor",),
    "metafor's ll at ours vs our ll": ("metafor_loglik_at_ours",),
}  # fmt: skip


def main() -> None:
    for g in sorted((ROOT / "fixtures" / "goldens").glob("metafor-*/mv.json")):
        version = g.parent.name.removeprefix("metafor-")
        mx: dict[str, float] = collections.defaultdict(float)
        gains = []
        n = 0
        recs = json.loads(g.read_text())["mv"]
        for rec in recs:
            a = case_args(rec["name"])
            with warnings.catch_warnings(), mp.metafor_version(version):
                warnings.simplefilter("ignore")
                res = mp.rma_mv(a.pop("yi", "yi"), a.pop("V"), **a)
            for c in compare_mv(res, rec):
                q = re.sub(r"\[\d+\]", "", c.quantity)
                if q.startswith("optimum_not_below"):
                    if q == "optimum_not_below_metafor":
                        gains.append(c.ours - c.ref)
                    continue
                if q.startswith(("ll_", "dev_", "AIC_", "BIC_", "AICc_")):
                    q = "own" if q.split("_")[1] == res.method else "other"
                if np.isfinite(c.rel_diff):
                    mx[q] = max(mx[q], c.rel_diff)
                n += 1
        print(f"metafor {version}: {n} comparisons over {len(recs)} cases")
        for label, qs in GROUPS.items():
            print(f"  {label:50s} {max(mx[q] for q in qs):.1e}")
        print(f"  our max - our ll at metafor's point: min {min(gains):.1e}, max {max(gains):.1e}")


if __name__ == "__main__":
    main()
