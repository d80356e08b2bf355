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

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metaparity._core.io import InputError, atomic_write, numeric_columns, read_table
from metaparity._core.mfversion import get_metafor_version, metafor_version
from metaparity._core.names import METHOD_ALIASES, METHODS, TESTS, MethodName, check_choice
from metaparity.effects.escalc import MEASURES, escalc
from metaparity.effects.transforms import BACK_TRANSFORMS
from metaparity.models.uni import rma
from metaparity.parity.compare import compare_result
from metaparity.parity.rbridge import control_arg as rbridge_control
from metaparity.parity.tolerances import Comparison, compare_values

__all__ = ["compare", "ParityReport", "Analysis", "required_columns", "ALL_METHODS"]

#: ``--method all``: every estimator except the aliases (FE, CE, MP, CO, VC: they compute
#: what they name, and CO/VC exist only from metafor 5.0) and GENQ unless weights are given
ALL_METHODS = tuple(m for m in METHODS if m not in ("FE", "GENQ", *METHOD_ALIASES))

_COLUMNS: dict[str, list[list[str]]] = {
    **{m: [["xi", "ni"], ["xi", "mi"]] for m in ("PR", "PLN", "PLO", "PAS", "PFT")},
    **{m: [["ai", "bi", "ci", "di"], ["ai", "n1i", "ci", "n2i"]] for m in ("OR", "RR", "RD")},
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
        (e.g. its DLIT iteration did not converge), so not everything could be compared."""
        if self.n_failed:
            return 1
        return 2 if any(a.r_error for a in self.analyses) else 0

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


def _pick_columns(
    df: pd.DataFrame, measure: str, colmap: dict[str, str], where: str
) -> dict[str, str]:
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
        raise InputError(
            f"{where}: --by column {by!r} is missing; columns present: {', '.join(df.columns)}"
        )
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
    bridge : a metafor bridge (:func:`metaparity.parity.rbridge.get_bridge`); None uses the
        recordings in ``golden_dir``.
    golden_dir : with a bridge, record metafor's results there (JSON with provenance);
        without one, compare against what was recorded.
    control : None (default), ``"metafor"`` or a dict of metafor's control settings.
        None compares metaparity's exact roots with metafor run under a tight control;
        ``"metafor"`` compares ``rma(control="metafor")`` with metafor's default run (no
        control argument), a dict both sides run with those settings (see
        :func:`metaparity.rma`).

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
        Bad data (missing columns, non-numbers, duplicate labels, single-study subgroups),
        unknown estimator, or no R and no recordings.
    """
    measure = check_choice("measure", measure, MEASURES)
    test = check_choice("test", test, TESTS)
    methods = _methods(method, weights is not None)
    control = rbridge_control(control)
    df, where = _filtered_rows(data, filters)
    colmap = _pick_columns(df, measure, dict(columns or {}), where)
    slab_col = _slab_column(df, slab, where)
    prepared = [
        _prepare_group(gname, sub, measure, colmap, slab_col, weights, where)
        for gname, sub in _groups(df, by, where)
    ]
    refs, reference, versions = _references(
        prepared, measure, methods, test, level, bridge, golden_dir, control
    )
    # metaparity mirrors the metafor release it is compared with (recorded or live)
    with metafor_version(str(versions.get("metafor") or get_metafor_version())) as mirrored:
        analyses = _analyses(prepared, refs, methods, test, level, control)
    reference = f"{reference}; metaparity mirrors metafor {mirrored}"
    return ParityReport(where, measure, test, float(level), reference, versions, analyses)


def _filtered_rows(
    data: pd.DataFrame | str | Path, filters: dict[str, str] | None
) -> tuple[pd.DataFrame, str]:
    """The table (read from a file or copied) with ``filters`` applied, and its name."""
    if isinstance(data, str | Path):
        df = read_table(data)
        where = str(data)
    else:
        df = data.copy()
        where = str(df.attrs.get("source", "data"))
    for col, val in (filters or {}).items():
        if col not in df.columns:
            raise InputError(f"{where}: --filter column {col!r} is missing")
        df = df[df[col].astype(str) == str(val)]
    if df.empty:
        raise InputError(f"{where}: no rows left after --filter {filters}")
    return df, where


def _slab_column(df: pd.DataFrame, slab: str | None, where: str) -> str | None:
    """The study-label column: ``slab``, else ``study`` when present, else None."""
    slab_col = slab if slab is not None else ("study" if "study" in df.columns else None)
    if slab_col is not None and slab_col not in df.columns:
        raise InputError(f"{where}: --slab column {slab_col!r} is missing")
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
    inputs = numeric_columns(sub, colmap, where)
    w = None if weights is None else numeric_columns(sub, {"weights": weights}, where)["weights"]
    if w is not None and not (w > 0).all():
        i = int((w <= 0).nonzero()[0][0])
        raise InputError(
            f"{where}: line {int(sub.index[i]) + 2}, column {weights!r}: weights must be > 0"
        )
    labels = sub[slab_col].astype(str).tolist() if slab_col else None
    if labels is not None:
        _check_unique_labels(labels, sub, gname, where)
    try:
        esc = escalc(check_choice("measure", measure, MEASURES), **inputs, slab=labels)
    except ValueError as err:
        raise InputError(f"{where} ({gname}): {err}") from None
    esc.attrs["weights"] = w
    return (gname, inputs, esc)


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
        for m in methods:
            ref = refs[(m, gname)]
            analyses.append(_analysis(gname, m, esc, esc_cmp, ref, test, level, control))
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
) -> Analysis:
    """One subgroup x estimator: metafor's error, or every rma quantity compared."""
    a = Analysis(gname, m, len(esc), r_warnings=list(ref.get("warnings") or []))
    a.comparisons += esc_cmp
    if not ref.get("ok"):
        a.r_error = ref.get("error", "metafor failed")
        if control is not None:  # metafor's own iteration: does metaparity stop the same way?
            a.r_error += _same_failure(a.r_error, esc, m, test, level, control)
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


def _key(measure: str, test: str, level: float, gname: str, what: str, control: Any = None) -> str:
    key = f"{measure}|{test}|{level:g}|{gname}|{what}"
    if control is not None and what != "escalc":
        key += "|control=" + json.dumps(control, sort_keys=True)
    return key


def _references(
    prepared: list[tuple[str, dict[str, Any], pd.DataFrame]],
    measure: str,
    methods: Sequence[str],
    test: str,
    level: float,
    bridge: Any,
    golden_dir: str | Path | None,
    control: Any = None,
) -> tuple[dict[tuple[str, str], dict[str, Any]], str, dict[str, str]]:
    """metafor's escalc and rma results per (method or 'escalc', group)."""
    gfile = None if golden_dir is None else Path(golden_dir) / f"parity-{measure}.json"
    refs: dict[tuple[str, str], dict[str, Any]] = {}
    if bridge is None:
        if gfile is None or not gfile.exists():
            raise InputError(
                "metafor is unavailable and no recorded results were given: run with R "
                "(bash scripts/setup.sh) or pass --golden DIR recorded by an earlier run"
            )
        rec = json.loads(gfile.read_text())
        for gname, _, _ in prepared:
            for what in ("escalc", *methods):
                k = _key(measure, test, level, gname, what, control)
                if k not in rec["results"]:
                    raise InputError(
                        f"{gfile}: no recorded metafor result for {k}; re-record with R"
                    )
                refs[(what, gname)] = rec["results"][k]
        prov = rec["provenance"]
        return refs, f"recorded metafor {prov['metafor']} ({gfile})", prov
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
        ni = esc.attrs.get("ni")
        for m in methods:
            rcalls.append(dict(fn="rma", yi=np.atleast_1d(e["yi"]).tolist(),
                               vi=np.atleast_1d(e["vi"]).tolist(), method=m, test=test,
                               level=float(level), measure=measure, weights=_list(esc.attrs["weights"]),
                               ni=None if ni is None else np.asarray(ni, float).tolist(),
                               transf=BACK_TRANSFORMS.get(measure), control=control))  # fmt: skip
            keys.append((m, gname))
    for key, out in zip(keys, bridge.run(rcalls), strict=True):
        refs[key] = out
    versions = bridge.versions()
    if gfile is not None:
        rec = {
            "provenance": dict(versions, recorded_by="metaparity parity --golden"),
            "results": {},
        }
        if gfile.exists():
            rec["results"] = json.loads(gfile.read_text()).get("results", {})
        for (what, gname), val in refs.items():
            rec["results"][_key(measure, test, level, gname, what, control)] = val
        atomic_write(gfile, lambda fh: json.dump(rec, fh, indent=1, allow_nan=True))
    how = {None: "", "metafor": ", default control"}.get(
        control if isinstance(control, str | None) else "", f", control={json.dumps(control)}"
    )
    return refs, f"metafor {versions['metafor']} via {bridge.backend}{how}", versions
