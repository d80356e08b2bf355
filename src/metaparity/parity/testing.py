"""One-line parity checks for a user's own test suite.

>>> # in a test module (the `metafor` fixture comes with metaparity's pytest plugin):
>>> # def test_my_pooling(metafor):
>>> #     res = metaparity.rma(yi, vi, method="PM")
>>> #     assert_agrees_with_metafor(res, bridge=metafor)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from metaparity.analysis.anova import AnovaWald, anova
from metaparity.models.results import RmaResult
from metaparity.parity import rbridge
from metaparity.parity.anova_uni import compare_anova_uni, metafor_anova_uni
from metaparity.parity.compare import compare_mods, compare_result
from metaparity.parity.confint_uni import compare_confint_uni, metafor_confint_uni
from metaparity.parity.fitstats_uni import compare_fitstats_uni, metafor_fitstats_uni
from metaparity.parity.influence_uni import compare_influence_uni, metafor_influence_uni
from metaparity.parity.models import get_model
from metaparity.parity.predict import compare_predict, metafor_predict
from metaparity.parity.tolerances import Comparison

__all__ = ["assert_agrees_with_metafor", "assert_model_agrees_with_metafor"]


def assert_agrees_with_metafor(
    result: RmaResult, bridge: Any = None, **call: Any
) -> list[Comparison]:
    """Fit the same model in metafor (``rma()``, ``predict()``, ``confint()``) and assert
    every quantity agrees (tolerance table).

    For a meta-regression also its inference: the fitted values with CIs and PIs
    (``predict()``), the omnibus Wald test (``anova()``), the fit statistics, ``confint()``
    of tau^2, I^2, H^2 and the coefficients (models with tau^2), and the case diagnostics
    (``influence()``, ``rstudent()``, ``rstandard()``, ``baujat()``; fits without a fixed
    tau^2 or unweighted estimation).

    Parameters
    ----------
    result : RmaResult
        A metaparity fit (:func:`metaparity.rma`); metafor is called with its
        ``yi, vi, method, test, level, weights, measure, ni``.
    bridge : optional
        A metafor bridge (the plugin's ``metafor`` fixture); default
        :func:`metaparity.parity.rbridge.get_bridge`.
    **call
        Overrides of the arguments passed to metafor (e.g. ``transf="ilogit"``).

    Returns
    -------
    list of Comparison
        Every comparison (all within tolerance).

    Raises
    ------
    AssertionError
        metafor failed, or some quantity differs (each one is listed).
    RUnavailable
        No bridge was given and R/metafor is unavailable.
    """
    if bridge is None:
        bridge = rbridge.get_bridge()
    if not result.int_only:
        return _assert_mods(result, bridge, call)
    args = dict(
        yi=result.yi, vi=result.vi, method=result.method, test=result.test, level=result.level,
        weights=result.weights, measure=result.measure, ni=result.ni,
    )  # fmt: skip
    args.update(call)
    ref = bridge.rma(**args)
    if not ref.get("ok"):
        raise AssertionError(f"metafor failed: {ref.get('error')}")
    cmps = compare_result(result, dict(ref, method=args["method"]))
    _raise_if_bad(cmps)
    return cmps


def _assert_mods(result: RmaResult, bridge: Any, call: dict[str, Any]) -> list[Comparison]:
    """A meta-regression: metafor's ``rma(yi, vi, mods = X)`` on the same rows and design."""
    unknown = sorted(set(call) - {"control"})
    if unknown:
        raise ValueError(
            f"assert_agrees_with_metafor: {', '.join(unknown)} cannot be passed for a "
            "meta-regression (only control=)"
        )
    ref = bridge.rma_mods(result.yi, result.vi, result.X, method=result.method,
                          test=result.test, level=result.level, colnames=result.coef_names,
                          control=call.get("control"), weights=result.weights)  # fmt: skip
    if not ref.get("ok"):
        raise AssertionError(f"metafor failed: {ref.get('error')}")
    cmps = compare_mods(result, ref)
    for what, get, cmp in _mods_checks(result):
        r = get(bridge)
        if not r.get("ok"):
            raise AssertionError(f"metafor failed in {what}: {r.get('error')}")
        cmps += [replace(c, quantity=f"{what}: {c.quantity}") for c in cmp(r)]
    _raise_if_bad(cmps)
    return cmps


def _wald(res: RmaResult) -> AnovaWald:
    out = anova(res)
    assert isinstance(out, AnovaWald)
    return out


def _mods_checks(res: RmaResult) -> list[tuple[str, Any, Any]]:
    """(name, bridge -> metafor's record, record -> comparisons) of a meta-regression's
    inference."""
    out: list[tuple[str, Any, Any]] = [
        ("predict", lambda b: metafor_predict(res, b), lambda r: compare_predict(res, r)),
        ("anova", lambda b: metafor_anova_uni(res, b),
         lambda r: compare_anova_uni(res, _wald(res), r)),
        ("fitstats", lambda b: metafor_fitstats_uni(res, b),
         lambda r: compare_fitstats_uni(res, r)),
    ]  # fmt: skip
    if res.method not in ("EE", "FE", "CE") and not res.tau2_fix and res.weights is None:
        out.append(("confint", lambda b: metafor_confint_uni(res, bridge=b),
                    lambda r: compare_confint_uni(res, res.confint(), r)))  # fmt: skip
    standard = res.weighted and res.weights is None and not res.tau2_fix
    if standard and not (np.asarray(res.vi) == 0).any():
        out.append(("influence", lambda b: metafor_influence_uni(res, bridge=b),
                    lambda r: compare_influence_uni(res, r)))  # fmt: skip
    return out


def assert_model_agrees_with_metafor(
    model: str, measure: str, *, bridge: Any = None, level: float = 95, slab: Any = None,
    **inputs: Any,
) -> list[Comparison]:  # fmt: skip
    """Fit a model family (``"mh"``, ``"peto"``, ``"glmm"``, ``"glmm:CM.EL"`` ...) here and in
    metafor, assert every quantity agrees: what ``metaparity parity FILE --model NAME``
    compares, for arrays in a test.

    Parameters
    ----------
    model : str
        A ``--model`` of :data:`metaparity.parity.models.MODELS` other than ``"uni"`` (for
        that one use :func:`assert_agrees_with_metafor`).
    measure : str
        The measure (``"OR"``, ``"RR"``, ``"RD"``, ``"IRR"``, ``"IRD"`` for mh; ``"PETO"``;
        ``"OR"``, ``"IRR"``, ``"PLO"``, ``"IRLN"`` for the GLMMs, as the model takes).
    bridge : optional
        A metafor bridge (the plugin's ``metafor`` fixture); default
        :func:`metaparity.parity.rbridge.get_bridge`.
    level : float
        Confidence level (percent).
    slab : sequence of str, optional
        Study labels.
    **inputs
        The counts by metafor's argument names (``ai=, bi=, ci=, di=`` or ``ai=, n1i=, ci=,
        n2i=``; ``x1i=, t1i=, x2i=, t2i=``; ``xi=, ni=``; ``xi=, ti=``).

    Returns
    -------
    list of Comparison
        Every comparison (all within tolerance).  Equivalent to ``metafor::rma.mh(...)`` /
        ``metafor::rma.peto(...)`` / ``metafor::rma.glmm(...)`` with the quantities of the
        parity harness (for the GLMMs also the likelihood checks: ours at metafor's optimum,
        and our optimum not below metafor's).

    Raises
    ------
    AssertionError
        metafor failed, or some quantity differs (each one is listed).
    """
    entry = get_model(model)
    if entry.fit is None or entry.r_args is None:
        raise ValueError(f"model={model!r}: use assert_agrees_with_metafor(rma(...)) for it")
    arrays = {k: np.asarray(v, dtype=float) for k, v in inputs.items()}
    labels = None if slab is None else [str(x) for x in slab]
    ours = entry.fit(arrays, labels, measure, level)
    if bridge is None:
        bridge = rbridge.get_bridge()
    ref = bridge.call(entry.r_function(measure), **entry.r_args(arrays, measure, level, ours))
    if not ref.get("ok"):
        raise AssertionError(f"metafor failed: {ref.get('error')}")
    cmps = entry.compare(ours, ref, arrays, measure)
    _raise_if_bad(cmps)
    return cmps


def _raise_if_bad(cmps: list[Comparison]) -> None:
    bad = [c for c in cmps if not c.ok]
    if bad:
        lines = [
            f"  {c.quantity}: metaparity {c.ours!r} vs metafor {c.ref!r} (rel {c.rel_diff:.2e}, "
            f"rtol {c.tol.rtol:g}, atol {c.tol.atol:g})"
            for c in bad
        ]
        raise AssertionError("metaparity disagrees with metafor:\n" + "\n".join(lines))
