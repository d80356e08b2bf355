"""Reproduce a published meta-analysis of proportions, figure by figure.

:func:`reproduce` takes per-study counts (one row per study x outcome x grade)
and the figures a paper printed (one row per outcome x grade x subgroup), pools
every analysis the paper reports -- each subgroup and all studies -- with the
paper's model rule, tests the subgroup difference as RevMan 5.4 does, asks live
metafor the same questions, and gives every printed figure a verdict
(:mod:`metaparity.reproduce.verdicts`).  The bundled default is Tao, Zhou & Niu (2021).

Input schema (CSV/TSV; see ``metaparity reproduce --help``):

* data: ``study, outcome, events, n`` and optionally ``subgroup``, ``grade``,
  ``source``, ``note``, ``included``.  An empty ``events`` cell is an unknown
  count.  A study the paper did not pool for an outcome has ``included`` false, or
  (the curated selinexor convention) an empty count whose note starts with
  ``not pooled``.
* published: ``outcome, subgroup, estimate_pct, ci_low_pct, ci_high_pct`` (or
  ``estimate, ci_low, ci_high`` as proportions) and optionally ``grade``,
  ``k_studies``, ``model``, ``p_subgroup_diff``, ``location``, ``typo_note``.
  ``subgroup`` is ``overall`` for the analysis of all studies.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from metaparity._core.io import InputError
from metaparity._core.mfversion import get_metafor_version
from metaparity._core.names import METHODS, TESTS, check_choice
from metaparity.analysis.policies import POLICIES, get_policy
from metaparity.effects.datasets import (
    selinexor_claims_path,
    selinexor_counts_path,
    selinexor_published_path,
)
from metaparity.effects.escalc import MEASURES, escalc
from metaparity.models.glmm import GlmmResult, rma_glmm
from metaparity.models.metareg import RmaModsResult, design_matrix, rma_mods
from metaparity.models.uni import RmaResult, rma
from metaparity.parity.compare import compare_mods, compare_result
from metaparity.parity.tolerances import Comparison, compare_values
from metaparity.reproduce.inputs import (
    OVERALL,
    ClaimRow,
    _where,
    check_claims,
    load_claims,
    load_counts,
    load_published,
    remark_verdict,
)
from metaparity.reproduce.verdicts import (
    VERDICTS,
    Flag,
    Printed,
    PublishedRow,
    Verdict,
    at_rounding,
    compare_triple,
    consistency_flags,
    within_rounding,
)

__all__ = [
    "ModelPolicy",
    "ZeroEvents",
    "Analysis",
    "SubgroupTest",
    "FigureRow",
    "PValueRow",
    "Reproduction",
    "load_counts",
    "load_published",
    "load_claims",
    "ClaimRow",
    "reproduce",
]


# --------------------------------------------------------------------------- #
# policies
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class ModelPolicy:
    """How the pooling model is chosen for each analysis.

    ``rule="i2"`` (the seed paper's rule, stated in its Methods): random effects
    (``random``, default DerSimonian-Laird) when I^2 > ``threshold`` percent, else
    the fixed/common effect (``fixed``, metafor ``"EE"``).  As in a RevMan forest
    plot, one model serves an outcome: its I^2 is the one of all studies pooled
    (``scope="outcome"``).  When that analysis cannot be computed (unknown counts),
    the model the paper states for the row is used, and failing that the
    analysis's own I^2.  ``scope="analysis"`` applies the rule to each analysis on
    its own.  ``rule="stated"`` uses the model the paper states; any estimator name
    (``rule="DL"``, ``"REML"``...) forces that estimator everywhere.

    A tool policy (:mod:`metaparity.analysis.policies`: ``"revman5"``, ``"revman_web"``,
    ``"meta"``, ``"metafor"``, ``"stata"``) keeps the rule (default ``i2:50``) and sets the
    choices that apply to raw proportions (pooled inverse-variance): the random-effects
    estimator (``random``), the CI (``test``, metafor ``test=``, for the random-effects fits)
    and the I^2 the rule looks at (``i2_def``: from the fixed-effect Q, or from the tau^2 of
    ``random``); ``tool`` names it.
    """

    rule: str = "i2"
    threshold: float = 50.0
    random: str = "DL"
    fixed: str = "EE"
    scope: str = "outcome"
    #: CI/test of the random-effects fits (metafor ``test=``; a tool policy's choice)
    test: str = "z"
    #: I² the rule looks at: ``"Q"`` (fixed-effect Q) or ``"tau2"`` (the random-effects tau²)
    i2_def: str = "Q"
    #: the tool policy (:mod:`metaparity.analysis.policies`) these choices come from, if any
    tool: str = ""

    @property
    def name(self) -> str:
        if self.rule == "i2":
            text = (
                f"I² > {self.threshold:g} % → {self.random} random effects, else "
                f"{self.fixed} (fixed/common effect); I² of the {self.scope}"
            )
        elif self.rule == "stated":
            text = f"the model the paper states ({self.random} for random, {self.fixed} for fixed)"
        else:
            text = f"{self.rule} everywhere"
        if self.tool:
            text += (
                f"; tool policy {self.tool}: IV pooling (raw proportions), tau² {self.random}, "
                f"CI {self.test}, I² from {'Q' if self.i2_def == 'Q' else 'tau²'}"
            )
        return text

    @classmethod
    def parse(cls, spec: str) -> ModelPolicy:
        """The policy a ``--policy`` string names.

        Parameters
        ----------
        spec : str
            ``"i2:50"`` (the shell-safe form: random effects when I² > 50 %, the I² of all
            studies of the outcome), ``"i2:50:analysis"`` (each analysis's own I²),
            ``"stated"``, or an estimator name (metafor ``rma(method=)``: ``"DL"``,
            ``"REML"`` ...).  The older ``"i2>50"`` / ``"i2>50:analysis"`` are accepted
            too, but must be quoted in a shell (unquoted, ``>`` is a redirect: the shell passes
            ``i2`` alone, which is therefore refused rather than read as a default).  The
            threshold is a number with 0 <= t < 100.

        Returns
        -------
        ModelPolicy

        Raises
        ------
        ValueError
            An unreadable or out-of-range threshold, an unknown scope or estimator; the
            message names the value and the accepted forms.

        Examples
        --------
        >>> ModelPolicy.parse("i2:25").threshold, ModelPolicy.parse("i2>25:analysis").scope
        (25.0, 'analysis')
        """
        s = str(spec).strip()
        head, _, rest = s.partition(":")
        if head.strip().lower().replace("-", "_") in POLICIES:
            return cls._parse_tool(head, rest)
        if s.lower().startswith("i2"):
            return cls._parse_i2(spec, s[2:])
        if s.lower() == "stated":
            return cls("stated")
        try:
            return cls(check_choice("model policy", s, METHODS))
        except ValueError as err:
            raise ValueError(f"{err}; or {_POLICY_FORMS}") from None

    @classmethod
    def _parse_tool(cls, name: str, rest: str) -> ModelPolicy:
        """``revman5`` (the paper's I² > 50 % rule with RevMan 5's choices) or
        ``revman5:i2:25`` / ``revman5:stated`` (another rule, the tool's choices)."""
        tool = get_policy(name)
        base = cls.parse(rest) if rest.strip() else cls("i2", 50.0)
        if base.tool or base.rule not in ("i2", "stated"):
            raise ValueError(
                f"model policy {name}:{rest}: after a tool policy give a rule ('i2:50', "
                f"'stated'), not {rest!r}; expected {_POLICY_FORMS}"
            )
        return replace(base, random=tool.tau2_method, test=tool.test, i2_def=tool.i2,
                       tool=tool.name)  # fmt: skip

    @classmethod
    def _parse_i2(cls, spec: str, rest: str) -> ModelPolicy:
        body = rest.strip()
        if body.startswith((">", ":")):
            body = body[1:].strip()
        elif body:
            raise ValueError(f"model policy {spec!r}: expected {_POLICY_FORMS}")
        thr_text, _, scope = body.partition(":")
        thr_text = thr_text.strip()
        if not thr_text:
            raise ValueError(
                f"model policy {spec!r} has no threshold (an unquoted i2>50 in a shell is cut "
                f"at '>', a redirect); write it as i2:50; expected {_POLICY_FORMS}"
            )
        try:
            thr = float(thr_text)
        except ValueError:
            raise ValueError(
                f"model policy {spec!r}: threshold {thr_text!r} is not a number; "
                f"expected {_POLICY_FORMS}"
            ) from None
        if not (math.isfinite(thr) and 0 <= thr < 100):
            raise ValueError(
                f"model policy {spec!r}: threshold {thr_text} must be an I² in percent with "
                f"0 <= threshold < 100; expected {_POLICY_FORMS}"
            )
        scope = scope.strip() or "outcome"
        if scope not in ("outcome", "analysis"):
            raise ValueError(
                f"model policy {spec!r}: scope {scope!r} must be 'outcome' or 'analysis'; "
                f"expected {_POLICY_FORMS}"
            )
        return cls("i2", thr, scope=scope)

    def choose(
        self, own_i2: float | None, outcome_i2: float | None, stated: str
    ) -> tuple[str, str]:
        """The estimator for one analysis, and why.

        Parameters
        ----------
        own_i2 : float or None
            I² (percent) of the analysis's fixed-effect fit; None when unknown.
        outcome_i2 : float or None
            I² of all studies of the outcome; None when unknown (missing counts).
        stated : str
            The model the paper states for the row (``"random"``, ``"fixed"`` ...).

        Returns
        -------
        tuple of (str, str)
            The metafor ``method`` and a one-line reason shown in the report.
        """
        st = _stated_model(stated)
        if self.rule == "stated":
            if st is None:
                return self.random, f"no model stated; {self.random} used"
            return (self.random if st == "random" else self.fixed), f"paper states {st} effect"
        if self.rule != "i2":
            return self.rule, "forced by policy"
        sources: list[tuple[float | None, str]] = []
        if self.scope == "outcome":
            sources.append((outcome_i2, "all studies of the outcome"))
            if outcome_i2 is None and st is not None:
                m = self.random if st == "random" else self.fixed
                return m, f"I² of all studies unknown (missing counts); paper states {st} effect"
        sources.append((own_i2, "this analysis"))
        for i2, where in sources:
            if i2 is not None and math.isfinite(i2):
                big = i2 > self.threshold
                return (
                    self.random if big else self.fixed,
                    f"I² = {i2:.1f} % ({where}) {'>' if big else '≤'} {self.threshold:g} %",
                )
        return self.random, "I² not computable; random effects used"


_POLICY_FORMS = (
    "'i2:50' (random effects when I² > 50 %, else fixed), 'i2:50:analysis' (each analysis's "
    "own I²), 'stated', or an estimator (DL, REML, ...); the old form 'i2>50' works quoted; "
    "or a tool policy (revman5, revman_web, meta, metafor, stata), alone or as 'revman5:i2:25'"
)


def _stated_model(text: str) -> str | None:
    t = str(text or "").lower()
    if "random" in t:
        return "random"
    if "fixed" in t or "common" in t:
        return "fixed"
    return None


@dataclass(frozen=True)
class ZeroEvents:
    """What happens to a study with 0 events (or events = n), whose raw-proportion
    variance p(1-p)/n is 0: ``"drop"`` it (what reproduces the seed paper; RevMan
    cannot weight it either) or ``"cc"`` -- add ``add`` to events and non-events
    (metafor's ``escalc(add=1/2, to="only0")``).  ``add`` must be finite and > 0 (it is
    also the correction of the sensitivity column when ``mode="drop"``); anything else
    raises ``ValueError`` naming the value."""

    mode: str = "drop"
    add: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in ("drop", "cc"):
            raise ValueError(f"zero-event handling {self.mode!r}: choose 'drop' or 'cc'")
        try:
            add = float(self.add)
        except (TypeError, ValueError):
            add = float("nan")
        if isinstance(self.add, bool) or not (math.isfinite(add) and add > 0):
            raise ValueError(
                f"continuity correction --add {self.add!r}: must be a finite number > 0 "
                "(e.g. 0.5, metafor's default); to use no correction, drop zero-event "
                "studies with --zero drop"
            )
        object.__setattr__(self, "add", add)

    @property
    def name(self) -> str:
        if self.mode == "drop":
            return "studies with 0 (or all) events dropped"
        return f"continuity correction {self.add:g} for studies with 0 (or all) events"


# --------------------------------------------------------------------------- #
# analyses
# --------------------------------------------------------------------------- #
@dataclass
class Analysis:
    """One pooled analysis: an outcome x grade, in one subgroup or all studies."""

    outcome: str
    grade: str
    subgroup: str
    studies: list[str]  # included in this analysis by the paper
    missing: list[str]  # included, count unknown
    dropped: list[str] = field(default_factory=list)  # 0 or all events (zero-event policy)
    method: str = ""
    test: str = "z"  # metafor test= of the fit (a tool policy's CI for random effects)
    reason: str = ""
    data: pd.DataFrame | None = None  # the rows pooled: study, events, n, yi, vi
    result: RmaResult | None = None
    alt: RmaResult | None = None  # the other zero-event handling
    alt_data: pd.DataFrame | None = None
    glmm: GlmmResult | None = None  # binomial-normal GLMM on every included study (sensitivity)
    i2_fe: float | None = None  # I^2 from the fixed-effect Q (what a model rule looks at)
    metafor: dict[str, Any] | None = None
    comparisons: list[Comparison] = field(default_factory=list)
    error: str = ""

    @property
    def computable(self) -> bool:
        return not self.missing

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.outcome, self.grade, self.subgroup)

    def triple(self, scale: float = 100.0) -> tuple[float, float, float] | None:
        if self.result is None:
            return None
        return self._tri(self.result, scale)

    def glmm_triple(self, scale: float = 100.0) -> tuple[float, float, float] | None:
        if self.glmm is None:
            return None
        p = self.glmm.predict(transf=True)
        return (scale * p.pred, scale * p.ci_lb, scale * p.ci_ub)

    def alt_triple(self, scale: float = 100.0) -> tuple[float, float, float] | None:
        return None if self.alt is None else self._tri(self.alt, scale)

    def _tri(self, res: RmaResult, scale: float) -> tuple[float, float, float]:
        if res.measure == "PR" or res.measure == "GEN":
            est, lb, ub = res.b, res.ci_lb, res.ci_ub
        else:
            p = res.predict(transf=True)
            est, lb, ub = p.pred, p.ci_lb, p.ci_ub
        return (scale * float(est), scale * float(lb), scale * float(ub))

    def metafor_triple(self, scale: float = 100.0) -> tuple[float, float, float] | None:
        if not self.metafor or not self.metafor.get("ok"):
            return None
        f = self.metafor["fit"]
        if self.result is not None and self.result.measure not in ("PR", "GEN"):
            t = self.metafor.get("predict_transf") or {}
            return (scale * float(t["pred"]), scale * float(t["ci_lb"]), scale * float(t["ci_ub"]))
        return (scale * float(f["b"]), scale * float(f["ci_lb"]), scale * float(f["ci_ub"]))

    @property
    def agrees(self) -> bool | None:
        if not self.comparisons:
            return None
        return all(c.ok for c in self.comparisons)


_BACK = {"PR": None, "PLO": "ilogit", "PAS": "iarcsin", "PFT": "ipft.hm", "PLN": "exp"}


def _fit(
    rows: pd.DataFrame, method: str, measure: str, add: float | None, test: str = "z"
) -> tuple[RmaResult, pd.DataFrame]:
    kw: dict[str, Any] = {} if add is None else {"add": add, "to": "only0"}
    dat = escalc(check_choice("measure", measure, MEASURES), xi=rows["events"].to_numpy(), ni=rows["n"].to_numpy(),
                 slab=list(rows["study"]), **kw)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = rma(data=dat, method=check_choice("method", method, METHODS),
                  slab=list(rows["study"]), test=check_choice("test", test, TESTS))  # fmt: skip
    pooled = rows.assign(yi=dat["yi"].to_numpy(), vi=dat["vi"].to_numpy())
    return res, pooled


def _glmm(rows: pd.DataFrame) -> GlmmResult | None:
    """The binomial-normal GLMM (metafor ``rma.glmm(measure="PLO")``) on every included
    study -- zero-event ones too: it needs no continuity correction.  ``None`` where it
    does not exist (k < 2, or no events / only events in every study)."""
    inc = rows[rows["included"]]
    ev, n = inc["events"], inc["n"]
    if len(inc) < 2 or ev.isna().any() or (ev == 0).all() or (ev == n).all():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return rma_glmm(ev.to_numpy(), n.to_numpy(), slab=list(inc["study"]))
    except ValueError:
        return None


def _i2_fe(rows: pd.DataFrame, measure: str, pol: ModelPolicy | None = None) -> float | None:
    """The I² a model rule looks at: from the fixed-effect Q, or (a tool policy with I² from
    tau²) from the tau² of the policy's random-effects estimator."""
    if len(rows) < 2:
        return 0.0 if len(rows) == 1 else None
    method = "EE" if pol is None or pol.i2_def == "Q" else pol.random
    res, _ = _fit(rows, method, measure, None)
    return float(res.I2)


def _analyse(
    outcome: str,
    grade: str,
    subgroup: str,
    rows: pd.DataFrame,
    zero: ZeroEvents,
    measure: str,
) -> Analysis:
    inc = rows[rows["included"]]
    a = Analysis(
        outcome, grade, subgroup, list(inc["study"]), list(inc.loc[inc.events.isna(), "study"])
    )
    if a.missing or inc.empty:
        return a
    a.dropped = list(inc.loc[_extreme(inc, measure), "study"])
    a.data = inc[~_extreme(inc, measure)] if zero.mode == "drop" else inc
    return a


def _extreme(rows: pd.DataFrame, measure: str) -> pd.Series:
    """Studies whose sampling variance is 0 (PR, PLN, PLO: 0 or all events) or
    undefined without a continuity correction.  PAS/PFT have none."""
    ev, n = rows["events"], rows["n"]
    if measure in ("PAS", "PFT"):
        return ev != ev  # all False
    if measure == "PLN":
        return ev == 0
    return (ev == 0) | (ev == n)


# --------------------------------------------------------------------------- #
# subgroup differences
# --------------------------------------------------------------------------- #
@dataclass
class SubgroupTest:
    """Test for subgroup differences for one outcome x grade.

    ``Q``/``df``/``p``: RevMan 5.4's test -- the subgroup estimates (each pooled
    with its own model) compared with a fixed-effect Q, df = groups - 1.
    ``QM``/``QMp``: metafor's omnibus moderator test from
    ``rma(yi, vi, mods = ~ subgroup, method=...)`` (one tau^2 shared by the subgroups),
    shown beside it; it answers a different question and differs in general.
    """

    outcome: str
    grade: str
    groups: list[str]
    Q: float = float("nan")
    df: int = 0
    p: float = float("nan")
    QM: float = float("nan")
    QMp: float = float("nan")
    qm_method: str = ""
    missing: list[str] = field(default_factory=list)
    note: str = ""
    metafor: dict[str, Any] | None = None  # rma(theta_g, se_g^2, method="EE") QE/QEp
    metafor_qm: dict[str, Any] | None = None
    mods: RmaModsResult | None = None  # the fit behind QM
    qm_note: str = ""  # why QM is missing
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def computable(self) -> bool:
        return math.isfinite(self.p)


def _q_between(fits: list[RmaResult]) -> tuple[float, int, float, np.ndarray, np.ndarray]:
    th = np.array([r.b for r in fits])
    se = np.array([r.se for r in fits])
    w = 1.0 / se**2
    mean = (w * th).sum() / w.sum()
    q = float((w * (th - mean) ** 2).sum())
    df = len(fits) - 1
    return q, df, float(stats.chi2.sf(q, df)), th, se


# --------------------------------------------------------------------------- #
# figures
# --------------------------------------------------------------------------- #
@dataclass
class FigureRow:
    """One published row (estimate with CI) and its verdict."""

    line: int
    outcome: str
    grade: str
    subgroup: str
    printed: tuple[Printed | None, Printed | None, Printed | None]
    k_printed: str
    model_printed: str
    location: str
    typo_note: str
    analysis: Analysis | None
    verdict: Verdict
    scale: float = 100.0

    def key(self) -> tuple[str, str, str]:
        return (self.outcome, self.grade, self.subgroup)

    @property
    def ours(self) -> tuple[float, float, float] | None:
        """metaparity's estimate and CI on the printed scale (None: not computed)."""
        return None if self.analysis is None else self.analysis.triple(self.scale)

    @property
    def metafor(self) -> tuple[float, float, float] | None:
        """metafor's (live) estimate and CI on the printed scale (None: not asked)."""
        return None if self.analysis is None else self.analysis.metafor_triple(self.scale)

    @property
    def glmm(self) -> tuple[float, float, float] | None:
        """The binomial-normal GLMM's estimate and CI (the sensitivity column)."""
        return None if self.analysis is None else self.analysis.glmm_triple(self.scale)

    @property
    def alt(self) -> tuple[float, float, float] | None:
        """The estimate and CI under the other zero-event handling."""
        return None if self.analysis is None else self.analysis.alt_triple(self.scale)


@dataclass
class PValueRow:
    """One published subgroup-difference p-value and its verdict."""

    outcome: str
    grade: str
    printed: Printed
    test: SubgroupTest | None
    verdict: Verdict
    lines: list[int]


@dataclass
class Reproduction:
    """Everything :func:`reproduce` found; render with :mod:`metaparity.reproduce.report`."""

    title: str
    measure: str
    policy: ModelPolicy
    zero: ZeroEvents
    analyses: dict[tuple[str, str, str], Analysis]
    tests: dict[tuple[str, str], SubgroupTest]
    figures: list[FigureRow]
    pvalues: list[PValueRow]
    subgroups: list[str]
    versions: dict[str, str]
    r_status: str
    counts: pd.DataFrame
    sources: dict[str, str]
    claims: list[ClaimRow] = field(default_factory=list)

    def verdict_counts(self) -> dict[str, int]:
        """Printed figures per verdict kind (every kind of ``VERDICTS``, zeros included)."""
        out = {v: 0 for v in VERDICTS}
        for f in self.figures:
            out[f.verdict.kind] += 1
        return out

    def pvalue_counts(self) -> dict[str, int]:
        """Printed subgroup-difference p-values per verdict kind."""
        out = {v: 0 for v in VERDICTS}
        for p in self.pvalues:
            out[p.verdict.kind] += 1
        return out

    @property
    def parity(self) -> tuple[int, int, float]:
        """(quantities compared with metafor, how many disagree, max relative difference)."""
        comps = [c for a in self.analyses.values() for c in a.comparisons]
        comps += [c for t in self.tests.values() for c in t.comparisons]
        bad = sum(not c.ok for c in comps)
        rel = [c.rel_diff for c in comps if math.isfinite(c.rel_diff) and abs(c.ref) >= 1e-8]
        return len(comps), bad, max(rel, default=0.0)


# --------------------------------------------------------------------------- #
# the run
# --------------------------------------------------------------------------- #
def reproduce(
    data: str | os.PathLike[str] | pd.DataFrame | None = None,
    published: str | os.PathLike[str] | pd.DataFrame | None = None,
    *,
    measure: str = "PR",
    policy: ModelPolicy | str = "i2:50",
    zero: ZeroEvents | str = "drop",
    bridge: Any = None,
    progress: Callable[[int, int, str], None] | None = None,
    title: str | None = None,
    claims: str | os.PathLike[str] | pd.DataFrame | None = None,
) -> Reproduction:
    """Pool every analysis a paper reports and give each printed figure a verdict.

    Each analysis is metafor's ``rma(escalc(measure, xi, ni), method=...)``, the subgroup
    difference RevMan's Q-between beside metafor's ``rma(yi, vi, mods = ~ subgroup)``, and
    the sensitivity column ``rma.glmm(measure="PLO")``.

    Parameters
    ----------
    data, published
        Per-study counts and printed figures (paths or DataFrames); both ``None``
        selects the bundled selinexor case (Tao, Zhou & Niu 2021).
    measure : {"PR", "PLO", "PAS", "PFT", "PLN"}
        Effect size pooled (metafor ``escalc`` measure); figures are compared on
        the proportion scale (back-transformed, as ``predict(transf=)``).
    policy : ModelPolicy or str
        Model rule (see :class:`ModelPolicy`); default the seed's ``"i2:50"`` (I² > 50 %
        → random effects; ``"i2>50"`` is the same, quoted).
    zero : ZeroEvents or {"drop", "cc"}
        Zero-event handling; the other one is computed too, as a sensitivity column.
    bridge
        A live metafor bridge (:func:`metaparity.parity.rbridge.get_bridge`) or ``None``.
    progress
        Called as ``progress(i, n, label)`` around each call to R.
    claims
        Optional pairs the paper's text quotes ("54 vs 24 %, p = 0.01") with the
        subgroup order the sentence states; each is checked against the printed
        table and the data (bundled for the selinexor case).
    title
        Report title (default: built from the file names, or the paper for the
        bundled case).

    Returns
    -------
    Reproduction
        Every analysis and subgroup test, each printed figure and p-value with its
        verdict, metafor's answers (when a bridge was given), sources and versions.

    Raises
    ------
    InputError
        Bad input files (the message names file, line, column and the fix).
    ValueError
        Only one of ``data`` / ``published`` given, or an unknown measure or policy.

    Examples
    --------
    >>> rep = reproduce()                   # the bundled selinexor case, no R
    >>> round(rep.analyses[("sCR", "na", "overall")].triple()[0], 1)  # percent, DL
    5.5
    """
    bundled = data is None and published is None
    if bundled:
        data, published = selinexor_counts_path(), selinexor_published_path()
        if claims is None:
            claims = selinexor_claims_path()
        title = (
            title
            or "Tao, Zhou & Niu (2021), Front. Pharmacol. 12:758992 — selinexor in multiple myeloma"
        )
    if data is None or published is None:
        raise ValueError("give both data= and published= (or neither, for the bundled case)")
    measure = check_choice("measure", measure, tuple(_BACK))
    pol = ModelPolicy.parse(policy) if isinstance(policy, str) else policy
    zer = ZeroEvents(zero) if isinstance(zero, str) else zero
    counts = load_counts(data)
    pub = load_published(published)
    subgroups = list(dict.fromkeys(counts["subgroup"]))
    sources = _sources(counts, pub, subgroups, bundled)
    # 1. every analysis: each outcome x grade, all studies and each subgroup
    keys = list(dict.fromkeys(zip(counts.outcome, counts.grade, strict=True)))
    keys += [k for k in dict.fromkeys(zip(pub.outcome, pub.grade, strict=True)) if k not in keys]
    analyses = _all_analyses(counts, pub, keys, subgroups, pol, zer, measure)
    # 2. subgroup differences
    tests = {(o, g): _subgroup_test(o, g, analyses, subgroups) for o, g in keys}
    # 3. live metafor
    versions, r_status = _live_metafor(bridge, analyses, tests, measure, progress)
    # 4. verdicts
    figures, pvalues = _verdicts(pub, analyses, tests, counts, subgroups, measure)
    claim_rows = [] if claims is None else check_claims(load_claims(claims), pub)
    for f in figures:
        if f.subgroup == "" and all(p is None for p in f.printed):
            f.verdict = remark_verdict(claim_rows)
    return Reproduction(
        title=title or f"{sources['published']} reproduced from {sources['data']}",
        measure=measure,
        policy=pol,
        zero=zer,
        analyses=analyses,
        tests=tests,
        figures=figures,
        pvalues=pvalues,
        subgroups=subgroups,
        versions=versions,
        r_status=r_status,
        counts=counts,
        sources=sources,
        claims=claim_rows,
    )


def _sources(
    counts: pd.DataFrame, pub: pd.DataFrame, subgroups: list[str], bundled: bool
) -> dict[str, str]:
    """Where data and figures came from; every printed subgroup must be in the data."""
    sources = {"data": _where(counts), "published": str(pub.attrs.get("source", "published"))}
    if bundled:
        sources = {k: f"bundled with metaparity: {Path(v).name} (see metaparity.effects.datasets)"
                   for k, v in sources.items()}  # fmt: skip
    for _, r in pub.iterrows():
        if r.subgroup == "" and r.est is None and r.lb is None and r.ub is None:
            continue  # a remark on the text, checked against the text claims
        if r.subgroup != OVERALL and r.subgroup not in subgroups:
            raise InputError(
                f"{sources['published']}: line {r.line}: subgroup {r.subgroup!r} is not in the data "
                f"(subgroups: {', '.join(subgroups)}; use 'overall' for all studies)"
            )
    return sources


def _all_analyses(
    counts: pd.DataFrame,
    pub: pd.DataFrame,
    keys: list[tuple[str, str]],
    subgroups: list[str],
    pol: ModelPolicy,
    zer: ZeroEvents,
    measure: str,
) -> dict[tuple[str, str, str], Analysis]:
    """Each outcome x grade, all studies and each subgroup: model chosen, fitted both ways."""
    alt_zero = ZeroEvents("cc" if zer.mode == "drop" else "drop", zer.add)
    stated = {(r.outcome, r.grade, r.subgroup): r.model for _, r in pub.iterrows()}
    analyses: dict[tuple[str, str, str], Analysis] = {}
    for outcome, grade in keys:
        rows = counts[(counts.outcome == outcome) & (counts.grade == grade)]
        scopes = [(OVERALL, rows)] + [(g, rows[rows.subgroup == g]) for g in subgroups]
        made = {g: _analyse(outcome, grade, g, r, zer, measure) for g, r in scopes}
        overall = made[OVERALL]
        outcome_i2 = (
            _i2_fe(overall.data, measure, pol)
            if overall.computable and overall.data is not None
            else None
        )
        for g, a in made.items():
            if a.computable and a.data is not None:
                a.i2_fe = _i2_fe(a.data, measure, pol)
                a.method, a.reason = pol.choose(
                    a.i2_fe, outcome_i2, stated.get((outcome, grade, g), "")
                )
                a.test = "z" if a.method in ("EE", "FE", "CE") else pol.test
                _fit_both_ways(a, a.data, dict(scopes)[g], zer, alt_zero, measure)
            analyses[(outcome, grade, g)] = a
    return analyses


def _fit_both_ways(
    a: Analysis,
    data: pd.DataFrame,
    scope_rows: pd.DataFrame,
    zer: ZeroEvents,
    alt_zero: ZeroEvents,
    measure: str,
) -> None:
    """Fit ``a`` under the zero-events rule, the other rule alongside, and the GLMM."""
    if not data.empty:
        add = None if zer.mode == "drop" else zer.add
        try:
            a.result, a.data = _fit(data, a.method, measure, add, a.test)
        except ValueError as err:
            a.error = str(err)
    alt_rows = scope_rows
    alt_rows = alt_rows[alt_rows["included"]]
    if alt_zero.mode == "drop":
        alt_rows = alt_rows[~_extreme(alt_rows, measure)]
    if not alt_rows.empty:
        add = None if alt_zero.mode == "drop" else alt_zero.add
        a.alt, a.alt_data = _fit(alt_rows, a.method, measure, add, a.test)
    a.glmm = _glmm(scope_rows)


def _subgroup_test(
    outcome: str,
    grade: str,
    analyses: dict[tuple[str, str, str], Analysis],
    subgroups: list[str],
) -> SubgroupTest:
    """RevMan's Q-between and metafor's QM for one outcome x grade (or why not)."""
    subs = [analyses[(outcome, grade, g)] for g in subgroups]
    t = SubgroupTest(outcome, grade, [s.subgroup for s in subs])
    t.missing = [f"{s.subgroup}: {', '.join(s.missing)}" for s in subs if s.missing]
    usable = [s for s in subs if s.result is not None]
    if len(subgroups) < 2:
        t.note = "only one subgroup"
    elif t.missing:
        t.note = "counts missing"
    elif len(usable) < 2:
        t.note = "fewer than two subgroups with pooled studies"
    else:
        t.groups = [s.subgroup for s in usable]
        t.Q, t.df, t.p, _, _ = _q_between([s.result for s in usable if s.result is not None])
        ov = analyses[(outcome, grade, OVERALL)]
        t.qm_method = ov.method
        t.mods, t.qm_note = _qm(ov)
        if t.mods is not None:
            t.QM, t.QMp = float(t.mods.QM), float(t.mods.QMp)
    return t


def _live_metafor(
    bridge: Any,
    analyses: dict[tuple[str, str, str], Analysis],
    tests: dict[tuple[str, str], SubgroupTest],
    measure: str,
    progress: Callable[[int, int, str], None] | None,
) -> tuple[dict[str, str], str]:
    """Ask metafor the same (when there is a bridge); its versions and a status line."""
    versions: dict[str, str] = {}
    r_status = "not asked (no R bridge)"
    if bridge is not None:
        versions = bridge.versions()
        r_status = (
            f"metafor {versions.get('metafor')} on {versions.get('R')} ({bridge.backend}); "
            f"metaparity mirrors metafor {get_metafor_version()}"
        )
        _ask_metafor(analyses, tests, bridge, measure, progress)
    return versions, r_status


def _qm(ov: Analysis) -> tuple[RmaModsResult | None, str]:
    """metafor's moderator test: ``rma(yi, vi, mods = ~ subgroup, method=)`` on the pooled
    studies of all subgroups (one tau^2 shared by the subgroups)."""
    if ov.result is None or ov.data is None or ov.data["subgroup"].nunique() < 2:
        return None, "fewer than two subgroups with pooled studies"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return rma_mods(mods="~ subgroup", data=ov.data,
                            method=check_choice("method", ov.method, METHODS)), ""  # fmt: skip
    except ValueError as err:
        return None, str(err)


def _ask_metafor(
    analyses: dict[tuple[str, str, str], Analysis],
    tests: dict[tuple[str, str], SubgroupTest],
    bridge: Any,
    measure: str,
    progress: Callable[[int, int, str], None] | None,
) -> None:
    # a fitted analysis has the rows it pooled (data), a computable test its subgroup fits
    todo = [(a, a.result, a.data) for a in analyses.values() if a.result is not None]
    todo_t = [t for t in tests.values() if t.computable]
    n = len(todo) + len(todo_t)
    i = 0
    for a, res, d in todo:
        if progress:
            progress(i, n, f"{a.outcome} {a.grade} {a.subgroup}")
        assert d is not None
        ni = d["n"].to_numpy() if measure == "PFT" else None
        ref = bridge.rma(d["yi"].to_numpy(), d["vi"].to_numpy(), method=a.method, test=a.test,
                         measure=measure, ni=ni, transf=_BACK[measure])  # fmt: skip
        a.metafor = ref
        if ref.get("ok"):
            rec = dict(ref, yi=d["yi"].to_numpy(), vi=d["vi"].to_numpy(), method=a.method,
                       test=a.test, ni=None if ni is None else ni.tolist())  # fmt: skip
            a.comparisons = compare_result(res, rec)
        i += 1
    for t in todo_t:
        if progress:
            progress(i, n, f"{t.outcome} {t.grade} subgroup test")
        fits = [analyses[(t.outcome, t.grade, g)].result for g in t.groups]
        th = np.array([r.b for r in fits if r is not None])
        v = np.array([r.se**2 for r in fits if r is not None])
        ref = bridge.rma(th, v, method="EE", test="z")
        t.metafor = ref
        if ref.get("ok"):
            f = ref["fit"]
            t.comparisons = [
                compare_values("QE", t.Q, f["QE"], "EE"),
                compare_values("QEp", t.p, f["QEp"], "EE"),
            ]
        ov = analyses[(t.outcome, t.grade, OVERALL)]
        if t.mods is None and ov.data is not None and ov.data["subgroup"].nunique() > 1:
            x = design_matrix("~ subgroup", ov.data, True, len(ov.data))[0]
            refm = bridge.rma_mods(ov.data["yi"].to_numpy(), ov.data["vi"].to_numpy(), x,
                                   method=ov.method, test="z")  # fmt: skip
            t.metafor_qm = refm
            t.qm_note += (
                f" (metafor refuses too: {refm.get('error')})"
                if not refm.get("ok")
                else " (metafor fits it: a difference)"
            )
        if t.mods is not None and ov.data is not None:
            refm = bridge.rma_mods(ov.data["yi"].to_numpy(), ov.data["vi"].to_numpy(), t.mods.X,
                                   method=ov.method, test="z", colnames=t.mods.coef_names)  # fmt: skip
            t.metafor_qm = refm
            if refm.get("ok"):
                t.comparisons += compare_mods(t.mods, refm)
        i += 1
    if progress:
        progress(n, n, "done")


def _verdicts(pub, analyses, tests, counts, subgroups, measure):
    sizes = {g: int(counts.loc[counts.subgroup == g, "study"].nunique()) for g in subgroups}
    prow = [
        PublishedRow(
            (r.outcome, r.grade, r.subgroup),
            r.est,
            r.lb,
            r.ub,
            _int_or_none(r.k),
            id=r.line,
            scale=float(r.scale),
        )
        for _, r in pub.iterrows()
    ]
    flags = consistency_flags(prow, symmetric=measure == "PR", subgroup_sizes=sizes)
    figures: list[FigureRow] = []
    for _, r in pub.iterrows():
        key = (r.outcome, r.grade, r.subgroup)
        a = analyses.get(key)
        fl = list(flags.get(r.line, []))
        printed = (r.est, r.lb, r.ub)
        scale = float(r.scale)
        v = _figure_verdict(a, printed, fl, analyses, subgroups, scale, r)
        figures.append(
            FigureRow(
                r.line,
                r.outcome,
                r.grade,
                r.subgroup,
                printed,
                r.k_text,
                r.model,
                r.location,
                r.typo_note,
                a,
                v,
                scale,
            )  # fmt: skip
        )
    pvalues: list[PValueRow] = []
    seen: dict[tuple[str, str], PValueRow] = {}
    for _, r in pub.iterrows():
        if r.p is None:
            continue
        k2 = (r.outcome, r.grade)
        if k2 in seen:
            seen[k2].lines.append(r.line)
            if seen[k2].printed.text != r.p.text:
                seen[k2].verdict.flags.append(
                    Flag("inconsistent", f"p printed {seen[k2].printed.text} and {r.p.text}")
                )
            continue
        t = tests.get(k2)
        if t is None or not t.computable:
            why = (
                "no per-study data for this outcome"
                if t is None
                else (f"counts missing ({'; '.join(t.missing)})" if t.missing else t.note)
            )
            v = Verdict("not reproducible", why)
        elif at_rounding(t.p, r.p):
            v = Verdict("reproduced")
        elif within_rounding(t.p, r.p):
            v = Verdict("within rounding", f"data give p = {t.p:.3g}")
        else:
            v = Verdict(
                "discrepancy", f"unexplained: data give p = {t.p:.3g} (Q = {t.Q:.2f}, df = {t.df})"
            )
        row = PValueRow(r.outcome, r.grade, r.p, t, v, [r.line])
        seen[k2] = row
        pvalues.append(row)
    return figures, pvalues


def _int_or_none(x: Any) -> int | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else int(x)


_NO_DATA_KINDS = ("copy error", "garbled row", "lost minus sign")


_PRIORITY = ("impossible value", "impossible study count", "lost minus sign", "garbled row",
             "copy error", "study count")  # fmt: skip


def _flag_text(flags: list[Flag]) -> str:
    """The flags, most telling first, as one cause."""
    order = sorted(flags, key=lambda f: _PRIORITY.index(f.kind) if f.kind in _PRIORITY else 99)
    return "; ".join(f"{f.kind} ({f.text})" for f in order)


def _figure_verdict(a, printed, fl, analyses, subgroups, scale, r) -> Verdict:
    if all(p is None for p in printed):
        if a is not None and a.computable and not a.studies:
            return Verdict("reproduced", "no studies pooled, as printed (k = 0)", fl)
        if r.k == 0 and a is not None and not a.studies:
            return Verdict("reproduced", "no studies pooled, as printed (k = 0)", fl)
        return Verdict("not reproducible", "the paper prints no figure here", fl)
    if a is None:
        return Verdict("not reproducible", "no per-study data for this outcome", fl)
    if not a.studies:
        return Verdict("not reproducible", "no study in the data is pooled in this analysis", fl)
    if not a.computable:
        miss = f"counts missing for {', '.join(a.missing)}"
        if fl:
            return Verdict("discrepancy", f"{_flag_text(fl)}; {miss}", fl)
        return Verdict("not reproducible", miss, fl)
    ours = a.triple(scale)
    if ours is None:
        why = a.error or f"every study has 0 (or all) events ({', '.join(a.dropped)})"
        return Verdict("not reproducible", why, fl)
    k = _int_or_none(r.k)
    if k is not None and k != len(a.studies):
        fl.append(Flag("study count", f"printed k = {k}, the data pool {len(a.studies)} studies"))
    others = {}
    if a.subgroup != OVERALL:
        for g in subgroups:
            o = analyses.get((a.outcome, a.grade, g))
            if g != a.subgroup and o is not None and o.triple(scale) is not None:
                others[g] = o.triple(scale)
    v = compare_triple(ours, printed, others=others)
    if v.kind in ("reproduced", "within rounding"):
        # a suspicion raised without data is dismissed when the data reproduce the row
        dismissed = [f for f in fl if f.kind in _NO_DATA_KINDS]
        fl = [f for f in fl if f.kind not in _NO_DATA_KINDS]
        if dismissed:
            why = "; ".join(f"{f.kind}: {f.text}" for f in dismissed)
            v.cause = (v.cause + "; " if v.cause else "") + (
                f"suspicion dismissed, the data reproduce this row ({why})"
            )
    v.flags = fl
    if v.kind == "discrepancy" and v.cause.startswith("unexplained") and fl:
        v.cause = f"{_flag_text(fl)}; {v.cause}"
    return v
