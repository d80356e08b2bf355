"""permutest(): live against metafor's permutest() -- exact tests number for number (p-values,
QMp and the whole permutation distribution) on four data sets with continuous and
categorical moderators and intercept-only models, the options alternative/p2defn/stat/btt,
approximate tests within Monte-Carlo error; counts of distinct permutations; bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp
from metaparity.analysis.permutest import n_permutations, permutest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metareg_cases import PERMUTEST as CASES  # noqa: E402
from metareg_cases import (
    _bcg_int,  # noqa: E402
    case,  # noqa: E402
)


def _case(name):
    return case(CASES, name)


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_permutest_agrees_with_metafor(metafor, name):
    from metaparity.parity.permutest_uni import compare_permutest_uni, metafor_permutest_uni

    res, kw = _case(name)
    ours = permutest(res, **kw)
    rkw = {q: kw[q] for q in ("exact", "iter", "btt", "alternative", "p2defn", "stat") if q in kw}
    ref = metafor_permutest_uni(res, bridge=metafor, **rkw)
    assert ref["ok"], ref.get("error")
    cmps = compare_permutest_uni(res, ours, ref)
    assert ours.exact == ("approximate" not in name)
    assert len(cmps) > (3 if ours.exact else 1)
    bad = [c for c in cmps if not c.ok]
    assert not bad, "\n".join(f"{c.quantity}: {c.ours!r} vs {c.ref!r}" for c in bad[:5])


def test_counts_of_distinct_permutations():
    res, _ = _case("assink 2 per deltype REML exact")
    groups = np.unique(np.asarray(res.X), axis=0, return_counts=True)[1]
    from math import factorial, prod

    assert n_permutations(res) == factorial(6) / prod(factorial(int(g)) for g in groups)
    pt = permutest(res)
    assert pt.exact and pt.iter == n_permutations(res)
    assert n_permutations(_bcg_int()) == 2.0**13


def test_the_observed_data_is_the_first_random_permutation():
    res, _ = _case("bcg ~ablat REML approximate")
    pt = permutest(res, iter=1000, seed=11)
    np.testing.assert_allclose(pt.zval_perm[0], res.zval, rtol=1e-12)
    assert pt.QM_perm[0] == pytest.approx(res.QM, rel=1e-12)
    again = permutest(res, iter=1000, seed=11)
    np.testing.assert_array_equal(pt.pval, again.pval)  # the seed fixes the draws


def test_few_permutations_warn_and_bad_input_is_refused():
    res, _ = _case("bcg ~ablat REML approximate")
    with pytest.warns(UserWarning, match="Monte-Carlo standard error"):
        permutest(res, iter=200, seed=1)
    with pytest.raises(ValueError, match="at least 2 permutations"):
        permutest(res, iter=1)
    with pytest.raises(ValueError, match="alternative='both'"):
        permutest(res, alternative="both")
    with pytest.raises(ValueError, match="Too many iterations required"):
        permutest(res, exact=True)
    with mp.metafor_version("5.1"), pytest.raises(ValueError, match="out of range"):
        permutest(res, btt=[5])
    with mp.metafor_version("3.8"), pytest.warns(UserWarning, match="btt.*disregarded"):
        permutest(res, btt=[5], iter=1000, seed=1)
