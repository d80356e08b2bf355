"""``metaparity parity --model mv``: ``rma_mv`` against ``metafor::rma.mv`` on a user's file.

The file has one row per estimate.  The estimates are a ``yi`` column with its sampling
variances ``vi`` (``--measure GEN``) or are computed by ``escalc`` from the columns of any
other measure (and then compared with metafor's ``escalc`` too); ``--V FILE`` gives the full
sampling covariance matrix instead (one row and column per row of the data file, e.g.
written by ``vcalc()``).  The random effects are metafor's formulas (``--random "~ 1 |
study/esid"``, repeatable, with ``--struct`` for ``~ inner | outer`` terms), ``--mods`` a
moderator formula of the file's columns and ``--R NAME=FILE`` a known correlation matrix
(row and column names the levels of NAME).  Everything is checked before R is started; the
fit of each subgroup is compared by :func:`metaparity.parity.mv.compare_mv` (every field,
and the log-likelihood evidence: our optimum is not below metafor's).

``--golden DIR`` replays (or with ``record`` writes) a recording whose input digest is that
of the rows, V, design and grouping columns sent to metafor.

>>> _matrix_cells([["", "a", "b"], ["a", "1", "0.5"], ["b", "0.5", "1"]], "R.csv")
(['a', 'b'], [[1.0, 0.5], [0.5, 1.0]])
"""

from __future__ import annotations

import csv
import time
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metaparity._core.io import InputError, numeric_columns, read_table
from metaparity._core.mfversion import get_metafor_version, metafor_version
from metaparity._core.names import check_choice
from metaparity.effects.escalc import MEASURES
from metaparity.models.mv import MvResult, rma_mv
from metaparity.parity import recordings
from metaparity.parity.harness import (
    Analysis,
    ParityReport,
    _escalc_comparisons,
    _filtered_rows,
    _groups,
    _missing_column,
    _pick_columns,
    _slab_column,
    escalc_rows,
    start_bridge,
)
from metaparity.parity.mv import compare_mv, metafor_rma_mv, rma_mv_call_args

__all__ = ["compare_mv_file", "read_matrix_file"]

STRUCTS = ("CS", "HCS", "UN", "ID", "DIAG", "AR", "HAR", "CAR")


def _matrix_cells(rows: list[list[str]], where: str) -> tuple[list[str] | None, list[list[float]]]:
    """The numbers of a square matrix written as text, without its header row and its row
    names when it has them (``write.csv(V)`` in R writes both, ``numpy.savetxt`` neither);
    the row names (or the header, else None) and the values."""

    def number(cell: str) -> float | None:
        try:
            return float(cell)
        except ValueError:
            return None

    rows = [[c.strip() for c in r] for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise InputError(f"{where}: the file is empty; give a square matrix of numbers")
    header: list[str] | None = None
    names: list[str] | None = None
    body = rows
    if len(rows) > 1 and (
        (rows[0][0] == "" and len(rows[0]) == len(rows[1]))  # R's write.csv(): "" first
        or len(rows[0]) == len(rows[1]) - 1  # write.table(): a header one cell shorter
    ):
        header = rows[0][1:] if rows[0][0] == "" else rows[0]
        names, body = [r[0] for r in rows[1:]], [r[1:] for r in rows[1:]]
    else:
        if all(number(c) is None for c in rows[0][1:]) and len(rows[0]) > 1:
            header, body = rows[0], rows[1:]
        if body and all(number(r[0]) is None for r in body):
            names, body = [r[0] for r in body], [r[1:] for r in body]
            if header is not None and len(header) == len(body[0]) + 1:
                header = header[1:]
    rows = body
    values = []
    for i, r in enumerate(rows):
        line = []
        for j, c in enumerate(r):
            v = number(c)
            if v is None:
                raise InputError(
                    f"{where}: row {i + 1}, column {j + 1}: {c!r} is not a number; the file "
                    "must hold a square matrix of numbers (optionally with a header row and "
                    "row names)"
                )
            line.append(v)
        values.append(line)
    n = len(values)
    bad = [i for i, r in enumerate(values) if len(r) != n]
    if bad:
        raise InputError(
            f"{where}: row {bad[0] + 1} has {len(values[bad[0]])} numbers, but the matrix has "
            f"{n} rows; give a square matrix"
        )
    return (names if names is not None else header), values


def read_matrix_file(path: str | Path, option: str) -> tuple[list[str] | None, np.ndarray]:
    """A square matrix from a CSV/TSV file (separator sniffed; header row and row names
    optional): its labels (row names, else header, else None) and values.

    Parameters
    ----------
    path : str or Path
    option : str
        The option that named it (``--V``, ``--R study=FILE``), for messages.

    Returns
    -------
    tuple of (list of str or None, ndarray)

    Raises
    ------
    InputError
        Missing file, a cell that is not a number, a matrix that is not square.
    """
    where = f"{path} ({option})"
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{where}: cannot be read ({err})") from None
    first = text.splitlines()[0] if text.strip() else ""
    sep = "\t" if "\t" in first else (";" if ";" in first and "," not in first else ",")
    if sep == "," and "," not in first and " " in first.strip():
        rows = [ln.split() for ln in text.splitlines()]
    else:
        rows = list(csv.reader(text.splitlines(), delimiter=sep))
    names, values = _matrix_cells(rows, where)
    return names, np.asarray(values, dtype=float).reshape(len(values), len(values))


def _refuse(measure: str, method: str, test: str, dfs: str, Rscale: str) -> str:
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise InputError(f"--method {method}: --model mv (rma.mv) estimates by REML or ML")
    if test not in ("z", "t"):
        raise InputError(f"--test {test}: --model mv (rma.mv) takes --test z or t")
    if dfs not in ("residual", "contain"):
        raise InputError(f"--dfs {dfs}: rma.mv takes --dfs residual or contain")
    if Rscale not in ("cor", "none"):
        raise InputError(f"--Rscale {Rscale}: rma.mv takes --Rscale cor or none")
    check_choice("measure", measure, MEASURES)
    return method


def _structs(struct: str | list[str] | None, random: list[str], where: str) -> list[str]:
    """One struct per ``~ inner | outer`` term (CS when not given), checked by name."""
    given = [s for item in ([struct] if isinstance(struct, str) else (struct or []))
             for s in str(item).split(",") if s.strip()]  # fmt: skip
    out = [check_choice("struct", s.strip().upper(), STRUCTS) for s in given]
    n_terms = sum(1 for f in random if not f.replace(" ", "").startswith("~1|"))
    if len(out) > max(n_terms, 1):
        raise InputError(
            f"--struct {','.join(out)}: {len(out)} structures for {n_terms} '~ inner | outer' "
            f"term(s) of --random; give one per such term"
        )
    return out or ["CS"]


def _effects(
    sub: pd.DataFrame, measure: str, colmap: dict[str, str], labels: list[str], where: str,
    gname: str,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None]:  # fmt: skip
    """yi and vi of a subgroup (GEN: the columns; else metaparity's escalc)."""
    inputs = numeric_columns(sub, colmap, where)
    if measure == "GEN":
        yi = inputs["yi"]
        vi = inputs.get("vi", np.full(yi.size, np.nan))
        return yi, vi, None
    esc = escalc_rows(measure, inputs, labels, where, gname)
    esc.attrs["inputs"] = inputs
    return esc["yi"].to_numpy(float), esc["vi"].to_numpy(float), esc


def compare_mv_file(
    data: pd.DataFrame | str | Path,
    *,
    random: list[str] | str | None,
    struct: str | list[str] | None = None,
    mods: str | None = None,
    V: str | Path | None = None,
    R: Mapping[str, str | Path] | None = None,
    Rscale: str = "cor",
    fixed: dict[str, str] | None = None,
    control: dict[str, Any] | None = None,
    measure: str = "GEN",
    method: str = "REML",
    test: str = "z",
    dfs: str = "residual",
    level: float = 95,
    by: str | None = None,
    columns: dict[str, str] | None = None,
    slab: str | None = None,
    filters: dict[str, str] | None = None,
    bridge: Any = None,
    golden_dir: str | Path | None = None,
    decimal: str | None = None,
    record: bool = False,
    accept: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ParityReport:
    """Fit ``rma_mv`` and metafor's ``rma.mv`` on a file; compare every quantity.

    Parameters
    ----------
    data : DataFrame, str or Path
        One row per estimate.
    random, struct, mods, Rscale, method, test, dfs, level
        As :func:`metaparity.rma_mv` (``random``: formulas, e.g. ``"~ 1 | study/esid"``).
    V : str or Path, optional
        A file holding the k x k sampling covariance matrix of all rows of the file (before
        ``filters``; the rows of each subgroup are taken from it); None: the ``vi`` column.
    R : dict of str to path, optional
        Known correlation matrices by grouping column (files with the levels as row names).
    fixed : dict of str to str, optional
        Components held fixed, as ``--fixed`` gives them: ``{"rho": "0.5"}``,
        ``{"sigma2": "0.05,NA"}`` (NA: estimated) -- metafor's ``sigma2=``, ``tau2=``,
        ``rho=``, ``gamma2=``, ``phi=``.
    control : dict, optional
        rma.mv's control settings (``--control JSON``), as :func:`metaparity.rma_mv` takes
        them; those that change metafor's model or start (REMLf, check.k.gtr.1, cholesky,
        starting values) are sent to metafor too, with metaparity's tight optimiser control.
    measure : str
        ``"GEN"``: columns ``yi`` and ``vi`` (``vi`` not needed with ``V``); another measure:
        its escalc columns, compared with metafor's escalc.
    by, columns, slab, filters, bridge, golden_dir, decimal, record, accept
        As :func:`metaparity.parity.harness.compare`.
    progress : callable, optional
        Receives a line per subgroup sent to metafor.

    Returns
    -------
    ParityReport
        One analysis per subgroup (``method``: ``"rma.mv REML"`` or ``"rma.mv ML"``).

    Raises
    ------
    InputError
        Bad options, columns or values, a V or R file that does not fit, a model the data
        cannot identify -- all before R; R unavailable without recordings; a recording for
        other input or another call.
    """
    started, t0 = datetime.now(UTC), time.monotonic()
    method = _refuse(measure, method, test, dfs, Rscale)
    if record and golden_dir is None:
        raise InputError("--record needs --golden DIR: the folder to record metafor's results in")
    forms = [random] if isinstance(random, str) else list(random or [])
    if not forms:
        raise InputError(
            "--model mv needs --random: the random effects as metafor writes them, e.g. "
            "--random '~ 1 | study/esid' (several: repeat --random)"
        )
    if isinstance(data, str | Path):
        full = read_table(data, decimal=decimal)
        full.attrs["source"] = str(data)
    else:
        full = data.reset_index(drop=True)
    n_rows = len(full)
    df, where = _filtered_rows(full, filters, None)
    structs = _structs(struct, forms, where)
    fix = _fixed(fixed)
    colmap = _columns(df, measure, dict(columns or {}), V is not None, where)
    V_all = None
    if V is not None:
        _, V_all = read_matrix_file(V, "--V")
        if V_all.shape != (n_rows, n_rows):
            raise InputError(
                f"{V} (--V): a {V_all.shape[0]} x {V_all.shape[1]} matrix, but {where} has "
                f"{n_rows} rows; give the {n_rows} x {n_rows} sampling covariance matrix of "
                "all rows of the file, in their order"
            )
    Rmats = {}
    for name, path in (R or {}).items():
        if name not in df.columns:
            raise _missing_column(where, f"--R {name}={path}", name, df.columns)
        labels, values = read_matrix_file(path, f"--R {name}={path}")
        Rmats[name] = pd.DataFrame(values, index=labels, columns=labels) if labels else values
    slab_col = _slab_column(df, slab, where)
    fits: dict[str, tuple[MvResult, pd.DataFrame | None]] = {}
    for gname, sub in _groups(df, by, where):
        fits[gname] = _fit(sub, gname, measure, colmap, slab_col, V_all, forms, structs, mods,
                           Rmats, Rscale, fix, method, test, dfs, level, where,
                           control)  # fmt: skip
    call = recordings.call_spec(measure, [f"rma.mv {method}"], test, level, colmap, by, filters,
                                None, None)  # fmt: skip
    call |= {"model": "mv", "random": forms, "struct": structs, "mods": mods, "dfs": dfs,
             "Rscale": Rscale, "V": V is not None, "R": sorted(Rmats), "fixed": fix}  # fmt: skip
    if control:
        call["control"] = control
    # the input digest: what metafor is sent that comes from the files (rows, V, design,
    # grouping columns, R), not the options the call records
    sent = {g: {a: v for a, v in rma_mv_call_args(res, at=False).items() if a in _INPUTS}
            for g, (res, _) in fits.items()}  # fmt: skip
    input_sha = recordings.digest([sent, _escalc_inputs(fits)])
    refs, versions, reference = _references(fits, call, input_sha, n_rows, golden_dir, record,
                                            accept, bridge, progress)  # fmt: skip
    with metafor_version(str(versions.get("metafor") or get_metafor_version())) as mirrored:
        analyses = [_analysis(g, res, esc, refs[g]) for g, (res, esc) in fits.items()]
    if record and golden_dir is not None:
        reference += recordings.record_unless_failed(
            recordings.recording_path(golden_dir, call),
            call,
            input_sha,
            n_rows,
            versions,
            {f"{g}|mv": v for g, v in refs.items()},
            any(a.r_error for a in analyses),
        )
    reference = f"{reference}; metaparity mirrors metafor {mirrored}"
    return ParityReport(where, measure, test, float(level), reference, versions, analyses,
                        started=started, seconds=time.monotonic() - t0)  # fmt: skip


#: the arguments of ``mp_rma_mv`` that hold data (the rest are the call's options)
_INPUTS = ("yi", "V", "V_nrow", "data", "X", "X_names", "R")

COMPONENTS = ("sigma2", "tau2", "rho", "gamma2", "phi")


def _fixed(fixed: dict[str, str] | None) -> dict[str, list[float | None]]:
    """``--fixed NAME=V1,V2,...``: values of metafor's component arguments (NA: estimated)."""
    out: dict[str, list[float | None]] = {}
    for name, text in (fixed or {}).items():
        if name not in COMPONENTS:
            raise InputError(
                f"--fixed {name}={text}: {name!r} is not a variance component of rma.mv; give "
                f"one of {', '.join(COMPONENTS)}, e.g. --fixed rho=0.5 or --fixed sigma2=0.05,NA"
            )
        vals: list[float | None] = []
        for cell in str(text).split(","):
            cell = cell.strip()
            if cell.upper() == "NA":
                vals.append(None)
                continue
            try:
                vals.append(float(cell))
            except ValueError:
                raise InputError(
                    f"--fixed {name}={text}: {cell!r} is not a number; give numbers or NA "
                    f"(estimated), e.g. --fixed {name}=0.05,NA"
                ) from None
        out[name] = vals
    return out


def _columns(
    df: pd.DataFrame, measure: str, colmap: dict[str, str], have_V: bool, where: str
) -> dict[str, str]:
    """The estimate columns: yi (and vi without --V) for GEN, else the measure's."""
    if measure != "GEN":
        return _pick_columns(df, measure, colmap, where)
    need = ["yi"] if have_V else ["yi", "vi"]
    for arg, col in colmap.items():
        if arg not in ("yi", "vi"):
            raise InputError(
                f"--col {arg}={col}: --model mv --measure GEN takes --col yi=COLUMN and "
                "--col vi=COLUMN"
            )
    out = {a: colmap.get(a, a) for a in need}
    for arg, col in out.items():
        if col not in df.columns:
            how = f"--col {arg}={col}" if arg in colmap else f"the {arg} column"
            hint = " (or give the sampling covariance matrix with --V FILE)" if arg == "vi" else ""
            raise InputError(
                f"{_missing_column(where, how, col, df.columns)}{hint} -- map names with "
                "--col yi=COLUMN --col vi=COLUMN"
            )
    return out


def _fit(
    sub: pd.DataFrame, gname: str, measure: str, colmap: dict[str, str], slab_col: str | None,
    V_all: np.ndarray | None, forms: list[str], structs: list[str], mods: str | None,
    Rmats: dict[str, Any], Rscale: str, fix: dict[str, list[float | None]], method: str,
    test: str, dfs: str, level: float, where: str, control: dict[str, Any] | None = None,
) -> tuple[MvResult, pd.DataFrame | None]:  # fmt: skip
    """metaparity's fit of one subgroup (bad data raises, naming the file line)."""
    lines = [int(i) + 2 for i in sub.index]
    labels = (
        [f"{lab} (line {ln})" for lab, ln in zip(sub[slab_col].astype(str), lines, strict=True)]
        if slab_col else [f"line {ln}" for ln in lines]
    )  # fmt: skip
    yi, vi, esc = _effects(sub, measure, colmap, labels, where, gname)
    rows = sub.index.to_numpy(dtype=int)
    Vsub = vi if V_all is None else V_all[np.ix_(rows, rows)]
    frame = sub.reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what rma_mv warns about is in the comparison
        try:
            res = rma_mv(yi, Vsub, random=forms, struct=structs, R=Rmats or None, Rscale=Rscale,
                         mods=mods, data=frame, method=method, test=test, dfs=dfs, level=level,
                         slab=labels, sigma2=fix.get("sigma2"), tau2=fix.get("tau2"),
                         rho=fix.get("rho"), gamma2=fix.get("gamma2"), phi=fix.get("phi"),
                         control=control)  # fmt: skip
        except (ValueError, KeyError, np.linalg.LinAlgError) as err:
            msg = str(err).strip("'\"")
            raise InputError(f"{where} ({gname}): {msg}") from None
    return res, esc


def _escalc_inputs(fits: dict[str, tuple[MvResult, pd.DataFrame | None]]) -> list[Any]:
    out = []
    for g, (_, esc) in fits.items():
        if esc is not None:
            out.append(
                {g: {a: [repr(float(x)) for x in v] for a, v in esc.attrs["inputs"].items()}}
            )
    return out


def _references(
    fits: dict[str, tuple[MvResult, pd.DataFrame | None]], call: dict[str, Any], input_sha: str,
    n_rows: int, golden_dir: str | Path | None, record: bool, accept: bool, bridge: Any,
    progress: Callable[[str], None] | None,
) -> tuple[dict[str, Any], dict[str, str], str]:  # fmt: skip
    """metafor's records per subgroup: replayed from a recording, or asked live."""
    if golden_dir is not None and not record:
        path, rec = recordings.load_recording(golden_dir, call, input_sha)
        refs = {}
        for g in fits:
            if f"{g}|mv" not in rec["results"]:
                raise InputError(f"{path}: no recorded metafor result for {g}|mv; re-record")
            refs[g] = rec["results"][f"{g}|mv"]
        versions = rec["provenance"]
        return (
            refs,
            versions,
            f"recorded metafor {versions['metafor']} ({path}, {versions.get('date')})",
        )
    bridge = start_bridge(bridge)
    if golden_dir is not None:
        recordings.check_replace(recordings.recording_path(golden_dir, call), input_sha, accept)
    refs = {}
    for g, (res, esc) in fits.items():
        if progress is not None and len(fits) > 1:
            progress(f"asking metafor: rma.mv for {g}")
        ref = metafor_rma_mv(res, bridge)
        # the components metafor's likelihood was evaluated at, for a replay (compare_mv)
        ref["at"] = rma_mv_call_args(res)["at"]
        if esc is not None:
            [ref["escalc"]] = bridge.run([dict(
                fn="escalc", measure=str(esc.attrs["measure"]), to="only0", drop00=False, add=None,
                inputs={a: np.asarray(v).tolist() for a, v in esc.attrs["inputs"].items()})])  # fmt: skip
        refs[g] = ref
    versions = bridge.versions()
    return refs, versions, f"metafor {versions['metafor']} via {bridge.backend} (mp_rma_mv)"


def _analysis(gname: str, res: MvResult, esc: pd.DataFrame | None, ref: dict[str, Any]) -> Analysis:
    """One subgroup: metafor's error, or escalc (when computed) and every field compared."""
    a = Analysis(gname, f"rma.mv {res.method}", int(res.k),
                 r_warnings=list(ref.get("warnings") or []))  # fmt: skip
    if not ref.get("ok"):
        a.r_error = ref.get("error", "metafor failed")
        return a
    if esc is not None:
        a.comparisons.extend(_escalc_comparisons(esc, ref["escalc"]))
    a.comparisons.extend(compare_mv(res, ref))
    return a
