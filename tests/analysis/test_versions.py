"""Numbers that differ between metafor releases, mirrored per release.

Unit tests (no R) select a release with ``metaparity.metafor_version`` and compare with
numbers recorded from that metafor by hand; each block names the metafor version(s) and
the R call.  The runs: metafor 3.8.1 (R 4.2.2, this host), 4.8.0 (R 4.5, Debian 13
root: ``chroot /var/cache/metaparity/trixie Rscript``), 5.1.12 (private library:
``R_LIBS=/var/cache/metaparity/metafor-5 Rscript``).  ``dat`` is
``escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)``.

metafor's fsn(type="General") refits rma() with its default control (threshold 1e-5),
so its REML numbers are ~1e-7 off the REML root metaparity solves to; they are compared
here only where that does not enter (fsnum, closed-form estimators).

The ``r``-marked tests ask the installed metafor (this host: 3.8.1) under its release.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaparity as mp
from metaparity._core.mfversion import CHANGES, since
from metaparity._core.rootfind import RootNotFound, uniroot
from metaparity.analysis.fsn import _General, fsn
from metaparity.analysis.ranktest import ranktest
from metaparity.models.metareg import rma_mods

ROOT = Path(__file__).resolve().parents[2]
REL = 1e-12


def _bcg():
    b = pd.read_csv(ROOT / "fixtures" / "metadat" / "dat.bcg.csv")
    d = mp.escalc("RR", ai=b.tpos, bi=b.tneg, ci=b.cpos, di=b.cneg)
    return b, d.yi.to_numpy(), d.vi.to_numpy()


# --------------------------------------------------------------------------- #
# the CHANGES table
# --------------------------------------------------------------------------- #
def test_changes_name_a_known_release():
    for key, text in CHANGES.items():
        rel = text.split(":", 1)[0]
        assert rel in mp._core.mfversion.KNOWN, key
    assert not since("fsn_general", "3.8") and since("fsn_general", "4.4")
    assert not since("fsn_general_round", "4.6") and since("fsn_general_round", "4.8")
    assert not since("rom_correct", "4.8") and since("rom_correct", "5.0")
    assert not since("test_hksj", "4.4") and since("test_hksj", "4.6")


# --------------------------------------------------------------------------- #
# R's uniroot
# --------------------------------------------------------------------------- #
def test_uniroot_reproduces_r():
    # metafor 3.8.1 host, R 4.2.2: uniroot(f, interval, extendInt=)$root, printed %.17g
    fl = math.floor
    cases = [
        (lambda x: x**3 - 2 * x - 5, (0, 4), "no", 2.0945516481601172),
        (lambda x: math.cos(x) - x, (0, 1), "no", 0.73909105828536981),
        (lambda x: (fl(x) - 7.2) / 3 + 0.001 * x, (0, 3), "upX", 7.9999954615871864),
        (lambda x: math.exp(-x) - 1e-6, (0, 2), "downX", 13.815510552702891),
        (lambda x: 1 / (1 + fl(x)) - 0.013, (0, 10), "downX", 76.000001167837596),
    ]
    for f, (lo, hi), ext, want in cases:
        assert uniroot(f, lo, hi, extend_int=ext) == pytest.approx(want, rel=1e-15, abs=0)
    with pytest.raises(RootNotFound):
        uniroot(lambda x: x * x + 1, -1, 1)


# --------------------------------------------------------------------------- #
# fsn
# --------------------------------------------------------------------------- #
def test_fsn_orwin_weighted_from_4_4():
    _, y, v = _bcg()
    # 3.8.1: fsn(yi, vi, data=dat, type="Orwin") -> 13, meanes -0.74065038121093618
    with mp.metafor_version("3.8"):
        f = fsn(y, v, type="Orwin")
    assert f.fsnum == 13 and f.meanes == pytest.approx(-0.74065038121093618, rel=REL)
    # 4.8.0 and 5.1.12: the same call -> 13, est -0.43028516365409103 (weighted)
    for ver in ("4.8", "5.1"):
        with mp.metafor_version(ver):
            f = fsn(y, v, type="Orwin")
            g = fsn(y, v, type="Orwin", weighted=False)
        assert f.meanes == pytest.approx(-0.43028516365409103, rel=REL)
        assert f.target == pytest.approx(-0.21514258182704551, rel=REL)
        assert g.meanes == pytest.approx(-0.74065038121093618, rel=REL)


def test_fsn_general_binomial_fisher():
    _, y, v = _bcg()
    for ver in ("4.8", "5.1"):
        with mp.metafor_version(ver):
            # 4.8.0 = 5.1.12: fsn(yi, vi, data=dat, type="General", method="EE")
            f = fsn(y, v, type="General", method="EE")
            assert (f.fsnum, f.tau2, f.tau2_fsn) == (370, 0.0, 0.0)
            assert f.pval == pytest.approx(2.2886293069732448e-26, rel=1e-10)
            assert f.est_fsn == pytest.approx(-0.014604979445178018, rel=REL)
            assert f.pval_fsn == pytest.approx(0.050296519362113969, rel=REL)
            # fsn(yi, vi, data=dat, type="General", method="DL", target=-0.2)
            f = fsn(y, v, type="General", method="DL", target=-0.2)
            assert f.fsnum == 29 and f.target == -0.2
            assert f.est_fsn == pytest.approx(-0.19477883868239002, rel=REL)
            assert f.tau2_fsn == pytest.approx(0.4128765656188203, rel=REL)
            assert f.pval_fsn == pytest.approx(0.062468595151047954, rel=REL)
            # fsn(rma(yi, vi, data=dat, method="DL")) -> type "General"
            f = fsn(mp.rma(y, v, method="DL"))
            assert (f.type, f.fsnum, f.method) == ("General", 26, "DL")
            assert f.est == pytest.approx(-0.71411722207322692, rel=REL)
            assert f.tau2 == pytest.approx(0.30876026286237618, rel=REL)
            assert f.est_fsn == pytest.approx(-0.21093635397934135, rel=REL)
            assert f.tau2_fsn == pytest.approx(0.41694243645723594, rel=REL)
            assert f.pval_fsn == pytest.approx(0.053467540975205417, rel=REL)
            # REML (fsnum only, see the module docstring): default 26, target -0.2 29,
            # test="knha" 23, exact=TRUE 27
            assert fsn(y, v, type="General").fsnum == 26
            assert fsn(y, v, type="General", target=-0.2).fsnum == 29
            assert fsn(y, v, type="General", test="knha").fsnum == 23
            assert fsn(y, v, type="General", exact=True).fsnum == 27
            # fsn(yi, vi, data=dat, type="Binomial") -> 6, p 0.022460937500000017
            f = fsn(y, v, type="Binomial")
            assert f.fsnum == 6 and f.pval == pytest.approx(0.0224609375, rel=REL)
            # fsn(yi[1:5], vi[1:5], type="Binomial") -> 0, p 0.0625
            assert fsn(y[:5], v[:5], type="Binomial").fsnum == 0
    # Fisher pooling: 3.8.1 fsn(yi, vi, data=dat, test="Fisher"); 4.8.0/5.1.12
    # fsn(yi, vi, data=dat, pool="fisher") -> 363, p 2.3039686367238267e-51
    for ver in ("3.8", "4.8", "5.1"):
        with mp.metafor_version(ver):
            f = fsn(y, v, pool="fisher")
        assert f.fsnum == 363 and f.pval == pytest.approx(2.3039686367238267e-51, rel=1e-10)


def test_fsn_general_estimates_at_the_root_before_4_8():
    """4.4 and 4.6 evaluate est.fsn/tau2.fsn/pval.fsn at the unrounded root (its floor:
    one study fewer than the N reported); 4.8 at the rounded N (NEWS 4.8; metafor
    commit 252122b3).  No 4.6 is installed here: the 4.6 numbers are the 4.8 model
    evaluated one study lower."""
    _, y, v = _bcg()
    with mp.metafor_version("4.6"):
        old = fsn(y, v, type="General", method="DL")
    with mp.metafor_version("4.8"):
        new = fsn(y, v, type="General", method="DL")
    assert old.fsnum == new.fsnum == 26
    g = _General(y, v, "DL", "z", False)
    assert (old.est_fsn, old.tau2_fsn, old.pval_fsn) == g.at(25)
    assert (new.est_fsn, new.tau2_fsn, new.pval_fsn) == g.at(26)
    # R's root lies just above 25 (25 null studies already give p = 0.0505 > alpha; the
    # search stops a hair to the right of the step), so metafor reports N = 26
    assert g.at(24)[2] < 0.05 < g.at(25)[2]


def test_fsn_model_and_new_types_by_release():
    _, y, v = _bcg()
    res = mp.rma(y, v)
    with mp.metafor_version("3.8"):
        assert fsn(res).type == "Rosenthal"  # 3.8: the model's yi/vi
        for t in ("General", "Binomial"):
            with pytest.raises(ValueError, match="added in metafor 4.4"):
                fsn(y, v, type=t)
    with mp.metafor_version("5.1"), pytest.warns(UserWarning, match="type='General'"):
        assert fsn(res, type="Orwin").type == "General"


# --------------------------------------------------------------------------- #
# ranktest
# --------------------------------------------------------------------------- #
def _rank_data(k: int, slope: float, noise: float = 1.0):
    i = np.arange(1, k + 1)
    vi = 0.01 + 0.09 * ((i * 0.6180339887498949) % 1.0)
    z = np.sqrt(2.0) * np.sin(i * 2.399963229728653)
    return slope * vi + noise * z * np.sqrt(vi), vi


def test_ranktest_large_k_by_release():
    # d <- read.csv(<the data below written at %.17g>); ranktest(d[[1]], d[[2]])
    # 3.8.1 and 4.8.0: pval NaN (exact p-value: counts / gamma(k + 1) = Inf / Inf);
    # 5.1.12: the normal approximation
    cases = [
        (171, 2.0, 1.0, 0.55816993464052289, 2.2854853194578057e-27),
        (200, 2.0, 1.0, 0.55738693467336686, 9.9098302187297945e-32),
    ]
    for k, slope, noise, tau, p5 in cases:
        y, v = _rank_data(k, slope, noise)
        for ver in ("3.8", "4.8"):
            with mp.metafor_version(ver):
                r = ranktest(y, v)
            assert r.tau == pytest.approx(tau, rel=1e-14) and math.isnan(r.pval)
        with mp.metafor_version("5.1"):
            r = ranktest(y, v)
        assert r.pval == pytest.approx(p5, rel=1e-9) and not r.exact
    # tau < 0 at k = 171: the counts stay finite, so R's exact p-value is 0 in every
    # release (3.8.1, 4.8.0, 5.1.12: tau -0.31269349845201244, pval 0)
    y, v = _rank_data(171, -6.0, 0.5)
    for ver in ("3.8", "4.8", "5.1"):
        with mp.metafor_version(ver):
            r = ranktest(y, v)
        assert r.tau == pytest.approx(-0.31269349845201244, rel=1e-14) and r.pval == 0.0


# --------------------------------------------------------------------------- #
# R^2 of a model nested in the intercept-only one
# --------------------------------------------------------------------------- #
def test_r2_without_intercept_column_from_5_0():
    # rma(yi, vi, mods = ~ factor(ablat > 30) - 1, data=dat, method=m,
    #     control=list(threshold=1e-14, maxiter=10000, tol=1e-15, tau2.max=1e8))$R2
    # 3.8.1 and 4.8.0: NULL; 5.1.12:
    want = {"EE": 58.926262806055341, "DL": 52.935615420351624, "REML": 25.684502340406379,
            "PM": 11.570106513778457, "ML": 41.004516711327923}  # fmt: skip
    b, y, v = _bcg()
    g = (b.ablat > 30).to_numpy()
    X = pd.DataFrame({"no": (~g).astype(float), "yes": g.astype(float)})
    for m, r2 in want.items():
        for ver in ("3.8", "4.8"):
            with mp.metafor_version(ver):
                assert math.isnan(rma_mods(y, v, X, method=m, intercept=False).R2)
        with mp.metafor_version("5.1"):
            got = rma_mods(y, v, X, method=m, intercept=False).R2
        assert got == pytest.approx(r2, rel=1e-9), m
        # ~ ablat - 1 is not nested: NULL in every release
        with mp.metafor_version("5.1"):
            assert math.isnan(rma_mods(y, v, b[["ablat"]], method=m, intercept=False).R2)


# --------------------------------------------------------------------------- #
# escalc correct=
# --------------------------------------------------------------------------- #
_G = dict(m1i=[10, 4.2, 25], m2i=[8, 5.1, 20], sd1i=[3, 2.5, 9], sd2i=[2.5, 1.9, 11],
          n1i=[12, 30, 8], n2i=[15, 28, 9])  # fmt: skip
# escalc("ROM", m1i=, m2i=, sd1i=, sd2i=, n1i=, n2i=) with the values above
_ROM_PLAIN = [0.22314355131420976, -0.19415601444095737, 0.22314355131420976]
_ROM_CORR = [0.22363834298087643, -0.1907293169645812, 0.21443799575865422]
_ROM_VI = [0.014010416666666668, 0.016767164382092706, 0.049811111111111112]
_SMD_G = [0.71002494011621831, -0.39798419956144887, 0.46906294777028362]
_SMD_D = [0.73225202593821248, -0.40341538449278902, 0.49426680473920254]
_SMD_D_VI = [0.15992950054612254, 0.070450584327321333, 0.24329639564837879]


def _esc(measure, **kw):
    e = mp.escalc(measure, **_G, **kw)
    return e.yi.to_numpy(), e.vi.to_numpy()


def test_escalc_correct_by_release():
    # 3.8.1: ROM uncorrected; correct= "Extra argument ('correct') disregarded."
    with mp.metafor_version("3.8"):
        np.testing.assert_allclose(_esc("ROM")[0], _ROM_PLAIN, rtol=1e-14)
        with pytest.warns(UserWarning, match="disregarded"):
            np.testing.assert_allclose(_esc("SMD", correct=False)[0], _SMD_G, rtol=1e-13)
    # 4.8.0: ROM uncorrected whatever correct says; SMD correct=FALSE is Cohen's d
    with mp.metafor_version("4.8"):
        for c in (None, True, False):
            np.testing.assert_allclose(_esc("ROM", correct=c)[0], _ROM_PLAIN, rtol=1e-14)
        y, vi = _esc("SMD", correct=False)
        np.testing.assert_allclose(y, _SMD_D, rtol=1e-13)
        np.testing.assert_allclose(vi, _SMD_D_VI, rtol=1e-13)
    # 5.1.12: ROM corrected by default (Lajeunesse 2015, eq. 8), vi unchanged
    with mp.metafor_version("5.1"):
        for c, want in ((None, _ROM_CORR), (True, _ROM_CORR), (False, _ROM_PLAIN)):
            y, vi = _esc("ROM", correct=c)
            np.testing.assert_allclose(y, want, rtol=1e-14)
            np.testing.assert_allclose(vi, _ROM_VI, rtol=1e-14)


# --------------------------------------------------------------------------- #
# method / test aliases
# --------------------------------------------------------------------------- #
def test_aliases_under_every_release():
    """metafor accepts CO/VC from 5.0 and hksj from 4.6 (CHANGES); metaparity accepts them
    under every release: they compute what they name (res.test is "knha", as metafor's)."""
    _, y, v = _bcg()
    for release in ("3.8", "4.4", "4.8", "5.1"):
        with mp.metafor_version(release):
            assert mp.rma(y, v, method="VC").tau2 == mp.rma(y, v, method="HE").tau2
            assert mp.rma(y, v, method="CO").tau2 == mp.rma(y, v, method="HE").tau2
            hk = mp.rma(y, v, test="hksj")
            assert hk.test == "knha" and hk.se == mp.rma(y, v, test="knha").se


# --------------------------------------------------------------------------- #
# live: the installed metafor, mirrored
# --------------------------------------------------------------------------- #
_R_FSN = """
function(yi, vi, type, method) {
  y <- as.numeric(yi); v <- as.numeric(vi); ty <- as.character(type)
  me <- as.character(method)
  f <- tryCatch(if (is.na(me)) fsn(y, v, type = ty) else fsn(y, v, type = ty, method = me),
                error = function(e) e)
  if (inherits(f, "error")) return(list(error = conditionMessage(f)))
  nul <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)
  list(fsnum = nul(f$fsnum), pval = nul(f$pval), meanes = nul(f$meanes),
       est_fsn = nul(f$est.fsn), tau2_fsn = nul(f$tau2.fsn), pval_fsn = nul(f$pval.fsn))
}
"""


@pytest.mark.r
def test_live_fsn_types(metafor):
    """fsn of every type against the installed metafor, under its release (3.8: General
    and Binomial do not exist -- R refuses the type, and so does metaparity)."""
    try:
        import rpy2.robjects as ro
    except ImportError:  # pragma: no cover
        pytest.skip("needs the rpy2 bridge")
    assert mp.get_metafor_version() == mp._core.mfversion.resolve_version(
        metafor.versions()["metafor"], warn=False
    )
    fn = ro.r(_R_FSN)
    _, y, v = _bcg()
    for typ, method in (("Rosenthal", None), ("Orwin", None), ("Rosenberg", None),
                        ("Binomial", None), ("General", "EE"), ("General", "DL")):  # fmt: skip
        out = fn(
            ro.FloatVector(y),
            ro.FloatVector(v),
            ro.StrVector([typ]),
            ro.StrVector([method]) if method else ro.StrVector([ro.NA_Character]),
        )
        ref = {k: out.rx2(k)[0] for k in out.names}
        if "error" in ref:
            assert not since("fsn_general"), ref
            with pytest.raises(ValueError, match="added in metafor 4.4"):
                fsn(y, v, type=typ, method=method)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            o = fsn(y, v, type=typ, method=method)
        assert o.fsnum == ref["fsnum"], (typ, method)
        for q in ("pval", "meanes", "est_fsn", "tau2_fsn", "pval_fsn"):
            a, b = getattr(o, q if q != "meanes" else "meanes"), ref[q]
            if math.isnan(b) or (isinstance(b, float) and b != b):
                assert math.isnan(a), (typ, q, a)
            else:
                assert a == pytest.approx(b, rel=1e-10, abs=1e-300), (typ, method, q)


@pytest.mark.r
def test_live_ranktest_large_k(metafor):
    try:
        import rpy2.robjects as ro
    except ImportError:  # pragma: no cover
        pytest.skip("needs the rpy2 bridge")
    ro.r("suppressPackageStartupMessages(library(metafor))")
    for k in (171, 200):
        y, v = _rank_data(k, 2.0)
        r = ro.r["ranktest"](ro.FloatVector(y), ro.FloatVector(v))
        ours = ranktest(y, v)
        assert ours.tau == pytest.approx(r.rx2("tau")[0], rel=1e-13)
        p = r.rx2("pval")[0]
        assert (math.isnan(ours.pval) and math.isnan(p)) or ours.pval == pytest.approx(p, rel=1e-9)


@pytest.mark.r
def test_live_escalc_rom_and_r2(metafor):
    yi, vi = metafor.escalc("ROM", **_G)
    y, v = _esc("ROM")
    np.testing.assert_allclose(y, yi, rtol=1e-14)
    np.testing.assert_allclose(v, vi, rtol=1e-14)
    b, y, v = _bcg()
    g = (b.ablat > 30).to_numpy().astype(float)
    X = np.column_stack([1 - g, g])
    for m in ("EE", "DL", "REML"):
        ref = metafor.rma_mods(y, v, X, method=m, colnames=["no", "yes"])
        ours = rma_mods(y, v, pd.DataFrame(X, columns=["no", "yes"]), method=m, intercept=False)
        r2 = ref["fit"]["R2"]
        if r2 is None or (isinstance(r2, float) and math.isnan(r2)):
            assert math.isnan(ours.R2) and not since("r2_nested")
        else:
            assert ours.R2 == pytest.approx(r2, rel=1e-9)
