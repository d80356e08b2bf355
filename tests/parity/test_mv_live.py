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
from pathlib import Path

import pytest

from metaparity.parity.mv import (
    compare_mv,
    failures,
    metafor_rma_mv,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mv_cases import CASES, fit_case  # noqa: E402
from mv_tools_cases import TOOLS  # noqa: E402


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_rma_mv_agrees_with_metafor(metafor, name):
    ours = fit_case(name)
    ref = metafor_rma_mv(ours, metafor)
    assert ref["ok"], ref.get("error")
    comps = compare_mv(ours, ref)
    assert not failures(comps), "\n".join(failures(comps))
    names = {c.quantity for c in comps}
    assert {"optimum_not_below_metafor", "metafor_loglik_at_ours"} <= names


#: predict, confint, ranef and profile (tests/mv_tools_cases.py; the same comparisons are
#: replayed from goldens in test_goldens_mv_tools.py)
TOOL_NAMES = [n for n in TOOLS if n.split(" | ")[0] in ("predict", "confint", "ranef", "profile")]


@pytest.mark.r
@pytest.mark.parametrize("name", TOOL_NAMES)
def test_tool_agrees_with_metafor(metafor, name):
    comps = TOOLS[name](metafor)
    assert comps and not failures(comps), "\n".join(failures(comps)[:5])
