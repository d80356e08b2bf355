"""vcalc() against live metafor::vcalc: every entry of V, and the same non-positive-definite
warnings (tests/vcalc_cases.py: dat.assink2016 obs/type/rho matrices, dat.ishak2007 AR,
dat.berkey1998 rvars, multi-arm and within-subjects contrasts with weights, subgroups,
nearpd)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp
from metaparity._core.mfversion import since
from metaparity.parity.mv import failures
from metaparity.parity.vcalc import compare_vcalc, metafor_vcalc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vcalc_cases import CASES, VERSIONED, multiarm, run  # noqa: E402


def _ours(name: str) -> tuple[object, list[str]]:
    dat, kw = run(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        V = mp.vcalc(data=dat, **kw)
    return V, [str(w.message) for w in caught]


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_vcalc_agrees_with_metafor(metafor, name):
    V, warned = _ours(name)
    dat, kw = run(name)
    ref = metafor_vcalc(metafor, data=dat, **kw)
    assert ref["ok"], ref.get("error")
    bad = failures(compare_vcalc(V, ref))
    assert not bad, bad[:5]

    # the same clusters are reported as not positive definite
    def clusters(msgs: list[str]) -> list[str]:
        return sorted(m.rsplit("cluster", 1)[1].strip(" .'\"") for m in msgs if "positive" in m)

    assert clusters(warned) == clusters(ref["warnings"])


@pytest.mark.r
def test_numeric_obs_as_positions_before_4_0_and_names_after(metafor):
    dat, kw = run("obs_numeric_matrix_permuted", VERSIONED)
    ref = metafor_vcalc(metafor, data=dat, **kw)
    assert ref["ok"], ref.get("error")
    assert not failures(compare_vcalc(mp.vcalc(data=dat, **kw), ref))
    dat, kw = run("obs_numeric_out_of_range", VERSIONED)
    ref = metafor_vcalc(metafor, data=dat, **kw)
    if since("vcalc_names"):
        assert ref["ok"], ref.get("error")
        assert not failures(compare_vcalc(mp.vcalc(data=dat, **kw), ref))
    else:
        assert not ref["ok"] and "subscript out of bounds" in ref["error"]
        with pytest.raises(ValueError, match="positions in the rho matrix"):
            mp.vcalc(data=dat, **kw)


@pytest.mark.r
def test_a_self_contrast_is_an_error_here_and_nan_in_metafor(metafor):
    """grp1 = grp2 at the same time: metafor's V gets NaN (0/0); ours names the row."""
    dat = multiarm()
    kw = dict(vi="vi", cluster="study", grp1="grp1", grp2="grp2")
    ref = metafor_vcalc(metafor, data=dat, **kw)
    rows = np.flatnonzero(dat["study"].to_numpy() == 3)
    assert ref["ok"] and np.isnan(ref["V"][rows[0], rows[1]])
    with pytest.raises(ValueError, match=f"row {rows[0] + 1} contrasts a condition with itself"):
        mp.vcalc(data=dat, **kw)
