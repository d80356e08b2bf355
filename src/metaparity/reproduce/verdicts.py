"""Verdicts on published figures: equal at the paper's rounding, within rounding, a
discrepancy (with its likely cause), or not reproducible.

Everything here works on *printed* values: the text of a number as the paper
prints it (``"43"``, ``"0.0008"``, ``"<0.00001"``), so the rounding a figure was
printed at is known from the figure itself.  The checks that need no data
(:func:`consistency_flags`) look for the typos a careful reader finds by eye: a
Wald CI that is not symmetric about its estimate (a lost minus sign), an upper
bound equal to the estimate, a row identical to another outcome's row (a copy
error), an overall estimate outside every subgroup's CI, impossible study counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "Printed",
    "parse_printed",
    "at_rounding",
    "within_rounding",
    "Flag",
    "Verdict",
    "VERDICTS",
    "compare_triple",
    "consistency_flags",
]

#: the verdict kinds, in the order reports list them
VERDICTS = ("reproduced", "within rounding", "discrepancy", "not reproducible")


@dataclass(frozen=True)
class Printed:
    """A number as printed: its value, the decimals it was printed with, and a relation
    (``"="``, or ``"<"``/``">"`` for figures printed as bounds such as ``p < 0.00001``)."""

    text: str
    value: float
    decimals: int
    op: str = "="

    @property
    def unit(self) -> float:
        """One unit in the last printed place."""
        return 10.0 ** (-self.decimals)


def parse_printed(text: object) -> Printed | None:
    """Parse a printed figure; ``None`` for an empty cell.

    Parameters
    ----------
    text : object
        A table cell: ``"43"``, ``"0.0008"``, ``"<0.00001"``, ``"−2"`` (Unicode minus),
        ``"12%"``; ``None``, NaN or blank for no figure.

    Returns
    -------
    Printed or None
        The value, the decimals it was printed with and its relation (``=``, ``<``, ``>``).

    Raises
    ------
    ValueError
        The cell is not a (finite) number.

    Examples
    --------
    >>> parse_printed("0.0008")
    Printed(text='0.0008', value=0.0008, decimals=4, op='=')
    >>> parse_printed("<0.00001").op
    '<'
    >>> parse_printed("-2").value
    -2.0
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    s = str(text).strip().replace("\u2212", "-").replace("%", "")
    if not s or s.lower() == "nan":
        return None
    op = "="
    if s[0] in "<>":
        op, s = s[0], s[1:].strip()
        if s.startswith("="):
            s = s[1:].strip()
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    exp = d.as_tuple().exponent
    decimals = max(0, -int(exp)) if isinstance(exp, int) else 0
    return Printed(str(text).strip(), float(d), decimals, op)


def _round(x: float, decimals: int) -> Decimal:
    q = Decimal(1).scaleb(-decimals)
    r = Decimal(repr(float(x))).quantize(q, rounding=ROUND_HALF_UP)
    return r if r != 0 else abs(r)  # -0 == 0


def at_rounding(ours: float, printed: Printed) -> bool:
    """``ours`` printed the paper's way gives the printed figure (round half up).

    Parameters
    ----------
    ours : float
        The value computed from the data.
    printed : Printed
        The printed figure; a bound (``<0.00001``) is met when ``ours`` satisfies it.

    Returns
    -------
    bool
        True when rounding ``ours`` half up to the printed decimals gives the figure.

    Examples
    --------
    >>> at_rounding(23.49, parse_printed("23")), at_rounding(-0.4, parse_printed("0"))
    (True, True)
    >>> at_rounding(3e-6, parse_printed("<0.00001"))
    True
    """
    if not math.isfinite(ours):
        return False
    if printed.op == "<":
        return ours < printed.value
    if printed.op == ">":
        return ours > printed.value
    return _round(ours, printed.decimals) == _round(printed.value, printed.decimals)


def within_rounding(ours: float, printed: Printed) -> bool:
    """Less than one unit in the last printed place away (e.g. truncated, not rounded).

    Parameters
    ----------
    ours : float
        The value computed from the data.
    printed : Printed
        The printed figure (a bound is checked as in :func:`at_rounding`).

    Returns
    -------
    bool
        True when ``|ours - printed| < 1`` unit of the last printed digit.

    Examples
    --------
    >>> within_rounding(23.7, parse_printed("23")), within_rounding(24.6, parse_printed("23"))
    (True, False)
    """
    if not math.isfinite(ours):
        return False
    if printed.op != "=":
        return at_rounding(ours, printed)
    return abs(ours - printed.value) < printed.unit * (1 + 1e-9)


@dataclass(frozen=True)
class Flag:
    """A likely typo found without data: ``kind`` (e.g. ``"lost minus sign"``) and the why."""

    kind: str
    text: str


@dataclass
class Verdict:
    """The verdict on one published figure."""

    kind: str  # one of VERDICTS
    cause: str = ""  # the likely cause of a discrepancy, or what is missing
    flags: list[Flag] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in VERDICTS:
            raise ValueError(f"unknown verdict {self.kind!r}; expected one of {VERDICTS}")

    @property
    def label(self) -> str:
        return self.kind + (f": {self.cause}" if self.cause else "")


Triple = tuple[float, float, float]
PrintedTriple = tuple[Printed | None, Printed | None, Printed | None]
_PARTS = ("estimate", "lower bound", "upper bound")


def compare_triple(
    ours: Triple, printed: PrintedTriple, *, others: dict[str, Triple] | None = None
) -> Verdict:
    """Verdict on a printed estimate with its CI against our (estimate, lower, upper).

    Parameters
    ----------
    ours : tuple of 3 floats
        Estimate and CI bounds from the data (metafor ``predict()``: ``pred``, ``ci.lb``,
        ``ci.ub``), on the printed scale.
    printed : tuple of 3 (Printed or None)
        The printed estimate and bounds; ``None`` where nothing is printed.
    others : dict of str to tuple of 3 floats, optional
        Other analyses' names (e.g. the other subgroup) to their computed triples, so a
        figure printed under the wrong subgroup is recognised.

    Returns
    -------
    Verdict
        ``reproduced``, ``within rounding``, ``discrepancy`` (with its likely cause: a lost
        minus sign, swapped subgroups, or unexplained) or ``not reproducible``.

    Examples
    --------
    >>> P = parse_printed
    >>> compare_triple((2.0, -0.6, 3.9), (P("2"), P("1"), P("4"))).label
    'discrepancy: lost minus sign in the lower bound (printed 1, the data give -0.6)'
    """
    pairs = [(o, p) for o, p in zip(ours, printed, strict=True) if p is not None]
    if not pairs:
        return Verdict("not reproducible", "the paper prints no figure here")
    if all(at_rounding(o, p) for o, p in pairs):
        return Verdict("reproduced")
    if all(within_rounding(o, p) for o, p in pairs):
        worst = max(abs(o - p.value) / p.unit for o, p in pairs)
        return Verdict("within rounding", f"off by {worst:.2f} of the last printed digit")
    # a lost minus sign: a printed non-negative bound whose negative is what the data give
    for i in (1, 2):
        p = printed[i]
        if p is None or p.value <= 0:
            continue
        flipped = Printed("-" + p.text, -p.value, p.decimals)
        rest_ok = all(
            within_rounding(o, q)
            for j, (o, q) in enumerate(zip(ours, printed, strict=True))
            if j != i and q is not None
        )
        if rest_ok and within_rounding(ours[i], flipped):
            return Verdict(
                "discrepancy",
                f"lost minus sign in the {_PARTS[i]} (printed {p.text}, the data give "
                f"{_fmt(ours[i], p.decimals + 1)})",
            )
    for name, tri in (others or {}).items():
        if all(within_rounding(o, p) for o, p in zip(tri, printed, strict=True) if p is not None):
            return Verdict(
                "discrepancy",
                f"swapped: the printed figure is what the data give for {name} "
                f"({_fmt_triple(tri)})",
            )
    o_far, p_far = max(pairs, key=lambda op: abs(op[0] - op[1].value))
    return Verdict(
        "discrepancy",
        f"unexplained: data give {_fmt_triple(ours)}, printed "
        f"{' / '.join(p.text if p else '-' for p in printed)} "
        f"(largest gap {abs(o_far - p_far.value):.2f})",
    )


def _fmt(x: float, d: int = 1) -> str:
    return f"{x:.{max(d, 1)}f}"


def _fmt_triple(t: Triple) -> str:
    return f"{t[0]:.1f} ({t[1]:.1f} to {t[2]:.1f})"


# --------------------------------------------------------------------------- #
# checks that need no data
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class PublishedRow:
    """What :func:`consistency_flags` needs to know of one published row."""

    key: tuple[str, str, str]  # outcome, grade, subgroup ("overall" for all studies)
    est: Printed | None
    lb: Printed | None
    ub: Printed | None
    k: int | None = None
    id: object = None  # what flags are keyed by (default: key); e.g. the file line
    scale: float = 100.0  # 100: printed in percent, 1: as proportions

    @property
    def ident(self) -> object:
        return self.key if self.id is None else self.id


def consistency_flags(
    rows: list[PublishedRow],
    *,
    symmetric: bool = True,
    subgroup_sizes: dict[str, int] | None = None,
) -> dict[object, list[Flag]]:
    """Typos detectable from the printed figures alone (no metafor equivalent).

    Parameters
    ----------
    rows : list of PublishedRow
        The printed rows (estimate, CI bounds and study count, as printed).
    symmetric : bool, default True
        The CIs are Wald intervals on the printed scale (raw proportions), hence
        symmetric about the estimate up to rounding.
    subgroup_sizes : dict of str to int, optional
        How many studies each subgroup has, to catch study counts no analysis could have.

    Returns
    -------
    dict
        Row identity (:attr:`PublishedRow.ident`) to the :class:`Flag` list raised for it;
        rows without a flag are absent.

    Examples
    --------
    >>> P = parse_printed
    >>> consistency_flags([PublishedRow(("ORR", "na", "overall"), P("50"), P("10"), P("40"))])
    {('ORR', 'na', 'overall'): [Flag(kind='garbled row', text='printed estimate 50 lies outside its own CI [10, 40]: a typo in the paper')]}
    """
    out: dict[object, list[Flag]] = {}
    for r in rows:
        _flag_ci(out, r, symmetric)
    _flag_copies(out, rows)
    groups: dict[tuple[str, str], list[PublishedRow]] = {}
    for r in rows:
        groups.setdefault(r.key[:2], []).append(r)
    for rs in groups.values():
        _flag_group(out, rs, subgroup_sizes)
    return out


def _add(out: dict[object, list[Flag]], row: PublishedRow, kind: str, text: str) -> None:
    out.setdefault(row.ident, []).append(Flag(kind, text))


def _flag_ci(out: dict[object, list[Flag]], r: PublishedRow, symmetric: bool) -> None:
    """A row's estimate outside its CI, a reversed or empty CI, a missing bound, an
    estimate that is no proportion, or (Wald CIs) a CI not symmetric about it."""
    unit_name = "%" if r.scale == 100 else ""
    if r.est is not None and r.est.op == "=" and not 0 <= r.est.value <= r.scale:
        _add(out, r, "impossible value",
             f"printed estimate {r.est.text}{unit_name} is not a proportion (0 to "
             f"{r.scale:g}{unit_name}): a typo in the paper")  # fmt: skip
    if r.est is not None and (r.lb is None) != (r.ub is None):
        which = "lower" if r.lb is None else "upper"
        _add(out, r, "incomplete row", f"CI printed without its {which} bound")
    if r.lb is not None and r.ub is not None and r.lb.value > r.ub.value:
        _add(out, r, "garbled row",
             f"CI printed reversed [{r.lb.text}, {r.ub.text}] (lower bound > upper bound): a "
             "typo in the paper")  # fmt: skip
        return
    if r.est is None or r.lb is None or r.ub is None:
        return
    e, lo, hi = r.est.value, r.lb.value, r.ub.value
    unit = max(r.est.unit, r.lb.unit, r.ub.unit)
    if hi == e and lo < e:
        _add(out, r, "garbled row", f"upper bound {r.ub.text} equals the estimate {r.est.text}")
    elif lo == hi:
        _add(out, r, "garbled row",
             f"CI printed with equal bounds [{r.lb.text}, {r.ub.text}]"
             + ("" if e == lo else f" and the estimate {r.est.text} outside it")
             + ": a typo in the paper")  # fmt: skip
    elif not lo <= e <= hi:
        _add(out, r, "garbled row",
             f"printed estimate {r.est.text} lies outside its own CI [{r.lb.text}, {r.ub.text}]: "
             "a typo in the paper")  # fmt: skip
    elif symmetric:
        # each printed value is off by <= unit/2, so 2e - lo - hi by <= 2 units
        asym = 2 * e - lo - hi
        if abs(asym) > 2 * unit * (1 + 1e-9):
            fixed = [
                (name, flo if name == "lower" else fhi)
                for name, flo, fhi, val in (("lower", -lo, hi, lo), ("upper", lo, -hi, hi))
                if val > 0 and flo <= e <= fhi and abs(2 * e - flo - fhi) <= 2 * unit
            ]
            if fixed:
                name, alt = fixed[0]
                _add(
                    out,
                    r,
                    "lost minus sign",
                    f"CI {r.lb.text} to {r.ub.text} is not symmetric about {r.est.text} (a Wald "
                    f"interval is); a {name} bound of {alt:g} makes it symmetric",
                )
            else:
                _add(
                    out,
                    r,
                    "garbled row",
                    f"CI {r.lb.text} to {r.ub.text} is not symmetric about {r.est.text} "
                    "(a Wald interval on this scale is)",
                )


def _flag_copies(out: dict[object, list[Flag]], rows: list[PublishedRow]) -> None:
    """Rows identical to another outcome's row (same subgroup and grade)."""
    seen: dict[tuple[str, ...], list[PublishedRow]] = {}
    for r in rows:
        if r.est is None or r.lb is None or r.ub is None:
            continue
        sig = (r.key[1], r.key[2], r.est.text, r.lb.text, r.ub.text)
        seen.setdefault(sig, []).append(r)
    for same in seen.values():
        outcomes = {r.key[0] for r in same}
        if len(outcomes) > 1:
            for r in same:
                twins = ", ".join(sorted(o for o in outcomes if o != r.key[0]))
                _add(
                    out, r, "copy error", f"identical to the {twins} row (same subgroup and grade)"
                )


def _flag_group(
    out: dict[object, list[Flag]],
    rs: list[PublishedRow],
    subgroup_sizes: dict[str, int] | None,
) -> None:
    """One outcome x grade: an overall estimate outside every subgroup's CI range (it
    cannot come from pooling them), impossible study counts, and k that do not add up."""
    overalls = [(r, r.est) for r in rs if r.key[2] == "overall" and r.est is not None]
    subs = [r for r in rs if r.key[2] != "overall" and r.lb is not None and r.ub is not None]
    if not overalls or len(subs) < 2:
        return
    lo = min(r.lb.value for r in subs if r.lb is not None)
    hi = max(r.ub.value for r in subs if r.ub is not None)
    for overall, est in overalls:
        if lo <= est.value <= hi:
            continue
        _add(
            out,
            overall,
            "impossible value",
            f"overall estimate {est.text} lies outside every subgroup's CI "
            f"({lo:g} to {hi:g}); a pooled estimate cannot",
        )
    if subgroup_sizes:
        _flag_study_counts(out, subs, subgroup_sizes)
    ks = [r.k for r in subs if r.k is not None]
    if len(ks) == len(subs):
        total = sum(ks)
        for overall, _ in overalls:
            if overall.k is not None and total != overall.k:
                _add(
                    out,
                    overall,
                    "study count",
                    f"overall k = {overall.k} but the subgroups' k add up to {total}",
                )


def _flag_study_counts(
    out: dict[object, list[Flag]], subs: list[PublishedRow], subgroup_sizes: dict[str, int]
) -> None:
    """Subgroups printed with more studies than they have (and the swap that fixes it)."""
    bad = [(r, r.k) for r in subs if r.k is not None and r.k > subgroup_sizes.get(r.key[2], 10**9)]
    for r, rk in bad:
        swap = [
            s
            for s in subs
            if s is not r
            and s.k is not None
            and s.k <= subgroup_sizes.get(r.key[2], 0)
            and rk <= subgroup_sizes.get(s.key[2], 0)
        ]
        how = (
            f"; swapping with {swap[0].key[2]} (k = {swap[0].k}) makes both possible"
            if swap
            else ""
        )
        for row in [r, *swap[:1]]:
            _add(
                out,
                row,
                "impossible study count",
                f"{r.key[2]} is printed with k = {r.k} but has only "
                f"{subgroup_sizes[r.key[2]]} studies{how}",
            )
