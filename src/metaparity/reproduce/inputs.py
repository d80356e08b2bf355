"""Reading the inputs of :func:`metaparity.reproduce.pipeline.reproduce` -- per-study counts,
printed figures, and pairs quoted in the text -- with errors that name the file, the
line, the column and the fix; and checking the text's pairs against the printed table.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metaparity._core.io import InputError, read_table
from metaparity.reproduce.verdicts import Flag, Printed, Verdict, parse_printed

__all__ = [
    "load_counts",
    "load_published",
    "load_claims",
    "ClaimRow",
    "check_claims",
    "remark_verdict",
]

OVERALL = "overall"
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


# --------------------------------------------------------------------------- #
# input
# --------------------------------------------------------------------------- #
def _where(df: pd.DataFrame) -> str:
    return str(df.attrs.get("source", "data"))


def _line(i: int) -> int:
    return i + 2  # header is line 1


def _require(df: pd.DataFrame, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(
            f"{_where(df)}: {what} needs column(s) {', '.join(missing)}; columns present: "
            f"{', '.join(map(str, df.columns))}"
        )


def _text(df: pd.DataFrame, col: str, default: str = "") -> pd.Series:
    if col not in df.columns:
        return pd.Series([default] * len(df), index=df.index, dtype=object)
    return df[col].map(lambda x: default if _blank(x) else str(x).strip())


def _blank(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or str(x).strip() == ""


def load_counts(data: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    """Read and check per-study counts; errors name file, line, column and the fix.

    Parameters
    ----------
    data : str, PathLike or DataFrame
        CSV/TSV (or a frame) with ``study, outcome, events, n`` and optionally
        ``subgroup, grade, source, note, included``; an empty ``events`` is unknown.

    Returns
    -------
    DataFrame
        ``study, subgroup, outcome, grade, events`` (float, NaN = unknown), ``n``,
        ``included`` (bool), ``source``, ``note``; ``attrs["source"]`` names the input.

    Raises
    ------
    InputError
        Missing columns, empty names, non-numbers, events > n, duplicated rows, a
        study in several subgroups, or a subgroup named ``overall``.
    """
    df = read_table(data) if not isinstance(data, pd.DataFrame) else data.copy()
    where = _where(df)
    _require(df, ["study", "outcome", "events", "n"], "the per-study data")
    out = pd.DataFrame(
        {
            "study": _text(df, "study"),
            "subgroup": _text(df, "subgroup", "all"),
            "outcome": _text(df, "outcome"),
            "grade": _text(df, "grade", "na"),
            "source": _text(df, "source"),
            "note": _text(df, "note"),
        }
    )
    for col in ("study", "outcome"):
        empty = out[col] == ""
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise InputError(f"{where}: line {_line(i)}, column {col!r} is empty; name it")
    for col in ("events", "n"):
        vals = pd.to_numeric(df[col], errors="coerce")
        bad = vals.isna() & ~df[col].map(_blank)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{where}: line {_line(i)} ({out.study.iloc[i]}, {out.outcome.iloc[i]}), column "
                f"{col!r}: {df[col].iloc[i]!r} is not a number; give a count (leave events empty "
                "if unknown)"
            )
        out[col] = vals.to_numpy(dtype=float)
    for i in range(len(out)):
        r = out.iloc[i]
        who = f"{where}: line {_line(i)} ({r.study}, {r.outcome}, grade {r.grade})"
        if not (math.isfinite(r.n) and r.n > 0 and float(r.n).is_integer()):
            raise InputError(f"{who}: n = {r.n:g} must be a positive whole number of patients")
        if math.isfinite(r.events):
            if r.events < 0 or not float(r.events).is_integer():
                raise InputError(f"{who}: events = {r.events:g} must be a whole number >= 0")
            if r.events > r.n:
                raise InputError(
                    f"{who}: events = {r.events:g} > n = {r.n:g}; check the count or the "
                    "denominator (e.g. the evaluable vs the enrolled population)"
                )
    inc = pd.Series(True, index=out.index)
    if "included" in df.columns:
        for i, x in enumerate(df["included"]):
            s = "" if _blank(x) else str(x).strip().lower()
            if s in _FALSE:
                inc.iloc[i] = False
            elif s and s not in _TRUE:
                raise InputError(
                    f"{where}: line {_line(i)}, column 'included': {x!r}; use true/false"
                )
    not_pooled = out["events"].isna() & out["note"].str.lower().str.startswith("not pooled")
    out["included"] = inc & ~not_pooled
    dup = out.duplicated(["study", "outcome", "grade"], keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[1])
        r = out.iloc[i]
        raise InputError(
            f"{where}: line {_line(i)} repeats study {r.study!r} for outcome {r.outcome!r} "
            f"grade {r.grade!r}; give one row per study x outcome x grade"
        )
    groups = out.groupby("study")["subgroup"].nunique()
    if (groups > 1).any():
        s = groups[groups > 1].index[0]
        raise InputError(
            f"{where}: study {s!r} is in several subgroups "
            f"({', '.join(sorted(out.subgroup[out.study == s].unique()))}); a study has one"
        )
    if (out["subgroup"] == OVERALL).any():
        raise InputError(f"{where}: 'overall' is reserved for all studies; rename that subgroup")
    out.attrs["source"] = where
    return out


_PUB_SCALES = (
    ("estimate_pct", "ci_low_pct", "ci_high_pct", 100.0),
    ("estimate", "ci_low", "ci_high", 1.0),
)


def load_published(published: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    """Read and check the published figures (kept as printed text, so the rounding is known).

    Parameters
    ----------
    published : str, PathLike or DataFrame
        CSV/TSV (or a frame) with ``outcome, subgroup, estimate_pct, ci_low_pct,
        ci_high_pct`` (or ``estimate, ci_low, ci_high`` as proportions) and optionally
        ``grade, k_studies, model, p_subgroup_diff, location, typo_note``.

    Returns
    -------
    DataFrame
        One row per printed row: ``line, outcome, grade, subgroup, scale``, ``est``,
        ``lb``, ``ub``, ``p`` (:class:`~metaparity.reproduce.verdicts.Printed` or None),
        ``k_text``, ``k``, ``model``, ``location``, ``typo_note``.

    Raises
    ------
    InputError
        Missing columns, a cell that is not a number, or a ``k_studies`` that is not a
        whole number (each message names the file, line, column, value and the fix).
        Implausible printed figures (an estimate outside its CI, a reversed CI, a value
        that is no proportion) are not errors: they get a verdict, as the typos they are.
    """
    if isinstance(published, pd.DataFrame):
        df = published.astype(object).where(published.notna(), "")
        df.attrs.update(published.attrs)
    else:
        df = read_table(published, as_text=True)
    where = _where(df)
    cols = next((c for c in _PUB_SCALES if c[0] in df.columns), None)
    if cols is None:
        raise InputError(
            f"{where}: the published figures need estimate_pct, ci_low_pct, ci_high_pct (percent) "
            f"or estimate, ci_low, ci_high (proportions); columns present: {', '.join(df.columns)}"
        )
    _require(df, ["outcome", "subgroup", cols[1], cols[2]], "the published figures")
    rows = []
    for i in range(len(df)):
        r = df.iloc[i]
        rec: dict[str, Any] = {
            "line": _line(i),
            "outcome": str(r["outcome"]).strip(),
            "grade": str(r.get("grade", "") or "na").strip() or "na",
            "subgroup": str(r["subgroup"]).strip(),
            "scale": cols[3],
        }
        for name, col in zip(("est", "lb", "ub"), cols[:3], strict=False):
            try:
                rec[name] = parse_printed(r[col])
            except ValueError as err:
                raise InputError(f"{where}: line {_line(i)}, column {col!r}: {err}") from None
        try:
            rec["p"] = parse_printed(r.get("p_subgroup_diff", ""))
        except ValueError as err:
            raise InputError(f"{where}: line {_line(i)}, column 'p_subgroup_diff': {err}") from None
        kt = str(r.get("k_studies", "")).strip()
        rec["k_text"] = kt
        kk = kt.split()[0] if kt else ""
        if kk and not kk.isdigit():
            raise InputError(
                f"{where}: line {_line(i)}, column 'k_studies': {kt!r} is not a whole number of "
                "studies >= 0; give e.g. 4 (a note may follow the number: '4 (two pooled)') "
                "or leave it empty"
            )
        rec["k"] = int(kk) if kk else None
        for c in ("model", "location", "typo_note"):
            rec[c] = str(r.get(c, "")).strip()
        rows.append(rec)
    out = pd.DataFrame(rows)
    out.attrs["source"] = where
    return out


# --------------------------------------------------------------------------- #
# claims made in the text
# --------------------------------------------------------------------------- #
@dataclass
class ClaimRow:
    """A pair of subgroup figures quoted in the text ("54 vs 24 %, p = 0.01") with the
    order its sentence states, checked against the printed table (and the data)."""

    outcome: str
    grade: str
    first: Printed
    second: Printed
    p: Printed | None
    first_group: str
    second_group: str
    location: str
    quote: str
    status: str = ""  # "consistent", "reverse order", "differs", "not checkable"
    detail: str = ""


def load_claims(claims: str | os.PathLike[str] | pd.DataFrame) -> list[ClaimRow]:
    """Read the pairs of figures quoted in a paper's text.

    Parameters
    ----------
    claims : str, PathLike or DataFrame
        CSV/TSV (or a frame) with ``outcome, first, second, first_group, second_group``
        and optionally ``grade, p, location, quote``: one row per "a vs b" pair.

    Returns
    -------
    list of ClaimRow
        Unchecked claims (``status`` empty; see :func:`check_claims`).

    Raises
    ------
    InputError
        Missing columns, or a figure that is not a number.
    """
    df = claims.copy() if isinstance(claims, pd.DataFrame) else read_table(claims, as_text=True)
    where = _where(df)
    _require(df, ["outcome", "first", "second", "first_group", "second_group"], "text claims")
    df = df.astype(object).where(df.notna(), "")
    out = []
    for i in range(len(df)):
        r = df.iloc[i]
        try:
            first, second = parse_printed(r["first"]), parse_printed(r["second"])
            p = parse_printed(r.get("p", ""))
        except ValueError as err:
            raise InputError(f"{where}: line {_line(i)}: {err}") from None
        if first is None or second is None:
            raise InputError(f"{where}: line {_line(i)}: 'first' and 'second' must both be given")
        out.append(
            ClaimRow(
                str(r["outcome"]).strip(),
                str(r.get("grade", "") or "na").strip(),
                first,
                second,
                p,
                str(r["first_group"]).strip(),
                str(r["second_group"]).strip(),
                str(r.get("location", "")),
                str(r.get("quote", "")),
            )  # fmt: skip
        )
    return out


def check_claims(claims: list[ClaimRow], pub: pd.DataFrame) -> list[ClaimRow]:
    """Compare each quoted pair with the printed table: consistent, reverse order, or differs.

    Parameters
    ----------
    claims : list of ClaimRow
        From :func:`load_claims`; their ``status`` and ``detail`` are set in place.
    pub : DataFrame
        The printed figures, from :func:`load_published`.

    Returns
    -------
    list of ClaimRow
        ``claims``, checked.
    """
    table = {(r.outcome, r.grade, r.subgroup): r for _, r in pub.iterrows()}
    for c in claims:
        a = table.get((c.outcome, c.grade, c.first_group))
        b = table.get((c.outcome, c.grade, c.second_group))
        if a is None or b is None or a.est is None or b.est is None:
            c.status, c.detail = "not checkable", "no matching rows in the printed table"
            continue
        same = c.first.value == a.est.value and c.second.value == b.est.value
        swapped = c.first.value == b.est.value and c.second.value == a.est.value
        where = f"table: {c.first_group} {a.est.text}, {c.second_group} {b.est.text}"
        if same:
            c.status, c.detail = "consistent", where
        elif swapped:
            c.status = "reverse order"
            c.detail = (
                f"the sentence puts {c.first_group} first but quotes {c.first.text} = the "
                f"{c.second_group} figure ({where})"
            )
        else:
            c.status, c.detail = "differs", f"quoted {c.first.text} vs {c.second.text}; {where}"
        if c.p is not None and a.p is not None and c.p.text != a.p.text:
            c.detail += f"; p quoted {c.p.text}, table {a.p.text}"
            if c.status == "consistent":
                c.status = "differs"
    return claims


def remark_verdict(claims: list[ClaimRow]) -> Verdict:
    """The verdict on a published remark about the text, from the checked claims.

    Parameters
    ----------
    claims : list of ClaimRow
        Checked claims (:func:`check_claims`).

    Returns
    -------
    Verdict
        ``reproduced`` when every pair matches the table, ``discrepancy`` naming the
        pairs quoted in reverse order or differing, ``not reproducible`` without claims.
    """
    if not claims:
        return Verdict("not reproducible", "a remark on the text; no text claims given to check")
    rev = [c for c in claims if c.status == "reverse order"]
    diff = [c for c in claims if c.status == "differs"]
    if not rev and not diff:
        return Verdict("reproduced", f"all {len(claims)} pairs quoted in the text match the table")
    parts = []
    if rev:
        names = ", ".join(
            f"{c.outcome}{'' if c.grade == 'na' else ' ' + c.grade} ({c.location})" for c in rev
        )
        parts.append(
            f"{len(rev)} of {len(claims)} pairs quoted in the reverse of the stated subgroup order: {names}"
        )
    if diff:
        names = ", ".join(f"{c.outcome} {c.grade} ({c.location})" for c in diff)
        parts.append(f"{len(diff)} differ from the table: {names}")
    return Verdict("discrepancy", "; ".join(parts), [Flag("swapped subgroup order", parts[0])])
