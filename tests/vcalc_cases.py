"""vcalc() cases shared by the unit, live and golden tests: each is (data, kwargs) for
``metaparity.vcalc(data=data, **kwargs)`` and ``metafor::vcalc``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

_METADAT = Path(__file__).resolve().parents[1] / "fixtures" / "metadat"


def metadat(name: str) -> pd.DataFrame:
    return pd.read_csv(_METADAT / f"dat.{name}.csv")


def multiarm(within: bool = True) -> pd.DataFrame:
    """Multi-arm trials (contrasts against a shared control, arm sizes known) with a
    within-subjects study (time points against baseline) and independent subgroups."""
    rows = [
        # study, sub, grp1, grp2, time1, time2, n1, n2, vi, outcome
        (1, "a", "B", "A", 1, 1, 20, 25, 0.10, "x"),
        (1, "a", "C", "A", 1, 1, 30, 25, 0.08, "x"),
        (1, "a", "D", "A", 1, 1, 15, 25, 0.12, "y"),
        (1, "b", "B", "A", 1, 1, 10, 12, 0.20, "x"),
        (2, "a", "T", "P", 1, 1, 40, 40, 0.05, "x"),
        (3, "a", "G", "G", 2, 1, 30, 30, 0.06, "x"),
        (3, "a", "G", "G", 3, 1, 30, 30, 0.07, "x"),
        (3, "a", "G", "G", 5, 1, 30, 30, 0.09, "y"),
        (4, "a", "B", "A", 1, 1, 50, 45, 0.04, "y"),
        (4, "a", "B", "A", 2, 2, 48, 44, 0.05, "y"),
        (4, "a", "C", "A", 2, 2, 47, 44, 0.05, "x"),
        (5, "a", "B", "A", 1, 1, 22, 21, 0.09, "x"),
    ]
    cols = "study sub grp1 grp2 time1 time2 n1 n2 vi outcome".split()
    dat = pd.DataFrame(rows, columns=cols)
    return dat if within else dat[dat["study"] != 3].reset_index(drop=True)


def _rho_matrix(labels: list[Any], values: list[float]) -> pd.DataFrame:
    n = len(labels)
    M = np.eye(n)
    M[np.tril_indices(n, -1)] = values
    M = np.tril(M) + np.tril(M, -1).T
    return pd.DataFrame(M, index=labels, columns=labels)


DELTYPE = _rho_matrix(["general", "overt", "covert"], [0.5, 0.4, 0.3])

#: name -> (data loader, vcalc keyword arguments)
CASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "assink_obs": (
        lambda: metadat("assink2016"),
        dict(vi="vi", cluster="study", obs="esid", rho=0.6),
    ),
    "assink_type_obs": (
        lambda: metadat("assink2016"),
        dict(vi="vi", cluster="study", type="deltype", obs="esid", rho=[0.7, 0.5]),
    ),
    "assink_obs_type_matrix": (
        lambda: metadat("assink2016"),
        dict(vi="vi", cluster="study", type="deltype", obs="esid", rho=[0.6, DELTYPE]),
    ),
    "assink_type_matrix": (
        lambda: metadat("assink2016").drop_duplicates(["study", "deltype"]),
        dict(vi="vi", cluster="study", type="deltype", rho=DELTYPE),
    ),
    "ishak_ar": (
        lambda: metadat("ishak2007_long"),
        dict(vi="vi", cluster="study", time1="time", phi=0.97),
    ),
    "ishak_ar_negative": (
        lambda: metadat("ishak2007_long"),
        dict(vi="vi", cluster="study", time1="time", phi=-0.4),
    ),
    "berkey_rvars": (
        lambda: metadat("berkey1998"),
        dict(vi=1.0, cluster="author", rvars=["v1i", "v2i"]),
    ),
    "multiarm_equal": (
        lambda: multiarm(False),
        dict(vi="vi", cluster="study", grp1="grp1", grp2="grp2"),
    ),
    "multiarm_weights": (
        lambda: multiarm(False),
        dict(vi="vi", cluster="study", grp1="grp1", grp2="grp2", w1="n1", w2="n2"),
    ),
    "multiarm_times": (
        multiarm,
        dict(
            vi="vi",
            cluster="study",
            grp1="grp1",
            grp2="grp2",
            time1="time1",
            time2="time2",
            w1="n1",
            w2="n2",
            phi=0.8,
        ),
    ),
    "multiarm_full": (
        multiarm,
        dict(
            vi="vi",
            cluster="study",
            subgroup="sub",
            type="outcome",
            grp1="grp1",
            grp2="grp2",
            time1="time1",
            time2="time2",
            w1="n1",
            w2="n2",
            rho=0.4,
            phi=0.6,
        ),
    ),
    "multiarm_grp1_only": (
        multiarm,
        dict(vi="vi", cluster="study", grp1="grp1", time1="time1", phi=0.5),
    ),
    "not_pd_nearpd": (
        lambda: metadat("assink2016"),
        dict(vi="vi", cluster="study", type="deltype", rho=0.5, nearpd=True),
    ),
    "not_pd_warns": (
        lambda: metadat("assink2016"),
        dict(vi="vi", cluster="study", obs="esid", rho=-0.6),
    ),
}

#: numeric obs with a rho matrix whose names are not the positions 1..n: metafor < 4.0
#: (3.8.1) used the values as positions, later releases as names
VERSIONED: dict[str, tuple[Any, dict[str, Any]]] = {
    "obs_numeric_matrix_permuted": (
        lambda: pd.DataFrame(
            {"study": [1, 1, 1, 2, 2], "obs": [1, 2, 3, 3, 1], "vi": [0.1, 0.2, 0.3, 0.15, 0.25]}
        ),
        dict(vi="vi", cluster="study", obs="obs", rho=_rho_matrix([3, 1, 2], [0.2, 0.5, 0.8])),
    ),
    "obs_numeric_out_of_range": (
        lambda: pd.DataFrame(
            {"study": [1, 1, 2, 2], "obs": [10, 20, 10, 30], "vi": [0.1, 0.2, 0.3, 0.15]}
        ),
        dict(vi="vi", cluster="study", obs="obs", rho=0.3),
    ),
}


def run(name: str, table: dict[str, Any] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    loader, kwargs = (table or {**CASES, **VERSIONED})[name]
    return loader(), dict(kwargs)
