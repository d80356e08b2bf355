"""Recorded metafor results for ``metaparity parity --golden DIR``, which cannot lie.

One file per measure and call: ``DIR/parity-<measure>-<hash12>.json``, where ``hash12`` is
the first 12 hex digits of the sha256 of the call (measure, methods, test, level, columns,
by, filters, weights, control).  Each file carries

* ``call`` and ``call_sha256``: what was asked of metafor;
* ``input_sha256`` and ``n_studies``: the sha256 of the per-study inputs actually sent to
  metafor (after ``--filter``; numbers at full precision, group by group);
* ``provenance``: metafor and R versions, ``recorded_by`` and the UTC ``date``;
* ``results``: metafor's escalc and rma records, keyed ``"<group>|<escalc or method>"``.

Replaying (the default of ``--golden DIR``) checks both hashes: a recording made for other
data, or for another call, is refused with what changed -- never silently compared.
Recording (``--record``) refuses to replace a recording of the same call made for other
data unless ``--accept`` is given.

>>> call = call_spec("PR", ["DL"], "z", 95, {"xi": "events"}, None, None, None, None)
>>> name = recording_path("gold", call).name
>>> name.startswith("parity-PR-") and len(name) == len("parity-PR-") + 12 + len(".json")
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from metaparity._core.io import InputError, atomic_write
from metaparity._core.version import __version__

__all__ = [
    "call_spec",
    "input_digest",
    "recording_path",
    "load_recording",
    "check_replace",
    "write_recording",
    "digest",
    "record_unless_failed",
]

_FIX = "re-record with --golden DIR --record (needs R with metafor)"


def _sha(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def digest(obj: Any) -> str:
    """sha256 of a JSON-ready object (keys sorted, NaN allowed): the input digest of the
    families whose inputs are not plain numeric columns (``--model mv``).

    >>> digest({"b": 1, "a": [0.5]}) == digest({"a": [0.5], "b": 1})
    True
    """
    return _sha(obj)


def call_spec(
    measure: str,
    methods: Sequence[str],
    test: str,
    level: float,
    columns: dict[str, str],
    by: str | None,
    filters: dict[str, str] | None,
    weights: str | None,
    control: Any,
) -> dict[str, Any]:
    """The call as recorded: everything that decides what metafor is asked.

    Parameters
    ----------
    measure, methods, test, level, columns, by, filters, weights, control
        As given to :func:`metaparity.parity.harness.compare` (``columns`` as resolved).

    Returns
    -------
    dict
        JSON-ready; its sha256 names the recording file.
    """
    return {
        "measure": measure,
        "methods": list(methods),
        "test": test,
        "level": float(level),
        "columns": dict(sorted(columns.items())),
        "by": by,
        "filters": dict(sorted((filters or {}).items())),
        "weights": weights,
        "control": control,
    }


def input_digest(prepared: list[tuple[str, dict[str, Any], Any]]) -> tuple[str, int]:
    """sha256 of the per-study inputs sent to metafor, and the number of studies.

    Parameters
    ----------
    prepared : list of (group, inputs, escalc frame)
        The harness's prepared groups: ``inputs`` maps metafor argument names to arrays;
        the frame's ``attrs["weights"]`` holds the user weights (or None).

    Returns
    -------
    tuple of (str, int)
        The hex digest (numbers as ``repr`` of floats: full precision) and the number of
        studies in the first group (all studies).
    """
    blob = []
    for gname, inputs, esc in prepared:
        w = esc.attrs.get("weights")
        blob.append(
            {
                "group": gname,
                "inputs": {a: [repr(float(x)) for x in np.asarray(v)] for a, v in inputs.items()},
                "weights": None if w is None else [repr(float(x)) for x in np.asarray(w)],
            }
        )
    n = len(np.asarray(next(iter(prepared[0][1].values())))) if prepared else 0
    return _sha(blob), n


def recording_path(golden_dir: str | Path, call: dict[str, Any]) -> Path:
    """``DIR/parity-<measure>-<first 12 hex digits of the call's sha256>.json``.

    Parameters
    ----------
    golden_dir : str or Path
    call : dict
        From :func:`call_spec`.

    Returns
    -------
    Path
    """
    return Path(golden_dir) / f"parity-{call['measure']}-{_sha(call)[:12]}.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable recording ({err}); {_FIX}") from None
    if not isinstance(rec, dict) or "input_sha256" not in rec or "call" not in rec:
        raise InputError(
            f"{path}: recorded by an older metaparity without input and call checksums, so it "
            f"cannot be checked against your data; {_FIX}"
        )
    return rec


def _when(rec: dict[str, Any]) -> str:
    prov = rec.get("provenance", {})
    sha, n, date = rec["input_sha256"][:12], rec.get("n_studies"), prov.get("date", "?")
    return f"recorded sha256 {sha}… for {n} studies on {date}"


def load_recording(
    golden_dir: str | Path, call: dict[str, Any], input_sha: str
) -> tuple[Path, dict[str, Any]]:
    """The recording of exactly this call for exactly this input.

    Parameters
    ----------
    golden_dir : str or Path
    call : dict
        From :func:`call_spec`.
    input_sha : str
        From :func:`input_digest`.

    Returns
    -------
    tuple of (Path, dict)
        The file and its content.

    Raises
    ------
    InputError
        No recording for the measure, or none for this call, or the input changed since the
        recording (each with the fix).
    """
    d = Path(golden_dir)
    measure = call["measure"]
    path = recording_path(d, call)
    if path.exists():
        rec = _read(path)
        if rec["input_sha256"] != input_sha:
            raise InputError(
                f"{path}: the input changed since recording ({_when(rec)}, now "
                f"{input_sha[:12]}…); {_FIX}"
            )
        return path, rec
    others = sorted(d.glob(f"parity-{measure}-*.json")) if d.is_dir() else []
    legacy = d / f"parity-{measure}.json"
    if legacy.exists():
        _read(legacy)  # raises: an old-format file is named, with the fix
    if not others:
        raise InputError(
            f"{d}: no recording for measure {measure} (no parity-{measure}-*.json); record one "
            f"first: metaparity parity FILE --measure {measure} ... --golden {d} --record (with R)"
        )
    recs = [(p, _read(p)) for p in others]
    same_input = [(p, r) for p, r in recs if r["input_sha256"] == input_sha]
    if not same_input:
        p, r = max(recs, key=lambda pr: pr[1].get("provenance", {}).get("date", ""))
        raise InputError(
            f"{p}: the input changed since recording ({_when(r)}, now {input_sha[:12]}…); {_FIX}"
        )
    p, r = same_input[0]
    old = r["call"]
    diff = [k for k in call if old.get(k) != call[k]]
    was = ", ".join(f"{k}={old.get(k)!r}" for k in diff)
    raise InputError(
        f"{p}: recorded for this input but another call (differs in {', '.join(diff)}: "
        f"recorded {was}); repeat the recorded options, or {_FIX}"
    )


def check_replace(path: Path, input_sha: str, accept: bool) -> None:
    """Refuse to replace a recording of the same call made for other input (unless ``accept``).

    Parameters
    ----------
    path : Path
        From :func:`recording_path`.
    input_sha : str
        The new input's digest.
    accept : bool
        Replace anyway (``--accept``).

    Raises
    ------
    InputError
        ``path`` records other input and ``accept`` is False.
    """
    if accept or not path.exists():
        return
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
        old = rec["input_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # an unreadable or old-format file: replaced
    if old != input_sha:
        raise InputError(
            f"{path}: already records this call for other input ({_when(rec)}, now "
            f"{input_sha[:12]}…); add --accept to replace that recording"
        )


def write_recording(
    path: Path,
    call: dict[str, Any],
    input_sha: str,
    n_studies: int,
    versions: dict[str, str],
    results: dict[str, Any],
) -> None:
    """Write a recording atomically (all or nothing).

    Parameters
    ----------
    path : Path
        From :func:`recording_path`.
    call : dict
        From :func:`call_spec`.
    input_sha, n_studies
        From :func:`input_digest`.
    versions : dict
        The bridge's versions (``R``, ``metafor`` ...).
    results : dict
        metafor's records keyed ``"<group>|<what>"``.
    """
    rec = {
        "call": call,
        "call_sha256": _sha(call),
        "input_sha256": input_sha,
        "n_studies": n_studies,
        "provenance": dict(
            versions,
            recorded_by=f"metaparity {__version__} parity --golden --record",
            date=datetime.now(UTC).isoformat(timespec="seconds"),
        ),
        "results": results,
    }
    atomic_write(path, lambda fh: json.dump(rec, fh, indent=1, allow_nan=True))


def record_unless_failed(
    path: Path, call: dict[str, Any], input_sha: str, n_studies: int,
    versions: dict[str, str], results: dict[str, Any], failed: bool,
) -> str:  # fmt: skip
    """Write a recording (:func:`write_recording`) unless metafor failed on an analysis;
    what the report's reference line adds."""
    if failed:
        return "; nothing recorded: metafor failed on an analysis"
    write_recording(path, call, input_sha, n_studies, versions, results)
    return f"; recorded in {path}"
