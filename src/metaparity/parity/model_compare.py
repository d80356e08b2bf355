"""``metaparity parity --model NAME``: compare one model family with metafor.

:func:`compare_model` reads and checks the file exactly as the ``uni`` harness does
(columns, ``--col``, ``--filter``, ``--by`` subgroups, unique study labels, impossible
values -- all before R), then fits the family of the registry entry
(:mod:`metaparity.parity.models`) in metaparity and in metafor (``bridge.call(rfun,
...)``) for every subgroup, and compares the entry's quantities with the tolerance table.
``--golden DIR`` replays (or with ``record`` writes) the recordings of
:mod:`metaparity.parity.recordings`: the call recorded carries the model, and the results
are keyed ``"<group>|<model>"``.  ``--model uni`` is :func:`metaparity.parity.harness.compare`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from metaparity._core.io import InputError, numeric_columns
from metaparity._core.mfversion import get_metafor_version, metafor_version
from metaparity._core.names import check_choice
from metaparity.parity import recordings
from metaparity.parity.harness import (
    Analysis,
    ParityReport,
    _check_unique_labels,
    _check_values,
    _filtered_rows,
    _groups,
    _missing_column,
    _slab_column,
    compare,
    start_bridge,
)
from metaparity.parity.models import ParityModel, get_model
from metaparity.parity.mv_harness import compare_mv_file

__all__ = ["compare_model"]

_Group = tuple[str, dict[str, Any], pd.DataFrame]


def compare_model(
    data: pd.DataFrame | str | Path,
    *,
    model: str = "uni",
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
    random: list[str] | str | None = None,
    struct: list[str] | str | None = None,
    mods: str | None = None,
    V: str | Path | None = None,
    R: Mapping[str, str | Path] | None = None,
    Rscale: str = "cor",
    dfs: str = "residual",
    fixed: dict[str, str] | None = None,
) -> ParityReport:
    """Run model family ``model`` in metaparity and metafor; compare every quantity.

    Parameters
    ----------
    data, measure, test, level, by, columns, slab, filters, bridge, golden_dir, decimal,
    record, accept
        As :func:`metaparity.parity.harness.compare`.
    model : str
        A key of :data:`metaparity.parity.models.MODELS`: ``"uni"`` (``escalc()`` +
        ``rma()``, the default), ``"peto"`` (``rma.peto()``), ``"mh"`` (``rma.mh()``),
        ``"glmm"`` (``rma.glmm()``, its default model) or ``"glmm:UM.FS"``,
        ``"glmm:UM.RS"``, ``"glmm:CM.EL"``, ``"glmm:CM.AL"``, ``"mv"`` (``rma.mv()``:
        :func:`metaparity.parity.mv_harness.compare_mv_file`).
    method, weights, control, max_memory_gb, progress
        For ``uni`` only (the other families have no estimator choice and no weights; the
        GLMMs are fitted by ML with metaparity's tight control of metafor's optimisers):
        giving ``weights``, ``control`` or a ``method`` other than the default with
        another model is an error.
    random, struct, mods, V, R, Rscale, dfs, fixed
        For ``mv`` only (:func:`metaparity.parity.mv_harness.compare_mv_file`).

    Returns
    -------
    ParityReport
        One analysis per subgroup (``method`` is the model's name).

    Raises
    ------
    InputError
        Unknown model (with a did-you-mean), a measure the model does not take, options
        it does not take, bad data -- all before R is called; R unavailable without
        recordings; a recording for other input or another call.
    """
    entry = get_model(model)
    mv_given = {"--random": random, "--struct": struct, "--mods": mods, "--V": V, "--R": R,
                "--Rscale": None if Rscale == "cor" else Rscale,
                "--dfs": None if dfs == "residual" else dfs, "--fixed": fixed}  # fmt: skip
    if entry.name == "mv":
        if weights is not None:
            raise InputError("--weights: --model mv (rma.mv) takes no user weights here")
        if control is not None and not isinstance(control, dict):
            raise InputError(
                f"--control {control}: for --model mv give a JSON object of rma.mv's control "
                'settings (e.g. \'{"tau2.init": 0.1, "REMLf": false}\'); metafor\'s optimiser '
                "runs with metaparity's tight control (docs/mv.md)"
            )
        return compare_mv_file(
            data,
            control=control,
            random=random,
            struct=struct,
            mods=mods,
            V=V,
            R=R,
            Rscale=Rscale,
            fixed=fixed,
            measure=measure,
            method=method if isinstance(method, str) else ",".join(method),
            test=test,
            dfs=dfs,
            level=level,
            by=by,
            columns=columns,
            slab=slab,
            filters=filters,
            bridge=bridge,
            golden_dir=golden_dir,
            decimal=decimal,
            record=record,
            accept=accept,
            progress=progress,
        )
    for flag, value in mv_given.items():
        if value and not (flag == "--mods" and entry.name == "uni"):
            raise InputError(f"{flag}: only --model mv (rma.mv) takes {flag}; add --model mv"
                             + (" (--mods: or --model uni)" if flag == "--mods" else ""))  # fmt: skip
    if entry.name == "uni":
        return compare(data, measure=measure, method=method, test=test, level=level, by=by,
                       columns=columns, slab=slab, filters=filters, weights=weights,
                       bridge=bridge, golden_dir=golden_dir, control=control, decimal=decimal,
                       record=record, accept=accept, max_memory_gb=max_memory_gb,
                       progress=progress, mods=mods)  # fmt: skip
    started, t0 = datetime.now(UTC), time.monotonic()
    measure = check_choice("measure", measure, entry.measures)
    _refuse_options(entry, method, test, weights, control)
    if record and golden_dir is None:
        raise InputError("--record needs --golden DIR: the folder to record metafor's results in")
    df, where = _filtered_rows(data, filters, decimal)
    colmap = _pick(df, entry, measure, dict(columns or {}), where)
    slab_col = _slab_column(df, slab, where)
    prepared, fits = [], {}
    for gname, sub in _groups(df, by, where):
        group, fits[gname] = _prepare(entry, gname, sub, measure, colmap, slab_col, level, where)
        prepared.append(group)
    call = recordings.call_spec(measure, [entry.name], test, level, colmap, by, filters, None,
                                None)  # fmt: skip
    call["model"] = entry.name
    input_sha, n_studies = recordings.input_digest(prepared)
    gpath = None if golden_dir is None else recordings.recording_path(golden_dir, call)
    if golden_dir is not None and not record:
        path, rec = recordings.load_recording(golden_dir, call, input_sha)
        refs = {}
        for gname, _, _ in prepared:
            key = f"{gname}|{entry.name}"
            if key not in rec["results"]:
                raise InputError(f"{path}: no recorded metafor result for {key}; re-record")
            refs[gname] = rec["results"][key]
        versions = rec["provenance"]
        reference = f"recorded metafor {versions['metafor']} ({path}, {versions.get('date')})"
    else:
        bridge = start_bridge(bridge)
        if gpath is not None:
            recordings.check_replace(gpath, input_sha, accept)
        assert entry.r_args is not None
        rfun = entry.r_function(measure)
        refs = {g: bridge.call(rfun, **entry.r_args(inp, measure, level, fits[g][0]))
                for g, inp, _ in prepared}  # fmt: skip
        versions = bridge.versions()
        reference = f"metafor {versions['metafor']} via {bridge.backend} ({rfun})"
    with metafor_version(str(versions.get("metafor") or get_metafor_version())) as mirrored:
        analyses = [_analysis(entry, g, inp, slab_col, sub_fit, refs[g], measure, level)
                    for (g, inp, _), sub_fit in zip(prepared, fits.values(), strict=True)]  # fmt: skip
    if record and gpath is not None:
        reference += recordings.record_unless_failed(
            gpath,
            call,
            input_sha,
            n_studies,
            versions,
            {f"{g}|{entry.name}": v for g, v in refs.items()},
            any(a.r_error for a in analyses),
        )
    reference = f"{reference}; metaparity mirrors metafor {mirrored}"
    return ParityReport(where, measure, test, float(level), reference, versions, analyses,
                        started=started, seconds=time.monotonic() - t0)  # fmt: skip


def _refuse_options(entry: ParityModel, method: Any, test: str, weights: Any, control: Any) -> None:
    """Options of ``uni`` that another model family does not take."""
    if method not in (None, "REML", entry.name, entry.method if entry.iterative else None):
        how = "is fitted by ML only" if entry.iterative else "has no estimator choice"
        raise InputError(
            f"--method {method}: --model {entry.name} ({entry.title}) {how}; leave --method out"
        )
    if test != "z":
        if entry.iterative:
            raise InputError(f"--test {test}: --model {entry.name} compares z-tests only "
                             "(metafor's default); test='t' is not compared for rma.glmm yet")  # fmt: skip
        raise InputError(f"--test {test}: --model {entry.name} uses z-tests only (as metafor)")
    if weights is not None:
        raise InputError(f"--weights: --model {entry.name} takes no user weights")
    if control is not None:
        why = ("fits metafor with metaparity's tight optimiser control (docs/glmm.md)"
               if entry.iterative else "is closed form")  # fmt: skip
        raise InputError(f"--control: --model {entry.name} {why}; leave --control out")


def _pick(
    df: pd.DataFrame, entry: ParityModel, measure: str, colmap: dict[str, str], where: str
) -> dict[str, str]:
    """The input columns of ``measure`` (``--col ARG=COLUMN`` maps names)."""
    options = entry.columns(measure)
    valid = sorted({a for opt in options for a in opt})
    for arg, col in colmap.items():
        if arg not in valid:
            raise InputError(
                f"--col {arg}={col}: {arg!r} is not an argument of --model {entry.name} "
                f"--measure {measure}; its arguments are {', '.join(valid)}"
            )
        if col not in df.columns:
            raise _missing_column(where, f"--col {arg}={col}", col, df.columns)
    for opt in options:
        if all(colmap.get(a, a) in df.columns for a in opt):
            return {a: colmap.get(a, a) for a in opt}
    want = " or ".join("(" + ", ".join(colmap.get(a, a) for a in opt) + ")" for opt in options)
    raise InputError(
        f"{where}: --model {entry.name} --measure {measure} needs columns {want}; columns "
        f"present: {', '.join(map(str, df.columns))} -- map names with --col ARG=COLUMN"
    )


def _prepare(
    entry: ParityModel, gname: str, sub: pd.DataFrame, measure: str, colmap: dict[str, str],
    slab_col: str | None, level: float, where: str,
) -> tuple[_Group, tuple[Any, list[str]]]:  # fmt: skip
    """A subgroup's checked inputs and metaparity's fit (bad data raises before R)."""
    labels = sub[slab_col].astype(str).tolist() if slab_col else None
    inputs = numeric_columns(sub, colmap, where)
    _check_values(sub, inputs, colmap, labels, where)
    if labels is not None:
        _check_unique_labels(labels, sub, gname, where)
    assert entry.fit is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = entry.fit(inputs, labels, measure, level)
        except ValueError as err:
            raise InputError(f"{where} ({gname}): {err}") from None
    frame = pd.DataFrame(index=range(len(sub)))
    frame.attrs["weights"] = None
    return (gname, inputs, frame), (res, [str(w.message) for w in caught])


def _analysis(
    entry: ParityModel, gname: str, inputs: dict[str, Any], slab_col: str | None,
    fit: tuple[Any, list[str]], ref: dict[str, Any], measure: str, level: float,
) -> Analysis:  # fmt: skip
    """One subgroup: metafor's error, or every quantity of the entry compared."""
    res, _ours_warnings = fit
    a = Analysis(gname, entry.name, int(res.k), r_warnings=list(ref.get("warnings") or []))
    if not ref.get("ok"):
        a.r_error = ref.get("error", "metafor failed")
        return a
    a.comparisons.extend(entry.compare(res, ref, inputs, measure))
    return a
