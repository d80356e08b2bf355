"""``control="metafor"`` against metafor installations other than the bridge's.

    .venv/bin/python scripts/control_versions.py host            # Rscript on PATH (3.8.1 here)
    .venv/bin/python scripts/control_versions.py rlibs DIR       # R_LIBS=DIR Rscript (5.1-12)
    .venv/bin/python scripts/control_versions.py chroot ROOT     # chroot ROOT Rscript (4.8.0)

Runs the grid of tests/models/test_control.py (data sets x iterative estimators x z/knha x
intercept-only/one moderator, plus control lists) in that R through the bridge's own R code
(parity/r/driver.R + metaparity.R, ``mp_rma_mods(control = ...)``), then fits every case
with metaparity under ``metafor_version(<that metafor>)`` and prints: fits, fits where
metafor stops (and whether metaparity stops with the same message), quantities compared,
how many disagree (1e-10 relative or the tau^2-propagated floor of the test), and the largest
relative difference -- over all values >= 1e-8 in magnitude, and over fits whose tau^2 is
not near 0 (tau^2 >= 1e-4 s^2, where no step cancels most of the previous iterate).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "models"))

import test_control as grid  # noqa: E402  (the grid of the live test)

from metaparity import metafor_version  # noqa: E402


def run_r(calls: list[dict[str, Any]], how: str, where: str | None) -> list[dict[str, Any]]:
    """The bridge's R driver on ``calls`` in the chosen R; returns its results."""
    pkg = resources.files("metaparity.parity") / "r"
    base = Path(where) / "tmp" if how == "chroot" else Path(tempfile.gettempdir())
    tmp = Path(tempfile.mkdtemp(prefix="mpctl-", dir=base))
    try:
        for name in ("metaparity.R", "driver.R"):
            with resources.as_file(pkg / name) as src:
                shutil.copy(src, tmp / name)
        (tmp / "req.json").write_text(json.dumps(calls))
        inside = Path("/tmp") / tmp.name if how == "chroot" else tmp
        args = ["Rscript", "--vanilla", str(inside / "driver.R"), str(inside / "metaparity.R"),
                str(inside / "req.json"), str(inside / "res.json")]  # fmt: skip
        env = dict(os.environ)
        if how == "chroot":
            args = ["chroot", str(where), *args]
        elif how == "rlibs":
            env["R_LIBS"] = str(where)
        proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"R failed: {proc.stderr[-2000:]}")
        out: list[dict[str, Any]] = json.loads((tmp / "res.json").read_text())
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("how", choices=["host", "rlibs", "chroot"])
    ap.add_argument("where", nargs="?", help="R_LIBS folder (rlibs) or root (chroot)")
    a = ap.parse_args()
    version = run_r([{"fn": "versions"}], a.how, a.where)[0]
    cases = grid.grid()
    refs = run_r([grid.bridge_call(c) for c in cases], a.how, a.where)
    n = bad = stops = same = 0
    worst = worst_far = 0.0
    where = where_far = ""
    with metafor_version(version["metafor"]):
        for case, ref in zip(cases, refs, strict=True):
            if not ref.get("ok"):
                stops += 1
            try:
                rows = grid.compare_case(case, ref)
            except AssertionError as err:
                bad += 1
                print(f"outcome differs: {err}")
                continue
            if not ref.get("ok"):
                same += 1
            fl = grid.floors(case, ref["fit"]) if rows else {}
            far = rows and ref["fit"]["tau2"] >= 1e-4 * (grid.TAU2_FLOOR / fl["H2"])
            for q, ours, theirs, floor in rows:
                n += 1
                d = grid.rel(ours, theirs)
                if not grid.agrees(ours, theirs, floor):
                    bad += 1
                    print(f"differs: {grid.label(case)} {q}: {ours!r} vs {theirs!r}")
                if abs(theirs) >= 1e-8 and d > worst:
                    worst, where = d, f"{grid.label(case)} {q}"
                if far and abs(theirs) >= 1e-8 and d > worst_far:
                    worst_far, where_far = d, f"{grid.label(case)} {q}"
    print(f"R {version['R']}, metafor {version['metafor']}")
    print(f"{len(cases)} fits; metafor stops in {stops} (metaparity with the same message: {same})")
    print(f"{n} quantities compared, {bad} differ")
    print(f"max rel diff {worst:.1e} ({where})")
    print(f"max rel diff, tau^2 not near 0: {worst_far:.1e} ({where_far})")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
