"""The rma fits whose blup()/ranef() are compared with metafor, live
(tests/parity/test_blup_live.py) and in goldens (r_scripts/goldens_blup.R,
tests/parity/test_goldens_blup.py): name -> (a function fitting it, blup/ranef options)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

import metaparity as mp
from predict_cases import _assink, _hart

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "metadat"
BCG = pd.read_csv(FIX / "dat.bcg.csv")
NORMAND = pd.read_csv(FIX / "dat.normand1999.csv")
PRITZ = pd.read_csv(FIX / "dat.pritz1997.csv")


def _bcg(**kw):
    return mp.rma(measure="RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=BCG,
                  slab="study", **kw)  # fmt: skip


def _normand(**kw):
    return mp.rma(measure="SMD", m1i="m1i", sd1i="sd1i", n1i="n1i", m2i="m2i", sd2i="sd2i",
                  n2i="n2i", data=NORMAND, slab="study", **kw)  # fmt: skip


def _pritz(**kw):
    cols = [c for c in ("xi", "ni") if c in PRITZ.columns]
    assert cols == ["xi", "ni"], PRITZ.columns
    return mp.rma(measure="PLO", xi="xi", ni="ni", data=PRITZ, **kw)


CASES = {
    "bcg REML": (lambda: _bcg(), {}),
    "bcg DL knha": (lambda: _bcg(method="DL", test="knha"), {}),
    "bcg EE": (lambda: _bcg(method="EE"), {}),
    "bcg PM ~ablat t": (lambda: _bcg(method="PM", mods="~ ablat", test="t"), {}),
    "bcg REML ~ablat+year exp 90": (lambda: _bcg(mods="~ ablat + year"),
                                    {"transf": "exp", "level": 90}),
    "bcg HE ~alloc": (lambda: _bcg(method="HE", mods="~ alloc"), {}),
    "bcg SJ level 80": (lambda: _bcg(method="SJ", level=80), {}),
    "normand1999 ML": (lambda: _normand(method="ML"), {}),
    "normand1999 EB knha": (lambda: _normand(method="EB", test="knha"), {}),
    "pritz1997 REML ilogit": (lambda: _pritz(), {"transf": "ilogit"}),
    "pritz1997 HS": (lambda: _pritz(method="HS"), {}),
    # meta-regressions on four data sets: continuous and categorical moderators, an interaction
    "bcg REML ~ablat*alloc": (lambda: _bcg(mods="~ ablat * alloc"), {}),
    "normand1999 DL ~log(n)": (lambda: _normand(method="DL", mods="~ log(n1i + n2i)"), {}),
    "assink REML ~deltype+year": (lambda: _assink(), {}),
    "hart ML ~compgrp+year exp": (lambda: _hart(method="ML"), {"transf": "exp"}),
}  # fmt: skip


def fit(name: str) -> tuple[Any, dict[str, Any]]:
    """The fit of case ``name`` (warnings silenced) and its blup/ranef options."""
    make, opts = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make(), dict(opts)


def golden_cases() -> dict[str, tuple[Any, dict[str, Any]]]:
    """Every case with its options for ``blup_call_args`` (the fixed-tau2 fit too)."""
    out = {name: fit(name) for name in CASES}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["bcg tau2=0.25 ~ablat knha"] = (_bcg(tau2=0.25, mods="~ ablat", test="knha"),
                                            {"fixed_tau2": True})  # fmt: skip
    return out
