"""predict() cases for meta-regressions (live: tests/models/test_predict_mods.py; goldens:
fixtures/predict_cases.json -> fixtures/goldens/metafor-*/predict.json).

Four data sets, continuous and categorical moderators and an interaction; each case fits
``rma()`` and names the ``predict()`` call (newmods, intercept, transf, level).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import metaparity as mp

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "metadat"


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(FIX / f"{name}.csv")


def _bcg(mods: str, **kw: Any):
    return mp.rma(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", mods=mods,
                  data=_csv("dat.bcg"), slab="study", **kw)  # fmt: skip


def _normand(**kw: Any):
    return mp.rma(measure="MD", m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i",
                  n2i="n2i", mods="~ log(n1i + n2i)", data=_csv("dat.normand1999"), **kw)  # fmt: skip


def _assink(**kw: Any):
    d = _csv("dat.assink2016")
    return mp.rma("yi", "vi", mods="~ deltype + year", data=d, **kw)  # year: centred already


def _hart(**kw: Any):
    e = _csv("dat.hart1999")  # log incidence rate ratios, as escalc("IRR")
    e["yi"] = np.log((e.x1i / e.t1i) / (e.x2i / e.t2i))
    e["vi"] = 1 / e.x1i + 1 / e.x2i
    return mp.rma("yi", "vi", mods="~ factor(compgrp) + I(year - 1990)", data=e, **kw)


#: name -> (fit, predict keyword arguments)
CASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "bcg ~ablat REML fitted": (lambda: _bcg("~ ablat"), {}),
    "bcg ~ablat REML newmods exp": (
        lambda: _bcg("~ ablat"),
        {"newmods": [10, 20, 30, 40, 50, 60], "transf": "exp"},
    ),
    "bcg ~ablat DL knha level 90": (
        lambda: _bcg("~ ablat", method="DL", test="knha"),
        {"newmods": [[0], [33.5]], "level": 90},
    ),
    "bcg ~ablat*alloc REML t": (
        lambda: _bcg("~ ablat * alloc", test="t"),
        {"newmods": [[20, 1, 0, 20, 0], [40, 0, 1, 0, 40]]},
    ),
    "bcg ~ablat*alloc fitted": (lambda: _bcg("~ ablat * alloc"), {}),
    "bcg ~ablat intercept=FALSE": (
        lambda: _bcg("~ ablat"),
        {"newmods": [[10], [50]], "intercept": False},
    ),
    "bcg ~0+alloc+ablat all p": (
        lambda: _bcg("~ 0 + alloc + ablat"),
        {"newmods": [[1, 0, 0, 30], [0, 0, 1, 30]]},
    ),
    "normand ~log(n) ML fitted": (lambda: _normand(method="ML"), {}),
    "normand ~log(n) EE newmods": (
        lambda: _normand(method="EE"),
        {"newmods": [[np.log(50)], [np.log(500)]]},
    ),
    "assink ~deltype+year PM": (
        lambda: _assink(method="PM"),
        {"newmods": [[1, 0, -5], [0, 1, 5], [0, 0, 0]]},
    ),
    "assink ~deltype+year fitted adhoc": (lambda: _assink(test="adhoc"), {}),
    "hart ~compgrp+year HE": (
        lambda: _hart(method="HE"),
        {"newmods": np.array([[1, 0], [0, 5]])},
    ),
    "hart ~compgrp+year REML exp fitted": (lambda: _hart(), {"transf": "exp"}),
}
