"""anova() for rma_mv fits: Wald tests of coefficients (btt) and contrasts (X), and the
likelihood-ratio test between nested fits -- errors without R, agreement live with metafor."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import metaparity as mp
from metaparity.parity.mv import compare_anova_mv, failures, metafor_anova_mv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mv_cases import case_args  # noqa: E402


def fit(name, **over):
    a = case_args(name) | over
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mp.rma_mv(a.pop("yi", "yi"), a.pop("V"), **a)


K = "konstantopoulos2011 ~1|district/school"
KY = "konstantopoulos2011 ~year t contain"
NMA = "hasselblad1998 NMA rho=1/2"


def _cases():
    return {
        "btt z": lambda: dict(res=fit(NMA), btt=[1, 2]),
        "btt t": lambda: dict(res=fit(KY), btt=[1]),
        "btt by name": lambda: dict(res=fit("assink2016 ~1|study/esid ~deltype"),
                                    btt=["deltypeovert"]),
        "X z, not of full rank": lambda: dict(res=fit(NMA), X=[[1, -1, 0], [0, 1, -1],
                                                               [1, 0, -1]]),
        "X z": lambda: dict(res=fit(NMA), X=[[1, -1, 0], [0, 1, -1]]),
        "X t": lambda: dict(res=fit(KY), X=[[1, 1990], [0, 1]]),
        "X UN": lambda: dict(res=fit("berkey1998 UN"), X=[[1, -1]]),
        "LRT REML sigma2 = 0": lambda: dict(res=fit(K), res2=fit(K, sigma2=[None, 0])),
        "LRT ML moderator": lambda: dict(
            res=fit(KY, method="ML", test="z", dfs="residual"), res2=fit(K, method="ML")),
        "LRT REML refit": lambda: dict(res=fit(KY, test="z", dfs="residual"), res2=fit(K),
                                       refit=True),
        "LRT UN vs CS": lambda: dict(res=fit("berkey1998 UN"), res2=fit("berkey1998 CS")),
    }  # fmt: skip


CASES = _cases()


@pytest.mark.r
@pytest.mark.parametrize("name", list(CASES))
def test_anova_agrees_with_metafor(metafor, name):
    kw = CASES[name]()
    ref = metafor_anova_mv(bridge=metafor, **kw)
    assert ref["ok"], ref.get("error")
    res, res2 = kw.pop("res"), kw.pop("res2", None)
    ours = mp.anova(res, res2, **kw)
    comps = compare_anova_mv(ours, ref)
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
