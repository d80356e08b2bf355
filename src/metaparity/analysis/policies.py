"""Named tool policies: the analysis choices a meta-analysis tool makes by default.

A :class:`Policy` is a frozen record of *choices* (never engine code): how studies are
pooled, how tau^2 is estimated and from which Q, what is done with zero cells, how I^2 is
defined, how the CI and the prediction interval are formed.  Each choice carries the
document it was taken from (:meth:`Policy.source`); a choice no document we found states
is marked ``"undocumented"`` in its source, and the value given is then the one that tool's
documented behaviour implies, or metaparity's default, as that source says.

Five policies are defined (:data:`POLICIES`): ``revman5``, ``revman_web``, ``meta``,
``metafor`` and ``stata``.  Each describes what the tool does when asked for a
*random-effects* meta-analysis of a binary outcome with its defaults; set ``model="common"``
(``dataclasses.replace``) for the common-effect analysis.  :func:`metaparity.analysis.
explain.apply_policy` carries a policy out.

Sources (cited by key in :data:`SOURCES`):

* ``revman5``: RevMan 5.4 statistical algorithms (Deeks & Higgins 2010), as summarised in
  the Cochrane Handbook 5.1 ch. 9.4 (handbook-5-1.cochrane.org, 9.4.4 and 9.4.10) and by R
  meta's ``settings.meta("RevMan5")`` (``method.tau="DL"``, ``method.random.ci="classic"``,
  ``Q.Cochrane=TRUE``, ``prediction=FALSE``: "only available method in RevMan 5").
* ``revman_web``: Cochrane Methods, "Random-effects meta-analysis methods in intervention
  reviews" (methods.cochrane.org; endorsed Sept 2022, addendum May 2024): REML tau^2,
  Q-profile CI for tau^2, HKSJ CI for the summary effect, prediction intervals from the t
  distribution, I^2 from tau^2.  The k-2 df of the PI are Higgins, Thompson & Spiegelhalter
  (2009); the Handbook v6.5 / RevMan Web 2025 methods text was not in the corpus we searched.
* ``meta``: R package meta ``settings.meta`` reset block (guido-s/meta, version 6/7:
  ``method.tau="REML"``, ``method.random.ci="classic"``, ``method.i2="q"``,
  ``method.predict="HTS"``, ``method="MH"``, ``incr=0.5``, ``method.incr="only0"``,
  ``allstudies=FALSE``) and the ``metabin`` usage (``Q.Cochrane = gs("Q.Cochrane") &
  method == "MH" & method.tau == "DL"``; ``method.tau.ci = if (method.tau == "DL") "J" else
  "QP"`` in meta 4.9-9).  meta 8.x adds ``settings.meta("meta7")`` (so some defaults moved
  in 8.0); which ones we could not find documented: the values here are meta 6/7's.
* ``metafor``: metafor's help pages (``rma.uni``: ``method="REML"``, ``test="z"``;
  ``escalc``: ``add=1/2, to="only0", drop00=FALSE``, ``vtype="LS"``; ``predict.rma``: z for
  ``test="z"``; I^2 = tau^2 / (tau^2 + s^2), Higgins & Thompson 2002).
* ``stata``: Stata 16+ ``[META] meta set`` / ``meta esize`` manual (stata.com): REML is
  the default random-effects method; other defaults marked where we found no statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = [
    "Policy",
    "POLICIES",
    "CHOICES",
    "SOURCES",
    "get_policy",
    "policy_names",
    "POOLINGS",
    "I2_RULES",
    "TESTS",
    "TAU2_CIS",
    "PI_RULES",
    "Q_RULES",
]

POOLINGS = ("IV", "MH", "Peto")
#: which Q the DL tau^2, the reported Q and a Q-based I^2 use when pooling is MH/Peto
Q_RULES = ("IV", "pooled", "pooled_if_DL")
I2_RULES = ("Q", "tau2")
TESTS = ("z", "knha", "adhoc")
TAU2_CIS = ("none", "QP", "J")
PI_RULES = ("none", "z", "t_k2", "t_k1", "metafor")
MODELS = ("random", "common")
TOS = ("only0", "all", "if0all", "none")

SOURCES: dict[str, str] = {
    "revman5": (
        "RevMan 5.4 statistical algorithms (Deeks & Higgins 2010), via Cochrane Handbook 5.1 "
        "ch. 9.4.4/9.4.10 and R meta settings.meta('RevMan5')"
    ),
    "revman_web": (
        "Cochrane Methods 'Random-effects meta-analysis methods in intervention reviews' "
        "(methods.cochrane.org, 2022, addendum May 2024)"
    ),
    "meta": (
        "R meta settings.meta reset defaults (versions 6-7) and metabin() usage "
        "(Q.Cochrane, method.tau.ci)"
    ),
    "metafor": "metafor help pages: rma.uni, escalc, predict.rma, confint.rma.uni",
    "stata": "Stata [META] meta set / meta esize manual (stata.com)",
}

#: the fields of :class:`Policy` that are analysis choices, in the order explain() switches them
CHOICES = (
    "pooling",
    "model",
    "tau2_method",
    "q_rule",
    "add",
    "to",
    "drop00",
    "mh_cc",
    "i2",
    "test",
    "tau2_ci",
    "pi",
    "smd_vtype",
)


@dataclass(frozen=True)
class Policy:
    """The analysis choices of one tool, each with the document it comes from.

    Attributes
    ----------
    name : str
        Short name (``"revman5"`` ...).
    title : str
        What the policy describes.
    pooling : {"IV", "MH", "Peto"}
        Pooling of the common-effect estimate (and the weights of Q with ``q_rule``).
    model : {"random", "common"}
        Which model the policy's main result is.
    tau2_method : str
        tau^2 estimator (metafor ``method=`` name: ``"DL"``, ``"REML"``, ``"PM"`` ...).
    q_rule : {"IV", "pooled", "pooled_if_DL"}
        For MH/Peto pooling: Q about the inverse-variance estimate (``"IV"``), about the
        MH/Peto estimate (``"pooled"``, RevMan 5: the DL tau^2 then uses this Q), or about
        the MH/Peto estimate only when tau^2 is DL (``"pooled_if_DL"``, R meta's
        ``Q.Cochrane``).  No effect with IV pooling.
    add, to, drop00
        Zero-cell rule (metafor ``escalc`` names): ``add`` is added to the cells of the
        studies ``to`` selects (``"only0"``, ``"all"``, ``"if0all"``, ``"none"``);
        ``drop00`` drops studies with no events (or only events) in both arms.
    mh_cc : bool
        With MH pooling: the zero-cell rule also applies to the cells of the MH computation
        itself (metafor's two-valued ``rma.mh(add=c(1/2, 1/2), to=c("only0", "only0"),
        drop00=c(TRUE, TRUE))``), as RevMan 5 and R meta (``MH.exact=FALSE``) do; otherwise
        it applies to the study estimates only (metafor's one value).  No effect with IV or
        Peto pooling.
    i2 : {"Q", "tau2"}
        I^2 from Q, ``(Q - df) / Q`` (Higgins & Thompson 2002), or from tau^2,
        ``tau2 / (tau2 + s2)`` with metafor's typical within-study variance ``s2``.
    test : {"z", "knha", "adhoc"}
        CI and test of the summary effect: Wald/z, Hartung-Knapp-Sidik-Jonkman (t with
        k-1 df), or HKSJ with the ad hoc ``max(1, q)`` variance correction (metafor
        ``test="adhoc"``).
    tau2_ci : {"none", "QP", "J"}
        CI for tau^2: none, Q-profile (Viechtbauer 2007), Jackson (2013).
    pi : {"none", "z", "t_k2", "t_k1", "metafor"}
        Prediction interval ``b +/- c sqrt(se^2 + tau2)`` with ``c`` normal, t with k-2 df
        (Higgins et al. 2009), t with k-1 df, or as ``metafor::predict`` gives it.
    smd_vtype : str
        Sampling-variance formula for standardised mean differences (metafor ``vtype``;
        ``"LS"`` large-sample; ``"RevMan5"``: N/(n1 n2) + g^2 / (2 (N - 3.94))).  Used only
        for ``measure="SMD"``.
    sources : tuple of (str, str)
        ``(choice, citation)`` pairs; a citation containing ``"undocumented"`` marks a
        choice no document we found states.
    """

    name: str
    title: str
    pooling: str = "IV"
    model: str = "random"
    tau2_method: str = "REML"
    q_rule: str = "IV"
    add: float = 0.5
    to: str = "only0"
    drop00: bool = False
    mh_cc: bool = False
    i2: str = "tau2"
    test: str = "z"
    tau2_ci: str = "none"
    pi: str = "metafor"
    smd_vtype: str = "LS"
    sources: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        for name, allowed in (
            ("pooling", POOLINGS),
            ("model", MODELS),
            ("q_rule", Q_RULES),
            ("to", TOS),
            ("i2", I2_RULES),
            ("test", TESTS),
            ("tau2_ci", TAU2_CIS),
            ("pi", PI_RULES),
        ):
            v = getattr(self, name)
            if v not in allowed:
                raise ValueError(
                    f"policy {self.name!r}: {name}={v!r} is not one of {', '.join(allowed)}"
                )
        if not (isinstance(self.add, (int, float)) and self.add >= 0):
            raise ValueError(f"policy {self.name!r}: add={self.add!r} must be a number >= 0")

    def source(self, choice: str) -> str:
        """The citation for one choice (``"undocumented"`` when none is recorded)."""
        if choice not in CHOICES:
            raise ValueError(f"{choice!r} is not a policy choice; choices: {', '.join(CHOICES)}")
        return dict(self.sources).get(choice, "undocumented")

    def choices(self) -> dict[str, Any]:
        """``{choice: value}`` in :data:`CHOICES` order."""
        return {c: getattr(self, c) for c in CHOICES}

    def differs(self, other: Policy) -> list[str]:
        """The choices in which this policy and ``other`` differ (CHOICES order); ``mh_cc``
        only where one of them pools with MH (it has no effect otherwise)."""
        mh = "MH" in (self.pooling, other.pooling)
        return [c for c in CHOICES if getattr(self, c) != getattr(other, c)
                and (mh or c != "mh_cc")]  # fmt: skip

    def with_choice(self, **changes: Any) -> Policy:
        """A copy with some choices changed (name marked as modified)."""
        tag = ",".join(f"{k}={v}" for k, v in changes.items())
        return replace(self, name=f"{self.name}[{tag}]", **changes)

    def describe(self) -> str:
        """One line per choice: value and source."""
        lines = [f"{self.name}: {self.title}"]
        for c in CHOICES:
            lines.append(f"  {c:12s} {getattr(self, c)!s:14s} {self.source(c)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sources"}
        out["sources"] = {c: self.source(c) for c in CHOICES}
        return out


_RM5 = SOURCES["revman5"]
_RMW = SOURCES["revman_web"]
_META = SOURCES["meta"]
_MF = SOURCES["metafor"]
_ST = SOURCES["stata"]

REVMAN5 = Policy(
    "revman5",
    "RevMan 5.4: MH pooling, DerSimonian-Laird tau^2 from the MH-based Q, Wald CI, no PI",
    pooling="MH",
    tau2_method="DL",
    q_rule="pooled",
    add=0.5,
    to="only0",
    drop00=True,
    mh_cc=True,
    i2="Q",
    test="z",
    tau2_ci="none",
    pi="none",
    smd_vtype="RevMan5",
    sources=(
        ("pooling", f"{_RM5}: MH is the default method for dichotomous outcomes (9.4.10)"),
        ("model", "random effects requested (RevMan's default is fixed effect; see 9.4.10)"),
        ("tau2_method", f"{_RM5}: DerSimonian-Laird, the only estimator (settings.meta)"),
        ("q_rule", f"{_RM5}: Q about the MH estimate (settings.meta: Q.Cochrane=TRUE)"),
        ("add", f"{_RM5}: 0.5 added to each cell of a study with a zero cell (9.4.4)"),
        ("to", f"{_RM5}: only studies with a zero cell (9.4.4)"),
        (
            "drop00",
            "undocumented in what we found (RevMan 5 lists double-zero studies as "
            "'not estimable': from memory, not from a document in the corpus)",
        ),
        (
            "mh_cc",
            f"{_RM5}: 'RevMan automatically adds 0.5 to each cell of the 2x2 table for any "
            "such study' (9.4.4), in the MH computation too: Ades, Caldwell, Anwer & Dias "
            "(2025), Res Synth Methods, letter 'Continuity corrections with Mantel-Haenszel "
            "estimators in Cochrane reviews' (RevMan's MH 'by default implements the standard "
            "continuity correction'); metafor's rma.mh documents two-valued add/to/drop00 for it",
        ),
        ("i2", f"{_RM5}: I^2 = (Q - df) / Q from the MH-based Q (settings.meta Q.Cochrane)"),
        ("test", f"{_RM5}: settings.meta method.random.ci='classic' (Wald)"),
        ("tau2_ci", "undocumented in what we found (RevMan 5 prints none; none assumed)"),
        ("pi", f"{_RM5}: settings.meta prediction=FALSE (no PI)"),
        (
            "smd_vtype",
            "undocumented in what we found (Hedges' g with SE^2 = N/(n1 n2) + "
            "g^2/(2(N - 3.94)) assumed, from memory of the RevMan 5 algorithms)",
        ),
    ),
)

REVMAN_WEB = Policy(
    "revman_web",
    "RevMan Web (2022+ Cochrane methods): REML, HKSJ CI, Q-profile tau^2 CI, t(k-2) PI, "
    "I^2 from tau^2",
    pooling="IV",
    tau2_method="REML",
    q_rule="IV",
    add=0.5,
    to="only0",
    drop00=True,
    mh_cc=True,
    i2="tau2",
    test="knha",
    tau2_ci="QP",
    pi="t_k2",
    smd_vtype="RevMan5",
    sources=(
        ("pooling", f"{_RMW}: the REML random-effects model is inverse-variance"),
        ("model", "random effects requested"),
        ("tau2_method", f"{_RMW}: REML to estimate the heterogeneity variance"),
        ("q_rule", "IV pooling: not applicable"),
        ("add", "undocumented for RevMan Web; RevMan 5's 0.5 (Handbook 5.1 9.4.4) assumed"),
        ("to", "undocumented for RevMan Web; RevMan 5's rule assumed"),
        ("drop00", "undocumented for RevMan Web; RevMan 5's rule assumed"),
        (
            "mh_cc",
            "IV pooling: not applicable (RevMan 5's rule kept, so that it is not reported "
            "as a difference between the two RevMan versions)",
        ),
        ("i2", f"{_RMW}: 'use Tau-square to calculate the I-square' (May 2024)"),
        (
            "test",
            f"{_RMW}: HKSJ for the summary effect; whether the ad hoc max(1, q) correction "
            "is applied is undocumented (plain HKSJ assumed)",
        ),
        ("tau2_ci", f"{_RMW}: Q-profile (May 2024 addendum)"),
        (
            "pi",
            f"{_RMW}: 'prediction intervals (using the t-distribution ...)'; the k-2 df are "
            "Higgins, Thompson & Spiegelhalter (2009); the df RevMan Web uses is undocumented "
            "in what we found",
        ),
        ("smd_vtype", "undocumented for RevMan Web; RevMan 5's formula assumed"),
    ),
)

META = Policy(
    "meta",
    "R meta 6-7 metabin(): MH pooling, REML tau^2, classic CI, Q-profile tau^2 CI, "
    "HTS PI t(k-2), I^2 from Q",
    pooling="MH",
    tau2_method="REML",
    q_rule="pooled_if_DL",
    add=0.5,
    to="only0",
    drop00=True,
    mh_cc=True,
    i2="Q",
    test="z",
    tau2_ci="QP",
    pi="t_k2",
    smd_vtype="RevMan5",
    sources=(
        ("pooling", f"{_META}: method='MH'"),
        ("model", "random effects (meta reports common and random; random used here)"),
        ("tau2_method", f"{_META}: method.tau='REML' (meta >= 5; 'DL' in meta 4)"),
        ("q_rule", f"{_META}: Q.Cochrane only with method='MH' and method.tau='DL'"),
        ("add", f"{_META}: incr=0.5"),
        ("to", f"{_META}: method.incr='only0'"),
        ("drop00", f"{_META}: allstudies=FALSE (double-zero studies excluded)"),
        (
            "mh_cc",
            f"{_META}: MH.exact=FALSE, i.e. incr is added to the cells of zero-cell studies "
            "for the Mantel-Haenszel estimate as well",
        ),
        ("i2", f"{_META}: method.i2='q'"),
        ("test", f"{_META}: method.random.ci='classic'"),
        ("tau2_ci", f"{_META}: method.tau.ci 'QP' unless method.tau='DL' ('J')"),
        (
            "pi",
            f"{_META}: method.predict='HTS' (t, k-2 df) in 6-7; computed only with "
            "prediction=TRUE; the meta 8 default is undocumented in what we found",
        ),
        ("smd_vtype", f"{_META}: method.smd='Hedges', exact.smd=FALSE (RevMan 5 formula)"),
    ),
)

METAFOR = Policy(
    "metafor",
    "metafor rma(escalc(...)): IV pooling, REML, z, I^2 from tau^2, predict() PI",
    pooling="IV",
    tau2_method="REML",
    q_rule="IV",
    add=0.5,
    to="only0",
    drop00=False,
    i2="tau2",
    test="z",
    tau2_ci="none",
    pi="metafor",
    smd_vtype="LS",
    sources=(
        ("pooling", f"{_MF}: rma.uni is inverse-variance (rma.mh / rma.peto on request)"),
        ("model", f"{_MF}: random effects (method='REML')"),
        ("tau2_method", f"{_MF}: rma.uni method='REML'"),
        ("q_rule", "IV pooling: not applicable"),
        ("add", f"{_MF}: escalc add=1/2"),
        ("to", f"{_MF}: escalc to='only0'"),
        ("drop00", f"{_MF}: escalc drop00=FALSE"),
        ("mh_cc", f"{_MF}: rma.mh with one add/to/drop00 value leaves the MH cells as given"),
        ("i2", f"{_MF}: I^2 = tau^2 / (tau^2 + s^2) (rma.uni Details)"),
        ("test", f"{_MF}: rma.uni test='z'"),
        ("tau2_ci", f"{_MF}: none in the fit; confint() gives the Q-profile CI on request"),
        ("pi", f"{_MF}: predict.rma (normal quantile with test='z')"),
        ("smd_vtype", f"{_MF}: escalc vtype='LS'"),
    ),
)

STATA = Policy(
    "stata",
    "Stata meta (16+): REML random effects; other defaults as documented (see sources)",
    pooling="IV",
    tau2_method="REML",
    q_rule="IV",
    add=0.5,
    to="only0",
    drop00=False,
    i2="tau2",
    test="z",
    tau2_ci="none",
    pi="none",
    smd_vtype="LS",
    sources=(
        (
            "pooling",
            f"{_ST}: random-effects models are inverse-variance (MH only for common effect)",
        ),
        ("model", f"{_ST}: random effects is the declared default model"),
        ("tau2_method", f"{_ST}: 'instead of the default REML method' (meta set)"),
        ("q_rule", "IV pooling: not applicable"),
        ("add", "undocumented in what we found (meta esize zerocells(); 0.5 assumed)"),
        ("to", "undocumented in what we found ('only0' assumed)"),
        ("drop00", "undocumented in what we found (kept, as metafor, assumed)"),
        ("mh_cc", "IV pooling: not applicable"),
        ("i2", "undocumented in what we found (from tau^2, as metafor, assumed)"),
        ("test", "undocumented in what we found (Wald/z assumed)"),
        ("tau2_ci", "undocumented in what we found (none assumed)"),
        ("pi", "undocumented in what we found (no PI assumed)"),
        ("smd_vtype", "undocumented in what we found ('LS' assumed)"),
    ),
)

#: the named policies, by name
POLICIES: dict[str, Policy] = {p.name: p for p in (REVMAN5, REVMAN_WEB, META, METAFOR, STATA)}


def policy_names() -> tuple[str, ...]:
    """The names of the built-in policies."""
    return tuple(POLICIES)


def get_policy(name: str | Policy) -> Policy:
    """The built-in policy ``name`` (a :class:`Policy` is returned as is).

    Examples
    --------
    >>> get_policy("revman5").tau2_method
    'DL'
    >>> get_policy("revman_web").pi
    't_k2'
    """
    if isinstance(name, Policy):
        return name
    key = str(name).strip().lower().replace("-", "_")
    if key not in POLICIES:
        raise ValueError(
            f"unknown tool policy {name!r}; choose one of {', '.join(POLICIES)} "
            "(comma-separated for several)"
        )
    return POLICIES[key]
