"""rma_mv cases for the live parity tests and the goldens: metadat data sets (fixtures/metadat)
and two synthetic sets, each with the rma_mv arguments metafor's documentation uses for it.

``CASES``: name -> function returning the keyword arguments of :func:`metaparity.rma_mv`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "metadat"


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(FIX / f"{name}.csv")


def konstantopoulos() -> pd.DataFrame:
    return _csv("dat.konstantopoulos2011")


def assink() -> pd.DataFrame:
    return _csv("dat.assink2016")


def berkey() -> tuple[pd.DataFrame, np.ndarray]:
    """dat.berkey1998 and its V (2 x 2 blocks per trial from v1i/v2i, metafor's example)."""
    d = _csv("dat.berkey1998")
    k = len(d)
    V = np.zeros((k, k))
    for _, rows in d.groupby("trial", sort=False).groups.items():
        idx = np.asarray(list(rows))
        V[np.ix_(idx, idx)] = d.loc[idx, ["v1i", "v2i"]].to_numpy()
    return d, V


def ishak() -> pd.DataFrame:
    return _csv("dat.ishak2007_long")


_HASSELBLAD_TRT = ("no_contact", "self_help", "ind_counseling", "grp_counseling")


def hasselblad_contrasts() -> tuple[pd.DataFrame, np.ndarray]:
    """dat.hasselblad1998 as contrast-based log odds ratios: each study's arms against its
    first arm in the order no_contact < self_help < ind_counseling < grp_counseling; V has
    the baseline arm's variance as the covariance of a study's contrasts."""
    arms = _csv("dat.hasselblad1998")
    # arms with 0 (or all) events: 1/2 added to both cells (escalc's PLO default)
    zero = (arms["xi"] == 0) | (arms["xi"] == arms["ni"])
    arms = arms.assign(xi=arms["xi"] + 0.5 * zero, ni=arms["ni"] + 1.0 * zero)
    rows, blocks = [], []
    for study, g in arms.groupby("study", sort=True):
        g = g.assign(o=g["trt"].map(_HASSELBLAD_TRT.index)).sort_values("o")
        base = g.iloc[0]
        lb = np.log(base.xi / (base.ni - base.xi))
        vb = 1 / base.xi + 1 / (base.ni - base.xi)
        vs = []
        for _, arm in g.iloc[1:].iterrows():
            la = np.log(arm.xi / (arm.ni - arm.xi))
            va = 1 / arm.xi + 1 / (arm.ni - arm.xi)
            row = {"study": int(study), "comp": f"{base.trt}-{arm.trt}", "yi": la - lb}
            for t in _HASSELBLAD_TRT[1:]:
                row[t] = float(arm.trt == t) - float(base.trt == t)
            rows.append(row)
            vs.append(va)
        blocks.append(np.full((len(vs), len(vs)), vb) + np.diag(vs))
    d = pd.DataFrame(rows)
    k = len(d)
    V = np.zeros((k, k))
    pos = 0
    for b in blocks:
        n = b.shape[0]
        V[pos : pos + n, pos : pos + n] = b
        pos += n
    return d, V


def phylo_synthetic(seed: int = 20261202, n_species: int = 24) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic phylogenetic-style data set: an ultrametric tree by random splits (depth 1),
    its Brownian-motion correlation matrix (shared branch length from the root), and 1-3
    estimates per species (metafor's phylogenetic example: ~1|species, ~1|phylo with R, ~1|obs)."""
    rng = np.random.default_rng(seed)
    names = [f"sp{i:02d}" for i in range(n_species)]
    C = np.zeros((n_species, n_species))

    def split(members: list[int], depth: float) -> None:
        C[np.ix_(members, members)] = np.maximum(C[np.ix_(members, members)], depth)
        if len(members) == 1:
            C[members[0], members[0]] = 1.0
            return
        cut = int(rng.integers(1, len(members)))
        d2 = depth + (1.0 - depth) * float(rng.uniform(0.1, 0.6))
        split(members[:cut], d2)
        split(members[cut:], d2)

    split(list(range(n_species)), 0.0)
    np.fill_diagonal(C, 1.0)
    L = np.linalg.cholesky(C + 1e-12 * np.eye(n_species))
    phylo_eff = 0.3 * L @ rng.standard_normal(n_species)
    spec_eff = 0.2 * rng.standard_normal(n_species)
    rows = []
    for i, sp in enumerate(names):
        for _ in range(int(rng.integers(1, 4))):
            vi = float(rng.uniform(0.01, 0.08))
            yi = 0.25 + phylo_eff[i] + spec_eff[i] + rng.normal(0, 0.1) + rng.normal(0, np.sqrt(vi))
            rows.append({"species": sp, "phylo": sp, "yi": round(yi, 6), "vi": round(vi, 6)})
    d = pd.DataFrame(rows)
    d["obs"] = np.arange(1, len(d) + 1)
    d["x"] = np.round(rng.uniform(-1, 1, len(d)), 4)
    return d, pd.DataFrame(C, index=names, columns=names)


def two_g_synthetic(seed: int = 7) -> pd.DataFrame:
    """Outcomes within studies within countries: ~ outcome | study and ~ outcome | country."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(18):
        country = f"c{s % 5}"
        for o in ("A", "B"):
            if rng.uniform() < 0.85 or o == "A":
                vi = float(rng.uniform(0.02, 0.1))
                yi = (
                    0.2
                    + (0.15 if o == "B" else 0)
                    + rng.normal(0, 0.25)
                    + rng.normal(0, np.sqrt(vi))
                )
                rows.append({"study": s + 1, "country": country, "outcome": o,
                             "yi": round(yi, 6), "vi": round(vi, 6)})  # fmt: skip
    return pd.DataFrame(rows)


def _k():
    return dict(random="~ 1 | district/school", data=konstantopoulos())


def _k_year():
    return dict(random="~ 1 | district/school", mods="~ year", data=konstantopoulos(),
                test="t", dfs="contain")  # fmt: skip


def _k_ml():
    return dict(random=["~ 1 | district", "~ 1 | study"], data=konstantopoulos(), method="ML")


def _k_cs():
    return dict(random="~ school | district", data=konstantopoulos())


def _assink():
    return dict(random="~ 1 | study/esid", mods="~ deltype", data=assink())


def _berkey_un():
    d, V = berkey()
    return dict(V=V, random="~ outcome | trial", struct="UN", mods="~ 0 + outcome", data=d)


def _berkey_un_year():
    d, V = berkey()
    yc = d["year"] - 1983
    d = d.assign(AL=(d["outcome"] == "AL") * 1.0, PD=(d["outcome"] == "PD") * 1.0)
    d = d.assign(AL_year=d["AL"] * yc, PD_year=d["PD"] * yc)
    return dict(V=V, random="~ outcome | trial", struct="UN",
                mods="~ 0 + AL + PD + AL_year + PD_year", data=d)  # fmt: skip


def _berkey(struct: str):
    def f():
        d, V = berkey()
        return dict(V=V, random="~ outcome | trial", struct=struct, mods="~ 0 + outcome", data=d)

    return f


def _ishak(struct: str):
    def f():
        return dict(random="~ time | study", struct=struct, mods="~ 0 + factor(time)",
                    data=ishak())  # fmt: skip

    return f


def _nma():
    d, V = hasselblad_contrasts()
    return dict(V=V, random="~ comp | study", rho=0.5,
                mods="~ 0 + self_help + ind_counseling + grp_counseling", data=d)  # fmt: skip


def _phylo():
    d, C = phylo_synthetic()
    return dict(random=["~ 1 | species", "~ 1 | phylo", "~ 1 | obs"], R={"phylo": C},
                mods="~ x", data=d)  # fmt: skip


def _two_g():
    return dict(random=["~ outcome | study", "~ outcome | country"], struct=["UN", "CS"],
                mods="~ 0 + outcome", data=two_g_synthetic())  # fmt: skip


def _fixed_sigma():
    return dict(random="~ 1 | district/school", sigma2=[0.05, None], data=konstantopoulos())


def _with_control(case, control: dict[str, Any]):
    def f():
        return case() | {"control": control}

    return f


def _hcs_check_k():
    """two_g_synthetic plus an outcome C seen in one study only: metafor fixes its tau2 to 0
    unless control check.k.gtr.1=FALSE."""
    d = two_g_synthetic()
    extra = pd.DataFrame([{"study": 1, "country": "c1", "outcome": "C", "yi": 0.9, "vi": 0.05}])
    return dict(random="~ outcome | study", struct="HCS", data=pd.concat([d, extra],
                ignore_index=True), control={"check.k.gtr.1": False})  # fmt: skip


#: name -> rma_mv keyword arguments (yi/V default to the data's columns)
CASES: dict[str, Any] = {
    "konstantopoulos2011 ~1|district/school": _k,
    "konstantopoulos2011 ~year t contain": _k_year,
    "konstantopoulos2011 ML two terms": _k_ml,
    "konstantopoulos2011 CS school|district": _k_cs,
    "konstantopoulos2011 sigma2 fixed": _fixed_sigma,
    "assink2016 ~1|study/esid ~deltype": _assink,
    "berkey1998 UN": _berkey_un,
    "berkey1998 UN ~outcome:year": _berkey_un_year,
    "berkey1998 CS": _berkey("CS"),
    "berkey1998 HCS": _berkey("HCS"),
    "berkey1998 DIAG": _berkey("DIAG"),
    "berkey1998 ID": _berkey("ID"),
    "ishak2007 AR": _ishak("AR"),
    "ishak2007 HAR": _ishak("HAR"),
    "ishak2007 CAR": _ishak("CAR"),
    "ishak2007 UN": _ishak("UN"),
    "hasselblad1998 NMA rho=1/2": _nma,
    "phylo synthetic R": _phylo,
    "two G terms UN+CS": _two_g,
    # control= (metafor's names): cholesky=FALSE reaches a higher optimum for ishak2007 UN
    # (G not PSD), REMLf=FALSE drops 1/2 log|X'X|, starting values, check.k.gtr.1=FALSE
    "ishak2007 UN cholesky=FALSE": _with_control(_ishak("UN"), {"cholesky": False}),
    "konstantopoulos2011 REMLf=FALSE sigma2.init": _with_control(
        _k, {"REMLf": False, "sigma2.init": [0.3, 0.01]}
    ),
    "berkey1998 UN tau2.init rho.init": _with_control(
        _berkey_un, {"tau2.init": [0.2, 0.1], "rho.init": 0.3}
    ),
    "synthetic HCS check.k.gtr.1=FALSE": _hcs_check_k,
}


def case_args(name: str) -> dict[str, Any]:
    args = CASES[name]()
    args.setdefault("V", "vi")
    return args


def fit_case(name: str, **over: Any) -> Any:
    """metaparity's rma_mv fit of case ``name`` (``over`` replaces arguments), warnings
    silenced (metafor's own warnings are checked where they matter)."""
    import warnings

    import metaparity as mp

    a = case_args(name) | over
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mp.rma_mv(a.pop("yi", "yi"), a.pop("V"), **a)
