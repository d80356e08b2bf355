"""Replay the issue-8 golden file (``fixtures/goldens/metafor-*/diagnostics.json``) without R.

Test tooling that needs a source checkout (the golden file and ``r_scripts/`` live in the
repository, not in the installed package): used by ``tests/test_goldens_diagnostics.py``
and ``scripts/parity_summary_diagnostics.py``.

``r_scripts/goldens_diagnostics.R`` records metafor's answers from the very R functions
the live bridge calls (``mp_rma_mods``, ``mp_influence``, ``mp_bias``, ``mp_rma_glmm`` in
``metaparity/parity/r/metaparity.R``) next to their inputs.  Each ``replay_*`` function runs
metaparity on a record's inputs and compares every quantity with the tolerance table
(:func:`~metaparity.parity.tolerances.compare_values`, :func:`~metaparity.parity.compare.compare_mods`,
:func:`~metaparity.parity.compare.compare_glmm`), exactly as the live tests (``tests/models/test_metareg.py``,
``test_influence.py``, ``test_bias.py``, ``test_glmm.py``) compare with the bridge.

A record is first put into the shape the live bridge returns (the bridge's own
post-processing runs on it), so a golden record and a live answer are read the same way.
Each replay returns a :class:`Replay`: ``rows`` of ``(function, Comparison)`` and
``mismatches`` -- non-numeric disagreements (coefficient names, trimfill's side).
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from metaparity import metafor_version
from metaparity.analysis.bias import fsn, ranktest, regtest, trimfill
from metaparity.analysis.diagnostics import (
    baujat,
    cumul,
    influence,
    leave1out,
    rstandard,
    rstudent,
)
from metaparity.models.glmm import glmm_loglik, rma_glmm
from metaparity.models.metareg import rma_mods
from metaparity.models.results import RmaModsResult, RmaResult
from metaparity.models.uni import rma
from metaparity.parity.compare import compare_glmm, compare_mods, summarise
from metaparity.parity.rbridge import _Bridge
from metaparity.parity.tolerances import Comparison, compare_values, pvalue_condition

__all__ = [
    "KINDS",
    "ROOT",
    "NAME",
    "versions",
    "path_for",
    "Replay",
    "load",
    "label",
    "recorded_as_live",
    "replay",
    "replay_mods",
    "replay_influence",
    "replay_bias",
    "replay_glmm",
    "replay_all",
    "summarise_replays",
    "format_summary",
    "exact_mods",
]

#: record lists in the golden file, in the order the producer writes them
KINDS = ("rma_mods", "influence", "bias", "rma_glmm")
#: the source checkout this file sits in (``tests/..``)
ROOT = Path(__file__).resolve().parents[1]
#: one golden file per metafor version: fixtures/goldens/metafor-X.Y.Z/diagnostics.json
NAME = "diagnostics.json"


def versions() -> list[str]:
    """The metafor versions (oldest first) with a recorded diagnostics golden."""
    found = [
        p.parent.name.removeprefix("metafor-")
        for p in (ROOT / "fixtures" / "goldens").glob(f"metafor-*/{NAME}")
    ]
    return sorted(found, key=lambda v: tuple(int(x) for x in v.replace("-", ".").split(".")))


def path_for(version: str | None = None) -> Path:
    """The diagnostics golden recorded with metafor ``version`` (default: the oldest)."""
    return ROOT / "fixtures" / "goldens" / f"metafor-{version or versions()[0]}" / NAME


@dataclass
class Replay:
    """Comparisons of one golden record: ``rows`` of ``(function, Comparison)``."""

    label: str
    rows: list[tuple[str, Comparison]] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    result: Any = None  # the metaparity result the record was compared with (rma_mods, glmm)
    #: comparisons beyond the table accepted on exact (mpmath) evidence: metaparity within
    #: the tolerance of the exact value, metafor >= 100x farther (see :func:`exact_mods`)
    accepted: list[Comparison] = field(default_factory=list)

    def failures(self) -> list[str]:
        ok = {id(c) for c in self.accepted}
        out = [
            f"{fn} {c.quantity}: ours={c.ours!r} metafor={c.ref!r} rel={c.rel_diff:.2e} "
            f"(rtol {c.tol.rtol:g}, atol {c.tol.atol:g})"
            for fn, c in self.rows
            if not c.ok and id(c) not in ok
        ]
        return self.mismatches + out


def load(path: str | Path | None = None) -> dict[str, Any]:
    """Read the golden file.

    Parameters
    ----------
    path : str or Path, optional
        The JSON written by ``r_scripts/goldens_diagnostics.R``; default
        the oldest ``fixtures/goldens/metafor-*/diagnostics.json`` of the checkout this module sits in.

    Returns
    -------
    dict
        ``provenance`` and one list of records per entry of :data:`KINDS`.
    """
    p = path_for() if path is None else Path(path)
    golden: dict[str, Any] = json.loads(p.read_text())
    return golden


def label(kind: str, rec: dict[str, Any]) -> str:
    parts = [rec["dataset"]]
    if kind == "rma_mods":
        parts.append(rec["mods"])
    if kind == "rma_glmm":
        parts.append(f"nAGQ={rec['nAGQ']}")
        parts.append(rec["test"] + (f" level={rec['level']:g}" if rec["level"] != 95 else ""))
    else:
        parts += [rec["method"], rec["test"]]
    return " | ".join(str(p) for p in parts)


# --------------------------------------------------------------------------- #
# a golden record in the live bridge's shape
# --------------------------------------------------------------------------- #
def _vec(x: Any) -> np.ndarray:
    return np.atleast_1d(np.asarray([np.nan if v is None else v for v in np.atleast_1d(x)],
                                    dtype=float))  # fmt: skip


def _X(rec: dict[str, Any]) -> np.ndarray:
    return np.column_stack([_vec(c) for c in rec["X"]])


def recorded_as_live(kind: str, rec: dict[str, Any]) -> dict[str, Any]:
    """``rec`` post-processed by the bridge method that answers ``kind`` live."""

    class _Recorded(_Bridge):
        backend = "golden"

        def run(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [copy.deepcopy(rec)]

    b = _Recorded()
    y, v = (None, None) if kind == "rma_glmm" else (_vec(rec["yi"]), _vec(rec["vi"]))
    if kind == "rma_mods":
        return b.rma_mods(y, v, _X(rec), method=rec["method"], test=rec["test"],
                          level=rec["level"], colnames=rec["colnames"])  # fmt: skip
    if kind == "influence":
        return b.influence(y, v, method=rec["method"], test=rec["test"], level=rec["level"])
    if kind == "bias":
        return b.bias(y, v, method=rec["method"], test=rec["test"], ni=rec.get("ni"),
                      level=rec["level"])  # fmt: skip
    if kind == "rma_glmm":
        return b.rma_glmm(rec["xi"], rec["ni"], nAGQ=rec["nAGQ"], level=rec["level"],
                          test=rec["test"], at=rec.get("at"))  # fmt: skip
    raise ValueError(f"unknown record kind {kind!r}")


def _fit(y: np.ndarray, v: np.ndarray, method: str, test: str, level: float) -> RmaResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # EE + knha, as metafor warns
        return rma(y, v, method=method, test=test, level=level)


# --------------------------------------------------------------------------- #
# meta-regression
# --------------------------------------------------------------------------- #
def replay_mods(rec: dict[str, Any]) -> Replay:
    """rma(yi, vi, mods = X) vs the record (:func:`~metaparity.parity.compare.compare_mods`)."""
    out = Replay(label("rma_mods", rec))
    ref = recorded_as_live("rma_mods", rec)
    if not ref.get("ok"):
        out.mismatches.append(f"metafor failed when recorded: {ref.get('error')}")
        return out
    X, names = _X(rec), list(rec["colnames"])
    if ref["intercept"]:
        mods = pd.DataFrame(X[:, 1:], columns=names[1:])
    else:
        mods = pd.DataFrame(X, columns=names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = rma_mods(_vec(rec["yi"]), _vec(rec["vi"]), mods, method=rec["method"],
                       test=rec["test"], level=rec["level"], intercept=bool(ref["intercept"]))  # fmt: skip
    out.result = res
    if tuple(ref["fit"]["coef_names"]) != tuple(res.coef_names):
        out.mismatches.append(f"coef_names {res.coef_names} vs metafor {ref['fit']['coef_names']}")
    out.rows = [("rma_mods", c) for c in compare_mods(res, ref)]
    if rec.get("tau2_intercept_only") is not None:  # the model R2 is measured against
        assert res.yi is not None and res.vi is not None  # a fitted model keeps its data
        fit0 = _fit(res.yi, res.vi, res.method, "z", res.level)
        c = compare_values("tau2", fit0.tau2, rec["tau2_intercept_only"], res.method)
        out.rows.append(("rma_mods", _renamed(c, "tau2_intercept_only")))
    bad = [c for _, c in out.rows if not c.ok]
    if bad:
        out.accepted = _metafor_is_the_imprecise_one(res, bad)
    return out


def exact_mods(res: RmaModsResult) -> dict[str, float]:
    """b, se, zval, CI, p-values, tau2, QE, QM of a closed-form (EE, DL) meta-regression at
    60 digits (mpmath) -- the evidence ``tests/models/test_metareg.py::_exact`` gives live.

    Ill-conditioned designs (dat.bcg ``~ ablat + year``: year ~ 1950 next to the intercept,
    cond(X) ~ 5e5) cost metafor's normal-equation solves ~1e-10 relative; metaparity works
    from a QR decomposition.  Iterative estimators: ``{}`` (no evidence, never accepted).
    """
    import mpmath as mp  # optional dependency (a test extra): only this evidence needs it

    if res.method not in ("EE", "FE", "DL") or res.X is None or res.yi is None or res.vi is None:
        return {}
    with mp.workdps(60):
        k, p = res.X.shape
        y = mp.matrix([mp.mpf(float(t)) for t in res.yi])
        v = [mp.mpf(float(t)) for t in res.vi]
        X = mp.matrix([[mp.mpf(float(t)) for t in row] for row in res.X])

        def proj(a):
            A = mp.diag(a)
            return A - A * X * mp.inverse(X.T * A * X) * X.T * A

        def quad(P, z):
            return (z.T * P * z)[0]

        pfe = proj([1 / t for t in v])
        qe = quad(pfe, y)
        df = k - p
        tau2 = mp.mpf(0)
        if res.method == "DL":
            tau2 = max(mp.mpf(0), (qe - df) / sum(pfe[i, i] for i in range(k)))
        w = [1 / (t + tau2) for t in v]
        vb = mp.inverse(X.T * mp.diag(w) * X)
        b = vb * X.T * mp.diag(w) * y
        if res.test in ("knha", "adhoc"):
            s2 = quad(proj(w), y) / df
            vb = vb * (max(s2, 1) if res.test == "adhoc" else s2)
        alpha = 1 - res.level / 100
        crit = stats.norm.isf(alpha / 2) if res.test == "z" else stats.t.isf(alpha / 2, df)
        out = {"tau2": tau2, "QE": qe}
        for j in range(p):
            se = mp.sqrt(vb[j, j])
            z = b[j] / se
            out.update({f"b[{j + 1}]": b[j], f"se[{j + 1}]": se, f"zval[{j + 1}]": z,
                        f"ci_lb[{j + 1}]": b[j] - crit * se, f"ci_ub[{j + 1}]": b[j] + crit * se})  # fmt: skip
            out[f"pval[{j + 1}]"] = (
                mp.erfc(abs(z) / mp.sqrt(2)) if res.test == "z"
                else mp.betainc(mp.mpf(df) / 2, mp.mpf(1) / 2, 0, df / (df + z * z),
                                regularized=True)
            )  # fmt: skip
        bt = list(res.btt)
        bb = mp.matrix([b[i] for i in bt])
        vv = mp.matrix([[vb[i, j] for j in bt] for i in bt])
        qm = (bb.T * mp.inverse(vv) * bb)[0]
        if res.test == "z":
            out["QM"] = qm
            out["QMp"] = mp.gammainc(mp.mpf(len(bt)) / 2, qm / 2, mp.inf, regularized=True)
        else:
            out["QM"] = qm / len(bt)
            out["QMp"] = mp.betainc(mp.mpf(df) / 2, mp.mpf(len(bt)) / 2, 0, df / (df + qm),
                                    regularized=True)  # fmt: skip
        out["QEp"] = mp.gammainc(mp.mpf(df) / 2, qe / 2, mp.inf, regularized=True)
        return {q: float(x) for q, x in out.items()}


def _metafor_is_the_imprecise_one(res: RmaModsResult, bad: list[Comparison]) -> list[Comparison]:
    """``bad`` when every one is metaparity within tolerance of the exact value and metafor
    at least 100x farther from it (the live tests' rule); else ``[]`` (nothing accepted)."""
    ex = exact_mods(res)
    for c in bad:
        if c.quantity not in ex:
            return []
        e = ex[c.quantity]
        ours, theirs = abs(c.ours - e), abs(c.ref - e)
        if not (ours <= c.tol.atol + c.tol.rtol * abs(e) and theirs >= 100 * max(ours, 1e-300)):
            return []
    return list(bad)


# --------------------------------------------------------------------------- #
# case diagnostics (as tests/analysis/test_influence.py::test_diagnostics_match_metafor)
# --------------------------------------------------------------------------- #
L1O_FIELDS = [("estimate", "estimate"), ("se", "se"), ("zval", "zval"), ("pval", "pval"),
              ("ci_lb", "ci.lb"), ("ci_ub", "ci.ub"), ("Q", "Q"), ("Qp", "Qp"),
              ("tau2", "tau2"), ("I2", "I2"), ("H2", "H2")]  # fmt: skip
INF_FIELDS = [("rstudent", "rstudent"), ("dffits", "dffits"), ("cook_d", "cook.d"),
              ("cov_r", "cov.r"), ("tau2_del", "tau2.del"), ("QE_del", "QE.del"),
              ("hat", "hat"), ("weight", "weight"), ("dfbs", "dfbs")]  # fmt: skip


def _tolerance_name(q: str) -> str:
    # quantities outside the tolerance table fall back to the rule for "b"
    return {"Q": "QE", "Qp": "QEp", "estimate": "b", "tau2_del": "tau2", "QE_del": "QE"}.get(q, q)


def _table_conds(tab, test: str, kvec) -> dict[str, list[float]]:
    """p-value condition numbers for a leave1out/cumul table with k studies per row."""
    zc = [pvalue_condition(z, "z" if (test == "z" or kk <= 1) else "t", max(kk - 1, 1))
          for z, kk in zip(tab.zval, kvec, strict=True)]  # fmt: skip
    qc = [pvalue_condition(q, "chi2", max(kk - 1, 1)) for q, kk in zip(tab.Q, kvec, strict=True)]
    return {"pval": zc, "Qp": qc}


def _add_vector(out: Replay, fn: str, q: str, ours, ref, method: str, conds=None) -> None:
    ours = np.atleast_1d(np.asarray(ours, dtype=float))
    ref = np.atleast_1d(np.asarray(ref, dtype=float))
    if ours.shape != ref.shape:
        out.mismatches.append(f"{fn}.{q}: shape {ours.shape} vs metafor {ref.shape}")
        return
    for i, (o, r) in enumerate(zip(ours, ref, strict=True)):
        c = compare_values(_tolerance_name(q), o, r, method, conds[i] if conds else 1.0)
        out.rows.append((fn, Comparison(f"{q}[{i + 1}]", *_fields(c))))


def _fields(c: Comparison) -> tuple:
    return (c.ours, c.ref, c.abs_diff, c.rel_diff, c.tol, c.ok)


def replay_influence(rec: dict[str, Any]) -> Replay:
    """leave1out, influence, rstudent, rstandard, cumul, baujat vs the record."""
    out = Replay(label("influence", rec))
    ref = recorded_as_live("influence", rec)
    if not ref.get("ok"):
        out.mismatches.append(f"metafor failed when recorded: {ref.get('error')}")
        return out
    method, test = rec["method"], rec["test"]
    res = _fit(_vec(rec["yi"]), _vec(rec["vi"]), method, test, rec["level"])
    k, ee = res.k, method in ("EE", "FE")

    l1o = leave1out(res)
    conds = _table_conds(l1o, test, np.full(k, k - 1))
    for ours, theirs in L1O_FIELDS:
        if ee and ours == "tau2":
            if len(ref["leave1out"]["tau2"]) != 0:  # metafor: no tau2 for EE models
                out.mismatches.append("leave1out.tau2: metafor reports tau2 for an EE model")
            continue
        _add_vector(out, "leave1out", ours, getattr(l1o, ours), ref["leave1out"][theirs],
                    method, conds.get(ours))  # fmt: skip

    inf = influence(res)
    for ours, theirs in INF_FIELDS:
        _add_vector(out, "influence", ours, getattr(inf, ours), ref["influence"][theirs], method)
    # the is.infl flags (0/1, compared exactly)
    _add_vector(out, "influence", "inf", inf.inf.astype(float),
                np.asarray(ref["influence"]["inf"], dtype=float), method)  # fmt: skip

    for name, fn in (("rstudent", rstudent), ("rstandard", rstandard)):
        r = fn(res)
        for q in ("resid", "se", "z"):
            _add_vector(out, name, q, getattr(r, q), ref[name][q], method)

    c = cumul(res)
    conds = _table_conds(c, test, np.arange(1, k + 1))
    for ours, theirs in L1O_FIELDS:
        if ee and ours == "tau2":
            continue
        _add_vector(out, "cumul", ours, getattr(c, ours), ref["cumul"][theirs], method,
                    conds.get(ours))  # fmt: skip

    bj = baujat(res)
    for q in ("x", "y"):
        _add_vector(out, "baujat", q, getattr(bj, q), ref["baujat"][q], method)
    return out


# --------------------------------------------------------------------------- #
# small-study methods (as tests/analysis/test_bias.py::_compare_all)
# --------------------------------------------------------------------------- #
_REG_Q = ("zval", "pval", "dfs", "est", "ci_lb", "ci_ub")
_TF_FIT_Q = ("b", "se", "zval", "pval", "ci_lb", "ci_ub", "tau2")


def replay_bias(rec: dict[str, Any]) -> Replay:
    """ranktest, regtest (12 variants), trimfill (6), fsn (6) vs the record."""
    out = Replay(label("bias", rec))
    ref = recorded_as_live("bias", rec)
    if not ref.get("ok"):
        out.mismatches.append(f"metafor failed when recorded: {ref.get('error')}")
        return out
    method, test = rec["method"], rec["test"]
    yi, vi = _vec(rec["yi"]), _vec(rec["vi"])
    ni = None if rec.get("ni") is None else _vec(rec["ni"])
    res = _fit(yi, vi, method, test, rec["level"])

    def add(fn: str, q: str, ours: Any, theirs: Any, cond: float = 1.0) -> None:
        out.rows.append((fn, compare_values(q, ours, theirs, method, cond)))

    r = ranktest(res)
    add("ranktest", "tau", r.tau, ref["ranktest"]["tau"])
    add("ranktest", "pval", r.pval, ref["ranktest"]["pval"])

    for key, g in ref["regtest"].items():
        if "error" in g:
            out.mismatches.append(f"regtest[{key}]: metafor stopped: {g['error']}")
            continue
        model, pred = key.split("_")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            rt = regtest(res, model=model, predictor=pred, ni=ni)
        dist = "z" if math.isnan(rt.dfs) else "t"
        cond = pvalue_condition(rt.zval, dist, rt.dfs)
        fn = f"regtest[{key}]"
        for q in _REG_Q:
            add(fn, q, getattr(rt, q), g[q], cond if q == "pval" else 1.0)
        b = rt.fit.b if model == "rma" else rt.fit["b"]
        for j in range(2):
            add(fn, f"b[{j + 1}]", b[j], g["b"][j])
        if model == "rma":
            add(fn, "tau2", rt.fit.tau2, g["tau2"])

    for key, t in ref["trimfill"].items():
        fn = f"trimfill[{key}]"
        if "error" in t:
            out.mismatches.append(f"{fn}: metafor stopped: {t['error']}")
            continue
        est, *side = key.split("_")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # se_k0 NaN, as metafor
            tf = trimfill(res, estimator=est, side=side[0] if side else None)
        if tf.side != t["side"]:
            out.mismatches.append(f"{fn}: side {tf.side!r} vs metafor {t['side']!r}")
        add(fn, "k0", tf.k0, t["k0"])
        add(fn, "k", tf.fit.k, t["k"])
        fill_ours = np.asarray(tf.fill, dtype=float)
        fill_ref = np.asarray(t["fill"], dtype=float)
        if fill_ours.shape != fill_ref.shape:
            out.mismatches.append(f"{fn}: {fill_ours.size} studies vs metafor {fill_ref.size}")
            continue
        for i, (a, b) in enumerate(zip(fill_ours, fill_ref, strict=True)):
            add(fn, f"fill[{i + 1}]", a, b)
        add(fn, "se_k0", tf.se_k0, t["se_k0"])
        add(fn, "p_k0", tf.p_k0, t["p_k0"])
        for q, arr in (("yi", tf.yi), ("vi", tf.vi)):
            for i, (a, b) in enumerate(zip(arr, t[q], strict=True)):
                out.rows.append((fn, _renamed(compare_values(q, a, b, method), f"{q}[{i + 1}]")))
        f = tf.fit
        cond = pvalue_condition(f.zval, "z" if f.test == "z" else "t", f.dfs)
        for q in _TF_FIT_Q:
            add(fn, q, getattr(f, q), t[q], cond if q == "pval" else 1.0)

    for key, f in ref["fsn"].items():
        typ = key.split("_")[0]
        kw: dict[str, Any] = {"weighted": True} if key == "Orwin_weighted" else {}
        if key.endswith("_01"):
            kw["alpha"] = 0.01
        fs = fsn(yi, vi, type=typ, **kw)
        fn = f"fsn[{key}]"
        add(fn, "fsnum", fs.fsnum, f["fsnum"])
        for q in ("pval", "meanes", "target"):
            add(fn, q, getattr(fs, q), f[q])
    return out


def _renamed(c: Comparison, name: str) -> Comparison:
    return Comparison(name, *_fields(c))


# --------------------------------------------------------------------------- #
# binomial-normal model (as tests/models/test_glmm.py::test_live_rma_glmm)
# --------------------------------------------------------------------------- #
def replay_glmm(rec: dict[str, Any]) -> Replay:
    """rma_glmm vs the record (:func:`~metaparity.parity.compare.compare_glmm`), and our marginal
    log-likelihood at the record's fixed point ``at`` vs lme4's there."""
    out = Replay(label("rma_glmm", rec))
    ref = recorded_as_live("rma_glmm", rec)
    if not ref.get("ok"):
        out.mismatches.append(f"metafor failed when recorded: {ref.get('error')}")
        return out
    res = rma_glmm(rec["xi"], rec["ni"], nAGQ=rec["nAGQ"], level=rec["level"], test=rec["test"])
    out.result = res
    # ll_marg_at is lme4's likelihood at the producer's fixed point, not at our optimum
    # (compare_glmm's "loglik_at_ours"): compared as "loglik_at_point" instead
    lme = dict(ref.get("lme4") or {})
    at_ll = lme.pop("ll_marg_at", None)
    ref = dict(ref, lme4=dict(lme, ll_marg_at=None))
    fn = f"rma.glmm(nAGQ={res.nAGQ})"  # Laplace (nAGQ = 1) has its own tolerance table
    out.rows = [(fn, c) for c in compare_glmm(res, ref)]
    if at_ll is not None and rec.get("at") is not None:
        mu, tau2 = (float(a) for a in rec["at"])
        comp = [c for _, c in out.rows if c.quantity == "loglik_at_metafor"][0]
        ours = glmm_loglik(res.xi, res.ni, mu, tau2, nAGQ=res.nAGQ)
        ad = abs(ours - at_ll)
        c = Comparison("loglik_at_point", ours, float(at_ll), ad, ad / abs(at_ll), comp.tol,
                       ad <= comp.tol.atol + comp.tol.rtol * abs(at_ll))  # fmt: skip
        out.rows.append((fn, c))
    return out


_REPLAY = {
    "rma_mods": replay_mods,
    "influence": replay_influence,
    "bias": replay_bias,
    "rma_glmm": replay_glmm,
}


#: the metafor that wrote fixtures/goldens/diagnostics.json (its provenance says so)
def replay(kind: str, rec: dict[str, Any], metafor: str | None = None) -> Replay:
    """Replay one record of list ``kind`` (one of :data:`KINDS`), mirroring the metafor
    release that recorded it (``metafor``: the golden file's provenance; None: the release
    selected now)."""
    if metafor is None:
        return _REPLAY[kind](rec)
    with metafor_version(metafor):
        return _REPLAY[kind](rec)


def replay_all(golden: dict[str, Any]) -> list[tuple[str, Replay]]:
    """Every record of ``golden`` replayed, as ``(kind, Replay)``, under the metafor
    release of its provenance."""
    mf = golden["provenance"]["metafor"]
    return [(kind, replay(kind, rec, mf)) for kind in KINDS for rec in golden.get(kind, [])]


def summarise_replays(replays: list[tuple[str, Replay]]) -> dict[tuple[str, str], dict[str, float]]:
    """Per ``(kind, function)`` (``leave1out``, ``regtest``, ... without the variant in
    brackets): ``records``, ``n`` quantities, ``failed`` (beyond the table, not accepted),
    ``max_rel`` (over reference values with ``|ref| >= 1e-8``, as
    :func:`metaparity.parity.compare.summarise`) and ``max_abs`` of the comparisons within the
    table, and ``accepted`` / ``max_rel_accepted`` for those beyond it that were accepted on
    exact evidence.  Non-numeric mismatches count as failures of the record's kind."""
    out: dict[tuple[str, str], dict[str, float]] = {}

    def entry(kind: str, fn: str) -> dict[str, float]:
        return out.setdefault((kind, fn), {"records": 0, "n": 0, "failed": 0, "max_rel": 0.0,
                                           "max_abs": 0.0, "accepted": 0,
                                           "max_rel_accepted": 0.0})  # fmt: skip

    for kind, r in replays:
        acc = {id(c) for c in r.accepted}
        rows = [(fn.split("[")[0], c) for fn, c in r.rows]
        for fn, s in summarise((f, c) for f, c in rows if id(c) not in acc).items():
            t = entry(kind, fn)
            t["records"] += 1
            t["n"] += s["n"]
            t["failed"] += s["failed"]
            t["max_rel"] = max(t["max_rel"], s["max_rel"])
            t["max_abs"] = max(t["max_abs"], s["max_abs"])
        for fn, c in rows:
            if id(c) in acc:
                t = entry(kind, fn)
                t["n"] += 1
                t["accepted"] += 1
                t["max_rel_accepted"] = max(t["max_rel_accepted"], c.rel_diff)
        if r.mismatches:
            entry(kind, kind)["failed"] += len(r.mismatches)
    return out


def format_summary(stats: dict[tuple[str, str], dict[str, float]], provenance: dict) -> str:
    """The table printed by ``scripts/parity_summary_diagnostics.py``."""
    lines = [
        f"metaparity vs goldens metafor-{provenance.get('metafor')}/{NAME} (metafor {provenance.get('metafor')}, "
        f"lme4 {provenance.get('lme4')}, {provenance.get('R')}), replayed without R",
        f"{'kind':9s} {'function':17s} {'records':>7s} {'n':>6s} {'failed':>6s} "
        f"{'max rel':>9s} {'max abs':>9s} {'accepted*':>9s} {'(max rel)':>9s}",
    ]
    for (kind, fn), s in stats.items():
        acc = f"{int(s['accepted']):9d} {s['max_rel_accepted']:9.2e}" if s["accepted"] else ""
        lines.append(
            f"{kind:9s} {fn:17s} {int(s['records']):7d} {int(s['n']):6d} {int(s['failed']):6d} "
            f"{s['max_rel']:9.2e} {s['max_abs']:9.2e} {acc}".rstrip()
        )
    total = sum(int(s["n"]) for s in stats.values())
    lines.append(
        f"total {total} quantities; max rel over |metafor| >= 1e-8, within the tolerance "
        "table; * beyond the table but accepted on exact (mpmath) evidence: metaparity within "
        "tolerance of the exact value, metafor >= 100x farther (ill-conditioned ~ ablat + year)"
    )
    return "\n".join(lines)
