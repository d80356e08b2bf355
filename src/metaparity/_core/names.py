"""Names shared across modules: estimators, tests, measures (metafor spelling)."""

from __future__ import annotations

from typing import Literal, TypeVar, get_args

_S = TypeVar("_S", bound=str)

#: Effect-size measures accepted by :func:`metaparity.effects.escalc` (metafor's names), in
#: the order of ``metaparity.effects.MEASURES`` (a test keeps the two equal).
Measure = Literal[
    "PR", "PLN", "PLO", "PAS", "PFT",
    "OR", "RR", "RD",
    "MD", "SMD", "ROM",
    "ZCOR", "COR",
    "GEN",
]  # fmt: skip

#: The tau^2 estimator names (metafor's spelling) as a type, for annotations.
MethodName = Literal[
    "EE", "FE", "DL", "DLIT", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML", "EB", "PM", "PMM",
    "GENQ",
]  # fmt: skip

#: tau^2 estimators accepted by :func:`metaparity.rma` (metafor 3.8 names).
METHODS: tuple[MethodName, ...] = get_args(MethodName)

#: Estimators with a closed form (no iteration, no root finding).
CLOSED_FORM: frozenset[str] = frozenset({"EE", "FE", "DL", "HE", "HS", "HSk", "SJ", "GENQ"})

#: Estimators found by iteration or root finding.
ITERATIVE: frozenset[str] = frozenset(set(METHODS) - CLOSED_FORM)

#: The test names (metafor's ``test=``) as a type, for annotations.
TestName = Literal["z", "t", "knha", "adhoc"]

#: Inference for the pooled estimate (metafor's ``test=``).
TESTS: tuple[TestName, ...] = get_args(TestName)


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
