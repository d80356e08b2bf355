"""Per-function summary of metaparity vs the issue-8 goldens, replayed without R.

    .venv/bin/python scripts/parity_summary_diagnostics.py [GOLDEN_JSON]

Replays every record of fixtures/goldens/metafor-*/diagnostics.json (r_scripts/goldens_diagnostics.R:
meta-regression, case diagnostics, small-study methods, rma.glmm) and prints, per function,
the records and quantities compared, failures beyond the tolerance table, comparisons
accepted on exact evidence, and the largest relative and absolute difference.  Exit
status 1 when anything failed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the replay tooling lives with the tests it serves

from goldens_replay import (  # noqa: E402
    format_summary,
    load,
    replay_all,
    summarise_replays,
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    golden = load(argv[0] if argv else None)  # default: the oldest metafor-*/diagnostics.json
    t0 = time.perf_counter()
    replays = replay_all(golden)
    stats = summarise_replays(replays)
    print(format_summary(stats, golden["provenance"]))
    print(f"{len(replays)} records replayed in {time.perf_counter() - t0:.1f}s")
    for _, r in replays:
        for f in r.failures()[:5]:
            print(f"FAILED {r.label}: {f}")
    return 1 if any(s["failed"] for s in stats.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
