"""Study labels (and sizes) travel with the rows of an escalc result, into rma and diagnostics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metaparity as mp
from metaparity.analysis.diagnostics import influence, leave1out
from metaparity.effects import escalc, study_labels, study_sizes
from metaparity.models.uni import rma

XI, NI = [2, 16, 5, 30, 9], [122, 78, 40, 90, 60]
LABELS = ["Chari 2019", "Vogl 2018", "Bahlis 2018", "Grosicki 2020", "Kumar 2020"]


@pytest.fixture
def dat():
    return escalc("PLO", xi=XI, ni=NI, slab=LABELS)


def test_labels_are_the_slab_index(dat):
    assert dat.index.name == "slab" and list(dat.index) == LABELS
    assert study_labels(dat) == tuple(LABELS)
    assert dat.attrs["slab"] == LABELS  # kept for older readers


def test_no_labels_keeps_the_default_index():
    d = escalc("PLO", xi=XI, ni=NI)
    assert list(d.index) == list(range(5)) and study_labels(d) is None
    frame = pd.DataFrame({"x": XI, "n": NI}, index=list("vwxyz"))
    d = escalc("PLO", xi="x", ni="n", data=frame)
    assert list(d.index) == list("vwxyz") and study_labels(d) is None


@pytest.mark.parametrize(
    "subset",
    [
        lambda d: d.iloc[2:],
        lambda d: d[d.yi > -3],
        lambda d: d.sort_values("yi"),
        lambda d: d.iloc[::-1],
        lambda d: pd.concat([d.iloc[3:], d.iloc[:2]]),
        lambda d: d.loc[["Kumar 2020", "Chari 2019"]],
    ],
    ids=["iloc", "mask", "sort", "reverse", "concat", "loc"],
)
def test_labels_and_sizes_follow_the_rows(dat, subset):
    sub = subset(dat)
    by_label = dict(zip(LABELS, zip(XI, NI, strict=True), strict=True))
    labels = study_labels(sub)
    assert labels == tuple(sub.index)
    # each row still carries its own study: its yi is escalc of that study alone
    for lab, yi in zip(labels, sub["yi"], strict=True):
        x, n = by_label[lab]
        assert yi == escalc("PLO", xi=[x], ni=[n])["yi"].iloc[0]
    np.testing.assert_array_equal(study_sizes(sub), [by_label[lab][1] for lab in labels])


def test_lost_index_means_no_labels_with_a_warning(dat):
    flat = dat.sort_values("yi").reset_index(drop=True)
    with pytest.warns(UserWarning, match=r"attrs\['slab'\].*ignoring them"):
        assert study_labels(flat) is None
    assert study_sizes(flat) is None  # rows renumbered: sizes cannot be matched either
    # concatenating with unlabelled rows drops the name, hence the labels (and pandas
    # drops attrs that differ: measure and sizes too)
    mixed = pd.concat([dat, escalc("PLO", xi=[1], ni=[10])])
    assert mixed.index.name is None and mixed.attrs == {}
    assert study_labels(mixed) is None and study_sizes(mixed) is None
    assert study_labels(np.zeros(3)) is None and study_sizes(None) is None


def test_labels_from_a_column_and_from_labelled_data():
    frame = pd.DataFrame({"study": LABELS, "x": XI, "n": NI})
    d = escalc("PR", xi="x", ni="n", data=frame, slab="study")
    assert list(d.columns) == ["study", "x", "n", "yi", "vi"]
    assert study_labels(d) == tuple(LABELS)
    # escalc on labelled data keeps (and names studies by) its labels
    again = escalc("PLO", xi="x", ni="n", data=d.iloc[1:])
    assert study_labels(again) == tuple(LABELS[1:])
    bad = d.iloc[1:].assign(x=[16, 5, 99, 9])
    with pytest.raises(ValueError, match=r"study 'Grosicki 2020' \(row 3\) has xi=99 > ni=90"):
        escalc("PR", xi="x", ni="n", data=bad)
    with pytest.raises(ValueError, match=r"data has 4 rows but the arguments have 5 values"):
        escalc("PR", xi=XI, ni=NI, data=d.iloc[1:])


def test_slab_must_have_one_label_per_study():
    with pytest.raises(ValueError, match=r"slab has 2 labels but the arguments have 5 values"):
        escalc("PR", xi=XI, ni=NI, slab=["a", "b"])


def test_labels_reach_rma_leave1out_and_influence(dat):
    """metafor: dat <- escalc("PLO", xi=xi, ni=ni, slab=study); res <- rma(yi, vi, data=dat)
    keeps the labels: leave1out(res) and influence(res) are printed by study."""
    sub = dat[dat.index != "Vogl 2018"].sort_values("yi")
    res = mp.rma(data=sub, method="DL")
    assert res.slab == tuple(sub.index)
    assert list(leave1out(res).to_frame().index) == list(sub.index)
    assert list(influence(res).to_frame().index) == list(sub.index)
    assert leave1out(res).to_frame().index.name == "slab"
    # the labels change nothing numerically, and an explicit slab= still wins
    bare = rma(sub["yi"].to_numpy(), sub["vi"].to_numpy(), method="DL")
    assert res.b == bare.b and res.tau2 == bare.tau2
    assert rma(data=sub, method="DL", slab=list("abcd")).slab == tuple("abcd")


def test_pft_sizes_follow_subsetting():
    d = escalc("PFT", xi=XI, ni=NI, slab=LABELS)
    sub = d.iloc[[4, 0, 2]]
    np.testing.assert_array_equal(study_sizes(sub), [60, 122, 40])
    np.testing.assert_array_equal(study_sizes(d), NI)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.integers(0, 4), min_size=1, max_size=5, unique=True))
def test_any_reordered_subset_keeps_labels_sizes_and_fit(rows):
    d = escalc("PFT", xi=XI, ni=NI, slab=LABELS)
    sub = d.iloc[rows]
    assert study_labels(sub) == tuple(LABELS[i] for i in rows)
    np.testing.assert_array_equal(study_sizes(sub), [NI[i] for i in rows])
    direct = escalc("PFT", xi=[XI[i] for i in rows], ni=[NI[i] for i in rows])
    np.testing.assert_array_equal(sub["yi"].to_numpy(), direct["yi"].to_numpy())
