#!/usr/bin/env python
"""Run the bad-input corpus (tests/bad_inputs.py) against a source tree and grade it.

    python scripts/bad_input_audit.py --src /path/to/checkout [--json FILE] [--only CLASS]

Each case runs with ``PYTHONPATH=SRC/src`` in a fresh temporary folder (CLI cases as
``python -m metaparity.cli ...``, API cases in a fresh interpreter) and is graded:

* good -- right exit code (2) / exception, a one-line message naming the row, the value
  and the fix, no traceback, no output file left behind;
* weak -- right exit code / exception, but the message lacks the row, value or fix (or is
  not one line);
* bad  -- a traceback, a wrong exit code (0/1 for bad input), a silent NaN, or a file
  left behind.

Prints one line per case, then a table by class with totals.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from bad_inputs import CASES  # noqa: E402
from bad_inputs_run import ForkServer, grade, run_case, summary_line  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", required=True, help="a checkout (its src/ goes on PYTHONPATH)")
    ap.add_argument("--json", help="write every case's grade and message to FILE")
    ap.add_argument("--only", help="run only cases whose class starts with this")
    ap.add_argument("--python", default=sys.executable, help="interpreter to run cases with")
    ap.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    ap.add_argument("--no-fork", action="store_true",
                    help="a fresh interpreter per case instead of forks of one that imported "
                         "metaparity (slower, the plain `python -m metaparity.cli`)")  # fmt: skip
    args = ap.parse_args(argv)
    src = Path(args.src).resolve()
    src = src / "src" if (src / "src" / "metaparity").is_dir() else src
    cases = [c for c in CASES if not args.only or c["cls"].startswith(args.only)]
    local = threading.local()
    servers: list[ForkServer] = []

    def server() -> ForkServer | None:
        if args.no_fork:
            return None
        if not hasattr(local, "srv"):
            local.srv = ForkServer(src, python=args.python)
            servers.append(local.srv)
        return local.srv

    with tempfile.TemporaryDirectory(prefix="bad-input-audit-") as tmp:

        def one(case: dict) -> dict:
            out = run_case(case, src, Path(tmp) / case["id"], python=args.python,
                           server=server())  # fmt: skip
            verdict, problems = grade(case, out)
            return dict(id=case["id"], cls=case["cls"], grade=verdict, problems=problems,
                        message=summary_line(out), r=bool(case.get("r")))  # fmt: skip

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            rows = list(pool.map(one, cases))
        for srv in servers:
            srv.__exit__()
    for r in rows:
        why = f"  [{'; '.join(r['problems'])}]" if r["problems"] else ""
        print(f"{r['grade']:4s}  {r['cls']:20s} {r['id']:32s} {r['message'][:150]}{why}")
    by = {cls: Counter() for cls in sorted({r["cls"] for r in rows})}
    for r in rows:
        by[r["cls"]][r["grade"]] += 1
    print()
    head = f"{'class':22s} {'good':>5s} {'weak':>5s} {'bad':>5s} {'total':>6s}"
    print(head)
    print("-" * len(head))
    tot: Counter = Counter()
    for cls, cnt in by.items():
        tot.update(cnt)
        n = sum(cnt.values())
        print(f"{cls:22s} {cnt['good']:5d} {cnt['weak']:5d} {cnt['bad']:5d} {n:6d}")
    print("-" * len(head))
    print(f"{'total':22s} {tot['good']:5d} {tot['weak']:5d} {tot['bad']:5d} {len(rows):6d}")
    if args.json:
        summary = {cls: dict(cnt) for cls, cnt in by.items()}
        Path(args.json).write_text(
            json.dumps(
                {"src": str(src), "cases": rows, "by_class": summary, "total": dict(tot)}, indent=1
            )  # fmt: skip
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
