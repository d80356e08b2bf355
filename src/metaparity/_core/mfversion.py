"""Which metafor release's behaviour metaparity mirrors (``set_metafor_version``).

metafor changed some numbers between releases (the iterated DL estimator, the ROM/CVR
bias corrections, Orwin's fail-safe N, R^2 for models without an intercept ...).  A
parity tool has to say which metafor it matches, so every behaviour that differs
between releases asks :func:`since` which one is selected.  The selection is
library-wide:

* the environment variable ``METAPARITY_METAFOR`` (read once, at the first use),
* :func:`set_metafor_version` (returns the previous setting),
* ``with metafor_version("4.8"): ...`` (restores the previous setting on exit),

and defaults to :data:`NEWEST`, the newest metafor metaparity has been checked against.
The parity harness, the pytest plugin and ``metaparity reproduce`` select the version of
the metafor the R bridge finds.

A version that is not one of :data:`KNOWN` is mapped to the newest known release not
newer than it (the oldest known one when it predates them all), with a warning.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator

__all__ = [
    "KNOWN",
    "NEWEST",
    "CHANGES",
    "parse_version",
    "resolve_version",
    "set_metafor_version",
    "get_metafor_version",
    "metafor_version",
    "since",
]

#: metafor releases whose behaviour metaparity knows (and has been checked against).
KNOWN: tuple[str, ...] = ("3.8", "4.4", "4.6", "4.8", "5.0", "5.1")

#: The default: the newest metafor metaparity has been checked against.
NEWEST = KNOWN[-1]

#: The numerical changes metaparity mirrors, by the release that made them (each checked
#: in metafor's NEWS and its public repository).
CHANGES: dict[str, str] = {
    "dlit_pm": "4.6: method='DLIT' iterates tau^2 <- (RSS - tr(PV)) / tr(P), whose fixed "
    "point is the Paule-Mandel root; se(tau^2) takes the PM/EB form",
    "uniroot_message": "4.6: a failed uniroot() search for the PM/PMM tau^2 stops with 'Error in "
    "iterative search for tau^2 using uniroot().' (before: 'tau2')",
    "fsn_orwin_weighted": "4.4: fsn(type='Orwin') uses weighted averages whenever sampling "
    "variances are given (the 'weighted' argument was removed)",
    "fsn_general": "4.4: fsn() gains type='General' (Orwin's and Rosenberg's methods based on "
    "a chosen, by default random-effects, model), the undocumented type='Binomial' (sign "
    "test), accepts a fitted rma model (then type='General' with the model's method and "
    "test), and searches Rosenthal's Fisher-pooled N (pool='fisher'; 3.8: test='Fisher') "
    "from [0, 50 k] instead of [0, 1000]",
    "fsn_general_round": "4.8: fsn(type='General') computes est.fsn, tau2.fsn and pval.fsn at "
    "the rounded fail-safe N (4.4 and 4.6: at the unrounded root, i.e. at its floor)",
    "trimfill_control": "4.4: trimfill() refits the side and trimmed models with the model's "
    "control settings (the final fit on the filled data keeps metafor's default control)",
    "escalc_correct": "4.8: escalc() gains correct= (correct=FALSE switches off the bias "
    "correction of SMD, giving Cohen's d; metafor 3.8 disregards the argument with a "
    "warning); ROM has no correction in 4.8 whatever correct says",
    "rom_correct": "5.0: escalc() applies the second-order bias corrections to ROM, ROMC, "
    "CVR and CVRC by default (correct=FALSE switches them off)",
    "r2_nested": "5.0: R^2 is reported whenever a standard random-effects model is nested "
    "in the fitted model (e.g. no intercept but a full set of group dummies)",
    "test_hksj": "4.6: rma() accepts test='hksj' as an alias of test='knha' (3.8, 4.4: an error)",
    "method_co_vc": "5.0: rma() accepts method='CO' (Cochran) and method='VC' (variance "
    "component) as aliases of method='HE' (before: \"Unknown 'method' specified.\")",
    "mh_na_count": "4.4: (the first release metaparity knows after 4.2-0, where it came) "
    "rma.mh() and rma.peto() (as every function that omits studies with "
    "missing values) say how many: 'N studies with NAs omitted from model fitting.' (3.8: "
    "'Tables with NAs omitted from model fitting.'; metafor NEWS 4.2-0: 'functions that issue "
    "a warning when omitting studies due to NAs now indicate how many were omitted')",
    "print_fmtx": "4.4: (the first release metaparity knows after 4.0-0, where it came) print methods format numbers with fmtx() (formatC, untrimmed: +-Inf is "
    "right-justified to digits + 1 characters, '  Inf' at 4 digits; 3.8 trims it to 'Inf')",
    "vcalc_names": "4.4: (the first release metaparity knows after 4.0-0, where it came) "
    "vcalc() looks obs/type values up by name in the rho matrices (metafor NEWS 4.0-0: 'values "
    "for obs and type were taken directly as indices instead of using them as identifiers')",
    "l1o_cumul_labels": "4.8: leave1out() labels each row '-<slab>' (the study left out; "
    "gaining cluster=) and cumul() reports k, the studies in each fit (gaining collapse=)",
    "leave1out_pooled_tables": "4.8: leave1out() of rma.peto and rma.mh refits the tables as "
    "the model pooled them (after the second continuity correction, add[2]/to[2]; a "
    "corrected double-zero table then gets an effect size) and applies add/to again; "
    "before: the tables as given",
    "ranktest_normal": "5.0: ranktest() gives a normal-approximation p-value when the exact "
    "one is unavailable (many estimates)",
    "permutest_btt": "4.8: permutest() gains btt= (the coefficients of the omnibus test; 3.8: "
    "'Extra argument ('btt') disregarded.', QM tests the model's own btt)",
}

#: the release that made each change
_SINCE: dict[str, str] = {key: text.split(":", 1)[0] for key, text in CHANGES.items()}

_ENV = "METAPARITY_METAFOR"
_PATTERN = re.compile(r"^\s*(\d+)\.(\d+)(?:[.-](\d+))?\s*$")
_current: str | None = None


def _key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def parse_version(version: object) -> tuple[int, int, int]:
    """Parse a metafor version string such as ``"4.8"``, ``"4.8-0"`` or ``"5.1.12"``.

    Parameters
    ----------
    version : str
        As ``packageVersion("metafor")`` prints it (``"4.8.0"``), as the package's
        DESCRIPTION spells it (``"4.8-0"``), or major.minor (``"4.8"``).

    Returns
    -------
    tuple of int
        ``(major, minor, patch)``; patch is 0 when not given.

    Raises
    ------
    ValueError
        When ``version`` is not a version string; the message lists the known versions.
    """
    m = _PATTERN.match(version) if isinstance(version, str) else None
    if m is None:
        raise ValueError(
            f"malformed metafor version {version!r}: give major.minor[.patch] such as '4.8' "
            f"or '4.8-0'; known versions: {', '.join(KNOWN)}"
        )
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def resolve_version(version: object, *, warn: bool = True) -> str:
    """Return the known metafor release whose behaviour ``version`` gets.

    Parameters
    ----------
    version : str
        Any metafor version string (see :func:`parse_version`).
    warn : bool
        Warn when ``version`` is not one of :data:`KNOWN` (the nearest known behaviour
        is used: the newest known release not newer than it, as metafor does not take
        back a change; the oldest known one for versions older than all of them).

    Returns
    -------
    str
        One of :data:`KNOWN` (major.minor), as metafor's NEWS names its releases.
    """
    major, minor, _ = parse_version(version)
    want = (major, minor)
    older = [k for k in KNOWN if _key(k) <= want]
    chosen = older[-1] if older else KNOWN[0]
    if _key(chosen) != want and warn:
        warnings.warn(
            f"metafor {version} is not a version metaparity knows ({', '.join(KNOWN)}); "
            f"using the behaviour of metafor {chosen}, the nearest known one",
            UserWarning,
            stacklevel=3,
        )
    return chosen


def get_metafor_version() -> str:
    """Return the metafor release whose behaviour is selected (one of :data:`KNOWN`).

    metafor has no such setting: this is which ``packageVersion("metafor")`` metaparity
    mirrors.  The first call reads ``METAPARITY_METAFOR`` when it is set.

    Parameters
    ----------
    None

    Returns
    -------
    str
        major.minor, e.g. ``"5.1"``.
    """
    global _current
    if _current is None:
        env = os.environ.get(_ENV, "").strip()
        if env:
            try:
                _current = resolve_version(env)
            except ValueError as exc:
                raise ValueError(f"environment variable {_ENV}: {exc}") from None
        else:
            _current = NEWEST
    return _current


def set_metafor_version(version: str | None) -> str:
    """Select the metafor release whose behaviour metaparity mirrors (library-wide).

    The counterpart of running a given ``packageVersion("metafor")`` in R.

    Parameters
    ----------
    version : str or None
        A metafor version (``"3.8"``, ``"4.8.0"``, ``"5.1-12"`` ...); ``None`` restores
        the default (``METAPARITY_METAFOR`` when set, else :data:`NEWEST`).

    Returns
    -------
    str
        The previous setting (pass it back to restore it).
    """
    global _current
    previous = get_metafor_version()
    if version is None:
        _current = None
        get_metafor_version()
    else:
        _current = resolve_version(version)
    return previous


@contextlib.contextmanager
def metafor_version(version: str) -> Iterator[str]:
    """Mirror metafor ``version`` inside a ``with`` block, as in R with that metafor loaded.

    Parameters
    ----------
    version : str
        A metafor version (see :func:`set_metafor_version`).

    Returns
    -------
    contextlib.AbstractContextManager
        Entering it yields the known release selected (one of :data:`KNOWN`).
    """
    previous = set_metafor_version(version)
    try:
        yield get_metafor_version()
    finally:
        set_metafor_version(previous)


def since(change: str, version: str | None = None) -> bool:
    """Whether a metafor change (a key of :data:`CHANGES`) applies to the selected release.

    Parameters
    ----------
    change : str
        A key of :data:`CHANGES`.
    version : str, optional
        Ask for this version instead of the selected one.

    Returns
    -------
    bool
        ``True`` when the selected (or given) metafor has the change.
    """
    first = _SINCE[change]
    chosen = get_metafor_version() if version is None else resolve_version(version, warn=False)
    return _key(chosen) >= _key(first)
