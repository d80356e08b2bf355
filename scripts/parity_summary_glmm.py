"""Largest relative difference from metafor per rma.glmm model and quantity, over the GLMM
goldens of every recorded metafor version (fixtures/goldens/metafor-*/glmm_um.json,
glmm_cm.json, glmm_cm_al.json), each record refitted and compared exactly as the golden
replay tests do (metaparity.parity.compare: compare_glmm_um_fit, compare_glmm_cm,
compare_glmm_cm_al), with the tolerance table's verdict.

    PYTHONPATH=src .venv/bin/python scripts/parity_summary_glmm.py

Fits shared by the versions' records of the same input are made once (the GLMM modules do
not branch on the mirrored version).
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from metaparity.models.glmm_conditional import rma_glmm_cm
from metaparity.models.glmm_twogroup import rma_glmm_um
from metaparity.parity.compare import compare_glmm_cm, compare_glmm_cm_al, compare_glmm_um_fit

ROOT = Path(__file__).resolve().parents[1]
_FITS: dict[str, Any] = {}


def _cached(key: dict[str, Any], fit: Any) -> Any:
    k = json.dumps(key, sort_keys=True, default=str)
    if k not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[k] = fit()
    return _FITS[k]


def _mods(m: dict[str, list[float]] | None) -> np.ndarray | None:
    return None if not m else np.column_stack([np.asarray(v, float) for v in m.values()])


def _cells(r: dict[str, Any], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {q: np.asarray([np.nan if x is None else x for x in r[q]], float) for q in names}


def rows() -> list[tuple[str, str, str, Any]]:
    """``(version, model, data set, comparisons)`` for every GLMM golden record."""
    out = []
    for vdir in sorted((ROOT / "fixtures" / "goldens").glob("metafor-*")):
        v = vdir.name.split("-", 1)[1]
        for r in json.loads((vdir / "glmm_um.json").read_text())["glmm_um"]:
            cnt = {k: np.asarray(x, float) for k, x in r["counts"].items()}
            mv = _mods(r.get("mods"))
            res = _cached({"um": r["counts"], "m": r["measure"], "model": r["model"],
                           "mods": r.get("mods")},
                          lambda cnt=cnt, r=r, mv=mv: rma_glmm_um(
                              **cnt, measure=r["measure"], model=r["model"], mods=mv))  # fmt: skip
            model = "IRLN" if r["measure"] == "IRLN" else f"{r['measure']} {r['model']}"
            out.append((v, model, r["dataset"], compare_glmm_um_fit(
                res, r, measure=r["measure"], model=r["model"], mods=mv, **cnt)))  # fmt: skip
        for r in json.loads((vdir / "glmm_cm.json").read_text())["glmm_cm"]:
            c = _cells(r, ("ai", "bi", "ci", "di"))
            mv = _mods(r["mods"])
            res = _cached({"el": [r[q] for q in "ai bi ci di".split()], "mods": r["mods"]},
                          lambda c=c, mv=mv: rma_glmm_cm(**c, mods=mv))  # fmt: skip
            name = r["data"] + ("" if not r["mods"] else " ~ " + ",".join(r["mods"]))
            out.append((v, "OR CM.EL", name, compare_glmm_cm(res, r, **c, mods=mv)))
        for r in json.loads((vdir / "glmm_cm_al.json").read_text())["glmm_cm_al"]:
            mv = _mods(r["mods"])
            if r.get("measure", "OR") == "IRR":
                c = _cells(r, ("x1i", "t1i", "x2i", "t2i"))
                res = _cached({"irr": [r[q] for q in "x1i t1i x2i t2i".split()],
                               "mods": r["mods"]},
                              lambda c=c, mv=mv: rma_glmm_cm(**c, measure="IRR", mods=mv))  # fmt: skip
                model = "IRR CM.EL"
            else:
                c = _cells(r, ("ai", "bi", "ci", "di"))
                res = _cached({"al": [r[q] for q in "ai bi ci di".split()], "mods": r["mods"]},
                              lambda c=c, mv=mv: rma_glmm_cm(**c, model="CM.AL", mods=mv))  # fmt: skip
                model = "OR CM.AL"
            name = r["data"] + ("" if not r["mods"] else " ~ " + ",".join(r["mods"]))
            out.append((v, model, name, compare_glmm_cm_al(res, r)))
    return out


def main() -> None:
    worst: dict[str, dict[str, float]] = defaultdict(dict)
    sets: dict[str, set[str]] = defaultdict(set)
    bad = []
    n = 0
    for v, model, name, comps in rows():
        n += 1
        sets[model].add(name)
        for c in comps:
            q = c.quantity.split("[")[0]
            rd = c.rel_diff if np.isfinite(c.rel_diff) else 0.0
            worst[model][q] = max(worst[model].get(q, 0.0), rd)
            if not c.ok:
                bad.append(f"{v} {model} {name}: {c.quantity} ours={c.ours} metafor={c.ref}")
    print(f"{n} records; max relative difference per model (all versions; 0 = identical)\n")
    for model in sorted(worst):
        print(f"## {model} ({len(sets[model])} data sets: {'; '.join(sorted(sets[model]))})")
        print("| quantity | max rel diff |\n|---|---|")
        for q, x in worst[model].items():
            print(f"| {q} | {x:.1e} |")
        print()
    print("outside the tolerance table:", "none" if not bad else "\n  " + "\n  ".join(bad))


if __name__ == "__main__":
    main()
