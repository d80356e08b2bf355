"""anova() for rma_mv fits: Wald tests of coefficients (btt) and contrasts (X), and the
likelihood-ratio test between nested fits -- errors without R, agreement live with metafor."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp
from metaparity.parity.mv import failures

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mv_cases import fit_case as fit  # noqa: E402
from mv_tools_cases import KY, NMA, TOOLS, K  # noqa: E402


@pytest.mark.r
@pytest.mark.parametrize("name", [n for n in TOOLS if n.startswith("anova | ")])
def test_anova_agrees_with_metafor(metafor, name):
    comps = TOOLS[name](metafor)
    assert comps and not failures(comps), "\n".join(failures(comps))


def test_lrt_statistic_and_direction():
    full, red = fit(K), fit(K, sigma2=[None, 0])
    a, b = mp.anova(full, red), mp.anova(red, full)
    assert a.LRT == pytest.approx(2 * (full.logLik - red.logLik), rel=1e-12)
    assert (a.df_f, a.df_r) == (3, 2) and b.LRT == a.LRT


def test_reml_with_different_fixed_effects_warns_unless_refit():
    with pytest.warns(UserWarning, match="REML comparisons not meaningful"):
        mp.anova(fit(KY, test="z", dfs="residual"), fit(K))
    r = mp.anova(fit(KY, test="z", dfs="residual"), fit(K), refit=True)
    assert r.refitted and r.method == "ML"


def test_bad_anova_input_is_clear():
    res = fit(NMA)
    with pytest.raises(ValueError, match="btt=7 is out of range: the model has 3"):
        mp.anova(res, btt=7)
    with pytest.raises(ValueError, match="btt='nope' is not a coefficient"):
        mp.anova(res, btt="nope")
    with pytest.raises(ValueError, match="X has 2 columns but the model has 3 coefficients"):
        mp.anova(res, X=[[1, 0]])
    with pytest.raises(ValueError, match="same number of parameters"):
        mp.anova(res, res)
    with pytest.raises(ValueError, match="observed outcomes and/or sampling variances"):
        mp.anova(fit(K), fit("berkey1998 UN"))
    with pytest.raises(ValueError, match="Mismatch between the use of"):
        mp.anova(fit(K, method="ML"), fit(K, sigma2=[None, 0]))
    x = mp.anova(res, X=np.eye(3)[:2])
    assert x.hyp == ("self_help = 0", "ind_counseling = 0")
