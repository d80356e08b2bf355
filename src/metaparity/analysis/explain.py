"""Pool one data set the way each tool would, and explain every difference.

:func:`apply_policy` carries out one :class:`~metaparity.analysis.policies.Policy`;
:func:`explain` pools under several and, for every pair of policies, says which choice
causes each difference in the results.

How a difference is attributed (computed, not asserted)
-------------------------------------------------------
For policies A and B that differ in the choices D = {d1, ..., dm}, every output ``o``
(estimate, CI, tau^2, its CI, I^2, Q, PI, k) is computed under A, under B, and under A with
*one* choice ``d`` switched to B's value (``A[d := B.d]``), for each ``d`` in D.  The effect
of ``d`` on ``o`` is ``o(A[d := B.d]) - o(A)``; the choices whose effect exceeds the
tolerance are the ones that *move* ``o``.  What the single switches do not account for,
``o(B) - o(A) - sum_d effect_d``, is reported as the interaction (choices acting only
together, e.g. the Q rule of MH pooling only matters with DL tau^2).  An output that is
defined under one policy and not the other (a PI, a tau^2 CI) is attributed to the choices
whose single switch changes whether it is defined.  A switch that makes an invalid
analysis (Peto pooling of a risk difference) is reported as such.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from metaparity._core.io import InputError
from metaparity.analysis.policies import CHOICES, POLICIES, Policy, get_policy
from metaparity.effects.escalc import escalc
from metaparity.effects.transforms import resolve
from metaparity.models.confint import qprofile_tau2
from metaparity.models.mh import rma_mh
from metaparity.models.peto import rma_peto
from metaparity.models.predict import predict
from metaparity.models.uni import rma

__all__ = [
    "PolicyResult",
    "Attribution",
    "Explanation",
    "apply_policy",
    "explain",
    "OUTPUTS",
    "ESCALC_COLUMNS",
]

#: the outputs compared between policies (fields of :class:`PolicyResult`)
OUTPUTS = ("estimate", "ci_lb", "ci_ub", "tau2", "tau2_lb", "tau2_ub", "I2", "Q", "pi_lb",
           "pi_ub", "k")  # fmt: skip
#: escalc column arguments a data table may carry
ESCALC_COLUMNS = ("ai", "bi", "ci", "di", "n1i", "n2i", "m1i", "m2i", "sd1i", "sd2i", "xi",
                  "mi", "ni", "ri", "yi", "vi", "sei")  # fmt: skip
_TWO_BY_TWO = ("ai", "bi", "ci", "di", "n1i", "n2i")


@dataclass(frozen=True)
class PolicyResult:
    """One data set pooled under one policy.

    ``estimate, ci_lb, ci_ub, pi_lb, pi_ub`` are back-transformed (exp for OR/RR);
    ``b, se`` are on the analysis scale.  Undefined outputs (no PI under the policy ...)
    are NaN; ``notes`` says why, and what was assumed.
    """

    policy: str
    measure: str
    k: int
    b: float
    se: float
    estimate: float
    ci_lb: float
    ci_ub: float
    tau2: float
    tau2_lb: float
    tau2_ub: float
    I2: float
    Q: float
    pi_lb: float
    pi_ub: float
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __repr__(self) -> str:
        return (
            f"PolicyResult({self.policy}: {self.measure} {self.estimate:.4g} "
            f"[{self.ci_lb:.4g}, {self.ci_ub:.4g}], tau2={self.tau2:.4g}, I2={self.I2:.1f}%, "
            f"Q={self.Q:.4g}, PI [{self.pi_lb:.4g}, {self.pi_ub:.4g}], k={self.k})"
        )


def _columns(data: pd.DataFrame, cols: Mapping[str, str] | None) -> dict[str, str]:
    """escalc argument -> column name: ``cols`` first, then same-named columns of ``data``."""
    out = {a: a for a in ESCALC_COLUMNS if a in data.columns}
    for arg, col in (cols or {}).items():
        if arg not in ESCALC_COLUMNS:
            raise InputError(
                f"column mapping {arg}={col}: {arg!r} is not an escalc argument; use one of "
                f"{', '.join(ESCALC_COLUMNS)}"
            )
        if col not in data.columns:
            raise InputError(
                f"column mapping {arg}={col}: the table has no column {col!r} "
                f"(columns: {', '.join(map(str, data.columns))})"
            )
        out[arg] = col
    return out


def _check_counts(measure: str, colmap: dict[str, str], data: pd.DataFrame) -> None:
    if measure in ("OR", "RR", "RD") and not (
        {"ai", "ci"} <= set(colmap)
        and ({"bi", "di"} <= set(colmap) or {"n1i", "n2i"} <= set(colmap))
    ):
        raise InputError(
            f"measure {measure} needs 2x2 counts ai, bi, ci, di (or ai, n1i, ci, n2i); the "
            f"table has columns {', '.join(map(str, data.columns))}: map them with --col "
            "ai=COLUMN (cols={'ai': ...})"
        )


def _pooled_fit(pol: Policy, measure: str, data: pd.DataFrame, colmap: dict[str, str],
                level: float) -> Any:  # fmt: skip
    """The MH or Peto fit (:func:`metaparity.models.mh.rma_mh` / ``.peto.rma_peto``)."""
    fit_fn: Any = rma_mh if pol.pooling == "MH" else rma_peto
    kw: dict[str, Any] = {a: data[c].to_numpy() for a, c in colmap.items() if a in _TWO_BY_TWO}
    if not ({"ai", "ci"} <= set(kw) and ({"bi", "di"} <= set(kw) or {"n1i", "n2i"} <= set(kw))):
        raise InputError(
            f"pooling {pol.pooling!r} needs 2x2 counts: ai, bi, ci, di (or ai, n1i, ci, n2i); "
            f"map them with --col (have: {', '.join(colmap) or 'none'})"
        )
    if pol.pooling == "MH":
        kw["measure"] = measure
    elif measure != "OR":
        raise InputError(f"Peto pooling is for odds ratios only, not measure={measure!r}")
    if pol.pooling == "MH" and pol.mh_cc:  # the rule applies to the MH cells too
        return fit_fn(**kw, add=(pol.add, pol.add), to=(pol.to, pol.to),
                      drop00=(pol.drop00, pol.drop00), level=level)  # fmt: skip
    return fit_fn(**kw, add=pol.add, to=pol.to, drop00=pol.drop00, level=level)


def _i2(pol: Policy, q: float, k: int, tau2: float, vi: np.ndarray) -> float:
    if k < 2:
        return 0.0
    if pol.i2 == "Q" or pol.model == "common":
        return 100 * max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    w = 1 / vi
    s2 = (k - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum())
    return float(100 * tau2 / (tau2 + s2))


def _pi(pol: Policy, res: Any, b: float, se: float, tau2: float, k: int,
        level: float, notes: list[str]) -> tuple[float, float]:  # fmt: skip
    nan = (math.nan, math.nan)
    if pol.pi == "none" or pol.model == "common":
        return nan
    if pol.pi == "metafor":
        p = predict(res)
        return float(p.pi_lb), float(p.pi_ub)
    alpha = 1 - level / 100
    df = {"z": math.inf, "t_k2": k - 2, "t_k1": k - 1}[pol.pi]
    if df < 1:
        notes.append(f"PI with {pol.pi}: k = {k} leaves no degrees of freedom")
        return nan
    crit = stats.norm.isf(alpha / 2) if math.isinf(df) else stats.t.isf(alpha / 2, df)
    half = crit * math.sqrt(se * se + tau2)
    return b - half, b + half


def _tau2_ci(pol: Policy, yi: np.ndarray, vi: np.ndarray, level: float,
             notes: list[str]) -> tuple[float, float]:  # fmt: skip
    if pol.tau2_ci == "none" or pol.model == "common" or len(yi) < 2:
        return math.nan, math.nan
    if pol.tau2_ci == "J":
        notes.append("tau^2 CI 'J' (Jackson 2013) is not implemented in metaparity: NaN")
        return math.nan, math.nan
    lb, ub = qprofile_tau2(yi[None, :], vi[None, :], np.ones((1, len(yi))), level)
    return float(lb[0]), float(ub[0])


def apply_policy(
    policy: Policy | str,
    data: pd.DataFrame,
    measure: str = "OR",
    *,
    cols: Mapping[str, str] | None = None,
    level: float = 95.0,
) -> PolicyResult:
    """Pool one data set under one tool policy.

    Parameters
    ----------
    policy : Policy or str
        A :class:`~metaparity.analysis.policies.Policy` or a built-in name
        (``"revman5"``, ``"revman_web"``, ``"meta"``, ``"metafor"``, ``"stata"``).
    data : pandas.DataFrame
        One row per study.
    measure : str
        metafor ``escalc`` measure (``"OR"``, ``"RR"``, ``"RD"``, ``"SMD"`` ...).
    cols : mapping, optional
        escalc argument -> column (``{"ai": "tpos", ...}``); columns named like the
        arguments are used without mapping.
    level : float
        Confidence level in percent.

    Returns
    -------
    PolicyResult

    Raises
    ------
    InputError
        Missing columns, no study left, or a pooling method this build lacks.

    Notes
    -----
    IV pooling with estimated tau^2 is ``metafor::rma(yi, vi, method=, test=)`` on
    ``escalc(measure, ..., add=, to=, drop00=)``.  MH/Peto pooling is ``rma.mh`` /
    ``rma.peto``; its random-effects analysis is the inverse-variance model on the same
    ``yi, vi`` with tau^2 from the policy's estimator -- for DL with ``q_rule="pooled"``
    (RevMan 5) from the Q about the MH/Peto estimate, tau^2 = max(0, (Q - df) / (sum w -
    sum w^2 / sum w)), held fixed (``rma(tau2=)``).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"ai": [4, 6, 3], "bi": [119, 300, 228],
    ...                   "ci": [11, 29, 11], "di": [128, 274, 209]})
    >>> r = apply_policy("metafor", d, "OR")
    >>> r.k, round(r.estimate, 4)
    (3, 0.2477)
    """
    pol = get_policy(policy)
    meas = str(measure).upper()
    colmap = _columns(data, cols)
    _check_counts(meas, colmap, data)
    notes: list[str] = []
    if meas == "SMD" and pol.smd_vtype != "LS":
        notes.append(f"SMD variance {pol.smd_vtype!r} is not in metaparity.escalc: 'LS' used")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        arrays: dict[str, Any] = {a: data[c].to_numpy() for a, c in colmap.items()}
        # Peto pooling: Peto's one-step log OR and its variance are the study estimates
        es_measure = "PETO" if pol.pooling == "Peto" and meas == "OR" else meas
        dat = escalc(es_measure, **arrays, add=pol.add, to=cast(Any, pol.to), drop00=pol.drop00)  # type: ignore[arg-type]
    yi, vi = dat["yi"].to_numpy(float), dat["vi"].to_numpy(float)
    ok = np.isfinite(yi) & np.isfinite(vi)
    if (~ok).any():
        notes.append(f"{int((~ok).sum())} studies not estimable (dropped)")
    yi, vi = yi[ok], vi[ok]
    k = len(yi)
    if k == 0:
        raise InputError(f"no study has an estimable {meas} under policy {pol.name!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _pool(pol, meas, data, colmap, yi, vi, level, notes)


def _pool(pol, meas, data, colmap, yi, vi, level, notes) -> PolicyResult:
    k = len(yi)
    fe = rma(yi, vi, method="EE", level=level)
    pooled = None if pol.pooling == "IV" else _pooled_fit(pol, meas, data, colmap, level)
    q_pooled = pooled is not None and (
        pol.q_rule == "pooled" or (pol.q_rule == "pooled_if_DL" and pol.tau2_method == "DL")
    )
    q = float(pooled.QE) if q_pooled and pooled is not None else float(fe.QE)
    res: Any
    if pol.model == "common":
        res = pooled if pooled is not None else rma(yi, vi, method="EE", test=pol.test,
                                                    level=level)  # fmt: skip
        tau2 = 0.0
    elif pol.tau2_method == "DL" and q_pooled:
        w = 1 / vi
        c = w.sum() - (w**2).sum() / w.sum()
        tau2 = max(0.0, (q - (k - 1)) / c) if k > 1 else 0.0
        res = rma(yi, vi, tau2=tau2, test=cast(Any, pol.test), level=level)
        notes.append("DL tau^2 from the Q about the pooled (MH/Peto) estimate")
    else:
        res = rma(yi, vi, method=cast(Any, pol.tau2_method), test=cast(Any, pol.test), level=level)
        tau2 = float(res.tau2)
    b, se = float(res.b), float(res.se)
    pi = _pi(pol, res, b, se, tau2, k, level, notes)
    tci = _tau2_ci(pol, yi, vi, level, notes)
    back = resolve(True, meas, None)

    def bt(x: float) -> float:
        return float(back(np.asarray(x))) if back is not None and math.isfinite(x) else x

    return PolicyResult(
        policy=pol.name, measure=meas, k=int(res.k), b=b, se=se, estimate=bt(b),
        ci_lb=bt(float(res.ci_lb)), ci_ub=bt(float(res.ci_ub)), tau2=tau2, tau2_lb=tci[0],
        tau2_ub=tci[1], I2=_i2(pol, q, k, tau2, vi), Q=q, pi_lb=bt(pi[0]), pi_ub=bt(pi[1]),
        notes=tuple(notes),
    )  # fmt: skip


# --------------------------------------------------------------------------- #
# explain
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Attribution:
    """How one output moves from policy ``a`` to policy ``b``, choice by choice.

    ``effects`` maps each differing choice to ``o(a with that choice from b) - o(a)``
    (NaN when the single switch is invalid, see ``invalid``); ``movers`` are the choices
    whose effect exceeds the tolerance; ``interaction`` is the part of the total change the
    single switches leave unexplained.  ``defined`` is set when the output exists under one
    policy only (then ``movers`` are the choices that change that).
    """

    a: str
    b: str
    output: str
    value_a: float
    value_b: float
    total: float
    effects: dict[str, float]
    movers: tuple[str, ...]
    interaction: float
    defined: str = ""
    invalid: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        if self.defined:
            who = ", ".join(self.movers) or "no single choice (interaction)"
            return f"{self.output}: {self.defined} -- caused by {who}"
        parts = [f"{c} {self.effects[c]:+.4g}" for c in self.movers]
        if abs(self.interaction) > 0 and (not self.movers or _big(self.interaction, self)):
            parts.append(f"interaction {self.interaction:+.4g}")
        return f"{self.output}: {_f(self.value_a)} -> {_f(self.value_b)} ({self.total:+.4g}): " + (
            "; ".join(parts) or "no single choice"
        )


def _big(x: float, att: Attribution) -> bool:
    scale = max(abs(att.value_a), abs(att.value_b), 1e-12)
    return abs(x) > 1e-6 * scale


def _f(x: float) -> str:
    return "NaN" if not math.isfinite(x) else f"{x:.4g}"


@dataclass(frozen=True)
class Explanation:
    """The pooled results under each policy and the attribution of every difference."""

    measure: str
    results: dict[str, PolicyResult]
    policies: dict[str, Policy]
    attributions: dict[tuple[str, str], list[Attribution]]
    errors: dict[str, str]

    @property
    def table(self) -> pd.DataFrame:
        """Outputs (rows) by policy (columns)."""
        cols = {n: [getattr(r, o) for o in OUTPUTS] for n, r in self.results.items()}
        return pd.DataFrame(cols, index=list(OUTPUTS))

    @property
    def choices(self) -> pd.DataFrame:
        """Choices (rows) by policy (columns)."""
        return pd.DataFrame({n: p.choices() for n, p in self.policies.items()})

    def text(self) -> str:
        """The side-by-side table, the choices, and every pair's attributions as text."""
        out = [f"measure {self.measure}; estimate, CI and PI back-transformed", ""]
        out.append(_render(self.table, fmt=True))
        out += ["", "choices:", _render(self.choices, fmt=False)]
        for n, e in self.errors.items():
            out.append(f"{n}: not computed: {e}")
        for (a, b), atts in self.attributions.items():
            diff = self.policies[a].differs(self.policies[b])
            out += ["", f"{a} vs {b} (differ in: {', '.join(diff)})"]
            out += [f"  {x.text()}" for x in atts] or ["  no output differs"]
            bad = {c: m for x in atts for c, m in x.invalid.items()}
            out += [f"  (switching {c} alone is invalid: {m})" for c, m in bad.items()]
        return "\n".join(out)

    def markdown(self) -> str:
        """The table and attributions as Markdown."""
        t = self.table.map(lambda v: _f(float(v)) if not isinstance(v, str) else v)
        head = "| output | " + " | ".join(t.columns) + " |"
        rows = [head, "|" + "---|" * (len(t.columns) + 1)]
        rows += ["| " + o + " | " + " | ".join(t.loc[o]) + " |" for o in t.index]
        out = ["\n".join(rows)]
        for (a, b), atts in self.attributions.items():
            out.append(
                f"\n**{a} vs {b}** (differ in: {', '.join(self.policies[a].differs(self.policies[b]))})\n"
            )
            out += [f"- {x.text()}" for x in atts] or ["- no output differs"]
        return "\n".join(out)


def _render(df: pd.DataFrame, fmt: bool) -> str:
    cells = df.map(lambda v: _f(float(v)) if fmt else str(v))
    w0 = max(len(str(i)) for i in cells.index)
    ws = [max(len(str(c)), *(len(s) for s in cells[c])) for c in cells.columns]
    lines = [
        " " * w0 + "  " + "  ".join(f"{c:>{w}}" for c, w in zip(cells.columns, ws, strict=True))
    ]
    for i, row in cells.iterrows():
        lines.append(f"{i!s:{w0}}  " + "  ".join(f"{s:>{w}}" for s, w in zip(row, ws, strict=True)))
    return "\n".join(lines)


def _merge_alternatives(
    single: dict[str, PolicyResult | None],
) -> dict[str, PolicyResult | None]:
    """Choices whose single switch gives the very same analysis are alternatives (either one
    makes the change, e.g. IV pooling or the IV Q rule both drop the MH-based Q): they are
    reported once, as ``"pooling/q_rule"``, so the change is not counted twice."""
    groups: dict[tuple, list[str]] = {}
    for c, r in single.items():
        key = (c,) if r is None else tuple(getattr(r, o) for o in OUTPUTS)
        groups.setdefault(key, []).append(c)
    return {"/".join(cs): single[cs[0]] for cs in groups.values()}


def _attribute(a: Policy, b: Policy, ra: PolicyResult, rb: PolicyResult,
               run: Any, tol: float) -> list[Attribution]:  # fmt: skip
    diff = a.differs(b)
    single: dict[str, PolicyResult | None] = {}
    invalid: dict[str, str] = {}
    for c in diff:
        try:
            single[c] = run(a.with_choice(**{c: getattr(b, c)}))
        except ValueError as err:  # InputError too: an analysis that cannot be made
            single[c], invalid[c] = None, str(err)
    single = _merge_alternatives(single)
    out = []
    for o in OUTPUTS:
        va, vb = float(getattr(ra, o)), float(getattr(rb, o))
        fa, fb = math.isfinite(va), math.isfinite(vb)
        if not fa and not fb:
            continue
        vals = {c: (float(getattr(r, o)) if r is not None else math.nan) for c, r in single.items()}
        if fa != fb:
            movers = tuple(
                c for c, v in vals.items() if single[c] is not None and math.isfinite(v) == fb
            )
            state = f"{'NaN' if not fa else _f(va)} -> {'NaN' if not fb else _f(vb)}"
            out.append(Attribution(a.name, b.name, o, va, vb, math.nan, vals, movers, math.nan,
                                   defined=state, invalid=invalid))  # fmt: skip
            continue
        total = vb - va
        scale = max(abs(va), abs(vb), 1e-300)
        if abs(total) <= tol * scale:
            continue
        effects = {c: v - va for c, v in vals.items()}
        movers = tuple(c for c, e in effects.items() if math.isfinite(e) and abs(e) > tol * scale)
        inter = total - sum(e for e in effects.values() if math.isfinite(e))
        out.append(Attribution(a.name, b.name, o, va, vb, total, effects, movers, inter,
                               invalid=invalid))  # fmt: skip
    return out


def explain(
    data: pd.DataFrame,
    measure: str = "OR",
    policies: Iterable[Policy | str] | None = None,
    *,
    cols: Mapping[str, str] | None = None,
    level: float = 95.0,
    tol: float = 1e-10,
) -> Explanation:
    """Pool under each policy and attribute every difference to the choice causing it.

    Parameters
    ----------
    data, measure, cols, level
        As for :func:`apply_policy`.
    policies : iterable of Policy or str, optional
        Default: all built-in policies (:data:`~metaparity.analysis.policies.POLICIES`).
    tol : float
        Relative change below which an output is "the same".

    Returns
    -------
    Explanation
        ``table`` (DataFrame), ``text()``, ``markdown()`` and, per pair of policies,
        the :class:`Attribution` of each output that differs (see the module docstring
        for the method).  A policy that cannot be applied (e.g. MH pooling without
        ``metaparity.models.mh``) is listed in ``errors`` and left out of the pairs.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"ai": [4, 6, 3, 62], "bi": [119, 300, 228, 13536],
    ...                   "ci": [11, 29, 11, 248], "di": [128, 274, 209, 12619]})
    >>> ex = explain(d, "OR", ["metafor", "revman_web"])
    >>> [a.output for a in ex.attributions[("metafor", "revman_web")]][:3]
    ['ci_lb', 'ci_ub', 'tau2_lb']
    """
    pols = [get_policy(p) for p in (POLICIES.values() if policies is None else policies)]
    _check_counts(str(measure).upper(), _columns(data, cols), data)  # bad input: raise now
    cache: dict[tuple, PolicyResult] = {}

    def run(p: Policy) -> PolicyResult:
        key = tuple(p.choices().values())
        if key not in cache:
            cache[key] = apply_policy(p, data, measure, cols=cols, level=level)
        return cache[key]

    results: dict[str, PolicyResult] = {}
    errors: dict[str, str] = {}
    for p in pols:
        try:
            results[p.name] = run(p)
        except InputError as err:
            errors[p.name] = str(err)
    if not results and len(set(errors.values())) == 1:
        raise InputError(next(iter(errors.values())))
    done = [p for p in pols if p.name in results]
    atts = {
        (a.name, b.name): _attribute(a, b, results[a.name], results[b.name], run, tol)
        for a, b in itertools.combinations(done, 2)
    }
    return Explanation(str(measure).upper(), results, {p.name: p for p in done}, atts, errors)


def parse_policies(spec: str | Sequence[str] | None) -> list[Policy]:
    """``"revman5,meta"`` (or a list of names) -> policies; None -> all built-in."""
    if spec is None:
        return list(POLICIES.values())
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    return [get_policy(n) for n in names if str(n).strip()]


assert set(CHOICES) <= {f.name for f in fields(Policy)}
