"""Max relative difference of QE_Wld (and QE_LRT, logLik) between metaparity and every
recorded metafor fit whose saturated model is a glm: rma.glmm PLO (diagnostics.json),
UM.FS / IRLN (glmm_um.json), CM.AL and IRR CM.EL (glmm_cm_al.json), for each golden version.

    PYTHONPATH=src .venv/bin/python scripts/qe_wld_agreement.py
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from metaparity import metafor_version
from metaparity.models.glmm import rma_glmm
from metaparity.models.glmm_conditional import rma_glmm_cm
from metaparity.models.glmm_twogroup import rma_glmm_um

ROOT = Path(__file__).resolve().parents[1]
G = ROOT / "fixtures" / "goldens"


def rel(o: float, r: float) -> float:
    return abs(o - r) / abs(r) if r != 0 else abs(o - r)


def main() -> None:
    rows = []
    for vdir in sorted(G.glob("metafor-*")):
        v = vdir.name.split("-", 1)[1]
        with metafor_version(v), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            diag = json.loads((vdir / "diagnostics.json").read_text())
            for r in diag["rma_glmm"]:
                res = rma_glmm(r["xi"], r["ni"], nAGQ=r["nAGQ"])
                rows.append((v, f"PLO q={r['nAGQ']}", r.get("dataset", ""), res, r["fit"]))
            um = json.loads((vdir / "glmm_um.json").read_text())["glmm_um"]
            for r in um:
                if r["model"] != "UM.FS":
                    continue
                mods = r.get("mods")
                mv = (
                    None
                    if not mods
                    else np.column_stack([np.asarray(x, float) for x in mods.values()])
                )
                cnt = {k: np.asarray(x, float) for k, x in r["counts"].items()}
                res = rma_glmm_um(**cnt, measure=r["measure"], model="UM.FS", mods=mv)
                rows.append((v, f"{r['measure']} UM.FS", r["dataset"], res, r["fit"]))
            al = json.loads((vdir / "glmm_cm_al.json").read_text())["glmm_cm_al"]
            for r in al:
                mods = (
                    None
                    if r["mods"] is None
                    else np.column_stack([r["mods"][m] for m in r["mods"]])
                )
                if r.get("measure", "OR") == "IRR":
                    res = rma_glmm_cm(
                        x1i=r["x1i"],
                        t1i=r["t1i"],
                        x2i=r["x2i"],
                        t2i=r["t2i"],
                        measure="IRR",
                        mods=mods,
                    )
                else:
                    res = rma_glmm_cm(r["ai"], r["bi"], r["ci"], r["di"], model="CM.AL", mods=mods)
                name = r["data"] + ("" if r["mods"] is None else " ~ " + ",".join(r["mods"]))
                rows.append(
                    (v, f"{r.get('measure', 'OR')} {r.get('model', 'CM.AL')}", name, res, r["fit"])
                )
    print(f"{'version':8s} {'model':10s} {'data':42s} {'QE_Wld':>9s} {'QE_LRT':>9s} {'logLik':>9s}")
    worst = {"QE_Wld": 0.0, "QE_LRT": 0.0, "logLik": 0.0}
    for v, m, name, res, fit in rows:
        d = {q: rel(float(getattr(res, q)), float(fit[q])) for q in worst}
        for q in worst:
            worst[q] = max(worst[q], d[q])
        print(
            f"{v:8s} {m:10s} {name[:42]:42s} {d['QE_Wld']:9.1e} {d['QE_LRT']:9.1e} {d['logLik']:9.1e}"
        )
    print("max:", {q: f"{x:.1e}" for q, x in worst.items()}, f"({len(rows)} fits)")


if __name__ == "__main__":
    main()
