"""The parity harness: run an analysis in metaparity and in metafor, compare every quantity.

``compare()`` is the library entry point behind ``metaparity parity``.  Each
subgroup (or the whole data set) is pooled with each requested estimator; the
effect sizes (escalc) and every result field are compared with the one
tolerance table.  metafor is reached live through :mod:`metaparity.parity.rbridge`, or
through results recorded earlier with ``golden_dir`` when R is not available.

>>> import pandas as pd
>>> from metaparity.parity.harness import required_columns
>>> required_columns("PR")
[['xi', 'ni'], ['xi', 'mi']]
"""

from __future__ import annotations

import difflib
import hashlib
import json
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metaparity._core.io import InputError, numeric_columns, read_table
from metaparity._core.mfversion import get_metafor_version, metafor_version
from metaparity._core.names import (
    METHOD_ALIASES,
    METHODS,
    TESTS,
    MethodName,
    check_choice,
)
from metaparity.effects.escalc import MEASURES, escalc
from metaparity.effects.transforms import BACK_TRANSFORMS
from metaparity.models.inputs import zero_variance_refusal
from metaparity.models.uni import rma
from metaparity.parity import recordings
from metaparity.parity.compare import compare_result
from metaparity.parity.harness_mods import (
    attach_mods,
    design_call,
    mods_columns,
    mods_comparisons,
    mods_kept,
    rma_mods_call,
)
from metaparity.parity.rbridge import control_arg as rbridge_control
from metaparity.parity.rmemory import check_memory, expected_seconds
from metaparity.parity.tolerances import Comparison, compare_values

__all__ = ["compare", "ParityReport", "Analysis", "required_columns", "ALL_METHODS"]

#: ``--method all``: every estimator except the aliases (FE, CE, MP, CO, VC: they compute
#: what they name, and CO/VC exist only from metafor 5.0) and GENQ unless weights are given
ALL_METHODS = tuple(m for m in METHODS if m not in ("FE", "GENQ", *METHOD_ALIASES))

_COLUMNS: dict[str, list[list[str]]] = {
    **{m: [["xi", "ni"], ["xi", "mi"]] for m in ("PR", "PLN", "PLO", "PAS", "PFT")},
    **{
        m: [["ai", "bi", "ci", "di"], ["ai", "n1i", "ci", "n2i"]]
        for m in ("OR", "RR", "RD", "PETO")
    },
    **{m: [["m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"]] for m in ("MD", "SMD", "ROM")},
    **{m: [["ri", "ni"]] for m in ("ZCOR", "COR")},
    "GEN": [["yi", "vi"], ["yi", "sei"]],
}


def required_columns(measure: str) -> list[list[str]]:
    """Alternative sets of input columns (metafor ``escalc()`` argument names) for ``measure``.

    Parameters
    ----------
    measure : str
        A metafor measure (``PR``, ``OR``, ``SMD``, ``GEN`` ...).

    Returns
    -------
    list of list of str
        Each inner list is one sufficient set of arguments.

    Raises
    ------
    ValueError
        Unknown measure.
    """
    return _COLUMNS[check_choice("measure", measure, MEASURES)]


@dataclass
class Analysis:
    """One pooled analysis (a subgroup x an estimator) and its comparisons."""

    group: str
    method: str
    k: int
    comparisons: list[Comparison] = field(default_factory=list)
    r_warnings: list[str] = field(default_factory=list)
    r_error: str | None = None

    @property
    def ok(self) -> bool:
        """metafor answered and every quantity agrees."""
        return self.r_error is None and all(c.ok for c in self.comparisons)

    @property
    def name(self) -> str:
        """``"group | method"``."""
        return f"{self.group} | {self.method}"


@dataclass
class ParityReport:
    """All analyses of one ``compare()`` run, with what produced them."""

    source: str
    measure: str
    test: str
    level: float
    reference: str  # "metafor X via rpy2", "golden DIR (metafor X)"
    versions: dict[str, str]
    analyses: list[Analysis]
    #: rows whose effect size is NA on both sides (e.g. SMD with both SDs 0), as metafor
    #: drops them: ``{"study", "line", "reason"}``
    dropped: list[dict[str, Any]] = field(default_factory=list)
    #: when the run started (UTC) and how long it took, for the JUnit report
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every analysis agrees."""
        return all(a.ok for a in self.analyses)

    @property
    def n_quantities(self) -> int:
        """Quantities compared, over all analyses."""
        return sum(len(a.comparisons) for a in self.analyses)

    @property
    def n_failed(self) -> int:
        """Quantities outside the tolerance table."""
        return sum(not c.ok for a in self.analyses for c in a.comparisons)

    @property
    def max_rel(self) -> float:
        """Largest relative difference over reference values with ``|ref| >= 1e-8``."""
        vals = [
            c.rel_diff
            for a in self.analyses
            for c in a.comparisons
            if np.isfinite(c.rel_diff) and abs(c.ref) >= 1e-8
        ]
        return max(vals, default=0.0)

    @property
    def exit_code(self) -> int:
        """0: everything agrees; 1: some quantity differs; 2: metafor failed somewhere
        (e.g. its DLIT iteration did not converge), so not everything could be compared --
        a metafor failure is never counted as a disagreement."""
        if any(a.r_error for a in self.analyses):
            return 2
        return 1 if self.n_failed else 0

    @property
    def failure_message(self) -> str | None:
        """One line for exit code 2: ``metafor failed on <analysis>: <R message>``."""
        failed = [a for a in self.analyses if a.r_error]
        if not failed:
            return None
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return (
            f"metafor failed on {failed[0].name}{more}: {failed[0].r_error} -- not a "
            "disagreement; see the report, or change the estimator/--control"
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-ready values (what ``--json`` writes)."""
        return {
            "source": self.source,
            "measure": self.measure,
            "test": self.test,
            "level": self.level,
            "reference": self.reference,
            "versions": self.versions,
            "ok": self.ok,
            "quantities": self.n_quantities,
            "failed": self.n_failed,
            "max_rel_diff": self.max_rel,
            "started": self.started.isoformat(timespec="seconds"),
            "seconds": self.seconds,
            "dropped": self.dropped,
            "analyses": [
                {
                    "group": a.group,
                    "method": a.method,
                    "k": a.k,
                    "ok": a.ok,
                    "r_warnings": a.r_warnings,
                    "r_error": a.r_error,
                    "comparisons": [
                        {
                            "quantity": c.quantity,
                            "metaparity": c.ours,
                            "metafor": c.ref,
                            "abs_diff": c.abs_diff,
                            "rel_diff": c.rel_diff,
                            "rtol": c.tol.rtol,
                            "atol": c.tol.atol,
                            "ok": c.ok,
                        }
                        for c in a.comparisons
                    ],
                }
                for a in self.analyses
            ],
        }


def _missing_column(where: str, option: str, col: str, columns: Iterable[Any]) -> InputError:
    """``column 'evnts' (--by) is not in the file; did you mean 'events'?`` + the columns."""
    present = [str(c) for c in columns]
    close = difflib.get_close_matches(col, present, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return InputError(
        f"{where}: column {col!r} (given with {option}) is not in the file{hint} "
        f"(columns: {', '.join(present)})"
    )


def _check_col_option(df: pd.DataFrame, measure: str, colmap: dict[str, str], where: str) -> None:
    """``--col ARG=COLUMN``: ARG must be an argument of ``measure``, COLUMN in the file."""
    valid = sorted({a for opt in required_columns(measure) for a in opt})
    for arg, col in colmap.items():
        if arg not in valid:
            close = difflib.get_close_matches(arg, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            first = required_columns(measure)[0][0]
            raise InputError(
                f"--col {arg}={col}: {arg!r} is not an argument of measure {measure}; {hint}"
                f"its arguments are {', '.join(valid)} (e.g. --col {first}={col})"
            )
        if col not in df.columns:
            raise _missing_column(where, f"--col {arg}={col}", col, df.columns)


def _pick_columns(
    df: pd.DataFrame, measure: str, colmap: dict[str, str], where: str
) -> dict[str, str]:
    _check_col_option(df, measure, colmap, where)
    options = required_columns(measure)
    for opt in options:
        if all(colmap.get(a, a) in df.columns for a in opt):
            return {a: colmap.get(a, a) for a in opt}
    want = " or ".join("(" + ", ".join(colmap.get(a, a) for a in opt) + ")" for opt in options)
    raise InputError(
        f"{where}: measure {measure} needs columns {want}; columns present: "
        f"{', '.join(map(str, df.columns))} -- map names with --col ARG=COLUMN (e.g. --col xi=events)"
    )


def _groups(df: pd.DataFrame, by: str | None, where: str) -> list[tuple[str, pd.DataFrame]]:
    if by is None:
        return [("all studies", df)]
    if by not in df.columns:
        raise _missing_column(where, "--by", by, df.columns)
    out = [("all studies", df)]
    for key, sub in df.groupby(by, sort=True, dropna=False):
        if len(sub) < 2:
            raise InputError(
                f"{where}: subgroup {by}={key!r} has a single study (line {int(sub.index[0]) + 2}); "
                "a subgroup needs at least two studies -- merge it or drop it with --filter"
            )
        out.append((f"{by}={key}", sub))
    return out


def compare(
    data: pd.DataFrame | str | Path,
    *,
    measure: str,
    method: str | list[str] = "REML",
    test: str = "z",
    level: float = 95,
    by: str | None = None,
    columns: dict[str, str] | None = None,
    slab: str | None = None,
    filters: dict[str, str] | None = None,
    weights: str | None = None,
    bridge: Any = None,
    golden_dir: str | Path | None = None,
    control: Any = None,
    decimal: str | None = None,
    record: bool = False,
    accept: bool = False,
    max_memory_gb: float | None = None,
    progress: Callable[[str], None] | None = None,
    mods: str | None = None,
) -> ParityReport:
    """Run the analysis in metaparity and metafor; compare escalc and every rma quantity.

    Parameters
    ----------
    data : DataFrame or path to a CSV/TSV file (one row per study).
    measure : metafor measure (``PR``, ``OR``, ``SMD``, ``GEN`` ...).
    method : estimator name, list of names, comma-separated names, or ``"all"``.
    by : column whose values define subgroups (each pooled on its own, plus all studies).
    columns : map from metafor argument names to column names, e.g. ``{"xi": "events"}``.
    slab : column with study labels (default ``study`` when present); labels must be unique.
    filters : keep rows where ``str(column) == value`` for each item.
    weights : column of user weights (metafor's ``weights=``): they weight the pooled
        estimate for every estimator and are the weights of GENQ's generalised Q.
    bridge : a metafor bridge (:func:`metaparity.parity.rbridge.get_bridge`), or a function
        returning one (called only once the data checked out and R is needed); not used
        when replaying recordings (``golden_dir`` without ``record``).
    golden_dir : folder of recorded metafor results
        (:mod:`metaparity.parity.recordings`).  Without ``record``: compare against the
        recording of this call made for this input (R is not used); with ``record``: run
        metafor through ``bridge`` and record its results there, once every analysis
        succeeded.
    control : None (default), ``"metafor"`` or a dict of metafor's control settings.
        None compares metaparity's exact roots with metafor run under a tight control;
        ``"metafor"`` compares ``rma(control="metafor")`` with metafor's default run (no
        control argument), a dict both sides run with those settings (see
        :func:`metaparity.rma`).
    decimal : None (detect), ``"."`` or ``","``: the decimal mark of a file
        (:func:`metaparity._core.io.read_table`).
    record : record metafor's results in ``golden_dir`` (needs ``bridge``).
    accept : with ``record``, replace a recording of the same call made for other input.
    max_memory_gb : the memory metafor may use, in GB (default: what the machine has
        available, or ``METAPARITY_R_MEMORY_GB``); a larger analysis is refused before R.
    progress : called with one line (``asking metafor: analysis 3/12 (k = 5000), 12 s``)
        while long R calls run; None: silent.
    mods : a one-sided formula of columns of the file (``"~ x * factor(g)"``): a
        meta-regression, ``rma(yi, vi, mods = X)`` on both sides, with the design compared
        with R's ``model.matrix`` (:mod:`metaparity.parity.harness_mods`); not with
        ``weights``.

    Returns
    -------
    ParityReport
        One :class:`Analysis` per subgroup x estimator, with every comparison; metafor's
        calls are ``escalc(measure, ...)`` and ``rma(yi, vi, method=, test=, level=,
        weights=)`` with ``predict()`` (back-transformed where the measure has a
        back-transform) and ``confint()``.

    Raises
    ------
    InputError
        Bad data (missing columns, non-numbers, impossible values such as a negative
        variance or events > n, duplicate labels, single-study subgroups), unknown
        estimator, no R and no recordings, a recording for other input or another call, or
        an analysis too large for the memory metafor would need.  All raised before R is
        called.
    """
    started, t0 = datetime.now(UTC), time.monotonic()
    measure = check_choice("measure", measure, MEASURES)
    test = check_choice("test", test, TESTS)
    methods = _methods(method, weights is not None)
    control = rbridge_control(control)
    if record and golden_dir is None:
        raise InputError("--record needs --golden DIR: the folder to record metafor's results in")
    df, where = _filtered_rows(data, filters, decimal)
    colmap = _pick_columns(df, measure, dict(columns or {}), where)
    slab_col = _slab_column(df, slab, where)
    if weights is not None and weights not in df.columns:
        raise _missing_column(where, "--weights", weights, df.columns)
    mods_cols = None if mods is None else mods_columns(df, mods, where)
    prepared = []
    for gname, sub in _groups(df, by, where):
        group = _prepare_group(gname, sub, measure, colmap, slab_col, weights, where)
        if mods is not None and mods_cols is not None:
            attach_mods(group[2], sub, mods, mods_cols)
        prepared.append(group)
    for group in prepared:
        _check_zero_variances(group, methods, control, where)
    call = recordings.call_spec(measure, methods, test, level, colmap, by, filters, weights,
                                control)  # fmt: skip
    input_sha, n_studies = recordings.input_digest(prepared)
    if mods is not None:
        call["mods"] = mods.strip()
        input_sha = hashlib.sha256((input_sha + json.dumps(
            [design_call(esc)["args"] for _, _, esc in prepared], sort_keys=True
        )).encode()).hexdigest()  # fmt: skip
    gpath = None if golden_dir is None else recordings.recording_path(golden_dir, call)
    if golden_dir is not None and not record:
        refs, reference, versions = _replay(prepared, methods, golden_dir, call, input_sha)
    else:
        check_memory([(g, len(esc)) for g, _, esc in prepared], methods, max_memory_gb)
        bridge = start_bridge(bridge)
        if gpath is not None:
            recordings.check_replace(gpath, input_sha, accept)
        refs, reference, versions = _references(
            prepared, measure, methods, test, level, bridge, control, progress
        )
    # metaparity mirrors the metafor release it is compared with (recorded or live)
    with metafor_version(str(versions.get("metafor") or get_metafor_version())) as mirrored:
        analyses = _analyses(prepared, refs, methods, test, level, control)
    if record and gpath is not None:
        if any(a.r_error for a in analyses):
            reference += "; nothing recorded: metafor failed on an analysis"
        else:
            results = {f"{g}|{what}": v for (what, g), v in refs.items()}
            recordings.write_recording(gpath, call, input_sha, n_studies, versions, results)
            reference += f"; recorded in {gpath}"
    reference = f"{reference}; metaparity mirrors metafor {mirrored}"
    return ParityReport(where, measure, test, float(level), reference, versions, analyses,
                        dropped=_dropped_rows(prepared[0], measure, colmap, where),
                        started=started, seconds=time.monotonic() - t0)  # fmt: skip


def start_bridge(bridge: Any) -> Any:
    """The bridge to ask metafor live: ``bridge`` itself, or started from a factory now
    (after the data checked out); InputError when there is none."""
    if callable(bridge) and not hasattr(bridge, "run"):
        bridge = bridge()  # a factory: R is started only now, after the data checked out
    if bridge is None:
        raise InputError(
            "metafor is unavailable and no recorded results were given: install R and "
            "metafor (Debian: apt-get install r-cran-metafor) and rpy2, or replay an "
            "earlier recording with --golden DIR"
        )
    return bridge


def _replay(
    prepared: list[tuple[str, dict[str, Any], pd.DataFrame]],
    methods: Sequence[str],
    golden_dir: str | Path,
    call: dict[str, Any],
    input_sha: str,
) -> tuple[dict[tuple[str, str], dict[str, Any]], str, dict[str, str]]:
    """metafor's records from the recording of this call for this input (R not used)."""
    path, rec = recordings.load_recording(golden_dir, call, input_sha)
    refs: dict[tuple[str, str], dict[str, Any]] = {}
    for gname, _, esc in prepared:
        for what in ("escalc", *methods, *(("design",) if "mods" in esc.attrs else ())):
            key = f"{gname}|{what}"
            if key not in rec["results"]:
                raise InputError(f"{path}: no recorded metafor result for {key}; re-record")
            refs[(what, gname)] = rec["results"][key]
    prov = rec["provenance"]
    return refs, f"recorded metafor {prov['metafor']} ({path}, {prov.get('date')})", prov


def _filtered_rows(
    data: pd.DataFrame | str | Path, filters: dict[str, str] | None, decimal: str | None = None
) -> tuple[pd.DataFrame, str]:
    """The table (read from a file or copied) with ``filters`` applied, and its name."""
    if isinstance(data, str | Path):
        df = read_table(data, decimal=decimal)
        where = str(data)
    else:
        df = data.copy()
        where = str(df.attrs.get("source", "data"))
    for col, val in (filters or {}).items():
        if col not in df.columns:
            raise _missing_column(where, "--filter", col, df.columns)
        df = df[df[col].astype(str) == str(val)]
    if df.empty:
        raise InputError(f"{where}: no rows left after --filter {filters}")
    return df, where


def _slab_column(df: pd.DataFrame, slab: str | None, where: str) -> str | None:
    """The study-label column: ``slab``, else ``study`` when present, else None."""
    slab_col = slab if slab is not None else ("study" if "study" in df.columns else None)
    if slab_col is not None and slab_col not in df.columns:
        raise _missing_column(where, "--slab", slab_col, df.columns)
    return slab_col


def _prepare_group(
    gname: str,
    sub: pd.DataFrame,
    measure: str,
    colmap: dict[str, str],
    slab_col: str | None,
    weights: str | None,
    where: str,
) -> tuple[str, dict[str, Any], pd.DataFrame]:
    """One subgroup's numeric inputs and metaparity escalc (user weights in its attrs)."""
    labels = sub[slab_col].astype(str).tolist() if slab_col else None
    inputs = numeric_columns(sub, colmap, where)
    _check_values(sub, inputs, colmap, labels, where)
    w = None if weights is None else numeric_columns(sub, {"weights": weights}, where)["weights"]
    if w is not None and not (np.isfinite(w) & (w > 0)).all():
        i = int((~(np.isfinite(w) & (w > 0))).nonzero()[0][0])
        raise InputError(
            f"{where}: line {int(sub.index[i]) + 2} ({_who(labels, i)}), column {weights!r}: "
            f"{w[i]:g} is not a valid weight; weights must be > 0 -- correct it or drop the row "
            "(--filter)"
        )
    if labels is not None:
        _check_unique_labels(labels, sub, gname, where)
    esc = escalc_rows(measure, inputs, labels, where, gname)
    esc.attrs["weights"] = w
    esc.attrs["lines"] = [int(i) + 2 for i in sub.index]
    return (gname, inputs, esc)


def escalc_rows(
    measure: str, inputs: dict[str, Any], labels: list[str] | None, where: str, gname: str
) -> pd.DataFrame:
    """metaparity's escalc of a subgroup's inputs; a bad value is an InputError naming the
    file and subgroup."""
    try:
        # escalc's warnings (+-Inf recoded to NA, as metafor does) become the 'dropped' notes
        # of the report instead of Python warning lines on stderr
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            return escalc(check_choice("measure", measure, MEASURES), **inputs, slab=labels)
    except ValueError as err:
        raise InputError(f"{where} ({gname}): {err}") from None


def _who(labels: list[str] | None, i: int) -> str:
    return f"study {labels[i]!r}" if labels is not None else f"row {i + 1}"


#: what metafor's escalc accepts, per argument: (ok(values), what the value must be)
_VALUE_RULES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    **{a: (lambda v: v >= 0, "is negative; event counts must be >= 0")
       for a in ("xi", "mi", "ai", "bi", "ci", "di")},
    **{a: (lambda v: v > 0, "is not a valid sample size; group sizes must be > 0")
       for a in ("ni", "n1i", "n2i")},
    **{a: (lambda v: v >= 0, "is negative; standard deviations must be >= 0")
       for a in ("sd1i", "sd2i")},
    "ri": (lambda v: np.abs(v) <= 1, "is not a correlation; correlations lie in [-1, 1]"),
    "vi": (lambda v: v >= 0, "is negative; sampling variances must be >= 0"),
    "sei": (lambda v: v >= 0, "is negative; standard errors must be >= 0"),
}  # fmt: skip
_EVENT_PAIRS = (("xi", "ni"), ("ai", "n1i"), ("ci", "n2i"))


def _check_values(
    sub: pd.DataFrame,
    inputs: dict[str, np.ndarray],
    colmap: dict[str, str],
    labels: list[str] | None,
    where: str,
) -> None:
    """Values metafor would refuse (or metaparity's rma would), caught before R is called."""
    fix = "correct the value or drop the row (--filter)"
    for arg, v in inputs.items():
        bad = ~np.isfinite(v)
        if arg in _VALUE_RULES:
            ok, problem = _VALUE_RULES[arg]
            with np.errstate(invalid="ignore"):
                bad |= ~ok(v)
        else:
            problem = ""
        if bad.any():
            i = int(bad.nonzero()[0][0])
            what = "is not a finite number" if not np.isfinite(v[i]) else problem
            raise InputError(
                f"{where}: line {int(sub.index[i]) + 2} ({_who(labels, i)}), column "
                f"{colmap[arg]!r} ({arg}): {v[i]:g} {what} -- {fix}"
            )
    for x, n in _EVENT_PAIRS:
        if x in inputs and n in inputs:
            bad = inputs[x] > inputs[n]
            if bad.any():
                i = int(bad.nonzero()[0][0])
                raise InputError(
                    f"{where}: line {int(sub.index[i]) + 2} ({_who(labels, i)}): "
                    f"{colmap[x]}={inputs[x][i]:g} events > {colmap[n]}={inputs[n][i]:g} "
                    f"({x} > {n}); events cannot exceed the group size -- correct the counts "
                    "or drop the row (--filter)"
                )


def _dropped_rows(
    group: tuple[str, dict[str, Any], pd.DataFrame], measure: str, colmap: dict[str, str],
    where: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """Rows whose effect size is undefined (NA, as metafor's escalc gives): left out of rma."""
    _, inputs, esc = group
    yi, vi = esc["yi"].to_numpy(dtype=float), esc["vi"].to_numpy(dtype=float)
    labels = esc.attrs.get("slab")
    out = []
    for i in np.flatnonzero(~(np.isfinite(yi) & np.isfinite(vi))):
        if "sd1i" in inputs and inputs["sd1i"][i] == 0 and inputs["sd2i"][i] == 0:
            reason = (f"{colmap['sd1i']} = {colmap['sd2i']} = 0: {measure} is undefined (a "
                      "difference divided by a zero SD)")  # fmt: skip
        elif (
            measure in ("ZCOR", "COR")
            and "ni" in inputs
            and inputs["ni"][i] <= (3 if measure == "ZCOR" else 1)
        ):
            reason = (f"{colmap['ni']} = {inputs['ni'][i]:g}: the sampling variance of "
                      f"{measure} needs ni > {3 if measure == 'ZCOR' else 1}")  # fmt: skip
        elif "ri" in inputs and abs(inputs["ri"][i]) == 1:
            reason = (f"{colmap['ri']} = {inputs['ri'][i]:g}: {measure} is infinite at r = +-1 "
                      "(recoded to NA)")  # fmt: skip
        else:
            reason = f"{measure} is undefined for these values (yi = {yi[i]}, vi = {vi[i]})"
        out.append({
            "study": labels[i] if labels is not None else f"row {i + 1}",
            "line": esc.attrs["lines"][i],
            "reason": reason + "; metafor's escalc gives NA and rma() leaves the study out, "
                      "and so does metaparity",
        })  # fmt: skip
    return out


def _check_zero_variances(
    group: tuple[str, dict[str, Any], pd.DataFrame], methods: Sequence[str], control: Any,
    where: str,
) -> None:  # fmt: skip
    """Studies with vi = 0 and an estimator metafor refuses them for: refused before R."""
    gname, _, esc = group
    vi = esc["vi"].to_numpy(dtype=float)
    zero = np.flatnonzero(np.isfinite(esc["yi"].to_numpy(dtype=float)) & (vi == 0))
    if zero.size == 0:
        return
    labels = esc.attrs.get("slab")
    i = int(zero[0])
    who = f"line {esc.attrs['lines'][i]} ({_who(labels, i)})"
    more = f" and {zero.size - 1} more" if zero.size > 1 else ""
    for m in methods:
        why = zero_variance_refusal(m, control is not None)
        if why is None:
            continue
        raise InputError(
            f"{where} ({gname}): {who}{more} has a sampling variance of 0 (yi = "
            f"{esc['yi'].iloc[i]:g}, vi = 0); --method {m} needs positive variances ('{why}') "
            f"-- use an estimator that accepts them (REML, ML, EB, HE, SJ, SJIT), or correct or drop "
            "the row (--filter)"
        )


def _check_unique_labels(labels: list[str], sub: pd.DataFrame, gname: str, where: str) -> None:
    """Raise on the first study label that appears twice in a subgroup."""
    seen: dict[str, int] = {}
    for i, lab in enumerate(labels):
        if lab in seen:
            raise InputError(
                f"{where}: study label {lab!r} appears twice (lines "
                f"{int(sub.index[seen[lab]]) + 2} and {int(sub.index[i]) + 2}) in "
                f"{gname}; labels must be unique -- fix the label or filter the rows"
            )
        seen[lab] = i


def _analyses(
    prepared: list[tuple[str, dict[str, Any], pd.DataFrame]],
    refs: Any,
    methods: list[MethodName],
    test: str,
    level: float,
    control: Any = None,
) -> list[Analysis]:
    """One :class:`Analysis` per subgroup x estimator, escalc comparisons first."""
    analyses = []
    for gname, _inputs, esc in prepared:
        esc_cmp = _escalc_comparisons(esc, refs[("escalc", gname)])
        design = refs.get(("design", gname))
        for m in methods:
            ref = refs[(m, gname)]
            analyses.append(_analysis(gname, m, esc, esc_cmp, ref, test, level, control,
                                      design))  # fmt: skip
            design = None  # the design is compared once per subgroup
    return analyses


def _escalc_comparisons(esc: pd.DataFrame, ref_esc: Any) -> list[Comparison]:
    """yi and vi, study by study, against metafor's escalc."""
    esc_cmp = []
    for q, ours in (("yi", esc["yi"].to_numpy()), ("vi", esc["vi"].to_numpy())):
        theirs = np.atleast_1d(np.asarray(ref_esc[q], dtype=float))
        for i, (o, r) in enumerate(zip(ours, theirs, strict=True)):
            lab = esc.attrs.get("slab", [None] * len(ours))[i] or f"row {i + 1}"
            esc_cmp.append(compare_values(f"{q}[{lab}]", o, r, "EE"))
    return esc_cmp


def _analysis(
    gname: str,
    m: MethodName,
    esc: pd.DataFrame,
    esc_cmp: list[Comparison],
    ref: Any,
    test: str,
    level: float,
    control: Any = None,
    design: dict[str, Any] | None = None,
) -> Analysis:
    """One subgroup x estimator: metafor's error, or every rma quantity compared (with
    moderators: the design once, then the meta-regression)."""
    fitted = int(
        (np.isfinite(esc["yi"].to_numpy(float)) & np.isfinite(esc["vi"].to_numpy(float))).sum()
    )
    if "mods" in esc.attrs:
        fitted = mods_kept(esc)
    a = Analysis(gname, m, fitted, r_warnings=list(ref.get("warnings") or []))
    a.comparisons += esc_cmp
    if not ref.get("ok"):
        a.r_error = ref.get("error", "metafor failed")
        if control is not None:  # metafor's own iteration: does metaparity stop the same way?
            a.r_error += _same_failure(a.r_error, esc, m, test, level, control)
    elif "mods" in esc.attrs:
        a.comparisons += mods_comparisons(esc, m, test, level, control, ref, design)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = rma(
                data=esc,
                method=check_choice("method", m, METHODS),
                test=check_choice("test", test, TESTS),
                level=level,
                weights=esc.attrs["weights"],
                control=control,
            )
        a.comparisons += compare_result(res, dict(ref, method=m))
    return a


def _same_failure(
    message: str, esc: pd.DataFrame, m: MethodName, test: str, level: float, control: Any
) -> str:
    """A note for metafor's error under ``control``: whether metaparity stops with it too."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            rma(data=esc, method=check_choice("method", m, METHODS), level=level,
                test=check_choice("test", test, TESTS), weights=esc.attrs["weights"],
                control=control)  # fmt: skip
    except ValueError as err:
        if str(err) == message:
            return " [metaparity control= stops with the same error]"
        return f" [metaparity control= stops with another error: {err}]"
    return " [metaparity control= does not stop here]"


def _methods(method: str | list[str], have_weights: bool) -> list[MethodName]:
    if isinstance(method, str):
        if method == "all":
            method = [*ALL_METHODS, "GENQ"] if have_weights else list(ALL_METHODS)
        else:
            method = [m.strip() for m in method.split(",") if m.strip()]
    out = [check_choice("method", m, METHODS) for m in method]
    if "GENQ" in out and not have_weights:
        raise InputError(
            "method GENQ needs the weights of its generalised Q: give --weights COLUMN"
        )
    return out


def _list(x: Any) -> list[float] | None:
    return None if x is None else np.asarray(x, dtype=float).tolist()


def _references(
    prepared: list[tuple[str, dict[str, Any], pd.DataFrame]],
    measure: str,
    methods: Sequence[str],
    test: str,
    level: float,
    bridge: Any,
    control: Any = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[tuple[str, str], dict[str, Any]], str, dict[str, str]]:
    """metafor's escalc and rma results per (method or 'escalc', group), live."""
    refs: dict[tuple[str, str], dict[str, Any]] = {}
    calls = []
    for _, inputs, _ in prepared:
        calls.append(dict(fn="escalc", measure=measure, to="only0", drop00=False, add=None,
                          inputs={k: v.tolist() for k, v in inputs.items()}))  # fmt: skip
    esc_out = bridge.run(calls)
    rcalls, keys = [], []
    for (gname, _, esc), e in zip(prepared, esc_out, strict=True):
        refs[("escalc", gname)] = e
        if e.get("ok") is False:
            raise InputError(f"metafor::escalc failed for {gname}: {e.get('error')}")
        ni, w = esc.attrs.get("ni"), esc.attrs["weights"]
        # rows whose effect size is NA (metafor's escalc, e.g. SMD with both SDs 0) are left
        # out of rma() as metafor itself does -- sent without them, as metaparity drops them
        yi = np.atleast_1d(np.asarray(e["yi"], dtype=float))
        vi = np.atleast_1d(np.asarray(e["vi"], dtype=float))
        keep = np.isfinite(yi) & np.isfinite(vi)
        if "mods" in esc.attrs:
            rcalls.append(design_call(esc))
            keys.append(("design", gname))
            for m in methods:
                rcalls.append(rma_mods_call(esc, m, test, level, control))
                keys.append((m, gname))
            continue
        for m in methods:
            rcalls.append(dict(fn="rma", yi=yi[keep].tolist(), vi=vi[keep].tolist(), method=m,
                               test=test, level=float(level), measure=measure,
                               weights=None if w is None else _list(np.asarray(w)[keep]),
                               ni=None if ni is None else np.asarray(ni, float)[keep].tolist(),
                               transf=BACK_TRANSFORMS.get(measure), control=control))  # fmt: skip
            keys.append((m, gname))
    for key, out in zip(keys, _run_with_progress(bridge, rcalls, progress), strict=True):
        refs[key] = out
    versions = bridge.versions()
    how = {None: "", "metafor": ", default control"}.get(
        control if isinstance(control, str | None) else "", f", control={json.dumps(control)}"
    )
    return refs, f"metafor {versions['metafor']} via {bridge.backend}{how}", versions


#: a batch of R calls expected to take longer than this (s) is sent one call at a time,
#: with a progress line between calls
PROGRESS_AFTER = 5.0


def _run_with_progress(
    bridge: Any, calls: list[dict[str, Any]], progress: Callable[[str], None] | None
) -> list[dict[str, Any]]:
    """``bridge.run(calls)``; when long, one call at a time with ``asking metafor: ...`` lines.

    The rpy2 bridge holds the GIL while R runs, so a heartbeat thread could not speak:
    progress is reported between calls instead.
    """
    expected = sum(expected_seconds(len(c["yi"]), c["method"]) for c in calls if "yi" in c)
    # the Rscript backend starts R for every run() (seconds): one call per run only when
    # each call is itself long
    min_per_call = 0.0 if getattr(bridge, "backend", "rpy2") == "rpy2" else PROGRESS_AFTER
    if progress is None or expected < PROGRESS_AFTER or expected / len(calls) < min_per_call:
        return bridge.run(calls)
    t0, out = time.monotonic(), []
    for i, c in enumerate(calls):
        if "yi" in c:
            progress(f"asking metafor: analysis {i + 1}/{len(calls)} (k = {len(c['yi'])}, "
                     f"{c['method']}), {time.monotonic() - t0:.0f} s")  # fmt: skip
        out += bridge.run([c])
    progress(f"asking metafor: {len(calls)} analyses done in {time.monotonic() - t0:.0f} s")
    return out
