"""Per-estimator summary of the comparison with metafor over the golden grid.

    .venv/bin/python scripts/parity_summary.py [--golden VERSION ...] [--live]

Without --live: metaparity vs fixtures/goldens/metafor-VERSION/rma_grid.json, for every
recorded metafor version (or those given), each under the behaviour of its version.
With --live: the grid asked of the installed metafor through rpy2, compared under the
installed version's behaviour (fits metafor cannot solve -- DLIT oscillation -- are
listed, not compared).  Prints, per estimator,
the number of quantities compared, failures, and the largest relative
difference (over reference values >= 1e-8 in magnitude) and absolute difference.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from metaparity import get_metafor_version, metafor_version
from metaparity.parity.compare import FIT_FIELDS, compare_fit, summarise

ROOT = Path(__file__).resolve().parents[1]
GOLDENS = ROOT / "fixtures" / "goldens"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--live", action="store_true", help="ask the installed metafor (rpy2)")
    ap.add_argument("--golden", nargs="*", metavar="VERSION",
                    help="metafor versions of the goldens to replay (default: every one recorded)")  # fmt: skip
    args = ap.parse_args()
    recorded = sorted(
        p.parent.name.removeprefix("metafor-") for p in GOLDENS.glob("metafor-*/rma_grid.json")
    )
    failed = 0
    for version in args.golden or recorded:
        golden = json.loads((GOLDENS / f"metafor-{version}" / "rma_grid.json").read_text())
        failed += summary(golden, args.live)
        if args.live:
            break  # the installed metafor answers the same whichever grid gave the inputs
    return 1 if failed else 0


def summary(golden: dict, live: bool) -> int:
    """Print the per-estimator table for one golden grid; return the number of failures."""
    bridge = None
    version = golden["provenance"]["metafor"]
    if live:
        from metaparity.parity.rbridge import get_bridge

        bridge = get_bridge()  # mirrors the installed metafor
        version = get_metafor_version()
    with metafor_version(version):
        return _summary(golden, bridge)


def _summary(golden: dict, bridge) -> int:
    rows, skipped = [], 0
    warnings.simplefilter("ignore", UserWarning)
    for f in golden["rma"]:
        if not f["ok"]:
            skipped += 1
            continue
        rec = f
        if bridge is not None:
            ref = bridge.rma(
                f["yi"], f["vi"], method=f["method"], test=f["test"], level=f["level"],
                weights=f["ni"] if f.get("weights") == "ni" else None, measure=f["measure"],
                ni=f["ni"], transf=(f.get("predict_transf") or {}).get("transf"),
            )  # fmt: skip
            rec = dict(
                f, **{k: ref.get(k) for k in ("fit", "predict", "predict_transf", "confint")}
            )
        rows += [(f["method"], c) for c in compare_fit(rec)]
    prov = golden["provenance"]
    src = (
        f"live metafor {bridge.versions()['metafor']}"
        if bridge
        else f"goldens (metafor {prov['metafor']}, {prov['R']})"
    )
    src += f" [metaparity mirrors metafor {get_metafor_version()}]"
    print(f"metaparity vs {src}: {len(rows)} quantities, {skipped} fits metafor could not solve")
    fit_only = summarise((m, c) for m, c in rows if c.quantity in FIT_FIELDS)
    print(
        f"{'method':6s} {'n':>7s} {'failed':>6s} {'max rel (rma fields)':>21s} "
        f"{'max rel (all)':>14s} {'max abs (all)':>14s}"
    )
    total_failed = 0
    for m, s in summarise(rows).items():
        total_failed += int(s["failed"])
        print(
            f"{m:6s} {s['n']:7d} {s['failed']:6d} {fit_only[m]['max_rel']:21.2e} "
            f"{s['max_rel']:14.2e} {s['max_abs']:14.2e}"
        )
    print(
        "rma fields: " + " ".join(FIT_FIELDS) + "; all: + predict (raw, back-transformed), confint"
    )
    return total_failed


if __name__ == "__main__":
    raise SystemExit(main())
