"""vcalc(): the structure of V from the method (no R), and errors that name the row and fix."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaparity as mp
from metaparity.effects.vcalc import nearpd_corr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vcalc_cases import CASES, multiarm, run  # noqa: E402


@pytest.mark.parametrize("name", list(CASES))
def test_V_is_symmetric_block_diagonal_with_vi_on_the_diagonal(name):
    dat, kw = run(name)
    with pytest.warns(UserWarning) if name in ("not_pd_warns", "multiarm_grp1_only") else _null():
        V = mp.vcalc(data=dat, **kw)
    assert np.array_equal(V, V.T)
    if "rvars" not in kw:
        vi = dat["vi"].to_numpy(float)
        assert np.allclose(np.diag(V), vi, rtol=1e-15, atol=0)
    cl = dat[kw["cluster"]].astype(str).to_numpy()
    if "subgroup" in kw:
        cl = cl + "." + dat[kw["subgroup"]].astype(str).to_numpy()
    assert np.all(V[cl[:, None] != cl[None, :]] == 0)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_shared_control_with_equal_arms_correlates_one_half():
    dat = pd.DataFrame({"s": [1, 1], "g1": ["B", "C"], "g2": ["A", "A"], "vi": [1.0, 1.0]})
    V = mp.vcalc("vi", "s", grp1="g1", grp2="g2", data=dat)
    assert V[0, 1] == pytest.approx(0.5, rel=1e-15)
    # with arm sizes n_B, n_C, n_A: corr = (1/n_A) / sqrt((1/n_B + 1/n_A)(1/n_C + 1/n_A))
    V = mp.vcalc("vi", "s", grp1="g1", grp2="g2", w1=[10, 30], w2=[20, 20], data=dat)
    want = (1 / 20) / np.sqrt((1 / 10 + 1 / 20) * (1 / 30 + 1 / 20))
    assert V[0, 1] == pytest.approx(want, rel=1e-14)


def test_ar1_in_time_and_sparse_output():
    dat = pd.DataFrame({"s": [1, 1, 1, 2], "t": [0, 1, 3, 0], "vi": [4.0, 1.0, 9.0, 2.0]})
    V = mp.vcalc("vi", "s", time1="t", phi=0.5, data=dat)
    assert V[0, 1] == pytest.approx(2 * 1 * 0.5, rel=1e-15)
    assert V[0, 2] == pytest.approx(2 * 3 * 0.5**3, rel=1e-15)
    S = mp.vcalc("vi", "s", time1="t", phi=0.5, data=dat, sparse=True)
    assert np.array_equal(S.toarray(), V)
    blocks = mp.blsplit(V, "s", data=dat)
    assert list(blocks) == [1, 2] and blocks[1].shape == (3, 3)


def test_nearpd_returns_a_positive_definite_correlation_matrix():
    R = np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1.0]])
    N = nearpd_corr(R)
    assert np.allclose(np.diag(N), 1) and np.linalg.eigvalsh(N).min() > 0
    assert np.array_equal(N, N.T)


DAT = multiarm()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(obs="outcome"), "obs= is given, so give rho="),
        (dict(type="outcome"), "type= is given, so give rho="),
        (dict(time1="time1"), "give phi="),
        (dict(time1="time1", phi=1.5), r"phi = 1.5; it must be in \[-1, 1\]"),
        (dict(grp2="grp2"), "give only grp1, both grp1 and grp2, or neither"),
        (dict(grp1="grp1", time1="time1", time2="time2", phi=0.5), "time2= is given, so give grp2"),
        (dict(grp1="grp1", grp2="grp2"), "row 6 contrasts a condition with itself"),
        (dict(obs="outcome", rho=np.eye(2)), "give a pandas DataFrame"),
        (
            dict(obs="outcome", rho=pd.DataFrame(np.eye(2), index=["x", "z"], columns=["x", "z"])),
            r"obs value\(s\) 'y' have no row/column",
        ),
        (dict(type="outcome", obs="grp1", rho=0.5), r"give rho=\[within, between\]"),
        (dict(obs="outcome", rho=1.2), "correlations must be in"),
        (
            dict(
                grp1="grp1",
                grp2="grp2",
                w1="n1",
                w2=[0] * 12,
                time1="time1",
                time2="time2",
                phi=0.5,
            ),
            "w2 in row 1 is 0",
        ),
        (dict(cluster="nope"), "cluster='nope' is not a column"),
        (dict(rvars=["n1", "n2"]), "no cluster has that many rows|a cluster has 4 rows"),
    ],
)
def test_bad_input_names_the_problem(kw, match):
    args = dict(vi="vi", cluster="study", data=DAT)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        mp.vcalc(**args)


def test_missing_cluster_and_rvars_order_are_reported_by_row():
    dat = DAT.copy()
    dat.loc[3, "study"] = None
    with pytest.raises(ValueError, match="cluster is missing in row 4"):
        mp.vcalc("vi", "study", data=dat)
    dat = pd.DataFrame({"s": [1, 2, 1], "vi": [1.0, 1, 1], "r1": [1, 1, 0.5], "r2": [np.nan] * 3})
    with pytest.raises(ValueError, match="rows of cluster 1 must be consecutive"):
        mp.vcalc("vi", "s", rvars=["r1", "r2"], data=dat)
    with pytest.raises(ValueError, match="only one row"):
        mp.vcalc([0.1], [1])
