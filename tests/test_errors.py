"""Bad input: a ValueError naming the study/row, the value and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metaparity import escalc, rma, rma_batch


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(xi=[80, 3], ni=[79, 10]), r"study in row 1 has xi=80 > ni=79"),
        (dict(xi=[-1, 3], ni=[10, 10]), r"row 1 has xi=-1; counts must be"),
        (dict(xi=[0, 3], ni=[0, 10]), r"row 1 has ni=0; a group needs at least one"),
        (dict(xi=[1, 3], ni=[10]), r"arguments differ in length \(xi has 2, ni has 1\)"),
        (dict(xi=["a", 3], ni=[10, 10]), r"xi: row 1 holds 'a', which is not a number"),
    ],
)
def test_escalc_counts(kwargs, match):
    with pytest.raises(ValueError, match=match):
        escalc("PR", **kwargs)


def test_escalc_names_the_study():
    d = pd.DataFrame({"study": ["Chari 2019", "Vogl 2018"], "x": [39, 80], "n": [122, 79]})
    with pytest.raises(ValueError, match=r"study 'Vogl 2018' \(row 2\) has xi=80 > ni=79"):
        escalc("PR", xi="x", ni="n", data=d, slab="study")
    with pytest.raises(ValueError, match=r"xi='events' is not a column of data"):
        escalc("PR", xi="events", ni="n", data=d)


def test_escalc_unknown_measure_and_options():
    with pytest.raises(ValueError, match="unknown measure 'XYZ'"):
        escalc("XYZ", xi=[1], ni=[2])
    with pytest.raises(ValueError, match="to='never'"):
        escalc("PR", xi=[1], ni=[2], to="never")
    with pytest.raises(ValueError, match="k = 0"):
        escalc("PR", xi=[], ni=[])
    with pytest.raises(ValueError, match=r"needs xi and ni"):
        escalc("PR", ai=[1])


@pytest.mark.parametrize(
    "yi,vi,match",
    [
        ([0.1, 0.2], [0.01, -1], r"row 2 has vi=-1.0 < 0"),
        ([0.1, np.inf], [0.01, 0.02], r"row 2 has yi=inf, which is not finite"),
        ([0.1, 0.2], [0.01, np.inf], r"row 2 has vi=inf, which is not finite"),
        ([], [], r"k = 0"),
        ([0.1, 0.2, 0.3], [0.01, 0.02], r"yi has 3, vi has 2"),
    ],
)
def test_rma_bad_yi_vi(yi, vi, match):
    with pytest.raises(ValueError, match=match):
        rma(yi, vi)


def test_rma_missing_and_zero_variances():
    # NaN is a missing value: omitted with a warning naming the study (metafor's na.omit)
    with pytest.warns(UserWarning, match=r"study in row 2: yi\), as metafor does"):
        rma([0.1, np.nan, 0.3], [0.01, 0.02, 0.03], method="DL")
    with pytest.raises(ValueError, match=r"missing values in 1 study \(study in row 2: yi\)"):
        rma([0.1, np.nan, 0.3], [0.01, 0.02, 0.03], na_action="fail")
    # vi = 0: refused by the estimators metafor refuses it for, naming the study
    with pytest.raises(ValueError, match=r"study in row 2 has vi=0; method='DL' needs positive"):
        rma([0.1, 0.2, 0.4], [0.01, 0.0, 0.02], method="DL")


def test_rma_unknown_names():
    with pytest.raises(ValueError, match=r"unknown method 'reml' \(did you mean 'REML'"):
        rma([0.1, 0.2], [0.01, 0.02], method="reml")
    with pytest.raises(ValueError, match=r"unknown test 'KNHA'"):
        rma([0.1, 0.2], [0.01, 0.02], test="KNHA")
    with pytest.raises(ValueError, match="GENQ' needs weights"):
        rma([0.1, 0.2], [0.01, 0.02], method="GENQ")
    with pytest.raises(ValueError, match="level=150"):
        rma([0.1, 0.2], [0.01, 0.02], level=150)


def test_rma_batch_bad():
    with pytest.raises(ValueError, match=r"V\[0, 1\] = -0.1 <= 0"):
        rma_batch([[0.1, 0.2]], [[0.01, -0.1]])
    with pytest.raises(ValueError, match="same shape"):
        rma_batch([[0.1, 0.2]], [[0.01]])
    with pytest.raises(ValueError, match="meta-analysis 1 has no studies"):
        rma_batch([[0.1, 0.2], [np.nan, np.nan]], [[0.01, 0.02], [np.nan, np.nan]])


def test_zero_events_documented_behaviour():
    # metafor: PR adds 1/2 to xi and ni-xi when xi is 0 or ni (to="only0"); PAS/PFT never
    d = escalc("PR", xi=[0, 5], ni=[20, 20])
    assert d["yi"].iloc[0] == pytest.approx(0.5 / 21)
    d = escalc("PR", xi=[0, 5], ni=[20, 20], add=0)
    assert d["vi"].iloc[0] == 0
    with pytest.raises(
        ValueError, match=r"vi=0; method='DL' needs positive.*continuity correction"
    ):
        rma(data=d, method="DL")
    # drop00: studies without events in both arms drop out (NaN), as in metafor
    d = escalc("OR", ai=[0, 3], n1i=[10, 10], ci=[0, 2], n2i=[10, 10], drop00=True)
    assert np.isnan(d["yi"].iloc[0]) and np.isfinite(d["yi"].iloc[1])
