"""rma_mv against live metafor rma.mv (R via the bridge): every field at its row of the
tolerance table, plus the likelihood evidence (our log-likelihood at metafor's components
equals metafor's, and our optimum is not below metafor's in either implementation).

The cases (tests/mv_cases.py): three-level (dat.konstantopoulos2011, dat.assink2016),
multivariate with known V (dat.berkey1998: UN, CS, HCS, DIAG, ID), longitudinal
(dat.ishak2007: AR, HAR, CAR, UN), a network meta-analysis (dat.hasselblad1998,
contrast-based, rho = 1/2), a phylogenetic-style known R and two ``~ inner | outer`` terms.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

import metaparity as mp
from metaparity.parity.mv import compare_mv, failures, metafor_rma_mv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mv_cases import CASES, case_args  # noqa: E402


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_rma_mv_agrees_with_metafor(metafor, name):
    a = case_args(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = mp.rma_mv(a.pop("yi", "yi"), a.pop("V"), **a)
    ref = metafor_rma_mv(ours, metafor)
    assert ref["ok"], ref.get("error")
    comps = compare_mv(ours, ref)
    assert not failures(comps), "\n".join(failures(comps))
    names = {c.quantity for c in comps}
    assert {"optimum_not_below_metafor", "metafor_loglik_at_ours"} <= names
