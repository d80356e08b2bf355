"""Names shared across modules: estimators, tests, measures (metafor spelling)."""

from __future__ import annotations

from typing import Literal, TypeVar, cast, get_args

from metaparity._core.mfversion import since

_S = TypeVar("_S", bound=str)

#: Effect-size measures accepted by :func:`metaparity.effects.escalc` (metafor's names), in
#: the order of ``metaparity.effects.MEASURES`` (a test keeps the two equal).
Measure = Literal[
    "PR", "PLN", "PLO", "PAS", "PFT",
    "OR", "RR", "RD", "PETO",
    "MD", "SMD", "ROM",
    "ZCOR", "COR",
    "GEN",
]  # fmt: skip

#: The tau^2 estimator names (metafor's spelling) as a type, for annotations.
MethodName = Literal[
    "EE", "FE", "DL", "DLIT", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML", "EB", "PM", "PMM",
    "GENQ", "CE", "MP", "CO", "VC",
]  # fmt: skip

#: tau^2 estimators accepted by :func:`metaparity.rma` (metafor's names, aliases included).
METHODS: tuple[MethodName, ...] = get_args(MethodName)

#: metafor's aliases: CE (common effect) = EE, MP (Mandel-Paule) = PM, and since 5.0
#: CO (Cochran) and VC (variance component) = HE.
METHOD_ALIASES: dict[str, MethodName] = {"CE": "EE", "MP": "PM", "CO": "HE", "VC": "HE"}

#: Estimators with a closed form (no iteration, no root finding).
CLOSED_FORM: frozenset[str] = frozenset(
    {"EE", "FE", "CE", "DL", "HE", "CO", "VC", "HS", "HSk", "SJ", "GENQ"}
)

#: Estimators found by iteration or root finding.
ITERATIVE: frozenset[str] = frozenset(set(METHODS) - CLOSED_FORM)

#: The test names (metafor's ``test=``) as a type, for annotations; ``"hksj"`` is
#: metafor's (>= 4.6) alias of ``"knha"``.
TestName = Literal["z", "t", "knha", "adhoc", "hksj"]

#: Inference for the pooled estimate (metafor's ``test=``).
TESTS: tuple[TestName, ...] = get_args(TestName)


def estimating_method(method: str) -> str:
    """The estimator that computes ``method`` under the selected metafor release.

    metafor's aliases map to the estimator they name, and ``"DLIT"`` is the
    Paule-Mandel root from metafor 4.6 on (its iteration was changed to
    ``tau^2 <- (RSS - tr(PV)) / tr(P)``, whose fixed point is PM's; see
    :data:`metaparity._core.mfversion.CHANGES`).  The result's ``method`` keeps the
    name the user gave, as metafor's does.

    Parameters
    ----------
    method : str
        A name of :data:`METHODS`.

    Returns
    -------
    str
        The name of the estimator the engines run.

    Notes
    -----
    metafor accepts ``"CO"``/``"VC"`` from 5.0 on (before: "Unknown 'method' specified.",
    ``CHANGES["method_co_vc"]``); metaparity accepts them under every release, as they
    compute what they name.
    """
    if method == "DLIT" and since("dlit_pm"):
        return "PM"
    return METHOD_ALIASES.get(method, method)


def estimating_test(test: _S) -> _S:
    """``"knha"`` for metafor's alias ``"hksj"``; every other test name unchanged.

    Parameters
    ----------
    test : str
        A name of :data:`TESTS`.

    Returns
    -------
    str
        The test the engines run.

    Notes
    -----
    metafor accepts ``"hksj"`` from 4.6 on (``CHANGES["test_hksj"]``); metaparity accepts
    it under every release.
    """
    return cast(_S, "knha") if test == "hksj" else test


def family(method: str) -> str:
    """Return ``"closed"`` or ``"iterative"`` for a tau^2 estimator name."""
    return "closed" if method in CLOSED_FORM else "iterative"


def check_choice(name: str, value: object, choices: tuple[_S, ...]) -> _S:
    """Validate ``value`` against ``choices`` (case-sensitive as in metafor)."""
    if not isinstance(value, str) or value not in choices:
        hint = ""
        if isinstance(value, str):
            near = [c for c in choices if c.lower() == value.lower()]
            if near:
                hint = f" (did you mean {near[0]!r}? names are case-sensitive as in metafor)"
        raise ValueError(f"unknown {name} {value!r}{hint}; choose one of: {', '.join(choices)}")
    return value
