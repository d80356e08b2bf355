"""Numerics at the edges, against live metafor (3.8.1 on the host; 5.1-12 checked by hand).

R (both versions give the same text and threshold, ``1/control$evtol``, evtol = 1e-7)::

    library(metafor)
    rma(c(.1, .5, -.2, .3, .8), c(1e-4, .01, .04, 1, 1e3), method = "REML")
    # Warning: Ratio of largest to smallest sampling variance extremely large.
    #          May not be able to obtain stable results.
    confint(rma(0.3, 0.04))        # Error: Stopped because k = 1.
    escalc("ZCOR", ri = c(.2, .3), ni = c(3, 10))
    # Warning: Cannot estimate the sampling variance when ni <= 3.   (vi[1] is NA)
"""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest

from metaparity import escalc, rma, rma_batch
from metaparity._core.names import METHODS, TESTS

RATIO_TEXT = (
    "Ratio of largest to smallest sampling variance extremely large. May not be able to obtain "
    "stable results."
)
Y5 = [0.1, 0.5, -0.2, 0.3, 0.8]
#: max/min = 1e7: metafor warns (>=), and its P-matrix algebra still keeps ~13 digits
V_WIDE = [1e-4, 0.01, 0.04, 1.0, 1e3]
#: vi = 1e-300: 1/vi^2 overflows; metafor's own QE/I2 are rounding noise there
V_TINY = [1e-300, 0.1, 0.2, 0.3, 0.5]
FIELDS = "b se zval pval ci_lb ci_ub tau2 I2 H2 QE QEp".split()
#: every estimator that metafor 3.8 fits on V_WIDE (DLIT: its iteration oscillates there,
#: "Iterative DL estimator did not converge.", which control="metafor" mirrors)
WIDE_METHODS = [m for m in ("EE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM",
                            "PMM", "SJIT", "GENQ")]  # fmt: skip


def _fit(y, v, **kw):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = rma(y, v, **kw)
    return res, [str(w.message) for w in rec]


def _r_eval(code: str):
    import rpy2.robjects as ro  # optional heavy dependency (the bridge has started R)

    return ro.r(code)


# --------------------------------------------------------------------------- #
# 1. extreme ratios of sampling variances
# --------------------------------------------------------------------------- #
@pytest.mark.r
@pytest.mark.parametrize("test", ["z", "knha"])
@pytest.mark.parametrize("method", WIDE_METHODS)
def test_wide_ratio_matches_metafor_and_warns(metafor, method, test):
    kw = dict(weights=[1.0, 2, 3, 4, 5]) if method == "GENQ" else {}
    ref = metafor.rma(Y5, V_WIDE, method=method, test=test, **kw)
    assert ref["ok"], ref.get("error")
    assert RATIO_TEXT in ref["warnings"]
    res, warned = _fit(Y5, V_WIDE, method=method, test=test, **kw)
    assert any(RATIO_TEXT in w for w in warned), warned
    for f in FIELDS:
        want = ref["fit"][f]
        # closed forms and tightly controlled iterations: metafor agrees to ~1e-13 here
        np.testing.assert_allclose(getattr(res, f), want, rtol=1e-11, atol=1e-14, err_msg=f)


@pytest.mark.r
@pytest.mark.parametrize(
    ("vi", "warns"),
    [
        ([1.0, 1e7, 5.0], True),
        ([1.0, 9.999e6, 5.0], False),
        ([0.0, 1.0, 0.5], False),
        ([2e-7, 2.0, 1.0], True),
    ],  # fmt: skip
)
def test_ratio_warning_threshold_is_metafors(metafor, vi, warns):
    """metafor: ``max(vi)/min(vi) >= 1e7`` and finite (a vi of 0 gives Inf: no warning)."""
    ref = metafor.rma([0.1, 2.0, -2.0], vi, method="REML")
    assert ref["ok"], ref.get("error")
    assert (RATIO_TEXT in ref["warnings"]) is warns
    _, warned = _fit([0.1, 2.0, -2.0], vi, method="REML")
    assert any(RATIO_TEXT in w for w in warned) is warns


def test_rma_mods_warns_too():
    with pytest.warns(UserWarning, match="Ratio of largest to smallest"):
        rma(Y5, V_WIDE, mods=np.array([1.0, 2, 3, 4, 5]), method="REML")


@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize("method", [m for m in METHODS if m != "GENQ"])
def test_tiny_variances_give_finite_results(method, test):
    """vi = 1e-300 (metafor fits it with the warning); before: NaN for ML/REML/I2, silently."""
    res, warned = _fit(Y5, V_TINY, method=method, test=test)
    assert any(RATIO_TEXT in w for w in warned)
    for f in FIELDS:
        assert np.isfinite(getattr(res, f)), f
    p = res.predict()
    assert np.isfinite([p.pred, p.ci_lb, p.ci_ub, p.pi_lb, p.pi_ub]).all()


def test_tiny_variances_qe_is_exact():
    """QE of V_TINY, to 60 digits: 3.16333...; metafor 3.8 and 5.1 print 5.948e+282 (the
    residual of the dominant study, 1e-17, divided by 1e-300), we give the exact value."""
    mpmath.mp.dps = 60
    y = [mpmath.mpf(x) for x in Y5]
    w = [1 / mpmath.mpf(v) for v in V_TINY]
    b = sum(a * c for a, c in zip(w, y, strict=True)) / sum(w)
    qe = float(sum(a * (c - b) ** 2 for a, c in zip(w, y, strict=True)))
    res, _ = _fit(Y5, V_TINY, method="REML")
    assert res.QE == pytest.approx(qe, rel=1e-12)
    assert res.b == 0.1 and res.se == pytest.approx(1e-150, rel=1e-12) and res.tau2 == 0


@pytest.mark.r
@pytest.mark.parametrize("method", ["EE", "SJ", "ML", "REML", "HE"])
def test_tiny_variances_stable_quantities_match_metafor(metafor, method):
    """Where metafor's numbers do not depend on its rounding noise (b, se, tau2 of these
    estimators), they are ours."""
    ref = metafor.rma(Y5, V_TINY, method=method)
    assert RATIO_TEXT in ref["warnings"]
    res, _ = _fit(Y5, V_TINY, method=method)
    for f in ("b", "se", "tau2"):
        np.testing.assert_allclose(getattr(res, f), ref["fit"][f], rtol=1e-10, atol=0, err_msg=f)


@pytest.mark.parametrize("test", ["z", "knha"])
@pytest.mark.parametrize("method", [m for m in METHODS if m != "GENQ"])
def test_tiny_scale_is_equivariant(method, test):
    """(y * 1e-150, v * 1e-300) is (y, v) in other units: b scales by 1e-150, tau^2 by 1e-300,
    z, p, I^2, QE are unchanged (the rescaled fit is exact, not approximately so)."""
    y, v = np.array(Y5), np.array([0.01, 0.02, 0.05, 0.03, 0.04])
    a, _ = _fit(y, v, method=method, test=test)
    b, _ = _fit(y * 1e-150, v * 1e-300, method=method, test=test)
    for f, s in [("b", 1e-150), ("se", 1e-150), ("ci_lb", 1e-150), ("tau2", 1e-300)]:
        assert getattr(b, f) == pytest.approx(getattr(a, f) * s, rel=1e-12, abs=1e-320), f
    for f in ("zval", "pval", "I2", "H2", "QE"):
        assert getattr(b, f) == pytest.approx(getattr(a, f), rel=1e-12, abs=1e-14), f


def test_batch_extreme_rows_equal_rma_and_warn_once():
    Y = np.array([Y5, Y5, Y5])
    V = np.array([V_TINY, [0.1, 0.2, 0.3, 0.1, 0.1], [1e-12, 0.1, 1, 100, 1e4]])
    engines = ["numpy"] + (["numba"] if _has_numba() else [])
    for engine in engines:
        with pytest.warns(UserWarning, match=r"2 meta-analyses \(flat row indices 0, 2\)"):
            res = rma_batch(Y, V, method="REML", engine=engine)
        for i in range(3):
            one, _ = _fit(Y[i], V[i], method="REML")
            for f in FIELDS:
                np.testing.assert_allclose(getattr(res, f)[i], getattr(one, f), rtol=1e-13,
                                           err_msg=f"{engine} {f} row {i}")  # fmt: skip


def _has_numba() -> bool:
    try:
        import numba  # noqa: F401  optional heavy dependency
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- #
# 2. inf and V <= 0 in rma_batch
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("Y", "V", "msg"),
    [
        ([[0.1, 0.2], [0.3, np.inf]], [[0.1, 0.1], [0.1, 0.1]],
         r"Y\[1, 1\] = inf \(meta-analysis 1, study 1\) is not finite; NaN marks padding, "
         r"\+-inf is not a valid effect size"),
        ([[0.1, 0.2]], [[-np.inf, 0.1]],
         r"V\[0, 0\] = -inf \(meta-analysis 0, study 0\) is not finite; NaN marks padding, "
         r"\+-inf is not a valid sampling variance"),
        ([[0.1, 0.2]], [[0.1, 0.0]], r"V\[0, 1\] = 0 <= 0 \(meta-analysis 0, study 1\); "
         r"rma_batch needs positive sampling variances"),
        ([[0.1, 0.2]], [[0.1, -0.5]], r"V\[0, 1\] = -0.5 <= 0"),
    ],
)  # fmt: skip
def test_batch_refuses_inf_and_nonpositive_v(Y, V, msg):
    for engine in ["numpy"] + (["numba"] if _has_numba() else []):
        with pytest.raises(ValueError, match=msg):
            rma_batch(Y, V, method="DL", engine=engine)


def test_batch_nan_is_still_padding():
    res = rma_batch([[0.1, 0.3, np.nan]], [[0.01, 0.02, np.nan]], method="DL")
    assert res.k.tolist() == [2]


# --------------------------------------------------------------------------- #
# 3. confint / predict at k = 1 and k = 2
# --------------------------------------------------------------------------- #
@pytest.mark.r
@pytest.mark.parametrize("method", ["REML", "DL", "EE"])
def test_confint_k1_stops_as_metafor(metafor, method):
    said = str(
        _r_eval(
            f'tryCatch(confint(rma(0.3, 0.04, method = "{method}")), '
            "error = function(e) conditionMessage(e))"
        )[0]
    )
    assert said == "Stopped because k = 1."
    res = rma([0.3], [0.04], method=method)
    with pytest.raises(ValueError, match=r"k = 1 study.*metafor: 'Stopped because k = 1\.'"):
        res.confint()


@pytest.mark.r
@pytest.mark.parametrize(("y", "v"), [([0.3], [0.04]), ([0.3, 0.5], [0.04, 0.05])])
@pytest.mark.parametrize("test", ["z", "t"])
def test_predict_small_k_matches_metafor(metafor, y, v, test):
    ref = metafor.rma(y, v, method="REML", test=test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        p = rma(y, v, method="REML", test=test).predict()
    for q in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        np.testing.assert_allclose(getattr(p, q), ref["predict"][q], rtol=1e-10, err_msg=q)
    if len(y) == 2:
        c = rma(y, v, method="REML").confint()
        for q in ("tau2_lb", "tau2_ub", "I2_ub"):
            np.testing.assert_allclose(getattr(c, q), ref["confint"][q], rtol=1e-6, err_msg=q)


# --------------------------------------------------------------------------- #
# 4. escalc: +-Inf recoded to NaN, small n, invalid inputs
# --------------------------------------------------------------------------- #
_R_ESCALC = """function(args) { w <- character(0)
  r <- withCallingHandlers(tryCatch({e <- do.call(escalc, args)
      list(ok = TRUE, yi = as.numeric(e$yi), vi = as.numeric(e$vi))},
    error = function(x) list(ok = FALSE, err = conditionMessage(x))),
    warning = function(x) { w <<- c(w, conditionMessage(x)); invokeRestart("muffleWarning") })
  r$w <- w; r }"""


def _metafor_escalc(measure: str, **kw):
    import rpy2.robjects as ro  # optional heavy dependency

    args = {}
    for k, v in kw.items():
        if isinstance(v, bool):
            args[k] = ro.BoolVector([v])
        elif isinstance(v, str):
            args[k] = v
        else:
            args[k] = ro.FloatVector(np.atleast_1d(np.asarray(v, dtype=float)).tolist())
    args["measure"] = measure
    res = ro.r(_R_ESCALC)(ro.ListVector(args))
    d = {n: res.rx2(n) for n in res.names}
    out = {"ok": bool(d["ok"][0]), "warnings": [str(s) for s in d["w"]]}
    if out["ok"]:
        out["yi"], out["vi"] = np.asarray(d["yi"], float), np.asarray(d["vi"], float)
    else:
        out["error"] = str(d["err"][0])
    return out


MEANS_SD0 = dict(m1i=[1, 2, 3], sd1i=[0, 0, 1], n1i=[10, 10, 10], m2i=[1, 1, 2],
                 sd2i=[0, 1, 1], n2i=[10, 10, 10])  # fmt: skip
TABLE0 = dict(ai=[0, 0, 10, 5], bi=[10, 10, 0, 5], ci=[0, 5, 10, 0], di=[10, 5, 0, 5])
ONE0 = dict(xi=[0, 10, 5], ni=[10, 10, 10])
ESCALC_CASES = (
    [(m, MEANS_SD0) for m in ("MD", "SMD", "ROM")]
    + [("SMD", dict(m1i=[1, 2], sd1i=[0, 0], n1i=[10, 10], m2i=[2, 2], sd2i=[0, 0],
                    n2i=[10, 10]))]  # fmt: skip
    + [(m, dict(ri=[1, -1, 0.5], ni=[10, 10, 10])) for m in ("ZCOR", "COR")]
    + [("ZCOR", dict(ri=[0.2, 0.3, 0.5], ni=[3, 10, 2])), ("COR", dict(ri=[0.2, 0.3], ni=[1, 10]))]
    + [(m, {**ONE0, **o}) for m in ("PR", "PLN", "PLO", "PAS", "PFT")
       for o in ({}, dict(add=0.5, to="all"), dict(add=0.0, to="none"), dict(to="none"))]
    + [(m, {**TABLE0, **o}) for m in ("OR", "RR", "RD")
       for o in ({}, dict(to="none"), dict(add=0.0, to="only0"), dict(drop00=True))]
)  # fmt: skip


@pytest.mark.r
@pytest.mark.parametrize(("measure", "kw"), ESCALC_CASES)
def test_escalc_edges_match_metafor_cell_by_cell(metafor, measure, kw):
    ref = _metafor_escalc(measure, **kw)
    assert ref["ok"], ref.get("error")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        dat = escalc(measure, **kw)
    ours = [str(w.message) for w in rec]
    yi, vi = dat["yi"].to_numpy(float), dat["vi"].to_numpy(float)
    # metafor's NA are our NaN, in the same cells; the other values agree
    np.testing.assert_array_equal(np.isnan(yi), np.isnan(ref["yi"]))
    np.testing.assert_array_equal(np.isnan(vi), np.isnan(ref["vi"]))
    np.testing.assert_allclose(yi, ref["yi"], rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(vi, ref["vi"], rtol=1e-12, equal_nan=True)
    for text in ("Recoded to NAs.", "Cannot estimate the sampling variance when ni <= 3."):
        assert any(text in w for w in ref["warnings"]) == any(text in w for w in ours), text


@pytest.mark.r
@pytest.mark.parametrize(
    ("measure", "kw"),
    [
        ("MD", dict(m1i=[1, 2], sd1i=[-1, 1], n1i=[10, 10], m2i=[1, 1], sd2i=[1, 1],
                    n2i=[10, 10])),
        ("SMD", dict(m1i=[1, 2], sd1i=[1, 1], n1i=[0, 10], m2i=[1, 1], sd2i=[1, 1],
                     n2i=[10, 10])),
        ("PR", dict(xi=[1, 2], ni=[0, 10])),
        ("PR", dict(xi=[-1, 2], ni=[5, 10])),
        ("PLO", dict(xi=[6, 2], ni=[5, 10])),
        ("OR", dict(ai=[-1, 2], bi=[5, 10], ci=[1, 1], di=[3, 3])),
        ("ZCOR", dict(ri=[1.2, 0.3], ni=[10, 10])),
        ("COR", dict(ri=[0.2, 0.3], ni=[0, 10])),
    ],
)  # fmt: skip
def test_escalc_invalid_inputs_error_as_metafor(metafor, measure, kw):
    ref = _metafor_escalc(measure, **kw)
    assert not ref["ok"]
    with pytest.raises(ValueError) as err:
        escalc(measure, **kw)
    msg = str(err.value)
    assert msg.startswith("study in row 1 has ")
    assert f"(metafor: '{ref['error']}')" in msg  # metafor's reason, quoted
    assert " -- " in msg  # and the fix


@pytest.mark.parametrize("test", ["z", "knha"])
@pytest.mark.parametrize("method", ["EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"])
def test_tiny_variances_meta_regression(method, test):
    """rma(mods=) on vi = 1e-300 (ML gave NaN before) and the unit equivariance.  metafor
    3.8/5.1 stop there with "singular matrix 'a' in solve" (its X'WX with a weight of
    1e300); ours is the exact fit in the unit of the smallest variance."""
    x = np.array([1.0, 2, 3, 4, 5])
    y, v0 = np.array(Y5), np.array([0.01, 0.02, 0.05, 0.03, 0.04])
    res, warned = _fit(Y5, V_TINY, mods=x, method=method, test=test)
    assert any(RATIO_TEXT in w for w in warned)
    for f in ("b", "se", "tau2", "I2", "H2", "QE", "QM"):
        assert np.all(np.isfinite(getattr(res, f))), f
    a, _ = _fit(y, v0, mods=x, method=method, test=test)
    b, _ = _fit(y * 1e-150, v0 * 1e-300, mods=x, method=method, test=test)
    np.testing.assert_allclose(b.b, a.b * 1e-150, rtol=1e-12)
    np.testing.assert_allclose(b.se, a.se * 1e-150, rtol=1e-12)
    np.testing.assert_allclose(b.tau2, a.tau2 * 1e-300, rtol=1e-12, atol=1e-320)
    for f in ("pval", "QM", "QE", "I2"):
        np.testing.assert_allclose(getattr(b, f), getattr(a, f), rtol=1e-12, atol=1e-13)


# --------------------------------------------------------------------------- #
# 5. huge effect sizes
# --------------------------------------------------------------------------- #
@pytest.mark.r
@pytest.mark.parametrize(("scale", "method"), [(1e150, "DL"), (1e150, "EE"), (1e200, "EE")])
def test_huge_yi_where_metafor_fits(metafor, scale, method):
    y = [scale, 2 * scale, -scale]
    ref = metafor.rma(y, [0.1, 0.2, 0.3], method=method)
    assert ref["ok"], ref.get("error")
    res = rma(y, [0.1, 0.2, 0.3], method=method)
    for f in ("b", "se", "tau2", "QE", "pval"):
        np.testing.assert_allclose(getattr(res, f), ref["fit"][f], rtol=1e-12, err_msg=f)


@pytest.mark.r
@pytest.mark.parametrize("method", ["DL", "HE", "REML"])
def test_huge_yi_overflow_is_an_error(metafor, method):
    """|yi| = 1e200: the squared residuals overflow.  metafor 3.8/5.1: DL and HE stop with
    "singular matrix 'a' in solve" (REML does not return within a minute; not run here)."""
    y = [1e200, 2e200, -1e200]
    if method != "REML":
        ref = metafor.rma(y, [0.1, 0.2, 0.3], method=method)
        assert not ref["ok"] and "singular matrix" in ref["error"]
    with pytest.raises(ValueError, match=r"the fit is not finite .*rescale the effect sizes"):
        rma(y, [0.1, 0.2, 0.3], method=method)
