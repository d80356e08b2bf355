"""Reading per-study tables (CSV/TSV) with errors that name file, line and column,
checking output paths before any work, and writing report files atomically (no partial
file is ever left behind)."""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["InputError", "read_table", "atomic_write", "atomic_write_all", "numeric_columns",
           "check_output", "looks_like_decimal_comma"]  # fmt: skip


class InputError(ValueError):
    """Bad input data: the message names the file, the line/row and the column."""


_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")
_DECIMAL_POINT = re.compile(r"^\s*-?\d*\.\d+\s*$")


def looks_like_decimal_comma(value: Any) -> bool:
    """Whether a cell reads as a number written with a decimal comma (``1,5``, ``-0,25``).

    Parameters
    ----------
    value : any
        A cell as read.

    Returns
    -------
    bool

    Examples
    --------
    >>> looks_like_decimal_comma("1,5"), looks_like_decimal_comma("1.5")
    (True, False)
    """
    return isinstance(value, str) and bool(_DECIMAL_COMMA.match(value))


def _sniff_decimal(text: str, sep: str) -> str:
    """``","`` when a ``;``- or tab-separated table writes its numbers with decimal commas."""
    if sep == ",":
        return "."
    cells = [c for line in text.splitlines()[1:] for c in line.split(sep)]
    comma = sum(bool(_DECIMAL_COMMA.match(c)) for c in cells)
    point = sum(bool(_DECIMAL_POINT.match(c)) for c in cells)
    return "," if comma and not point else "."


def read_table(
    path: str | os.PathLike[str], *, as_text: bool = False, decimal: str | None = None
) -> pd.DataFrame:
    """Read a CSV or TSV file (delimiter sniffed; Excel-exported CSV with BOM accepted).

    Parameters
    ----------
    path : str or PathLike
        The file; ``.tsv``/``.tab`` are tab-separated, otherwise the delimiter
        (``,``, ``;`` or tab) is sniffed from the header line.
    as_text : bool, default False
        Keep every cell as the text written (empty cells as ``""``), for figures whose
        printed rounding matters.
    decimal : {None, ".", ","}, default None
        The decimal mark of the numbers.  ``","`` reads European Excel files (``;``-separated,
        ``1,5``); None detects it: a ``;``- or tab-separated file whose numbers are all
        written ``1,5`` is read with ``","``; a ``,``-separated file always with ``"."``.

    Returns
    -------
    DataFrame
        Column names stripped; ``attrs["source"]`` is the path, ``attrs["decimal"]`` the
        decimal mark used.

    Raises
    ------
    InputError
        Missing or empty file, invalid UTF-8 (line and byte named), unparsable table,
        a header without rows, or ``decimal=","`` for a ``,``-separated file.
    """
    if decimal not in (None, ".", ","):
        raise InputError(f"decimal={decimal!r}: give '.' or ',' (or None to detect it)")
    p = Path(path)
    if not p.exists():
        raise InputError(
            f"{p}: no such file; check the path (relative paths start at {Path.cwd()})"
        )
    raw = p.read_bytes()
    if not raw.strip():
        raise InputError(f"{p}: the file is empty; expected a header line and one row per study")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise InputError(
            f"{p}: line {line} is not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset "
            f"{err.start}); save the file as UTF-8 (Excel: 'CSV UTF-8')"
        ) from None
    first = text.splitlines()[0]
    if p.suffix.lower() in (".tsv", ".tab"):
        sep = "\t"
    else:
        try:
            sep = csv.Sniffer().sniff(first, delimiters=",;\t").delimiter
        except csv.Error:
            sep = ","
    if decimal is None:
        decimal = _sniff_decimal(text, sep)
    elif decimal == "," and sep == ",":
        raise InputError(
            f"{p}: columns are separated by ',' so ',' cannot also be the decimal mark; "
            "save the file with ';' as the separator (European Excel 'CSV') or drop --decimal ,"
        )
    try:
        kw: dict[str, Any] = {"dtype": str, "keep_default_na": False} if as_text else {}
        if decimal == "," and not as_text:
            kw["decimal"] = ","
        df = pd.read_csv(StringIO(text), sep=sep, skipinitialspace=True, **kw)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{p}: cannot parse as a table: {err}") from None
    if df.empty:
        raise InputError(f"{p}: has a header but no data rows; add one row per study below it")
    df.columns = [str(c).strip() for c in df.columns]
    df.attrs["source"] = str(p)
    df.attrs["decimal"] = decimal
    df.attrs["sep"] = sep
    return df


def numeric_columns(df: pd.DataFrame, columns: dict[str, str], where: str) -> dict[str, Any]:
    """Columns as float arrays; a non-number names the file line and the column.

    Parameters
    ----------
    df : DataFrame
        The table (its index is the 0-based data row of the file).
    columns : dict of str to str
        Argument names (metafor's ``xi``) to column names (``events``).
    where : str
        The file, for error messages.

    Returns
    -------
    dict of str to ndarray
        Per argument name, the column as floats.

    Raises
    ------
    InputError
        A column is missing, or a cell is not a number or empty; line numbers count
        the header as line 1, as an editor shows them.
    """
    out: dict[str, Any] = {}
    for arg, col in columns.items():
        if col not in df.columns:
            raise InputError(
                f"{where}: column {col!r} (for {arg}) is missing; columns present: "
                f"{', '.join(map(str, df.columns))} -- map another with --col {arg}=NAME"
            )
        vals = pd.to_numeric(df[col], errors="coerce")
        bad = vals.isna() & df[col].notna()
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            cell = df[col].iloc[i]
            hint = ""
            if looks_like_decimal_comma(cell) and df.attrs.get("sep") == ",":
                hint = (
                    " -- it is written with a decimal comma in a ','-separated file: write it "
                    f"as {cell.strip().replace(',', '.')}, or save the file with ';' separators "
                    "and read it with --decimal ,"
                )
            elif looks_like_decimal_comma(cell):
                hint = " -- it is written with a decimal comma: read the file with --decimal ,"
            else:
                hint = "; write a number there, or leave the cell empty if it is unknown"
            raise InputError(
                f"{where}: line {_line(df, i)}, column {col!r}: {cell!r} is not a number{hint}"
            )
        if vals.isna().any():
            i = int(vals.isna().to_numpy().nonzero()[0][0])
            raise InputError(
                f"{where}: line {_line(df, i)}, column {col!r} is empty; fill it in or drop the "
                "row (e.g. --filter) -- an unknown count cannot be pooled"
            )
        out[arg] = vals.to_numpy(dtype=float)
    return out


def _line(df: pd.DataFrame, i: int) -> int:
    idx = df.index[i]
    return int(idx) + 2 if isinstance(idx, int | float) else i + 2


def atomic_write(
    path: str | os.PathLike[str], write: Callable[[Any], None], mode: str = "w"
) -> None:
    """Write through a temporary file in the same folder, then rename: all or nothing.

    Parameters
    ----------
    path : str or PathLike
        The file to (re)place; its folder is created if needed.
    write : callable
        Called with the open file handle; it writes the whole content.
    mode : str, default "w"
        ``"w"`` (UTF-8 text) or ``"wb"``.

    Examples
    --------
    >>> import os, tempfile
    >>> f = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> atomic_write(f, lambda fh: fh.write("done"))
    >>> open(f).read()
    'done'
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = _stage(p, write, mode)
    try:
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_all(
    files: dict[str | os.PathLike[str], Callable[[Any], None]], mode: str = "w"
) -> None:
    """Several files, all or none: each is written to a temporary file, then all are renamed.

    Parameters
    ----------
    files : dict of path to callable
        Each target file and the function writing its whole content (as :func:`atomic_write`).
    mode : str, default "w"
        ``"w"`` (UTF-8 text) or ``"wb"``.

    Notes
    -----
    A failing write (or Ctrl-C) before the renames leaves none of the files; one during the
    renames removes the ones already renamed, so none of the new files is left either.

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> atomic_write_all({os.path.join(d, n): (lambda fh: fh.write(n)) for n in ("a", "b")})
    >>> sorted(os.listdir(d))
    ['a', 'b']
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, write in files.items():
            p = Path(path)
            staged.append((_stage(p, write, mode), p))
        renamed: list[Path] = []
        try:
            for tmp, p in staged:
                os.replace(tmp, p)
                renamed.append(p)
        except BaseException:
            for p in renamed:
                p.unlink(missing_ok=True)
            raise
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _stage(p: Path, write: Callable[[Any], None], mode: str) -> str:
    """Write ``p``'s content to a temporary file beside it; return the temporary path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            write(fh)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is an ordinary file
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def check_output(
    path: str | os.PathLike[str], option: str, *, folder: bool = False, probe: bool = True
) -> Path:
    """Check, before any work, that an output can be written; the error names option and fix.

    Parameters
    ----------
    path : str or PathLike
        The output file (or folder, with ``folder=True``).
    option : str
        The command-line option that gave it (``"--json"``, ``"OUT"``), for the message.
    folder : bool, default False
        ``path`` is an output folder: it may exist (as a folder) or be created in an
        existing folder.
    probe : bool, default True
        Also check that the folder can be written to (``False`` for a folder that may only
        be read, e.g. recorded results replayed without R).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        A file output that is a folder (or a folder output that is a file), a parent
        folder that does not exist or is a file, or a folder that cannot be written to
        (checked with ``os.access`` and by creating a temporary file in it).

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> check_output(os.path.join(d, "r.json"), "--json").name
    'r.json'
    >>> try:
    ...     check_output(d, "--json")
    ... except InputError as err:
    ...     print(str(err).endswith(": is a folder; give a file name"))
    True
    """
    p = Path(path)
    if folder and p.exists() and not p.is_dir():
        raise InputError(f"{option} {path} is a file; give a folder")
    if not folder and p.is_dir():
        raise InputError(f"{option} {path}: is a folder; give a file name")
    where = p if folder and p.is_dir() else p.parent
    if not where.exists():
        raise InputError(
            f"{option} {path}: folder {where} does not exist; create it or choose another path"
        )
    if not where.is_dir():
        raise InputError(f"{option} {path}: {where} is a file, not a folder; choose another path")
    if probe or where != p:
        _probe(where, option, path)
    return p


def _probe(folder: Path, option: str, path: str | os.PathLike[str]) -> None:
    """Raise :class:`InputError` unless a file can be created in ``folder``."""
    why = "permission denied"
    ok = os.access(folder, os.W_OK | os.X_OK)
    if ok:
        try:
            fd, tmp = tempfile.mkstemp(prefix=".metaparity-probe-", dir=folder)
        except OSError as err:
            ok, why = False, (err.strerror or str(err)).lower()
        else:
            os.close(fd)
            os.unlink(tmp)
    if not ok:
        raise InputError(
            f"{option} {path}: cannot write to {folder} ({why}); choose a writable folder"
        )
